# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Diagnosis and the deploy watch reading a real Prometheus (127.0.0.1) that scrapes two stand-in services.

One service answers 1 % 5xx and fast, the other 30 % 5xx with a tenth of its requests at 600 ms, so the P95
falls in the (0.5, 0.75] bucket: 0.5 + 0.25 * (95 - 90) / 10 = 625 ms. The findings must have the shape and
verdicts the /metrics scrapes give.
"""

from __future__ import annotations

import time

import pytest

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _http_health as hh
from ansible_collections.platform_eng.incident_response.plugins.module_utils import _prometheus_query as pq
from ansible_collections.platform_eng.incident_response.plugins.module_utils import _watch
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)
from ansible_collections.platform_eng.incident_response.tests.unit.plugins.monitoring_servers import Prometheus, StandInService, free_port, wait_until

WINDOW = "6s"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    good = StandInService(errors=0.01)
    bad = StandInService(errors=0.30, slow=0.10)
    prometheus = Prometheus(tmp_path_factory.mktemp("prometheus"), [good.address, bad.address])
    try:
        # A full window of scrapes of both targets.
        wait_until(lambda: len(prometheus.query(f"count_over_time(up[{WINDOW}]) >= 5")) == 2, 40,
                   "two targets with a window of scrapes")
        yield prometheus, good, bad
    finally:
        prometheus.stop()
        good.stop()
        bad.stop()


def source(prometheus, **kwargs) -> pq.PrometheusSource:
    return pq.PrometheusSource(prometheus.url, kwargs.pop("window", WINDOW), **kwargs)


def test_the_window_per_instance_from_promql(world):
    prometheus, good, bad = world
    found = pq.windows(source(prometheus, selector='job="incident-response"'), [good.address, bad.address])
    assert found[good.address].error_rate_5xx == pytest.approx(1.0, abs=0.3)
    assert found[bad.address].error_rate_5xx == pytest.approx(30.0, abs=2)
    assert found[bad.address].requests > 1000 and found[bad.address].origin == "Prometheus"
    assert found[bad.address].latency_p95_ms == pytest.approx(625.0, abs=15)
    assert found[good.address].latency_p95_ms == pytest.approx(48.75, abs=2)
    assert found[good.address].window_seconds == 6


def test_an_instance_prometheus_does_not_scrape_is_said_not_guessed(world):
    prometheus, _good, _bad = world
    found = pq.windows(source(prometheus), ["10.77.2.99:8080"])["10.77.2.99:8080"]
    assert found.error_rate_5xx is None
    assert "Prometheus has no target with this instance" in found.error_rate_reason
    assert "not found" in found.latency_reason


def test_http_health_info_with_prometheus_gives_the_scrape_findings_without_sleeping(world):
    prometheus, good, bad = world
    params = {"endpoints": [{"name": "good", "url": f"http://{good.address}/health"},
                            {"name": "bad", "url": f"http://{bad.address}/health"}],
              "samples": 2, "metrics_window": 30, "prometheus_url": prometheus.url, "prometheus_window": WINDOW,
              "prometheus_selector": 'job="incident-response"'}
    started = time.monotonic()
    result = hh.check_http_health(hh.build_plan(params))
    assert time.monotonic() - started < 5, "with Prometheus there is no window to sleep through"

    by = {(f["target"], f["name"]): f for f in result["findings"]}
    assert by[("good", "metrics_5xx_ratio")]["status"] == "ok"
    assert by[("bad", "metrics_5xx_ratio")]["status"] == "critical"
    assert by[("bad", "metrics_latency_p95")]["status"] == "critical"
    assert "(Prometheus)" in by[("bad", "metrics_5xx_ratio")]["evidence"]
    assert by[("bad", "metrics_5xx_ratio")]["remediation"].startswith("Runbook 'High Error Rate'")
    assert result["endpoints"][1]["metrics"]["url"] == prometheus.url
    # The same finding names and keys as the /metrics scrapes.
    scraped = hh.check_http_health(hh.build_plan({**params, "prometheus_url": None, "metrics_window": 1}))
    assert sorted((f["target"], f["name"]) for f in scraped["findings"]) == sorted(by)
    assert {tuple(sorted(f)) for f in scraped["findings"]} == {tuple(sorted(f)) for f in result["findings"]}


def test_prometheus_down_is_an_unknown_finding_not_a_crash(world):
    _prometheus, good, _bad = world
    dead = f"http://127.0.0.1:{free_port()}"
    result = hh.check_http_health(hh.build_plan({"endpoints": [{"name": "good", "url": f"http://{good.address}/"}],
                                                 "samples": 1, "prometheus_url": dead}))
    metrics = [f for f in result["findings"] if f["name"].startswith("metrics_")]
    assert [f["status"] for f in metrics] == ["unknown", "unknown"]
    assert f"Prometheus at {dead} did not answer the query" in metrics[0]["evidence"]


def test_a_query_prometheus_refuses_says_why(world):
    prometheus, _good, _bad = world
    with pytest.raises(IncidentResponseError, match="refused the query: bad_data"):
        pq.query(source(prometheus), "sum(")


@pytest.mark.parametrize("kwargs, problem", [
    ({"url": "ftp://x"}, "http:// or https://"),
    ({"url": "http://user:pw@x:9090"}, "credentials"),
    ({"url": "http://x:9090", "window": "five minutes"}, "Prometheus duration"),
    ({"url": "http://x:9090", "selector": 'job="x"}) or vector(1'}, "label matchers"),
])
def test_a_bad_source_is_refused_before_any_query(kwargs, problem):
    with pytest.raises(IncidentResponseError, match=problem):
        pq.PrometheusSource(**kwargs)


def test_the_instance_of_a_url_is_its_host_and_port():
    assert pq.instance_of("http://10.77.2.11:8080/health") == "10.77.2.11:8080"
    assert pq.instance_of("https://app.example.com/metrics") == "app.example.com:443"


def test_the_watch_judges_its_first_sample_from_prometheus_and_breaches(world):
    prometheus, good, bad = world
    settings = _watch.WatchSettings(duration=10, interval=1, breach_limit=2,
                                    prometheus=source(prometheus, window="3s"))
    targets = [_watch.Target("good", f"http://{good.address}/metrics", f"http://{good.address}/health"),
               _watch.Target("bad", f"http://{bad.address}/metrics")]
    result = _watch.watch(targets, settings)
    assert result["breached_targets"] == ["bad"]
    assert len(result["samples"]) == 2, "no first sample is spent waiting for a second scrape"
    assert result["samples"][0]["targets"]["bad"]["status"] == "critical"
    assert result["prometheus_fallback"] is None


def test_the_watch_reads_metrics_itself_when_prometheus_goes_away(world):
    _prometheus, _good, bad = world
    dead = pq.PrometheusSource(f"http://127.0.0.1:{free_port()}", "3s")
    settings = _watch.WatchSettings(duration=10, interval=1, breach_limit=2, prometheus=dead)
    result = _watch.watch([_watch.Target("bad", f"http://{bad.address}/metrics")], settings)
    assert result["breached"], "Prometheus gone must not make a bad release look healthy"
    assert "did not answer the query" in result["prometheus_fallback"]
