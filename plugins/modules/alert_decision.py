#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: alert_decision
short_description: What a validated alert leads to - the incident it joins, its diagnosis, and whether a rollback follows
version_added: 0.2.0
description:
  - Decides in Python, so that no verdict is computed in Jinja, for playbooks/alert.yml.
  - V(incident) - a firing alert joins the newest open incident of its severity or a higher one (an update with
    a note), or opens its own incident, and names the diagnosis to run; a resolved alert becomes an
    C(alert_resolved) timeline event in that incident, or nothing when there is none.
  - V(rollback) - a rollback follows only when O(enabled), the alert still fires, the diagnosis's recommendations
    hold a critical C(rollback) (a recent deploy with errors above the runbook's limit, no dead database), and no
    rollback has run in the incident yet. Returns the verdict line to post either way.
author:
  - Platform Engineering Team (@platform-eng)
extends_documentation_fragment:
  - platform_eng.incident_response.attributes
  - platform_eng.incident_response.attributes.info_module
  - platform_eng.incident_response.attributes.idempotent_not_modify_state
  - platform_eng.incident_response.attributes.controller_decision
options:
  decide:
    description: Which decision.
    type: str
    choices: [incident, rollback]
    required: true
  alert:
    description: RV(platform_eng.incident_response.alert_event#module:alert).
    type: dict
    required: true
  incidents:
    description: For V(incident), the open incidents (RV(platform_eng.incident_response.incident_info#module:incidents)).
    type: list
    elements: dict
  enabled:
    description: For V(rollback), whether automatic rollback is on (the rulebook's C(alert_auto_rollback)).
    type: bool
    default: false
  report:
    description: For V(rollback), the diagnosis report (C(incident_response.diagnose/v1)).
    type: dict
  timeline:
    description: For V(rollback), the incident's timeline (RV(platform_eng.incident_response.incident_info#module:timeline)).
    type: list
    elements: dict
  incident_id:
    description: For V(rollback), the incident the alert belongs to.
    type: str
seealso:
  - module: platform_eng.incident_response.alert_event
"""

EXAMPLES = r"""
- name: Decide the incident action
  platform_eng.incident_response.alert_decision:
    decide: incident
    alert: "{{ alert_validated.alert }}"
    incidents: "{{ open_incidents.incidents }}"
  register: alert_incident

- name: Decide whether a rollback follows
  platform_eng.incident_response.alert_decision:
    decide: rollback
    alert: "{{ alert_validated.alert }}"
    enabled: false
    report: "{{ diagnose__report.report }}"
    timeline: "{{ incident.timeline }}"
    incident_id: INC-20261129-1423-ab12
  register: alert_rollback
"""

RETURN = r"""
decision:
  description:
    - For V(incident) - C(action) (V(open), V(update), V(event) or V(none)), C(incident_id), C(severity), C(title),
      C(note), C(diagnose) (the diagnose.yml alert, or empty), and for V(event) C(kind), C(summary), C(refs).
    - For V(rollback) - C(rollback) (bool), C(reason), and C(note), the verdict line to post.
  returned: success
  type: dict
  sample:
    rollback: false
    reason: "off (alert_auto_rollback); a person decides: ansible-playbook playbooks/rollback.yml"
    note: "Diagnosis of incident-response_high_error_rate on app1 (10.77.2.11:8080): CRITICAL ..."
"""
