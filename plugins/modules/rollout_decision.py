#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: rollout_decision
short_description: The fleet-level decisions of a deploy or rollback (batch verdict, rollback target, fleet state, window, gates)
version_added: 0.2.0
description:
  - Makes, on the controller and in Python, the decisions the deploy and rollback playbooks need, so that no verdict
    is computed in Jinja.
  - V(batch) judges a batch like Ansible's C(max_fail_percentage) (a batch fails when its failures exceed the
    percentage; exactly at it passes) and names the hosts to put back, unreachable ones included in RV(decision).
  - V(undone) merges the results of putting hosts back into the outcomes.
  - V(rollback_target) picks the release every host returns to from their release histories, or refuses.
  - V(fleet) states which host runs which release and the run's result (V(succeeded), V(partial), V(failed),
    V(rolled_back)).
  - V(window) says whether a time is inside the deployment window (overnight windows included), and whether a deploy
    then is refused (outside the window without an O(override_reason)) or overridden (outside it with one).
  - V(gates) lists the pre-deployment gates that are neither configured nor waived in a strict environment.
  - V(pool) says which hosts of a drained O(batch) go back into the load balancer (they passed their health gate, or
    their step failed before touching the service) and which stay out, and why.
  - V(checkpoint) says what a batch boundary (M(platform_eng.incident_response.rollout_checkpoint)'s O(result)) means
    for the run (whether it stops, why, and which hosts the finish must put back into traffic).
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
    choices: [batch, undone, rollback_target, fleet, window, gates, pool, checkpoint]
    required: true
  outcomes:
    description: Host to outcome (status, msg, switched, version_before, version_after) so far in the run.
    type: dict
  results:
    description: Host to the registered result of its M(platform_eng.incident_response.release_step) task.
    type: dict
  result:
    description: The registered result of the batch's M(platform_eng.incident_response.rollout_checkpoint) task.
    type: dict
  to_return:
    description: Hosts still out of the load balancer that the run must put back.
    type: list
    elements: str
  batch:
    description: The hosts of the batch being judged.
    type: list
    elements: str
  max_fail_percentage:
    description: Failed or unreachable hosts, in percent of the batch, above which the batch fails.
    type: float
  histories:
    description: Host to its M(platform_eng.incident_response.release_history_info) result.
    type: dict
  requested:
    description: The release asked for with C(-e version=), if any.
    type: str
  hosts:
    description: Every app host of the run, in order.
    type: list
    elements: str
  planned:
    description: Host to the release it ran when the run started.
    type: dict
  aborted:
    description: Whether the run stopped before its end.
    type: bool
  rolled_back:
    description: Whether the run put hosts back.
    type: bool
  window:
    description: The deployment window, C(days) (Mon..Sun, the day it starts), C(start) and C(end) (HH:MM UTC).
    type: dict
  now:
    description: The time to judge (ISO 8601 with a zone); default now.
    type: str
  override_reason:
    description: Why the deploy may run outside the window (C(-e deploy_window_override_reason=)); blank means none.
    type: str
  environment:
    description: The environment deployed to.
    type: str
  strict_environments:
    description: Environments where every gate must be configured or explicitly waived.
    type: list
    elements: str
  gates:
    description: Gate name to its configuration (empty means not configured).
    type: dict
  waived:
    description: Gates explicitly waived for this environment.
    type: list
    elements: str
notes:
  - This is an action plugin; the module file holds only its documentation.
seealso:
  - module: platform_eng.incident_response.release_step
"""

EXAMPLES = r"""
- name: Judge this batch
  platform_eng.incident_response.rollout_decision:
    decide: batch
    outcomes: "{{ deploy_state.outcomes }}"
    results: "{{ dict(ansible_play_batch | zip(ansible_play_batch | map('extract', hostvars, 'deploy__step'))) }}"
    batch: "{{ ansible_play_batch }}"
    max_fail_percentage: 0
  register: verdict

- name: Is now inside an overnight window, and may the deploy run?
  platform_eng.incident_response.rollout_decision:
    decide: window
    window: {days: [Mon, Tue, Wed, Thu], start: "22:00", end: "06:00"}
    override_reason: "{{ deploy_window_override_reason }}"
  register: window

- name: Refuse a deploy outside the window without a reason
  ansible.builtin.fail:
    msg: "Refused before changing anything: {{ window.decision.refused }}"
  when: window.decision.refused is not none
"""

RETURN = r"""
decision:
  description: The decision; its keys depend on O(decide).
  returned: success
  type: dict
  sample:
    failed: [app2]
    unreachable: [app2]
    batch_failed: true
    undo: [app1]
    cannot_undo: []
    reasons: {app2: "Failed to connect to the host via ssh"}
"""
