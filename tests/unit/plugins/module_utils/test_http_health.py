# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests for _http_health: plain pytest, real sockets on 127.0.0.1 only."""

from __future__ import annotations

import http.server
import json
import re
import socket
import threading
import time
import typing as t
import urllib.parse

import pytest

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _http_health as hh
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)
from ansible_collections.platform_eng.incident_response.tests.unit.plugins.prometheus_text import BUCKETS_1, BUCKETS_2, metrics_text, window_between

HEALTHY = {"status": "ok", "checks": {"database": {"status": "ok"}, "cache": {"status": "ok"}}, "version": "v1.2.3"}


# --------------------------------------------------------------------------
# A local service: /health variants and a /metrics that changes per scrape
# --------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real service

    def log_message(self, *args: t.Any) -> None:
        pass

    def _send(
        self, status: int, body: bytes | str, content_type: str = "application/json", close: bool = False
    ) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        server = t.cast("_Server", self.server)
        path, _question_mark, query = self.path.partition("?")
        with server.lock:
            server.hits[self.path] = server.hits.get(self.path, 0) + 1
            server.ports.setdefault(self.path, set()).add(self.client_address[1])
            hit = server.hits[self.path]
        if path == "/health":
            self._send(200, json.dumps(HEALTHY))
        elif path == "/degraded":
            self._send(200, json.dumps(dict(HEALTHY, status="degraded", checks={"database": {"status": "down"}})))
        elif path == "/error":
            self._send(500, json.dumps({"status": "error", "detail": "database unavailable"}))
        elif path == "/slow":
            time.sleep(float(urllib.parse.parse_qs(query).get("s", ["5"])[0]))
            self._send(200, json.dumps(HEALTHY))
        elif path == "/badjson":
            self._send(200, "<html>oops</html>", "text/html")
        elif path == "/flaky":
            # Every 20th answer is a 500: exactly 5.0 % over 20 samples.
            self._send(500 if hit % 20 == 0 else 200, json.dumps(HEALTHY))
        elif path == "/close":
            self._send(200, json.dumps(HEALTHY), close=True)
        elif path == "/echo":
            self._send(200, json.dumps({k.lower(): v for k, v in self.headers.items()}))
        elif path == "/metrics":
            texts = server.metrics.get(query, [""])
            self._send(200, texts[min(hit, len(texts)) - 1], "text/plain; version=0.0.4")
        else:
            self._send(404, "{}")


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.hits: dict[str, int] = {}
        self.ports: dict[str, set[int]] = {}
        self.metrics: dict[str, list[str]] = {}

    def handle_error(self, request: t.Any, client_address: t.Any) -> None:
        pass  # a client that gave up on /slow leaves a broken pipe behind; not news

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


@pytest.fixture(scope="module")
def server() -> t.Iterator[_Server]:
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(**params: t.Any) -> dict[str, t.Any]:
    return hh.check_http_health(hh.build_plan(params))


def _finding(result: dict[str, t.Any], target: str, name: str) -> dict[str, t.Any]:
    return next(f for f in result["findings"] if f["target"] == target and f["name"] == name)


# --------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values, q, expected",
    [
        ([1, 2, 3, 4, 5], 50, 3.0),
        ([1, 2, 3, 4, 5], 95, 4.8),
        ([1, 2, 3, 4, 5], 99, 4.96),
        ([5, 1, 4, 2, 3], 0, 1.0),
        ([5, 1, 4, 2, 3], 100, 5.0),
        ([10, 20], 50, 15.0),
        ([7], 95, 7.0),
        ([], 95, None),
    ],
)
def test_percentile_interpolates_between_ranks(values: list[float], q: float, expected: float | None) -> None:
    result = hh.percentile(values, q)
    assert result == (None if expected is None else pytest.approx(expected))


def test_latency_summary_of_nothing_is_all_null() -> None:
    assert hh.latency_summary([]) == {
        "samples": [],
        "min": None,
        "max": None,
        "mean": None,
        "p50": None,
        "p95": None,
        "p99": None,
    }


# --------------------------------------------------------------------------
# Findings from a metrics window
# --------------------------------------------------------------------------


