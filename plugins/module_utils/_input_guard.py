# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Validation of untrusted run inputs (-e, AWX surveys, alert payloads), before anything renders them.

ansible-core renders a Jinja expression given with ``-e`` the moment the
variable is used, even inside a test such as ``version is match(...)``; so
``-e "version={{ lookup('pipe', 'id') }}"`` runs a command on the
controller. And an extra var outranks every other variable, the collection's
own registered results included. So the guard looks at *every* extra var of
the run, raw:

- a template marker anywhere in it (nested values and keys too) is refused;
- a name only the collection may set (run state, validated copies, anything
  with ``__``) is refused;
- a name that is not a declared input of the playbook is refused, with a hint,
  unless an engine adds it itself (AWX ``awx_*`` / ``tower_*``,
  ansible-rulebook's ``ansible_eda``) or the site allows it in the inventory;
- each declared input is checked against its rule (type, bounds, choices,
  ASCII pattern, visible text, report directory under the reports root).

Every refusal is collected into one message that starts with
``Refused before changing anything:``.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import typing as t

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)

TEMPLATE_MARKERS = ("{{", "{%", "{#", "}}", "%}", "#}")
DEFAULT_MAX_LENGTH = 128
REFUSED = "Refused before changing anything: "

# What the automation engines add to a run's extra vars on their own.
ENGINE_PREFIXES = ("awx_", "tower_")
ENGINE_NAMES = frozenset({"ansible_eda"})

# Run state and validated copies: the collection sets these; an extra var of the same name would outrank them.
# The guard also reserves the name its own task registers, and any name containing "__" (role internals).
RESERVED_NAMES = frozenset({
    "deploy_request", "deploy_run", "diagnose_request", "health_request", "maintenance_request",
    "incident_request", "mitigate_request", "rollback_history", "rollback_target", "rollback_candidates",
    "rollback_missing_on",
    # The guard's own configuration: read from the inventory, never from -e.
    "incident_response_extra_vars_allowed", "incident_response_reports_root",
})
RESERVED_SUFFIXES = ("_request", "_validated")

# Names people type believing they select the environment.
ENVIRONMENT_NAMES = frozenset({"env", "environment", "target_env", "target_environment", "deploy_env",
                               "deploy_environment", "stage", "incident_response_environment"})

RULE_TYPES = ("str", "int", "float", "bool", "serial", "report_dir")
TRUE_WORDS = frozenset({"true", "yes", "on", "1"})
FALSE_WORDS = frozenset({"false", "no", "off", "0"})
INT_TEXT = re.compile(r"[+-]?[0-9]+", re.ASCII)
FLOAT_TEXT = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)", re.ASCII)
PERCENT_TEXT = re.compile(r"([0-9]{1,3})%", re.ASCII)
MAX_SERIAL_BATCHES = 20


def _show(value: str, limit: int = 40) -> str:
    text = value if len(value) <= limit else value[:limit] + f"... ({len(value)} characters)"
    return repr(text)


def _type_name(value: t.Any) -> str:
    # ansible-core 2.19 hands over tagged subclasses (_AnsibleTaggedList...); name the plain type.
    plain = (cls for cls in type(value).__mro__ if cls.__module__ == "builtins" and cls is not object)
    return next(plain, type(value)).__name__


def has_markers(text: str) -> bool:
    return any(marker in text for marker in TEMPLATE_MARKERS)


def find_markers(value: t.Any, where: str) -> list[str]:
    """Where in a (nested) value a template marker sits, keys included: ['x', 'x.items[2]', ...]."""
    found: list[str] = []
    if isinstance(value, (str, bytes)):
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        if has_markers(text):
            found.append(where)
    elif isinstance(value, t.Mapping):
        for key, item in value.items():
            if has_markers(str(key)):
                found.append(f"{where} (a key)")
            found += find_markers(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple, set, frozenset)):
        for index, item in enumerate(value):
            found += find_markers(item, f"{where}[{index}]")
    return found


