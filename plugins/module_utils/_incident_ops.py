# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""One state-changing request against the incident store, decided and written under the store's lock.

Used by the ``incident`` module on the bastion. In check mode the same
decision is made and returned (the planned record, events and a diff) but
nothing is written, so a playbook can plan, page, then record.
"""

from __future__ import annotations

import json
import os
import typing as t

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._incident import (
    apply,
    due_escalations,
    event,
    new_id,
    new_record,
    record_escalation,
    utc,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._incident_review import (
    render_markdown,
    review_data,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._incident_store import IncidentStore


def _dump(value: t.Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True) + "\n" if value else ""


def _diff(before: t.Any, after: t.Any, label: str) -> dict[str, str]:
    return {"before": _dump(before), "after": _dump(after), "before_header": label, "after_header": label}


def _notified_event(now: t.Any, notified: t.Sequence[t.Mapping[str, t.Any]], actor: str,
                    source: str) -> list[dict[str, t.Any]]:
    if not notified:
        return []
    parts = [f"{n.get('channel')} -> {n.get('to')} ({n.get('action')}: "
             f"{'delivered' if n.get('delivered') else 'NOT delivered'})" for n in notified]
    return [event(now, "paged", "Notified " + "; ".join(parts), actor, source, {"notified": list(notified)})]


def execute(store: IncidentStore, params: t.Mapping[str, t.Any], check_mode: bool) -> dict[str, t.Any]:
    """Run params['action'] and return the module result (changed, record, events, diff, ...)."""
    action = params["action"]
    now = utc(params.get("now"))
    actor, source = params.get("actor") or "automation", params.get("source") or "incident"
    note = params.get("note") or ""
    roles = {k: v for k, v in (params.get("roles") or {}).items() if v}
    notified = params.get("notified") or []
    # Only opening an incident may create the store: a run outside any incident writes nothing at all.
    with store.locked(create=not check_mode and (action == "open" or os.path.isdir(store.root))):
        if action == "escalate":
            return _escalate(store, now, params.get("policy") or {}, notified, check_mode)
        if action == "open" and not params.get("incident_id"):
            incident_id = new_id(now)
        else:
            incident_id = params.get("incident_id") or ""
        if action == "event" and not incident_id:
            newest = store.newest_open()
            if newest is None:
                return {"changed": False, "record": None, "events": [], "msg": "no open incident; nothing recorded"}
            incident_id = newest["id"]
        if not incident_id:
            raise IncidentResponseError(f"action={action} needs an incident_id")
        before = store.load(incident_id) if store.exists(incident_id) else None
        if action == "event" and before is None:
            raise IncidentResponseError(f"no incident {incident_id} in {store.root}")
        if before is None and action == "open":
            if not params.get("title") or not params.get("severity"):
                raise IncidentResponseError("opening an incident needs a title and a severity")
            record = new_record(incident_id, params["title"], params["severity"], now, actor, source, roles)
            summary = f"Incident opened ({params['severity']}): {params['title']}" + (f" — {note}" if note else "")
            events = [event(now, "opened", summary, actor, source, params.get("refs") or {})]
        elif before is None:
            raise IncidentResponseError(f"no incident {incident_id} in {store.root}; nothing was sent or written")
        else:
            record, events = apply(before, action, now, actor, note, params.get("severity") or "", roles,
                                   source, params.get("kind") or "", params.get("refs") or {})
        events += _notified_event(now, notified, actor, source)
        result: dict[str, t.Any] = {"changed": True, "record": record, "events": events,
                                    "diff": _diff(before, record, f"{store.root}/{incident_id}/record.json")}
        if action == "report":
            data = review_data(record, [*store.timeline(incident_id), *events], generated_at=record["updated_at"],
                               dashboards=params.get("links") or {})
            result["review"] = {"data": data, "markdown": render_markdown(data)}
        if not check_mode:
            store.save(record, events)
        return result


def record_event(store_path: str, params: t.Mapping[str, t.Any], check_mode: bool) -> dict[str, t.Any]:
    """Append one timeline event for a module that documents its own work (the deploy lock) and must not fail by it.

    Same decision as ``action=event`` (the named incident, else the newest open one, else nothing), returned as
    that action's result; a store that cannot be read or refuses comes back as ``failed`` with its message.
    """
    try:
        return execute(IncidentStore(store_path), dict(params, action="event"), check_mode)
    except (IncidentResponseError, OSError) as exc:
        return {"failed": True, "changed": False, "msg": f"Incident store {store_path}: {exc}"}


def _escalate(store: IncidentStore, now: t.Any, policy: t.Mapping[str, t.Any],
              notified: t.Sequence[t.Mapping[str, t.Any]], check_mode: bool) -> dict[str, t.Any]:
    due, written = [], []
    for record in store.records(open_only=True):
        for escalation in due_escalations(record, now, policy):
            sent = [n for n in notified if n.get("incident_id") == record["id"] and n.get("kind") == escalation.kind]
            changed = record_escalation(record, escalation, now, [f"{n.get('channel')} -> {n.get('to')}"
                                                                  for n in sent])
            due.append({"incident_id": record["id"], "kind": escalation.kind, "reason": escalation.reason,
                        "record": record})
            if not check_mode:
                store.save(changed.record, changed.events)
            written.extend(changed.events)
            record = changed.record
    return {"changed": bool(due), "due": due, "events": written, "record": None}
