# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Run http_health_info in the controller process when the task runs on the controller.

Every deploy and rollback ends by asking the public endpoint from the
controller, as the runbook's step 5 does. As a module that costs a Python
process and the module's payload: 0.4 to 1.2 s on this lab's controller, for
probes that take 0.06 s. On a local connection without become, this plugin
validates the same argument spec, runs the same checks in-process and
judges ``fail_on`` the same way; options the module documents as secret are
masked in the result as the module would mask them. Anywhere else (a remote
host, become, or metrics that need prometheus_client) the module runs as
usual.
"""

from __future__ import annotations

from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import IncidentResponseError
from ansible_collections.platform_eng.incident_response.plugins.module_utils._http_health import (
    build_plan,
    check_http_health,
    secret_header_warnings,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._verdict import verdict_failure
from ansible_collections.platform_eng.incident_response.plugins.modules.http_health_info import ARGUMENT_SPEC

MODULE = "platform_eng.incident_response.http_health_info"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True

    def _in_process(self) -> bool:
        return self._connection.transport == "local" and not self._play_context.become

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        here = self._run_here() if self._in_process() else None
        if here is None:
            here = self._execute_module(module_name=MODULE, module_args=self._task.args, task_vars=task_vars)
        return dict(result, **here)

    def _run_here(self) -> dict | None:
        """The module's result, computed in this process; None when the module must run (metrics)."""
        validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        try:
            plan = build_plan(args)
            if plan.needs_metrics:
                return None  # prometheus_client: the module names it and says where to install it
            checked = check_http_health(plan)
        except IncidentResponseError as exc:
            return dict(failed=True, changed=False, msg=str(exc))
        here = dict(changed=False, **checked)
        failure = verdict_failure(checked, args["fail_on"], "HTTP health")
        if failure:
            here.update(failed=True, msg=failure)
        warnings = secret_header_warnings(args["headers"])
        if warnings:
            here["warnings"] = warnings
        return remove_values(here, validation._no_log_values)
