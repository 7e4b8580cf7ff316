#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: incident_notify
short_description: Page, mail, post or file a ticket about an incident, per the runbook's severity routing
version_added: 0.2.0
description:
  - Sends an incident's notifications from the controller, per the routing table O(routes) (the runbook's
    defaults are P1 PagerDuty and Slack, P2 e-mail to the secondary contact and Slack, P3 Slack, P4 a ticket).
  - PagerDuty gets Events API v2 calls (V(trigger), V(acknowledge), V(resolve)) with the incident id as
    C(dedup_key); a trigger carries the summary, the source, the severity, the latest diagnosis verdict and the
    dashboard links O(links) in C(custom_details). Slack gets an incoming-webhook message, e-mail goes through
    SMTP, and a ticket is a Jira-style C(POST /rest/api/2/issue) body.
  - Acknowledge and resolve go to PagerDuty and Slack only; update and mitigated to Slack only.
  - Never waits on the incident store. With O(action=open) and no O(record) (the bastion could not be reached),
    it makes the record, and so the incident id, itself and returns it.
  - Each channel is tried on its own; a channel that fails is reported in RV(sent) and does not stop the others.
    Routing keys, webhook URLs, SMTP credentials and the ticket token never appear in the result, errors included.
author:
  - Platform Engineering Team (@platform-eng)
extends_documentation_fragment:
  - platform_eng.incident_response.attributes
attributes:
  check_mode:
    support: full
    details:
      - Sends nothing and returns, in RV(messages), what would be sent to whom.
  diff_mode:
    support: none
  idempotent:
    support: none
    details:
      - Every run sends its messages.
