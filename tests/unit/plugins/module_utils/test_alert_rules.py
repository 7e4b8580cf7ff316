# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests for _alert_rules: the catalogue, the parameters and what the rule file says."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ansible_collections.platform_eng.incident_response.plugins.filter.prometheus_alert_rules import (
    prometheus_alert_rules,
    runbook_parameters,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils import _alert_rules as ar
from ansible_collections.platform_eng.incident_response.plugins.module_utils import _diagnose
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import IncidentResponseError

REPO = Path(__file__).resolve().parents[4]
RUNBOOK = yaml.safe_load((REPO / "roles/incident_response/defaults/main.yml").read_text(encoding="utf-8"))
DIAGNOSE_ALERTS = _diagnose.ALERTS


def alerts(params: ar.Parameters) -> dict[str, dict]:
    return {rule["alert"]: rule for group in ar.rule_groups(params)["groups"] for rule in group["rules"]
            if "alert" in rule}


def test_the_runbooks_two_alerts_are_named_as_in_the_runbook():
    runbook = (REPO.parent / "shared" / "runbook.md")
    names = set(ar.alert_names())
    assert {"incident-response_high_error_rate", "incident-response_high_latency"} <= names
    if runbook.exists():  # the runbook beside the checkout, when there is one
        text = runbook.read_text(encoding="utf-8")
        assert "`incident-response_high_error_rate`" in text and "`incident-response_high_latency`" in text


def test_the_python_defaults_are_the_runbooks_numbers():
    """One source (roles/incident_response/defaults/main.yml); the defaults must not drift from it."""
    thresholds = RUNBOOK["incident_response_thresholds"]
    assert ar.DEFAULTS["error_rate_percent"] == thresholds["error_rate_percent"]
    assert ar.DEFAULTS["error_rate_window"] == f"{thresholds['error_rate_window_minutes']}m"
    assert ar.DEFAULTS["latency_p95_ms"] == thresholds["latency_p95_ms"]
    assert ar.DEFAULTS["slo_target_percent"] == RUNBOOK["incident_response_sla_target_percent"]
    assert ar.DEFAULTS["selector"] == RUNBOOK["incident_response_prometheus_selector"]
    assert ar.DEFAULTS["service"] == RUNBOOK["incident_response_service_name"]
    assert ar.DEFAULTS["runbook_url"] == RUNBOOK["incident_response_runbook_url"]


def test_every_alert_that_diagnoses_names_a_diagnosis_that_exists():
    for spec in ar.CATALOGUE:
        assert spec.diagnose is None or spec.diagnose in DIAGNOSE_ALERTS, spec.key
        assert spec.severity in ar.SEVERITIES


def test_every_alert_has_severity_service_runbook_url_dashboards_and_summary():
    params = ar.parameters(dashboards=RUNBOOK["incident_response_dashboards"])
    rules = alerts(params)
    assert set(rules) == set(ar.alert_names())
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in ar.SEVERITIES, name
        assert rule["labels"]["service"] == "incident-response"
        assert rule["annotations"]["runbook_url"].startswith(RUNBOOK["incident_response_runbook_url"] + "#")
        assert "Grafana: https://grafana.example.com/d/incident-response" in rule["annotations"]["dashboards"]
        assert rule["annotations"]["summary"]


def test_the_runbooks_thresholds_reach_the_expressions():
    rules = alerts(ar.parameters(**runbook_parameters(thresholds=RUNBOOK["incident_response_thresholds"])))
    error = rules["incident-response_high_error_rate"]
    assert error["expr"].endswith(") > 0.05") and "[5m]" in error["expr"] and error["for"] == "1m"
    assert 'code=~"5.."' in error["expr"] and 'path!="/metrics"' in error["expr"]
    latency = rules["incident-response_high_latency"]
    assert latency["expr"].startswith("histogram_quantile(0.95, sum by (job, instance, le) (rate(")
    assert latency["expr"].endswith("> 0.5")


