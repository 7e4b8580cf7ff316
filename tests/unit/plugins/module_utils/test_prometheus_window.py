# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests for _prometheus_window: histogram quantiles and the deltas between two scrapes."""

from __future__ import annotations

import math

import pytest

from ansible_collections.platform_eng.incident_response.plugins.module_utils import (
    _prometheus_window as pw,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)
from ansible_collections.platform_eng.incident_response.tests.unit.plugins.prometheus_text import BUCKETS_1, BUCKETS_2, SETTINGS, metrics_text, window_between

INF = math.inf

# --------------------------------------------------------------------------
# histogram_quantile, as Prometheus computes it
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "q, buckets, expected",
    [
        # rank 95 of 100 falls in (0.25, 0.5] holding 10: 5/10 of the way.
        (0.95, [(0.1, 50), (0.25, 90), (0.5, 100), (INF, 100)], 0.375),
        # rank 50 is the top of the first bucket, which starts at 0.
        (0.5, [(0.1, 50), (0.25, 90), (0.5, 100), (INF, 100)], 0.1),
        (0.25, [(0.1, 50), (0.25, 90), (0.5, 100), (INF, 100)], 0.05),
        # order of the input does not matter
        (0.95, [(INF, 100), (0.5, 100), (0.1, 50), (0.25, 90)], 0.375),
        # rank in the +Inf bucket: the highest finite bound, as Prometheus does
        (0.95, [(0.1, 10), (0.5, 20), (INF, 100)], 0.5),
        # non-monotonic buckets (non-atomic scrape) are repaired, not trusted
        (0.5, [(0.1, 60), (0.25, 55), (INF, 100)], 0.1 * 50 / 60),
        # nothing observed, no +Inf bucket, or a lone bucket: nothing to estimate
        (0.95, [(0.1, 0), (INF, 0)], None),
        (0.95, [(0.1, 5), (0.5, 10)], None),
        (0.95, [(INF, 10)], None),
    ],
)
def test_histogram_quantile_matches_prometheus(
    q: float, buckets: list[tuple[float, float]], expected: float | None
) -> None:
    result = pw.histogram_quantile(q, buckets)
    assert result == (None if expected is None else pytest.approx(expected))


def test_histogram_quantile_rejects_a_quantile_outside_0_1() -> None:
    with pytest.raises(ValueError):
        pw.histogram_quantile(95, [(0.1, 1), (INF, 1)])


# --------------------------------------------------------------------------
# Deltas between two scrapes
# --------------------------------------------------------------------------


def test_window_computes_5xx_ratio_and_p95_from_deltas() -> None:
    window = window_between(
        metrics_text({"200": 1000, "500": 40}, BUCKETS_1),
        metrics_text({"200": 1090, "500": 50}, BUCKETS_2),
    )
    assert (window.requests, window.requests_5xx, window.error_rate_5xx) == (100, 10, 10.0)
    assert window.latency_p95_ms == pytest.approx(375.0)
    assert window.observations == 100
    assert window.window_seconds == 10.0
    assert not window.restarted


def test_window_counts_a_series_that_appears_mid_window_from_zero() -> None:
    window = window_between(metrics_text({"200": 95}, BUCKETS_1), metrics_text({"200": 190, "503": 5}, BUCKETS_2))
    assert (window.requests, window.requests_5xx, window.error_rate_5xx) == (100, 5, 5.0)


@pytest.mark.parametrize(
    "before, after",
    [
        # the counter went down: the process restarted between the scrapes
        (({"200": 1000, "500": 40}, BUCKETS_1, 1.0), ({"200": 12, "500": 0}, {"0.1": 5, "+Inf": 12}, 1.0)),
        # counters look plausible, but the process start time moved
        (({"200": 10}, BUCKETS_1, 1.0), ({"200": 5000}, {"0.1": 5000, "+Inf": 5000}, 2.0)),
        # a series vanished: live processes do not drop counters
        (({"200": 10, "500": 2}, BUCKETS_1, 1.0), ({"200": 20}, BUCKETS_2, 1.0)),
    ],
)
def test_counter_reset_gives_no_rate_and_says_why(before: tuple, after: tuple) -> None:
    window = window_between(metrics_text(before[0], before[1], before[2]), metrics_text(after[0], after[1], after[2]))
    assert window.restarted
    assert window.error_rate_5xx is None and window.latency_p95_ms is None
    assert "counter reset" in window.error_rate_reason
    assert window.latency_reason == window.error_rate_reason


def test_no_traffic_in_the_window_gives_no_rate_and_says_why() -> None:
    text = metrics_text({"200": 1000, "500": 40}, BUCKETS_1)
    window = window_between(text, text)
    assert window.requests == 0 and window.error_rate_5xx is None and window.latency_p95_ms is None
    assert "no requests" in window.error_rate_reason and "no observations" in window.latency_reason


def test_missing_metrics_are_named() -> None:
    window = window_between("up 1\n", "up 1\n")
    assert window.error_rate_reason == "metric http_requests_total not found"
    assert window.latency_reason == "histogram http_request_duration_seconds not found"


def test_metric_and_label_names_are_options() -> None:
    settings = pw.MetricsSettings(requests_metric="api_requests", code_label="status", duration_metric="api_latency")
    first = '# TYPE api_requests counter\napi_requests_total{status="200"} 10\napi_requests_total{status="502"} 0\n'
    second = '# TYPE api_requests counter\napi_requests_total{status="200"} 17\napi_requests_total{status="502"} 3\n'
    window = pw.metrics_window(pw.parse_metrics(first, settings), pw.parse_metrics(second, settings, 5), settings)
    assert window.error_rate_5xx == pytest.approx(30.0)


def test_unparsable_metrics_text_is_a_clear_error() -> None:
    with pytest.raises(IncidentResponseError, match="unparsable Prometheus text"):
        pw.parse_metrics('http_requests_total{code="200" 1\n', SETTINGS)
