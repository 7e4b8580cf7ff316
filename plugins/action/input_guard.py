# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Validate run inputs from the raw variables, without rendering them."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._input_guard import validate


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        rules = self._task.args.get("inputs")
        if not isinstance(rules, dict) or not rules:
            return dict(result, failed=True, msg="input_guard needs 'inputs': a dictionary of variable name -> rule")
        raw = {}
        for name in rules:
            # task_vars holds variables as given (-e, survey, inventory) and
            # unrendered; reading them here never evaluates a template.
            raw[name] = (task_vars or {}).get(name)
        try:
            validated = validate(raw, rules)
        except IncidentResponseError as exc:
            return dict(result, failed=True, msg=str(exc))
        return dict(result, changed=False, validated=validated)
