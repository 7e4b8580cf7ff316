# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The harness that runs a job template as AWX runs it (tests/integration/awx_runner.py), tested without the lab.

Its pieces against AWX's rules, then real ansible-runner runs with an inventory of this machine only: a launch
AWX would refuse (a required answer missing) refused by the playbook too, a template marker in an answer refused
unrendered, and one template end to end to its set_stats outcome in the playbook_on_stats event, against a
throwaway TLS endpoint on 127.0.0.1.
"""

from __future__ import annotations

import importlib.util
import json
import typing as t
from pathlib import Path

import pytest
import yaml

from ansible_collections.platform_eng.incident_response.tests.unit.plugins import lab_services

REPO = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("awx_runner", REPO / "tests" / "integration" / "awx_runner.py")
awx_runner = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(awx_runner)  # type: ignore[union-attr]
_check_spec = importlib.util.spec_from_file_location("awx_config_check", REPO / "tools" / "awx_config_check.py")
check = importlib.util.module_from_spec(_check_spec)  # type: ignore[arg-type]
_check_spec.loader.exec_module(check)  # type: ignore[union-attr]

CONFIG = awx_runner.load_config()
TEMPLATES = [item["name"] for item in awx_runner.templates(CONFIG)]


def template(name: str) -> dict[str, t.Any]:
    return awx_runner.template(CONFIG, name)


# ---------------------------------------------------------------- what AWX would send


def test_a_launch_gets_every_valid_survey_default_and_not_the_questions_without_one() -> None:
    assert awx_runner.survey_defaults(template("deploy")) == {
        "change_ticket": "", "deploy_window_override_reason": "", "deploy_lock_break": "false",
        "deploy_lock_break_reason": "", "incident_id": "", "deploy_max_fail_percentage": 0}
    assert awx_runner.survey_defaults(template("health")) == {"service_health_fail_on": "critical"}


@pytest.mark.parametrize(("question", "default"), [
    ({"variable": "n", "type": "integer", "required": False}, "5"),
    ({"variable": "n", "type": "integer", "required": False, "min": 1, "max": 3}, 4),
    ({"variable": "c", "type": "multiplechoice", "required": False, "choices": ["a", "b"]}, "z"),
    ({"variable": "s", "type": "text", "required": False, "max": 2}, "abc"),
    ({"variable": "s", "type": "text", "required": False}, 3),
])
def test_a_default_that_breaks_its_own_question_is_not_sent(question: dict[str, t.Any], default: t.Any) -> None:
    spec = {"survey_spec": {"spec": [dict(question, default=default)]}}
    assert awx_runner.survey_defaults(spec) == {}
    assert awx_runner.answer_errors(question, default)


def test_a_required_question_without_default_or_answer_is_one_awx_refuses_to_launch() -> None:
    assert awx_runner.missing_answers(template("deploy")) == ["version"]
    assert awx_runner.missing_answers(template("deploy"), {"version": "v1.2.3"}) == []
    assert awx_runner.missing_answers(template("diagnose")) == ["alert"]
    assert awx_runner.missing_answers(template("health")) == []


def test_meta_variables_are_awxs_under_both_prefixes_and_a_schedule_has_no_user() -> None:
    manual = awx_runner.meta_vars(template("health"), job_id=42)
    assert manual["awx_job_id"] == manual["tower_job_id"] == 42 and manual["awx_user_name"] == "alice"
    assert manual["awx_job_template_name"] == "health" and manual["awx_job_launch_type"] == "manual"
    schedule = CONFIG["controller_schedules"][0]
    scheduled = awx_runner.meta_vars(template(schedule["unified_job_template"]), job_id=7, schedule=schedule)
    assert scheduled["awx_job_launch_type"] == "scheduled" and scheduled["awx_schedule_name"] == schedule["name"]
    assert not [name for name in scheduled if name.endswith("_user_name")]


def test_extravars_are_written_as_awx_writes_them_every_key_and_string_unsafe() -> None:
    text = awx_runner.unsafe_extravars({"version": "v1.2.3", "deploy_max_fail_percentage": 0, "note": "{{ x }}"})
    assert text.splitlines() == ["!unsafe 'version': !unsafe 'v1.2.3'", "!unsafe 'deploy_max_fail_percentage': 0",
                                 "!unsafe 'note': !unsafe '{{ x }}'"]
    for node in yaml.compose_all(text):
        for key, value in node.value:
            assert key.tag == "!unsafe"
            assert value.tag == ("!unsafe" if not value.value.isdigit() else "tag:yaml.org,2002:int")


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_template_launch_sends_only_what_its_playbooks_guard_accepts(name: str, tmp_path: Path) -> None:
    job = awx_runner.build(tmp_path / "job", template(name), inventory=tmp_path, job_id=5)
    rules = check.guard_rules(REPO / template(name)["playbook"])
    survey = {k for k in job.extra_vars if not k.startswith(("awx_", "tower_"))}
    assert survey <= set(rules), f"{name}: {sorted(survey - set(rules))} are not guard inputs"
    assert yaml.safe_load((job.private_data_dir / "env/envvars").read_text())["PATH"].startswith(str(awx_runner.BIN))
    cmdline = job.private_data_dir / "env" / "cmdline"
    if template(name).get("job_tags"):
        assert cmdline.read_text() == f"-t {template(name)['job_tags']}"
    else:
        assert not cmdline.exists()
    assert (job.private_data_dir / "project").resolve() == REPO and (job.private_data_dir / "inventory").is_symlink()


def test_a_schedules_extra_data_is_a_launch_answer() -> None:
    schedule = next(s for s in CONFIG["controller_schedules"] if s.get("extra_data"))
    job_template = template(schedule["unified_job_template"])
    assert awx_runner.missing_answers(job_template, schedule["extra_data"]) == []


def test_the_artifact_reader_takes_set_stats_from_the_playbook_on_stats_event(tmp_path: Path) -> None:
    events = tmp_path / "artifacts" / "9" / "job_events"
    events.mkdir(parents=True)
    (events / "1-a.json").write_text(json.dumps({"counter": 1, "event": "playbook_on_start", "event_data": {}}))
    (events / "2-b.json").write_text(json.dumps({"counter": 2, "event": "playbook_on_stats", "event_data": {
        "artifact_data": {"incident_response_health": {"status": "ok"}}}}))
    assert awx_runner.artifact_data(tmp_path, "9") == {"incident_response_health": {"status": "ok"}}
    assert awx_runner.artifact_data(tmp_path, "8") is None


# ---------------------------------------------------------------- real ansible-runner runs, this machine only


@pytest.fixture
def local_inventory(tmp_path: Path) -> Path:
    """The controller alone: no bastion, no app host, nothing a play could connect to but this machine."""
    inventory = tmp_path / "inventory"
    inventory.mkdir()
    (inventory / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}},
        "vars": {"incident_response_environment": "runner-test"}}}))
    return inventory


def test_a_launch_without_its_required_answer_is_refused_by_the_playbook_too(tmp_path, local_inventory) -> None:
    job = awx_runner.build(tmp_path / "job", template("diagnose"), local_inventory, job_id=11)
    assert job.missing == ["alert"]
    outcome = awx_runner.run(job, timeout=300)
    assert outcome.status == "failed" and outcome.rc != 0
    assert "Refused before changing anything: alert is required" in outcome.stdout
    # ansible-runner's events are there, as AWX reads them; a refused run hands over no outcome.
    assert outcome.artifact_data == {}


def test_a_template_marker_in_an_answer_is_refused_unrendered(tmp_path, local_inventory) -> None:
    canary = tmp_path / "canary"
    job = awx_runner.build(tmp_path / "job", template("diagnose"), local_inventory, job_id=12,
                           answers={"alert": "all", "incident_id": f"{{{{ lookup('pipe', 'touch {canary}') }}}}"})
    outcome = awx_runner.run(job, timeout=300)
    assert outcome.status == "failed"
    assert "Refused before changing anything" in outcome.stdout and "incident_id" in outcome.stdout
    assert not canary.exists()


def test_a_template_runs_end_to_end_and_hands_over_its_outcome(tmp_path, local_inventory) -> None:
    """maintenance_certificates, with its job tag, against one valid certificate served on 127.0.0.1."""
    (tmp_path / "tls").mkdir()
    with lab_services.tls_endpoints(tmp_path / "tls") as tls:
        valid = tls.by_name("valid")
        site = yaml.safe_load((local_inventory / "hosts.yml").read_text())
        site["all"]["vars"].update(
            incident_response_tls_endpoints=[{"name": "valid", "host": valid["host"], "port": valid["port"],
                                              "server_name": valid["server_name"], "owner": "localhost"}],
            incident_response_tls_ca_path=tls.ca_path,
            # the scribe play looks for an open incident; here the store is a temp directory on this machine
            incident_store_host="localhost", incident_store=str(tmp_path / "incidents"))
        (local_inventory / "hosts.yml").write_text(yaml.safe_dump(site))
        job = awx_runner.build(tmp_path / "job", template("maintenance_certificates"), local_inventory, job_id=13)
        outcome = awx_runner.run(job, timeout=600)
    assert outcome.status == "successful", outcome.stdout[-4000:]
    certificates = outcome.artifact_data["incident_response_maintenance"]["certificates"]
    assert certificates["verdict"] == "ok" and certificates["renewed"] == [] and certificates["check_mode"] is False
    # The job tag ran the certificate play only (-t certificates): the DR drill play had no task.
    events = awx_runner.job_events(job.private_data_dir, job.ident)
    tasks = [e["event_data"].get("task", "") for e in events if e.get("event") == "playbook_on_task_start"]
    assert "Run the drill from the bastion" not in tasks and "Check and renew" in tasks
