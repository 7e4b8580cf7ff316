# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Release history on an app host: what was live, when, who put it there, how it went.

Rollback trusts this record rather than git tag order: the release to go
back to is the newest one that was *healthy* here, not the previous tag.
The file is rewritten atomically (write, fsync, rename), so a run killed
half-way never leaves a torn history.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import tempfile
import typing as t

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)

RESULTS = ("deploying", "healthy", "rolled_back", "failed")
MAX_ENTRIES = 200
# Release directory names are versions we created ourselves; anything else
# in releases/ (a .partial-* unpack, a stray file) is not a release.
RELEASE_NAME = re.compile(r"^v\d+\.\d+\.\d+$")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def load(path: str) -> list[dict[str, t.Any]]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise IncidentResponseError(f"Release history {path} cannot be read: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("releases"), list):
        raise IncidentResponseError(f"Release history {path} is not a history file (no 'releases' list)")
    return data["releases"]


def save(path: str, entries: list[dict[str, t.Any]]) -> None:
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".releases.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"schema": 1, "releases": entries[-MAX_ENTRIES:]}, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def record(entries: list[dict[str, t.Any]], version: str, result: str, run_id: str, by: str,
           note: str | None = None, now: str | None = None,
           extra: t.Mapping[str, t.Any] | None = None) -> tuple[list[dict[str, t.Any]], bool]:
    """Add or update this run's entry for ``version``; returns (entries, changed).

    ``extra`` adds audit fields such as the change ticket or the reason a gate
    was overridden; empty values are left out.
    """
    if result not in RESULTS:
        raise IncidentResponseError(f"result must be one of {', '.join(RESULTS)}, got {result!r}")
    fields = {k: v for k, v in (extra or {}).items() if v not in (None, "")}
    entries = [dict(e) for e in entries]
    for entry in reversed(entries):
        if entry.get("run_id") == run_id and entry.get("version") == version:
            if (entry.get("result") == result and (note is None or entry.get("note") == note)
                    and all(entry.get(k) == v for k, v in fields.items())):
                return entries, False
            entry.update(result=result, updated_at=now or _now(), **fields)
            if note is not None:
                entry["note"] = note
            return entries, True
    entry = {"version": version, "result": result, "run_id": run_id, "by": by, "at": now or _now(), **fields}
    if note is not None:
        entry["note"] = note
    entries.append(entry)
    return entries, True


def current_version(app_dir: str) -> str | None:
    """The release ``current`` points at, or None when there is none."""
    try:
        target = os.readlink(os.path.join(app_dir, "current"))
    except OSError:
        return None
    return os.path.basename(target.rstrip("/")) or None


def kept_releases(app_dir: str) -> list[str]:
    """Complete release directories on disk, oldest first by modification time."""
    base = os.path.join(app_dir, "releases")
    try:
        names = [n for n in os.listdir(base) if RELEASE_NAME.match(n) and os.path.isdir(os.path.join(base, n))]
    except FileNotFoundError:
        return []
    return sorted(names, key=lambda n: (os.stat(os.path.join(base, n)).st_mtime, n))


def partial_releases(app_dir: str) -> list[str]:
    base = os.path.join(app_dir, "releases")
    try:
        return sorted(n for n in os.listdir(base) if ".partial" in n)
    except FileNotFoundError:
        return []


def last_good(entries: t.Sequence[t.Mapping[str, t.Any]], exclude: str | None = None,
              kept: t.Collection[str] | None = None) -> str | None:
    """The newest version recorded healthy, other than ``exclude``, still on disk when ``kept`` is given.

    A version that was later rolled back or failed here is not good, even if
    an earlier run once called it healthy.
    """
    verdict: dict[str, str] = {}
    for entry in entries:
        verdict[entry["version"]] = entry["result"]
    for entry in reversed(entries):
        version = entry["version"]
        if version == exclude or verdict.get(version) != "healthy":
            continue
        if kept is not None and version not in kept:
            continue
        return version
    return None


def prunable(kept: t.Sequence[str], keep: int, protect: t.Iterable[str | None]) -> list[str]:
    """Oldest releases beyond ``keep``; never the current or the last good one."""
    if keep < 1:
        raise IncidentResponseError(f"keep_releases must be at least 1, got {keep}")
    protected = {p for p in protect if p}
    excess = len(kept) - keep
    doomed = []
    for name in kept:
        if excess <= 0:
            break
        if name in protected:
            continue
        doomed.append(name)
        excess -= 1
    return doomed


def describe(app_dir: str, history_path: str, keep: int = 5) -> dict[str, t.Any]:
    entries = load(history_path)
    current = current_version(app_dir)
    kept = kept_releases(app_dir)
    good = last_good(entries, kept=kept)
    previous_good = last_good(entries, exclude=current, kept=kept)
    return {
        "entries": entries,
        "current": current,
        "current_result": next((e["result"] for e in reversed(entries) if e["version"] == current), None),
        "last_good": good,
        "previous_good": previous_good,
        "kept": kept,
        "partial": partial_releases(app_dir),
        "prune": prunable(kept, keep, (current, good, previous_good)),
    }
