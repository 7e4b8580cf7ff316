# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: finding_line
short_description: One readable line for a finding
version_added: 0.1.0
description:
  - >-
    Turns a finding of the collection's shared shape into one line for people, for example
    C([critical] app2 http_status: ConnectionRefusedError ... -> Check for recent deployments ...).
author:
  - Platform Engineering Team (@platform-eng)
options:
  _input:
    description: A finding (name, target, status, value, threshold, unit, evidence, remediation).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Print what is wrong
  ansible.builtin.debug:
    msg: "{{ result.findings | rejectattr('status', 'equalto', 'ok') | map('platform_eng.incident_response.finding_line') | list }}"
"""

RETURN = r"""
_value:
  description: The line.
  type: str
"""


def finding_line(finding: dict) -> str:
    value = finding.get("value")
    unit = finding.get("unit") or ""
    measured = f" = {value}{unit}" if value is not None and not isinstance(value, (dict, list)) else ""
    line = f"[{finding.get('status')}] {finding.get('target')} {finding.get('name')}{measured}"
    if finding.get("evidence"):
        line += f": {finding['evidence']}"
    if finding.get("remediation"):
        line += f" -> {finding['remediation']}"
    return line


class FilterModule:
    def filters(self):
        return {"finding_line": finding_line}
