# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The post-deploy watch against local services on 127.0.0.1 whose /metrics counters grow by
a scripted amount at every scrape, with a short interval so a whole watch takes about a second."""

from __future__ import annotations

import http.server
import threading
import time
import typing as t

import pytest

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import IncidentResponseError
from ansible_collections.platform_eng.incident_response.plugins.module_utils._watch import (
    Target,
    WatchSettings,
    watch,
)

pytest.importorskip("prometheus_client")

INTERVAL = 0.2
BOUNDS = ("0.05", "0.1", "0.25", "0.5", "1.0")
# (2xx, 5xx, seconds each request took) added to the counters before one scrape is answered
Step = tuple[int, int, float]
GOOD: Step = (100, 0, 0.02)
BAD: Step = (70, 30, 0.02)  # 30 % 5xx, the runbook's "bad release"


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: t.Any) -> None:
        pass

    def do_GET(self) -> None:
        server = t.cast("Service", self.server)
        if self.path == "/metrics":
            status, body = 200, server.next_metrics()
        elif self.path == "/health":
            status, body = server.health_status, '{"status": "ok"}'
        else:
            status, body = 404, "{}"
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class Service(http.server.ThreadingHTTPServer):
    """A sample service: each /metrics answer first applies the next scripted traffic step."""

    daemon_threads = True

    def __init__(self, name: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.name = name
        self.lock = threading.Lock()
        self.steps: list[Step] = []
        self.steady: Step = GOOD
        self.health_status = 200
        self.scrapes = 0
        self.ok = self.errors = 0
        self.buckets = dict.fromkeys(BOUNDS, 0)
        self.observed_seconds = 0.0

    def script(self, *steps: Step, then: Step = GOOD) -> Service:
        """Traffic for the baseline scrape and each sample after it; ``then`` once the script ends."""
        self.steps, self.steady = list(steps), then
        return self

    def next_metrics(self) -> str:
        with self.lock:
            ok, errors, seconds = self.steps.pop(0) if self.steps else self.steady
            self.scrapes += 1
            self.ok += ok
            self.errors += errors
            self.observed_seconds += (ok + errors) * seconds
            for bound in BOUNDS:
                if seconds <= float(bound):
                    self.buckets[bound] += ok + errors
            total = self.ok + self.errors
            lines = [
                "# TYPE http_requests_total counter",
                f'http_requests_total{{code="200"}} {self.ok}',
                f'http_requests_total{{code="500"}} {self.errors}',
                "# TYPE http_request_duration_seconds histogram",
                *(f'http_request_duration_seconds_bucket{{le="{b}"}} {n}' for b, n in self.buckets.items()),
                f'http_request_duration_seconds_bucket{{le="+Inf"}} {total}',
                f"http_request_duration_seconds_sum {self.observed_seconds}",
                f"http_request_duration_seconds_count {total}",
            ]
        return "\n".join(lines) + "\n"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def target(self, health: bool = True) -> Target:
        return Target(self.name, self.url("/metrics"), self.url("/health") if health else None)


@pytest.fixture
def service_factory() -> t.Iterator[t.Callable[[str], Service]]:
    started: list[Service] = []

    def start(name: str) -> Service:
        service = Service(name)
        # A short poll keeps shutdown() quick at teardown.
        threading.Thread(target=service.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        started.append(service)
        return service

    yield start
    for service in started:
        service.shutdown()
        service.server_close()


def settings(duration: float = 1.0, **overrides: t.Any) -> WatchSettings:
    return WatchSettings(duration=duration, interval=INTERVAL, timeout=2.0, **overrides)


def statuses(result: dict[str, t.Any], name: str) -> list[str]:
    return [sample["targets"][name]["status"] for sample in result["samples"]]


def finding(result: dict[str, t.Any], target: str, name: str) -> dict[str, t.Any]:
    [found] = [f for f in result["findings"] if f["target"] == target and f["name"] == name]
    return found


# --- Verdicts -------------------------------------------------------------------------------------


def test_healthy_traffic_is_not_a_breach_and_every_interval_is_sampled(
    service_factory: t.Callable[[str], Service]
) -> None:
    app1, app2 = service_factory("app1"), service_factory("app2")

    result = watch([app1.target(), app2.target()], settings(duration=1.0))

    assert result["breached"] is False and result["breached_targets"] == []
    assert result["status"] == "ok"
    assert len(result["samples"]) == 5  # 1.0 s / 0.2 s
    assert app1.scrapes == app2.scrapes == 6  # a baseline, then one per sample
    assert statuses(result, "app1") == statuses(result, "app2") == ["ok"] * 5
    assert all(s["targets"]["app1"]["error_rate_5xx"] == 0.0 for s in result["samples"])
    assert finding(result, "app1", "latency_p95")["value"] < 50.0
    assert result["summary"].startswith("healthy: 5 samples")
    assert 1.0 <= result["elapsed_s"] < 2.0


def test_thirty_percent_5xx_breaches_after_breach_limit_samples_and_stops_early(
    service_factory: t.Callable[[str], Service]
) -> None:
    bad, good = service_factory("app1").script(GOOD, then=BAD), service_factory("app2")
    started = time.monotonic()

    result = watch([bad.target(), good.target()], settings(duration=30.0, breach_limit=2))

    assert time.monotonic() - started < 5.0  # well under the 30 s the watch was given
    assert result["breached"] is True
    assert result["breached_targets"] == ["app1"]
    assert result["status"] == "critical"
    assert statuses(result, "app1") == ["critical", "critical"]
    assert statuses(result, "app2") == ["ok", "ok"]
    rate = finding(result, "app1", "error_rate_5xx")
    assert rate["status"] == "critical" and rate["value"] == 30.0
    assert "30 of 100 requests were 5xx" in rate["evidence"]
    assert rate["remediation"] and "rollback" in rate["remediation"]
    assert result["summary"].startswith("BREACH after")
    assert "app1 error_rate_5xx 30.0%" in result["summary"]


@pytest.mark.parametrize("breach_limit", [1, 3])
def test_the_watch_stops_after_exactly_breach_limit_critical_samples(
    service_factory: t.Callable[[str], Service], breach_limit: int
) -> None:
    bad = service_factory("app1").script(GOOD, then=BAD)

    result = watch([bad.target()], settings(duration=30.0, breach_limit=breach_limit))

    assert result["breached"] is True
    assert len(result["samples"]) == breach_limit


def test_a_single_bad_sample_followed_by_good_ones_is_a_warning_not_a_breach(
    service_factory: t.Callable[[str], Service]
) -> None:
    blip = service_factory("app1").script(GOOD, BAD, then=GOOD)

    result = watch([blip.target()], settings(duration=1.0, breach_limit=2))

    assert result["breached"] is False
    assert statuses(result, "app1") == ["critical", "ok", "ok", "ok", "ok"]
    assert result["status"] == "warn"  # worth seeing, though the last sample was fine
    assert result["summary"].startswith("healthy:")


def test_a_bad_sample_that_does_not_repeat_resets_the_streak(service_factory: t.Callable[[str], Service]) -> None:
    flapping = service_factory("app1").script(GOOD, BAD, GOOD, BAD, GOOD, then=GOOD)

    result = watch([flapping.target()], settings(duration=1.0, breach_limit=2))

    assert result["breached"] is False
    assert statuses(result, "app1") == ["critical", "ok", "critical", "ok", "ok"]


def test_slow_responses_breach_on_p95_latency(service_factory: t.Callable[[str], Service]) -> None:
    slow = service_factory("app1").script(GOOD, then=(100, 0, 0.8))

    result = watch([slow.target()], settings(duration=30.0, breach_limit=2))

    assert result["breached"] is True
    p95 = finding(result, "app1", "latency_p95")
    assert p95["status"] == "critical" and p95["value"] > 500.0


def test_an_interval_without_requests_is_unknown_not_a_breach(service_factory: t.Callable[[str], Service]) -> None:
    quiet = service_factory("app1").script(GOOD, then=(0, 0, 0.02))

    result = watch([quiet.target()], settings(duration=0.4))

    assert result["breached"] is False
    assert statuses(result, "app1") == ["unknown", "unknown"]
    assert finding(result, "app1", "error_rate_5xx")["evidence"].startswith("no requests")


# --- Unreachable endpoints are findings, not exceptions ----------------------------------------------------


@pytest.mark.parametrize("down", ["refused", "503"])
def test_a_health_endpoint_that_is_down_is_critical_and_breaches(
    service_factory: t.Callable[[str], Service], free_port_factory: t.Callable[[], int], down: str
) -> None:
    app = service_factory("app1")
    if down == "503":
        app.health_status = 503
        health_url = app.url("/health")
    else:
        health_url = f"http://127.0.0.1:{free_port_factory()}/health"

    result = watch([Target("app1", app.url("/metrics"), health_url)], settings(duration=30.0, breach_limit=2))

    assert result["breached"] is True and result["breached_targets"] == ["app1"]
    health = finding(result, "app1", "health")
    assert health["status"] == "critical"
    assert ("503" if down == "503" else "refused") in health["evidence"]
    assert finding(result, "app1", "error_rate_5xx")["status"] == "ok"  # the metrics themselves were fine


def test_an_unreachable_metrics_endpoint_is_critical_evidence_not_an_exception(
    free_port_factory: t.Callable[[], int]
) -> None:
    target = Target("app1", f"http://127.0.0.1:{free_port_factory()}/metrics")

    result = watch([target], settings(duration=30.0, breach_limit=2))

    assert result["breached"] is True
    metrics = finding(result, "app1", "metrics")
    assert metrics["status"] == "critical"
    assert "refused" in metrics["evidence"].lower()
    assert metrics["remediation"]


def test_one_unreachable_target_does_not_hide_the_verdict_on_the_others(
    service_factory: t.Callable[[str], Service], free_port_factory: t.Callable[[], int]
) -> None:
    healthy = service_factory("app2")
    dead = Target("app1", f"http://127.0.0.1:{free_port_factory()}/metrics")

    result = watch([dead, healthy.target()], settings(duration=30.0, breach_limit=2))

    assert result["breached_targets"] == ["app1"]
    assert statuses(result, "app2") == ["ok", "ok"]


# --- Settings that cannot work are refused before anything is read --------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        pytest.param(dict(duration=10, interval=0), "interval > 0", id="interval-zero"),
        pytest.param(dict(duration=10, interval=-1), "interval > 0", id="interval-negative"),
        pytest.param(dict(duration=0.1, interval=0.2), "duration >= interval", id="duration-below-interval"),
        pytest.param(dict(duration=10, interval=1, breach_limit=0), "breach_limit must be at least 1", id="breach-0"),
    ],
)
def test_settings_that_cannot_work_are_refused(kwargs: dict[str, t.Any], message: str) -> None:
    with pytest.raises(IncidentResponseError, match=message):
        WatchSettings(**kwargs)


def test_duplicate_target_names_are_refused_before_any_read(service_factory: t.Callable[[str], Service]) -> None:
    app = service_factory("app1")

    with pytest.raises(IncidentResponseError, match="target names must be unique"):
        watch([app.target(), app.target()], settings())

    assert app.scrapes == 0


def test_a_watch_without_targets_is_refused() -> None:
    with pytest.raises(IncidentResponseError, match="at least one target"):
        watch([], settings())


# --- A watch never outlives its run ---------------------------------------------------------------


def test_a_heartbeat_reason_stops_the_watch_as_unknown_never_healthy(
    service_factory: t.Callable[[str], Service]
) -> None:
    app1 = service_factory("app1")
    beats = iter([None, None, "this run no longer holds the deploy lock"])

    result = watch([app1.target()], settings(duration=5.0), heartbeat=lambda: next(beats))

    assert result["interrupted"] == "this run no longer holds the deploy lock"
    assert result["status"] == "unknown" and result["breached"] is False
    assert len(result["samples"]) == 2
    assert result["summary"].startswith("INTERRUPTED after")
    assert result["elapsed_s"] < 1.0  # stopped at the third interval, not after 5 s


def test_caller_gone_sees_a_closed_reader_and_nothing_else() -> None:
    import os

    from ansible_collections.platform_eng.incident_response.plugins.module_utils._watch import caller_gone

    read_end, write_end = os.pipe()
    try:
        assert caller_gone(write_end) is None
        os.close(read_end)
        assert "is gone" in (caller_gone(write_end) or "")
    finally:
        os.close(write_end)
