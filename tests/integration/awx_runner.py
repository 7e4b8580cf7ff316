# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a job template of awx/controller_config.yml the way AWX runs it, with ansible-runner, without AWX.

What AWX would hand ansible-runner for a launch that takes every survey default:

- the extra vars: each survey question's default when it has one that passes the question's own rules (AWX
  adds those, ``SurveyJobTemplateMixin._update_unified_job_kwargs``), the launch's answers over them, and AWX's
  ``awx_*`` / ``tower_*`` meta variables;
- written to ``env/extravars`` as AWX writes them (``awx.main.utils.safe_yaml.safe_dump``): every key and every
  string value tagged ``!unsafe``, since none of them is the template's own extra_vars
  (``ALLOW_JINJA_IN_EXTRA_VARS = 'template'``, AWX's default); ansible-runner passes the file as ``-e @file``;
- the template's job tags as ``-t`` (``RunJob.build_args``), in ``env/cmdline``;
- the project and the inventory in the private data dir (links here; AWX copies them).

A required question with no default and no answer is one AWX refuses to launch (``'version' value missing``);
``missing_answers`` says which, and a run without them shows the playbook refusing it too.
The outcome a playbook hands AWX with ``set_stats`` is read where AWX reads it: the ``playbook_on_stats`` job
event's ``event_data.artifact_data``.
"""

from __future__ import annotations

import json
import os
import sys
import typing as t
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "awx" / "controller_config.yml"
BIN = Path(sys.executable).parent


def load_config(path: Path = CONFIG) -> dict[str, t.Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def templates(config: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    return list(config.get("controller_templates") or [])


def template(config: dict[str, t.Any], name: str) -> dict[str, t.Any]:
    return next(item for item in templates(config) if item["name"] == name)


def _questions(job_template: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    return list((job_template.get("survey_spec") or {}).get("spec") or [])


def answer_errors(question: dict[str, t.Any], value: t.Any) -> list[str]:
    """AWX's checks of one survey answer (``_survey_element_validation``), for the types the templates use."""
    kind, name = question.get("type"), question.get("variable")
    low, high = question.get("min"), question.get("max")
    if kind in ("text", "textarea", "password"):
        if not isinstance(value, str):
            return [f"Value {value} for '{name}' expected to be a string."]
        if low not in ("", None) and len(value) < int(low):
            return [f"'{name}' value {value} is too small (length {len(value)} must be at least {low})."]
        if high not in ("", None) and len(value) > int(high):
            return [f"'{name}' value {value} is too large (must be no more than {high})."]
    elif kind in ("integer", "float"):
        allowed = (int,) if kind == "integer" else (int, float)
        if isinstance(value, bool) or not isinstance(value, allowed):
            return [f"Value {value} for '{name}' expected to be {'an integer' if kind == 'integer' else 'a numeric'}."]
        if (low not in ("", None) and value < low) or (high not in ("", None) and value > high):
            return [f"'{name}' value {value} is outside {low}..{high}."]
    elif kind == "multiplechoice":
        choices = question.get("choices") or []
        choices = choices.split("\n") if isinstance(choices, str) else [str(c) for c in choices]
        if value not in choices:
            return [f"Value {value} for '{name}' expected to be one of {choices}."]
    return []


def survey_defaults(job_template: dict[str, t.Any]) -> dict[str, t.Any]:
    """What AWX adds to a launch from the survey: every default that is not None and passes its question's rules."""
    return {q["variable"]: q["default"] for q in _questions(job_template)
            if q.get("default") is not None and not answer_errors(q, q["default"])}


def missing_answers(job_template: dict[str, t.Any], answers: t.Mapping[str, t.Any] | None = None) -> list[str]:
    """The required questions a launch leaves unanswered (no default either): AWX refuses such a launch."""
    given = {**survey_defaults(job_template), **(answers or {})}
    return [q["variable"] for q in _questions(job_template) if q.get("required") and q["variable"] not in given]


def meta_vars(job_template: dict[str, t.Any], job_id: int, schedule: dict[str, t.Any] | None = None,
              user: str = "alice", inventory: str = "lab") -> dict[str, t.Any]:
    """AWX's ``awx_meta_vars`` for a job of this template (a scheduled job has no user), under both prefixes."""
    values: dict[str, t.Any] = {
        "job_id": job_id, "job_launch_type": "scheduled" if schedule else "manual", "job_template_id": 1,
        "job_template_name": job_template["name"], "inventory_id": 1, "inventory_name": inventory,
        "project_revision": "0" * 40, "project_scm_branch": "main",
    }
    if schedule:
        values.update(schedule_id=1, schedule_name=schedule["name"])
    else:
        values.update(user_id=1, user_name=user, user_email=f"{user}@example.com")
    return {f"{prefix}_{key}": value for prefix in ("awx", "tower") for key, value in values.items()}


class _UnsafeDumper(yaml.SafeDumper):
    """AWX's SafeStringDumper: every string, keys included, as ``!unsafe``."""

    def represent_data(self, data: t.Any) -> t.Any:
        if isinstance(data, str):
            return self.represent_scalar("!unsafe", data)
        return super().represent_data(data)


def unsafe_extravars(extra_vars: t.Mapping[str, t.Any]) -> str:
    """The env/extravars text AWX writes: one YAML document per top-level variable, all of it !unsafe."""
    return "".join(yaml.dump_all([{key: value}], Dumper=_UnsafeDumper, default_flow_style=False)
                   for key, value in extra_vars.items())


class Job(t.NamedTuple):
    private_data_dir: Path
    playbook: str
    ident: str
    extra_vars: dict[str, t.Any]
    missing: list[str]


def build(root: Path, job_template: dict[str, t.Any], inventory: Path, project: Path = REPO,
          answers: t.Mapping[str, t.Any] | None = None, schedule: dict[str, t.Any] | None = None, job_id: int = 1,
          envvars: t.Mapping[str, str] | None = None) -> Job:
    """An ansible-runner private data dir for one launch of ``job_template`` (schedule: its extra_data answers)."""
    answers = {**((schedule or {}).get("extra_data") or {}), **(answers or {})}
    extra_vars = {**survey_defaults(job_template), **answers, **meta_vars(job_template, job_id, schedule)}
    (root / "env").mkdir(parents=True, exist_ok=True)
    (root / "env" / "extravars").write_text(unsafe_extravars(extra_vars), encoding="utf-8")
    if job_template.get("job_tags"):
        (root / "env" / "cmdline").write_text(f"-t {job_template['job_tags']}", encoding="utf-8")
    # ansible-runner runs ansible-playbook from PATH: the venv's, as in an execution environment.
    env = {"PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "ANSIBLE_NOCOLOR": "1", **(envvars or {})}
    (root / "env" / "envvars").write_text(yaml.safe_dump(env), encoding="utf-8")
    for name, target in (("project", project), ("inventory", inventory)):
        link = root / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target, target_is_directory=target.is_dir())
    return Job(root, job_template["playbook"], str(job_id), extra_vars, missing_answers(job_template, answers))


class Outcome(t.NamedTuple):
    status: str  # ansible-runner's: successful, failed, timeout, canceled
    rc: int
    stdout: str
    artifact_data: dict[str, t.Any] | None  # set_stats, from the playbook_on_stats event; None without that event


def job_events(root: Path, ident: str) -> list[dict[str, t.Any]]:
    events = []
    for path in sorted((root / "artifacts" / ident / "job_events").glob("*.json")):
        events.append(json.loads(path.read_text(encoding="utf-8")))
    return sorted(events, key=lambda event: event.get("counter", 0))


def artifact_data(root: Path, ident: str) -> dict[str, t.Any] | None:
    """What AWX stores as the job's artifacts: the playbook_on_stats event's event_data.artifact_data."""
    stats = [e for e in job_events(root, ident) if e.get("event") == "playbook_on_stats"]
    if not stats:
        return None
    return dict(stats[-1].get("event_data", {}).get("artifact_data") or {})


def run(job: Job, timeout: int = 1800) -> Outcome:
    import ansible_runner  # pylint: disable=import-outside-toplevel

    runner = ansible_runner.run(private_data_dir=str(job.private_data_dir), playbook=job.playbook, ident=job.ident,
                                quiet=True, timeout=timeout)
    stdout_path = job.private_data_dir / "artifacts" / job.ident / "stdout"
    stdout = stdout_path.read_text(encoding="utf-8", errors="replace") if stdout_path.exists() else ""
    return Outcome(runner.status, runner.rc, stdout, artifact_data(job.private_data_dir, job.ident))
