# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The guard's rules at their boundaries, and the screening of a whole run's extra vars."""

from __future__ import annotations

import os
import typing as t
from pathlib import Path

import pytest

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import IncidentResponseError
from ansible_collections.platform_eng.incident_response.plugins.module_utils._input_guard import (
    allowed_names,
    check,
    find_markers,
    screen_extra_vars,
    validate_run,
)

VERSION = {"required": True, "pattern": r"^v\d+\.\d+\.\d+$", "max_length": 64}


# --------------------------------------------------------------------------- patterns are ASCII

@pytest.mark.parametrize("value", ["v\u0661.2.3", "v1.\u0968.3", "v1.2.\uff13", "v1.2.3\u00b2"])
def test_digits_outside_ascii_do_not_match_a_pattern(value: str) -> None:
    validated, problem = check("version", value, VERSION)

    assert validated is None and problem is not None and "does not match" in problem


def test_ascii_digits_match() -> None:
    assert check("version", "v1.2.3", VERSION) == ("v1.2.3", None)


# --------------------------------------------------------------------------- reasons need visible text

@pytest.mark.parametrize("value", [" ", "   ", "\u00a0", "\u2003\u2003", "\u200b"])
def test_a_reason_of_whitespace_alone_is_refused(value: str) -> None:
    _validated, problem = check("deploy_window_override_reason", value, {"reason": True, "default": ""})

    assert problem is not None and "must say why in visible text" in problem


@pytest.mark.parametrize("value", ["x", " hotfix for INC-1 ", "é"])
def test_a_reason_with_one_visible_character_is_accepted(value: str) -> None:
    assert check("reason", value, {"reason": True}) == (value, None)


def test_an_empty_optional_reason_is_simply_not_given() -> None:
    assert check("reason", "", {"reason": True, "default": ""}) == ("", None)


# --------------------------------------------------------------------------- integers and floats

INT = {"type": "int", "min": 0, "max": 100}


@pytest.mark.parametrize("value, expected", [("0", 0), ("100", 100), (0, 0), (100, 100), ("+5", 5)])
def test_an_int_at_its_bounds_is_accepted_as_an_int(value: t.Any, expected: int) -> None:
    assert check("pct", value, INT) == (expected, None)


@pytest.mark.parametrize("value, reason", [
    ("-1", "is -1; the minimum is 0"),
    ("101", "is 101; the maximum is 100"),
    (101, "is 101; the maximum is 100"),
    ("abc", "must be a whole number, got 'abc'"),
    ("1.5", "must be a whole number"),
    (" 5", "must be a whole number"),
    ("\u0665", "must be a whole number"),  # Arabic-Indic five: int() would accept it
    (True, "must be a whole number, got bool"),
    ([1], "must be a whole number, got list"),
])
def test_an_int_outside_its_bounds_or_not_a_number_is_refused(value: t.Any, reason: str) -> None:
    validated, problem = check("pct", value, INT)

    assert validated is None and problem is not None and reason in problem


@pytest.mark.parametrize("value, ok", [("0.5", True), ("80", True), ("100.0", True), ("100.01", False),
                                       ("nan", False), ("inf", False), ("1e3", False)])
def test_a_float_is_bounded_and_finite(value: str, ok: bool) -> None:
    validated, problem = check("cpu", value, {"type": "float", "min": 0, "max": 100})

    assert (problem is None) is ok, problem
    if ok:
        assert validated == float(value)


# --------------------------------------------------------------------------- booleans

@pytest.mark.parametrize("value, expected", [("true", True), ("False", False), ("yes", True), ("no", False),
                                             ("on", True), ("off", False), ("1", True), ("0", False),
                                             (True, True), (False, False), (1, True), (0, False)])
def test_booleans_in_ansibles_words(value: t.Any, expected: bool) -> None:
    assert check("flag", value, {"type": "bool"}) == (expected, None)


@pytest.mark.parametrize("value", ["maybe", "2", "ture", " true", 2, [True]])
def test_anything_else_is_not_a_boolean(value: t.Any) -> None:
    _validated, problem = check("flag", value, {"type": "bool"})

    assert problem is not None and "must be true or false" in problem


# --------------------------------------------------------------------------- batch sizes (serial)

