# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Every shipped rule, proven by ``promtool test rules`` with series that fire and series that must not.

The rule file comes from the same filter the monitoring role installs, once with production's parameters (the
runbook's minutes) and once with the lab's (seconds, from inventories/lab); the scenarios scale with them.
promtool is a test dependency (Debian's ``prometheus`` package, tools/setup.sh): without it these tests fail.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ansible_collections.platform_eng.incident_response.plugins.filter.prometheus_alert_rules import (
    prometheus_alert_rules,
    runbook_parameters,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils import _alert_rules as ar
from ansible_collections.platform_eng.incident_response.tests.unit.plugins.alert_scenarios import Scenarios, promtool_file

REPO = Path(__file__).resolve().parents[4]
RUNBOOK = yaml.safe_load((REPO / "roles/incident_response/defaults/main.yml").read_text(encoding="utf-8"))
LAB = yaml.safe_load((REPO / "inventories/lab/group_vars/all/monitoring.yml").read_text(encoding="utf-8"))


def promtool() -> str:
    found = shutil.which("promtool")
    if not found:
        pytest.fail("promtool is not installed: apt-get install prometheus (tools/setup.sh installs it)")
    return found


def inventory_kwargs() -> dict:
    return {"service": RUNBOOK["incident_response_service_name"], "thresholds": RUNBOOK["incident_response_thresholds"],
            "slo_target_percent": RUNBOOK["incident_response_sla_target_percent"],
            "selector": RUNBOOK["incident_response_prometheus_selector"],
            "dashboards": RUNBOOK["incident_response_dashboards"]}


ENVIRONMENTS = {"production": {}, "lab": LAB["incident_response_alert_parameters"]}


@pytest.fixture(scope="module", params=sorted(ENVIRONMENTS))
def rendered(request, tmp_path_factory):
    overrides = ENVIRONMENTS[request.param]
    directory = tmp_path_factory.mktemp(f"rules-{request.param}")
    rules = directory / "incident-response.rules.yml"
    rules.write_text(prometheus_alert_rules(overrides, **inventory_kwargs()), encoding="utf-8")
    params = ar.parameters(overrides, **runbook_parameters(**inventory_kwargs()))
    return request.param, rules, params


def test_the_rule_file_passes_promtool_check(rendered):
    _env, rules, _params = rendered
    done = subprocess.run([promtool(), "check", "rules", str(rules)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 13 rules found" in done.stdout


@pytest.mark.parametrize("alert", ["high_error_rate", "high_latency", "service_down", "memory_near_limit",
                                   "error_budget"])
def test_promtool_unit_tests_pass(rendered, alert, tmp_path):
    env, rules, params = rendered
    cases = Scenarios(params).cases()[alert]
    spec = promtool_file(cases, str(rules), min(case.interval for case in cases))
    path = tmp_path / f"{alert}.test.yml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False, width=1000), encoding="utf-8")

    done = subprocess.run([promtool(), "test", "rules", str(path)], capture_output=True, text=True, check=False,
                          timeout=300)

    assert done.returncode == 0, f"{env}: {done.stdout}{done.stderr}"


def test_every_shipped_rule_has_promtool_cases(rendered):
    _env, _rules, params = rendered
    covered = set()
    for cases in Scenarios(params).cases().values():
        for case in cases:
            covered |= {name for _at, name, _expected in case.checks}
            covered |= {expr for _at, expr, _samples in case.exprs}
    fired = set()
    for cases in Scenarios(params).cases().values():
        for case in cases:
            fired |= {name for _at, name, expected in case.checks if expected}
    shipped = {rule.get("alert") or rule.get("record") for group in ar.rule_groups(params)["groups"]
               for rule in group["rules"]}
    alerts = {rule["alert"] for group in ar.rule_groups(params)["groups"] for rule in group["rules"] if "alert" in rule}
    assert alerts <= covered
    assert alerts <= fired, "every alert has a case where it fires"
    # The recording rules are read by the burn-rate alerts; the shortest window is checked for its value.
    assert (shipped - alerts) & covered
