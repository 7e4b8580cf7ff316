#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: alert_event
short_description: Validate the Alertmanager alert an Event-Driven Ansible rulebook passed, before anything uses it
version_added: 0.2.0
description:
  - Reads the extra var C(ansible_eda) exactly as ansible-rulebook passed it (parsed, never rendered as a template)
    and returns in RV(alert) only the values the automation needs, each checked - the alert name (one the collection
    ships, see P(platform_eng.incident_response.prometheus_alert_rules#filter)), the C(service) label, C(severity)
    P1..P4, C(status) firing or resolved, C(instance) as C(host:port) of an app host of the inventory (for
    per-instance alerts), the 16-hex-digit C(fingerprint) and RFC 3339 times.
  - The whole alert is refused, with every reason, when one of those breaks its rule or when any label carries shell
    metacharacters, quotes, braces or control characters. Annotations and other labels are never used;
    RV(alert.ignored) names them.
  - Takes one alert per event, as the rulebook's C(eda.builtin.event_splitter) makes them; a webhook payload with
    several alerts is refused with that hint.
  - Run it after M(platform_eng.incident_response.input_guard), which refuses template markers anywhere in the extra
    vars, C(ansible_eda) included.
author:
  - Platform Engineering Team (@platform-eng)
extends_documentation_fragment:
  - platform_eng.incident_response.attributes
  - platform_eng.incident_response.attributes.info_module
  - platform_eng.incident_response.attributes.idempotent_not_modify_state
  - platform_eng.incident_response.attributes.controller_decision
options:
  service:
    description: The service whose alerts are accepted (C(incident_response_service_name)).
    type: str
    default: incident-response
  app_hosts:
    description: Inventory name to address (C(ansible_host), empty for the name itself) of every app host.
    type: dict
    required: true
  app_port:
    description: The service's port; an alert's instance must be C(<app host>:<port>).
    type: int
    required: true
  routes:
    description: The severity routing (C(incident_response_paging_routes)); RV(alert.incident_routes) keeps its chat.
    type: dict
seealso:
  - module: platform_eng.incident_response.alert_decision
  - module: platform_eng.incident_response.input_guard
"""

EXAMPLES = r"""
- name: Validate the alert itself, never rendering it
  platform_eng.incident_response.alert_event:
    service: "{{ incident_response_service_name }}"
    app_hosts: "{{ dict(groups['app_servers'] | zip(groups['app_servers'] | map('extract', hostvars)
                   | map(attribute='ansible_host', default=''))) }}"
    app_port: "{{ incident_response_app_port }}"
    routes: "{{ incident_response_paging_routes }}"
  register: alert_validated
"""

RETURN = r"""
alert:
  description: The values the automation may use; nothing else of the alert.
  returned: success
  type: dict
  contains:
    name:
      description: The alert's name, one the collection ships.
      type: str
    key:
      description: The name without the service's prefix.
      type: str
    title:
      description: The catalogue's title for it (never the alert's own annotations).
      type: str
    status:
      description: V(firing) or V(resolved).
      type: str
    severity:
      description: P1 to P4.
      type: str
    instance:
      description: The C(instance) label, C(host:port); empty for a service-wide alert.
      type: str
    host:
      description: The inventory's app host at that instance; empty for a service-wide alert.
      type: str
    fingerprint:
      description: Alertmanager's hash of the alert's labels.
      type: str
    starts_at:
      description: When it started firing (RFC 3339).
      type: str
    ends_at:
      description: When it ended, for a resolved alert; empty otherwise.
      type: str
    diagnose:
      description: The diagnose.yml alert it runs, or empty.
      type: str
    where:
      description: The host and instance (or the service) in words.
      type: str
    ignored:
      description: The labels (and V(annotations)) that were left out, never used.
      type: list
      elements: str
    incident_routes:
      description: The routing table reduced to chat, for the incident's own messages (Alertmanager pages).
      type: dict
  sample:
    name: incident-response_high_error_rate
    key: high_error_rate
    title: High Error Rate
    status: firing
    severity: P1
    instance: 10.77.2.11:8080
    host: app1
    fingerprint: 3c8f4b3a0d2e9f17
    starts_at: "2026-11-29T14:23:00Z"
    ends_at: ""
    diagnose: high_error_rate
    where: app1 (10.77.2.11:8080)
    ignored: [job, annotations]
    incident_routes: {P1: [slack], P2: [slack], P3: [slack], P4: []}
msg:
  description: One line, what the alert is and what of it was left unused; or every reason it was refused.
  returned: always
  type: str
  sample: "incident-response_high_error_rate firing (P1) on app1 (10.77.2.11:8080); not used: job, annotations"
"""
