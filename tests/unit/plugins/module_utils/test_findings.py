# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""_findings: the one result shape, its ranking, the comparisons at their boundaries, the threshold rules."""

from __future__ import annotations

import dataclasses

import pytest

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    CRITICAL,
    OK,
    UNKNOWN,
    WARN,
    Finding,
    IncidentResponseError,
    compare,
    compare_low,
    rated_finding,
    summarize,
    threshold_values,
    worst_status,
)


def test_a_finding_has_the_shared_shape_and_refuses_an_unknown_status() -> None:
    assert list(Finding("n", "t", OK).as_dict()) == ["name", "target", "status", "value", "threshold", "unit",
                                                     "evidence", "remediation"]
    with pytest.raises(ValueError, match="unknown finding status 'bad'"):
        Finding("n", "t", "bad")


@pytest.mark.parametrize(("statuses", "worst"), [
    ([], OK), ([OK, OK], OK), ([OK, UNKNOWN], UNKNOWN), ([UNKNOWN, WARN], WARN), ([WARN, CRITICAL, UNKNOWN], CRITICAL),
])
def test_the_worst_status_wins_and_unknown_ranks_below_a_measured_problem(statuses, worst) -> None:
    assert worst_status(statuses) == worst


@pytest.mark.parametrize(("value", "status"), [(None, UNKNOWN), (5.0, OK), (5.01, WARN), (10.0, WARN), (10.01, CRITICAL)])
def test_compare_passes_a_value_equal_to_a_threshold(value, status) -> None:
    assert compare(value, 5.0, 10.0) == status


@pytest.mark.parametrize(("value", "status"), [(None, UNKNOWN), (80.0, OK), (79.9, WARN), (50.0, WARN), (49.9, CRITICAL)])
def test_compare_low_passes_a_value_equal_to_a_threshold(value, status) -> None:
    assert compare_low(value, 80.0, 50.0) == status


def test_compare_without_levels_is_ok_and_with_one_level_judges_only_that() -> None:
    assert compare(1e9) == OK and compare(11, critical=10) == CRITICAL and compare_low(1, warn=2) == WARN


def test_a_rated_finding_carries_its_levels_and_the_remediation_only_when_not_ok() -> None:
    ok = rated_finding("cpu", "db", 10.0, 70.0, 80.0, "%", "10 %", "Scale up")
    bad = rated_finding("cpu", "db", 81.0, 70.0, 80.0, "%", "81 %", "Scale up")
    assert (ok.status, ok.threshold, ok.remediation) == (OK, {"warn": 70.0, "critical": 80.0}, None)
    assert (bad.status, bad.remediation) == (CRITICAL, "Scale up")
    assert rated_finding("cpu", "db", None, 70.0, 80.0, "%", "no data", "Scale up").remediation is None


def test_summarize_counts_every_status_and_keeps_dicts_as_they_are() -> None:
    result = summarize([Finding("a", "t", WARN), {"name": "b", "target": "t", "status": OK}])
    assert result["status"] == WARN and result["counts"] == {OK: 1, UNKNOWN: 0, WARN: 1, CRITICAL: 0}
    assert result["findings"][1] == {"name": "b", "target": "t", "status": OK}


@dataclasses.dataclass(frozen=True)
class Levels:
    depth_warn: float | None = 10
    depth_critical: float | None = 100
    hit_warn: float | None = 80
    hit_critical: float | None = 50
    minimum: float | None = 1


def levels(**params) -> dict:
    return threshold_values(Levels, params, pairs=(("depth_warn", "depth_critical"),),
                            low_pairs=(("hit_warn", "hit_critical"),), required=("minimum",))


def test_threshold_values_keep_defaults_as_numbers_and_let_null_disable_a_level() -> None:
    assert levels() == {"depth_warn": 10.0, "depth_critical": 100.0, "hit_warn": 80.0, "hit_critical": 50.0,
                        "minimum": 1.0}
    assert levels(depth_critical=None, depth_warn="20")["depth_critical"] is None
    assert levels(depth_critical=None, depth_warn="20")["depth_warn"] == 20.0


@pytest.mark.parametrize(("params", "message"), [
    ({"depth_warn": -1}, "depth_warn must not be negative, got -1"),
    ({"depth_warn": 101}, r"depth_warn \(101\) is above depth_critical \(100\)"),
    ({"hit_warn": 40}, r"hit_warn \(40\) is below hit_critical \(50\)"),
    ({"minimum": None}, "minimum needs a number"),
])
def test_threshold_values_refuse_what_cannot_be_judged(params, message) -> None:
    with pytest.raises(IncidentResponseError, match=message):
        levels(**params)


def test_equal_levels_are_allowed() -> None:
    assert levels(depth_warn=100, hit_warn=50)["depth_warn"] == 100.0
