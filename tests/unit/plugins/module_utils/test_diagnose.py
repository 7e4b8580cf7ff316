# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""From registered check results to the report on disk."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _diagnose
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import IncidentResponseError

NOW = datetime.datetime(2026, 11, 27, 3, 0, tzinfo=datetime.timezone.utc)


def result(*findings: tuple[str, str, str]) -> dict:
    return {"changed": False, "findings": [{"name": n, "target": t, "status": s} for n, t, s in findings]}


def params(**extra):
    return {"alert": "high_error_rate", "started_epoch": NOW.timestamp() - 12, "fail_on": "none", "results": [
        {"source": "http", "host": "bastion", "result": result(("metrics_5xx_ratio", "app2", "critical")),
         "seconds": 11.2},
        {"source": "release_history", "host": "app2", "result": {
            "current": "v1.2.4", "entries": [{"version": "v1.2.4", "at": "2026-11-27T02:55:00Z"}]}},
        {"source": "postgres", "host": "bastion", "result": {"failed": True, "msg": "Missing psycopg2"}},
        {"source": "k8s", "host": "localhost", "result": {"finished": 0}},
        {"source": "redis", "host": "bastion", "result": {"unreachable": True, "msg": "ssh: connect to host"}},
    ], **extra}


def test_failed_and_unfinished_checks_are_could_not_check_findings():
    report = _diagnose.diagnose(params(), NOW)["report"]
    unknown = {(r["target"], r["check"]): r["evidence"] for r in report["findings"]["unknown"]}
    assert unknown[("postgres on bastion", "check_failed")] == "could not check bastion: postgres failed: Missing psycopg2"
    assert unknown[("k8s on localhost", "check_incomplete")].startswith("could not check localhost: k8s did not finish")
    assert unknown[("redis on bastion", "host_unreachable")] == (
        "could not check bastion: redis did not run, the host is unreachable: ssh: connect to host")
    assert "3 could not be checked" in report["verdict"]["headline"]


def test_an_unreachable_hosts_release_history_is_a_could_not_check_finding_not_silence():
    unreachable = {"unreachable": True, "changed": False,
                   "msg": "Data could not be sent to remote host \"10.77.2.11\": Connection closed by remote host"}
    results = [
        {"source": "http", "host": "bastion", "result": result(("metrics_5xx_ratio", "app1", "ok"))},
        {"source": "release_history", "host": "app1", "result": unreachable},
        {"source": "service_start", "host": "app1", "result": unreachable},
    ]
    report = _diagnose.diagnose({"alert": "service_wont_start", "results": results}, NOW)["report"]
    rows = {r["target"]: r for r in report["findings"]["unknown"]}
    assert set(rows) == {"release_history on app1", "service_start on app1"}
    assert rows["release_history on app1"]["evidence"].startswith("could not check app1: release_history did not run")
    assert "Connection closed by remote host" in rows["release_history on app1"]["evidence"]
    assert report["verdict"]["status"] == "unknown" and report["verdict"]["all_clear"] is False


def test_a_planned_check_that_never_reported_is_named_with_its_host():
    results = [{"source": "http", "host": "bastion", "result": result(("metrics_5xx_ratio", "app1", "ok"))},
               {"source": "service_start", "host": "app2", "result": result(("required_env", "app2", "ok"))}]
    planned = [["bastion", ["http"]], ["app1", ["service_start", "release_history"]],
               ["app2", ["service_start"]]]
    report = _diagnose.diagnose({"alert": "service_wont_start", "results": results, "planned": planned},
                                NOW)["report"]
    missing = sorted((r["target"], r["check"]) for r in report["findings"]["unknown"])
    assert missing == [("release_history on app1", "check_missing"), ("service_start on app1", "check_missing")]
    assert all(r["evidence"].startswith("could not check app1: ") for r in report["findings"]["unknown"])
    assert report["hosts"]["app1"] == ["release_history", "service_start"]
    assert "ALL CLEAR" not in report["verdict"]["headline"]


def test_every_planned_check_that_reported_adds_nothing():
    results = [{"source": "http", "host": "bastion", "result": result(("metrics_5xx_ratio", "app1", "ok"))}]
    out = _diagnose.diagnose({"alert": "high_error_rate", "results": results, "planned": [["bastion", ["http"]]]}, NOW)
    assert out["report"]["verdict"]["all_clear"] is True


