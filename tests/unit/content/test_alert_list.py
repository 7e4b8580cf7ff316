# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The runbook alerts a diagnosis knows are listed once, in module_utils/_diagnose.py.

The role's plan reads that list (the diagnose_checks filter). Static YAML cannot read Python, so the places that
must repeat it are held to it here: the playbook's input guard and its header, the role's argument spec, the
diagnose_report module's documentation, the AWX survey, and the alert catalogue's diagnoses.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _alert_rules, _diagnose
from ansible_collections.platform_eng.incident_response.plugins.modules import diagnose_report

REPO = Path(__file__).resolve().parents[3]
CHOICES = list(_diagnose.ALERT_CHOICES)


def load(path: str) -> object:
    return yaml.safe_load((REPO / path).read_text(encoding="utf-8"))


def guard_inputs(playbook: str) -> dict:
    for play in load(playbook):  # type: ignore[union-attr]
        for task in play.get("tasks", []):
            if "platform_eng.incident_response.input_guard" in task:
                return task["platform_eng.incident_response.input_guard"]["inputs"]
    raise AssertionError(f"{playbook} has no input_guard task")


def test_the_list_is_the_alerts_with_their_checks_and_all() -> None:
    assert CHOICES == [*_diagnose.CHECKS_BY_ALERT, "all"]
    placed = set(_diagnose.ON_BASTION) | set(_diagnose.PER_APP_HOST) | set(_diagnose.AWS_CHECKS) | {"k8s"}
    for alert, checks in _diagnose.CHECKS_BY_ALERT.items():
        assert set(checks) <= placed, f"{alert}: a check with no place to run"
        assert set(checks) <= set(_diagnose.RESOLUTIONS) | {"release_history"}, f"{alert}: a check without a resolution"


def test_the_playbooks_guard_accepts_exactly_these_alerts() -> None:
    assert guard_inputs("playbooks/diagnose.yml")["alert"]["choices"] == CHOICES


def test_the_playbooks_header_names_them() -> None:
    text = (REPO / "playbooks/diagnose.yml").read_text(encoding="utf-8")
    header = re.search(r"^# Alerts: (.*)\.$", text, re.MULTILINE)
    assert header and header.group(1).split(", ") == CHOICES


def test_the_roles_argument_spec_accepts_exactly_these_alerts() -> None:
    spec = load("roles/diagnose/meta/argument_specs.yml")["argument_specs"]["main"]["options"]  # type: ignore[index]
    assert spec["diagnose_alert"]["choices"] == CHOICES


def test_the_report_modules_documentation_names_them() -> None:
    assert yaml.safe_load(diagnose_report.DOCUMENTATION)["options"]["alert"]["choices"] == CHOICES


def test_the_awx_survey_offers_them() -> None:
    templates = load("awx/controller_config.yml")["controller_templates"]  # type: ignore[index]
    (diagnose,) = [t for t in templates if t["name"] == "diagnose"]
    (question,) = [q for q in diagnose["survey_spec"]["spec"] if q["variable"] == "alert"]
    assert question["choices"] == CHOICES


@pytest.mark.parametrize("spec", _alert_rules.CATALOGUE, ids=lambda spec: spec.key)
def test_every_alert_of_the_catalogue_runs_a_diagnosis_that_exists(spec: _alert_rules.AlertSpec) -> None:
    assert spec.diagnose is None or spec.diagnose in _diagnose.ALERTS


@pytest.mark.parametrize("alert", CHOICES)
def test_every_alert_plans_its_checks_and_only_those_with_something_to_ask(alert: str) -> None:
    everything = _diagnose.plan_checks(alert, aws=True, kube=True, queues=True, elasticache=True)
    wanted = _diagnose.CHECKS_BY_ALERT.get(alert) or tuple(dict.fromkeys(
        c for checks in _diagnose.CHECKS_BY_ALERT.values() for c in checks))
    assert everything["checks"] == list(wanted)
    nothing = _diagnose.plan_checks(alert, aws=False, kube=False, queues=False, elasticache=False)
    assert not set(nothing["checks"]) & (set(_diagnose.AWS_CHECKS) | {"k8s"})
    assert nothing["aws"] == [] and nothing["k8s"] == []
