# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""diagnose_report as Ansible runs it: check results in, report out (and on disk unless in check mode)."""

from __future__ import annotations

import json

from ansible_collections.platform_eng.incident_response.plugins.modules import diagnose_report
from ansible_collections.platform_eng.incident_response.tests.unit.plugins.module_runner import run_module

HEALTHY = {"source": "http", "host": "bastion",
           "result": {"findings": [{"name": "http_status", "target": "app1", "status": "ok"}]}}


def test_writes_the_report_and_says_where(capsys, tmp_path):
    result = run_module(capsys, diagnose_report, {"alert": "all", "results": [HEALTHY], "reports_dir": str(tmp_path)})
    assert result["changed"] is True and result["status"] == "ok"
    assert result["summary"][0].startswith("all: ALL CLEAR")
    assert result["summary"][-1] == f"Report: {result['paths'][1]}"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.rsplit("/", 1)[1] for p in result["paths"])


def test_check_mode_builds_the_report_but_writes_nothing(capsys, tmp_path):
    result = run_module(capsys, diagnose_report, {"alert": "all", "results": [HEALTHY], "reports_dir": str(tmp_path),
                                                  "_ansible_check_mode": True})
    assert result["changed"] is False and result["paths"] == [] and list(tmp_path.iterdir()) == []
    assert result["report"]["schema"] == "incident_response.diagnose/v1"


def test_an_unknown_alert_is_refused(capsys):
    result = run_module(capsys, diagnose_report, {"alert": "disk_full"})
    assert result["failed"] is True and "high_error_rate" in result["msg"]


def test_the_written_report_links_the_runbook_dashboards(capsys, tmp_path):
    dashboards = {"Grafana": "https://grafana.example.com/d/incident-response"}
    failing = {"source": "http", "host": "bastion",
               "result": {"findings": [{"name": "http_status", "target": "app1", "status": "critical"}]}}
    result = run_module(capsys, diagnose_report, {"alert": "high_error_rate", "results": [failing], "reports_dir": str(tmp_path),
                                                  "dashboards": dashboards})
    written = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert written["dashboards"] == dashboards
    assert "Dashboards: [Grafana](https://grafana.example.com/d/incident-response)" in next(
        tmp_path.glob("*.md")).read_text()
    assert "Dashboards: Grafana https://grafana.example.com/d/incident-response" in result["summary"]
