# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWX configuration as code, checked offline (no AWX server runs here)."""

from __future__ import annotations

import copy
import datetime as dt
import importlib.util
import typing as t
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("awx_config_check", REPO / "tools" / "awx_config_check.py")
check = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(check)  # type: ignore[union-attr]

CONFIG = yaml.safe_load((REPO / "awx" / "controller_config.yml").read_text(encoding="utf-8"))
UTC = dt.timezone.utc


def template(name: str) -> dict[str, t.Any]:
    return copy.deepcopy(next(item for item in CONFIG["controller_templates"] if item["name"] == name))


def schedule(name: str) -> dict[str, t.Any]:
    return next(item for item in CONFIG["controller_schedules"] if item["name"] == name)


def test_the_shipped_configuration_is_clean() -> None:
    assert check.config_errors(CONFIG) == []


def test_every_playbook_with_a_guard_has_a_template() -> None:
    covered = {item["playbook"] for item in CONFIG["controller_templates"]}
    guarded = {f"playbooks/{p.name}" for p in (REPO / "playbooks").glob("*.yml") if check.guard_rules(p)}
    assert guarded - {"playbooks/awx_configure.yml"} <= covered


def test_maintenance_has_one_template_per_tag_and_the_lock_takers_do_not_run_twice() -> None:
    tags = {item.get("job_tags") for item in CONFIG["controller_templates"]
            if item["playbook"] == "playbooks/maintenance.yml"}
    assert tags == {"dr_drill", "certificates", "logrotate"}
    for name in ("deploy", "rollback", "incident", "mitigate"):
        assert template(name)["allow_simultaneous"] is False, name


# ---------------------------------------------------------------- AWX's survey rules, one broken survey each

def broken(change: t.Callable[[dict[str, t.Any]], None]) -> list[str]:
    survey = template("incident")["survey_spec"]
    change(survey)
    return check.survey_errors(survey, "template incident")


def question(survey: dict[str, t.Any], variable: str) -> dict[str, t.Any]:
    return next(q for q in survey["spec"] if q["variable"] == variable)


@pytest.mark.parametrize(("change", "message"), [
    (lambda s: s.pop("description"), "template incident: 'description' missing from survey spec"),
    (lambda s: s.update(spec="action"), "'spec' must be a list of questions"),
    (lambda s: question(s, "title").pop("question_name"),
     "question 2 (title): 'question_name' missing from survey question"),
    (lambda s: question(s, "title").pop("required"), "(title): 'required' missing from survey question"),
    (lambda s: question(s, "title").update(type="string"),
     "(title): type 'string' is not one of text, textarea"),
    (lambda s: s["spec"].append(dict(question(s, "title"))), "'variable' 'title' duplicated in survey"),
    (lambda s: question(s, "severity").update(default="P5"),
     "(severity): default 'P5' is not one of the choices ['P1', 'P2', 'P3', 'P4']"),
    (lambda s: question(s, "severity").pop("choices"), "(severity): a multiplechoice question needs"),
    (lambda s: question(s, "title").update(default=3), "(title): default 3 must be of type str for a text"),
    (lambda s: question(s, "title").update(default="$encrypted$"),
     "(title): $encrypted$ is a reserved keyword for password question defaults"),
    (lambda s: s["spec"].append({"variable": "n", "question_name": "n", "required": False, "type": "integer",
                                 "default": "5"}), "(n): default '5' must be of type int for a integer"),
    (lambda s: s["spec"].append({"variable": "n", "question_name": "n", "required": False, "type": "integer",
                                 "default": 9, "max": 5}), "(n): default 9 is outside min None / max 5"),
])
def test_a_survey_breaking_one_awx_rule_is_refused_with_that_rule(change: t.Any, message: str) -> None:
    errors = broken(change)
    assert any(message in line for line in errors), errors


def test_a_password_question_may_keep_its_encrypted_default() -> None:
    errors = broken(lambda s: s["spec"].append({"variable": "token", "question_name": "Token", "required": False,
                                                "type": "password", "default": "$encrypted$"}))
    assert errors == []


# ---------------------------------------------------------------- surveys against the playbook's input_guard

def test_a_survey_question_the_guard_does_not_declare_is_refused() -> None:
    config = {"controller_templates": [template("deploy")]}
    config["controller_templates"][0]["survey_spec"]["spec"].append(
        {"variable": "env", "question_name": "Environment", "type": "text", "required": False})
    assert any("question env: not an input of the playbook's input_guard" in line
               for line in check.config_errors(config))