def is_reserved(name: str, also: t.Iterable[str] = ()) -> bool:
    return "__" in name or name in RESERVED_NAMES or name in set(also) or name.endswith(RESERVED_SUFFIXES)


def is_engine_variable(name: str) -> bool:
    return name in ENGINE_NAMES or name.startswith(ENGINE_PREFIXES)


def unknown_hint(name: str, declared: t.Iterable[str]) -> str:
    """Why an undeclared extra var is refused, and what the user probably meant."""
    declared = sorted(declared)
    if name.lower() in ENVIRONMENT_NAMES:
        return (f"{name} is not an input: select the environment with -i inventories/production "
                f"(or -i inventories/staging); without -i the run goes to the lab")
    if name.startswith("ansible_"):
        return (f"{name} is a connection variable: set it in the inventory; given with -e it would outrank the "
                f"inventory for every host (list it in incident_response_extra_vars_allowed to allow it)")
    close = difflib.get_close_matches(name, declared, n=1, cutoff=0.75)
    if close:
        return f"{name} is not an input of this playbook; did you mean {close[0]}?"
    listed = ", ".join(declared) if declared else "none"
    return f"{name} is not an input of this playbook (its inputs: {listed})"


# --------------------------------------------------------------------------- one input, one rule

def _check_text(name: str, text: str, rule: t.Mapping[str, t.Any]) -> str | None:
    if text == "":
        return f"{name} must not be empty"
    if has_markers(text):
        return f"{name} looks like a Jinja template ({_show(text)}); refused without rendering it"
    max_length = int(rule.get("max_length", DEFAULT_MAX_LENGTH))
    if len(text) > max_length:
        return f"{name} is {len(text)} characters long; the limit is {max_length}"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        return f"{name} contains control characters"
    if rule.get("reason") and not any(ch.isprintable() and not ch.isspace() for ch in text):
        return f"{name} must say why in visible text; {_show(text)} has none"
    return None


def _bounds(name: str, number: float, rule: t.Mapping[str, t.Any]) -> str | None:
    low, high = rule.get("min"), rule.get("max")
    if low is not None and number < low:
        return f"{name} is {number}; the minimum is {low}"
    if high is not None and number > high:
        return f"{name} is {number}; the maximum is {high}"
    return None


def _as_int(name: str, value: t.Any, rule: t.Mapping[str, t.Any]) -> tuple[t.Any, str | None]:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None, f"{name} must be a whole number, got {_type_name(value)}"
    if isinstance(value, str) and not INT_TEXT.fullmatch(value):
        return None, f"{name} must be a whole number, got {_show(value)}"
    number = int(value)
    return (None, problem) if (problem := _bounds(name, number, rule)) else (number, None)


def _as_float(name: str, value: t.Any, rule: t.Mapping[str, t.Any]) -> tuple[t.Any, str | None]:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None, f"{name} must be a number, got {_type_name(value)}"
    if isinstance(value, str) and not FLOAT_TEXT.fullmatch(value):
        return None, f"{name} must be a number, got {_show(value)}"
    number = float(value)
    if not math.isfinite(number):
        return None, f"{name} must be a finite number"
    return (None, problem) if (problem := _bounds(name, number, rule)) else (number, None)


def _as_bool(name: str, value: t.Any) -> tuple[t.Any, str | None]:
    if isinstance(value, bool):
        return value, None
    if isinstance(value, int) and value in (0, 1):
        return bool(value), None
    if isinstance(value, str) and value.lower() in TRUE_WORDS | FALSE_WORDS:
        return value.lower() in TRUE_WORDS, None
    shown = _show(value) if isinstance(value, str) else _type_name(value)
    return None, f"{name} must be true or false, got {shown}"


