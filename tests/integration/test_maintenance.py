# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/maintenance.yml against the lab: the DR drill, certificate renewal, log rotation.

- DR drill: lab/backup_producer.py runs on the bastion and dumps the sample service's real database to the
  lab's moto S3 (a prefix unique to each test), with its SHA-256 and row counts in the object's metadata.
  The drill restores it for real into a scratch database on the lab's PostgreSQL. moto cannot backdate an
  object, so "older than the RPO" is judged with -e backup_as_of 16 minutes after the object's LastModified.
- Certificates: no ACME server is reachable here, so `certbot renew` cannot really run. The lab inventory
  makes lab/renew_cert.py the renewal command (it issues a fresh certificate from the lab CA into the
  endpoint's files, like certbot would) and a SIGHUP to the TLS service the reload. What is proven is the
  path around certbot: only a due certificate triggers it, dry run first, reload, and the new expiry seen
  from outside. The 10-day certificate is put back afterwards for the other tests.
- Log rotation: the role installs into /etc/incident-response/logrotate.conf on each app host (the
  lab's only per-host /etc directory) and logrotate -d must be clean.
"""
from __future__ import annotations

import datetime
import json
import pathlib
import socket
import ssl
import sys
import typing as t
import uuid

import pytest
from cryptography import x509

from conftest import LAB_FACTS, REPO, Run, lab_ssh, run

BUCKET = "backups-incident-response"
PLAYBOOK = "playbooks/maintenance.yml"
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_EC2_METADATA_DISABLED": "true"}
RECAP = "PLAY RECAP"


@pytest.fixture(scope="module")
def moto_url() -> str:
    facts = json.loads(LAB_FACTS.read_text())
    return f"http://{facts['services']['moto']}"


@pytest.fixture(scope="module", autouse=True)
def seeded(moto_url: str) -> None:
    """The lab inventory judges the seeded RDS instance incident-response-prod too."""
    seeded = run(sys.executable, "lab/seed_aws.py", "--endpoint-url", moto_url, timeout=300, env=AWS_ENV)
    assert seeded.rc == 0, seeded.text


def produce_backup(moto_url: str) -> tuple[str, dict[str, t.Any]]:
    """Run the lab's backup job on the bastion into a fresh prefix; returns the prefix and its summary."""
    prefix = f"drill-{uuid.uuid4().hex[:10]}/latest/"
    env = " ".join(f"{k}={v}" for k, v in AWS_ENV.items())
    out = lab_ssh("bastion", f"{env} {sys.executable} {REPO / 'lab' / 'backup_producer.py'}"
                             f" --endpoint-url {moto_url} --bucket {BUCKET} --prefix {prefix}")
    return prefix, json.loads(out.out)


def s3(moto_url: str) -> t.Any:
    import boto3

    return boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def drill(tmp_path: pathlib.Path, prefix: str, *extra: str) -> tuple[Run, dict[str, t.Any]]:
    result = run("ansible-playbook", PLAYBOOK, "--tags", "dr_drill", "-e", f"backup_prefix={prefix}",
                 "-e", f"dr_drill_report_dir={tmp_path}", *extra)
    reports = sorted(tmp_path.glob("dr_drill-*.json"))
    return result, json.loads(reports[-1].read_text()) if reports else {}


def scratch_databases() -> list[str]:
    out = lab_ssh("bastion", "PGPASSWORD=lab-admin-pw psql -h 10.77.2.250 -U admin -d postgres -Atc "
                             "\"SELECT datname FROM pg_database WHERE datname LIKE 'dr_drill_%'\"")
    return out.out.split()


def findings(report: dict[str, t.Any]) -> dict[str, str]:
    return {row["check"]: row["severity"] for rows in report["findings"].values() for row in rows}


def evidence(report: dict[str, t.Any], check: str) -> str:
    return " ".join(str(row["evidence"]) for rows in report["findings"].values() for row in rows if row["check"] == check)


def test_a_fresh_backup_restores_verified_and_timed(tmp_path: pathlib.Path, moto_url: str) -> None:
    prefix, backup = produce_backup(moto_url)
    result, report = drill(tmp_path, prefix)
    assert result.rc == 0, result.text
    assert report["schema"] == "incident_response.dr_drill/v1" and report["verdict"]["status"] == "ok"
    assert findings(report)["restore_run"] == "ok" and findings(report)["restore_integrity"] == "ok"
    restore = report["details"]["restore"]
    assert restore["row_counts"]["restored"] == backup["row_counts"] == restore["row_counts"]["recorded"]
    assert report["durations"]["restore_seconds"] > 0 and findings(report)["restore_time"] == "ok"
    assert restore["dropped"] is True and restore["scratch_database"] not in scratch_databases()
    assert "DR drill: ALL CLEAR" in result.out and "Restore: took" in result.out


def test_a_backup_older_than_the_rpo_fails_and_says_so(tmp_path: pathlib.Path, moto_url: str) -> None:
    prefix, backup = produce_backup(moto_url)
    modified = s3(moto_url).head_object(Bucket=BUCKET, Key=backup["key"])["LastModified"]
    as_of = (modified + datetime.timedelta(minutes=16)).strftime("%Y-%m-%dT%H:%M:%SZ")
    result, report = drill(tmp_path, prefix, "-e", f"backup_as_of={as_of}")
    assert result.rc != 0
    assert findings(report)["backup_age"] == "critical" and "(RPO 15 min)" in result.text
    assert "DR drill: CRITICAL" in result.text


@pytest.mark.parametrize("damage", ["checksum_mismatch", "truncated"])
def test_a_corrupted_backup_fails_and_leaves_no_scratch_database(tmp_path: pathlib.Path, moto_url: str,
                                                                 damage: str) -> None:
    import hashlib

    prefix, backup = produce_backup(moto_url)
    client = s3(moto_url)
    original = client.get_object(Bucket=BUCKET, Key=backup["key"])
    body, metadata = original["Body"].read(), original["Metadata"]
    if damage == "checksum_mismatch":
        body = body[:-16] + b"\0" * 16  # same size, different content, the job's checksum
    else:
        body = body[: len(body) // 2]  # cut short, and hashed as uploaded: only the restore can tell
        metadata = dict(metadata, sha256=hashlib.sha256(body).hexdigest())
    client.put_object(Bucket=BUCKET, Key=backup["key"], Body=body, Metadata=metadata)

    result, report = drill(tmp_path, prefix)
    assert result.rc != 0 and "DR drill: CRITICAL" in result.text
    if damage == "checksum_mismatch":
        assert findings(report)["restore_integrity"] == "critical"
        assert "checksum mismatch" in evidence(report, "restore_integrity")
        assert report["details"]["restore"]["ran"] is False
    else:
        assert findings(report)["restore_run"] == "critical" and "pg_restore exited" in evidence(report, "restore_run")
        assert report["details"]["restore"]["dropped"] is True
    assert report["details"]["restore"]["scratch_database"] not in scratch_databases()
    assert scratch_databases() == []


def served_days_left(port: int, server_name: str) -> int:
    context = ssl.create_default_context(cafile="/var/lib/irlab/tls/ca.pem")
    with socket.create_connection(("10.77.1.1", port), timeout=5) as sock, context.wrap_socket(sock, server_hostname=server_name) as tls:
        cert = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
    return (cert.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)).days


@pytest.fixture
def expiring_cert_restored() -> t.Iterator[None]:
    yield
    # Put the lab's 10-day certificate back: other tests expect an expiring endpoint.
    for args in (["renew", "--name", "expiring", "--days", "10", "--force"],
                 ["reload", "--pidfile", "/var/lib/irlab/run/tls.pid"]):
        assert run(sys.executable, "lab/renew_cert.py", *args).rc == 0


def test_a_certificate_inside_the_threshold_is_renewed_and_a_healthy_one_is_not(expiring_cert_restored: None) -> None:
    assert served_days_left(8442, "tls-expiring.irlab.test") < 30
    valid_before = pathlib.Path("/var/lib/irlab/tls/valid.crt").read_bytes()

    first = run("ansible-playbook", PLAYBOOK, "--tags", "certificates")
    assert first.rc == 0, first.text
    assert "--dry-run" in first.out and "renewed expiring" in first.out
    assert served_days_left(8442, "tls-expiring.irlab.test") >= 30  # seen from outside, after the reload
    assert pathlib.Path("/var/lib/irlab/tls/valid.crt").read_bytes() == valid_before  # healthy: untouched

    second = run("ansible-playbook", PLAYBOOK, "--tags", "certificates")
    assert second.rc == 0, second.text
    assert "nothing due for renewal" in second.out and "Renew the certificate" not in second.out


def test_logrotate_is_installed_idempotently_and_validates_clean() -> None:
    first = run("ansible-playbook", PLAYBOOK, "--tags", "logrotate")
    assert first.rc == 0, first.text
    second = run("ansible-playbook", PLAYBOOK, "--tags", "logrotate")
    assert second.rc == 0 and "changed=0" in second.out.split(RECAP)[1], second.text
    for host in ("app1", "app2"):
        debug = lab_ssh(host, "logrotate -d -- /etc/incident-response/logrotate.conf 2>&1")
        assert "error" not in debug.out.lower() and "rotating pattern: /var/log/incident-response/*.log" in debug.out


def test_check_mode_changes_nothing_and_reports_what_would_run(tmp_path: pathlib.Path, moto_url: str) -> None:
    prefix, _backup = produce_backup(moto_url)
    cert_before = pathlib.Path("/var/lib/irlab/tls/expiring.crt").read_bytes()
    logrotate_conf = "cat /etc/incident-response/logrotate.conf 2>/dev/null || echo absent"
    logrotate_before = lab_ssh("app1", logrotate_conf).out
    result = run("ansible-playbook", PLAYBOOK, "--check", "-e", f"backup_prefix={prefix}",
                 "-e", f"dr_drill_report_dir={tmp_path}")
    assert result.rc == 0, result.text
    assert "Check mode, would run: download s3://" in result.out and "would renew on localhost" in result.out
    # No restore ran, so the drill verified nothing: it must not say ALL CLEAR, and it says what it skipped.
    assert "DR drill: ALL CLEAR" not in result.out and "DR drill (check mode): ALL CLEAR" not in result.out
    assert "DR drill (check mode): INCOMPLETE" in result.out and "check mode: no restore ran" in result.out
    assert scratch_databases() == [] and list(tmp_path.iterdir()) == []
    assert pathlib.Path("/var/lib/irlab/tls/expiring.crt").read_bytes() == cert_before
    assert lab_ssh("app1", logrotate_conf).out == logrotate_before


def test_a_scratch_name_that_already_exists_is_refused_and_that_database_survives(tmp_path: pathlib.Path,
                                                                                  moto_url: str) -> None:
    prefix, _backup = produce_backup(moto_url)
    psql = "PGPASSWORD=lab-admin-pw psql -X -q -h 10.77.2.250 -U admin"
    lab_ssh("bastion", f"{psql} -d postgres -c 'CREATE DATABASE dr_drill_someones'")
    try:
        lab_ssh("bastion", f"{psql} -d dr_drill_someones -c 'CREATE TABLE notes (id int); INSERT INTO notes VALUES (7)'")
        # A site sets the scratch name in its inventory (it is not an -e input): a second inventory source here.
        site = tmp_path / "site.yml"
        site.write_text("all:\n  vars:\n    dr_drill_scratch_database: dr_drill_someones\n")
        result, report = drill(tmp_path, prefix, "-i", "inventories/lab/hosts.yml", "-i", str(site))
        assert result.rc != 0 and "DR drill: CRITICAL" in result.text
        assert findings(report)["scratch_database"] == "critical"
        assert "refused: a database named dr_drill_someones already exists" in evidence(report, "scratch_database")
        assert report["details"]["restore"]["ran"] is False and "restore_run" not in findings(report)
        # Still there, with its data: neither the drill nor its clean-up step dropped it.
        assert "dr_drill_someones" in scratch_databases()
        assert lab_ssh("bastion", f"{psql} -At -d dr_drill_someones -c 'SELECT id FROM notes'").out.split() == ["7"]
    finally:
        lab_ssh("bastion", f"{psql} -d postgres -c 'DROP DATABASE IF EXISTS dr_drill_someones WITH (FORCE)'")
    assert scratch_databases() == []


def test_check_mode_says_logrotate_did_not_validate_a_configuration_it_did_not_write() -> None:
    conf = "/etc/incident-response/logrotate.conf"
    lab_ssh("app1", f"if [ -e {conf} ]; then mv -f {conf} {conf}.irtest-bak; fi")
    try:
        result = run("ansible-playbook", PLAYBOOK, "--check", "--tags", "logrotate")
        assert lab_ssh("app1", f"test -e {conf}", check=False).rc != 0  # check mode wrote nothing
    finally:
        lab_ssh("app1", f"if [ -e {conf}.irtest-bak ]; then mv -f {conf}.irtest-bak {conf}; fi")
    assert result.rc == 0, result.text
    assert f"Check mode: {conf} would change on app1" in result.out and "did not validate it" in result.out
    assert "is clean on app1" not in result.out