def test_a_restarted_window_is_unknown_with_restart_advice() -> None:
    window = window_between(
        metrics_text({"200": 1000, "500": 40}, BUCKETS_1), metrics_text({"200": 12, "500": 0}, {"0.1": 5, "+Inf": 12})
    )
    findings = hh._metrics_findings("app1", window, None, hh.Thresholds(), "http://x/metrics")
    assert [f.status for f in findings] == ["unknown", "unknown"]
    assert all(f.remediation == hh.REMEDIATION_RESTARTED for f in findings)
    assert all("counter reset" in f.evidence for f in findings)


def test_no_traffic_in_the_window_is_unknown_not_ok() -> None:
    text = metrics_text({"200": 1000, "500": 40}, BUCKETS_1)
    findings = hh._metrics_findings("app1", window_between(text, text), None, hh.Thresholds(), "http://x/metrics")
    assert [f.status for f in findings] == ["unknown", "unknown"]


# --------------------------------------------------------------------------
# Thresholds: the runbook says "> 5 %" and "> 500 ms", so the line itself passes
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, warn, expected",
    [
        (0.0, None, "ok"),
        (5.0, None, "ok"),
        (5.01, None, "critical"),
        (1.0, 1.0, "ok"),
        (1.01, 1.0, "warn"),
        (5.01, 1.0, "critical"),
        (None, None, "unknown"),
    ],
)
def test_error_rate_threshold_edges(value: float | None, warn: float | None, expected: str) -> None:
    finding = hh.error_rate_finding("http_error_rate", "app1", value, hh.Thresholds(error_rate_warn_percent=warn), "")
    assert finding.status == expected
    assert (finding.remediation == hh.REMEDIATION_ERROR_RATE) == (expected in ("warn", "critical"))


@pytest.mark.parametrize("value, expected", [(499.99, "ok"), (500.0, "ok"), (500.01, "critical")])
def test_latency_threshold_edges(value: float, expected: str) -> None:
    assert hh.latency_finding("http_latency_p95", "app1", value, hh.Thresholds(), "").status == expected


@pytest.mark.parametrize("codes, expected", [({"200": 95, "500": 5}, "ok"), ({"200": 9499, "500": 501}, "critical")])
def test_metrics_5xx_ratio_edges(codes: dict[str, float], expected: str) -> None:
    window = window_between(metrics_text({"200": 0, "500": 0}, BUCKETS_1), metrics_text(codes, BUCKETS_2))
    ratio = hh._metrics_findings("app1", window, None, hh.Thresholds(), "http://x/metrics")[0]
    assert ratio.status == expected


# --------------------------------------------------------------------------
# Option validation: everything is refused before a request is sent
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params, message",
    [
        ({"endpoints": []}, "give at least one endpoint"),
        ({"endpoints": [{"url": "ftp://127.0.0.1/x"}]}, "is not an http:// or https:// URL"),
        (
            {"endpoints": [{"url": "http://127.0.0.1/", "json_assertions": ["status = 1"]}]},
            "endpoint 'http://127.0.0.1/': invalid json_assertions entry 'status = 1': unexpected character '=' at column 8",
        ),
        ({"endpoints": [{"url": "http://127.0.0.1/"}], "json_assertions": ["ok =="]}, "invalid json_assertions entry"),
        (
            {"endpoints": [{"url": "http://127.0.0.1/a", "name": "x"}, {"url": "http://127.0.0.1/b", "name": "x"}]},
            "'x' appears twice",
        ),
        ({"endpoints": [{"url": "http://127.0.0.1/", "samples": 0}]}, "samples must be between 1 and"),
        ({"endpoints": [{"url": "http://127.0.0.1/", "timeout": 0}]}, "timeout must be a positive number"),
        ({"endpoints": [{"url": "http://127.0.0.1/", "timeout": float("nan")}]}, "timeout must be a positive number"),
        ({"endpoints": [{"url": "http://127.0.0.1/", "expect_status": [99]}]}, "between 100 and 599"),
        (
            {"endpoints": [{"url": "http://127.0.0.1/"}], "error_rate_warn_percent": 10},
            "is above error_rate_critical_percent",
        ),
        (
            {"endpoints": [{"url": "http://127.0.0.1/"}], "metrics_code_label": "status-code"},
            "not a valid Prometheus name",
        ),
        ({"endpoints": [{"url": "http://127.0.0.1/"}], "metrics_window": -1}, "must not be negative"),
        (
            {"endpoints": [{"url": "http://127.0.0.1/"}], "ca_path": "/nonexistent/ca.pem"},
            "cannot load CA certificates",
        ),
        ({"endpoints": [{"url": "http://127.0.0.1:99999/"}]}, "Port out of range"),
    ],
)
def test_invalid_options_fail_before_probing(params: dict[str, t.Any], message: str) -> None:
    with pytest.raises(IncidentResponseError, match=re.escape(message)):
        hh.build_plan(params)


