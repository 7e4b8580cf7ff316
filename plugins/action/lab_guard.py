# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Refuse a run against the local lab when its safety route is missing or the lab is down (controller side)."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._lab_guard import check_lab


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        lab = self._task.args.get("lab") or {}
        if not lab:
            return dict(result, changed=False, skipped=True, lab=False, msg="Not the lab inventory; nothing to check.")
        if not isinstance(lab, dict):
            return dict(result, failed=True, msg="lab_guard: 'lab' must be a dictionary (range, state_dir, bastion)")
        try:
            status = check_lab(lab)
        except IncidentResponseError as exc:
            return dict(result, failed=True, msg=str(exc))
        return dict(result, changed=False, failed=not status.ready, lab=True, ready=status.ready,
                    safety_route=status.route, facts=status.facts, bastion=status.bastion, msg=status.msg)