def test_a_required_guard_input_missing_from_the_survey_is_refused() -> None:
    config = {"controller_templates": [template("diagnose")]}
    spec = config["controller_templates"][0]["survey_spec"]["spec"]
    spec[:] = [q for q in spec if q["variable"] != "alert"]
    assert "template diagnose: the guard's required input alert has no survey question" in \
        check.config_errors(config)


def test_an_optional_question_for_a_required_guard_input_is_refused() -> None:
    config = {"controller_templates": [template("deploy")]}
    question(config["controller_templates"][0]["survey_spec"], "version")["required"] = False
    assert "template deploy question version: the guard requires it, so the question must be required" in \
        check.config_errors(config)


def test_a_choice_the_guard_refuses_and_a_wrong_type_are_refused() -> None:
    config = {"controller_templates": [template("diagnose")]}
    survey = config["controller_templates"][0]["survey_spec"]
    question(survey, "alert")["choices"].append("disk_full")
    question(survey, "diagnose_metrics_window")["type"] = "text"
    errors = check.config_errors(config)
    assert any("question alert: choices ['disk_full'] are not accepted by the guard" in line for line in errors)
    assert any("question diagnose_metrics_window: a text question for a guard input of type int" in line
               for line in errors)


def test_a_survey_default_that_changes_what_the_run_does_is_refused() -> None:
    config = {"controller_templates": [template("health"), template("deploy")]}
    question(config["controller_templates"][0]["survey_spec"], "service_health_fail_on")["default"] = "none"
    question(config["controller_templates"][1]["survey_spec"], "deploy_lock_break")["default"] = "true"
    assert check.config_errors(config) == [
        "template health question service_health_fail_on: default 'none' differs from what the run does "
        "without it ('critical')",
        "template deploy question deploy_lock_break: default 'true' differs from what the run does without it "
        "(False)"]


def test_a_template_whose_playbook_is_gone_is_refused() -> None:
    config = {"controller_templates": [dict(template("health"), playbook="playbooks/nope.yml")]}
    assert check.config_errors(config) == ["template health: playbook 'playbooks/nope.yml' does not exist in the project"]


# ---------------------------------------------------------------- schedules fire when intended

def upcoming(name: str, count: int) -> list[dt.datetime]:
    rule = check.parse_rrule(schedule(name)["rrule"])
    after = dt.datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # a Tuesday, noon
    found: list[dt.datetime] = []
    while len(found) < count:
        after = rule.after(after)
        found.append(after)
    return found


def test_the_dr_drill_runs_every_sunday_at_three() -> None:
    assert upcoming("weekly DR drill", 2) == [dt.datetime(2026, 12, 6, 3, 0, tzinfo=UTC),
                                              dt.datetime(2026, 12, 13, 3, 0, tzinfo=UTC)]


def test_certificates_and_log_rotation_run_daily() -> None:
    assert upcoming("daily certificate check", 2) == [dt.datetime(2026, 12, 2, 6, 0, tzinfo=UTC),
                                                      dt.datetime(2026, 12, 3, 6, 0, tzinfo=UTC)]
    assert upcoming("daily log rotation", 2) == [dt.datetime(2026, 12, 2, 0, 5, tzinfo=UTC),
                                                 dt.datetime(2026, 12, 3, 0, 5, tzinfo=UTC)]


def test_escalation_runs_every_five_minutes_with_the_escalate_action() -> None:
    assert upcoming("incident escalation", 3) == [dt.datetime(2026, 12, 1, 12, m, tzinfo=UTC) for m in (5, 10, 15)]
    assert schedule("incident escalation")["extra_data"] == {"action": "escalate"}


def test_a_broken_rrule_is_refused_with_the_reason() -> None:
    errors = check.rrule_errors("DTSTART:20260105T030000Z RRULE:FREQ=FORTNIGHTLY", "schedule drill")
    assert len(errors) == 1 and errors[0].startswith("schedule drill: rrule 'DTSTART:20260105T030000Z "
                                                     "RRULE:FREQ=FORTNIGHTLY' does not parse:")
    assert check.rrule_errors("FREQ=DAILY", "schedule x") == [
        "schedule x: rrule 'FREQ=DAILY' needs DTSTART and RRULE parts (AWX requires both)"]


def test_schedule_extra_data_must_be_a_survey_question() -> None:
    config = {"controller_templates": [template("incident")],
              "controller_schedules": [dict(schedule("incident escalation"), extra_data={"env": "prod"})]}
    assert check.config_errors(config) == [
        "schedule incident escalation: extra_data env is not a survey question of incident"]
