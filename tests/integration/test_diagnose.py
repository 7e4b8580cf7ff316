# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/diagnose.yml against the lab: each test makes the alert's cause for real, then reads the report.

Every fault is undone before the test ends (irlab reset, the env file restored,
PostgreSQL started again, the emulated pods put back). The AWS checks need
credentials for the lab's moto server; tests that do not seed it turn them off,
because lab/seed_aws.py always seeds a firing 5xx incident.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest

from conftest import Run, irlab, lab_ssh, run
from test_inspection_k8s_tls import Cluster

ENV_FILE = "/etc/incident-response/env"
APP_PW, REDIS_PW, ADMIN_PW = "lab-app-pw", "lab-redis-pw", "lab-admin-pw"
PG_CTL = ["ip", "netns", "exec", "irlab-data", "runuser", "-u", "postgres", "--",
          "/usr/lib/postgresql/15/bin/pg_ctl", "-D", "/var/lib/irlab/pgdata"]
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_ENDPOINT_URL": "http://10.77.1.1:5000", "AWS_EC2_METADATA_DISABLED": "true"}


def diagnose(alert: str, reports: Path, *extra: str, aws: bool = False) -> tuple[dict[str, t.Any], str, Run]:
    """Run the playbook as the on-call engineer does; return the JSON report, the Markdown and the run."""
    result = run("ansible-playbook", "playbooks/diagnose.yml", "-e", f"alert={alert}",
                 "-e", f"diagnose_reports_dir={reports}", "-e", f"diagnose_aws_checks={str(aws).lower()}", *extra,
                 env=AWS_ENV, timeout=300)
    written = sorted(reports.glob(f"diagnose-{alert}-*.json"))
    assert written, f"no report written: {result.text}"
    return json.loads(written[-1].read_text()), written[-1].with_suffix(".md").read_text(), result


def psql(sql: str, user: str = "admin", password: str = ADMIN_PW) -> None:
    lab_ssh("bastion", f"PGPASSWORD={password} psql -X -q -At -h 10.77.2.250 -U {user} -d incident_response -c \"{sql}\"")