def test_a_malformed_plan_is_refused():
    with pytest.raises(IncidentResponseError, match=r"planned: each entry is \[host, \[sources\]\]"):
        _diagnose.diagnose({"alert": "all", "results": [], "planned": [["bastion"]]}, NOW)


def test_a_check_skipped_in_check_mode_says_so():
    skipped = {"skipped": True, "msg": "remote module (x) does not support check mode"}
    report = _diagnose.diagnose({"alert": "all", "results": [{"source": "http", "host": "bastion",
                                                              "result": skipped}]}, NOW)["report"]
    row = report["findings"]["unknown"][0]
    assert row["check"] == "check_skipped" and "does not support check mode" in row["evidence"]


def test_dead_database_and_cache_come_before_a_recent_deploy_and_no_rollback_is_offered():
    refused = "OperationalError: connection to server at \"10.77.2.250\", port 5432 failed: Connection refused"
    results = [
        {"source": "http", "host": "bastion", "result": result(("metrics_5xx_ratio", "app2", "critical"))},
        {"source": "postgres", "host": "bastion", "result": {"findings": [
            {"name": "connection", "target": "10.77.2.250:5432/incident_response", "status": "critical",
             "evidence": refused}]}},
        {"source": "redis", "host": "bastion", "result": {"findings": [
            {"name": "connection", "target": "10.77.2.250:6379", "status": "critical",
             "evidence": "ConnectionError: Error 111 connecting to 10.77.2.250:6379. Connection refused."}]}},
        {"source": "release_history", "host": "app2", "result": {
            "current": "v1.2.4", "entries": [{"version": "v1.2.4", "at": "2026-11-27T02:59:00Z"}]}},
    ]
    report = _diagnose.diagnose({"alert": "all", "results": results}, NOW)["report"]
    assert [r["id"] for r in report["recommendations"]] == ["database_down", "cache_down"]
    assert "10.77.2.250:5432" in report["recommendations"][0]["evidence"]
    deploy = next(r for rows in report["findings"].values() for r in rows if r["check"] == "recent_deploy")
    assert deploy["severity"] == "warn" and "cannot bring the database back" in deploy["resolution"]
    assert "playbooks/rollback.yml" not in _diagnose.diagnose({"alert": "all", "results": results}, NOW)["markdown"]


def test_the_release_history_feeds_the_rollback_and_the_durations_are_kept():
    out = _diagnose.diagnose(params(), NOW)
    report = out["report"]
    assert [r["id"] for r in report["recommendations"]] == ["rollback"]
    assert {r["check"] for r in report["findings"]["critical"]} == {"metrics_5xx_ratio", "recent_deploy"}
    assert report["durations"]["total_seconds"] == 12
    assert report["durations"]["checks"][0] == {"source": "http", "host": "bastion", "seconds": 11.2}
    assert report["hosts"] == {"app2": ["release_history"], "bastion": ["http", "postgres", "redis"],
                               "localhost": ["k8s"]}
    assert out["status"] == "critical" and out["fails"] is False


@pytest.mark.parametrize(("fail_on", "fails"), [("none", False), ("warn", True), ("critical", True)])
def test_fail_on(fail_on, fails):
    assert _diagnose.diagnose(params(fail_on=fail_on), NOW)["fails"] is fails


def test_an_unknown_alert_is_refused_with_the_valid_names():
    with pytest.raises(IncidentResponseError, match=r"valid alerts: high_error_rate, high_latency, .*memory_leak, all"):
        _diagnose.diagnose(params(alert="disk_full"), NOW)


def test_write_leaves_both_files_and_no_temporary_ones(tmp_path):
    out = _diagnose.diagnose(params(), NOW)
    paths = _diagnose.write(out["report"], out["markdown"], str(tmp_path / "reports"))
    assert [p.rsplit("/", 1)[1] for p in paths] == ["diagnose-high_error_rate-2026-11-27T030000Z.json",
                                                    "diagnose-high_error_rate-2026-11-27T030000Z.md"]
    assert json.loads(Path(paths[0]).read_text())["schema"] == "incident_response.diagnose/v1"
    assert Path(paths[1]).read_text().startswith("# Diagnosis: high_error_rate: CRITICAL")
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == sorted(p.rsplit("/", 1)[1] for p in paths)