def test_the_burn_rate_alerts_follow_the_sre_workbook():
    rules = alerts(ar.parameters())
    fast = rules["incident-response_error_budget_fast_burn"]["expr"]
    assert "incident_response:http_error_ratio:rate1h > 0.0144" in fast
    assert "incident_response:http_error_ratio:rate5m > 0.0144" in fast
    assert "incident_response:http_error_ratio:rate6h > 0.006" in fast
    assert "incident_response:http_error_ratio:rate30m > 0.006" in fast
    slow = rules["incident-response_error_budget_slow_burn"]["expr"]
    assert "rate1d > 0.003" in slow and "rate2h > 0.003" in slow and "rate3d > 0.001" in slow
    assert rules["incident-response_error_budget_fast_burn"]["labels"]["severity"] == "P1"
    assert rules["incident-response_error_budget_slow_burn"]["labels"]["severity"] == "P4"


def test_lab_seconds_and_a_severity_override():
    params = ar.parameters({"error_rate_window": "30s", "error_rate_for": "10s", "severities": {"high_latency": "P1"},
                            "evaluation_interval": "2s"})
    groups = ar.rule_groups(params)["groups"]
    assert all(group["interval"] == "2s" for group in groups)
    rules = alerts(params)
    assert "[30s]" in rules["incident-response_high_error_rate"]["expr"]
    assert rules["incident-response_high_error_rate"]["for"] == "10s"
    assert rules["incident-response_high_latency"]["labels"]["severity"] == "P1"


def test_a_zero_for_is_left_out():
    assert "for" not in alerts(ar.parameters({"down_for": "0s"}))["incident-response_service_down"]


@pytest.mark.parametrize("overrides, problem", [
    ({"error_rate_windwo": "5m"}, "did you mean error_rate_window"),
    ({"error_rate_window": "5 minutes"}, "Prometheus duration"),
    ({"error_rate_window": ""}, "Prometheus duration"),
    ({"error_rate_percent": 0}, "above 0"),
    ({"error_rate_percent": "five"}, "must be a number"),
    ({"error_rate_percent": True}, "must be a number"),
    ({"slo_page_windows": [{"long": "5m", "short": "1h", "burn_rate": 14.4}]}, "shorter than"),
    ({"slo_page_windows": [{"long": "1h", "short": "5m"}]}, "exactly long, short and burn_rate"),
    ({"slo_target_percent": 99.9, "slo_page_windows": [{"long": "1h", "short": "5m", "burn_rate": 1000}]}, "above 0"),
    ({"slo_target_percent": 90, "slo_page_windows": [{"long": "1h", "short": "5m", "burn_rate": 14.4}]},
     "can never be reached"),
    ({"severities": {"high_error_rate": "P5"}}, "one of P1"),
    ({"severities": {"disk_full": "P1"}}, "not a shipped alert"),
    ({"selector": 'job="x"} or vector(1) #'}, "label matchers"),
    ({"service": "Incident Response"}, "lower-case"),
    ({"requests_metric": "http requests"}, "metric name"),
    ({"runbook_url": "javascript:alert(1)"}, "http"),
    ({"dashboards": {"Grafana": "not a url"}}, "http"),
])
def test_bad_parameters_are_refused_with_what_is_wrong(overrides, problem):
    with pytest.raises(IncidentResponseError, match=problem):
        ar.parameters(overrides)


def test_the_filter_says_which_parameter_is_wrong():
    with pytest.raises(Exception, match="prometheus_alert_rules: error_rate_for"):
        prometheus_alert_rules({"error_rate_for": "soon"})


def test_the_rule_file_text_is_stable_and_readable():
    first = prometheus_alert_rules({}, dashboards=RUNBOOK["incident_response_dashboards"])
    assert first == prometheus_alert_rules({}, dashboards=RUNBOOK["incident_response_dashboards"])
    assert first.startswith("# Managed by platform_eng.incident_response")
    assert "expr: |-\n" in first  # multi-line expressions as blocks
    assert yaml.safe_load(first)["groups"][1]["name"] == "incident-response.alerts"


def test_durations():
    assert ar.duration_seconds("1h30m", "x") == 5400
    assert ar.duration_seconds("90s", "x") == 90
    assert ar.duration_seconds("250ms", "x") == 0.25
    assert ar.error_budget(99.9) == 0.001


def test_the_inhibitions_come_from_the_catalogue():
    rules = ar.inhibitions()
    assert rules[0]["source_matchers"] == ['alertname="incident-response_service_down"']
    assert rules[0]["equal"] == ["instance"]
    assert rules[1]["target_matchers"] == ['alertname=~"incident-response_error_budget_slow_burn"']
    assert rules[1]["equal"] == ["job"]
