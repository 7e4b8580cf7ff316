# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Validate every extra var of the run and each declared input from the raw values, without rendering them."""

from __future__ import annotations

import os
import typing as t

from ansible.plugins.action import ActionBase
from ansible.utils.vars import load_extra_vars

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._input_guard import (
    allowed_names,
    find_markers,
    has_markers,
    validate_run,
)

ALLOWED_VAR = "incident_response_extra_vars_allowed"
ROOT_VAR = "incident_response_reports_root"
ROOT_ENV = "INCIDENT_RESPONSE_REPORTS_ROOT"


def _run_extra_vars(loader: t.Any = None) -> dict[t.Any, t.Any]:
    """The run's extra vars exactly as given (-e k=v, -e '{json}', -e @file), parsed but never rendered."""
    if loader is None:
        from ansible.parsing.dataloader import DataLoader  # pylint: disable=import-outside-toplevel

        loader = DataLoader()
    return dict(load_extra_vars(loader) or {})


def _extra_vars_carry_markers() -> bool:
    return any(has_markers(str(key)) or find_markers(value, str(key)) for key, value in _run_extra_vars().items())


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _requires_connection = False

    @classmethod
    def finalize_task_arg(cls, name: str, value: t.Any, templar: t.Any, context: t.Any) -> t.Any:
        # ansible-core renders a task's arguments before run(). If the rules come from a variable
        # ("inputs: '{{ x_inputs }}'") an extra var of that name would be rendered here, so while any
        # extra var carries a template marker nothing is rendered and run() refuses the run.
        if _extra_vars_carry_markers():
            return value
        return super().finalize_task_arg(name, value, templar, context)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        extra_vars = _run_extra_vars(self._loader)
        rules = self._task.args.get("inputs")
        reserved = [self._task.register] if self._task.register else []
        if not isinstance(rules, dict) or not rules:
            if not _extra_vars_carry_markers():
                return dict(result, failed=True,
                            msg="input_guard needs 'inputs': a dictionary of variable name -> rule")
            rules = None  # left unrendered (finalize_task_arg); the markers are refused below
        try:
            # The guard's own settings come from the inventory (or the environment), never from -e:
            # those names are reserved, and an extra var of that name is refused, not read.
            allowed = [] if ALLOWED_VAR in extra_vars else allowed_names(task_vars.get(ALLOWED_VAR))
            reports_root = self._reports_root(task_vars, extra_vars)
            raw = {name: extra_vars[name] if name in extra_vars else task_vars.get(name) for name in rules or ()}
            validated = validate_run(extra_vars, raw, rules, allowed=allowed, reserved=reserved,
                                     reports_root=reports_root)
        except IncidentResponseError as exc:
            return dict(result, failed=True, msg=str(exc))
        return dict(result, changed=False, validated=validated, reports_root=reports_root)

    @staticmethod
    def _reports_root(task_vars: t.Mapping[str, t.Any], extra_vars: t.Mapping[t.Any, t.Any]) -> str:
        root = None if ROOT_VAR in extra_vars else task_vars.get(ROOT_VAR)
        if root:
            if not isinstance(root, str) or has_markers(root):
                raise IncidentResponseError(f"{ROOT_VAR} must be a literal path in the inventory")
            return os.path.realpath(root)
        if os.environ.get(ROOT_ENV):
            return os.path.realpath(os.environ[ROOT_ENV])
        playbook_dir = str(task_vars.get("playbook_dir") or os.getcwd())
        return os.path.realpath(os.path.join(os.path.dirname(playbook_dir), "reports"))
