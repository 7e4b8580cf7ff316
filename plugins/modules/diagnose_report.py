#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: diagnose_report
short_description: Correlate a diagnosis's check results and write the verdict report (JSON and Markdown)
version_added: 0.1.0
description:
  - Takes the results of the inspection modules a diagnosis ran (as registered, including failures), gathers their
    findings, and adds the runbook's correlations, such as a deploy within O(deploy_window_minutes) plus a high error
    rate, which recommends rolling back with C(ansible-playbook playbooks/rollback.yml); database CPU above
    O(db_cpu_percent), which recommends scaling up; and a connection pool near its limit.
  - Builds a report with the versioned schema C(incident_response.diagnose/v1) (alert, generated_at, verdict, findings
    by severity with evidence and the runbook's resolution, recommendations, hosts, durations) and its Markdown
    rendering, and writes both to O(reports_dir) when it is set.
  - A check that failed, was skipped, did not finish, or ran against an unreachable host becomes an V(unknown)
    finding whose evidence starts with C(could not check <host>) and gives the reason, so one broken check never
    hides the others.
  - Each check in O(planned) that has no entry in O(results) (its host was dropped from the play as unreachable or
    failed) becomes such a finding too, so a check never disappears from the report.
  - Causes are ranked; a dead dependency (PostgreSQL or Redis refusing connections, seen from the bastion or the app
    hosts, or a cache ElastiCache reports as not available) comes before a recent deploy, and while the database is
    down no rollback is recommended. A stuck SQS queue (a backlog, messages in its dead-letter queue) comes after the
    rollback, with the redrive command; a cache near its node's memory recommends scaling it up.
  - An ElastiCache result's C(elasticache_memory) finding, which the module cannot judge without Redis C(used_memory),
    is judged here against the C(memory.used_bytes) of the C(redis) result, with the module's thresholds.
  - Runs on the controller (C(delegate_to=localhost)).
author:
  - Platform Engineering Team (@platform-eng)
extends_documentation_fragment:
  - platform_eng.incident_response.attributes
attributes:
  check_mode:
    support: full
    details:
      - In check mode the report is built and returned but not written. The diagnose role runs this task with
        C(check_mode=false), so C(--check) still leaves a report behind; that file on the controller is the only write.
  diff_mode:
    support: none
  idempotent:
    support: none
    details:
      - Every run writes a new, time-stamped report.
options:
  alert:
    description: The alert diagnosed.
    type: str
    required: true
    choices: [high_error_rate, high_latency, service_wont_start, db_connection, memory_leak, all]
  results:
    description:
      - One entry per check run. C(result) is the module's registered result (or the C(async_status) result), as is.
      - C(source) V(release_history) results are read for correlation, not as findings.
    type: list
    elements: dict
    default: []
    suboptions:
      source:
        description: Which check, for example V(http), V(postgres), V(service_start), V(release_history), V(rds).
        type: str
        required: true
      host:
        description: The host the check ran on.
        type: str
      result:
        description: The registered result.
        type: dict
      seconds:
        description: How long the check took, for the report's C(durations.checks).
        type: float
  planned:
    description:
      - The checks the diagnosis planned, as pairs of a host and the sources planned on it, for example
        C([[app1, [service_start, release_history]], [bastion, [http]]]).
      - A planned check without a result is reported as C(check_missing), status V(unknown).
    type: list
    elements: list
    default: []
  deploy_window_minutes:
    description: A release that went live this recently counts as a recent deploy.
    type: float
    default: 30
  db_cpu_percent:
    description: Database CPU above this recommends scaling up (runbook, 80 %).
    type: float
    default: 80
  durations:
    description: Seconds per check, reported as they are.
    type: dict
    default: {}
  started_epoch:
    description: When the diagnosis started (UNIX time), for the report's C(durations.total_seconds).
    type: float
  reports_dir:
    description: Write C(diagnose-<alert>-<time>.json) and C(.md) here; not set means do not write.
    type: path
  dashboards:
    description:
      - Dashboard name to URL, the runbook's Key Dashboards (C(incident_response_dashboards)). They are in the report's
        C(dashboards), on a line under the headline of the Markdown (on its last line for an all-clear) and in the
        console lines.
    type: dict
    default: {}
  fail_on:
    description: RV(fails) is true when the verdict reaches this status. The module itself never fails on a verdict.
    type: str
    choices: [none, warn, critical]
    default: none
notes:
  - The report's schema only changes together with its C(schema) value.
seealso:
  - module: platform_eng.incident_response.http_health_info
  - module: platform_eng.incident_response.release_history_info
"""

EXAMPLES = r"""
- name: Write the report for the checks registered above
  platform_eng.incident_response.diagnose_report:
    alert: high_error_rate
    results:
      - source: http
        host: bastion
        result: "{{ http_check }}"
      - source: release_history
        host: app2
        result: "{{ app2_releases }}"
    planned: [[bastion, [http]], [app2, [release_history]]]
    deploy_window_minutes: 30
    reports_dir: "{{ playbook_dir }}/../reports"
  delegate_to: localhost
  run_once: true
  check_mode: false
  register: diagnosis
"""

RETURN = r"""
report:
  description: The report, schema C(incident_response.diagnose/v1).
  returned: always
  type: dict
  sample:
    schema: incident_response.diagnose/v1
    alert: high_error_rate
    generated_at: "2026-11-27T11:40:00Z"
    verdict:
      status: critical
      all_clear: false
      headline: "high_error_rate: CRITICAL. 2 critical (9 ok) on 4 host(s)."
      counts: {critical: 2, warn: 0, unknown: 0, ok: 9}
    findings: {critical: [{severity: critical, check: metrics_5xx_ratio, source: http, target: app2, value: 31.2,
                           threshold: 5, unit: "%", evidence: "...", resolution: "Check for recent deployments ..."}],
               warn: [], unknown: [], ok: []}
    recommendations: [{id: rollback, severity: critical, summary: "Roll back: v1.2.4 on app2 3 min ago ...",
                       command: "ansible-playbook playbooks/rollback.yml", runbook: "...", evidence: "..."}]
    hosts: {app1: [release_history, service_start], bastion: [http, postgres]}
    durations: {total_seconds: 12.4}
    dashboards: {Grafana: "https://grafana.example.com/d/incident-response"}
markdown:
  description: The report for people.
  returned: always
  type: str
  sample: "# Diagnosis: high_error_rate: CRITICAL\n..."
summary:
  description: A few console lines, the verdict first.
  returned: always
  type: list
  elements: str
  sample: ["high_error_rate: CRITICAL. 2 critical (9 ok) on 4 host(s).", "DO: Roll back ...: ansible-playbook playbooks/rollback.yml"]
status:
  description: The verdict, V(ok), V(warn), V(critical) or V(unknown).
  returned: always
  type: str
  sample: critical
fails:
  description: Whether the verdict reaches O(fail_on).
  returned: always
  type: bool
  sample: false
paths:
  description: The files written (none in check mode or without O(reports_dir)).
  returned: always
  type: list
  elements: str
  sample: [/work/main/reports/diagnose-high_error_rate-2026-11-27T114000Z.json]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _diagnose, _report
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            alert=dict(type="str", required=True, choices=list(_diagnose.ALERT_CHOICES)),
            results=dict(type="list", elements="dict", default=[], options=dict(
                source=dict(type="str", required=True),
                host=dict(type="str"),
                result=dict(type="dict"),
                seconds=dict(type="float"),
            )),
            planned=dict(type="list", elements="list", default=[]),
            deploy_window_minutes=dict(type="float", default=30),
            db_cpu_percent=dict(type="float", default=80),
            durations=dict(type="dict", default={}),
            started_epoch=dict(type="float"),
            reports_dir=dict(type="path"),
            dashboards=dict(type="dict", default={}),
            fail_on=dict(type="str", choices=["none", "warn", "critical"], default="none"),
        ),
        supports_check_mode=True,
    )
    try:
        result = _diagnose.diagnose(module.params)
        paths = []
        if module.params["reports_dir"] and not module.check_mode:
            paths = _diagnose.write(result["report"], result["markdown"], module.params["reports_dir"])
    except IncidentResponseError as exc:
        module.fail_json(msg=str(exc))
    result["summary"] = _report.console_lines(result["report"], paths)
    module.exit_json(changed=bool(paths), paths=paths, **result)


if __name__ == "__main__":
    main()
