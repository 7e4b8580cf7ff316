# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: logrotate_problems
short_description: The lines of a C(logrotate -d) run that report a problem
version_added: 0.2.0
description:
  - Reads the registered result of a C(logrotate -d) command (its C(stdout_lines) and C(stderr_lines), in that order)
    and returns every line that starts with C(error) or contains C(error:), in any case.
  - The logrotate role judges a configuration by this list and by the command's exit code.
author:
  - Platform Engineering Team (@platform-eng)
options:
  _input:
    description: The registered result of the command; a skipped one (no output) has no problems.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Fail when logrotate reports a problem
  ansible.builtin.assert:
    that: logrotate_debug | platform_eng.incident_response.logrotate_problems | length == 0
"""

RETURN = r"""
_value:
  description: The problem lines, stdout's first.
  type: list
  elements: str
"""

import re
import typing as t

# "error: ..." anywhere, or a line that starts with "error" (logrotate writes both forms).
PROBLEM = re.compile(r"^error|error:", re.IGNORECASE)


def logrotate_problems(result: t.Mapping[str, t.Any]) -> list[str]:
    lines = list((result or {}).get("stdout_lines") or []) + list((result or {}).get("stderr_lines") or [])
    return [str(line) for line in lines if PROBLEM.search(str(line))]


class FilterModule:
    def filters(self):
        return {"logrotate_problems": logrotate_problems}
