# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Incidents on the bastion: ``<store>/<id>/record.json`` and an append-only ``<store>/<id>/timeline.jsonl``.

Every change holds an exclusive ``flock`` on ``<store>/.lock``, so two runs
(CLI, AWX pod, alert) never interleave. The record is replaced by an atomic
rename of a fully written temporary file; a timeline event is one line,
written with one ``write`` on a file opened with ``O_APPEND``. A reader sees
the old record or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import typing as t

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._incident import (
    OPEN_STATES,
    check_id,
)

DEFAULT_STORE = "/var/lib/incident-response/incidents"


class IncidentStore:
    def __init__(self, root: str = DEFAULT_STORE) -> None:
        self.root = root

    def _dir(self, incident_id: str) -> str:
        return os.path.join(self.root, check_id(incident_id))

    @contextlib.contextmanager
    def locked(self, create: bool = True) -> t.Iterator[None]:
        """Hold the store's lock. ``create=False`` (check mode) never creates the store: an absent store has
        nothing to read and nobody to race with."""
        if not create and not os.path.isdir(self.root):
            yield
            return
        os.makedirs(self.root, mode=0o750, exist_ok=True)
        fd = os.open(os.path.join(self.root, ".lock"), os.O_RDWR | os.O_CREAT, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def exists(self, incident_id: str) -> bool:
        return os.path.isfile(os.path.join(self._dir(incident_id), "record.json"))

    def load(self, incident_id: str) -> dict[str, t.Any]:
        path = os.path.join(self._dir(incident_id), "record.json")
        try:
            with open(path, encoding="utf-8") as handle:
                return json.load(handle)
        except FileNotFoundError:
            raise IncidentResponseError(f"no incident {incident_id} in {self.root}") from None
        except ValueError as exc:
            raise IncidentResponseError(f"the record {path} is not valid JSON: {exc}") from exc

    def timeline(self, incident_id: str) -> list[dict[str, t.Any]]:
        path = os.path.join(self._dir(incident_id), "timeline.jsonl")
        events: list[dict[str, t.Any]] = []
        if not os.path.exists(path):
            return events
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    events.append(json.loads(line))
                except ValueError as exc:
                    raise IncidentResponseError(f"{path} line {number} is not valid JSON: {exc}") from exc
        return events

    def ids(self) -> list[str]:
        if not os.path.isdir(self.root):
            return []
        return sorted(name for name in os.listdir(self.root)
                      if name.startswith("INC-") and os.path.isfile(os.path.join(self.root, name, "record.json")))

    def records(self, open_only: bool = False) -> list[dict[str, t.Any]]:
        found = [self.load(incident_id) for incident_id in self.ids()]
        return [rec for rec in found if rec.get("state") in OPEN_STATES] if open_only else found

    def newest_open(self) -> dict[str, t.Any] | None:
        open_records = self.records(open_only=True)
        return max(open_records, key=lambda rec: rec["opened_at"]) if open_records else None

    def save(self, record: t.Mapping[str, t.Any], events: t.Sequence[t.Mapping[str, t.Any]] = ()) -> None:
        """Write the record atomically and append its events; the caller holds ``locked()``."""
        directory = self._dir(record["id"])
        os.makedirs(directory, mode=0o750, exist_ok=True)
        for item in events:
            self.append(record["id"], item)
        tmp = os.path.join(directory, f".record.json.{os.getpid()}")
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(record, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o640)
        os.replace(tmp, os.path.join(directory, "record.json"))

    def append(self, incident_id: str, item: t.Mapping[str, t.Any]) -> None:
        line = (json.dumps(item, sort_keys=True) + "\n").encode("utf-8")
        fd = os.open(os.path.join(self._dir(incident_id), "timeline.jsonl"),
                     os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            written = os.write(fd, line)
            if written != len(line):
                raise IncidentResponseError(f"short write to the timeline of {incident_id}")
            os.fsync(fd)
        finally:
            os.close(fd)
