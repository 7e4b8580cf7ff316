#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: incident
short_description: Open, move through its lifecycle, escalate and record events of an incident on the bastion
version_added: 0.2.0
description:
  - Keeps incidents on the bastion, one directory per incident under O(store) with its C(record.json) (id, title,
    severity, state, roles, who opened it, timestamps) and an append-only C(timeline.jsonl) (one event per line).
  - States follow the runbook's lifecycle, detection, triage, investigation, mitigation, resolution, post-mortem.
    A transition that makes no sense (resolving a closed incident, acknowledging twice, re-opening at a lower severity
    without a reason in O(note)) fails with a message naming the incident, its state and why, and writes nothing.
  - O(action=escalate) applies the runbook's response times and escalation rules to every open incident at O(now)
    and records each escalation that is due, once, as a timeline event; a second run at the same time does nothing.
  - O(action=event) is the automation as scribe. It appends an event to O(incident_id), or to the newest open
    incident when none is named, and does nothing when no incident is open.
  - O(action=report) returns the post-incident review (the runbook's template as Markdown, and the data it came
    from) and moves a resolved incident to post-mortem.
  - Every change holds an exclusive C(flock) on C(<store>/.lock); the record is replaced by an atomic rename and a
    timeline event is one append, so concurrent runs lose nothing.
author:
  - Platform Engineering Team (@platform-eng)
extends_documentation_fragment:
  - platform_eng.incident_response.attributes
attributes:
  check_mode:
    support: full
    details:
      - Makes the same decision, returns the planned record, events and a diff, and writes nothing.
  diff_mode:
    support: full
  idempotent:
    support: partial
    details:
      - O(action=escalate) is idempotent. Other actions add timeline events each time they run.
