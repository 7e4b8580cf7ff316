#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: http_health_info
short_description: Probe many HTTP health endpoints at once and judge them against the runbook
version_added: 0.1.0
description:
  - Sends O(samples) GET requests to each of O(endpoints), all endpoints concurrently (at most O(max_workers) at a
    time), and reports status codes, latency percentiles, the error rate and the results of JSON-body assertions.
  - Optionally scrapes each service's Prometheus C(/metrics) twice, O(metrics_window) seconds apart, and computes the
    request count, the 5xx ratio and the P95 latency from the difference between the two scrapes.
  - With O(prometheus_url), asks Prometheus for the same numbers over O(prometheus_window) instead (C(increase) of the
    request counter and C(histogram_quantile(0.95, ...)) over the bucket rates, by C(instance)), so nothing waits
    for a window; the findings are the same. The scrape stays the way when no Prometheus is configured.
  - Every check becomes a finding (name, target, status V(ok), V(warn), V(critical) or V(unknown), value, threshold,
    unit, evidence, remediation) judged against the runbook's thresholds, 5xx or error rate above 5 % and P95 above
    500 ms. The remediation quotes the runbook.
  - An endpoint that cannot be reached is a V(critical) finding with the error as evidence, not a module failure.
    Only O(fail_on) turns a verdict into a task failure.
  - Uses only the Python standard library for HTTP (one keep-alive connection per endpoint). Redirects are not followed
    and proxies are not used, because a health check should see the endpoint itself.
author:
  - Platform Engineering Team (@platform-eng)
requirements:
  - prometheus_client, only when metrics are scraped (O(metrics_window) above 0 or an endpoint with O(endpoints[].metrics_url)).
extends_documentation_fragment:
  - platform_eng.incident_response.attributes
  - platform_eng.incident_response.attributes.info_module
  - platform_eng.incident_response.attributes.idempotent_not_modify_state
  - platform_eng.incident_response.fail_on
attributes:
  action:
    description: Has an action plugin that runs some or all of the work on the controller.
    support: partial
    details:
      - On a local connection without become (a play on V(localhost), or C(delegate_to=localhost)), the checks run in
        the controller process and no module process is started; the arguments, verdict, O(fail_on) failure,
        warnings and masking of O(secret_headers) are the module's.
      - On any other host, with become, or when metrics are scraped, the module runs on the target as usual.