def test_credentials_in_a_url_are_refused_without_echoing_them() -> None:
    with pytest.raises(IncidentResponseError) as error:
        hh.build_plan({"endpoints": [{"url": "http://ops:hunter2@127.0.0.1/health"}]})
    assert "hunter2" not in str(error.value)
    assert "secret_headers" in str(error.value)


def test_endpoint_options_override_module_defaults() -> None:
    plan = hh.build_plan(
        {
            "endpoints": [
                {"url": "http://127.0.0.1/a", "samples": 2, "timeout": 0.5, "expect_status": [204]},
                {"url": "http://127.0.0.1/b", "metrics_url": "http://127.0.0.1:9100/metrics"},
            ],
            "samples": 7,
            "json_assertions": ['status == "ok"'],
        }
    )
    first, second = plan.endpoints
    assert (first.samples, first.timeout, first.expect_status, first.metrics_url) == (2, 0.5, (204,), None)
    assert (second.samples, second.timeout, second.expect_status) == (7, 5.0, (200,))
    assert second.metrics_url == "http://127.0.0.1:9100/metrics" and plan.needs_metrics
    assert [a.text for a in first.assertions] == ['status == "ok"']


def test_metrics_window_derives_the_metrics_url() -> None:
    plan = hh.build_plan({"endpoints": [{"url": "https://127.0.0.1:8443/api/health?deep=1"}], "metrics_window": 5})
    assert plan.endpoints[0].metrics_url == "https://127.0.0.1:8443/metrics"


@pytest.mark.parametrize(
    "headers, secret",
    [
        ({"Authorization": "x", "X-Env": "lab"}, ["Authorization"]),
        ({"X-API-Key": "k", "Cookie": "c"}, ["Cookie", "X-API-Key"]),
        ({"Accept": "text/plain"}, []),
    ],
)
def test_secret_looking_headers(headers: dict[str, str], secret: list[str]) -> None:
    assert hh.secret_looking_headers(headers) == secret


# --------------------------------------------------------------------------
# Against a real local server
# --------------------------------------------------------------------------


def test_mixed_endpoints_are_judged_each_on_its_own(server: _Server, closed_port: int) -> None:
    result = _run(
        endpoints=[
            {"name": "healthy", "url": server.url("/health")},
            {"name": "erroring", "url": server.url("/error")},
            {"name": "slow", "url": server.url("/slow?s=0.6"), "samples": 2},
            {"name": "not-json", "url": server.url("/badjson")},
            {"name": "degraded", "url": server.url("/degraded")},
            {"name": "down", "url": f"http://127.0.0.1:{closed_port}/health"},
        ],
        json_assertions=['status == "ok"', 'checks.database.status == "ok"'],
        samples=3,
    )
    assert result["status"] == "critical"
    assert [e["name"] for e in result["endpoints"]] == ["healthy", "erroring", "slow", "not-json", "degraded", "down"]
    healthy = result["endpoints"][0]
    assert healthy["status"] == "ok" and healthy["status_codes"] == {"200": 3} and healthy["error_rate"] == 0.0
    assert all(a["passed"] and a["passed_samples"] == 3 for a in healthy["assertions"])
    assert len(healthy["latency_ms"]["samples"]) == 3 and healthy["latency_ms"]["p95"] < 500

    erroring = _finding(result, "erroring", "http_status")
    assert erroring["status"] == "critical" and erroring["value"] == 500
    assert "unexpected status 500 (expected 200)" in erroring["evidence"]
    assert _finding(result, "erroring", "http_error_rate")["value"] == 100.0
    assert "database unavailable" in result["endpoints"][1]["body_excerpt"]

    slow = _finding(result, "slow", "http_latency_p95")
    assert slow["status"] == "critical" and slow["value"] > 500 and slow["remediation"] == hh.REMEDIATION_LATENCY
    assert _finding(result, "slow", "http_error_rate")["status"] == "ok"

    not_json = _finding(result, "not-json", "http_json_assertions")
    assert not_json["status"] == "critical" and "body is not JSON" in not_json["evidence"]
    assert _finding(result, "not-json", "http_status")["status"] == "ok"

    degraded = result["endpoints"][4]["assertions"]
    assert [a["actual"] for a in degraded] == ["degraded", "down"]
    assert _finding(result, "degraded", "http_json_assertions")["value"] == 2

    down = _finding(result, "down", "http_status")
    assert down["status"] == "critical" and down["value"] is None
    assert "ConnectionRefusedError" in down["evidence"] and down["remediation"] == hh.REMEDIATION_DOWN
    assert _finding(result, "down", "http_latency_p95")["status"] == "unknown"
    assert _finding(result, "down", "http_json_assertions")["status"] == "unknown"
    assert result["counts"]["critical"] >= 6
    assert len(result["findings"]) == sum(len(e["findings"]) for e in result["endpoints"])