def problems(report: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    return [row for severity in ("critical", "warn", "unknown") for row in report["findings"][severity]]


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    return tmp_path / "reports"


@pytest.fixture
def clean_lab() -> t.Iterator[None]:
    irlab("reset")
    psql("SELECT pg_stat_statements_reset()")
    yield
    irlab("reset")


def test_bad_release_names_the_recent_deploy_and_recommends_rollback(lab, clean_lab, reports):
    # A deploy whose watch is skipped records v1.2.4 as healthy: the bad release is live and recent.
    deployed = run("ansible-playbook", "playbooks/deploy.yml", "-e", "version=v1.2.4", "-e", "deploy_watch_seconds=0",
                   timeout=600)
    assert deployed.rc == 0, deployed.text

    report, markdown, result = diagnose("high_error_rate", reports, "-e", "diagnose_metrics_window=15")

    assert result.rc == 0, result.text
    assert report["schema"] == "incident_response.diagnose/v1" and report["verdict"]["status"] == "critical"
    rollback = report["recommendations"][0]
    assert rollback["id"] == "rollback" and rollback["command"] == "ansible-playbook playbooks/rollback.yml"
    assert "v1.2.4" in rollback["summary"]
    deploy = next(r for r in report["findings"]["critical"] if r["check"] == "recent_deploy")
    assert deploy["value"] == "v1.2.4" and "app" in deploy["target"]
    assert any(r["check"] == "metrics_5xx_ratio" for r in report["findings"]["critical"])
    # People read the verdict, then the command, on the console and in the Markdown.
    assert "DO: Roll back" in result.out and "ansible-playbook playbooks/rollback.yml" in result.out
    assert markdown.index("CRITICAL") < markdown.index("ansible-playbook playbooks/rollback.yml") < markdown.index(
        "## Critical")


def test_seeded_slow_query_comes_first_in_high_latency(lab, clean_lab, reports):
    marker = f"ir_diagnose_slow_{secrets.token_hex(4)}"
    # As the application's own role, whose statements the diagnosis can read.
    psql(f"SELECT pg_sleep(2) AS {marker}", user="incident_response", password=APP_PW)

    report, markdown, result = diagnose("high_latency", reports)

    assert result.rc == 0, result.text
    first = report["findings"]["critical"][0]
    assert first["check"] == "slow_statements" and marker in first["evidence"]
    assert "add indexes" in first["resolution"]
    first_line = next(line for line in markdown.splitlines() if line.startswith("- **"))
    assert "slow_statements" in first_line


def test_stopped_database_is_named_with_where(lab, clean_lab, reports):
    subprocess.run([*PG_CTL, "-m", "fast", "stop"], check=True, capture_output=True, timeout=60)
    try:
        report, _markdown, result = diagnose("db_connection", reports)
    finally:
        subprocess.run([*PG_CTL, "-l", "/var/lib/irlab/logs/postgres.log", "-w", "start"], check=True,
                       capture_output=True, timeout=60)

    assert result.rc == 0, result.text
    assert report["verdict"]["status"] == "critical"
    rows = problems(report)
    from_bastion = [r for r in rows if r["source"] == "postgres" and r["check"] == "connection"]
    assert from_bastion and "10.77.2.250:5432" in from_bastion[0]["target"]
    # ... and from each app host, which is where the service fails.
    unreachable = {r["host"] for r in rows if r["check"] == "dependency_reachable"}
    assert unreachable == {"app1", "app2"}, rows
    assert all("5432" in str(r["evidence"]) for r in rows if r["check"] == "dependency_reachable")


def test_oom_killed_and_crash_looping_pods_are_named(lab, reports):
    cluster = Cluster(f"http://{lab['services']['kube']}")
    try:
        crashing, leaking, *_others = sorted(cluster.pods)
        cluster.set_status(crashing, ready=False, restartCount=6,
                           state={"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 2m40s"}})
        cluster.set_status(leaking, restartCount=2,
                           lastState={"terminated": {"reason": "OOMKilled", "exitCode": 137}})
        cluster.set_memory(leaking, "500Mi")
        report, markdown, result = diagnose("memory_leak", reports)
    finally:
        cluster.restore()

    assert result.rc == 0, result.text
    critical = {(r["check"], r["target"].split("/", 1)[-1]) for r in report["findings"]["critical"]}
    assert ("crash_loop_backoff", crashing) in critical
    assert ("oom_killed", leaking) in critical
    assert crashing in markdown and leaking in markdown


def test_missing_env_var_is_named_but_never_its_value(lab, clean_lab, reports):
    lab_ssh("app1", f"cp -p {ENV_FILE} {ENV_FILE}.irtest-bak")
    try:
        lab_ssh("app1", f"sed -i '/^DB_PASSWORD=/d' {ENV_FILE}")
        report, markdown, result = diagnose("service_wont_start", reports)
    finally:
        lab_ssh("app1", f"mv -f {ENV_FILE}.irtest-bak {ENV_FILE}")

    assert result.rc == 0, result.text
    missing = next(r for r in report["findings"]["critical"] if r["check"] == "required_env")
    assert missing["host"] == "app1" and missing["value"] == ["DB_PASSWORD"] and "DB_PASSWORD" in markdown
    assert not any(r["check"] == "required_env" and r["host"] == "app2" for r in problems(report))
    for secret in (APP_PW, REDIS_PW, ADMIN_PW):
        assert secret not in result.text and secret not in markdown and secret not in json.dumps(report)


def test_healthy_lab_is_all_clear_in_a_few_lines(lab, clean_lab, reports):
    report, markdown, result = diagnose("all", reports, "--check")

    assert result.rc == 0, result.text
    assert report["verdict"]["all_clear"] is True, problems(report)
    assert report["recommendations"] == []
    assert len(markdown.splitlines()) <= 5 and "ALL CLEAR" in markdown
    assert "ALL CLEAR" in result.out
    assert {"app1", "app2", "bastion", "localhost"} <= set(report["hosts"])


