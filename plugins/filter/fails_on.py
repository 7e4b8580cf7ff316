# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: fails_on
short_description: Whether a verdict reaches a role's fail_on level
version_added: 0.2.0
description:
  - The rule the inspection modules' O(platform_eng.incident_response.http_health_info#module:fail_on) applies, for a
    role that takes its verdict from a report and decides at the end whether the run fails.
  - V(none) never fails; V(warn) fails on V(warn) or V(critical); V(critical) on V(critical) only. V(unknown) never
    fails, as in the modules.
author:
  - Platform Engineering Team (@platform-eng)
options:
  _input:
    description: The verdict, V(ok), V(warn), V(critical) or V(unknown).
    type: str
    required: true
  fail_on:
    description: The failing level.
    type: str
    choices: [none, warn, critical]
    required: true
"""

EXAMPLES = r"""
- name: Fail when the verdict reaches the failing level
  ansible.builtin.assert:
    that: not result.status | platform_eng.incident_response.fails_on(role_fail_on)
    fail_msg: "The service is {{ result.status }}"
"""

RETURN = r"""
_value:
  description: True when the verdict is at least as bad as O(fail_on).
  type: bool
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import STATUSES
from ansible_collections.platform_eng.incident_response.plugins.module_utils._verdict import FAIL_ON_CHOICES, reaches


def fails_on(status: str, fail_on: str) -> bool:
    if fail_on not in FAIL_ON_CHOICES:
        raise AnsibleFilterError(f"fails_on: fail_on must be one of {', '.join(FAIL_ON_CHOICES)}, got {fail_on!r}")
    if status not in STATUSES:
        raise AnsibleFilterError(f"fails_on: the verdict must be one of {', '.join(STATUSES)}, got {status!r}")
    return reaches(status, fail_on)


class FilterModule:
    def filters(self):
        return {"fails_on": fails_on}
