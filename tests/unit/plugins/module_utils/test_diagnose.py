# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""From registered check results to the report on disk."""

from __future__ import annotations

import datetime
import json

import pytest

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _diagnose
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import IncidentResponseError

NOW = datetime.datetime(2026, 11, 27, 3, 0, tzinfo=datetime.timezone.utc)


def result(*findings: tuple[str, str, str]) -> dict:
    return {"changed": False, "findings": [{"name": n, "target": t, "status": s} for n, t, s in findings]}


def params(**extra):
    return {"alert": "high_error_rate", "started_epoch": NOW.timestamp() - 12, "fail_on": "none", "results": [
        {"source": "http", "host": "bastion", "result": result(("metrics_5xx_ratio", "app2", "critical")),
         "seconds": 11.2},
        {"source": "release_history", "host": "app2", "result": {
            "current": "v1.2.4", "entries": [{"version": "v1.2.4", "at": "2026-11-27T02:55:00Z"}]}},
        {"source": "postgres", "host": "bastion", "result": {"failed": True, "msg": "Missing psycopg2"}},
        {"source": "k8s", "host": "localhost", "result": {"finished": 0}},
        {"source": "redis", "host": "bastion", "result": {"unreachable": True, "msg": "ssh: connect to host"}},
    ], **extra}


def test_failed_and_unfinished_checks_are_could_not_check_findings():
    report = _diagnose.diagnose(params(), NOW)["report"]
    unknown = {(r["target"], r["check"]): r["evidence"] for r in report["findings"]["unknown"]}
    assert unknown[("postgres on bastion", "check_failed")] == "Missing psycopg2"
    assert ("k8s on localhost", "check_incomplete") in unknown
    assert unknown[("redis on bastion", "host_unreachable")] == "ssh: connect to host"


def test_the_release_history_feeds_the_rollback_and_the_durations_are_kept():
    out = _diagnose.diagnose(params(), NOW)
    report = out["report"]
    assert [r["id"] for r in report["recommendations"]] == ["rollback"]
    assert {r["check"] for r in report["findings"]["critical"]} == {"metrics_5xx_ratio", "recent_deploy"}
    assert report["durations"]["total_seconds"] == 12
    assert report["durations"]["checks"][0] == {"source": "http", "host": "bastion", "seconds": 11.2}
    assert report["hosts"] == {"app2": ["release_history"], "bastion": ["http", "postgres", "redis"],
                               "localhost": ["k8s"]}
    assert out["status"] == "critical" and out["fails"] is False


@pytest.mark.parametrize(("fail_on", "fails"), [("none", False), ("warn", True), ("critical", True)])
def test_fail_on(fail_on, fails):
    assert _diagnose.diagnose(params(fail_on=fail_on), NOW)["fails"] is fails


def test_an_unknown_alert_is_refused_with_the_valid_names():
    with pytest.raises(IncidentResponseError, match="valid alerts: high_error_rate, high_latency, .*memory_leak, all"):
        _diagnose.diagnose(params(alert="disk_full"), NOW)


def test_write_leaves_both_files_and_no_temporary_ones(tmp_path):
    out = _diagnose.diagnose(params(), NOW)
    paths = _diagnose.write(out["report"], out["markdown"], str(tmp_path / "reports"))
    assert [p.rsplit("/", 1)[1] for p in paths] == ["diagnose-high_error_rate-2026-11-27T030000Z.json",
                                                    "diagnose-high_error_rate-2026-11-27T030000Z.md"]
    assert json.loads(open(paths[0]).read())["schema"] == "incident_response.diagnose/v1"
    assert open(paths[1]).read().startswith("# Diagnosis: high_error_rate: CRITICAL")
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == sorted(p.rsplit("/", 1)[1] for p in paths)


def test_an_unwritable_directory_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = _diagnose.diagnose(params(), NOW)
    with pytest.raises(IncidentResponseError, match="Cannot write the diagnosis report to"):
        _diagnose.write(out["report"], out["markdown"], str(blocker / "reports"))
