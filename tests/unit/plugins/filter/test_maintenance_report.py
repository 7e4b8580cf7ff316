# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A maintenance job's report has the diagnosis report's shape, its own schema, and one verdict rule."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.platform_eng.incident_response.plugins.filter.maintenance_report import maintenance_report


def finding(name: str, status: str, evidence: str = "") -> dict:
    return {"name": name, "target": "t", "status": status, "value": 1, "threshold": None, "unit": None,
            "evidence": evidence, "remediation": "fix it" if status != "ok" else None}


def test_the_worst_finding_decides_and_the_report_names_it() -> None:
    out = maintenance_report(
        [{"source": "s3_backup", "findings": [finding("backup_age", "critical", "16:17 old (RPO 15 min)")]},
         {"source": "restore", "findings": [finding("restore_run", "ok"), finding("restore_time", "unknown")]}],
        title="DR drill", schema="incident_response.dr_drill/v1", hosts={"bastion": ["restore", "s3_backup"]},
        durations={"restore_seconds": 1.5}, details={"restore": {"dropped": True}})
    report = out["report"]
    assert report["schema"] == "incident_response.dr_drill/v1" and report["verdict"]["status"] == "critical"
    assert report["verdict"]["counts"] == {"critical": 1, "warn": 0, "unknown": 1, "ok": 1}
    assert report["findings"]["critical"][0]["source"] == "s3_backup" and report["details"]["restore"]["dropped"]
    assert out["markdown"].startswith("# DR drill: CRITICAL") and "16:17 old (RPO 15 min)" in out["markdown"]
    assert "restore_seconds 1.5" in out["markdown"] and out["lines"][0].startswith("DR drill: CRITICAL")


def test_nothing_wrong_is_all_clear() -> None:
    out = maintenance_report([{"source": "tls", "findings": [finding("tls_certificate", "ok")]}],
                             title="Certificates", schema="incident_response.certificates/v1")
    assert out["report"]["verdict"]["all_clear"] is True


def test_findings_of_another_shape_are_refused() -> None:
    with pytest.raises(AnsibleFilterError, match="shared shape"):
        maintenance_report([{"source": "x", "findings": [{"status": "ok"}]}], title="x", schema="x/v1")


def test_the_drill_report_links_the_dashboards() -> None:
    dashboards = {"Grafana": "https://grafana.example.com/d/incident-response"}
    out = maintenance_report([{"source": "restore", "findings": [finding("restore_time", "warn")]}],
                             title="DR drill", schema="incident_response.dr_drill/v1", dashboards=dashboards)
    assert out["report"]["dashboards"] == dashboards
    assert "Dashboards: [Grafana](https://grafana.example.com/d/incident-response)" in out["markdown"]
    assert "Dashboards: Grafana https://grafana.example.com/d/incident-response" in out["lines"]