options:
  store:
    description: The directory holding one sub-directory per incident.
    type: path
    default: /var/lib/incident-response/incidents
  action:
    description: What to do.
    type: str
    required: true
    choices: [open, ack, update, assign, mitigated, resolve, escalate, report, event]
  incident_id:
    description:
      - The incident, C(INC-YYYYMMDD-HHMM-xxxx). With O(action=open) an id chosen by the caller (the id the page
        already went out with); without it a new one is made. With O(action=open) and an existing closed incident,
        re-opens it.
    type: str
  title:
    description: The incident's title, for O(action=open).
    type: str
  severity:
    description: P1 to P4, for O(action=open) (and re-opening).
    type: str
    choices: [P1, P2, P3, P4]
  note:
    description: A note for the timeline; the summary for O(action=event); the reason for re-opening lower.
    type: str
    default: ""
  roles:
    description: Role assignments (the scribe is always the automation).
    type: dict
    default: {}
    suboptions:
      commander:
        description: The incident commander.
        type: str
      technical_lead:
        description: The technical lead.
        type: str
      communications_lead:
        description: The communications lead.
        type: str
  actor:
    description: Who did this (a person, or C(automation)).
    type: str
    default: automation
  source:
    description: Where the event comes from (C(cli), C(awx), C(alert), C(diagnose), C(deploy), ...).
    type: str
    default: incident
  kind:
    description: The event kind for O(action=event), for example C(diagnosis), C(rollback_done), C(mitigation).
    type: str
  refs:
    description: References for the event (report path, run id, versions, figures).
    type: dict
    default: {}
  notified:
    description:
      - Outcomes of notifications already sent for this action (channel, to, action, delivered, detail), recorded as
        a C(paged) event. For O(action=escalate), each entry also names C(incident_id) and C(kind).
      - Never holds a secret; RV(platform_eng.incident_response.incident_notify#module:sent) is the intended value.
    type: list
    elements: dict
    default: []
  now:
    description:
      - The time of this action (ISO 8601, UTC). Defaults to the bastion's clock. Scheduled escalation passes the
        controller's time once for planning and recording; tests inject it to cover the boundaries.
    type: str
  policy:
    description:
      - Response times and escalation limits, for O(action=escalate).
      - C(response_minutes) maps P1-P4 to minutes (null means the next business day), C(executive_after_minutes) and
        C(business_day_end_hour) (UTC). Defaults are the runbook's.
    type: dict
    default: {}
  links:
    description:
      - Dashboard name to URL (the runbook's Grafana and CloudWatch dashboards), linked from the review that
        O(action=report) returns, in its Markdown and its data.
    type: dict
    default: {}
seealso:
  - module: platform_eng.incident_response.incident_info
  - module: platform_eng.incident_response.incident_notify
"""

EXAMPLES = r"""
- name: Record that the on-call engineer acknowledged
  platform_eng.incident_response.incident:
    action: ack
    incident_id: INC-20261129-1423-ab12
    actor: alice
  delegate_to: bastion

- name: Leave the diagnosis verdict in the open incident's timeline
  platform_eng.incident_response.incident:
    action: event
    kind: diagnosis
    source: diagnose
    note: "CRITICAL: 5xx 12.0% on app1 after v1.2.4 went live"
    refs:
      verdict: critical
      report: reports/diagnose-high_error_rate-20261129T142500Z.md
  delegate_to: bastion
"""

RETURN = r"""
record:
  description: The incident record after the action (planned, in check mode); null when nothing was recorded.
  returned: always
  type: dict
  sample:
    id: INC-20261129-1423-ab12
    title: Checkout 5xx above 5 %
    severity: P1
    state: investigation
    roles: {commander: alice, technical_lead: "", communications_lead: "", scribe: automation}
    opened_at: "2026-11-29T14:23:00Z"
    acknowledged_at: "2026-11-29T14:25:00Z"
    mitigated_at: null
    resolved_at: null
    escalations: []
events:
  description: The timeline events this action added (would add, in check mode).
  returned: always
  type: list
  elements: dict
  sample:
    - {at: "2026-11-29T14:25:00Z", kind: acknowledged, source: cli, actor: alice, summary: Acknowledged by alice,
       refs: {}}
due:
  description: For O(action=escalate), the escalations that were due, with the incident record each belongs to.
  returned: when O(action=escalate)
  type: list
  elements: dict
  sample:
    - {incident_id: INC-20261129-1423-ab12, kind: executive, reason: "P1 open for 2 h 01 min (limit 120 min)"}
review:
  description: For O(action=report), the review as Markdown and the data it was rendered from.
  returned: when O(action=report)
  type: dict
  sample: {markdown: "# Incident Report: incident-response Outage\n...", data: {schema: incident_response.incident_review/v1}}
msg:
  description: Why nothing was recorded, for O(action=event) with no open incident.
  returned: sometimes
  type: str
  sample: no open incident; nothing recorded
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._incident_ops import execute
from ansible_collections.platform_eng.incident_response.plugins.module_utils._incident_store import IncidentStore


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            store=dict(type="path", default="/var/lib/incident-response/incidents"),
            action=dict(type="str", required=True, choices=["open", "ack", "update", "assign", "mitigated",
                                                            "resolve", "escalate", "report", "event"]),
            incident_id=dict(type="str"),
            title=dict(type="str"),
            severity=dict(type="str", choices=["P1", "P2", "P3", "P4"]),
            note=dict(type="str", default=""),
            roles=dict(type="dict", default={}, options=dict(
                commander=dict(type="str"), technical_lead=dict(type="str"), communications_lead=dict(type="str"))),
            actor=dict(type="str", default="automation"),
            source=dict(type="str", default="incident"),
            kind=dict(type="str"),
            refs=dict(type="dict", default={}),
            notified=dict(type="list", elements="dict", default=[]),
            now=dict(type="str"),
            policy=dict(type="dict", default={}),
            links=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )
    try:
        result = execute(IncidentStore(module.params["store"]), module.params, module.check_mode)
    except (IncidentResponseError, OSError) as exc:
        module.fail_json(msg=f"Incident store {module.params['store']}: {exc}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
