# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The incident record, its lifecycle and the runbook's response-time and escalation rules.

Plain functions over plain dictionaries, with the clock passed in, so the
boundaries (14:59 / 15:01, 1:59 / 2:01, Friday to Monday) are unit-tested
without waiting. The runbook's lifecycle is

    detection -> triage -> investigation -> mitigation -> resolution -> post-mortem

``open`` records the detection and pages (triage), ``ack`` starts the
investigation, ``mitigated`` records the mitigation, ``resolve`` the
resolution, and ``report`` (the post-incident review) moves it to
post-mortem. An incident in resolution or post-mortem is closed.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import typing as t

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)

SCHEMA = "incident_response.incident/v1"
STATES = ("detection", "triage", "investigation", "mitigation", "resolution", "post-mortem")
OPEN_STATES = ("detection", "triage", "investigation", "mitigation")
CLOSED_STATES = ("resolution", "post-mortem")
SEVERITIES = ("P1", "P2", "P3", "P4")
ROLES = ("commander", "technical_lead", "communications_lead")
ID_PATTERN = r"^INC-\d{8}-\d{4}-[0-9a-f]{4}$"
# Scribe events that are a mitigation in themselves (the runbook: "Mitigation - Apply fix or rollback").
MITIGATING_KINDS = ("rollback_done", "mitigation")
ACTIONS = ("open", "ack", "update", "assign", "mitigated", "resolve", "report", "event")

# The runbook's "Alert Severity Levels" and "Escalation" sections; group_vars override them.
DEFAULT_POLICY: dict[str, t.Any] = {
    "response_minutes": {"P1": 15, "P2": 60, "P3": 240, "P4": None},
    "executive_after_minutes": 120,
    "business_day_end_hour": 17,
}


def utc(value: str | dt.datetime | None) -> dt.datetime:
    """Parse an ISO 8601 time (``Z`` or an offset) into an aware UTC datetime; None means now."""
    if value is None or value == "":
        return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    if isinstance(value, dt.datetime):
        moment = value
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError as exc:
            raise IncidentResponseError(f"{value!r} is not an ISO 8601 time such as 2026-11-29T14:23:00Z") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc)


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id(now: dt.datetime, token: str | None = None) -> str:
    """INC-<date>-<HHMM>-<4 hex>: sortable, readable on a phone, unique enough per minute."""
    return f"INC-{now:%Y%m%d}-{now:%H%M}-{token or secrets.token_hex(2)}"


def check_id(incident_id: str) -> str:
    if not re.fullmatch(ID_PATTERN, incident_id or ""):
        raise IncidentResponseError(f"incident id {incident_id!r} is not of the form INC-YYYYMMDD-HHMM-xxxx")
    return incident_id


def severity_rank(severity: str) -> int:
    """P1 is the most severe: rank 1 beats rank 4."""
    if severity not in SEVERITIES:
        raise IncidentResponseError(f"severity {severity!r} is not one of {', '.join(SEVERITIES)}")
    return int(severity[1])


def event(now: dt.datetime, kind: str, summary: str, actor: str = "automation", source: str = "incident",
          refs: t.Mapping[str, t.Any] | None = None) -> dict[str, t.Any]:
    """One timeline line: time, kind, source, actor, summary, references (report path, run id, versions)."""
    return {"at": iso(now), "kind": kind, "source": source, "actor": actor, "summary": summary,
            "refs": dict(refs or {})}


def new_record(incident_id: str, title: str, severity: str, now: dt.datetime, opened_by: str,
               source: str = "cli", roles: t.Mapping[str, str] | None = None) -> dict[str, t.Any]:
    severity_rank(severity)
    return {
        "schema": SCHEMA, "id": check_id(incident_id), "title": title, "severity": severity, "state": "triage",
        "opened_by": opened_by, "source": source,
        "roles": {**dict.fromkeys(ROLES, ""), **{k: v for k, v in (roles or {}).items() if v},
                  "scribe": "automation"},
        "opened_at": iso(now), "acknowledged_at": None, "mitigated_at": None, "resolved_at": None,
        "reported_at": None, "escalations": [], "latest_verdict": None, "updated_at": iso(now),
    }


