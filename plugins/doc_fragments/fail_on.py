# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# The fail_on option of the inspection modules (plugins/module_utils/_verdict.py): a check reports,
# and only fail_on turns its verdict into a task failure.

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  fail_on:
    description:
      - Fail the task when the worst finding is at least this severe; the result is returned either way.
      - V(none) never fails on a verdict; V(warn) fails on V(warn) or V(critical); V(critical) on V(critical) only.
        V(unknown) never fails the task.
    type: str
    default: none
    choices: [none, warn, critical]
"""
