# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The incident lifecycle, response times and escalation at their boundaries, with an injected clock."""

from __future__ import annotations

import datetime as dt

import pytest

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import IncidentResponseError
from ansible_collections.platform_eng.incident_response.plugins.module_utils._incident import (
    apply,
    due_escalations,
    new_id,
    new_record,
    next_business_day_deadline,
    record_escalation,
    response_deadline,
)

OPENED = dt.datetime(2026, 11, 24, 14, 23, tzinfo=dt.timezone.utc)  # a Tuesday


def at(minutes: float, seconds: int = 0) -> dt.datetime:
    return OPENED + dt.timedelta(minutes=minutes, seconds=seconds)


def opened(severity: str = "P1") -> dict:
    return new_record(new_id(OPENED, "ab12"), "Checkout 5xx above 5 %", severity, OPENED, "alice")


def test_new_record_is_in_triage_with_the_automation_as_scribe():
    record = opened()
    assert record["id"] == "INC-20261124-1423-ab12"
    assert record["state"] == "triage"
    assert record["roles"]["scribe"] == "automation"
    assert record["opened_at"] == "2026-11-24T14:23:00Z"


def test_the_whole_lifecycle_in_order():
    record = opened()
    record, events = apply(record, "ack", at(2), actor="alice")
    assert (record["state"], record["acknowledged_at"], events[0]["kind"]) == (
        "investigation", "2026-11-24T14:25:00Z", "acknowledged")
    record, _events = apply(record, "assign", at(3), roles={"commander": "alice", "technical_lead": "bob"})
    assert record["roles"]["commander"] == "alice" and record["roles"]["scribe"] == "automation"
    record, _events = apply(record, "mitigated", at(12), note="rolled back to v1.2.2")
    assert record["state"] == "mitigation"
    record, events = apply(record, "resolve", at(22))
    assert record["state"] == "resolution" and events[0]["summary"] == "Resolved"
    record, _events = apply(record, "report", at(60))
    assert record["state"] == "post-mortem"


@pytest.mark.parametrize("action", ["resolve", "ack", "mitigated", "assign"])
def test_a_closed_incident_refuses_what_makes_no_sense(action):
    record, _events = apply(opened(), "resolve", at(10))
    with pytest.raises(IncidentResponseError, match=r"Refused: .* INC-20261124-1423-ab12 .*state resolution"):
        apply(record, action, at(11), roles={"commander": "x"})


def test_acknowledging_twice_is_refused():
    record, _events = apply(opened(), "ack", at(1))
    with pytest.raises(IncidentResponseError, match="already acknowledged"):
        apply(record, "ack", at(2))


def test_reopening_lower_needs_a_reason_and_higher_does_not():
    record, _events = apply(opened("P2"), "resolve", at(10))
    with pytest.raises(IncidentResponseError, match=r"lower severity .*needs a reason"):
        apply(record, "open", at(20), severity="P3")
    lower, events = apply(record, "open", at(20), severity="P3", note="only the admin page")
    assert (lower["state"], lower["severity"], events[0]["kind"]) == ("triage", "P3", "reopened")
    higher, _events = apply(record, "open", at(20), severity="P1")
    assert higher["severity"] == "P1" and higher["escalations"] == []


def test_opening_an_open_incident_again_is_refused():
    with pytest.raises(IncidentResponseError, match="still open"):
        apply(opened(), "open", at(1))


def test_a_diagnosis_event_becomes_the_latest_verdict():
    record, events = apply(opened(), "event", at(3), kind="diagnosis", note="CRITICAL: 5xx 12 %",
                           refs={"verdict": "critical", "report": "reports/d.md"}, source="diagnose")
    assert record["latest_verdict"] == {"at": "2026-11-24T14:26:00Z", "verdict": "critical", "report": "reports/d.md"}
    assert events[0]["source"] == "diagnose" and events[0]["refs"]["report"] == "reports/d.md"


@pytest.mark.parametrize("severity, inside, outside", [
    ("P1", at(14, 59), at(15, 1)),
    ("P2", at(59, 59), at(60, 1)),
    ("P3", at(239, 59), at(240, 1)),
])
def test_response_breach_at_the_boundary(severity, inside, outside):
    record = opened(severity)
    assert [e.kind for e in due_escalations(record, inside)] == []
    assert [e.kind for e in due_escalations(record, response_deadline(record))] == []  # on time is in time
    assert [e.kind for e in due_escalations(record, outside)] == ["response_breach"]