class Change(t.NamedTuple):
    record: dict[str, t.Any]
    events: list[dict[str, t.Any]]


def _refuse(record: t.Mapping[str, t.Any], action: str, why: str) -> IncidentResponseError:
    return IncidentResponseError(f"Refused: {action} on {record['id']} ({record['severity']}, state "
                                 f"{record['state']}): {why}")


def apply(record: t.Mapping[str, t.Any], action: str, now: dt.datetime, actor: str = "automation",
          note: str = "", severity: str = "", roles: t.Mapping[str, str] | None = None,
          source: str = "incident", kind: str = "", refs: t.Mapping[str, t.Any] | None = None) -> Change:
    """Apply one lifecycle action to a record; return the new record and the timeline events it adds.

    Raises IncidentResponseError, naming the incident, its state and why, for a
    transition that makes no sense.
    """
    rec = {**record, "roles": dict(record.get("roles", {})), "escalations": list(record.get("escalations", []))}
    state = rec["state"]
    closed = state in CLOSED_STATES
    events: list[dict[str, t.Any]] = []

    def add(event_kind: str, summary: str, **extra_refs: t.Any) -> None:
        events.append(event(now, event_kind, summary, actor, source, {**(refs or {}), **extra_refs}))

    if action == "open":
        # Re-opening a closed incident; opening a new one goes through new_record().
        if not closed:
            raise _refuse(rec, action, "it is still open; use action=update or action=escalate")
        new_severity = severity or rec["severity"]
        if severity_rank(new_severity) > severity_rank(rec["severity"]) and not note:
            raise _refuse(rec, action, f"re-opening at a lower severity ({new_severity}) needs a reason in note")
        rec.update(state="triage", severity=new_severity, resolved_at=None, reported_at=None, escalations=[],
                   acknowledged_at=None, opened_at=rec["opened_at"])
        rec["reopened_at"] = iso(now)
        add("reopened", f"Re-opened as {new_severity}" + (f": {note}" if note else ""))
    elif action == "ack":
        if closed:
            raise _refuse(rec, action, "it is closed")
        if rec["acknowledged_at"]:
            raise _refuse(rec, action, f"it was already acknowledged at {rec['acknowledged_at']}")
        rec.update(state="investigation", acknowledged_at=iso(now))
        add("acknowledged", f"Acknowledged by {actor}" + (f": {note}" if note else ""))
    elif action == "update":
        if not note:
            raise _refuse(rec, action, "an update needs a note")
        if state == "post-mortem":
            raise _refuse(rec, action, "its review is written; open a new incident")
        add("note", note)
    elif action == "assign":
        given = {k: v for k, v in (roles or {}).items() if v}
        if not given:
            raise _refuse(rec, action, "name at least one of " + ", ".join(ROLES))
        if closed:
            raise _refuse(rec, action, "it is closed")
        rec["roles"].update(given)
        add("assigned", "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in sorted(given.items())))
    elif action == "mitigated":
        if closed:
            raise _refuse(rec, action, "it is closed")
        if rec["mitigated_at"]:
            raise _refuse(rec, action, f"it was already mitigated at {rec['mitigated_at']}")
        rec.update(state="mitigation", mitigated_at=iso(now), acknowledged_at=rec["acknowledged_at"] or iso(now))
        add("mitigated", "Mitigation applied" + (f": {note}" if note else ""))
    elif action == "resolve":
        if closed:
            raise _refuse(rec, action, f"it is already closed (resolved at {rec['resolved_at']})")
        rec.update(state="resolution", resolved_at=iso(now), acknowledged_at=rec["acknowledged_at"] or iso(now),
                   mitigated_at=rec["mitigated_at"] or iso(now))
        add("resolved", "Resolved" + (f": {note}" if note else ""))
    elif action == "report":
        if not closed:
            raise _refuse(rec, action, "the review is written after the incident is resolved")
        rec.update(state="post-mortem", reported_at=iso(now))
        add("reported", "Post-incident review drafted" + (f": {note}" if note else ""))
    elif action == "event":
        if not kind or not note:
            raise _refuse(rec, action, "an event needs a kind and a summary")
        add(kind, note)
        if kind in MITIGATING_KINDS and not closed and not rec["mitigated_at"]:
            rec.update(state="mitigation", mitigated_at=iso(now))
        verdict = (refs or {}).get("verdict")
        if kind == "diagnosis" and verdict:
            rec["latest_verdict"] = {"at": iso(now), "verdict": verdict, "report": (refs or {}).get("report", "")}
    else:
        raise IncidentResponseError(f"unknown incident action {action!r}; one of {', '.join(ACTIONS)}")
    rec["updated_at"] = iso(now)
    return Change(rec, events)


# --- Response times and escalation -------------------------------------------------------------------------------

def next_business_day_deadline(opened: dt.datetime, end_hour: int = 17) -> dt.datetime:
    """P4 "next business day": the end of the first Monday-to-Friday day after the day it was opened (UTC)."""
    day = opened.date() + dt.timedelta(days=1)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return dt.datetime(day.year, day.month, day.day, end_hour, tzinfo=dt.timezone.utc)


def response_deadline(record: t.Mapping[str, t.Any], policy: t.Mapping[str, t.Any] | None = None) -> dt.datetime:
    policy = {**DEFAULT_POLICY, **(policy or {})}
    opened = utc(record["opened_at"])
    # Either {P1: 15, ...} or the runbook's severity table {P1: {response_minutes: 15, ...}, ...}.
    table = {**DEFAULT_POLICY["response_minutes"], **(policy["response_minutes"] or {})}
    minutes = table.get(record["severity"])
    if isinstance(minutes, t.Mapping):
        minutes = minutes.get("response_minutes")
    if minutes is None:
        return next_business_day_deadline(opened, int(policy["business_day_end_hour"]))
    return opened + dt.timedelta(minutes=int(minutes))


class Escalation(t.NamedTuple):
    kind: str          # response_breach | executive
    incident_id: str
    severity: str
    reason: str


def due_escalations(record: t.Mapping[str, t.Any], now: dt.datetime,
                    policy: t.Mapping[str, t.Any] | None = None) -> list[Escalation]:
    """The escalations due now and not yet done (each happens once).

    A response breach: not acknowledged by the deadline (a response at the
    deadline itself is in time). Executive: a P1 still unresolved more than
    ``executive_after_minutes`` after it was opened.
    """
    policy = {**DEFAULT_POLICY, **(policy or {})}
    if record["state"] not in OPEN_STATES:
        return []
    done = set(record.get("escalations", []))
    due: list[Escalation] = []
    deadline = response_deadline(record, policy)
    if "response_breach" not in done and not record.get("acknowledged_at") and now > deadline:
        late = int((now - deadline).total_seconds() // 60)
        due.append(Escalation("response_breach", record["id"], record["severity"],
                              f"not acknowledged within the {record['severity']} response time "
                              f"(due {iso(deadline)}, {late} min late)"))
    limit = int(policy["executive_after_minutes"])
    opened = utc(record["opened_at"])
    if (record["severity"] == "P1" and "executive" not in done
            and now > opened + dt.timedelta(minutes=limit)):
        open_for = int((now - opened).total_seconds() // 60)
        due.append(Escalation("executive", record["id"], record["severity"],
                              f"P1 open for {open_for // 60} h {open_for % 60:02d} min (limit {limit} min)"))
    return due


def record_escalation(record: t.Mapping[str, t.Any], escalation: Escalation, now: dt.datetime,
                      notified: t.Sequence[str] = ()) -> Change:
    rec = {**record, "escalations": [*record.get("escalations", []), escalation.kind], "updated_at": iso(now)}
    target = "the CTO" if escalation.kind == "executive" else "the secondary contact"
    summary = f"Escalated to {target}: {escalation.reason}"
    refs = {"escalation": escalation.kind, "notified": list(notified)}
    return Change(rec, [event(now, "escalated", summary, "automation", "escalate", refs)])


def minutes_between(start: str | None, end: str | None) -> int | None:
    if not start or not end:
        return None
    return int((utc(end) - utc(start)).total_seconds() // 60)


def human_duration(minutes: int | None) -> str:
    if minutes is None:
        return "unknown"
    hours, mins = divmod(max(minutes, 0), 60)
    return f"{hours} hours {mins} minutes"
