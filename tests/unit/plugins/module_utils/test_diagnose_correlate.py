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
    pool = Finding("connections_in_use", "10.77.2.250:5432/incident_response", status, 88.0, 80, "percent", "88 of 100")
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


# --- ranking: a dead dependency outranks a recent deploy -------------------------------------------

DB_REFUSED = ("postgres", Finding("connection", "10.77.2.250:5432/incident_response", "critical",
                                  evidence="OperationalError: connection refused"))
CACHE_REFUSED = ("redis", Finding("connection", "10.77.2.250:6379", "critical",
                                  evidence="ConnectionError: Error 111 connecting to 10.77.2.250:6379"))
CACHE_OK = ("redis", Finding("connection", "10.77.2.250:6379", "ok", "7.0.15"))
DB_OK = ("postgres", Finding("connection", "10.77.2.250:5432/incident_response", "ok", 150000))
RECENT = {"app2": history("v1.2.4", 1)}


def test_dead_database_plus_recent_deploy_plus_high_5xx_puts_the_database_first_and_never_rolls_back():
    extra, advice = correlate([DB_REFUSED, ("http", ERRORS)], RECENT, NOW)
    assert [a.id for a in advice] == ["database_down"]
    assert "connection refused" in advice[0].evidence and advice[0].command is None
    deploy = extra[0]
    assert deploy.status == "warn" and "cannot bring the database back" in deploy.remediation


def test_healthy_database_plus_recent_deploy_plus_high_5xx_rolls_back_first():
    extra, advice = correlate([DB_OK, CACHE_OK, ("http", ERRORS)], RECENT, NOW)
    assert [a.id for a in advice] == ["rollback"] and advice[0].severity == "critical"
    assert extra[0].status == "critical" and extra[0].remediation == "If recent deployment, rollback immediately"


def test_the_database_unreachable_from_the_app_hosts_is_as_dead_as_a_stopped_one():
    seen = ("service_start", Finding("dependency_reachable", "app1 -> database 10.77.2.250:5432", "critical",
                                     evidence="TCP connect to 10.77.2.250:5432 failed: [Errno 111] refused"))
    _extra, advice = correlate([seen, ("http", ERRORS)], RECENT, NOW)
    assert [a.id for a in advice] == ["database_down"]


def test_cache_down_alone_names_the_cache():
    extra, advice = correlate([CACHE_REFUSED, DB_OK], {}, NOW)
    assert [a.id for a in advice] == ["cache_down"] and extra == []
    assert "10.77.2.250:6379" in advice[0].evidence


def test_cache_down_with_a_recent_bad_deploy_names_the_cache_first_and_the_rollback_second():
    extra, advice = correlate([CACHE_REFUSED, DB_OK, ("http", ERRORS)], RECENT, NOW)
    assert [a.id for a in advice] == ["cache_down", "rollback"]
    assert advice[1].severity == "warn" and "once the cache is back" in advice[1].summary
    assert extra[0].status == "warn"


def test_both_dependencies_dead_name_both_database_first():
    _extra, advice = correlate([CACHE_REFUSED, DB_REFUSED, ("http", ERRORS)], RECENT, NOW)
    assert [a.id for a in advice] == ["database_down", "cache_down"]


def test_a_connection_finding_without_its_source_is_not_guessed_at():
    _extra, advice = correlate([DB_REFUSED[1], ERRORS], RECENT, NOW)
    assert [a.id for a in advice] == ["rollback"]


def test_pool_exhaustion_is_not_a_dead_database_and_the_rollback_stays_first():
    full = ("postgres", Finding("connection", "10.77.2.250:5432/incident_response", "critical",
                                evidence="OperationalError: FATAL: sorry, too many clients already"))
    _extra, advice = correlate([full, ("http", ERRORS)], RECENT, NOW)
    assert [a.id for a in advice] == ["rollback", "connection_pool"]
    assert advice[1].severity == "critical" and "too many clients" in advice[1].evidence


def test_pool_near_its_limit_with_a_live_database_keeps_the_rollback_first():
    pool = ("postgres", Finding("connections_in_use", "10.77.2.250:5432/incident_response", "critical", 96.0, 80,
                                "percent"))
    _extra, advice = correlate([DB_OK, pool, ("http", ERRORS)], RECENT, NOW)
    assert [a.id for a in advice] == ["rollback", "connection_pool"]


