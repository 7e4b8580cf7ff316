# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: prometheus_alert_rules
short_description: The runbook's alerts as a Prometheus rule file
version_added: 0.2.0
description:
  - Returns the text of a Prometheus rule file (C(groups:)) with the collection's alerts, named as in the runbook -
    C(<service>_high_error_rate) (5xx ratio above 5 % over 5 minutes), C(<service>_high_latency) (P95 from the
    duration histogram above 500 ms), C(<service>_service_down) (the scrape fails), C(<service>_memory_near_limit)
    (resident memory above 90 % of the exported limit), and the SRE workbook's multi-window, multi-burn-rate alerts
    on the SLA, C(<service>_error_budget_fast_burn) (1 h / 5 min at 14.4x or 6 h / 30 min at 6x, pages) and
    C(<service>_error_budget_slow_burn) (1 d / 2 h at 3x or 3 d / 6 h at 1x, a ticket), with the recording rules
    they read.
  - Every alert carries the labels C(severity) (P1 to P4, from the runbook's severity table) and C(service), and
    the annotations C(summary), C(description), C(runbook_url) (the runbook section) and C(dashboards).
  - The input overrides the parameters; the keyword arguments carry the inventory's runbook values. Production
    values (the runbook's minutes) are the defaults; the lab passes seconds.
  - An unknown parameter, a malformed duration or matcher, or a window that can never fire fails the task with what
    is wrong; C(promtool check rules) then checks the result on the monitoring host.
author:
  - Platform Engineering Team (@platform-eng)
options:
  _input:
    description:
      - >-
        Parameter overrides, for example C(error_rate_window=30s) and C(error_rate_for=10s) in the lab. Keys are C(service),
        C(selector), C(requests_metric), C(code_label), C(duration_metric), C(memory_used_metric),
        C(memory_limit_metric), C(error_rate_percent), C(error_rate_window), C(error_rate_for), C(latency_p95_ms),
        C(latency_window), C(latency_for), C(down_for), C(memory_percent), C(memory_for), C(slo_target_percent),
        C(slo_page_windows), C(slo_ticket_windows) (lists of C({long, short, burn_rate})), C(slo_page_for),
        C(slo_ticket_for), C(evaluation_interval), C(severities) (alert key to P1..P4), C(runbook_url),
        C(dashboards).
    type: dict
    required: true
  service:
    description: The service name, the alerts' prefix (C(incident_response_service_name)).
    type: str
  thresholds:
    description:
      - The runbook's thresholds (C(incident_response_thresholds)) - C(error_rate_percent),
        C(error_rate_window_minutes) (also the latency window) and C(latency_p95_ms).
    type: dict
  slo_target_percent:
    description: The SLA (C(incident_response_sla_target_percent)), 99.9.
    type: float
  selector:
    description: PromQL label matchers that select the service's series (C(incident_response_prometheus_selector)).
    type: str
  runbook_url:
    description: Where the runbook is published; each alert links its section.
    type: str
  dashboards:
    description: Dashboard name to URL (C(incident_response_dashboards)).
    type: dict
  extra_groups:
    description:
      - The site's own rule groups, appended to the file as given. Only C(promtool check rules) judges them, so a
        broken one fails the install on the monitoring host and never replaces a good file.
    type: list
    elements: dict
"""

EXAMPLES = r"""
- name: Install the alert rules, checked by promtool before they replace the live file
  ansible.builtin.copy:
    content: >-
      {{ {'error_rate_window': '30s', 'error_rate_for': '10s'}
         | platform_eng.incident_response.prometheus_alert_rules(thresholds=incident_response_thresholds,
                                                                 dashboards=incident_response_dashboards) }}
    dest: /etc/prometheus/rules/incident-response.rules.yml
    mode: "0644"
    validate: promtool check rules %s
"""

RETURN = r"""
_value:
  description: The rule file, as YAML text.
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.platform_eng.incident_response.plugins.module_utils._alert_rules import (
    parameters,
    rule_groups,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)
from ansible_collections.platform_eng.incident_response.plugins.plugin_utils._yaml_text import dump

HEADER = ("Managed by platform_eng.incident_response (role monitoring): changes here are overwritten.\n"
          "Generated from the collection's alert catalogue; see the runbook section in each runbook_url.")


def runbook_parameters(thresholds=None, **given):
    """The inventory's runbook values as rule parameters (None: not given, the default stays)."""
    values = {key: value for key, value in given.items() if value not in (None, "", {})}
    thresholds = thresholds or {}
    if thresholds.get("error_rate_percent") is not None:
        values["error_rate_percent"] = thresholds["error_rate_percent"]
    if thresholds.get("latency_p95_ms") is not None:
        values["latency_p95_ms"] = thresholds["latency_p95_ms"]
    if thresholds.get("error_rate_window_minutes") is not None:
        minutes = int(thresholds["error_rate_window_minutes"])
        values["error_rate_window"] = values["latency_window"] = f"{minutes}m"
    return values


def prometheus_alert_rules(overrides, service=None, thresholds=None, slo_target_percent=None, selector=None,
                           runbook_url=None, dashboards=None, extra_groups=None):
    try:
        params = parameters(overrides, **runbook_parameters(
            thresholds, service=service, slo_target_percent=slo_target_percent, selector=selector,
            runbook_url=runbook_url, dashboards=dashboards))
        rules = rule_groups(params)
    except IncidentResponseError as exc:
        raise AnsibleFilterError(f"prometheus_alert_rules: {exc}") from None
    if not isinstance(extra_groups or [], list) or not all(isinstance(g, dict) for g in extra_groups or []):
        raise AnsibleFilterError("prometheus_alert_rules: extra_groups must be a list of rule groups (dictionaries)")
    rules["groups"] += list(extra_groups or [])
    return dump(rules, HEADER)


class FilterModule:
    def filters(self):
        return {"prometheus_alert_rules": prometheus_alert_rules}