@pytest.mark.parametrize("value, expected", [
    ("1", 1), (1, 1), ("25", 25), ("1%", "1%"), ("100%", "100%"), ("30%", "30%"),
    ([1, "50%", "100%"], [1, "50%", "100%"]), (["1", "2"], [1, 2]),
])
def test_a_batch_size_is_a_positive_count_a_percentage_or_a_list_of_those(value: t.Any, expected: t.Any) -> None:
    assert check("deploy_serial", value, {"type": "serial"}) == (expected, None)


@pytest.mark.parametrize("value, reason", [
    ("0", "at least 1"), (0, "at least 1"), ("-1", "at least 1"), ("0%", "between 1% and 100%"),
    ("101%", "between 1% and 100%"), ("abc", "a number of hosts, a percentage"), ("1.5", "a number of hosts"),
    ([], "must list 1 to 20 batch sizes"), ([1] * 21, "must list 1 to 20 batch sizes"), ([1, "x"], "got 'x'"),
    (True, "got bool"), ({"a": 1}, "got dict"), ("1,50%", "a number of hosts"),
])
def test_anything_else_is_not_a_batch_size(value: t.Any, reason: str) -> None:
    _validated, problem = check("deploy_serial", value, {"type": "serial"})

    assert problem is not None and reason in problem


# --------------------------------------------------------------------------- report directories

def test_a_report_directory_must_resolve_under_the_reports_root(tmp_path: Path) -> None:
    root = tmp_path / "reports"
    root.mkdir()
    (root / "link").symlink_to("/etc")
    rule = {"type": "report_dir"}

    assert check("d", str(root / "a" / ".." / "b"), rule, str(root)) == (str(root / "b"), None)
    assert check("d", str(root), rule, str(root)) == (str(root), None)
    for outside in (f"{root}/../../etc/evil", str(root / "link" / "evil"), "/etc/evil", f"{root}-x"):
        validated, problem = check("d", outside, rule, str(root))
        assert validated is None and problem is not None and "outside the reports root" in problem, outside


def test_a_relative_report_directory_is_resolved_from_the_working_directory(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "reports").mkdir()
    monkeypatch.chdir(tmp_path)

    assert check("d", "reports/today", {"type": "report_dir"}, str(tmp_path / "reports")) == (
        os.path.join(str(tmp_path), "reports", "today"), None)


def test_an_unknown_rule_type_is_a_clear_error() -> None:
    with pytest.raises(IncidentResponseError, match="unknown type 'integer'"):
        check("n", "1", {"type": "integer"})


# --------------------------------------------------------------------------- template markers, anywhere

def test_markers_are_found_in_nested_values_and_keys() -> None:
    value = {"a": [1, {"b": "{{ x }}"}], "{% if %}": 1, "c": ("ok", "#}")}

    assert find_markers(value, "v") == ["v.a[1].b", "v (a key)", "v.c[1]"]


def test_a_nested_marker_in_any_extra_var_is_refused_even_if_allowed() -> None:
    problems, refused = screen_extra_vars({"awx_job_id": 7, "awx_extra": {"x": ["{{ lookup('pipe','id') }}"]}},
                                          declared=[])

    assert refused == {"awx_extra"}
    assert problems == ["awx_extra looks like a Jinja template (at awx_extra.x[0]); refused without rendering it"]


def test_a_marker_in_an_extra_vars_name_is_refused() -> None:
    problems, _refused = screen_extra_vars({"{{ lookup('pipe','id') }}": 1}, declared=["version"])

    assert problems and "an extra variable's name looks like a Jinja template" in problems[0]


# --------------------------------------------------------------------------- names: reserved, unknown, allowed

@pytest.mark.parametrize("name", ["deploy_request", "deploy_run", "diagnose_request", "x__y", "deploy__watch",
                                  "incident_response_extra_vars_allowed", "incident_response_reports_root",
                                  "anything_validated", "guard_result"])
def test_names_only_the_collection_sets_cannot_come_from_extra_vars(name: str) -> None:
    problems, _refused = screen_extra_vars({name: "v1.2.3"}, declared=[name], allowed=[name],
                                           reserved=["guard_result"])

    assert problems == [f"{name} is set by the collection itself and cannot be given with -e"]


@pytest.mark.parametrize("name", ["env", "environment", "ENV", "Environment", "incident_response_environment"])
def test_env_is_refused_with_the_way_to_select_an_environment(name: str) -> None:
    problems, _refused = screen_extra_vars({name: "production"}, declared=["version"])

    assert len(problems) == 1 and "select the environment with -i inventories/production" in problems[0]


