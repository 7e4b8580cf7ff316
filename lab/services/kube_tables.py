# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Server-side printing (meta.k8s.io/v1 Table) for the lab Kubernetes emulator.

``kubectl get`` asks the API server for a Table and prints its columns; a
server that answers with a plain list gets only NAME and AGE. The runbook's
``kubectl get pods -n incident-response`` is read for READY, STATUS and
RESTARTS, so pods get those columns (computed the way kubectl's pod printer
does, simplified); every other kind gets NAME and AGE.
"""
from __future__ import annotations

import datetime
from typing import Any

_NAME = {"name": "Name", "type": "string", "format": "name", "priority": 0, "description": "Name"}
_AGE = {"name": "Age", "type": "string", "format": "", "priority": 0, "description": "Age"}
_POD_COLUMNS = [
    _NAME,
    {"name": "Ready", "type": "string", "format": "", "priority": 0, "description": "Ready containers"},
    {"name": "Status", "type": "string", "format": "", "priority": 0, "description": "Pod status"},
    {"name": "Restarts", "type": "string", "format": "", "priority": 0, "description": "Container restarts"},
    _AGE,
    {"name": "IP", "type": "string", "format": "", "priority": 1, "description": "Pod IP"},
    {"name": "Node", "type": "string", "format": "", "priority": 1, "description": "Node"},
]


def wants_table(accept: str) -> bool:
    return "as=Table" in accept


def age(created: str | None, now: datetime.datetime) -> str:
    if not created:
        return "<unknown>"
    seconds = int((now - datetime.datetime.fromisoformat(created.replace("Z", "+00:00"))).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= 2 * size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def pod_status(pod: dict[str, Any]) -> str:
    """The STATUS column: a waiting/terminated reason beats the phase (CrashLoopBackOff, OOMKilled)."""
    status = pod.get("status") or {}
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    reason = status.get("reason") or status.get("phase") or "Unknown"
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif "terminated" in state:
            terminated = state["terminated"] or {}
            reason = terminated.get("reason") or f"ExitCode:{terminated.get('exitCode', '?')}"
    return reason


def _pod_cells(pod: dict[str, Any], now: datetime.datetime) -> list[Any]:
    status = pod.get("status") or {}
    containers = status.get("containerStatuses") or []
    total = len((pod.get("spec") or {}).get("containers") or containers)
    ready = sum(1 for c in containers if c.get("ready"))
    restarts = sum(int(c.get("restartCount") or 0) for c in containers)
    metadata = pod.get("metadata") or {}
    return [metadata.get("name"), f"{ready}/{total}", pod_status(pod), str(restarts),
            age(metadata.get("creationTimestamp"), now), status.get("podIP") or "<none>",
            (pod.get("spec") or {}).get("nodeName") or "<none>"]


def to_table(kind: str, objects: list[dict[str, Any]], resource_version: str, include_object: bool) -> dict[str, Any]:
    now = datetime.datetime.now(datetime.timezone.utc)
    rows = []
    for obj in objects:
        metadata = obj.get("metadata") or {}
        cells = (_pod_cells(obj, now) if kind == "Pod"
                 else [metadata.get("name"), age(metadata.get("creationTimestamp"), now)])
        partial = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": metadata}
        rows.append({"cells": cells, "object": obj if include_object else partial})
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": resource_version},
            "columnDefinitions": _POD_COLUMNS if kind == "Pod" else [_NAME, _AGE], "rows": rows}