def test_an_acknowledged_incident_never_breaches_its_response_time():
    record, _events = apply(opened(), "ack", at(5))
    assert due_escalations(record, at(30)) == []


def test_p1_executive_at_one_59_and_two_01_and_only_once():
    record, _events = apply(opened(), "ack", at(5))
    assert due_escalations(record, at(119)) == []
    due = due_escalations(record, at(121))
    assert [e.kind for e in due] == ["executive"]
    assert "2 h 01 min" in due[0].reason
    record, events = record_escalation(record, due[0], at(121), ["email -> cto@example.com"])
    assert events[0]["kind"] == "escalated" and "CTO" in events[0]["summary"]
    assert due_escalations(record, at(126)) == []  # the next scheduled run does nothing


def test_breach_is_escalated_once():
    record = opened()
    (breach,) = due_escalations(record, at(16))
    record, _events = record_escalation(record, breach, at(16))
    assert due_escalations(record, at(21)) == []


def test_p2_never_goes_to_the_executive_and_resolved_never_escalates():
    assert [e.kind for e in due_escalations(apply(opened("P2"), "ack", at(1))[0], at(600))] == []
    resolved, _events = apply(opened(), "resolve", at(1))
    assert due_escalations(resolved, at(600)) == []


@pytest.mark.parametrize("opened_at, due", [
    ("2026-11-24T14:00:00Z", "2026-11-25T17:00:00Z"),   # Tuesday -> Wednesday
    ("2026-11-27T16:59:00Z", "2026-11-30T17:00:00Z"),   # Friday -> Monday
    ("2026-11-28T10:00:00Z", "2026-11-30T17:00:00Z"),   # Saturday -> Monday
    ("2026-11-29T23:59:00Z", "2026-11-30T17:00:00Z"),   # Sunday night -> Monday
])
def test_p4_next_business_day(opened_at, due):
    moment = dt.datetime.fromisoformat(opened_at.replace("Z", "+00:00"))
    assert next_business_day_deadline(moment).strftime("%Y-%m-%dT%H:%M:%SZ") == due


def test_p4_breach_rolls_over_the_weekend():
    friday = dt.datetime(2026, 11, 27, 16, 0, tzinfo=dt.timezone.utc)
    record = new_record(new_id(friday, "0001"), "Typo on /docs", "P4", friday, "bob")
    monday_end = dt.datetime(2026, 11, 30, 17, 0, tzinfo=dt.timezone.utc)
    assert due_escalations(record, monday_end - dt.timedelta(minutes=1)) == []
    assert [e.kind for e in due_escalations(record, monday_end + dt.timedelta(minutes=1))] == ["response_breach"]


def test_policy_from_group_vars_overrides_the_runbook():
    record = opened("P1")
    policy = {"response_minutes": {"P1": 5, "P2": 60, "P3": 240, "P4": None}}
    assert [e.kind for e in due_escalations(record, at(6), policy)] == ["response_breach"]


@pytest.mark.parametrize("bad", ["P0", "p1", "", "P5"])
def test_unknown_severity_is_refused(bad):
    with pytest.raises(IncidentResponseError, match="severity"):
        new_record("INC-20261124-1423-ab12", "x", bad, OPENED, "alice")


@pytest.mark.parametrize("bad", ["INC-1", "../etc", "INC-20261124-1423-ab12/../x", "inc-20261124-1423-ab12"])
def test_incident_ids_are_checked(bad):
    with pytest.raises(IncidentResponseError, match="not of the form"):
        new_record(bad, "x", "P1", OPENED, "alice")


def test_policy_accepts_the_runbook_severity_table_from_group_vars():
    table = {"P1": {"label": "Critical", "response_minutes": 15}, "P4": {"label": "Low", "response_minutes": None}}
    record = opened("P1")
    assert response_deadline(record, {"response_minutes": table}) == at(15)
    assert response_deadline(opened("P2"), {"response_minutes": {}}) == at(60)
