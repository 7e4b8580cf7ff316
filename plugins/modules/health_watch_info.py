#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: health_watch_info
short_description: Watch services' error rate, P95 latency and health for a window; stop at the first sustained breach
version_added: 0.1.0
description:
  - The runbook's "monitor for 15 minutes" after a deploy. Every O(interval) seconds, reads every target's Prometheus
    C(/metrics) and health endpoint at once, and computes the 5xx ratio and the P95 latency from the counter and
    histogram increase since the previous read.
  - With O(prometheus_url), each sample asks Prometheus for the last O(prometheus_window) instead of comparing two
    reads, so the first sample is judged at once. While Prometheus does not answer, the watch reads C(/metrics)
    itself (RV(prometheus_fallback) says why), so a lost Prometheus never makes a bad release look healthy.
  - A target that is critical in O(breach_limit) samples in a row ends the watch at once with RV(breached=true), so a
    rollback can start within about O(breach_limit) times O(interval) seconds of the bad release going live.
  - The watch never outlives its run by more than one interval. Before each sample it checks that the controller's
    connection is still open and, with O(lock_path), that its run still holds the deploy lock; otherwise it stops
    with RV(interrupted) set and status V(unknown), which a deploy never counts as healthy.
  - Read-only. The caller decides what a breach means (the deploy playbook rolls back); O(fail_on=breach) makes the
    task fail instead.
author:
  - Platform Engineering Team (@platform-eng)
requirements:
  - prometheus_client
extends_documentation_fragment:
  - platform_eng.incident_response.attributes
  - platform_eng.incident_response.attributes.info_module
  - platform_eng.incident_response.attributes.idempotent_not_modify_state