def test_a_hung_endpoint_costs_one_timeout(server: _Server) -> None:
    started = time.monotonic()
    result = _run(
        endpoints=[
            {"name": "hung", "url": server.url("/slow?s=5"), "timeout": 0.5},
            {"name": "fine", "url": server.url("/health")},
        ],
        samples=5,
    )
    assert time.monotonic() - started < 2.0
    hung = result["endpoints"][0]
    assert hung["samples"] == 1 and hung["error_rate"] == 100.0
    assert hung["errors"][0] == "TimeoutError: no answer within 0.5 s"
    assert "sampling stopped after 1 of 5 samples" in hung["errors"][1]
    assert _finding(result, "hung", "http_status")["status"] == "critical"
    assert result["endpoints"][1]["status"] == "ok"


def test_endpoints_are_probed_concurrently(server: _Server) -> None:
    started = time.monotonic()
    result = _run(endpoints=[{"name": f"s{i}", "url": server.url(f"/slow?s=0.4&i={i}")} for i in range(8)], samples=1)
    assert time.monotonic() - started < 0.4 * 8 / 2
    assert result["status"] == "ok"
    assert result["counts"]["ok"] == 8 * 3  # status, error rate and latency (400 ms is under 500 ms)


def test_one_connection_is_kept_alive_per_endpoint(server: _Server) -> None:
    _run(endpoints=[{"url": server.url("/health?keepalive")}], samples=5)
    assert server.hits["/health?keepalive"] == 5
    assert len(server.ports["/health?keepalive"]) == 1


def test_a_server_that_closes_each_connection_still_answers_every_sample(server: _Server) -> None:
    result = _run(endpoints=[{"url": server.url("/close")}], samples=4)
    assert result["endpoints"][0]["status_codes"] == {"200": 4}
    assert len(server.ports["/close"]) == 4


def test_exactly_five_percent_errors_pass_the_runbook_threshold(server: _Server) -> None:
    result = _run(endpoints=[{"name": "flaky", "url": server.url("/flaky")}], samples=20)
    assert result["endpoints"][0]["status_codes"] == {"200": 19, "500": 1}
    rate = _finding(result, "flaky", "http_error_rate")
    assert (rate["value"], rate["status"]) == (5.0, "ok")
    assert _finding(result, "flaky", "http_status")["status"] == "warn"


def test_headers_and_secret_headers_are_sent(server: _Server) -> None:
    result = _run(
        endpoints=[{"url": server.url("/echo")}],
        headers={"X-Env": "lab", "Authorization": "overridden"},
        secret_headers={"Authorization": "Bearer t0ken"},
        json_assertions=['authorization == "Bearer t0ken"', 'x-env == "lab"', 'user-agent == "' + hh.USER_AGENT + '"'],
        samples=1,
    )
    assert result["status"] == "ok", result["endpoints"][0]["assertions"]


