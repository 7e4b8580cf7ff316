# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The incident store on a real file system: check mode writes nothing, real processes append at once,
escalation is recorded once, the review follows the runbook's template."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import IncidentResponseError
from ansible_collections.platform_eng.incident_response.plugins.module_utils._incident_ops import execute
from ansible_collections.platform_eng.incident_response.plugins.module_utils._incident_store import IncidentStore

ID = "INC-20261124-1423-ab12"


def params(**kw):
    return {"action": "open", "incident_id": ID, "title": "Checkout 5xx above 5 %", "severity": "P1",
            "now": "2026-11-24T14:23:00Z", "actor": "alice", "source": "cli", **kw}


def tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def test_open_writes_record_and_timeline(tmp_path):
    store = IncidentStore(str(tmp_path))
    result = execute(store, params(), check_mode=False)
    assert result["record"]["id"] == ID
    record = json.loads((tmp_path / ID / "record.json").read_text())
    assert record["state"] == "triage"
    lines = (tmp_path / ID / "timeline.jsonl").read_text().splitlines()
    assert [json.loads(line)["kind"] for line in lines] == ["opened"]
    assert oct((tmp_path / ID / "record.json").stat().st_mode & 0o777) == "0o640"


def test_check_mode_decides_the_same_and_writes_nothing(tmp_path):
    store = IncidentStore(str(tmp_path))
    execute(store, params(), check_mode=False)
    before = tree(tmp_path)
    planned = execute(store, params(action="resolve", now="2026-11-24T14:40:00Z"), check_mode=True)
    assert planned["record"]["state"] == "resolution" and '"state": "resolution"' in planned["diff"]["after"]
    assert tree(tmp_path) == before


def test_unknown_incident_is_refused_and_nothing_is_written(tmp_path):
    store = IncidentStore(str(tmp_path))
    with pytest.raises(IncidentResponseError, match="no incident INC-20261124-1423-ffff"):
        execute(store, params(action="ack", incident_id="INC-20261124-1423-ffff"), check_mode=False)
    assert not (tmp_path / "INC-20261124-1423-ffff").exists()


def test_scribe_event_goes_to_the_newest_open_incident_or_nowhere(tmp_path):
    store = IncidentStore(str(tmp_path))
    nothing = execute(store, {"action": "event", "kind": "diagnosis", "note": "ok"}, check_mode=False)
    assert nothing["changed"] is False and nothing["record"] is None and list(tmp_path.iterdir()) == [tmp_path / ".lock"]
    execute(store, params(), check_mode=False)
    execute(store, {"action": "event", "kind": "diagnosis", "note": "CRITICAL 5xx", "source": "diagnose",
                    "refs": {"verdict": "critical", "report": "reports/x.md"}}, check_mode=False)
    assert [e["kind"] for e in store.timeline(ID)] == ["opened", "diagnosis"]
    assert store.load(ID)["latest_verdict"]["verdict"] == "critical"


def test_escalate_records_each_escalation_once(tmp_path):
    store = IncidentStore(str(tmp_path))
    execute(store, params(), check_mode=False)
    plan = execute(store, {"action": "escalate", "now": "2026-11-24T16:24:00Z"}, check_mode=True)
    assert [d["kind"] for d in plan["due"]] == ["response_breach", "executive"]
    assert store.timeline(ID)[-1]["kind"] == "opened"
    done = execute(store, {"action": "escalate", "now": "2026-11-24T16:24:00Z",
                           "notified": [{"incident_id": ID, "kind": "executive", "channel": "email",
                                         "to": "cto@example.com"}]}, check_mode=False)
    assert done["changed"] is True
    again = execute(store, {"action": "escalate", "now": "2026-11-24T16:29:00Z"}, check_mode=False)
    assert again == {"changed": False, "due": [], "events": [], "record": None}
    escalated = [e for e in store.timeline(ID) if e["kind"] == "escalated"]
    assert len(escalated) == 2 and escalated[1]["refs"]["notified"] == ["email -> cto@example.com"]


def _append_many(root: str, worker: int, count: int) -> None:
    store = IncidentStore(root)
    for n in range(count):
        execute(store, {"action": "event", "incident_id": ID, "kind": "note", "note": f"worker {worker} #{n} " + "x" * 500,
                        "source": f"run-{worker}"}, check_mode=False)