def test_seeded_aws_account_adds_its_evidence_and_fail_on_fails_after_writing(lab, clean_lab, reports):
    seeded = run(sys.executable, "lab/seed_aws.py", "--endpoint-url", "http://10.77.1.1:5000", env=AWS_ENV)
    assert seeded.rc == 0, seeded.text

    # The seed's 5xx log lines are a warning (a count, not a rate), so fail_on=warn fails the run.
    report, _markdown, result = diagnose("high_error_rate", reports, "-e", "diagnose_fail_on=warn", aws=True)

    assert result.rc != 0 and "diagnose_fail_on=warn" in result.text
    logs = next(r for r in problems(report) if r["check"] == "log_matches")
    assert "/aws/lambda/incident-response" in logs["target"] and logs["severity"] == "warn"
    # Log lines alone never recommend a rollback: the service itself answers within its limits.
    assert all(r["id"] != "rollback" for r in report["recommendations"])
    assert report["durations"]["total_seconds"] > 0


def test_unknown_alert_is_refused_with_the_valid_names_before_anything_runs(lab, reports):
    result = run("ansible-playbook", "playbooks/diagnose.yml", "-e", "alert=disk_full",
                 "-e", f"diagnose_reports_dir={reports}")
    assert result.rc != 0
    assert "high_error_rate, high_latency, service_wont_start, db_connection, memory_leak, all" in result.text
    assert "Run every check at once" not in result.text and not reports.exists()


def test_dead_database_and_cache_come_before_a_fresh_release_and_no_rollback_is_recommended(lab, clean_lab,
                                                                                            reports):
    # The reset leaves v1.2.2 recorded live on every app host a moment ago: a release that just went live.
    irlab("data", "postgres", "stop")
    irlab("data", "redis", "stop")
    try:
        report, markdown, result = diagnose("high_error_rate", reports)
    finally:
        irlab("data", "postgres", "start")
        irlab("data", "redis", "start")

    assert result.rc == 0, result.text
    deploy = next(r for r in problems(report) if r["check"] == "recent_deploy")
    assert deploy["value"] == "v1.2.2" and "cannot bring the database back" in deploy["resolution"]
    ids = [r["id"] for r in report["recommendations"]]
    assert ids[:2] == ["database_down", "cache_down"] and "rollback" not in ids, report["recommendations"]
    assert "10.77.2.250:5432" in report["recommendations"][0]["evidence"]
    assert "10.77.2.250:6379" in report["recommendations"][1]["evidence"]
    # What the on-call engineer reads first, on the console and in the Markdown: the database, then the cache.
    do_lines = [line for line in result.out.splitlines() if "DO: " in line]
    assert "database" in do_lines[0] and "cache" in do_lines[1], do_lines
    assert "playbooks/rollback.yml" not in result.out and "playbooks/rollback.yml" not in markdown


def test_an_unreachable_app_host_is_could_not_check_for_each_of_its_checks(lab, reports):
    irlab("sshd", "app1", "stop")
    try:
        report, markdown, result = diagnose("service_wont_start", reports)
    finally:
        irlab("sshd", "app1", "start")

    assert result.rc == 0, result.text
    assert report["verdict"]["all_clear"] is False
    unknown = {r["target"]: r for r in report["findings"]["unknown"] if r["host"] == "app1"}
    assert set(unknown) == {"release_history on app1", "service_start on app1"}, report["findings"]["unknown"]
    for row in unknown.values():
        assert row["evidence"].startswith("could not check app1: ") and "unreachable" in row["evidence"], row
    assert "could not be checked" in report["verdict"]["headline"]
    assert "could not check app1: release_history did not run" in markdown
    # app2 was reachable: its checks ran and are not reported missing.
    assert not any(r["host"] == "app2" for r in report["findings"]["unknown"])
    assert any(r["host"] == "app2" and r["check"] == "required_env" for r in report["findings"]["ok"])
