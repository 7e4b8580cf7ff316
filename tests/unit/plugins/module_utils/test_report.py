# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The diagnosis report: schema, order by severity, Markdown for people, and a short all-clear."""

from __future__ import annotations

import datetime
import json

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _report
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import Finding

NOW = datetime.datetime(2026, 11, 27, 3, 4, 5, tzinfo=datetime.timezone.utc)
ROLLBACK = {"id": "rollback", "severity": "critical", "summary": "Roll back: v1.2.4 on app2 4 min ago",
            "runbook": "High Error Rate, resolution 3", "evidence": "app2 metrics_5xx_ratio 31.0 %",
            "command": "ansible-playbook playbooks/rollback.yml"}


def findings() -> list[tuple[str, str, Finding]]:
    return [
        ("http", "bastion", Finding("http_status", "app1", "ok", 200)),
        ("redis", "bastion", Finding("cache_hit_rate", "10.77.2.250:6379", "warn", 45.0, 50, "%", "45 % of 900 lookups hit")),
        ("postgres", "bastion", Finding("connection", "10.77.2.250:5432", "unknown", evidence="timed out")),
        ("http", "bastion", Finding("metrics_5xx_ratio", "app2", "critical", 31.0, 5, "%", "31 % of 812 requests",
                                    "Check for recent deployments")),
    ]


def build(**extra):
    return _report.build("high_error_rate", findings(), [ROLLBACK], {"bastion": ["http", "redis"], "app2": ["http"]},
                         {"total_seconds": 12.5}, {"redis": "Warm the cache"}, NOW, **extra)


def test_the_schema_is_stable_and_versioned():
    report = build()
    # Within v1 keys are only ever added (dashboards came last); none is renamed or removed.
    assert list(report) == ["schema", "alert", "generated_at", "verdict", "findings", "recommendations", "hosts",
                            "durations", "dashboards"]
    assert report["schema"] == "incident_response.diagnose/v1"
    assert report["generated_at"] == "2026-11-27T03:04:05Z"
    assert list(report["findings"]) == ["critical", "warn", "unknown", "ok"]
    assert report["verdict"]["counts"] == {"critical": 1, "warn": 1, "unknown": 1, "ok": 1}
    json.dumps(report)  # serialisable as is


def test_findings_are_grouped_worst_first_with_evidence_and_resolution():
    report = build()
    critical = report["findings"]["critical"][0]
    expected = ("app2", "metrics_5xx_ratio", "31 % of 812 requests")
    assert (critical["target"], critical["check"], critical["evidence"]) == expected
    assert (critical["source"], critical["host"]) == ("http", "bastion")
    assert critical["resolution"] == "Check for recent deployments"
    # A finding without its own remediation gets the runbook step for its source; an ok one gets none.
    assert report["findings"]["warn"][0]["resolution"] == "Warm the cache"
    assert report["findings"]["ok"][0]["resolution"] is None


def test_markdown_puts_the_verdict_then_the_action_then_the_evidence():
    text = _report.markdown(build())
    verdict, action = text.index("CRITICAL"), text.index("ansible-playbook playbooks/rollback.yml")
    critical, warn, unknown = text.index("## Critical (1)"), text.index("## Warnings (1)"), text.index(
        "## Could not check (1)")
    assert text.startswith("# Diagnosis: high_error_rate: CRITICAL")
    assert verdict < action < critical < warn < unknown
    assert "31 % of 812 requests" in text and "Resolution: Check for recent deployments" in text


def test_a_healthy_system_gets_a_short_all_clear():
    healthy = [("http", "bastion", Finding("http_status", f"app{n}", "ok", 200)) for n in range(30)]
    report = _report.build("all", healthy, [],
                           {"app1": ["http"]}, {"total_seconds": 11.0}, None, NOW)
    text = _report.markdown(report)
    assert report["verdict"]["all_clear"] is True
    assert text.startswith("# Diagnosis: all: ALL CLEAR")
    assert len(text.splitlines()) <= 5 and "app17" not in text
    assert _report.console_lines(report) == ["all: ALL CLEAR. 30 checks on 1 host(s) are within the runbook's thresholds."]


def test_the_console_summary_is_a_few_lines_with_the_command():
    lines = _report.console_lines(build(), ["/r/x.json"])
    assert lines[0].startswith("high_error_rate: CRITICAL. 1 critical, 1 warn, 1 could not be checked (1 ok)")
    assert lines[1] == "DO: Roll back: v1.2.4 on app2 4 min ago: ansible-playbook playbooks/rollback.yml"
    assert lines[2].startswith("[critical] app2 metrics_5xx_ratio = 31.0 %")
    assert lines[-1] == "Report: /r/x.json" and len(lines) <= 8


DASHBOARDS = {"Grafana": "https://grafana.example.com/d/incident-response",
              "CloudWatch": "https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards:name=x"}


def test_the_dashboards_are_in_the_json_under_the_headline_and_on_the_console():
    report = build(dashboards=DASHBOARDS)
    assert report["dashboards"] == DASHBOARDS
    lines = _report.markdown(report).splitlines()
    assert lines[4] == ("Dashboards: [Grafana](https://grafana.example.com/d/incident-response) · "
                        "[CloudWatch](https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards:name=x)")
    assert lines.index(lines[4]) < lines.index("## What to do")
    console = _report.console_lines(report, ["/tmp/r.json"])
    assert console[-2] == ("Dashboards: Grafana https://grafana.example.com/d/incident-response, CloudWatch "
                           "https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards:name=x")
    assert console[-1] == "Report: /tmp/r.json"


def test_an_all_clear_keeps_its_few_lines_with_the_dashboards_on_the_last():
    healthy = [("http", "bastion", Finding("http_status", "app1", "ok", 200))]
    report = _report.build("all", healthy, [], {"app1": ["http"]}, {"total_seconds": 11.0}, None, NOW, DASHBOARDS)
    lines = _report.markdown(report).splitlines()
    assert len(lines) <= 5 and lines[-1].startswith("Generated 2026-11-27T03:04:05Z in 11.0 s. Dashboards: [Grafana](")


def test_no_dashboards_no_line():
    assert "Dashboards" not in _report.markdown(build()) and build()["dashboards"] == {}
    assert _report.dashboard_links({}) == ""


def test_markdown_is_titled_after_the_alert_or_the_title_given():
    report = build()
    assert _report.markdown(report).startswith(f"# Diagnosis: {report['alert']}: ")
    assert _report.markdown(report, title="DR drill").startswith("# DR drill: ")
