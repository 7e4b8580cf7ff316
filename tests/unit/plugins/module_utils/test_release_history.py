# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Release history: what rollback goes back to, what pruning may delete, and a history file
that is never torn. App directories are built in tmp_path with real symlinks."""

from __future__ import annotations

import json
import os
import typing as t
from pathlib import Path

import pytest

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _release_history as history
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import IncidentResponseError

AT = "2026-11-27T10:00:00Z"


def entry(version: str, result: str, run_id: str | None = None) -> dict[str, t.Any]:
    return {"version": version, "result": result, "run_id": run_id or f"run-{version}", "by": "alice", "at": AT}


def make_app(tmp_path: Path, releases: t.Sequence[str], current: str | None = None,
             extra: t.Sequence[str] = ()) -> Path:
    """An app dir with releases/<name>/ made oldest first (mtimes a minute apart) and ``current``."""
    app = tmp_path / "app"
    base = app / "releases"
    base.mkdir(parents=True)
    for age, name in enumerate(releases):
        (base / name).mkdir()
        stamp = 1_700_000_000 + age * 60
        os.utime(base / name, (stamp, stamp))
    for name in extra:
        (base / name).mkdir()
    if current:
        (app / "current").symlink_to(f"releases/{current}")
    return app


# --- record -----------------------------------------------------------------------------------


def test_record_appends_an_entry_for_a_new_run() -> None:
    entries, changed = history.record([], "v1.2.3", "deploying", "run-1", "alice", now=AT)

    assert changed is True
    assert entries == [{"version": "v1.2.3", "result": "deploying", "run_id": "run-1", "by": "alice", "at": AT}]


def test_record_updates_this_runs_entry_instead_of_adding_another() -> None:
    entries, _changed = history.record([], "v1.2.3", "deploying", "run-1", "alice", now=AT)

    entries, changed = history.record(entries, "v1.2.3", "healthy", "run-1", "alice", note="watch passed",
                                      now="2026-11-27T10:20:00Z")

    assert changed is True
    assert len(entries) == 1
    assert entries[0]["result"] == "healthy"
    assert entries[0]["note"] == "watch passed"
    assert entries[0]["at"] == AT and entries[0]["updated_at"] == "2026-11-27T10:20:00Z"


@pytest.mark.parametrize("note", [None, "watch passed"])
def test_recording_the_same_result_again_changes_nothing(note: str | None) -> None:
    entries, _changed = history.record([], "v1.2.3", "healthy", "run-1", "alice", note="watch passed", now=AT)

    again, changed = history.record(entries, "v1.2.3", "healthy", "run-1", "alice", note=note, now="later")

    assert changed is False
    assert again == entries


def test_record_does_not_modify_the_list_it_was_given() -> None:
    original = [entry("v1.2.3", "deploying", "run-1")]

    history.record(original, "v1.2.3", "healthy", "run-1", "alice", now=AT)

    assert original[0]["result"] == "deploying"


def test_another_run_deploying_the_same_version_gets_its_own_entry() -> None:
    entries, changed = history.record([entry("v1.2.3", "healthy", "run-1")], "v1.2.3", "deploying", "run-2", "bob")

    assert changed is True
    assert [(e["run_id"], e["result"]) for e in entries] == [("run-1", "healthy"), ("run-2", "deploying")]


def test_an_unknown_result_is_refused() -> None:
    with pytest.raises(IncidentResponseError, match="result must be one of"):
        history.record([], "v1.2.3", "great", "run-1", "alice")


# --- last_good / previous_good ------------------------------------------------------------------


@pytest.mark.parametrize(
    "entries, expected",
    [
        pytest.param([], None, id="no-history"),
        pytest.param([entry("v1.2.2", "healthy"), entry("v1.2.3", "healthy")], "v1.2.3", id="newest-healthy"),
        pytest.param([entry("v1.2.2", "healthy"), entry("v1.2.3", "healthy"), entry("v1.2.3", "rolled_back")],
                     "v1.2.2", id="later-rolled-back"),
        pytest.param([entry("v1.2.2", "healthy"), entry("v1.2.3", "healthy"), entry("v1.2.3", "failed")],
                     "v1.2.2", id="later-failed"),
        pytest.param([entry("v1.2.2", "healthy"), entry("v1.2.3", "deploying")], "v1.2.2", id="never-healthy"),
        pytest.param([entry("v1.2.2", "healthy"), entry("v1.2.3", "rolled_back"), entry("v1.2.3", "healthy")],
                     "v1.2.3", id="healthy-again-after-a-rollback"),
        pytest.param([entry("v1.2.3", "failed"), entry("v1.2.2", "rolled_back")], None, id="nothing-good"),
    ],
)
def test_last_good_is_the_newest_release_still_considered_healthy(
    entries: list[dict[str, t.Any]], expected: str | None
) -> None:
    assert history.last_good(entries) == expected


def test_last_good_skips_releases_no_longer_on_disk() -> None:
    entries = [entry("v1.2.1", "healthy"), entry("v1.2.2", "healthy"), entry("v1.2.3", "healthy")]

    assert history.last_good(entries, kept=["v1.2.1", "v1.2.2"]) == "v1.2.2"
    assert history.last_good(entries, kept=[]) is None


def test_previous_good_excludes_the_current_release() -> None:
    entries = [entry("v1.2.1", "healthy"), entry("v1.2.2", "healthy"), entry("v1.2.3", "healthy")]

    assert history.last_good(entries, exclude="v1.2.3") == "v1.2.2"
    assert history.last_good(entries, exclude="v1.2.3", kept=["v1.2.1", "v1.2.3"]) == "v1.2.1"


# --- prunable -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kept, keep, protect, doomed",
    [
        pytest.param(["v1", "v2", "v3"], 5, [], [], id="fewer-than-keep"),
        pytest.param(["v1", "v2", "v3", "v4", "v5"], 3, [], ["v1", "v2"], id="oldest-first"),
        pytest.param(["v1", "v2", "v3", "v4", "v5"], 3, ["v1"], ["v2", "v3"], id="old-last-good-survives"),
        pytest.param(["v1", "v2", "v3", "v4"], 1, ["v4", "v2", "v1"], ["v3"], id="current-and-goods-survive"),
        pytest.param(["v1", "v2", "v3"], 1, ["v1", "v2", "v3"], [], id="everything-protected"),
        pytest.param(["v1", "v2", "v3"], 2, [None, "v1"], ["v2"], id="no-current"),
    ],
)
def test_prunable_removes_the_oldest_beyond_keep_but_never_a_protected_release(
    kept: list[str], keep: int, protect: list[str | None], doomed: list[str]
) -> None:
    result = history.prunable(kept, keep, protect)

    assert result == doomed
    assert not set(result) & {p for p in protect if p}
    assert len(kept) - len(result) >= min(keep, len(kept))


@pytest.mark.parametrize("keep", [0, -1])
def test_keeping_fewer_than_one_release_is_refused(keep: int) -> None:
    with pytest.raises(IncidentResponseError, match="keep_releases must be at least 1"):
        history.prunable(["v1.2.3"], keep, [])


# --- the app directory -------------------------------------------------------------------------------


def test_kept_releases_lists_complete_version_directories_oldest_first(tmp_path: Path) -> None:
    app = make_app(tmp_path, ["v1.2.10", "v1.2.2", "v1.2.3"],
                   extra=["v1.2.4.partial-20261127T103000-4242", ".partial-v1.2.5", "latest", "v1.2"])
    (app / "releases" / "v9.9.9").write_text("a stray file, not a release")

    assert history.kept_releases(str(app)) == ["v1.2.10", "v1.2.2", "v1.2.3"]
    assert history.partial_releases(str(app)) == [".partial-v1.2.5", "v1.2.4.partial-20261127T103000-4242"]


def test_an_app_dir_without_releases_has_nothing_kept_and_no_current(tmp_path: Path) -> None:
    assert history.kept_releases(str(tmp_path / "missing")) == []
    assert history.partial_releases(str(tmp_path / "missing")) == []
    assert history.current_version(str(tmp_path / "missing")) is None


def test_describe_names_current_last_good_rollback_target_and_what_to_prune(tmp_path: Path) -> None:
    app = make_app(tmp_path, ["v1.2.0", "v1.2.1", "v1.2.2", "v1.2.3", "v1.2.4"], current="v1.2.4",
                   extra=["v1.2.5.partial-run-9"])
    path = tmp_path / "state" / "releases.json"
    history.save(str(path), [
        entry("v1.2.0", "healthy"),
        entry("v1.2.1", "healthy"),
        entry("v1.2.2", "healthy"),
        entry("v1.2.3", "healthy"),
        entry("v1.2.3", "rolled_back", "run-oops"),
        entry("v1.2.4", "healthy"),
    ])

    info = history.describe(str(app), str(path), keep=2)

    assert info["current"] == "v1.2.4"
    assert info["current_result"] == "healthy"
    assert info["last_good"] == "v1.2.4"
    assert info["previous_good"] == "v1.2.2"  # v1.2.3 was rolled back
    assert info["kept"] == ["v1.2.0", "v1.2.1", "v1.2.2", "v1.2.3", "v1.2.4"]
    assert info["partial"] == ["v1.2.5.partial-run-9"]
    assert info["prune"] == ["v1.2.0", "v1.2.1", "v1.2.3"]
    assert len(info["entries"]) == 6


def test_describe_after_a_failed_deploy_points_back_at_the_last_good_release(tmp_path: Path) -> None:
    app = make_app(tmp_path, ["v1.2.2", "v1.2.3"], current="v1.2.3")
    path = tmp_path / "releases.json"
    history.save(str(path), [entry("v1.2.2", "healthy"), entry("v1.2.3", "failed")])

    info = history.describe(str(app), str(path), keep=1)

    assert info["current_result"] == "failed"
    assert info["last_good"] == info["previous_good"] == "v1.2.2"
    assert info["prune"] == []  # one to keep, and both the live and the good release are protected


def test_describe_without_history_or_current_still_answers(tmp_path: Path) -> None:
    app = make_app(tmp_path, ["v1.2.3"])

    info = history.describe(str(app), str(tmp_path / "none.json"))

    assert info["current"] is None and info["current_result"] is None
    assert info["last_good"] is None and info["previous_good"] is None
    assert info["entries"] == [] and info["kept"] == ["v1.2.3"] and info["prune"] == []


def test_describe_refuses_keep_below_one(tmp_path: Path) -> None:
    app = make_app(tmp_path, ["v1.2.3"], current="v1.2.3")

    with pytest.raises(IncidentResponseError, match="keep_releases"):
        history.describe(str(app), str(tmp_path / "none.json"), keep=0)


# --- the history file ---------------------------------------------------------------------------------


def test_save_then_load_round_trips_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = tmp_path / "state" / "releases.json"
    entries = [entry("v1.2.2", "healthy"), entry("v1.2.3", "deploying")]

    history.save(str(path), entries)
    history.save(str(path), entries + [entry("v1.2.3", "healthy", "run-2")])

    assert history.load(str(path))[-1]["run_id"] == "run-2"
    assert json.loads(path.read_text())["schema"] == 1
    assert sorted(p.name for p in path.parent.iterdir()) == ["releases.json"]


def test_a_save_that_fails_half_way_keeps_the_old_file_and_no_temporary_files(tmp_path: Path) -> None:
    path = tmp_path / "releases.json"
    history.save(str(path), [entry("v1.2.2", "healthy")])
    before = path.read_bytes()

    with pytest.raises(TypeError):
        history.save(str(path), [entry("v1.2.2", "healthy"), {"version": object()}])

    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["releases.json"]


def test_save_keeps_only_the_newest_entries(tmp_path: Path) -> None:
    path = tmp_path / "releases.json"
    entries = [entry(f"v1.0.{n}", "healthy") for n in range(history.MAX_ENTRIES + 5)]

    history.save(str(path), entries)

    saved = history.load(str(path))
    assert len(saved) == history.MAX_ENTRIES
    assert saved[0]["version"] == "v1.0.5" and saved[-1] == entries[-1]


def test_a_missing_history_file_is_an_empty_history(tmp_path: Path) -> None:
    assert history.load(str(tmp_path / "releases.json")) == []


@pytest.mark.parametrize(
    "content, reason",
    [
        pytest.param('{"releases": [', "cannot be read", id="torn-json"),
        pytest.param("", "cannot be read", id="empty"),
        pytest.param("[]", "not a history file", id="a-list"),
        pytest.param('{"releases": "v1.2.3"}', "not a history file", id="releases-not-a-list"),
    ],
)
def test_a_corrupt_history_file_is_a_clear_error(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "releases.json"
    path.write_text(content)

    with pytest.raises(IncidentResponseError) as caught:
        history.load(str(path))

    assert str(path) in str(caught.value) and reason in str(caught.value)
