# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests for _verdict: when ``fail_on`` turns a verdict into a failure, and what the failure says."""

from __future__ import annotations

import pytest

# tests/unit/plugins/conftest.py puts the collection on sys.path for plain pytest.
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    Finding,
    IncidentResponseError,
    summarize,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._verdict import (
    failure_summary,
    reaches,
    run_check,
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


class _Exit(Exception):
    """Raised by the fake module so a test sees how the module ended."""

    def __init__(self, how: str, kwargs: dict):
        super().__init__(how)
        self.how = how
        self.kwargs = kwargs


class _FakeModule:
    def __init__(self, fail_on: str = "none"):
        self.params = {"fail_on": fail_on}

    def fail_json(self, **kwargs):
        raise _Exit("fail", kwargs)

    def exit_json(self, **kwargs):
        raise _Exit("exit", kwargs)


def _critical_result(params):
    return summarize([Finding("http_status", "app2", "critical", None, None, None, "Connection refused")])


@pytest.mark.parametrize("fail_on, how", [("none", "exit"), ("warn", "fail"), ("critical", "fail")])
def test_run_check_turns_a_critical_verdict_into_a_failure_only_when_asked(fail_on, how):
    with pytest.raises(_Exit) as ended:
        run_check(_FakeModule(fail_on), _critical_result, "HTTP health")
    assert ended.value.how == how
    assert ended.value.kwargs["changed"] is False
    assert ended.value.kwargs["status"] == "critical"
    if how == "fail":
        assert ended.value.kwargs["msg"].startswith("HTTP health is critical")


def test_run_check_reports_bad_input_as_a_plain_failure():
    def refuse(params):
        raise IncidentResponseError("endpoints[0].url must start with http:// or https://")

    with pytest.raises(_Exit) as ended:
        run_check(_FakeModule(), refuse, "HTTP health")
    assert ended.value.how == "fail"
    assert ended.value.kwargs == {"msg": "endpoints[0].url must start with http:// or https://"}


def test_run_check_can_name_the_subject_from_the_result():
    with pytest.raises(_Exit) as ended:
        run_check(_FakeModule("critical"), _critical_result, lambda result: f"{result['counts']['critical']} target(s)")
    assert ended.value.kwargs["msg"].startswith("1 target(s) is critical")
