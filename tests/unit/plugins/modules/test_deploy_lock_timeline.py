# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""deploy_lock's main() with timeline_event: the lock and the run's start in one call, on a real file system.

The event must land exactly where the incident module's action=event puts it (the named incident, else the
newest open one, else nowhere), never be written when the lock is refused or in check mode, and never fail
the lock when the store cannot record it.
"""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

import pytest

from ansible_collections.platform_eng.incident_response.plugins.module_utils._incident_ops import execute
from ansible_collections.platform_eng.incident_response.plugins.module_utils._incident_store import IncidentStore
from ansible_collections.platform_eng.incident_response.plugins.modules import deploy_lock
from ansible_collections.platform_eng.incident_response.tests.unit.plugins import module_runner

OLDER = "INC-20261124-1423-ab12"
NEWER = "INC-20261124-1500-cd34"


def open_incident(store: Path, incident_id: str, at: str) -> None:
    execute(IncidentStore(str(store)), {"action": "open", "incident_id": incident_id, "title": "5xx above 5 %",
                                        "severity": "P1", "now": at, "actor": "alice", "source": "cli"},
            check_mode=False)


def kinds(store: Path, incident_id: str) -> list[str]:
    return [e["kind"] for e in IncidentStore(str(store)).timeline(incident_id)]


def take(capsys: pytest.CaptureFixture[str], tmp_path: Path, run_id: str = "run-alice",
         check: bool = False, **event: t.Any) -> dict[str, t.Any]:
    args: dict[str, t.Any] = {
        "path": str(tmp_path / "deploy.lock"), "run_id": run_id, "owner": "alice", "action": "rollback",
        "version": "v1.2.2", "ttl": 600,
        "timeline_event": {"store": str(tmp_path / "incidents"), "kind": "rollback_started", "source": "rollback",
                           "note": "Rollback to v1.2.2 in lab started by alice",
                           "refs": {"run": run_id, "version": "v1.2.2"}, **event},
    }
    if check:
        args["_ansible_check_mode"] = True
    return module_runner.run_module(capsys, deploy_lock, args)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    open_incident(tmp_path / "incidents", OLDER, "2026-11-24T14:23:00Z")
    open_incident(tmp_path / "incidents", NEWER, "2026-11-24T15:00:00Z")
    return tmp_path / "incidents"


def test_taking_the_lock_records_the_start_in_the_newest_open_incident(capsys, tmp_path, store) -> None:
    result = take(capsys, tmp_path)
    assert not result.get("failed") and result["lock"]["run_id"] == "run-alice"
    assert json.loads((tmp_path / "deploy.lock").read_text())["run_id"] == "run-alice"
    assert result["timeline"]["record"]["id"] == NEWER
    assert kinds(store, NEWER) == ["opened", "rollback_started"] and kinds(store, OLDER) == ["opened"]
    written = IncidentStore(str(store)).timeline(NEWER)[-1]
    assert written["summary"] == "Rollback to v1.2.2 in lab started by alice"
    assert written["refs"] == {"run": "run-alice", "version": "v1.2.2"} and written["source"] == "rollback"


def test_a_named_incident_gets_the_event_even_when_a_newer_one_is_open(capsys, tmp_path, store) -> None:
    result = take(capsys, tmp_path, incident_id=OLDER)
    assert result["timeline"]["record"]["id"] == OLDER
    assert kinds(store, OLDER) == ["opened", "rollback_started"] and kinds(store, NEWER) == ["opened"]


def test_with_no_open_incident_the_lock_is_taken_and_nothing_is_written(capsys, tmp_path) -> None:
    result = take(capsys, tmp_path)
    assert not result.get("failed") and (tmp_path / "deploy.lock").exists()
    assert result["timeline"]["record"] is None and "no open incident" in result["timeline"]["msg"]
    # A run outside any incident creates no store at all.
    assert not (tmp_path / "incidents").exists()


def test_a_refused_lock_records_nothing(capsys, tmp_path, store) -> None:
    take(capsys, tmp_path, run_id="run-bob")
    result = take(capsys, tmp_path, run_id="run-alice")
    assert result["failed"] and "run-bob" in result["msg"] and "timeline" not in result
    assert kinds(store, NEWER) == ["opened", "rollback_started"]


def test_check_mode_says_what_would_be_recorded_and_writes_nothing(capsys, tmp_path, store) -> None:
    before = {p: p.read_bytes() for p in sorted(store.rglob("*")) if p.is_file()}
    result = take(capsys, tmp_path, check=True)
    assert result["timeline"]["record"]["id"] == NEWER
    assert [e["kind"] for e in result["timeline"]["events"]] == ["rollback_started"]
    assert {p: p.read_bytes() for p in sorted(store.rglob("*")) if p.is_file()} == before
    assert not (tmp_path / "deploy.lock").exists()


def test_a_store_that_cannot_record_is_reported_and_the_lock_is_still_held(capsys, tmp_path, store) -> None:
    result = take(capsys, tmp_path, incident_id="INC-20261124-1423-ffff")
    assert not result.get("failed") and json.loads((tmp_path / "deploy.lock").read_text())["run_id"] == "run-alice"
    assert result["timeline"]["failed"] is True
    assert "no incident INC-20261124-1423-ffff" in result["timeline"]["msg"] and "record" not in result["timeline"]


def test_without_timeline_event_nothing_is_recorded(capsys, tmp_path, store) -> None:
    args = {"path": str(tmp_path / "deploy.lock"), "run_id": "run-alice", "action": "rollback"}
    result = module_runner.run_module(capsys, deploy_lock, args)
    assert "timeline" not in result and kinds(store, NEWER) == ["opened"]


def test_releasing_the_lock_never_records_the_event(capsys, tmp_path, store) -> None:
    take(capsys, tmp_path)
    args = {"path": str(tmp_path / "deploy.lock"), "run_id": "run-alice", "state": "absent",
            "timeline_event": {"store": str(store), "kind": "rollback_started"}}
    result = module_runner.run_module(capsys, deploy_lock, args)
    assert "timeline" not in result and not (tmp_path / "deploy.lock").exists()
    assert kinds(store, NEWER) == ["opened", "rollback_started"]
