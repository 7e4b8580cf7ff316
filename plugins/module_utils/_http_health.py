# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""HTTP health probes for many endpoints in one call.

``build_plan`` validates the module's options (bad assertion syntax fails
here, before any request is sent); ``check_http_health`` probes every
endpoint concurrently, optionally scrapes Prometheus ``/metrics`` twice
around the probes, and turns what it measured into findings.

Only the standard library speaks HTTP, so the module runs on a bare
bastion; ``prometheus_client`` is needed only when metrics are requested.
The assertion language lives in ``_json_assertions``, the Prometheus
parsing and window maths in ``_prometheus_window``.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import math
import os
import re
import socket
import ssl
import time
import typing as t
import urllib.parse

from ansible_collections.platform_eng.incident_response.plugins.module_utils._fanout import (
    describe_error,
    fan_out,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    CRITICAL,
    OK,
    WARN,
    Finding,
    IncidentResponseError,
    compare,
    rated_finding,
    summarize,
    threshold_values,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._json_assertions import (
    AssertionResult,
    AssertionSyntaxError,
    JsonAssertion,
    parse_assertion,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._prerequisites import missing_library
from ansible_collections.platform_eng.incident_response.plugins.module_utils._prometheus_query import (
    PrometheusSource,
    instance_of,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._prometheus_query import (
    windows as prometheus_windows,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._prometheus_window import (
    PROMETHEUS_IMPORT_ERROR,
    MetricsSettings,
    MetricsWindow,
    Scrape,
    metrics_window,
    parse_metrics,
)

# The runbook's words, so the on-call engineer reads the same advice here
# as in the runbook ("Monitoring & Alerts" and "Troubleshooting").
REMEDIATION_ERROR_RATE = (
    "Runbook 'High Error Rate': check for recent deployments (potential bad release); "
    "review application logs for stack traces; if recent deployment, rollback immediately; "
    "if database issue, check connection pool exhaustion; scale up if resource saturation detected."
)
REMEDIATION_LATENCY = (
    "Runbook 'High Latency': identify slow database queries and add indexes; "
    "check cache hit rate, warm cache if needed; review recent code changes for inefficient loops; "
    "scale up database if CPU >80%."
)
REMEDIATION_DOWN = (
    "Runbook 'Service Won't Start': check the service is running and read its log; "
    "common causes: missing environment variables, database connection failure, "
    "port already in use, insufficient permissions."
)
REMEDIATION_HEALTH_DOCUMENT = (
    "The health document reports a failing check (see evidence). Runbook: if database issue, "
    "check connection pool exhaustion; if recent deployment, rollback immediately."
)
REMEDIATION_OPTIONAL = (
    "The service answers, but not on {path}: the runbook lists /health, /metrics and /docs as its endpoints. Check "
    "that the live release still serves this path (a route dropped or renamed in a recent release) and read the "
    "service's log for its requests. Not an outage: the service itself works."
)
REMEDIATION_RESTARTED = (
    "The service restarted during the metrics window: read its log for a crash and check whether "
    "a deployment is running (runbook 'Service Won't Start'), then run the check again."
)

DEFAULTS: dict[str, t.Any] = {
    "expect_status": [200],
    "json_assertions": [],
    "samples": 5,
    "timeout": 5.0,
    "max_workers": 16,
    "headers": {},
    "secret_headers": {},
    "validate_certs": True,
    "ca_path": None,
    "error_rate_critical_percent": 5.0,
    "error_rate_warn_percent": None,
    "latency_p95_critical_ms": 500.0,
    "latency_p95_warn_ms": None,
    "metrics_window": 0.0,
    "metrics_requests_metric": "http_requests_total",
    "metrics_code_label": "code",
    "metrics_duration_metric": "http_request_duration_seconds",
    "prometheus_url": None,
    "prometheus_window": "5m",
    "prometheus_selector": "",
}

MAX_SAMPLES = 1000
MAX_BODY_BYTES = 1024 * 1024  # a health document is small; never buffer a runaway response
EXCERPT_CHARS = 512
MAX_ERRORS = 10
USER_AGENT = "platform_eng.incident_response.http_health_info"
_SECRET_HEADER = re.compile(r"authorization|cookie|token|secret|api[-_]?key|password", re.IGNORECASE)
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


# --------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------


def percentile(values: t.Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation between ranks.

    This is numpy's default ("type 7"): with five samples, p95 lies 80 % of
    the way from the 4th to the 5th fastest. No samples, no percentile.
    """
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def latency_summary(values: t.Sequence[float]) -> dict[str, t.Any]:
    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 3)

    return {
        "samples": [round(v, 3) for v in values],
        "min": rounded(min(values)) if values else None,
        "max": rounded(max(values)) if values else None,
        "mean": rounded(sum(values) / len(values)) if values else None,
        "p50": rounded(percentile(values, 50)),
        "p95": rounded(percentile(values, 95)),
        "p99": rounded(percentile(values, 99)),
    }


# --------------------------------------------------------------------------
# Plan: validated options
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Thresholds:
    error_rate_critical_percent: float | None = 5.0
    error_rate_warn_percent: float | None = None
    latency_p95_critical_ms: float | None = 500.0
    latency_p95_warn_ms: float | None = None

    @classmethod
    def from_params(cls, params: t.Mapping[str, t.Any]) -> Thresholds:
        return cls(**threshold_values(cls, params, pairs=(("error_rate_warn_percent", "error_rate_critical_percent"),
                                                          ("latency_p95_warn_ms", "latency_p95_critical_ms"))))


@dataclasses.dataclass(frozen=True)
class Endpoint:
    name: str
    url: str
    expect_status: tuple[int, ...]
    assertions: tuple[JsonAssertion, ...]
    samples: int
    timeout: float
    metrics_url: str | None = None
    # A path the service works without (API docs, say): judged on its status alone, a failure at most a warning.
    required: bool = True
    # With Prometheus, the instance label of this service's series (required endpoints only).
    prometheus_instance: str | None = None


@dataclasses.dataclass(frozen=True)
class Plan:
    endpoints: tuple[Endpoint, ...]
    headers: dict[str, str]
    tls: ssl.SSLContext
    thresholds: Thresholds
    metrics: MetricsSettings
    max_workers: int
    prometheus: PrometheusSource | None = None

    @property
    def needs_metrics(self) -> bool:
        """Whether /metrics is scraped here (it is not when Prometheus answers instead)."""
        return any(endpoint.metrics_url for endpoint in self.endpoints)


def _option(params: t.Mapping[str, t.Any], key: str) -> t.Any:
    value = params.get(key)
    return DEFAULTS[key] if value is None else value


def _check_url(url: t.Any, where: str) -> str:
    if not isinstance(url, str) or not url:
        raise IncidentResponseError(f"{where}: a URL is required")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise IncidentResponseError(f"{where}: {url!r} is not an http:// or https:// URL with a host name")
    if parts.username is not None or parts.password is not None:
        # Do not echo the URL: it holds a credential.
        raise IncidentResponseError(f"{where}: credentials in the URL are not supported; pass them in secret_headers")
    try:
        parts.port  # noqa: B018 -- raises on an out-of-range port
    except ValueError as exc:
        raise IncidentResponseError(f"{where}: {exc}") from None
    return url


def default_metrics_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/metrics", "", ""))


def tls_context(validate_certs: bool, ca_path: str | None) -> ssl.SSLContext:
    try:
        if ca_path and os.path.isdir(ca_path):
            context = ssl.create_default_context(capath=ca_path)
        else:
            context = ssl.create_default_context(cafile=ca_path or None)
    except (OSError, ssl.SSLError) as exc:
        raise IncidentResponseError(f"ca_path {ca_path}: cannot load CA certificates: {describe_error(exc)}") from None
    if not validate_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _endpoint(raw: t.Any, index: int, params: t.Mapping[str, t.Any], metrics: MetricsSettings,
              prometheus: PrometheusSource | None = None) -> Endpoint:
    if not isinstance(raw, dict):
        raise IncidentResponseError(f"endpoints[{index}]: expected a dictionary with at least 'url'")
    url = _check_url(raw.get("url"), f"endpoints[{index}].url")
    name = raw.get("name") or url
    where = f"endpoint {name!r}"

    def own(key: str) -> t.Any:
        return raw[key] if raw.get(key) is not None else _option(params, key)

    expect_status = tuple(int(code) for code in own("expect_status"))
    if not expect_status or any(not 100 <= code <= 599 for code in expect_status):
        raise IncidentResponseError(f"{where}: expect_status needs HTTP status codes between 100 and 599")
    samples = int(own("samples"))
    if not 1 <= samples <= MAX_SAMPLES:
        raise IncidentResponseError(f"{where}: samples must be between 1 and {MAX_SAMPLES}, got {samples}")
    timeout = float(own("timeout"))
    if not math.isfinite(timeout) or timeout <= 0:
        raise IncidentResponseError(f"{where}: timeout must be a positive number of seconds, got {timeout:g}")
    assertions = []
    for text in own("json_assertions"):
        try:
            assertions.append(parse_assertion(text))
        except AssertionSyntaxError as exc:
            raise IncidentResponseError(f"{where}: invalid json_assertions entry {text!r}: {exc}") from None
    required = raw.get("required") is not False
    metrics_url = raw.get("metrics_url")
    if metrics_url and not required:
        raise IncidentResponseError(f"{where}: metrics_url needs required: true; an optional path is never scraped")
    if metrics_url:
        metrics_url = _check_url(metrics_url, f"{where}: metrics_url")
    elif metrics.window > 0 and required:
        metrics_url = default_metrics_url(url)
    if prometheus is not None and required:
        # Prometheus holds the window: nothing is scraped here. Its series carry the scraped host:port as instance.
        instance = raw.get("prometheus_instance") or instance_of(metrics_url or url)
        return Endpoint(name, url, expect_status, tuple(assertions), samples, timeout, None, True, instance)
    if prometheus is not None:
        return Endpoint(name, url, expect_status, tuple(assertions), samples, timeout, None, False)
    return Endpoint(name, url, expect_status, tuple(assertions), samples, timeout, metrics_url or None, required)


def _metrics_settings(params: t.Mapping[str, t.Any]) -> MetricsSettings:
    settings = MetricsSettings(
        window=float(_option(params, "metrics_window")),
        requests_metric=_option(params, "metrics_requests_metric"),
        code_label=_option(params, "metrics_code_label"),
        duration_metric=_option(params, "metrics_duration_metric"),
    )
    if settings.window < 0:
        raise IncidentResponseError(f"metrics_window must not be negative, got {settings.window:g}")
    for key, value, pattern in (
        ("metrics_requests_metric", settings.requests_metric, _METRIC_NAME),
        ("metrics_duration_metric", settings.duration_metric, _METRIC_NAME),
        ("metrics_code_label", settings.code_label, _LABEL_NAME),
    ):
        if not pattern.match(value):
            raise IncidentResponseError(f"{key}: {value!r} is not a valid Prometheus name")
    return settings


def secret_looking_headers(headers: t.Mapping[str, t.Any]) -> list[str]:
    """Header names in the logged ``headers`` option that look like credentials."""
    return sorted(name for name in headers if _SECRET_HEADER.search(str(name)))


def secret_header_warnings(headers: t.Mapping[str, t.Any]) -> list[str]:
    """The warning for each logged header that looks like a credential (the module and its action plugin)."""
    return [f"Header {name} looks like a credential and is logged; pass it in secret_headers instead."
            for name in secret_looking_headers(headers)]


def build_plan(params: t.Mapping[str, t.Any]) -> Plan:
    """Validate the options; every problem is found before a request is sent."""
    raw_endpoints = params.get("endpoints") or []
    if not raw_endpoints:
        raise IncidentResponseError("endpoints: give at least one endpoint")
    metrics = _metrics_settings(params)
    prometheus = None
    if params.get("prometheus_url"):
        prometheus = PrometheusSource(str(params["prometheus_url"]), str(_option(params, "prometheus_window")),
                                      str(_option(params, "prometheus_selector")),
                                      timeout=float(_option(params, "timeout")))
    endpoints = tuple(_endpoint(raw, i, params, metrics, prometheus) for i, raw in enumerate(raw_endpoints))
    seen: set[str] = set()
    for endpoint in endpoints:
        if endpoint.name in seen:
            raise IncidentResponseError(f"endpoint names must be unique; {endpoint.name!r} appears twice")
        seen.add(endpoint.name)
    max_workers = int(_option(params, "max_workers"))
    if max_workers < 1:
        raise IncidentResponseError(f"max_workers must be at least 1, got {max_workers}")
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json, */*;q=0.5"}
    headers.update({str(k): str(v) for k, v in _option(params, "headers").items()})
    headers.update({str(k): str(v) for k, v in _option(params, "secret_headers").items()})
    return Plan(
        endpoints=endpoints,
        headers=headers,
        tls=tls_context(bool(_option(params, "validate_certs")), params.get("ca_path")),
        thresholds=Thresholds.from_params(params),
        metrics=metrics,
        max_workers=max_workers,
        prometheus=prometheus,
    )


# --------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------


class _Client:
    """One keep-alive connection per endpoint, reopened when the server closes it."""

    def __init__(self, url: str, headers: dict[str, str], tls: ssl.SSLContext, timeout: float):
        self.parts = urllib.parse.urlsplit(url)
        self.target = (self.parts.path or "/") + (f"?{self.parts.query}" if self.parts.query else "")
        self.headers = headers
        self.tls = tls
        self.timeout = timeout
        self.connection: http.client.HTTPConnection | None = None

    def _open(self) -> http.client.HTTPConnection:
        host, port = self.parts.hostname, self.parts.port
        if self.parts.scheme == "https":
            return http.client.HTTPSConnection(t.cast(str, host), port, timeout=self.timeout, context=self.tls)
        return http.client.HTTPConnection(t.cast(str, host), port, timeout=self.timeout)

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def get(self) -> tuple[int, bytes, float]:
        """GET the URL: status, body (at most MAX_BODY_BYTES + 1) and milliseconds taken."""
        while True:
            fresh = self.connection is None
            if self.connection is None:
                self.connection = self._open()
            started = time.monotonic()
            try:
                self.connection.request("GET", self.target, headers=self.headers)
                response = self.connection.getresponse()
                body = response.read(MAX_BODY_BYTES + 1)
            except (ConnectionResetError, BrokenPipeError):
                self.close()
                if fresh:
                    raise
                # The server dropped an idle keep-alive connection; that is not the endpoint failing.
                continue
            except BaseException:
                self.close()
                raise
            elapsed_ms = (time.monotonic() - started) * 1000.0
            if response.will_close or len(body) > MAX_BODY_BYTES:
                self.close()
            return response.status, body, elapsed_ms


@dataclasses.dataclass
class Sample:
    status: int | None = None
    latency_ms: float | None = None
    error: str | None = None  # why the sample failed; None when it passed
    timed_out: bool = False
    body: bytes = b""
    assertions: list[AssertionResult] = dataclasses.field(default_factory=list)


def _take_sample(client: _Client, endpoint: Endpoint) -> Sample:
    try:
        status, body, elapsed_ms = client.get()
    except (socket.timeout, TimeoutError):  # distinct classes before Python 3.10
        return Sample(error=f"TimeoutError: no answer within {endpoint.timeout:g} s", timed_out=True)
    except Exception as exc:  # noqa: BLE001 - any failure is the sample's error  # pylint: disable=broad-except
        return Sample(error=describe_error(exc))
    sample = Sample(status=status, latency_ms=elapsed_ms, body=body)
    if endpoint.assertions:
        sample.assertions = _check_body(endpoint.assertions, body)
    if status not in endpoint.expect_status:
        expected = ", ".join(str(code) for code in endpoint.expect_status)
        sample.error = f"unexpected status {status} (expected {expected})"
    else:
        for assertion, outcome in zip(endpoint.assertions, sample.assertions):
            if not outcome.passed:
                sample.error = f"assertion failed: {assertion.text} ({outcome.message})"
                break
    return sample


def _check_body(assertions: t.Sequence[JsonAssertion], body: bytes) -> list[AssertionResult]:
    if len(body) > MAX_BODY_BYTES:
        reason = f"body larger than {MAX_BODY_BYTES} bytes"
        return [AssertionResult(False, None, reason)] * len(assertions)
    try:
        document = json.loads(body.decode("utf-8"))
    except ValueError as exc:
        reason = f"body is not JSON: {exc}"
        return [AssertionResult(False, None, reason)] * len(assertions)
    return [assertion.evaluate(document) for assertion in assertions]


def probe(endpoint: Endpoint, headers: dict[str, str], tls: ssl.SSLContext) -> list[Sample]:
    """Take the endpoint's samples one after another over one connection.

    A timed-out sample ends the sampling: an endpoint that cannot answer
    within ``timeout`` is not asked again, so a hung server costs one
    timeout, not ``samples`` timeouts.
    """
    client = _Client(endpoint.url, headers, tls, endpoint.timeout)
    samples: list[Sample] = []
    try:
        for _sample in range(endpoint.samples):
            samples.append(_take_sample(client, endpoint))
            if samples[-1].timed_out:
                break
    finally:
        client.close()
    return samples


def scrape(url: str, headers: dict[str, str], tls: ssl.SSLContext, timeout: float, settings: MetricsSettings) -> Scrape:
    # Ask for the classic text format; OpenMetrics negotiation is not needed for counters and buckets.
    client = _Client(url, dict(headers, Accept="text/plain;version=0.0.4"), tls, timeout)
    try:
        status, body, _elapsed_ms = client.get()
    finally:
        client.close()
    taken_at = time.monotonic()
    if status != 200:
        raise IncidentResponseError(f"{url} answered HTTP {status}")
    if len(body) > MAX_BODY_BYTES:
        raise IncidentResponseError(f"{url} answered more than {MAX_BODY_BYTES} bytes")
    return parse_metrics(body.decode("utf-8", errors="replace"), settings, taken_at)


# --------------------------------------------------------------------------
# Findings
# --------------------------------------------------------------------------


def error_rate_finding(name: str, target: str, value: float | None, thresholds: Thresholds, evidence: str) -> Finding:
    return rated_finding(
        name,
        target,
        value,
        thresholds.error_rate_warn_percent,
        thresholds.error_rate_critical_percent,
        "%",
        evidence,
        REMEDIATION_ERROR_RATE,
    )


def latency_finding(name: str, target: str, value: float | None, thresholds: Thresholds, evidence: str) -> Finding:
    return rated_finding(
        name,
        target,
        value,
        thresholds.latency_p95_warn_ms,
        thresholds.latency_p95_critical_ms,
        "ms",
        evidence,
        REMEDIATION_LATENCY,
    )


def _distinct(messages: t.Iterable[str | None]) -> list[str]:
    seen: list[str] = []
    for message in messages:
        if message and message not in seen and len(seen) < MAX_ERRORS:
            seen.append(message)
    return seen


def _excerpt(body: bytes) -> str:
    return body[: EXCERPT_CHARS * 4].decode("utf-8", errors="replace")[:EXCERPT_CHARS]


def _assertion_report(endpoint: Endpoint, samples: list[Sample]) -> list[dict[str, t.Any]]:
    rows = []
    for position, assertion in enumerate(endpoint.assertions):
        outcomes = [s.assertions[position] for s in samples if s.assertions]
        failed = [o for o in outcomes if not o.passed]
        last = outcomes[-1] if outcomes else None
        rows.append(
            {
                "assertion": assertion.text,
                "passed": (not failed) if outcomes else None,
                "passed_samples": len(outcomes) - len(failed),
                "failed_samples": len(failed),
                "actual": last.actual if last else None,
                "message": failed[-1].message if failed else (None if outcomes else "not evaluated: no response"),
            }
        )
    return rows


def _probe_findings(
    endpoint: Endpoint, report: dict[str, t.Any], samples: list[Sample], thresholds: Thresholds
) -> list[Finding]:
    target = endpoint.name
    attempted = len(samples)
    expected = sum(1 for s in samples if s.status in endpoint.expect_status)
    failed = sum(1 for s in samples if s.error)
    errors = "; ".join(report["errors"][:3])
    codes = ", ".join(f"{code}: {count}" for code, count in report["status_codes"].items()) or "none"

    if expected == attempted:
        reachability = OK
    else:
        reachability = CRITICAL if expected == 0 else WARN
    findings = [
        Finding(
            name="http_status",
            target=target,
            status=reachability,
            value=report["status_code"],
            threshold=list(endpoint.expect_status),
            evidence=f"{expected}/{attempted} samples answered an expected status (status codes {codes})"
            + (f"; {errors}" if reachability != OK and errors else ""),
            remediation=REMEDIATION_DOWN if reachability != OK else None,
        )
    ]

    findings.append(
        error_rate_finding(
            "http_error_rate",
            target,
            report["error_rate"],
            thresholds,
            f"{failed}/{attempted} samples failed" + (f": {errors}" if errors else ""),
        )
    )

    latency = report["latency_ms"]
    if latency["p95"] is None:
        evidence = "no response to time (see http_status)"
    else:
        evidence = (
            f"p95 {latency['p95']:g} ms over {len(latency['samples'])} responses "
            f"(min {latency['min']:g}, max {latency['max']:g}, mean {latency['mean']:g})"
        )
    findings.append(latency_finding("http_latency_p95", target, latency["p95"], thresholds, evidence))

    if endpoint.assertions:
        rows = report["assertions"]
        evaluated = [row for row in rows if row["passed"] is not None]
        failing = [row for row in evaluated if not row["passed"]]
        value = len(failing) if evaluated else None
        status = compare(value, None, 0)
        if value is None:
            evidence = "no response body to check (see http_status)"
        elif failing:
            evidence = "; ".join(
                f"{row['assertion']} failed in {row['failed_samples']}/{row['passed_samples'] + row['failed_samples']} samples ({row['message']})"
                for row in failing
            )
        else:
            evidence = f"{len(rows)} assertions held in every sample"
        findings.append(
            Finding(
                name="http_json_assertions",
                target=target,
                status=status,
                value=value,
                threshold=0,
                unit="failed assertions",
                evidence=evidence,
                remediation=REMEDIATION_HEALTH_DOCUMENT if status == CRITICAL else None,
            )
        )
    if not endpoint.required:
        return _optional(endpoint, findings)
    return findings


def _optional(endpoint: Endpoint, findings: list[Finding]) -> list[Finding]:
    """An optional path: its status (and assertions) only, and a failure is a warning, never an outage."""
    path = urllib.parse.urlsplit(endpoint.url).path or "/"
    kept = [f for f in findings if f.name in ("http_status", "http_json_assertions")]
    for finding in kept:
        if finding.status == CRITICAL:
            finding.status = WARN
        if finding.status == WARN:
            finding.remediation = REMEDIATION_OPTIONAL.format(path=path)
    return kept


def _metrics_findings(
    target: str, window: MetricsWindow | None, error: str | None, thresholds: Thresholds, url: str, scraped: bool = True
) -> list[Finding]:
    if window is None:
        # A Prometheus error already says where and why; a scrape error needs its URL.
        reason = f"metrics scrape of {url} failed: {error}" if scraped else t.cast(str, error)
        return [
            error_rate_finding("metrics_5xx_ratio", target, None, thresholds, reason),
            latency_finding("metrics_latency_p95", target, None, thresholds, reason),
        ]
    origin = f" ({window.origin})" if window.origin else ""
    if window.error_rate_5xx is None:
        ratio = error_rate_finding("metrics_5xx_ratio", target, None, thresholds, t.cast(str, window.error_rate_reason))
    else:
        ratio = error_rate_finding(
            "metrics_5xx_ratio",
            target,
            window.error_rate_5xx,
            thresholds,
            f"{window.requests_5xx:g} of {window.requests:g} requests answered 5xx in {window.window_seconds:g} s{origin}",
        )
    if window.latency_p95_ms is None:
        p95 = latency_finding("metrics_latency_p95", target, None, thresholds, t.cast(str, window.latency_reason))
    else:
        p95 = latency_finding(
            "metrics_latency_p95",
            target,
            window.latency_p95_ms,
            thresholds,
            f"histogram_quantile(0.95) over {window.observations or 0:g} observations in {window.window_seconds:g} s"
            f"{origin}",
        )
    if window.restarted:
        ratio.remediation = p95.remediation = REMEDIATION_RESTARTED
    return [ratio, p95]


def _endpoint_report(endpoint: Endpoint, samples: list[Sample]) -> dict[str, t.Any]:
    answered = [s for s in samples if s.status is not None]
    codes: dict[str, int] = {}
    for sample in answered:
        codes[str(sample.status)] = codes.get(str(sample.status), 0) + 1
    failing = [s for s in answered if s.error]
    shown = failing[-1] if failing else (answered[-1] if answered else None)
    errors = _distinct(s.error for s in samples)
    if len(samples) < endpoint.samples:
        errors.append(f"sampling stopped after {len(samples)} of {endpoint.samples} samples: the endpoint timed out")
    return {
        "name": endpoint.name,
        "url": endpoint.url,
        "samples": len(samples),
        "status_code": answered[-1].status if answered else None,
        "status_codes": codes,
        "latency_ms": latency_summary([s.latency_ms for s in answered if s.latency_ms is not None]),
        "error_rate": round(100.0 * sum(1 for s in samples if s.error) / len(samples), 4),
        "errors": errors,
        "assertions": _assertion_report(endpoint, samples),
        "body_excerpt": _excerpt(shown.body) if shown else None,
        "metrics": None,
    }


# --------------------------------------------------------------------------
# The whole check
# --------------------------------------------------------------------------


def _scrape_all(plan: Plan, endpoints: list[Endpoint]) -> list[t.Any]:
    budget = max(e.timeout for e in endpoints) + 1.0
    return fan_out(
        lambda e: scrape(t.cast(str, e.metrics_url), plan.headers, plan.tls, e.timeout, plan.metrics),
        endpoints,
        max_workers=plan.max_workers,
        timeout=budget,
    )


def check_http_health(plan: Plan) -> dict[str, t.Any]:
    """Probe every endpoint, judge it, and return the module's result.

    With metrics, the first scrape, the probes and the second scrape run in
    that order, each phase concurrently over all endpoints; the second
    scrape waits until ``metrics_window`` seconds after the first, so the
    whole call takes about max(window, probes), not endpoints x window.
    """
    started = time.monotonic()
    scraped = [e for e in plan.endpoints if e.metrics_url]
    if scraped and PROMETHEUS_IMPORT_ERROR is not None:
        raise IncidentResponseError(missing_library("prometheus_client", needed_for="to read /metrics"))
    first = _scrape_all(plan, scraped) if scraped else []

    # Backstop only: each sample already has a socket timeout and a timeout ends the sampling.
    budget = max(e.samples * e.timeout for e in plan.endpoints) + 2.0
    probes = fan_out(lambda e: probe(e, plan.headers, plan.tls), plan.endpoints, plan.max_workers, budget)

    second = []
    if scraped:
        time.sleep(max(0.0, started + plan.metrics.window - time.monotonic()))
        second = _scrape_all(plan, scraped)

    windows: dict[str, tuple[MetricsWindow | None, str | None]] = {}
    for before, after in zip(first, second):
        if before.error or after.error:
            windows[before.item.name] = (None, before.error or after.error)
        else:
            windows[before.item.name] = (metrics_window(before.result, after.result, plan.metrics), None)
    if plan.prometheus is not None:
        windows = _prometheus_windows(plan)

    reports = []
    all_findings: list[Finding] = []
    for outcome in probes:
        endpoint = outcome.item
        samples = outcome.result
        if not samples:
            # The fan-out deadline fired or the probe itself broke: one failed sample says so.
            error = outcome.error or "no sample taken"
            samples = [Sample(error=error, timed_out=error.startswith("TimeoutError"))]
        report = _endpoint_report(endpoint, samples)
        findings = _probe_findings(endpoint, report, samples, plan.thresholds)
        if endpoint.name in windows:
            window, window_error = windows[endpoint.name]
            source = plan.prometheus.url if plan.prometheus is not None else t.cast(str, endpoint.metrics_url)
            report["metrics"] = _metrics_report(source, window, window_error)
            findings += _metrics_findings(endpoint.name, window, window_error, plan.thresholds, source,
                                          scraped=plan.prometheus is None)
        summary = summarize(findings)
        report["status"] = summary["status"]
        report["findings"] = summary["findings"]
        reports.append(report)
        all_findings += findings

    result = summarize(all_findings)
    result["endpoints"] = reports
    result["elapsed_ms"] = round((time.monotonic() - started) * 1000.0, 3)
    return result


def _prometheus_windows(plan: Plan) -> dict[str, tuple[MetricsWindow | None, str | None]]:
    """Every endpoint's window from one set of queries; Prometheus down is an unknown for each, not a crash."""
    source = t.cast(PrometheusSource, plan.prometheus)
    # Optional paths (/docs, /metrics) are judged on their status alone: no window to ask for.
    windowed = [e for e in plan.endpoints if e.prometheus_instance]
    instances = [t.cast(str, e.prometheus_instance) for e in windowed]
    try:
        found = prometheus_windows(source, instances, plan.metrics, plan.tls)
    except IncidentResponseError as exc:
        return {e.name: (None, str(exc)) for e in windowed}
    return {e.name: (found[t.cast(str, e.prometheus_instance)], None) for e in windowed}


def _metrics_report(url: str, window: MetricsWindow | None, error: str | None) -> dict[str, t.Any]:
    if window is None:
        return {"url": url, "error": error}
    report = dataclasses.asdict(window)
    report.update(url=url, error=None)
    return report