def _serial_item(name: str, item: t.Any) -> tuple[t.Any, str | None]:
    if isinstance(item, int) and not isinstance(item, bool):
        return (item, None) if item >= 1 else (None, f"{name}: a batch of {item} hosts; at least 1")
    if isinstance(item, str):
        text = item
        if INT_TEXT.fullmatch(text):
            return _serial_item(name, int(text))
        match = PERCENT_TEXT.fullmatch(text)
        if match:
            percent = int(match.group(1))
            if 1 <= percent <= 100:
                return f"{percent}%", None
            return None, f"{name}: a batch of {text}; between 1% and 100%"
        return None, f"{name} must be a number of hosts, a percentage like '30%', or a list of those; got {_show(item)}"
    return None, f"{name} must be a number of hosts, a percentage like '30%', or a list of those; got {_type_name(item)}"


def _as_serial(name: str, value: t.Any) -> tuple[t.Any, str | None]:
    if isinstance(value, (list, tuple)):
        if not value or len(value) > MAX_SERIAL_BATCHES:
            return None, f"{name} must list 1 to {MAX_SERIAL_BATCHES} batch sizes, got {len(value)}"
        batches = []
        for item in value:
            batch, problem = _serial_item(name, item)
            if problem:
                return None, problem
            batches.append(batch)
        return batches, None
    return _serial_item(name, value)