options:
  endpoints:
    description:
      - The endpoints to probe. Each one is a dictionary; options left out take the module-level value of the same name.
    type: list
    elements: dict
    required: true
    suboptions:
      url:
        description:
          - The C(http://) or C(https://) URL to GET, for example V(http://10.77.2.11:8080/health).
          - Credentials in the URL are refused; use O(secret_headers).
        type: str
        required: true
      name:
        description:
          - The name findings use as their target. Must be unique.
          - Defaults to O(endpoints[].url).
        type: str
      expect_status:
        description:
          - HTTP status codes that count as healthy.
          - Defaults to the module-level O(expect_status).
        type: list
        elements: int
      json_assertions:
        description:
          - Assertions on the JSON body. Defaults to the module-level O(json_assertions).
        type: list
        elements: str
      samples:
        description:
          - How many requests to send. Defaults to the module-level O(samples).
        type: int
      timeout:
        description:
          - Socket timeout per request, in seconds. Defaults to the module-level O(timeout).
        type: float
      metrics_url:
        description:
          - The Prometheus C(/metrics) URL of the service behind this endpoint. Setting it turns metrics on for this
            endpoint even when O(metrics_window=0); the two scrapes then bracket the probes.
          - When O(metrics_window) is above 0 and this is not set, the module scrapes C(/metrics) on the scheme, host
            and port of O(endpoints[].url).
        type: str
      required:
        description:
          - V(false) for a path the service works without, such as its API docs (C(/docs)). Only its status (and its
            JSON assertions) is judged, not its error rate or latency; a failure is at most V(warn), with a
            remediation that names the path; and it is never scraped for metrics.
        type: bool
        default: true
      prometheus_instance:
        description:
          - With O(prometheus_url), the C(instance) label of this service's series in Prometheus.
          - Defaults to the host and port of O(endpoints[].metrics_url), else of O(endpoints[].url), which is what
            Prometheus labels a target scraped there.
        type: str
  expect_status:
    description:
      - HTTP status codes that count as healthy, for endpoints that do not set their own.
      - Called C(status_code) in M(ansible.builtin.uri); renamed here because the result's RV(endpoints[].status_code)
        is the status code received.
    type: list
    elements: int
    default: [200]
  json_assertions:
    description:
      - Assertions the JSON body must satisfy, for endpoints that do not set their own. A sample whose assertion fails
        counts as failed.
      - Each assertion is one comparison, C(operand operator operand), where one side is a dotted path into the JSON
        body and the other a literal, for example V(status == "ok"), V(checks.database.status == "ok"),
        V(version != ""), V(uptime_seconds > 30), V(status in ["ok", "degraded"]).
      - Operators are C(==), C(!=), C(<), C(<=), C(>), C(>=), C(in) and C(not in). Literals are JSON-style strings (double
        or single quotes), numbers, V(true), V(false), V(null) and lists of those. C(in) tests membership in a list,
        a substring in a string, or a key in an object.
      - Path steps are keys separated by dots; use C(items[0]) or C(labels["app.kubernetes.io/name"]) for list
        indexes and keys with dots. A missing key fails the assertion.
      - The text is parsed, never evaluated as code; a syntax error fails the task before any request is sent.
    type: list
    elements: str
    default: []
  samples:
    description:
      - How many requests to send to each endpoint, one after another over one connection.
      - A request that times out ends the sampling of that endpoint, so a hung server costs one O(timeout).
    type: int
    default: 5
  timeout:
    description:
      - Socket timeout per request, in seconds, for endpoints that do not set their own.
    type: float
    default: 5.0
  max_workers:
    description:
      - How many endpoints are probed at the same time.
    type: int
    default: 16
  headers:
    description:
      - Extra request headers, sent to every endpoint and C(/metrics) URL.
      - These are logged like any option. Put credentials in O(secret_headers); the module warns about header names
        that look like credentials here.
    type: dict
    default: {}
  secret_headers:
    description:
      - Request headers whose values are secrets, for example C(Authorization) with a bearer token.
      - Their values are hidden from logs and from the returned data. They override O(headers) of the same name.
    type: dict
    default: {}
  validate_certs:
    description:
      - Whether to verify the server certificate and host name of C(https://) endpoints.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file (or directory of hashed certificates) with the CA certificates that verify C(https://) endpoints.
        The system's trust store is used when unset.
    type: path
  error_rate_critical_percent:
    description:
      - Error rate (failed samples) and 5xx ratio (from metrics) above this percentage are V(critical). The runbook says
        5 %; exactly 5 % passes.
      - With few samples one failure is already a large share; with the default 5 samples, any failed sample breaches.
    type: float
    default: 5.0
  error_rate_warn_percent:
    description:
      - Error rate and 5xx ratio above this percentage are V(warn). The runbook has no warning level, so this is off
        unless set.
    type: float
  latency_p95_critical_ms:
    description:
      - P95 latency above this many milliseconds is V(critical), for the probes and for the metrics histogram. The
        runbook says 500 ms.
    type: float
    default: 500.0
  latency_p95_warn_ms:
    description:
      - P95 latency above this many milliseconds is V(warn). Off unless set.
    type: float
  metrics_window:
    description:
      - Seconds between the two C(/metrics) scrapes; V(0) turns metrics off for endpoints without
        O(endpoints[].metrics_url).
      - All endpoints are scraped concurrently, and the probes run inside the window, so the task takes about
        max(window, probes), however many endpoints there are.
      - The deltas include the module's own probe requests when the service counts its health endpoint.
      - The runbook's alert looks at 5 minutes; a deploy gate typically uses 30 to 60 seconds.
    type: float
    default: 0
  prometheus_url:
    description:
      - A Prometheus server, for example V(http://10.77.1.10:9090). The 5xx ratio and P95 of every endpoint then come
        from one set of queries over O(prometheus_window), and O(metrics_window) is not waited for.
      - Prometheus not answering makes the metrics findings V(unknown) with the error as evidence; the probes still
        run.
    type: str
  prometheus_window:
    description: The PromQL range of the queries, the runbook's V(5m) by default; the lab uses seconds.
    type: str
    default: 5m
  prometheus_selector:
    description:
      - Label matchers every query adds, for example V(job="incident-response",path!="/metrics"), so the scrapes of
        C(/metrics) do not count as the service's traffic.
    type: str
    default: ""
  metrics_requests_metric:
    description:
      - Counter of handled requests, labelled with the status code (see O(metrics_code_label)). The ratio of the
        increase of its 5xx series to the increase of all its series is the 5xx ratio.
    type: str
    default: http_requests_total
  metrics_code_label:
    description:
      - Label of O(metrics_requests_metric) that holds the HTTP status code; values starting with C(5) are 5xx.
    type: str
    default: code
  metrics_duration_metric:
    description:
      - Histogram of request durations in seconds (the C(_bucket) series with C(le) labels), summed over all other labels.
      - P95 is estimated like Prometheus C(histogram_quantile(0.95, ...)) on the bucket increases, by linear
        interpolation inside the bucket where the 95th percentile falls; a result in the C(+Inf) bucket is reported
        as the highest finite bucket bound.
    type: str
    default: http_request_duration_seconds
notes:
  - A counter that goes down between the two scrapes (the service restarted) makes the metrics findings V(unknown) with
    the counters as evidence; so does a window without requests. Neither is reported as V(ok).
  - Percentiles of the samples use linear interpolation between ranks; with 5 samples, P95 and P99 sit close to the
    slowest sample.
  - Latency is measured from sending the request to reading the whole body; the first sample also includes the
    connection set-up.
seealso:
  - module: ansible.builtin.uri
    description: Single requests with full control over method, body and redirects.
"""

EXAMPLES = r"""
# App hosts are reachable only through the bastion, so the probes run there.
- name: Check the health of both app hosts from the bastion
  platform_eng.incident_response.http_health_info:
    endpoints:
      - name: app1
        url: http://10.77.2.11:8080/health
      - name: app2
        url: http://10.77.2.12:8080/health
    json_assertions:
      - status == "ok"
      - checks.database.status == "ok"
  delegate_to: bastion
  run_once: true
  register: health

- name: Show what is not healthy
  ansible.builtin.debug:
    msg: "{{ health.findings | rejectattr('status', 'equalto', 'ok') | list }}"

# Post-deploy gate: 20 samples each plus one minute of Prometheus counters,
# and fail the task on a breach of the runbook's thresholds.
- name: Gate the deployment on error rate and P95 latency
  platform_eng.incident_response.http_health_info:
    endpoints:
      - name: app1
        url: http://10.77.2.11:8080/health
      - name: app2
        url: http://10.77.2.12:8080/health
    samples: 20
    timeout: 2
    metrics_window: 60
    fail_on: critical
  delegate_to: bastion
  run_once: true

# The runbook's three endpoints: a missing /docs is a warning, not an outage.
- name: Probe /health and check that /metrics and /docs answer
  platform_eng.incident_response.http_health_info:
    endpoints:
      - name: app1
        url: http://10.77.2.11:8080/health
        json_assertions: ['status == "ok"']
      - name: app1 /metrics
        url: http://10.77.2.11:8080/metrics
        required: false
        samples: 1
      - name: app1 /docs
        url: http://10.77.2.11:8080/docs
        required: false
        samples: 1
  delegate_to: bastion
  run_once: true

# With Prometheus, the runbook's 5-minute window in one query, and no waiting.
- name: Read the 5xx ratio and P95 of the last 5 minutes from Prometheus
  platform_eng.incident_response.http_health_info:
    endpoints:
      - name: app1
        url: http://10.77.2.11:8080/health
    prometheus_url: http://10.77.1.10:9090
    prometheus_window: 5m
    prometheus_selector: job="incident-response",path!="/metrics"
  delegate_to: bastion
  run_once: true

# Warn earlier than the runbook's critical levels, send a token, and trust the lab CA.
- name: Check the TLS endpoint with a bearer token
  platform_eng.incident_response.http_health_info:
    endpoints:
      - name: api-tls
        url: https://10.77.1.1:8441/
    ca_path: /var/lib/irlab/tls/ca.pem
    secret_headers:
      Authorization: "Bearer {{ api_token }}"
    error_rate_warn_percent: 1
    latency_p95_warn_ms: 300
"""

RETURN = r"""
status:
  description: The worst status of all findings (V(critical) > V(warn) > V(unknown) > V(ok)).
  returned: always
  type: str
  sample: critical
counts:
  description: How many findings have each status.
  returned: always
  type: dict
  sample: {"ok": 7, "unknown": 1, "warn": 0, "critical": 2}
findings:
  description:
    - Every finding of every endpoint, in endpoint order.
    - Names are C(http_status), C(http_error_rate), C(http_latency_p95), C(http_json_assertions) (when assertions are
      set), C(metrics_5xx_ratio) and C(metrics_latency_p95) (when metrics are scraped).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The check.
      type: str
      sample: http_error_rate
    target:
      description: The endpoint name.
      type: str
      sample: app1
    status:
      description: V(ok), V(warn), V(critical) or V(unknown) (could not measure).
      type: str
      sample: critical
    value:
      description: What was measured, in RV(findings[].unit); the last status code for C(http_status).
      type: raw
      sample: 40.0
    threshold:
      description:
        - What the value was compared with; C({warn, critical}) for rates and latencies, the expected status codes
          for C(http_status), V(0) for C(http_json_assertions).
      type: raw
      sample: {"warn": null, "critical": 5.0}
    unit:
      description: Unit of the value.
      type: str
      sample: "%"
    evidence:
      description: What the verdict rests on, in one line.
      type: str
      sample: "2/5 samples failed: unexpected status 500 (expected 200)"
    remediation:
      description: The runbook's advice when the status is V(warn) or V(critical), else null.
      type: str
      sample: "Runbook 'High Error Rate': check for recent deployments (potential bad release); ..."
endpoints:
  description: One entry per endpoint, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The endpoint name.
      type: str
      sample: app1
    url:
      description: The URL probed.
      type: str
      sample: http://10.77.2.11:8080/health
    samples:
      description: How many requests were sent (fewer than asked when one timed out).
      type: int
      sample: 5
    status_code:
      description: The status code of the last answer; null when nothing answered.
      type: int
      sample: 200
    status_codes:
      description: How many answers had each status code.
      type: dict
      sample: {"200": 4, "500": 1}
    latency_ms:
      description: Latency of the answered requests in milliseconds; null statistics when nothing answered.
      type: dict
      sample: {"samples": [12.1, 9.8, 10.2, 9.9, 31.0], "min": 9.8, "max": 31.0, "mean": 14.6,
               "p50": 10.2, "p95": 27.22, "p99": 30.244}
      contains:
        samples:
          description: Each answered request, in order.
          type: list
          elements: float
          sample: [12.1, 9.8]
        min:
          description: Fastest answer.
          type: float
          sample: 9.8
        max:
          description: Slowest answer.
          type: float
          sample: 31.0
        mean:
          description: Arithmetic mean.
          type: float
          sample: 14.6
        p50:
          description: Median.
          type: float
          sample: 10.2
        p95:
          description: 95th percentile, linear interpolation between ranks.
          type: float
          sample: 27.22
        p99:
          description: 99th percentile.
          type: float
          sample: 30.244
    error_rate:
      description: Share of requests that failed (no answer, unexpected status or failed assertion), in percent.
      type: float
      sample: 20.0
    errors:
      description: The distinct reasons requests failed, first seen first (at most 10).
      type: list
      elements: str
      sample: ["ConnectionRefusedError: [Errno 111] Connection refused"]
    assertions:
      description: One entry per JSON assertion, over all answered requests.
      type: list
      elements: dict
      sample: [{"assertion": "status == \"ok\"", "passed": false, "passed_samples": 4, "failed_samples": 1,
                "actual": "degraded", "message": "actual value \"degraded\""}]
      contains:
        assertion:
          description: The assertion as given.
          type: str
          sample: status == "ok"
        passed:
          description: Whether it held in every answered request; null when nothing answered.
          type: bool
          sample: false
        passed_samples:
          description: Answers in which it held.
          type: int
          sample: 4
        failed_samples:
          description: Answers in which it failed.
          type: int
          sample: 1
        actual:
          description: The value at the path in the last answer.
          type: raw
          sample: degraded
        message:
          description: Why it last failed, null when it never failed.
          type: str
          sample: actual value "degraded"
    body_excerpt:
      description: The first 512 characters of the last failing answer's body, else of the last answer's body.
      type: str
      sample: '{"status": "ok", "version": "v1.2.3"}'
    metrics:
      description: What the two C(/metrics) scrapes showed; null when metrics were not scraped for this endpoint.
      type: dict
      sample: {"url": "http://10.77.2.11:8080/metrics", "window_seconds": 60.02, "requests": 1200.0,
               "requests_5xx": 12.0, "error_rate_5xx": 1.0, "error_rate_reason": null, "observations": 1200.0,
               "latency_p95_ms": 87.5, "latency_reason": null, "restarted": false, "error": null}
      contains:
        url:
          description: The C(/metrics) URL scraped.
          type: str
          sample: http://10.77.2.11:8080/metrics
        error:
          description: Why a scrape failed; the other keys are absent then.
          type: str
          sample: "ConnectionRefusedError: [Errno 111] Connection refused"
        window_seconds:
          description: Seconds between the two scrapes.
          type: float
          sample: 60.02
        requests:
          description: Increase of O(metrics_requests_metric) over all series.
          type: float
          sample: 1200.0
        requests_5xx:
          description: Increase of its 5xx series.
          type: float
          sample: 12.0
        error_rate_5xx:
          description: 5xx share of the requests in percent; null with RV(endpoints[].metrics.error_rate_reason).
          type: float
          sample: 1.0
        error_rate_reason:
          description: Why there is no 5xx ratio (no requests in the window, counter reset, metric missing).
          type: str
          sample: no requests in the 60 s window
        observations:
          description: Increase of the histogram's C(+Inf) bucket.
          type: float
          sample: 1200.0
        latency_p95_ms:
          description: P95 from the histogram increases, in milliseconds.
          type: float
          sample: 87.5
        latency_reason:
          description: Why there is no P95.
          type: str
          sample: no observations in the 60 s window
        restarted:
          description: Whether a counter went down (the service restarted) between the scrapes.
          type: bool
          sample: false
        origin:
          description: V(Prometheus) when the numbers come from O(prometheus_url) (RV(endpoints[].metrics.url) is then
            the Prometheus server); null for scrapes.
          type: str
          sample: Prometheus
    status:
      description: The worst status of this endpoint's findings.
      type: str
      sample: ok
    findings:
      description: This endpoint's findings, in the shape of RV(findings).
      type: list
      elements: dict
      sample: [{"name": "http_status", "target": "app1", "status": "ok", "value": 200, "threshold": [200],
                "unit": null, "evidence": "5/5 samples answered an expected status (status codes 200: 5)",
                "remediation": null}]
elapsed_ms:
  description: Wall time of the whole check in milliseconds.
  returned: always
  type: float
  sample: 1234.5
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import IncidentResponseError
from ansible_collections.platform_eng.incident_response.plugins.module_utils._http_health import (
    build_plan,
    check_http_health,
    secret_header_warnings,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._prerequisites import require
from ansible_collections.platform_eng.incident_response.plugins.module_utils._prometheus_window import (
    PROMETHEUS_IMPORT_ERROR,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._verdict import (
    exit_with_verdict,
    fail_on_argument_spec,
)

ENDPOINT_OPTIONS = dict(
    url=dict(type="str", required=True),
    name=dict(type="str"),
    expect_status=dict(type="list", elements="int"),
    json_assertions=dict(type="list", elements="str"),
    samples=dict(type="int"),
    timeout=dict(type="float"),
    metrics_url=dict(type="str"),
    required=dict(type="bool", default=True),
    prometheus_instance=dict(type="str"),
)

ARGUMENT_SPEC = dict(
    endpoints=dict(type="list", elements="dict", required=True, options=ENDPOINT_OPTIONS),
    expect_status=dict(type="list", elements="int", default=[200]),
    json_assertions=dict(type="list", elements="str", default=[]),
    samples=dict(type="int", default=5),
    timeout=dict(type="float", default=5.0),
    max_workers=dict(type="int", default=16),
    headers=dict(type="dict", default={}),
    secret_headers=dict(type="dict", default={}, no_log=True),
    validate_certs=dict(type="bool", default=True),
    ca_path=dict(type="path"),
    error_rate_critical_percent=dict(type="float", default=5.0),
    error_rate_warn_percent=dict(type="float"),
    latency_p95_critical_ms=dict(type="float", default=500.0),
    latency_p95_warn_ms=dict(type="float"),
    metrics_window=dict(type="float", default=0),
    prometheus_url=dict(type="str"),
    prometheus_window=dict(type="str", default="5m"),
    prometheus_selector=dict(type="str", default=""),
    metrics_requests_metric=dict(type="str", default="http_requests_total"),
    metrics_code_label=dict(type="str", default="code"),
    metrics_duration_metric=dict(type="str", default="http_request_duration_seconds"),
    **fail_on_argument_spec(),
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    for warning in secret_header_warnings(module.params["headers"]):
        module.warn(warning)
    try:
        plan = build_plan(module.params)
        if plan.needs_metrics:
            require(module, [("prometheus_client", PROMETHEUS_IMPORT_ERROR)], needed_for="to read /metrics")
        result = check_http_health(plan)
    except IncidentResponseError as exc:
        module.fail_json(msg=str(exc))
    exit_with_verdict(module, result, "HTTP health")


if __name__ == "__main__":
    main()
