#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: input_guard
short_description: Refuse malformed or unsafe run inputs, and every unexpected extra var, before anything renders them
version_added: 0.1.0
description:
  - Validates everything that comes from outside the playbook (C(-e), AWX survey answers, alert payloads) and
    returns the validated inputs in RV(validated). Put it first in a playbook's first play, and declare there
    every input the playbook accepts, role variables users set with C(-e) included.
  - It reads B(every) extra var of the run as given (C(-e k=v), C(-e '{json}'), C(-e @file.yml)), parsed but
    never rendered. ansible-core renders a Jinja expression given with C(-e) as soon as the variable is used,
    even in a test such as C(version is match), so a C(-e) value holding a C(pipe) lookup would run a command
    on the controller; and an extra var outranks every other variable, registered results included.
  - Refused, all together in one message that starts with C(Refused before changing anything:) - an extra var
    whose value (nested values and keys included) or name holds a template marker; a name only the collection may
    set (run state such as C(deploy_request) and C(deploy_run), validated copies, this task's own C(register),
    anything containing C(__), and the guard's own settings below); a name that is not a declared input, with a
    hint (C(env) or C(environment) - select the environment with C(-i inventories/production); a near
    misspelling - did you mean ...); and each declared input that breaks its rule.
  - Allowed without being declared - what the engines add themselves (AWX C(awx_*) and C(tower_*),
    ansible-rulebook's C(ansible_eda)) and the names listed in the inventory variable
    C(incident_response_extra_vars_allowed) (site variables). Connection variables (C(ansible_*)) are refused
    unless listed there - given with C(-e) they outrank the inventory for every host, and
    C(ansible_ssh_common_args) can run a C(ProxyCommand) on the controller.
  - Use only RV(validated) afterwards; task results are never rendered as templates again.
author:
  - Platform Engineering Team (@platform-eng)
extends_documentation_fragment:
  - platform_eng.incident_response.attributes
  - platform_eng.incident_response.attributes.info_module
  - platform_eng.incident_response.attributes.idempotent_not_modify_state
  - platform_eng.incident_response.attributes.controller_decision
options:
  inputs:
    description:
      - Variable name to rule, for every input the playbook accepts. Write the rules in the task itself, not
        through a variable (an extra var of that name would replace them).
      - "A rule is a dictionary with any of these keys:"
      - C(type) - V(str) (default), V(int), V(float), V(bool) (true/false/yes/no/on/off/1/0), V(serial) (a batch
        size for C(serial) - a positive number of hosts, a percentage V(N%) from 1 to 100, or a list of those,
        given as JSON), or V(report_dir) (a directory that must lie under the reports root after C(..)
        and symbolic links are resolved; RV(validated) holds the resolved path).
      - C(min) and C(max) - bounds for V(int) and V(float).
      - C(required) (default false), C(default) (used when the variable is unset or empty and not required).
      - C(choices) - a list of allowed values.
      - C(pattern) - a Python regular expression the whole value must match; C(\d), C(\w) and C(\s) match ASCII
        only.
      - C(max_length) - default 128.
      - C(reason) - true for free-text reasons (override or break-glass reasons, notes); the text must contain a
        visible character, so whitespace alone is refused.
      - Every value is checked for control characters and template markers first; a V(str) input must be a
        string or an integer (returned as text, as before).
    type: dict
    required: true
notes:
  - This is an action plugin; the module file holds only its documentation.
  - The reports root is the inventory variable C(incident_response_reports_root) (a literal path), else the
    environment variable C(INCIDENT_RESPONSE_REPORTS_ROOT), else C(reports/) beside the playbooks directory.
  - C(incident_response_extra_vars_allowed) and C(incident_response_reports_root) are read from the inventory
    only; given with C(-e) they are refused.
"""

EXAMPLES = r"""
- name: Refuse malformed or unsafe inputs before anything else
  platform_eng.incident_response.input_guard:
    inputs:
      version: {required: true, pattern: '^v\d+\.\d+\.\d+$', max_length: 64}
      change_ticket: {pattern: '^[A-Z][A-Z0-9]+-\d+$'}
      deploy_window_override_reason: {reason: true, max_length: 200, default: ""}
      deploy_serial: {type: serial, default: 1}
      deploy_watch_seconds: {type: int, min: 0, max: 7200}
      deploy_lock_break: {type: bool, default: false}
      diagnose_reports_dir: {type: report_dir}
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
  sample: {version: v1.2.3, change_ticket: CHG-1234, deploy_serial: [1, "50%"], deploy_watch_seconds: 900}
reports_root:
  description: The reports root that V(report_dir) inputs were confined to (resolved).
  returned: success
  type: str
  sample: /srv/incident-response/reports
"""