options:
  action:
    description: The lifecycle action the messages are about.
    type: str
    required: true
    choices: [open, ack, update, assign, mitigated, resolve, escalate]
  record:
    description: The incident record (as planned by M(platform_eng.incident_response.incident)).
    type: dict
    default: {}
  title:
    description: The title, for O(action=open) when there is no O(record).
    type: str
  severity:
    description: The severity, for O(action=open) when there is no O(record).
    type: str
    choices: [P1, P2, P3, P4]
  note:
    description: A note added to the messages.
    type: str
    default: ""
  escalation:
    description: For O(action=escalate), the escalation that is due (C(kind) V(response_breach) or V(executive), C(reason)).
    type: dict
    default: {}
  routes:
    description: Severity to channel names (V(pagerduty), V(slack), V(email), V(ticket)).
    type: dict
    default: {P1: [pagerduty, slack], P2: [email, slack], P3: [slack], P4: [ticket]}
  links:
    description: Dashboard name to URL (the runbook's Grafana and CloudWatch dashboards).
    type: dict
    default: {}
  source:
    description: The PagerDuty C(source), the system the incident is about.
    type: str
    default: incident-response
  pagerduty_url:
    description: The Events API v2 endpoint, C(https://events.pagerduty.com/v2/enqueue) in production.
    type: str
  pagerduty_routing_key:
    description: The integration's routing key.
    type: str
  pagerduty_service:
    description: A readable name for the paged service, shown as the recipient.
    type: str
    default: PagerDuty on-call rotation
  slack_webhook_url:
    description: The Slack incoming webhook URL.
    type: str
  slack_channel:
    description: The channel the webhook posts to, shown as the recipient.
    type: str
    default: "#incidents"
  smtp_host:
    description: The SMTP relay.
    type: str
  smtp_port:
    description: Its port.
    type: int
    default: 25
  smtp_starttls:
    description: Use STARTTLS before logging in.
    type: bool
    default: false
  smtp_username:
    description: SMTP login, if the relay needs one.
    type: str
  smtp_password:
    description: SMTP password.
    type: str
  email_from:
    description: The sender address.
    type: str
    default: incident-response@example.com
  email_to:
    description: The secondary contact (the runbook's platform-engineering@example.com).
    type: str
    default: ""
  executive_email:
    description: Who hears about a P1 open past the executive limit (the runbook's CTO).
    type: str
    default: ""
  ticket_url:
    description: The tracker's create-issue endpoint.
    type: str
  ticket_token:
    description: Bearer token for the tracker.
    type: str
  ticket_project:
    description: The backlog's project key.
    type: str
    default: OPS
  now:
    description: The time used for a record made here (ISO 8601); defaults to the controller's clock.
    type: str
  timeout:
    description: Seconds per delivery attempt.
    type: int
    default: 10
seealso:
  - module: platform_eng.incident_response.incident
"""

EXAMPLES = r"""
- name: Page for a new P1
  platform_eng.incident_response.incident_notify:
    action: open
    severity: P1
    title: Checkout 5xx above 5 %
    pagerduty_url: https://events.pagerduty.com/v2/enqueue
    pagerduty_routing_key: "{{ vault_pagerduty_routing_key }}"
    slack_webhook_url: "{{ vault_slack_incidents_webhook }}"
    links:
      Grafana: https://grafana.example.com/d/incident-response
  delegate_to: localhost
  no_log: false
"""

RETURN = r"""
record:
  description: The record the messages were built from (made here, with a new id, when none was given).
  returned: always
  type: dict
  sample: {id: INC-20261129-1423-ab12, severity: P1, state: triage, title: Checkout 5xx above 5 %}
messages:
  description: What was sent (or would be, in check mode) to whom; no secrets.
  returned: always
  type: list
  elements: dict
  sample:
    - {channel: pagerduty, to: PagerDuty on-call rotation, action: trigger,
       body: {event_action: trigger, dedup_key: INC-20261129-1423-ab12}}
sent:
  description: One outcome per message (empty in check mode); C(detail) is the HTTP status or the scrubbed error.
  returned: always
  type: list
  elements: dict
  sample:
    - {channel: pagerduty, to: PagerDuty on-call rotation, action: trigger, delivered: true, detail: HTTP 202,
       incident_id: INC-20261129-1423-ab12}
summary:
  description: One line per message, what was sent (or would be) to whom and the outcome; no secrets.
  returned: always
  type: list
  elements: str
  sample: ["pagerduty trigger to PagerDuty on-call rotation: delivered (HTTP 202)"]
undelivered:
  description: How many messages could not be delivered.
  returned: always
  type: int
  sample: 0
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._incident import (
    new_id,
    new_record,
    utc,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._incident_paging import (
    describe,
    plan,
    plan_escalation,
    send,
    summary_lines,
)

SECRET = dict(type="str", no_log=True)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            action=dict(type="str", required=True,
                        choices=["open", "ack", "update", "assign", "mitigated", "resolve", "escalate"]),
            record=dict(type="dict", default={}),
            title=dict(type="str"),
            severity=dict(type="str", choices=["P1", "P2", "P3", "P4"]),
            note=dict(type="str", default=""),
            escalation=dict(type="dict", default={}),
            routes=dict(type="dict", default={"P1": ["pagerduty", "slack"], "P2": ["email", "slack"],
                                              "P3": ["slack"], "P4": ["ticket"]}),
            links=dict(type="dict", default={}),
            source=dict(type="str", default="incident-response"),
            pagerduty_url=SECRET, pagerduty_routing_key=SECRET,
            pagerduty_service=dict(type="str", default="PagerDuty on-call rotation"),
            slack_webhook_url=SECRET, slack_channel=dict(type="str", default="#incidents"),
            smtp_host=dict(type="str"), smtp_port=dict(type="int", default=25),
            smtp_starttls=dict(type="bool", default=False),
            smtp_username=SECRET, smtp_password=SECRET,
            email_from=dict(type="str", default="incident-response@example.com"),
            email_to=dict(type="str", default=""), executive_email=dict(type="str", default=""),
            ticket_url=SECRET, ticket_token=SECRET, ticket_project=dict(type="str", default="OPS"),
            now=dict(type="str"),
            timeout=dict(type="int", default=10),
        ),
        supports_check_mode=True,
    )
    p = module.params
    channels = {
        "pagerduty": {"url": p["pagerduty_url"], "routing_key": p["pagerduty_routing_key"],
                      "service": p["pagerduty_service"]},
        "slack": {"webhook_url": p["slack_webhook_url"], "channel": p["slack_channel"]},
        "email": {"host": p["smtp_host"], "port": p["smtp_port"], "starttls": p["smtp_starttls"],
                  "username": p["smtp_username"], "password": p["smtp_password"], "from": p["email_from"],
                  "to": p["email_to"]},
        "ticket": {"url": p["ticket_url"], "token": p["ticket_token"], "project": p["ticket_project"]},
    }
    try:
        record = dict(p["record"] or {})
        if not record:
            if p["action"] != "open" or not p["title"] or not p["severity"]:
                raise IncidentResponseError(f"action={p['action']} needs the incident record "
                                            "(only open can make one, from a title and a severity)")
            now = utc(p["now"])
            record = new_record(new_id(now), p["title"], p["severity"], now, "automation")
        if p["action"] == "escalate":
            messages = plan_escalation(record, p["escalation"].get("kind", ""), p["escalation"].get("reason", ""),
                                       p["routes"], channels, p["links"], p["source"],
                                       {"secondary": p["email_to"], "executive": p["executive_email"]})
        else:
            messages = plan(p["action"], record, p["routes"], channels, p["links"], p["source"], p["note"])
    except IncidentResponseError as exc:
        module.fail_json(msg=f"Incident notification: {exc}")
    sent = [] if module.check_mode else send(messages, channels, p["timeout"])
    for outcome in sent:
        outcome["incident_id"] = record["id"]
        if p["action"] == "escalate":
            outcome["kind"] = p["escalation"].get("kind", "")
    module.exit_json(changed=bool(sent), record=record, messages=describe(messages), sent=sent,
                     undelivered=sum(1 for item in sent if not item["delivered"]),
                     summary=summary_lines(messages, sent, module.check_mode))


if __name__ == "__main__":
    main()
