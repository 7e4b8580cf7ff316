# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What a validated alert leads to, decided in Python (module_utils/_alert_event.py)."""

from __future__ import annotations

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

from ansible_collections.platform_eng.incident_response.plugins.module_utils._alert_event import (
    incident_plan,
    rollback_plan,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)
from ansible_collections.platform_eng.incident_response.plugins.plugin_utils._plain import plain


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = plain(dict(self._task.args))
        decide, alert = args.get("decide"), args.get("alert")
        if not isinstance(alert, dict) or "status" not in alert:
            return dict(result, failed=True, msg="alert_decision needs the alert that alert_event validated")
        try:
            if decide == "incident":
                decision = incident_plan(alert, list(args.get("incidents") or []))
            elif decide == "rollback":
                decision = rollback_plan(alert, boolean(args.get("enabled", False), strict=False),
                                         args.get("report") or {}, list(args.get("timeline") or []),
                                         str(args.get("incident_id") or ""))
            else:
                return dict(result, failed=True, msg=f"decide must be incident or rollback, got {decide!r}")
        except (IncidentResponseError, KeyError, TypeError, ValueError) as exc:
            return dict(result, failed=True, msg=f"alert decision {decide}: {exc}")
        return dict(result, changed=False, decision=decision)
