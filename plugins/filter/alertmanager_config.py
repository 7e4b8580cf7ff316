# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: alertmanager_config
short_description: Alertmanager routing by the runbook's severity table, with the secrets kept out of the file
version_added: 0.2.0
description:
  - Builds Alertmanager's configuration from the same routing table as the incident pages
    (C(incident_response_paging_routes)) - one receiver per severity with exactly its channels (P1 PagerDuty Events
    v2 and Slack, P2 e-mail and Slack, P3 Slack, P4 a ticket webhook, by default), and every alert of the service
    also to the Event-Driven Ansible rulebook's webhook, one notification per alert.
  - Grouping by alert name for people; inhibitions from the alert catalogue (a firing service-down silences the
    error-rate, latency and memory alerts of the same instance; a fast budget burn silences the slow one).
  - Returns a dictionary - C(config), the configuration as YAML text, which holds no secret, and C(secret_files),
    the files it refers to (the PagerDuty routing key, the Slack webhook URL, the SMTP password, the bearer tokens
    of the ticket and rulebook webhooks). Write those with C(no_log).
author:
  - Platform Engineering Team (@platform-eng)
options:
  _input:
    description: The endpoints and credentials, C(incident_response_paging).
    type: dict
    required: true
  routes:
    description: Severity to channels, C(incident_response_paging_routes); the runbook's table when empty.
    type: dict
  email_to:
    description: Who the e-mail channel writes to (C(incident_response_escalation.secondary)).
    type: str
  eda_url:
    description: The rulebook's webhook, for example V(http://10.77.1.1:5050/alerts); empty routes nothing there.
    type: str
  eda_token:
    description: The bearer token the rulebook's webhook expects.
    type: str
  secrets_dir:
    description: Absolute directory, on the Alertmanager host, of the secret files.
    type: str
    required: true
  timing:
    description:
      - Durations - C(group_wait), C(group_interval), C(repeat_interval) for people; C(eda_group_wait),
        C(eda_group_interval), C(eda_repeat_interval) for the rulebook; C(resolve_timeout).
    type: dict
  service:
    description: The service name (the alerts' prefix and C(service) label).
    type: str
"""

EXAMPLES = r"""
- name: Work out Alertmanager's configuration and its secret files
  ansible.builtin.set_fact:
    alertmanager: >-
      {{ incident_response_paging | platform_eng.incident_response.alertmanager_config(
           routes=incident_response_paging_routes, email_to=incident_response_escalation.secondary,
           eda_url='http://10.77.1.1:5050/alerts', eda_token=vault_eda_token, secrets_dir='/etc/alertmanager/secrets') }}
  no_log: true
"""

RETURN = r"""
_value:
  description: C(config) (YAML text) and C(secret_files) (a list of C({path, content})).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.platform_eng.incident_response.plugins.module_utils._alert_routing import (
    alertmanager_config as build,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)
from ansible_collections.platform_eng.incident_response.plugins.plugin_utils._yaml_text import dump

HEADER = ("Managed by platform_eng.incident_response (role monitoring): changes here are overwritten.\n"
          "Routing by severity from incident_response_paging_routes; secrets live in the files named here.")


def alertmanager_config(paging, secrets_dir, routes=None, email_to="", eda_url="", eda_token="", timing=None,
                        service=None):
    try:
        config, secrets = build(routes, paging or {}, email_to or "", eda_url or "", secrets_dir,
                                eda_token=eda_token or "", timing=timing,
                                **({"service": service} if service else {}))
    except IncidentResponseError as exc:
        raise AnsibleFilterError(f"alertmanager_config: {exc}") from None
    return {"config": dump(config, HEADER),
            "secret_files": [{"path": s.path, "content": s.content} for s in secrets]}


class FilterModule:
    def filters(self):
        return {"alertmanager_config": alertmanager_config}