options:
  targets:
    description: The services to watch.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Name used in findings and samples, for example the host name.
        type: str
        required: true
      metrics_url:
        description: The Prometheus text endpoint, for example V(http://10.77.2.11:8080/metrics).
        type: str
        required: true
      health_url:
        description: An endpoint that must answer HTTP 200; a failure is critical.
        type: str
      prometheus_instance:
        description: The target's C(instance) label in Prometheus; defaults to the host and port of O(targets[].metrics_url).
        type: str
  duration:
    description: How long to watch, in seconds. The runbook says 15 minutes.
    type: float
    default: 900
  interval:
    description: Seconds between samples.
    type: float
    default: 10
  breach_limit:
    description: Critical samples in a row, on one target, that count as a breach.
    type: int
    default: 2
  error_rate_critical_percent:
    description: 5xx share of requests above which a sample is critical (runbook, 5 %).
    type: float
    default: 5
  latency_p95_critical_ms:
    description: P95 latency above which a sample is critical (runbook, 500 ms).
    type: float
    default: 500
  min_requests:
    description: Fewer requests than this in an interval make the rates unknown rather than judged.
    type: int
    default: 1
  timeout:
    description: Seconds to wait for each read.
    type: float
    default: 5
  validate_certs:
    description: Verify TLS certificates of C(https://) targets.
    type: bool
    default: true
  ca_path:
    description: CA bundle for C(https://) targets.
    type: path
  prometheus_url:
    description: A Prometheus server that scrapes the targets, for example V(http://10.77.1.10:9090).
    type: str
  prometheus_window:
    description:
      - The PromQL range of each sample's queries. Defaults to O(interval) in whole seconds; it must hold at least two
        of Prometheus's scrapes.
    type: str
  prometheus_selector:
    description: Label matchers every query adds, for example V(job="incident-response",path!="/metrics").
    type: str
    default: ""
  lock_path:
    description:
      - The deploy lock on the host running the watch. With O(run_id), the watch stops early (RV(interrupted)) when
        this run no longer holds it. The lock is only read.
    type: path
  run_id:
    description: The run that must hold O(lock_path) for the watch to go on.
    type: str
  fail_on:
    description: V(breach) fails the task when the watch ends in a breach.
    type: str
    choices: [none, breach]
    default: none
seealso:
  - module: platform_eng.incident_response.http_health_info
"""

EXAMPLES = r"""
- name: Describe what each app host exposes
  ansible.builtin.set_fact:
    watch_target:
      name: "{{ inventory_hostname }}"
      metrics_url: "http://{{ ansible_host }}:8080/metrics"
      health_url: "http://{{ ansible_host }}:8080/health"

- name: Watch every app host for the runbook's 15 minutes, from the bastion
  platform_eng.incident_response.health_watch_info:
    targets: "{{ ansible_play_hosts | map('extract', hostvars, 'watch_target') | list }}"
    duration: 900
    interval: 10
    breach_limit: 2
  delegate_to: bastion
  run_once: true
  register: watch

- name: Roll back when it breached
  ansible.builtin.debug:
    msg: "{{ watch.summary }}"
  when: watch.breached
"""

RETURN = r"""
breached:
  description: Whether a target stayed critical for O(breach_limit) samples in a row.
  returned: always
  type: bool
  sample: true
breached_targets:
  description: The targets that breached.
  returned: always
  type: list
  elements: str
  sample: [app1, app2]
elapsed_s:
  description: Seconds the watch ran (it stops at the first breach).
  returned: always
  type: float
  sample: 20.1
interrupted:
  description: Why the watch stopped early without a verdict (its run is gone, or lost the deploy lock), or null.
  returned: always
  type: str
  sample: "the controller that started this watch is gone (its connection closed)"
prometheus_fallback:
  description: Why Prometheus could not be asked (the watch then read C(/metrics) itself), or null.
  returned: always
  type: str
  sample: "Prometheus at http://10.77.1.10:9090 did not answer the query: ConnectionRefusedError: [Errno 111] Connection refused"
summary:
  description: One line for people.
  returned: always
  type: str
  sample: "BREACH after 20.1 s (2 critical samples in a row on app1): app1 error_rate_5xx 31.2%"
samples:
  description: Per sample, seconds since the start and each target's status and measurements.
  returned: always
  type: list
  elements: dict
  sample: [{t: 10.0, targets: {app1: {status: critical, error_rate_5xx: 31.2, latency_p95: 812.5, health: null}}}]
status:
  description: Worst status of the last sample; V(warn) when a critical sample did not repeat.
  returned: always
  type: str
  sample: critical
counts:
  description: Findings of the last sample per status.
  returned: always
  type: dict
  sample: {ok: 2, unknown: 0, warn: 0, critical: 2}
findings:
  description: Findings of the last sample, in the collection's shared shape.
  returned: always
  type: list
  elements: dict
  sample:
    - name: error_rate_5xx
      target: app1
      status: critical
      value: 31.2
      threshold: {warn: null, critical: 5.0}
      unit: "%"
      evidence: "39 of 125 requests were 5xx in 10 s"
      remediation: "Check for recent deployments (potential bad release); if recent deployment, rollback immediately."
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _prometheus_window
from ansible_collections.platform_eng.incident_response.plugins.module_utils._deploy_lock import read_lock
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._http_health import Thresholds
from ansible_collections.platform_eng.incident_response.plugins.module_utils._prerequisites import require
from ansible_collections.platform_eng.incident_response.plugins.module_utils._prometheus_query import PrometheusSource
from ansible_collections.platform_eng.incident_response.plugins.module_utils._prometheus_window import MetricsSettings
from ansible_collections.platform_eng.incident_response.plugins.module_utils._watch import (
    Target,
    WatchSettings,
    caller_gone,
    watch,
)


def _heartbeat(lock_path, run_id):
    """Stop the watch when its run is gone or no longer holds the deploy lock (read only: nothing is written)."""
    def beat():
        gone = caller_gone()
        if gone or not (lock_path and run_id):
            return gone
        try:
            lock = read_lock(lock_path)
        except IncidentResponseError as exc:
            return str(exc)
        if lock is None or lock.get("run_id") != run_id:
            holder = lock.get("run_id") if lock else "nobody"
            return f"this run ({run_id}) no longer holds the deploy lock (held by {holder})"
        return None
    return beat


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            targets=dict(type="list", elements="dict", required=True, options=dict(
                name=dict(type="str", required=True),
                metrics_url=dict(type="str", required=True),
                health_url=dict(type="str"),
                prometheus_instance=dict(type="str"),
            )),
            duration=dict(type="float", default=900),
            interval=dict(type="float", default=10),
            breach_limit=dict(type="int", default=2),
            error_rate_critical_percent=dict(type="float", default=5),
            latency_p95_critical_ms=dict(type="float", default=500),
            min_requests=dict(type="int", default=1),
            timeout=dict(type="float", default=5),
            validate_certs=dict(type="bool", default=True),
            ca_path=dict(type="path"),
            fail_on=dict(type="str", choices=["none", "breach"], default="none"),
            lock_path=dict(type="path"),
            run_id=dict(type="str"),
            prometheus_url=dict(type="str"),
            prometheus_window=dict(type="str"),
            prometheus_selector=dict(type="str", default=""),
        ),
        supports_check_mode=True,
    )
    require(module, [("prometheus_client", _prometheus_window.PROMETHEUS_IMPORT_ERROR)])
    p = module.params
    try:
        prometheus = None
        if p["prometheus_url"]:
            prometheus = PrometheusSource(p["prometheus_url"], p["prometheus_window"] or f"{max(1, round(p['interval']))}s",
                                          p["prometheus_selector"], timeout=p["timeout"])
        settings = WatchSettings(
            duration=p["duration"], interval=p["interval"], breach_limit=p["breach_limit"], timeout=p["timeout"],
            min_requests=p["min_requests"],
            thresholds=Thresholds(error_rate_critical_percent=p["error_rate_critical_percent"],
                                  latency_p95_critical_ms=p["latency_p95_critical_ms"]),
            metrics=MetricsSettings(),
            prometheus=prometheus,
        )
        targets = [Target(t["name"], t["metrics_url"], t.get("health_url"), t.get("prometheus_instance"))
                   for t in p["targets"]]
        result = watch(targets, settings, p["validate_certs"], p["ca_path"],
                       heartbeat=_heartbeat(p["lock_path"], p["run_id"]))
    except IncidentResponseError as exc:
        module.fail_json(msg=f"Watch failed to start: {exc}")
    if p["fail_on"] == "breach" and result["breached"]:
        module.fail_json(msg=result["summary"], changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
