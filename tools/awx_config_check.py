# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline check of the AWX configuration as code (awx/controller_config.yml).

No AWX server runs here, so this applies AWX's own survey rules (the checks of
``JobTemplateSurveySpec._validate_spec_data`` and ``SURVEY_TYPE_MAPPING`` in
awx/api/views) and checks everything against the repository:

- every survey is a valid AWX survey (keys, question keys, types, defaults of the
  right type and inside ``choices``, unique variables, ``$encrypted$`` only as a
  password default);
- every template's playbook exists, and every survey variable is an input that
  playbook's ``input_guard`` declares, and every required guard input is a required
  survey question; a choice question offers only what the guard accepts;
- every schedule's rrule parses with ``dateutil.rrule.rrulestr`` and names a template;
  its extra_data uses only that template's guard inputs.

    .venv/bin/python tools/awx_config_check.py [awx/controller_config.yml]

Exit status 0 when clean; otherwise one line per problem.
"""

from __future__ import annotations

import sys
import typing as t
from pathlib import Path

import yaml
from dateutil.rrule import rrulestr

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "awx" / "controller_config.yml"

# AWX's SURVEY_TYPE_MAPPING: question type -> the Python types its default may have.
SURVEY_TYPE_MAPPING: dict[str, tuple[type, ...]] = {
    "text": (str,),
    "textarea": (str,),
    "password": (str,),
    "multiplechoice": (str,),
    "multiselect": (str,),
    "integer": (int,),
    "float": (float, int),
}
SPEC_KEYS = ("name", "description", "spec")
QUESTION_KEYS = ("variable", "type", "question_name", "required")
ENCRYPTED = "$encrypted$"

# input_guard rule type -> the survey types that deliver a value it accepts.
GUARD_TO_SURVEY = {
    "str": {"text", "textarea", "password", "multiplechoice"},
    "int": {"integer"},
    "float": {"float"},
    "bool": {"multiplechoice"},
    "serial": {"text"},
    "report_dir": {"text"},
}


def _choices(question: dict[str, t.Any]) -> list[str] | None:
    choices = question.get("choices")
    if isinstance(choices, str):
        return [line for line in choices.split("\n") if line]
    if isinstance(choices, list):
        return [str(item) for item in choices]
    return None


def survey_errors(spec: t.Any, where: str = "survey") -> list[str]:
    """AWX's survey rules; one message per broken rule, naming the survey and the question."""
    if not isinstance(spec, dict):
        return [f"{where}: the survey spec must be a mapping, not {type(spec).__name__}"]
    errors = [f"{where}: '{key}' missing from survey spec" for key in SPEC_KEYS if key not in spec]
    questions = spec.get("spec")
    if "spec" in spec and not isinstance(questions, list):
        return errors + [f"{where}: 'spec' must be a list of questions"]
    seen: set[str | None] = set()  # a question without 'variable' adds None
    for index, question in enumerate(questions or []):
        at = f"{where} question {index}"
        if not isinstance(question, dict):
            errors.append(f"{at}: a question must be a mapping")
            continue
        if question.get("variable"):
            at = f"{where} question {index} ({question['variable']})"
        missing = [key for key in QUESTION_KEYS if key not in question]
        errors += [f"{at}: '{key}' missing from survey question" for key in missing]
        variable, qtype = question.get("variable"), question.get("type")
        if variable in seen:
            errors.append(f"{at}: 'variable' '{variable}' duplicated in survey")
        seen.add(variable)
        if qtype not in SURVEY_TYPE_MAPPING:
            if "type" not in missing:
                errors.append(f"{at}: type '{qtype}' is not one of {', '.join(SURVEY_TYPE_MAPPING)}")
            continue
        if "required" in question and not isinstance(question["required"], bool):
            errors.append(f"{at}: 'required' must be true or false, not {question['required']!r}")
        choices = _choices(question)
        if qtype in ("multiplechoice", "multiselect") and not choices:
            errors.append(f"{at}: a {qtype} question needs a non-empty 'choices' list")
        for bound in ("min", "max"):
            if bound in question and (not isinstance(question[bound], int) or isinstance(question[bound], bool)):
                errors.append(f"{at}: '{bound}' must be an integer, not {question[bound]!r}")
        if "default" not in question or question["default"] in ("", None):
            continue
        default = question["default"]
        if default == ENCRYPTED and qtype != "password":
            errors.append(f"{at}: $encrypted$ is a reserved keyword for password question defaults")
            continue
        allowed = SURVEY_TYPE_MAPPING[qtype]
        if isinstance(default, bool) or not isinstance(default, allowed):
            names = " or ".join(kind.__name__ for kind in allowed)
            errors.append(f"{at}: default {default!r} must be of type {names} for a {qtype} question")
            continue
        if qtype == "multiplechoice" and choices and default not in choices:
            errors.append(f"{at}: default {default!r} is not one of the choices {choices}")
        if qtype == "multiselect" and choices:
            errors += [f"{at}: default {item!r} is not one of the choices {choices}"
                       for item in str(default).split("\n") if item and item not in choices]
        if qtype in ("integer", "float"):
            low, high = question.get("min"), question.get("max")
            number = t.cast(float, default)  # an int or a float: checked above
            if (isinstance(low, int) and number < low) or (isinstance(high, int) and number > high):
                errors.append(f"{at}: default {default!r} is outside min {low} / max {high}")
    return errors