@pytest.mark.parametrize("name, meant", [("versoin", "version"), ("deploy_serail", "deploy_serial"),
                                         ("deploy_watch_second", "deploy_watch_seconds")])
def test_a_near_misspelling_gets_a_did_you_mean(name: str, meant: str) -> None:
    problems, _refused = screen_extra_vars({name: "1"}, declared=["version", "deploy_serial", "deploy_watch_seconds"])

    assert problems == [f"{name} is not an input of this playbook; did you mean {meant}?"]


def test_an_unrelated_name_lists_the_inputs() -> None:
    problems, _refused = screen_extra_vars({"diagnose_kube_host": "http://x"}, declared=["alert", "diagnose_fail_on"])

    assert problems == ["diagnose_kube_host is not an input of this playbook (its inputs: alert, diagnose_fail_on)"]


def test_connection_variables_are_refused_unless_the_site_allows_them() -> None:
    problems, _refused = screen_extra_vars({"ansible_ssh_common_args": "-o ProxyCommand=x"}, declared=[])
    assert problems and "connection variable: set it in the inventory" in problems[0]

    assert screen_extra_vars({"ansible_user": "ops"}, declared=[], allowed=["ansible_user"]) == ([], set())


@pytest.mark.parametrize("name", ["awx_job_id", "awx_user_name", "tower_job_id", "tower_user_email", "ansible_eda"])
def test_what_the_engines_add_themselves_is_allowed(name: str) -> None:
    assert screen_extra_vars({name: {"event": {"alert": "x"}} if name == "ansible_eda" else "7"},
                             declared=["version"]) == ([], set())


def test_site_variables_are_allowed_by_the_inventory_list() -> None:
    assert screen_extra_vars({"site_region": "eu"}, declared=[], allowed=["site_region"]) == ([], set())


def test_free_text_after_a_space_in_a_key_value_extra_var_is_named() -> None:
    # -e env='production; id' reaches ansible-core as env='production;' plus _raw_params='id'.
    problems, _refused = screen_extra_vars({"env": "production;", "_raw_params": "id"}, declared=["version"])

    assert len(problems) == 2 and "not name=value ('id')" in problems[1]


@pytest.mark.parametrize("value", [["a", "b_1"], [], None, ""])
def test_the_site_allow_list_is_a_list_of_names(value: t.Any) -> None:
    assert allowed_names(value) == (value or [])


@pytest.mark.parametrize("value", ["a", ["a-b"], [1], ["{{ x }}"]])
def test_anything_else_in_the_site_allow_list_is_a_clear_error(value: t.Any) -> None:
    with pytest.raises(IncidentResponseError, match="incident_response_extra_vars_allowed"):
        allowed_names(value)


# --------------------------------------------------------------------------- one message for the whole run

def test_every_refusal_of_a_run_comes_in_one_message() -> None:
    rules = {"version": VERSION, "deploy_serial": {"type": "serial"}, "reason": {"reason": True}}
    extra = {"version": "v\u0661.2.3", "deploy_serial": "abc", "reason": "  ", "env": "production",
             "deploy_request": {"validated": {"version": "v1.2.3"}}, "x": ["{{ 1 }}"]}

    with pytest.raises(IncidentResponseError) as caught:
        validate_run(extra, extra, rules)

    message = str(caught.value)
    assert message.startswith("Refused before changing anything: ")
    for name in ("version", "deploy_serial", "reason", "env", "deploy_request", "x"):
        assert f"{name} " in message, name


def test_a_clean_run_returns_the_validated_inputs_with_their_types() -> None:
    rules = {"version": VERSION, "deploy_serial": {"type": "serial", "default": 1},
             "deploy_watch_seconds": {"type": "int", "min": 0, "max": 3600}, "deploy_lock_break": {"type": "bool",
                                                                                                   "default": False}}
    extra = {"version": "v1.2.3", "deploy_watch_seconds": "0", "awx_job_id": 4}

    assert validate_run(extra, extra, rules) == {"version": "v1.2.3", "deploy_serial": 1, "deploy_watch_seconds": 0,
                                                 "deploy_lock_break": False}


def test_without_known_rules_markers_and_reserved_names_are_still_refused() -> None:
    with pytest.raises(IncidentResponseError) as caught:
        validate_run({"x_inputs": "{{ 1 }}", "unknown": "1"}, {}, None)

    assert "x_inputs looks like a Jinja template" in str(caught.value)
    assert "unknown" not in str(caught.value)