def test_concurrent_appends_from_processes_all_land_intact(tmp_path):
    store = IncidentStore(str(tmp_path))
    execute(store, params(), check_mode=False)
    workers = [multiprocessing.Process(target=_append_many, args=(str(tmp_path), w, 40)) for w in range(4)]
    for proc in workers:
        proc.start()
    for proc in workers:
        proc.join(60)
        assert proc.exitcode == 0
    events = store.timeline(ID)  # raises if a line is torn
    assert len(events) == 1 + 4 * 40
    assert {e["summary"].split(" #")[0] for e in events[1:]} == {f"worker {w}" for w in range(4)}
    assert json.loads((tmp_path / ID / "record.json").read_text())["id"] == ID


def test_report_renders_the_runbook_template_in_order(tmp_path):
    store = IncidentStore(str(tmp_path))
    execute(store, params(), check_mode=False)
    steps = [
        ({"action": "ack", "now": "2026-11-24T14:25:00Z", "actor": "alice"}),
        ({"action": "event", "kind": "diagnosis", "note": "CRITICAL: 5xx 12 % on app1 after v1.2.4", "source": "diagnose",
          "now": "2026-11-24T14:30:00Z", "refs": {"verdict": "critical", "report": "reports/diagnose-1.md"}}),
        ({"action": "event", "kind": "rollback_done", "note": "Rolled back to v1.2.2", "source": "rollback",
          "now": "2026-11-24T14:35:00Z"}),
        ({"action": "resolve", "now": "2026-11-24T15:45:00Z"}),
    ]
    for step in steps:
        execute(store, {"incident_id": ID, **step}, check_mode=False)
    result = execute(store, {"action": "report", "incident_id": ID, "now": "2026-11-25T09:00:00Z"}, check_mode=False)
    markdown = result["review"]["markdown"]
    headings = [line for line in markdown.splitlines() if line.startswith("#")]
    assert headings == ["# Incident Report: incident-response Outage", "## Timeline", "## Root Cause",
                        "## Resolution", "## Action Items"]
    assert "**Date:** 2026-11-24\n**Duration:** 1 hours 22 minutes\n**Severity:** P1\n**Impact:**" in markdown
    timeline = [line for line in markdown.splitlines() if line.startswith("- ") and " UTC: " in line]
    assert [line[:12] for line in timeline] == ["- 14:23 UTC:", "- 14:25 UTC:", "- 14:30 UTC:", "- 14:35 UTC:",
                                                "- 15:45 UTC:", "- 09:00 UTC:"]
    assert "DRAFT from the automated diagnosis; a person must confirm" in markdown
    assert "1. Rolled back to v1.2.2 (14:35 UTC)" in markdown
    assert markdown.rstrip().endswith("## Action Items\n- [ ]")
    assert result["review"]["data"]["durations_minutes"] == {"total": 82, "to_acknowledge": 2, "to_mitigate": 12,
                                                             "to_resolve": 82}
    assert store.load(ID)["state"] == "post-mortem"


def test_the_review_links_the_runbook_dashboards_before_the_timeline(tmp_path):
    store = IncidentStore(str(tmp_path))
    execute(store, params(), check_mode=False)
    execute(store, {"action": "resolve", "incident_id": ID, "now": "2026-11-24T15:00:00Z"}, check_mode=False)
    links = {"Grafana": "https://grafana.example.com/d/incident-response"}
    result = execute(store, {"action": "report", "incident_id": ID, "now": "2026-11-25T09:00:00Z", "links": links},
                     check_mode=False)
    markdown = result["review"]["markdown"]
    line = "Dashboards: [Grafana](https://grafana.example.com/d/incident-response)"
    assert line in markdown and markdown.index(line) < markdown.index("## Timeline")
    assert result["review"]["data"]["dashboards"] == links


def test_check_mode_on_a_store_that_does_not_exist_creates_nothing(tmp_path):
    store = IncidentStore(str(tmp_path / "incidents"))
    with pytest.raises(IncidentResponseError, match="no incident"):
        execute(store, params(action="ack"), check_mode=True)
    planned = execute(store, params(incident_id=None), check_mode=True)
    assert planned["record"]["state"] == "triage"
    assert not (tmp_path / "incidents").exists()
