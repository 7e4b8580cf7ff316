# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests for _verdict: when ``fail_on`` turns a verdict into a failure, and what the failure says."""

from __future__ import annotations

import pytest

# tests/unit/plugins/conftest.py puts the collection on sys.path for plain pytest.
from ansible_collections.platform_eng.incident_response.plugins.module_utils._verdict import (
    failure_summary,
    reaches,
)


@pytest.mark.parametrize(
    "status, fail_on, expected",
    [
        ("critical", "none", False),
        ("critical", "critical", True),
        ("warn", "critical", False),
        ("warn", "warn", True),
        ("critical", "warn", True),
        ("unknown", "warn", False),
        ("ok", "warn", False),
    ],
)
def test_reaches(status: str, fail_on: str, expected: bool) -> None:
    assert reaches(status, fail_on) is expected


def _finding(target: str, name: str, status: str, value: float | None, unit: str | None) -> dict[str, object]:
    return {"target": target, "name": name, "status": status, "value": value, "unit": unit}


def test_failure_summary_is_one_line_naming_the_breaches() -> None:
    result = {
        "status": "critical",
        "findings": [
            _finding("app1", "http_status", "critical", None, None),
            _finding("app1", "http_error_rate", "critical", 100.0, "%"),
            _finding("app1", "http_latency_p95", "unknown", None, "ms"),
            _finding("app2", "http_status", "ok", 200, None),
        ],
    }
    summary = failure_summary(result, "critical", "HTTP health")
    assert "\n" not in summary
    assert summary == (
        "HTTP health is critical (fail_on=critical): 2 finding(s) at or above critical: "
        "app1 http_status critical (no value); app1 http_error_rate critical (100.0 %)"
    )


def test_failure_summary_names_five_breaches_and_counts_the_rest() -> None:
    findings = [_finding(f"app{i}", "http_status", "critical", 500, None) for i in range(1, 8)]
    summary = failure_summary({"status": "critical", "findings": findings}, "warn", "HTTP health")
    assert "app5 http_status critical (500)" in summary and "app6" not in summary
    assert summary.endswith(" and 2 more")
    assert ": 7 finding(s) at or above warn: " in summary
