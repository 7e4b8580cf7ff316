# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The module as Ansible runs it: arguments in, one JSON document out."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import typing as t

import pytest

from ansible_collections.platform_eng.incident_response.plugins.modules import http_health_info

# tests/unit/plugins/conftest.py puts the collection on sys.path for plain pytest.
from ansible_collections.platform_eng.incident_response.tests.unit.plugins.module_runner import run_module


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: t.Any) -> None:
        pass

    def do_GET(self) -> None:
        t.cast("_Server", self.server).requests += 1
        # Echo the Authorization header back, to prove the module masks it on the way out.
        body = json.dumps({"status": "ok", "seen": self.headers.get("Authorization", "")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    requests = 0


@pytest.fixture(scope="module")
def health_url() -> t.Iterator[str]:
    server = _Server(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/health"
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/health"


def test_healthy_endpoint_exits_unchanged_with_findings(capsys: pytest.CaptureFixture[str], health_url: str) -> None:
    result = run_module(
        capsys, http_health_info,
        {
            "endpoints": [{"name": "app1", "url": health_url}],
            "json_assertions": ['status == "ok"'],
            "samples": 2,
            "_ansible_check_mode": True,
        },
    )
    assert result["changed"] is False and "failed" not in result
    assert result["status"] == "ok"
    assert result["counts"] == {"ok": 4, "unknown": 0, "warn": 0, "critical": 0}
    assert [f["name"] for f in result["findings"]] == [
        "http_status",
        "http_error_rate",
        "http_latency_p95",
        "http_json_assertions",
    ]
    endpoint = result["endpoints"][0]
    assert endpoint["status_codes"] == {"200": 2} and endpoint["latency_ms"]["p95"] is not None
    assert result["elapsed_ms"] > 0


def test_unreachable_endpoint_is_reported_not_failed_by_default(
    capsys: pytest.CaptureFixture[str], closed_url: str
) -> None:
    result = run_module(capsys, http_health_info, {"endpoints": [{"name": "app2", "url": closed_url}], "samples": 1})
    assert "failed" not in result and result["changed"] is False
    assert result["status"] == "critical"
    assert "ConnectionRefusedError" in result["findings"][0]["evidence"]


@pytest.mark.parametrize("fail_on, failed", [("critical", True), ("warn", True), ("none", False)])
def test_fail_on_fails_with_a_summary_and_keeps_the_data(
    capsys: pytest.CaptureFixture[str], health_url: str, closed_url: str, fail_on: str, failed: bool
) -> None:
    result = run_module(
        capsys, http_health_info,
        {
            "endpoints": [{"name": "app1", "url": health_url}, {"name": "app2", "url": closed_url}],
            "samples": 1,
            "fail_on": fail_on,
        },
    )
    assert result.get("failed", False) is failed
    assert result["changed"] is False
    assert [e["name"] for e in result["endpoints"]] == ["app1", "app2"]
    if failed:
        assert "\n" not in result["msg"]
        # Unreachable: no status code and every sample failed; the unknown latency is below either fail_on.
        assert result["msg"] == (
            f"HTTP health is critical (fail_on={fail_on}): 2 finding(s) at or above {fail_on}: "
            "app2 http_status critical (no value); app2 http_error_rate critical (100.0 %)"
        )


def test_bad_assertion_fails_before_any_request(capsys: pytest.CaptureFixture[str], health_url: str) -> None:
    before = _Server.requests
    result = run_module(capsys, http_health_info, {"endpoints": [{"url": health_url, "json_assertions": ["status = 'ok'"]}]})
    assert result["failed"] is True
    assert "invalid json_assertions entry \"status = 'ok'\": unexpected character '=' at column 8" in result["msg"]
    assert _Server.requests == before


def test_secret_headers_never_show_in_the_result(capsys: pytest.CaptureFixture[str], health_url: str) -> None:
    result = run_module(
        capsys, http_health_info,
        {
            "endpoints": [{"url": health_url}],
            "secret_headers": {"Authorization": "Bearer s3cr3t-t0ken"},
            "samples": 1,
        },
    )
    assert result["status"] == "ok"
    assert "s3cr3t-t0ken" not in json.dumps(result)
    assert "********" in result["endpoints"][0]["body_excerpt"]


def test_secret_looking_plain_headers_draw_a_warning(capsys: pytest.CaptureFixture[str], health_url: str) -> None:
    result = run_module(capsys, http_health_info, {"endpoints": [{"url": health_url}], "headers": {"X-Api-Key": "k"}, "samples": 1})
    # ansible-core 2.19 returns warnings as structured events; the text is inside.
    assert "Header X-Api-Key looks like a credential" in json.dumps(result["warnings"])


def test_missing_prometheus_client_only_matters_when_metrics_are_asked_for(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, health_url: str
) -> None:
    monkeypatch.setattr(http_health_info, "PROMETHEUS_IMPORT_ERROR", "ImportError: No module named 'prometheus_client'")
    without = run_module(capsys, http_health_info, {"endpoints": [{"url": health_url}], "samples": 1})
    assert "failed" not in without
    with_metrics = run_module(capsys, http_health_info, {"endpoints": [{"url": health_url}], "samples": 1, "metrics_window": 1})
    assert with_metrics["failed"] is True
    assert "The Python library prometheus_client is not installed" in with_metrics["msg"]
    assert "needed to read /metrics" in with_metrics["msg"]
    assert "platform_eng.incident_response.prerequisites role" in with_metrics["msg"]


def test_a_missing_optional_path_warns_and_fail_on_critical_lets_it_pass(
    capsys: pytest.CaptureFixture[str], health_url: str, closed_url: str
) -> None:
    result = run_module(
        capsys, http_health_info,
        {
            "endpoints": [
                {"name": "app1", "url": health_url},
                {"name": "app1 /docs", "url": closed_url.replace("/health", "/docs"), "required": False},
            ],
            "fail_on": "critical",
        },
    )
    assert "failed" not in result and result["status"] == "warn"
    docs = [f for f in result["findings"] if f["target"] == "app1 /docs"]
    assert [(f["name"], f["status"]) for f in docs] == [("http_status", "warn")]
    assert "not on /docs" in docs[0]["remediation"]
