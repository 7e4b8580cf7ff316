# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Validation of untrusted run inputs (-e, AWX surveys, alert payloads), before anything renders them.

ansible-core renders a Jinja expression given with ``-e`` the moment the
variable is used, even inside a test such as ``version is match(...)``; so
``-e "version={{ lookup('pipe', 'id') }}"`` runs a command on the
controller. These rules are applied to the raw value, and the playbooks use
only the validated copy afterwards.
"""

from __future__ import annotations

import re
import typing as t

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)

TEMPLATE_MARKERS = ("{{", "{%", "{#", "}}", "%}", "#}")
DEFAULT_MAX_LENGTH = 128


def _show(value: str, limit: int = 40) -> str:
    text = value if len(value) <= limit else value[:limit] + f"... ({len(value)} characters)"
    return repr(text)


def _type_name(value: t.Any) -> str:
    # ansible-core 2.19 hands over tagged subclasses (_AnsibleTaggedList...); name the plain type.
    plain = (cls for cls in type(value).__mro__ if cls.__module__ == "builtins" and cls is not object)
    return next(plain, type(value)).__name__


def check(name: str, value: t.Any, rule: t.Mapping[str, t.Any]) -> tuple[str | None, str | None]:
    """Return (validated value, None) or (None, reason it is refused)."""
    required = bool(rule.get("required", False))
    if value is None or (isinstance(value, str) and value == "" and not required):
        if required:
            return None, f"{name} is required"
        return rule.get("default"), None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None, f"{name} must be a string, got {_type_name(value)}"
    text = str(value)
    if text == "":
        return None, f"{name} must not be empty"
    if any(marker in text for marker in TEMPLATE_MARKERS):
        return None, f"{name} looks like a Jinja template ({_show(text)}); refused without rendering it"
    max_length = int(rule.get("max_length", DEFAULT_MAX_LENGTH))
    if len(text) > max_length:
        return None, f"{name} is {len(text)} characters long; the limit is {max_length}"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        return None, f"{name} contains control characters"
    choices = rule.get("choices")
    if choices is not None and text not in [str(c) for c in choices]:
        return None, f"{name} {_show(text)} is not one of: {', '.join(str(c) for c in choices)}"
    pattern = rule.get("pattern")
    if pattern is not None and not re.fullmatch(pattern, text):
        return None, f"{name} {_show(text)} does not match the allowed pattern {pattern}"
    return text, None


def validate(raw: t.Mapping[str, t.Any], rules: t.Mapping[str, t.Mapping[str, t.Any]]) -> dict[str, t.Any]:
    """Validate every input named in ``rules``; raise one error listing every refusal."""
    validated: dict[str, t.Any] = {}
    problems: list[str] = []
    for name, rule in rules.items():
        if not isinstance(rule, t.Mapping):
            raise IncidentResponseError(f"the rule for {name} must be a dictionary")
        value, problem = check(name, raw.get(name), rule)
        if problem:
            problems.append(problem)
        else:
            validated[name] = value
    if problems:
        raise IncidentResponseError("Refused before changing anything: " + "; ".join(problems))
    return validated