def test_metrics_window_runs_all_scrapes_concurrently(server: _Server) -> None:
    before = metrics_text({"200": 1000, "500": 40}, BUCKETS_1)
    server.metrics.update(
        {
            "healthy": [before, metrics_text({"200": 1099, "500": 41}, BUCKETS_2)],
            "erroring": [before, metrics_text({"200": 1090, "500": 50}, BUCKETS_2)],
            "restarted": [before, metrics_text({"200": 3}, {"0.1": 3, "+Inf": 3}, start=1700000500.0)],
            "idle": [before, before],
        }
    )
    started = time.monotonic()
    result = _run(
        endpoints=[
            {"name": name, "url": server.url("/health"), "metrics_url": server.url(f"/metrics?{name}")}
            for name in ("healthy", "erroring", "restarted", "idle")
        ],
        metrics_window=1.0,
        samples=1,
    )
    elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 2.0  # one window for all four, not four windows
    by_name = {e["name"]: e for e in result["endpoints"]}
    assert by_name["healthy"]["metrics"]["window_seconds"] >= 0.9
    assert by_name["healthy"]["metrics"]["error_rate_5xx"] == 1.0
    assert _finding(result, "healthy", "metrics_5xx_ratio")["status"] == "ok"
    assert _finding(result, "healthy", "metrics_latency_p95")["value"] == pytest.approx(375.0)
    erroring = _finding(result, "erroring", "metrics_5xx_ratio")
    assert (erroring["value"], erroring["status"]) == (10.0, "critical")
    assert erroring["remediation"] == hh.REMEDIATION_ERROR_RATE
    restarted = _finding(result, "restarted", "metrics_5xx_ratio")
    assert restarted["status"] == "unknown" and "process_start_time_seconds changed" in restarted["evidence"]
    assert by_name["restarted"]["metrics"]["restarted"] is True
    assert _finding(result, "idle", "metrics_latency_p95")["status"] == "unknown"
    assert "no requests" in _finding(result, "idle", "metrics_5xx_ratio")["evidence"]


def test_an_unreachable_metrics_url_is_unknown_not_a_crash(server: _Server, closed_port: int) -> None:
    result = _run(
        endpoints=[
            {"name": "app", "url": server.url("/health"), "metrics_url": f"http://127.0.0.1:{closed_port}/metrics"}
        ],
        samples=1,
    )
    assert result["endpoints"][0]["metrics"]["error"].startswith("ConnectionRefusedError")
    assert _finding(result, "app", "metrics_5xx_ratio")["status"] == "unknown"
    assert result["status"] == "unknown"


# --------------------------------------------------------------------------
# Optional paths (the runbook's /metrics and /docs)
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, status",
    [("/health", "ok"), ("/no-docs", "warn"), ("/error", "warn")],
)
def test_an_optional_path_is_judged_on_its_status_and_is_at_most_a_warning(
    server: _Server, path: str, status: str
) -> None:
    result = _run(endpoints=[{"name": f"app1 {path}", "url": server.url(path), "required": False, "samples": 1}])
    assert [(f["name"], f["status"]) for f in result["findings"]] == [("http_status", status)]
    finding = result["findings"][0]
    if status == "warn":
        assert finding["remediation"] == hh.REMEDIATION_OPTIONAL.format(path=path)
        assert "Not an outage" in finding["remediation"]
    else:
        assert finding["remediation"] is None


def test_an_unreachable_optional_path_is_a_warning_too(closed_port: int) -> None:
    result = _run(endpoints=[{"name": "app1 /docs", "url": f"http://127.0.0.1:{closed_port}/docs",
                              "required": False}])
    assert result["status"] == "warn" and "ConnectionRefusedError" in result["findings"][0]["evidence"]


def test_an_optional_path_is_never_scraped_and_cannot_ask_to_be() -> None:
    plan = hh.build_plan({"endpoints": [{"url": "http://127.0.0.1/docs", "required": False}], "metrics_window": 5})
    assert plan.endpoints[0].metrics_url is None and not plan.needs_metrics
    with pytest.raises(IncidentResponseError, match="metrics_url needs required: true"):
        hh.build_plan({"endpoints": [{"url": "http://127.0.0.1/docs", "required": False,
                                      "metrics_url": "http://127.0.0.1/metrics"}]})
