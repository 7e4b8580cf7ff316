# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The runbook's correlations: recent deploy + errors -> rollback, CPU -> scale up, pool -> say so."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.platform_eng.incident_response.plugins.module_utils._diagnose_correlate import (
    ROLLBACK_COMMAND,
    correlate,
    parse_time,
    recent_deploys,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import Finding

NOW = datetime.datetime(2026, 11, 27, 12, 0, tzinfo=datetime.timezone.utc)


def history(version: str, minutes_ago: float, previous: str = "v1.2.3") -> dict:
    at = (NOW - datetime.timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"current": version, "entries": [
        {"version": previous, "result": "healthy", "at": "2026-11-20T10:00:00Z", "by": "irlab"},
        {"version": version, "result": "healthy", "at": at, "by": "alice"}]}


ERRORS = Finding("metrics_5xx_ratio", "app2", "critical", 31.0, 5, "%", "31 % of 812 requests")
SLOW = Finding("metrics_latency_p95", "app2", "critical", 820.0, 500, "ms", "P95 820 ms")


def test_recent_deploy_and_high_error_rate_recommend_the_rollback_command():
    extra, advice = correlate([ERRORS], {"app1": history("v1.2.3", 600), "app2": history("v1.2.4", 4)}, NOW)
    assert [a.id for a in advice] == ["rollback"]
    assert advice[0].command == ROLLBACK_COMMAND == "ansible-playbook playbooks/rollback.yml"
    assert "v1.2.4 on app2 4 min ago by alice" in advice[0].summary
    assert "31.0 %" in advice[0].evidence
    deploy = extra[0]
    assert (deploy.name, deploy.target, deploy.status, deploy.value) == ("recent_deploy", "app2", "critical", "v1.2.4")


def test_5xx_log_lines_alone_are_evidence_not_a_reason_to_roll_back():
    lines = Finding("log_matches", "logs:/aws/lambda/incident-response", "critical", 3, unit="events")
    _extra, advice = correlate([lines], {"app2": history("v1.2.4", 4)}, NOW)
    assert advice == []


def test_an_old_deploy_is_not_blamed():
    extra, advice = correlate([ERRORS], {"app2": history("v1.2.4", 31)}, NOW, deploy_window_minutes=30)
    assert extra == [] and advice == []


def test_a_recent_deploy_on_a_healthy_service_is_an_ok_note_not_a_recommendation():
    extra, advice = correlate([Finding("metrics_5xx_ratio", "app2", "ok", 0.2)], {"app2": history("v1.2.4", 2)}, NOW)
    assert advice == [] and [f.status for f in extra] == ["ok"]


def test_recent_deploy_and_high_latency_also_point_at_the_rollback():
    _extra, advice = correlate([SLOW], {"app2": history("v1.2.4", 4)}, NOW)
    assert advice[0].id == "rollback" and advice[0].command == ROLLBACK_COMMAND
    assert "High Latency" in advice[0].runbook


@pytest.mark.parametrize(("cpu", "expected"), [(80.0, []), (80.5, ["scale_up_database"]), (97.0, ["scale_up_database"])])
def test_database_cpu_above_80_percent_recommends_scaling_up(cpu, expected):
    _extra, advice = correlate([Finding("rds_cpu", "incident-response-prod", "critical", cpu, 80, "%")], {}, NOW)
    assert [a.id for a in advice] == expected


@pytest.mark.parametrize(("status", "expected"), [("ok", []), ("warn", ["connection_pool"]), ("critical", ["connection_pool"])])
def test_a_connection_pool_near_its_limit_is_named(status, expected):
    pool = Finding("connections_in_use", "10.77.2.20:5432/incident_response", status, 88.0, 80, "percent", "88 of 100")
    _extra, advice = correlate([pool], {}, NOW)
    assert [a.id for a in advice] == expected
    if advice:
        assert advice[0].severity == status and "near its limit" in advice[0].summary


def test_recommendations_come_most_urgent_first():
    pool = Finding("connections_in_use", "db", "warn", 85.0)
    cpu = Finding("rds_cpu", "db", "critical", 95.0)
    _extra, advice = correlate([pool, cpu, ERRORS], {"app2": history("v1.2.4", 1)}, NOW)
    assert [a.id for a in advice] == ["rollback", "scale_up_database", "connection_pool"]


def test_only_the_live_release_counts_and_bad_times_are_ignored():
    rolled_back = {"current": "v1.2.3", "entries": [
        {"version": "v1.2.3", "at": "2026-11-20T10:00:00Z"}, {"version": "v1.2.4", "at": "2026-11-27T11:58:00Z"}]}
    assert recent_deploys({"app1": rolled_back}, NOW, 30) == []
    assert recent_deploys({"app1": {"current": "v1", "entries": [{"version": "v1", "at": "yesterday"}]}}, NOW, 30) == []
    assert parse_time("2026-11-27T11:58:00") == datetime.datetime(2026, 11, 27, 11, 58, tzinfo=datetime.timezone.utc)
