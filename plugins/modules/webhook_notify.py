#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: webhook_notify
short_description: Post one event to a Slack-compatible webhook, from the controller
version_added: 0.2.0
description:
  - Sends a Slack incoming-webhook message (C(text), C(channel), C(username), C(attachments)) plus the machine-readable
    C(event) and C(fields), as one POST from the controller process (an action plugin, so no module process is started).
  - A webhook that cannot be reached or answers an error is reported in RV(delivered) and RV(status) (and the task's message), unless
    O(fail_on_error=true), does not fail the task, so a chat outage never fails the deploy it reports on.
  - The URL is a secret; it never appears in the result or in a message.
author:
  - Platform Engineering Team (@platform-eng)
extends_documentation_fragment:
  - platform_eng.incident_response.attributes
attributes:
  action:
    support: full
    description: Runs on the controller only.
  check_mode:
    support: full
    details: Sends nothing and says what would be posted.
  diff_mode:
    support: none
  idempotent:
    support: none
    details: Every call posts one message.
options:
  url:
    description: The webhook URL (Slack, or the lab's receiver).
    type: str
    required: true
  text:
    description: The one-line message people read.
    type: str
    required: true
  event:
    description: Machine-readable event name, for example V(deploy_started) or V(rollback_succeeded).
    type: str
    required: true
  channel:
    description: The channel to post to.
    type: str
    default: "#deployments"
  username:
    description: The name the message is posted under.
    type: str
    default: incident-response-automation
  fields:
    description: Key/value facts (version, hosts, who, why), shown as attachment fields.
    type: dict
    default: {}
  dashboards:
    description: The runbook's dashboards (name to URL), sent after O(fields) so a person can click them.
    type: dict
    default: {}
  timeout:
    description: Seconds to wait for the webhook.
    type: float
    default: 10
  fail_on_error:
    description: Fail the task when the event was not delivered.
    type: bool
    default: false
notes:
  - This is an action plugin; the module file holds only its documentation.
seealso:
  - module: platform_eng.incident_response.incident_notify
"""

EXAMPLES = r"""
- name: Announce the start of a deploy in the deployments channel
  platform_eng.incident_response.webhook_notify:
    url: "{{ incident_response_webhook_url }}"
    event: deploy_started
    text: Deploy of v1.2.3 to production started by alice, change CHG-1234
    fields: {version: v1.2.3, environment: production}
"""

RETURN = r"""
delivered:
  description: Whether the webhook accepted the event (HTTP 200, 201, 202 or 204).
  returned: always
  type: bool
  sample: true
status:
  description: The HTTP status the webhook answered with, or null when it could not be reached.
  returned: when not in check mode
  type: int
  sample: 200
event:
  description: The event name.
  returned: always
  type: str
  sample: deploy_started
"""
