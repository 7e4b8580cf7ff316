# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The decisions the maintenance roles used to make in Jinja, now filters: fail_on, logrotate's problems,
the certificates due and their renewal plan, the DR drill's checks."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.platform_eng.incident_response.plugins.filter.certificate_renewal_plan import (
    certificate_renewal_plan,
)
from ansible_collections.platform_eng.incident_response.plugins.filter.certificates_due import certificates_due
from ansible_collections.platform_eng.incident_response.plugins.filter.dr_drill_checks import dr_drill_checks
from ansible_collections.platform_eng.incident_response.plugins.filter.fails_on import fails_on
from ansible_collections.platform_eng.incident_response.plugins.filter.logrotate_problems import logrotate_problems


@pytest.mark.parametrize(("status", "fail_on", "fails"), [
    ("critical", "none", False), ("warn", "none", False), ("unknown", "none", False), ("ok", "none", False),
    ("critical", "warn", True), ("warn", "warn", True), ("unknown", "warn", False), ("ok", "warn", False),
    ("critical", "critical", True), ("warn", "critical", False), ("unknown", "critical", False),
    ("ok", "critical", False),
])
def test_fails_on_is_the_modules_rule(status: str, fail_on: str, fails: bool) -> None:
    assert fails_on(status, fail_on) is fails


@pytest.mark.parametrize(("status", "fail_on"), [("critical", "unknown"), ("critical", "always"), ("bad", "warn")])
def test_fails_on_refuses_what_it_does_not_know(status: str, fail_on: str) -> None:
    with pytest.raises(AnsibleFilterError, match="fails_on"):
        fails_on(status, fail_on)


def test_logrotate_problems_are_error_lines_of_both_streams_stdout_first() -> None:
    result = {"rc": 0,
              "stdout_lines": ["reading config file /etc/x", "Error: bad line 3"],
              "stderr_lines": ["rotating pattern: /var/log/a/*.log", "error opening /var/log/b",
                               "considering log /var/log/errors.log", "warning: something error: inside"]}
    assert logrotate_problems(result) == ["Error: bad line 3", "error opening /var/log/b",
                                          "warning: something error: inside"]


@pytest.mark.parametrize("result", [{"skipped": True, "changed": False}, {}, None,
                                    {"stdout_lines": None, "stderr_lines": []}])
def test_logrotate_problems_of_a_run_without_output_are_none(result) -> None:
    assert logrotate_problems(result) == []


CERTS = [
    {"name": "api", "classification": "expiring"},
    {"name": "www", "classification": "ok"},
    {"name": "old", "classification": "expired"},
    {"name": "/etc/ssl/app.pem", "classification": "expired"},
    {"name": "bad", "classification": "wrong_host"},
]


def test_the_certificates_due_are_expiring_or_expired_in_order() -> None:
    assert certificates_due(CERTS) == ["api", "old", "/etc/ssl/app.pem"]
    assert certificates_due([]) == [] and certificates_due(None) == []


def test_the_plan_has_one_step_per_owner_and_commands() -> None:
    endpoints = [{"name": "api", "owner": "lb"}, {"name": "www", "owner": "lb"},
                 {"name": "old", "owner": "lb"}]
    files = [{"path": "/etc/ssl/app.pem", "owner": "app1", "renew_command": ["renew-app"],
              "reload_command": ["kill", "-HUP", "1"]}]
    plan = certificate_renewal_plan(CERTS, endpoints=endpoints, files=files, renew_command=["certbot", "renew"],
                                    dry_run_args=["--dry-run"], reload_command=[])
    assert plan == [
        {"owner": "lb", "renew": ["certbot", "renew"], "dry_run": ["certbot", "renew", "--dry-run"], "reload": []},
        {"owner": "app1", "renew": ["renew-app"], "dry_run": ["renew-app", "--dry-run"],
         "reload": ["kill", "-HUP", "1"]},
    ]
    assert list(plan[0]) == ["owner", "renew", "dry_run", "reload"]


