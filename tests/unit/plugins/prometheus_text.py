# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Prometheus ``/metrics`` text as the sample service writes it, for the window and HTTP health tests."""

from __future__ import annotations

# tests/unit/plugins/conftest.py puts the collection on sys.path for plain pytest.
from ansible_collections.platform_eng.incident_response.plugins.module_utils._prometheus_window import (
    MetricsSettings,
    MetricsWindow,
    metrics_window,
    parse_metrics,
)

SETTINGS = MetricsSettings()
BUCKETS_1 = {"0.1": 100, "0.25": 200, "0.5": 300, "+Inf": 300}
# +50, +90, +100, +100: P95 of the window is 375 ms, whatever the totals before it were.
BUCKETS_2 = {"0.1": 150, "0.25": 290, "0.5": 400, "+Inf": 400}


def metrics_text(codes: dict[str, float], buckets: dict[str, float], start: float = 1700000000.0) -> str:
    lines = [
        "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.",
        "# TYPE process_start_time_seconds gauge",
        f"process_start_time_seconds {start}",
        "# HELP http_requests_total Requests handled.",
        "# TYPE http_requests_total counter",
    ]
    lines += [f'http_requests_total{{code="{code}",path="/api"}} {value}' for code, value in codes.items()]
    lines += [
        "# HELP http_request_duration_seconds Request duration.",
        "# TYPE http_request_duration_seconds histogram",
    ]
    lines += [f'http_request_duration_seconds_bucket{{le="{le}",path="/api"}} {v}' for le, v in buckets.items()]
    lines += [f'http_request_duration_seconds_count{{path="/api"}} {buckets.get("+Inf", 0)}']
    return "\n".join(lines) + "\n"


def window_between(first: str, second: str, seconds: float = 10.0) -> MetricsWindow:
    """The window between two scrapes of ``first`` and ``second``, ``seconds`` apart."""
    return metrics_window(
        parse_metrics(first, SETTINGS, 100.0), parse_metrics(second, SETTINGS, 100.0 + seconds), SETTINGS
    )
