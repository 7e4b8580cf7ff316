# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every job template of awx/controller_config.yml run as AWX runs it, through ansible-runner, against the lab.

awx_runner.py builds each launch's private data dir: the survey's defaults (and a schedule's extra_data) as
extra vars written !unsafe the way AWX writes them, AWX's awx_* meta variables, the template's job tags as -t, the
repository as the project and the lab inventory. A launch that leaves a required question unanswered is one AWX
itself refuses; here the playbook must refuse it too, before the lock or any notification. Every other launch
must succeed, with its set_stats outcome in the playbook_on_stats event, where AWX reads it. The harness itself
is tested without the lab in tests/unit/awx/test_awx_runner.py.

The class starts and ends with `irlab reset`.
"""

from __future__ import annotations

import json
import sys
import typing as t
from pathlib import Path

import pytest

import awx_runner
from conftest import LAB_FACTS, REPO, irlab, lab_ssh, run, webhook_requests
from test_deploy import live_versions

# A fixture: it puts the lab's 10-day certificate back after the certificate template renewed it.
from test_maintenance import expiring_cert_restored  # noqa: F401  pylint: disable=unused-import

CONFIG = awx_runner.load_config()
TEMPLATES = [item["name"] for item in awx_runner.templates(CONFIG)]
REFUSED = [name for name in TEMPLATES if awx_runner.missing_answers(awx_runner.template(CONFIG, name))]
LOCK = "/var/lib/incident-response/deploy.lock"
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_EC2_METADATA_DISABLED": "true"}
# Every template launched with its defaults, and what its run hands AWX; a new template fails the coverage test.
RUNS_WITH_DEFAULTS = {
    "rollback": "incident_response_deploy",
    "health": "incident_response_health",
    "maintenance_dr_drill": "incident_response_maintenance",
    "maintenance_certificates": "incident_response_maintenance",
    "maintenance_logrotate": "incident_response_maintenance",
    "prerequisites": "incident_response_prerequisites",
    "monitoring": "incident_response_monitoring",
}
# Launched by the EDA controller with the alert as ansible_eda (ask_variables_on_launch).
LAUNCHED_WITH_AN_ALERT = {"alert": "incident_response_alert"}


def launch(tmp_path: Path, name: str, answers: dict[str, t.Any] | None = None,
           schedule: dict[str, t.Any] | None = None, job_id: int = 100) -> tuple[awx_runner.Job, awx_runner.Outcome]:
    job = awx_runner.build(tmp_path / f"job-{name}", awx_runner.template(CONFIG, name), REPO / "inventories" / "lab",
                           answers=answers, schedule=schedule, job_id=job_id,
                           envvars={"INCIDENT_RESPONSE_REPORTS_ROOT": str(tmp_path)})
    return job, awx_runner.run(job)


def test_every_template_is_covered_here() -> None:
    covered = set(REFUSED) | set(RUNS_WITH_DEFAULTS) | set(LAUNCHED_WITH_AN_ALERT)
    assert set(TEMPLATES) == covered, f"templates without a launch here: {sorted(set(TEMPLATES) - covered)}"


class TestEveryTemplateAsAwxRunsIt:
    @pytest.fixture(scope="class", autouse=True)
    def fresh(self, lab):
        irlab("reset")
        yield
        irlab("reset")

    @pytest.mark.parametrize("name", REFUSED)
    def test_a_launch_without_its_required_answer_is_refused_before_anything(self, lab, tmp_path, name):
        sent_before = len(webhook_requests(lab))
        job, outcome = launch(tmp_path, name)
        assert job.missing, "AWX itself would refuse this launch"
        assert outcome.status == "failed", outcome.stdout[-3000:]
        text = " ".join(outcome.stdout.split())
        assert "Refused before changing anything" in text
        for variable in job.missing:
            assert f"{variable} is required" in text, text[-3000:]
        assert outcome.artifact_data == {}
        assert lab_ssh("bastion", f"test -e {LOCK}", check=False).rc == 1
        assert len(webhook_requests(lab)) == sent_before

    def test_deploy_with_its_version_answered_succeeds_and_hands_over_the_outcome(self, lab, tmp_path):
        _job, outcome = launch(tmp_path, "deploy", answers={"version": "v1.2.3"}, job_id=201)
        assert outcome.status == "successful", outcome.stdout[-4000:]
        deploy = outcome.artifact_data["incident_response_deploy"]
        assert (deploy["action"], deploy["version"], deploy["result"]) == ("deploy", "v1.2.3", "succeeded")
        assert live_versions(lab) == {h["name"]: "v1.2.3" for h in lab["app_hosts"]}
        # The owner is the AWX user and job, from AWX's meta variables.
        history = json.loads(lab_ssh(lab["app_hosts"][0]["name"], "cat /var/lib/incident-response/releases.json").out)
        assert "AWX job 201" in json.dumps(history["releases"][-1])

    def test_rollback_with_its_defaults_returns_to_the_previous_good_release(self, lab, tmp_path):
        _job, outcome = launch(tmp_path, "rollback", job_id=202)
        assert outcome.status == "successful", outcome.stdout[-4000:]
        rollback = outcome.artifact_data[RUNS_WITH_DEFAULTS["rollback"]]
        assert (rollback["action"], rollback["version"], rollback["result"]) == ("rollback", "v1.2.2", "succeeded")
        assert live_versions(lab) == {h["name"]: "v1.2.2" for h in lab["app_hosts"]}

    def test_health_with_its_defaults(self, lab, tmp_path):
        _job, outcome = launch(tmp_path, "health", job_id=203)
        assert outcome.status == "successful", outcome.stdout[-4000:]
        health = outcome.artifact_data[RUNS_WITH_DEFAULTS["health"]]
        assert health["status"] == "ok" and sorted(health["hosts"]) == sorted(h["name"] for h in lab["app_hosts"])

    def test_diagnose_with_its_alert_answered(self, lab, tmp_path):
        _job, outcome = launch(tmp_path, "diagnose", answers={"alert": "high_latency"}, job_id=204)
        assert outcome.status == "successful", outcome.stdout[-4000:]
        diagnose = outcome.artifact_data["incident_response_diagnose"]
        assert diagnose["alert"] == "high_latency" and diagnose["schema"] == "incident_response.diagnose/v1"

    def test_the_escalation_schedule_launch(self, lab, tmp_path):
        schedule = next(s for s in CONFIG["controller_schedules"] if s["unified_job_template"] == "incident")
        _job, outcome = launch(tmp_path, "incident", schedule=schedule, job_id=205)
        assert outcome.status == "successful", outcome.stdout[-4000:]
        assert outcome.artifact_data["incident_response_escalation"]["escalated"] == []

    def test_the_dr_drill_with_its_defaults_restores_the_newest_backup(self, lab, tmp_path):
        moto = f"http://{json.loads(LAB_FACTS.read_text())['services']['moto']}"
        seeded = run(sys.executable, "lab/seed_aws.py", "--endpoint-url", moto, timeout=300, env=AWS_ENV)
        assert seeded.rc == 0, seeded.text
        # The template's default prefix is the backup job's latest/; the lab's backup job writes one there now.
        env = " ".join(f"{k}={v}" for k, v in AWS_ENV.items())
        lab_ssh("bastion", f"{env} {sys.executable} {REPO / 'lab' / 'backup_producer.py'} --endpoint-url {moto}"
                           " --bucket backups-incident-response --prefix latest/")
        _job, outcome = launch(tmp_path, "maintenance_dr_drill", job_id=206)
        assert outcome.status == "successful", outcome.stdout[-4000:]
        drill = outcome.artifact_data[RUNS_WITH_DEFAULTS["maintenance_dr_drill"]]["dr_drill"]
        assert drill["verdict"] == "ok" and drill["restored"] is True and drill["scratch_dropped"] is True

    def test_the_certificate_check_with_its_defaults(self, lab, tmp_path, expiring_cert_restored):  # noqa: F811
        _job, outcome = launch(tmp_path, "maintenance_certificates", job_id=207)
        assert outcome.status == "successful", outcome.stdout[-4000:]
        certificates = outcome.artifact_data[RUNS_WITH_DEFAULTS["maintenance_certificates"]]["certificates"]
        assert certificates["renewed"] == ["expiring"] and certificates["still_due"] == []

    def test_log_rotation_with_its_defaults(self, lab, tmp_path):
        _job, outcome = launch(tmp_path, "maintenance_logrotate", job_id=208)
        assert outcome.status == "successful", outcome.stdout[-4000:]
        logrotate = outcome.artifact_data[RUNS_WITH_DEFAULTS["maintenance_logrotate"]]["logrotate"]
        assert set(logrotate) == {h["name"] for h in lab["app_hosts"]}
        assert all(not host["problems"] for host in logrotate.values())

    def test_prerequisites_with_its_defaults_builds_each_hosts_virtualenv(self, lab, tmp_path):
        _job, outcome = launch(tmp_path, "prerequisites", job_id=209)
        assert outcome.status == "successful", outcome.stdout[-4000:]
        built = outcome.artifact_data[RUNS_WITH_DEFAULTS["prerequisites"]]
        assert set(built) == {"bastion"} | {h["name"] for h in lab["app_hosts"]}
        for host, state in built.items():
            assert state["venv"] == "/var/lib/incident-response/venv", host
            imports = "import boto3, psycopg2, redis, prometheus_client" if host == "bastion" else "import cryptography"
            lab_ssh(host, f"/var/lib/incident-response/venv/bin/python -c '{imports}'")

    def test_monitoring_with_its_defaults_changes_nothing_lab_up_installed(self, lab, tmp_path):
        _job, outcome = launch(tmp_path, "monitoring", job_id=210)
        assert outcome.status == "successful", outcome.stdout[-4000:]
        monitoring = outcome.artifact_data[RUNS_WITH_DEFAULTS["monitoring"]]
        assert (monitoring["rules_changed"], monitoring["alertmanager_changed"]) == (False, False)

    def test_the_alert_template_with_a_resolved_alert_and_no_incident(self, lab, tmp_path):
        resolved = {"status": "resolved", "fingerprint": "0123456789abcdef", "labels": {
            "alertname": "incident-response_high_latency", "severity": "P2", "service": "incident-response",
            "job": "incident-response", "instance": f"{lab['app_hosts'][0]['ip']}:8080"},
            "annotations": {}, "startsAt": "2026-12-01T10:00:00Z", "endsAt": "2026-12-01T10:05:00Z"}
        _job, outcome = launch(tmp_path, "alert", answers={"ansible_eda": {"event": resolved}},
                               job_id=211)
        assert outcome.status == "successful", outcome.stdout[-4000:]
        handled = outcome.artifact_data[LAUNCHED_WITH_AN_ALERT["alert"]]
        assert (handled["alert"], handled["status"], handled["diagnosed"], handled["rolled_back"]) == (
            "incident-response_high_latency", "resolved", False, False)