def test_an_unknown_connection_proves_nothing():
    unknown = ("postgres", Finding("connection", "10.77.2.250:5432/incident_response", "unknown"))
    _extra, advice = correlate([unknown, ("http", ERRORS)], RECENT, NOW)
    assert [a.id for a in advice] == ["rollback"]


def test_a_database_nobody_could_check_is_said_in_the_rollback():
    lost = ("postgres", Finding("host_unreachable", "postgres on bastion", "unknown",
                                evidence="could not check bastion: ..."))
    _extra, advice = correlate([lost, ("http", ERRORS)], RECENT, NOW)
    assert [a.id for a in advice] == ["rollback"]
    assert "the database could not be checked: confirm it is up first" in advice[0].summary
    _extra, advice = correlate([DB_OK, ("http", ERRORS)], RECENT, NOW)
    assert "could not be checked" not in advice[0].summary


# --- the queue and the cache ---------------------------------------------------------------------------------

DLQ_ARN = "arn:aws:sqs:us-east-1:123456789012:incident-response-jobs-dlq"
QUEUE = "sqs:incident-response-jobs"


def queue(depth: str = "ok", age: str = "ok", dead: int = 0) -> list[Finding]:
    return [
        Finding("sqs_depth", QUEUE, depth, 1500 if depth != "ok" else 3, {"warn": 1000, "critical": 10000}, "messages"),
        Finding("sqs_oldest_age", QUEUE, age, 1380.0 if age != "ok" else 20.0, {"warn": 300, "critical": 900}, "s",
                "oldest message 23:00 old"),
        Finding("sqs_dlq_depth", QUEUE, "warn" if dead else "ok", dead, {"warn": 0, "critical": 100}, "messages",
                f"{dead} messages in the dead-letter queue incident-response-jobs-dlq ({DLQ_ARN})"),
    ]


@pytest.mark.parametrize(("depth", "age", "dead", "expected"), [
    ("ok", "ok", 0, []),
    ("warn", "ok", 0, [("queue_backlog", "warn")]),
    ("ok", "critical", 0, [("queue_backlog", "critical")]),
    ("warn", "critical", 3, [("queue_backlog", "critical")]),
    ("ok", "ok", 3, [("dead_letters", "warn")]),
])
def test_a_backlog_and_dead_letters_are_one_cause_per_queue(depth, age, dead, expected):
    _extra, advice = correlate(queue(depth, age, dead), {}, NOW)
    assert [(a.id, a.severity) for a in advice] == expected


def test_a_stuck_queue_with_dead_letters_says_both_and_gives_the_redrive_command():
    _extra, advice = correlate(queue("warn", "critical", 3), {}, NOW)
    assert "incident-response-jobs is backing up and 3 messages are in its dead-letter queue" in advice[0].summary
    assert advice[0].command == f"aws sqs start-message-move-task --source-arn {DLQ_ARN}"
    assert "sqs_oldest_age 1380.0 s" in advice[0].evidence


def test_a_queue_without_a_dead_letter_queue_is_not_dead_letters():
    no_dlq = Finding("sqs_dlq_depth", QUEUE, "warn", None, {"warn": 0}, "messages", "no dead-letter queue")
    _extra, advice = correlate([no_dlq], {}, NOW)
    assert advice == []


def test_a_bad_release_comes_before_the_queue_it_jams():
    _extra, advice = correlate([ERRORS, *queue("critical", "critical", 3)], {"app2": history("v1.2.4", 4)}, NOW)
    assert [a.id for a in advice] == ["rollback", "queue_backlog"]


def test_a_cache_aws_says_is_down_is_a_dead_cache():
    deleting = Finding("elasticache_status", "elasticache:incident-response-cache", "critical", "deleting")
    _extra, advice = correlate([("elasticache", deleting)], {}, NOW)
    assert [a.id for a in advice] == ["cache_down"] and "elasticache:incident-response-cache" in advice[0].evidence


@pytest.mark.parametrize(("status", "expected"), [("ok", []), ("unknown", []), ("warn", [("cache_memory", "warn")]),
                                                  ("critical", [("cache_memory", "critical")])])
def test_a_cache_near_its_node_memory_recommends_scaling_it_up(status, expected):
    memory = Finding("elasticache_memory", "elasticache:incident-response-cache", status, 91.0, None,
                     "% of node memory", "used_memory 466 MiB of a cache.t3.micro node")
    _extra, advice = correlate([memory], {}, NOW)
    assert [(a.id, a.severity) for a in advice] == expected