def test_an_unwritable_directory_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = _diagnose.diagnose(params(), NOW)
    with pytest.raises(IncidentResponseError, match="Cannot write the diagnosis report to"):
        _diagnose.write(out["report"], out["markdown"], str(blocker / "reports"))


def elasticache_result(memory_status: str = "unknown") -> dict:
    return {"changed": False, "cache": {"id": "incident-response-cache", "node_type": "cache.t3.micro",
                                        "node_memory_bytes": 512 * 1024**2,
                                        "node_memory_source": "cache.t3.micro has 0.5 GiB"},
            "findings": [{"name": "elasticache_status", "target": "elasticache:incident-response-cache",
                          "status": "ok", "value": "available"},
                         {"name": "elasticache_memory", "target": "elasticache:incident-response-cache",
                          "status": memory_status, "threshold": {"warn": 75, "critical": 90},
                          "unit": "% of node memory", "evidence": "cannot compare: used_memory is not known"}]}


@pytest.mark.parametrize(("used_mib", "status"), [(100, "ok"), (384, "ok"), (385, "warn"), (470, "critical")])
def test_elasticache_memory_is_judged_with_the_used_memory_the_redis_check_read(used_mib, status):
    results = [{"source": "elasticache", "host": "localhost", "result": elasticache_result()},
               {"source": "redis", "host": "bastion", "result": {"findings": [], "memory": {
                   "used_bytes": used_mib * 1024**2}}}]
    report = _diagnose.diagnose({"alert": "high_latency", "results": results}, NOW)["report"]
    memory = next(r for s in report["findings"].values() for r in s if r["check"] == "elasticache_memory")
    assert memory["severity"] == status and memory["threshold"] == {"warn": 75, "critical": 90}
    assert "Redis INFO from bastion" in memory["evidence"] and "cache.t3.micro" in memory["evidence"]


def test_elasticache_memory_stays_unknown_without_a_redis_result():
    results = [{"source": "elasticache", "host": "localhost", "result": elasticache_result()},
               {"source": "redis", "host": "bastion", "result": {"unreachable": True, "msg": "ssh: connect"}}]
    report = _diagnose.diagnose({"alert": "high_latency", "results": results}, NOW)["report"]
    memory = next(r for r in report["findings"]["unknown"] if r["check"] == "elasticache_memory")
    assert "used_memory is not known" in memory["evidence"]


def test_the_plan_groups_the_checks_by_where_they_run_in_the_alerts_order():
    plan = _diagnose.plan_checks("high_error_rate", aws=True, kube=True, queues=True, elasticache=True)
    assert plan == {
        "checks": ["http", "release_history", "k8s", "postgres", "redis", "cloudwatch_logs", "rds", "elasticache", "sqs"],
        "on_bastion": ["http", "postgres", "redis"],
        "per_app_host": ["release_history"],
        "k8s": ["k8s"],
        "aws": ["cloudwatch_logs", "rds", "elasticache", "sqs"],
    }


def test_the_plan_leaves_out_what_has_nothing_to_ask():
    assert _diagnose.plan_checks("high_error_rate", aws=True, kube=False, queues=False, elasticache=False)["checks"] == [
        "http", "release_history", "postgres", "redis", "cloudwatch_logs", "rds"]
    assert _diagnose.plan_checks("db_connection", aws=False, kube=True, queues=True, elasticache=True) == {
        "checks": ["postgres", "service_start"], "on_bastion": ["postgres"], "per_app_host": ["service_start"],
        "k8s": [], "aws": []}


def test_all_runs_every_check_once_in_the_order_the_alerts_first_name_them():
    assert _diagnose.plan_checks("all", aws=True, kube=True, queues=True, elasticache=True)["checks"] == [
        "http", "release_history", "k8s", "postgres", "redis", "cloudwatch_logs", "rds", "elasticache", "sqs",
        "service_start", "security_groups"]


def test_an_unknown_alert_plans_nothing():
    with pytest.raises(IncidentResponseError, match="Unknown alert 'disk_full'; valid alerts: high_error_rate, "
                                                    "high_latency, service_wont_start, db_connection, memory_leak, all"):
        _diagnose.plan_checks("disk_full", aws=True, kube=True, queues=True, elasticache=True)