def confine(name: str, path: str, root: str) -> tuple[str | None, str | None]:
    """The real path of ``path`` if it lies under the real ``root`` (``..`` and symlinks resolved)."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if os.path.commonpath([real, real_root]) != real_root:
        return None, f"{name} {_show(path)} resolves to {real}, outside the reports root {real_root}"
    return real, None


def check(name: str, value: t.Any, rule: t.Mapping[str, t.Any],
          reports_root: str | None = None) -> tuple[t.Any, str | None]:
    """Return (validated value, None) or (None, reason it is refused)."""
    required = bool(rule.get("required", False))
    kind = rule.get("type", "str")
    if kind not in RULE_TYPES:
        raise IncidentResponseError(f"the rule for {name} has an unknown type {kind!r}; one of {', '.join(RULE_TYPES)}")
    if value is None or (isinstance(value, str) and value == "" and not required):
        if required:
            return None, f"{name} is required"
        return rule.get("default"), None
    markers = find_markers(value, name)
    if markers:
        shown = _show(value) if isinstance(value, str) else f"at {', '.join(markers)}"
        return None, f"{name} looks like a Jinja template ({shown}); refused without rendering it"
    if kind == "bool":
        return _as_bool(name, value)
    if kind == "serial":
        return _as_serial(name, value)
    if kind == "int":
        validated, problem = _as_int(name, value, rule)
    elif kind == "float":
        validated, problem = _as_float(name, value, rule)
    else:
        validated, problem = value, None
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            return None, f"{name} must be a string, got {_type_name(value)}"
    if problem:
        return None, problem
    text = str(value)
    problem = _check_text(name, text, rule)
    if problem:
        return None, problem
    choices = rule.get("choices")
    if choices is not None and text not in [str(c) for c in choices] and validated not in choices:
        return None, f"{name} {_show(text)} is not one of: {', '.join(str(c) for c in choices)}"
    pattern = rule.get("pattern")
    if pattern is not None and not re.fullmatch(pattern, text, re.ASCII):
        return None, f"{name} {_show(text)} does not match the allowed pattern {pattern}"
    if kind == "report_dir":
        if reports_root is None:
            raise IncidentResponseError(f"the rule for {name} needs a reports root")
        return confine(name, text, reports_root)
    return (text if kind == "str" else validated), None


# --------------------------------------------------------------------------- the whole run

def validate(raw: t.Mapping[str, t.Any], rules: t.Mapping[str, t.Mapping[str, t.Any]],
             reports_root: str | None = None) -> dict[str, t.Any]:
    """Validate every input named in ``rules``; raise one error listing every refusal."""
    validated, problems = _validate_inputs(raw, rules, reports_root)
    if problems:
        raise IncidentResponseError(REFUSED + "; ".join(problems))
    return validated


def _validate_inputs(raw: t.Mapping[str, t.Any], rules: t.Mapping[str, t.Mapping[str, t.Any]],
                     reports_root: str | None, skip: t.Container[str] = ()) -> tuple[dict[str, t.Any], list[str]]:
    validated: dict[str, t.Any] = {}
    problems: list[str] = []
    for name, rule in rules.items():
        if not isinstance(rule, t.Mapping):
            raise IncidentResponseError(f"the rule for {name} must be a dictionary")
        if name in skip:
            continue
        value, problem = check(name, raw.get(name), rule, reports_root)
        if problem:
            problems.append(problem)
        else:
            validated[name] = value
    return validated, problems


def screen_extra_vars(extra_vars: t.Mapping[t.Any, t.Any], declared: t.Iterable[str] | None,
                      allowed: t.Iterable[str] = (), reserved: t.Iterable[str] = ()) -> tuple[list[str], set[str]]:
    """Refusals for the run's extra vars as a whole, and the names already refused (their rules are skipped).

    ``declared`` None means the playbook's inputs are not known (its rules were not rendered because an extra var
    carries a template): markers and reserved names are still refused, unknown names are not judged.
    """
    known = set(declared or ())
    allowed, reserved = set(allowed), set(reserved)
    problems: list[str] = []
    refused: set[str] = set()
    for key, value in extra_vars.items():
        name = str(key)
        if has_markers(name):
            problems.append(f"an extra variable's name looks like a Jinja template ({_show(name)}); "
                            f"refused without rendering it")
            refused.add(name)
            continue
        if is_reserved(name, reserved):
            problems.append(f"{name} is set by the collection itself and cannot be given with -e")
            refused.add(name)
            continue
        markers = find_markers(value, name)
        if markers:
            shown = _show(value) if isinstance(value, str) else f"at {', '.join(markers)}"
            problems.append(f"{name} looks like a Jinja template ({shown}); refused without rendering it")
            refused.add(name)
            continue
        if declared is None or name in known or is_engine_variable(name) or name in allowed:
            continue
        if name == "_raw_params":
            problems.append(f"-e got text that is not name=value ({_show(str(value))}); quote the whole "
                            f"name=value pair, or give JSON")
        else:
            problems.append(unknown_hint(name, known))
        refused.add(name)
    return problems, refused


def validate_run(extra_vars: t.Mapping[t.Any, t.Any], raw: t.Mapping[str, t.Any],
                 rules: t.Mapping[str, t.Mapping[str, t.Any]] | None, *, allowed: t.Iterable[str] = (),
                 reserved: t.Iterable[str] = (), reports_root: str | None = None) -> dict[str, t.Any]:
    """Screen every extra var of the run, then check each declared input; one error lists every refusal.

    ``raw`` holds each declared input's raw value (the extra var when given, else the inventory's or None).
    ``rules`` None: the rules are unknown (see screen_extra_vars); only the screening applies.
    """
    problems, refused = screen_extra_vars(extra_vars, None if rules is None else list(rules), allowed, reserved)
    validated: dict[str, t.Any] = {}
    if rules is not None:
        validated, rule_problems = _validate_inputs(raw, rules, reports_root, skip=refused)
        problems += rule_problems
    elif not problems:
        raise IncidentResponseError("input_guard could not read its rules")
    if problems:
        raise IncidentResponseError(REFUSED + "; ".join(problems))
    return validated


def allowed_names(value: t.Any) -> list[str]:
    """The site's allow-list of extra variable names (an inventory list of plain names)."""
    if value is None or value == "":
        return []
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
        raise IncidentResponseError("incident_response_extra_vars_allowed must be a list of variable names")
    bad = [item for item in value if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", item, re.ASCII)]
    if bad:
        raise IncidentResponseError(f"incident_response_extra_vars_allowed holds names that are not variable names: "
                                    f"{', '.join(_show(item) for item in bad)}")
    return list(value)