def guard_errors(survey: dict[str, t.Any], rules: dict[str, dict[str, t.Any]], where: str,
                 role_defaults: dict[str, t.Any] | None = None) -> list[str]:
    """A survey asks exactly for inputs the playbook's input_guard declares, in a form it accepts.

    A survey default must be what the run does without the input (the guard's default, else the
    role's documented default), so an untouched survey behaves like the command line.
    """
    role_defaults = role_defaults or {}
    if not rules:
        return [f"{where}: the playbook declares no input_guard inputs"]
    errors = []
    questions = {q.get("variable"): q for q in survey.get("spec") or [] if isinstance(q, dict)}
    for variable, question in questions.items():
        rule = rules.get(str(variable))
        at = f"{where} question {variable}"
        if rule is None:
            errors.append(f"{at}: not an input of the playbook's input_guard (its inputs: {', '.join(sorted(rules))}); "
                          f"the guard would refuse the launch")
            continue
        kind = rule.get("type", "str")
        if question.get("type") not in GUARD_TO_SURVEY.get(kind, set()):
            errors.append(f"{at}: a {question.get('type')} question for a guard input of type {kind} "
                          f"(use {' or '.join(sorted(GUARD_TO_SURVEY.get(kind, {'?'})))})")
        choices = _choices(question) or []
        allowed = rule.get("choices") or (["true", "false"] if kind == "bool" else None)
        if allowed is not None and question.get("type") == "multiplechoice":
            extra = [c for c in choices if c not in [str(a) for a in allowed]]
            if extra:
                errors.append(f"{at}: choices {extra} are not accepted by the guard ({allowed})")
        if question.get("default") not in (None, ""):
            expected = rule.get("default", role_defaults.get(str(variable)))
            if expected is not None and str(expected) != "" and str(question["default"]).lower() != str(expected).lower():
                errors.append(f"{at}: default {question['default']!r} differs from what the run does without it "
                              f"({expected!r})")
        if rule.get("required") and not question.get("required"):
            errors.append(f"{at}: the guard requires it, so the question must be required")
        for bound, worse in (("min", lambda s, g: s < g), ("max", lambda s, g: s > g)):
            if kind in ("int", "float") and bound in question and rule.get(bound) is not None \
                    and worse(question[bound], rule[bound]):
                errors.append(f"{at}: survey {bound} {question[bound]} is outside the guard's {bound} {rule[bound]}")
    for name, rule in rules.items():
        if rule.get("required") and name not in questions:
            errors.append(f"{where}: the guard's required input {name} has no survey question")
    return errors


def rrule_errors(rrule: t.Any, where: str) -> list[str]:
    if not isinstance(rrule, str) or "DTSTART" not in rrule or "RRULE:" not in rrule:
        return [f"{where}: rrule {rrule!r} needs DTSTART and RRULE parts (AWX requires both)"]
    try:
        rule = rrulestr(rrule.replace(" RRULE:", "\nRRULE:"))
    except (ValueError, TypeError) as exc:
        return [f"{where}: rrule {rrule!r} does not parse: {exc}"]
    if "COUNT=" not in rrule and "UNTIL=" not in rrule and rule.after(rule[0]) is None:
        return [f"{where}: rrule {rrule!r} never fires again"]
    return []


def parse_rrule(rrule: str) -> t.Any:
    return rrulestr(rrule.replace(" RRULE:", "\nRRULE:"))


def _discovery() -> t.Any:
    """The injection suite's discovery of playbook inputs (tests/integration/playbook_inputs.py)."""
    sys.path.insert(0, str(REPO / "tests" / "integration"))
    try:
        import playbook_inputs  # pylint: disable=import-outside-toplevel
    finally:
        sys.path.pop(0)
    return playbook_inputs


def guard_rules(playbook: Path) -> dict[str, dict[str, t.Any]]:
    """The playbook's input_guard rules, found the way the injection suite finds them."""
    return _discovery().guard_rules(playbook)


def role_defaults(playbook: Path) -> dict[str, t.Any]:
    """The documented defaults of the role options the playbook's roles declare (Jinja ones left out)."""
    found = {}
    for name, item in _discovery().inputs(playbook).items():
        default = (item.spec or {}).get("default")
        if default is not None and "{{" not in str(default):
            found[name] = default
    return found


def config_errors(config: dict[str, t.Any], repo: Path = REPO) -> list[str]:
    errors: list[str] = []
    templates = {}
    for template in config.get("controller_templates") or []:
        name = template.get("name", "?")
        where = f"template {name}"
        templates[name] = template
        playbook = repo / str(template.get("playbook", ""))
        if not template.get("playbook") or not playbook.is_file():
            errors.append(f"{where}: playbook {template.get('playbook')!r} does not exist in the project")
            continue
        survey = template.get("survey_spec")
        rules = guard_rules(playbook)
        if survey is None:
            required = sorted(n for n, r in rules.items() if r.get("required"))
            if required:
                errors.append(f"{where}: no survey, but the guard requires {', '.join(required)}")
            continue
        found = survey_errors(survey, where)
        errors += found or guard_errors(survey, rules, where, role_defaults(playbook))
    for schedule in config.get("controller_schedules") or []:
        where = f"schedule {schedule.get('name', '?')}"
        errors += rrule_errors(schedule.get("rrule"), where)
        template = templates.get(schedule.get("unified_job_template"))
        if template is None:
            errors.append(f"{where}: no template named {schedule.get('unified_job_template')!r}")
            continue
        asked = {q.get("variable") for q in (template.get("survey_spec") or {}).get("spec") or []}
        for variable in schedule.get("extra_data") or {}:
            if variable not in asked:
                errors.append(f"{where}: extra_data {variable} is not a survey question of {template['name']}")
    return errors


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else CONFIG
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    errors = config_errors(config)
    for line in errors:
        print(line)
    if not errors:
        print(f"{path}: {len(config.get('controller_templates') or [])} templates, "
              f"{len(config.get('controller_schedules') or [])} schedules: clean")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
