#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: input_guard
short_description: Refuse malformed or unsafe run inputs before anything renders or uses them
version_added: 0.1.0
description:
  - Validates variables that come from outside the playbook (C(-e), AWX survey answers, alert payloads) against
    allowlist rules, and returns the validated values in RV(validated).
  - The check reads each variable's raw value. ansible-core renders a Jinja expression given with C(-e) as soon as
    the variable is used, even in a test like C(version is match(...)), so C(-e "version={{ lookup('pipe','id') }}")
    would run a command on the controller. A value that contains Jinja markers is refused unrendered.
  - Use only RV(validated) afterwards; task results are never rendered as templates again.
  - All refusals are reported together, in one message, before anything changes.
author:
  - Platform Engineering Team (@platform-eng)
extends_documentation_fragment:
  - platform_eng.incident_response.attributes
  - platform_eng.incident_response.attributes.info_module
  - platform_eng.incident_response.attributes.idempotent_not_modify_state
attributes:
  action:
    support: full
    description: Runs on the controller only.
  connection:
    support: none
    description: Needs no connection to the target.
options:
  inputs:
    description:
      - Variable name to rule. A rule is a dictionary with any of C(required) (bool, default false), C(pattern)
        (a Python regular expression the whole value must match), C(choices) (a list), C(max_length) (default 128)
        and C(default) (used when the variable is unset or empty and not required).
      - Every value must be a string or an integer without control characters or Jinja markers.
    type: dict
    required: true
notes:
  - This is an action plugin; the module file holds only its documentation.
"""

EXAMPLES = r"""
- name: Refuse a malformed version before anything else
  platform_eng.incident_response.input_guard:
    inputs:
      version: {required: true, pattern: '^v\d+\.\d+\.\d+$', max_length: 64}
      change_ticket: {pattern: '^[A-Z][A-Z0-9]+-\d+$'}
  register: guard

- name: Use the validated value only
  ansible.builtin.debug:
    msg: "Deploying {{ guard.validated.version }}"
"""

RETURN = r"""
validated:
  description: The validated inputs, by name; unset optional inputs take their rule's C(default) (or null).
  returned: success
  type: dict
  sample: {version: v1.2.3, change_ticket: CHG-1234}
"""