def test_nothing_due_plans_nothing_and_a_due_certificate_without_configuration_is_refused() -> None:
    assert certificate_renewal_plan([{"name": "www", "classification": "ok"}], renew_command=["certbot"]) == []
    with pytest.raises(AnsibleFilterError, match="'api'"):
        certificate_renewal_plan([CERTS[0]], endpoints=[{"name": "www", "owner": "lb"}], renew_command=["certbot"])


def finding(name: str, status: str = "ok") -> dict:
    return {"name": name, "target": "t", "status": status, "value": None, "threshold": None, "unit": None,
            "evidence": "", "remediation": None}


BACKUP = {"findings": [finding("backup_age")]}


def test_the_drill_checks_keep_each_steps_findings_and_only_the_rds_findings_a_drill_judges() -> None:
    rds = {"findings": [finding("rds_instance"), finding("rds_cpu", "critical"), finding("rds_restorable_time")]}
    restore = {"findings": [finding("restore_run"), finding("restore_time", "warn")]}
    checks = dr_drill_checks(BACKUP, rds=rds, restore=restore, cleanup={"dropped": False}, scratch_database="dr_x",
                             host="bastion")
    assert [c["source"] for c in checks] == ["s3_backup", "rds", "restore", "cleanup"]
    assert [f["name"] for f in checks[1]["findings"]] == ["rds_instance", "rds_restorable_time"]
    assert checks[2]["findings"] == restore["findings"] and checks[3]["findings"] == []


def test_the_drill_checks_of_steps_that_did_not_run_are_empty() -> None:
    checks = dr_drill_checks(BACKUP, rds={"skipped": True}, scratch_database="dr_x", host="bastion")
    assert [c["findings"] for c in checks[1:]] == [[], [], []]


def test_a_restore_step_that_failed_is_a_critical_restore_run_with_its_message() -> None:
    checks = dr_drill_checks(BACKUP, restore={"failed": True, "msg": "boto3 missing"}, scratch_database="dr_x",
                             host="bastion")
    (only,) = checks[2]["findings"]
    assert only == {"name": "restore_run", "target": "dr_x", "status": "critical", "value": None, "threshold": None,
                    "unit": None, "evidence": "boto3 missing",
                    "remediation": "The drill could not run the restore; fix the error above and run the drill again."}
    assert dr_drill_checks(BACKUP, restore={"failed": True}, scratch_database="dr_x", host="b")[2]["findings"][0][
        "evidence"] == "the restore step failed"


def test_a_scratch_database_the_cleanup_had_to_drop_fails_the_drill_except_in_check_mode() -> None:
    checks = dr_drill_checks(BACKUP, cleanup={"dropped": True}, scratch_database="dr_x", host="bastion")
    (only,) = checks[3]["findings"]
    assert (only["name"], only["status"], only["value"], only["threshold"]) == ("scratch_dropped", "critical", False,
                                                                                True)
    assert only["evidence"] == "the scratch database was still there after the restore step; the cleanup step dropped it"
    assert dr_drill_checks(BACKUP, cleanup={"dropped": True}, scratch_database="dr_x", host="bastion",
                           check_mode=True)[3]["findings"] == []


def test_a_cleanup_that_failed_is_unknown_naming_the_host() -> None:
    checks = dr_drill_checks(BACKUP, cleanup={"failed": True, "msg": "connection refused"}, scratch_database="dr_x",
                             host="bastion")
    (only,) = checks[3]["findings"]
    assert (only["status"], only["value"], only["evidence"]) == ("unknown", None,
                                                                 "could not check bastion: connection refused")
    assert dr_drill_checks(BACKUP, cleanup={"failed": True}, scratch_database="dr_x", host="b")[3]["findings"][0][
        "evidence"] == "could not check b: the clean-up step failed"
