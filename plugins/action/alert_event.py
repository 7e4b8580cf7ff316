# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Validate the alert ansible-rulebook passed (extra var ansible_eda) from its raw value, never rendering it."""

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible.utils.vars import load_extra_vars

from ansible_collections.platform_eng.incident_response.plugins.module_utils._alert_event import validate
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
        args = self._task.args
        # The event as ansible-rulebook wrote it (-e @file), parsed but never templated: only this copy is read.
        raw = dict(load_extra_vars(self._loader) or {}).get("ansible_eda")
        try:
            alert = validate(plain(raw), str(args.get("service") or "incident-response"),
                             {str(k): str(v or "") for k, v in plain(args.get("app_hosts") or {}).items()},
                             int(args.get("app_port") or 0), plain(args.get("routes") or {}))
        except (IncidentResponseError, ValueError, TypeError) as exc:
            return dict(result, failed=True, msg=str(exc))
        ignored = ", ".join(alert["ignored"]) or "nothing"
        return dict(result, changed=False, alert=alert,
                    msg=f"{alert['name']} {alert['status']} ({alert['severity']}) on {alert['where']}; "
                        f"not used: {ignored}")
