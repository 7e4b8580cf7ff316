#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: k8s_workload_health_info
short_description: Judge the pods of a Kubernetes workload - readiness, restarts, CrashLoopBackOff, OOMKilled, memory, logs
version_added: 0.1.0
description:
  - Lists the pods in O(namespace) that match O(label_selectors) and reports, per pod, its phase, readiness, restarts,
    containers in C(CrashLoopBackOff), containers the kernel killed for running out of memory (C(OOMKilled), the
    runbook's memory-leak signal) and, when the metrics API (C(metrics.k8s.io), served by metrics-server) is available,
    memory use against each container's limit, as C(kubectl top pods) shows it.
  - With O(logs), reads the recent log of B(every) matching pod concurrently (M(kubernetes.core.k8s_log) reads only
    the first pod) and counts the lines that match O(logs.pattern), with a few sample lines as evidence.
  - Every check becomes a finding (name, target C(namespace/pod), status V(ok), V(warn), V(critical) or V(unknown),
    value, threshold, unit, evidence, remediation). The remediation quotes the runbook.
  - An API server that cannot be reached, or that refuses the credentials, is one V(critical) finding with the error as
    evidence, not a module failure. A cluster without the metrics API gives one V(unknown) finding instead of memory
    findings. Only O(fail_on) turns a verdict into a task failure.
  - The label selectors are applied by the API server and again by the module, so the result is also right against
    API emulators that ignore C(labelSelector).
author:
  - Platform Engineering Team (@platform-eng)
extends_documentation_fragment:
  - platform_eng.incident_response.attributes
  - platform_eng.incident_response.attributes.info_module
  - platform_eng.incident_response.attributes.idempotent_not_modify_state
  - platform_eng.incident_response.k8s
  - platform_eng.incident_response.fail_on
options:
  namespace:
    description:
      - The namespace whose pods are checked.
    type: str
    required: true
  label_selectors:
    description:
      - Label selectors the pods must all match, in C(kubectl -l) syntax, for example V(app=incident-response) or
        V(tier in (web,api)). Several entries are combined with AND.
      - An empty list checks every pod in the namespace.
    type: list
    elements: str
    default: []
  restarts_warn:
    description:
      - Warn when a pod's containers together restarted more than this many times.
    type: int
    default: 0
  restarts_critical:
    description:
      - Critical when a pod's containers together restarted more than this many times.
    type: int
    default: 5
  memory_warn_percent:
    description:
      - Warn when a container uses more than this percentage of its memory limit.
    type: float
    default: 80
  memory_critical_percent:
    description:
      - Critical when a container uses more than this percentage of its memory limit; the kernel kills it at 100.
    type: float
    default: 90
  metrics:
    description:
      - Whether to read memory use from the metrics API. When the API is not served, the result has one V(unknown)
        finding; set V(false) to skip the check on clusters without metrics-server.
    type: bool
    default: true
  logs:
    description:
      - Read the recent log of every matching pod and count a pattern in it. Leave out to read no logs.
    type: dict
    suboptions:
      pattern:
        description:
          - Count the log lines that contain this text (or match this regular expression, with O(logs.regex)).
          - Without a pattern the module returns the last O(logs.sample_lines) lines of each log and no log finding.
        type: str
      regex:
        description:
          - Treat O(logs.pattern) as a Python regular expression instead of plain text.
        type: bool
        default: false
      ignore_case:
        description:
          - Match O(logs.pattern) regardless of case.
        type: bool
        default: false
      tail_lines:
        description:
          - How many of the latest lines to read from each pod (1 to 10000).
        type: int
        default: 100
      since_seconds:
        description:
          - Read only lines written in the last this many seconds.
        type: int
      container:
        description:
          - The container whose log to read. Defaults to the pod's C(kubectl.kubernetes.io/default-container)
            annotation, else its first container, as C(kubectl logs) does.
        type: str
      previous:
        description:
          - Read the log of the previous (crashed) instance of the container, as C(kubectl logs --previous).
        type: bool
        default: false
      sample_lines:
        description:
          - How many matching lines (the latest ones) to return per pod as evidence.
        type: int
        default: 5
      warn_matches:
        description:
          - Warn when a pod's log has more than this many matching lines.
        type: int
        default: 0
      critical_matches:
        description:
          - Critical when a pod's log has more than this many matching lines.
        type: int
  timeout:
    description:
      - Timeout of each API request, in seconds.
    type: float
    default: 10
  max_workers:
    description:
      - How many pod logs to read at the same time.
    type: int
    default: 16
notes:
  - Threshold comparisons are strict, as the runbook's "greater than" rules are; a value equal to a threshold passes.
  - Memory use comes from C(metrics.k8s.io/v1beta1) PodMetrics; the fullest container decides a pod's verdict, since it
    is the one the kernel kills first. A container without a memory limit is reported, not judged.
  - A real API server can decline to serve a log (a container that never started); that pod's log finding is
    V(unknown) with the API's message.
seealso:
  - module: kubernetes.core.k8s_info
    description: Read any Kubernetes object.
  - module: kubernetes.core.k8s_log
    description: Read the log of one pod.
  - module: platform_eng.incident_response.http_health_info
    description: Probe the service's own health endpoints.
"""

EXAMPLES = r"""
- name: Check the incident-response pods, and the 5xx errors in their logs
  platform_eng.incident_response.k8s_workload_health_info:
    host: "{{ incident_response_kube_host }}"
    namespace: incident-response
    label_selectors:
      - app=incident-response
    logs:
      pattern: 'status=5\d\d'
      regex: true
      tail_lines: 200
      since_seconds: 300
    fail_on: critical
  register: incident_response__pods

- name: Name the pods that crash-loop or were OOM-killed
  ansible.builtin.debug:
    msg: >-
      CrashLoopBackOff: {{ incident_response__pods.crash_loop_backoff | join(', ') or 'none' }};
      OOMKilled: {{ incident_response__pods.oom_killed | join(', ') or 'none' }}

- name: Check through a kubeconfig context, without metrics-server
  platform_eng.incident_response.k8s_workload_health_info:
    kubeconfig: /var/lib/irlab/kube/kubeconfig
    context: irlab
    namespace: incident-response
    metrics: false
"""

RETURN = r"""
status:
  description: The worst status among the findings.
  returned: always
  type: str
  sample: critical
counts:
  description: How many findings have each status.
  returned: always
  type: dict
  sample: {"ok": 16, "unknown": 0, "warn": 1, "critical": 2}
findings:
  description:
    - One finding per check per pod (C(pod_phase), C(pod_ready), C(pod_restarts), C(crash_loop_backoff),
      C(oom_killed), C(memory_usage), C(log_pattern), and C(container_waiting) for containers stuck before their first
      start), plus C(kube_api) when the API does not answer and C(pods_found) when no pod matches.
  returned: always
  type: list
  elements: dict
  sample:
    - name: crash_loop_backoff
      target: incident-response/incident-response-7c9d6f5b8d-4xk2p
      status: critical
      value: true
      threshold: null
      unit: null
      evidence: "CrashLoopBackOff: incident-response; 7 restart(s); incident-response: back-off 5m0s restarting failed container"
      remediation: "Runbook 'Service Won't Start': read the crashed container's log ..."
namespace:
  description: The namespace checked.
  returned: always
  type: str
  sample: incident-response
label_selectors:
  description: The label selectors applied.
  returned: always
  type: list
  elements: str
  sample: ["app=incident-response"]
api_host:
  description: The API server URL used.
  returned: always
  type: str
  sample: http://10.77.1.1:6443
crash_loop_backoff:
  description: Names of the pods with a container in CrashLoopBackOff.
  returned: always
  type: list
  elements: str
  sample: ["incident-response-7c9d6f5b8d-4xk2p"]
oom_killed:
  description: Names of the pods with a container whose current or last termination was OOMKilled.
  returned: always
  type: list
  elements: str
  sample: ["incident-response-7c9d6f5b8d-9qwtz"]
not_ready:
  description: Names of the pods that are not Ready (completed pods excluded).
  returned: always
  type: list
  elements: str
  sample: ["incident-response-7c9d6f5b8d-4xk2p"]
metrics:
  description: Whether the metrics API answered (V(null) when O(metrics=false)) and why not.
  returned: always
  type: dict
  sample: {"available": true, "error": null}
pods:
  description: One entry per matching pod.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Pod name.
      type: str
      sample: incident-response-7c9d6f5b8d-4xk2p
    namespace:
      description: Pod namespace.
      type: str
      sample: incident-response
    node:
      description: The node the pod runs on.
      type: str
      sample: irlab-node-1
    phase:
      description: The pod phase.
      type: str
      sample: Running
    ready:
      description: Whether the pod's Ready condition is true.
      type: bool
      sample: true
    restarts:
      description: Restarts of all its containers together.
      type: int
      sample: 0
    crash_loop_backoff:
      description: Whether a container is in CrashLoopBackOff.
      type: bool
      sample: false
    oom_killed:
      description: Whether a container's current or last termination was OOMKilled.
      type: bool
      sample: false
    containers:
      description: State of each container (init containers first).
      type: list
      elements: dict
      sample:
        - {name: incident-response, ready: true, restart_count: 0, state: running, reason: null,
           last_termination_reason: null}
    memory:
      description: Memory use against limit per container, and the fullest container's percentage; V(null) without a
        metrics sample.
      type: dict
      sample:
        containers:
          - {container: incident-response, usage_bytes: 188743680, limit_bytes: 536870912, percent_of_limit: 35.2}
        percent_of_limit: 35.2
    logs:
      description: What the log read found; only with O(logs).
      type: dict
      sample: {container: incident-response, pattern: ERROR, lines: 60, matches: 2, error: null,
               sample: ["2026-11-27T10:41:03.668Z ERROR method=GET path=/health status=503 duration_ms=420"]}
elapsed_ms:
  description: Time the whole check took, in milliseconds.
  returned: always
  type: float
  sample: 84.2
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.platform_eng.incident_response.plugins.module_utils._k8s import (
    KUBERNETES_IMPORT_ERROR,
    check_k8s_workload_health,
    connection_argument_spec,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._verdict import (
    fail_on_argument_spec,
    run_check,
)

ARGUMENT_SPEC = dict(
    connection_argument_spec(),
    namespace={"type": "str", "required": True},
    label_selectors={"type": "list", "elements": "str", "default": []},
    restarts_warn={"type": "int", "default": 0},
    restarts_critical={"type": "int", "default": 5},
    memory_warn_percent={"type": "float", "default": 80.0},
    memory_critical_percent={"type": "float", "default": 90.0},
    metrics={"type": "bool", "default": True},
    logs={
        "type": "dict",
        "options": {
            "pattern": {"type": "str"},
            "regex": {"type": "bool", "default": False},
            "ignore_case": {"type": "bool", "default": False},
            "tail_lines": {"type": "int", "default": 100},
            "since_seconds": {"type": "int"},
            "container": {"type": "str"},
            "previous": {"type": "bool", "default": False},
            "sample_lines": {"type": "int", "default": 5},
            "warn_matches": {"type": "int", "default": 0},
            "critical_matches": {"type": "int"},
        },
    },
    timeout={"type": "float", "default": 10.0},
    max_workers={"type": "int", "default": 16},
    **fail_on_argument_spec(),
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_check(module, check_k8s_workload_health, lambda result: f"Workload health in namespace {result['namespace']}",
              libraries=[("kubernetes", KUBERNETES_IMPORT_ERROR)])


if __name__ == "__main__":
    main()
