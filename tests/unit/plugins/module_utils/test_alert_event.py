# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests for _alert_event: what of an alert may be used, which incident it joins, when a rollback follows."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _alert_event as ae
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import IncidentResponseError

HOSTS = {"app1": "10.77.2.11", "app2": "10.77.2.12"}
ROUTES = {"P1": ["pagerduty", "slack"], "P2": ["email", "slack"], "P3": ["slack"], "P4": ["ticket"]}


def alert(**overrides):
    labels = {"alertname": "incident-response_high_error_rate", "severity": "P1", "service": "incident-response",
              "job": "incident-response", "instance": "10.77.2.11:8080"}
    labels.update(overrides.pop("labels", {}))
    body = {"status": "firing", "labels": labels,
            "annotations": {"summary": "5xx ratio 31% on 10.77.2.11:8080 over 30s (runbook: above 5 %)"},
            "startsAt": "2026-11-29T14:23:00.123Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://10.77.1.10:9090/graph?g0.expr=sum", "fingerprint": "3c8f4b3a0d2e9f17"}
    body.update(overrides)
    return {"event": body, "ruleset": "Incident response alerts", "rule": "A runbook alert fires"}


def validate(event):
    return ae.validate(event, "incident-response", HOSTS, 8080, ROUTES)


def test_a_runbook_alert_becomes_only_the_values_the_automation_needs():
    got = validate(alert())
    assert got == {
        "name": "incident-response_high_error_rate", "key": "high_error_rate", "title": "High Error Rate",
        "status": "firing", "severity": "P1", "instance": "10.77.2.11:8080", "host": "app1",
        "fingerprint": "3c8f4b3a0d2e9f17", "starts_at": "2026-11-29T14:23:00.123Z", "ends_at": "",
        "diagnose": "high_error_rate", "where": "app1 (10.77.2.11:8080)", "ignored": ["job", "annotations"],
        "incident_routes": {"P1": ["slack"], "P2": ["slack"], "P3": ["slack"], "P4": []}}


def test_a_webhook_payload_with_one_alert_is_taken_and_with_several_refused():
    one = {"event": {"payload": {"version": "4", "alerts": [alert()["event"]]}}}
    assert validate(one)["host"] == "app1"
    two = {"event": {"payload": {"alerts": [alert()["event"], alert()["event"]]}}}
    with pytest.raises(IncidentResponseError, match="carries 2 alerts; the rulebook splits them"):
        validate(two)


def test_an_instance_is_matched_by_inventory_name_too():
    assert validate(alert(labels={"instance": "app2:8080"}))["host"] == "app2"


def test_a_service_wide_alert_has_no_instance():
    got = validate(alert(labels={"alertname": "incident-response_error_budget_fast_burn", "instance": ""}))
    assert (got["host"], got["where"], got["diagnose"]) == ("", "incident-response", "high_error_rate")
    slow = alert(labels={"alertname": "incident-response_error_budget_slow_burn", "severity": "P4"})
    del slow["event"]["labels"]["instance"]
    assert validate(slow)["diagnose"] == ""


@pytest.mark.parametrize("change, reason", [
    ({"labels": {"alertname": "DiskFull"}}, "'DiskFull' is not an alert this collection ships"),
    ({"labels": {"alertname": "{{ lookup('pipe', 'id') }}"}}, "label alertname carries shell metacharacters"),
    ({"labels": {"instance": "10.77.2.11:8080; rm -rf /"}}, "label instance carries shell metacharacters"),
    ({"labels": {"instance": "$(id):8080"}}, "label instance carries shell metacharacters"),
    ({"labels": {"team": "`id`"}}, "label team carries shell metacharacters"),
    ({"labels": {"team": "a\nb"}}, "label team carries"),
    ({"labels": {"instance": "10.77.2.99:8080"}}, "not an app host of this inventory"),
    ({"labels": {"instance": "10.77.2.11:9999"}}, "not an app host of this inventory"),
    ({"labels": {"instance": "10.77.2.11"}}, "is not host:port"),
    ({"labels": {"severity": "critical"}}, "severity 'critical' is not one of P1, P2, P3, P4"),
    ({"labels": {"service": "billing"}}, "label service is 'billing'"),
    ({"status": "exploded"}, "neither firing nor resolved"),
    ({"fingerprint": "../../etc"}, "fingerprint is not 16 hexadecimal digits"),
    ({"startsAt": "yesterday"}, "startsAt is not an RFC 3339 time"),
    ({"labels": {"alertname": "incident-response_error_budget_slow_burn", "severity": "P4"}}, "is service-wide"),
])
def test_a_bad_alert_is_refused_with_its_reason(change, reason):
    with pytest.raises(IncidentResponseError) as caught:
        validate(alert(**copy.deepcopy(change)))
    assert str(caught.value).startswith(ae.REFUSED)
    assert reason in str(caught.value)


def test_every_reason_is_given_at_once():
    with pytest.raises(IncidentResponseError) as caught:
        validate(alert(labels={"severity": "P0", "service": "x"}, status="maybe"))
    text = str(caught.value)
    assert "severity 'P0'" in text and "service is 'x'" in text and "status 'maybe'" in text


@pytest.mark.parametrize("event", [None, {}, {"event": "text"}, {"event": {"payload": "x"}},
                                   {"event": {"labels": {}}}, {"event": {"labels": {"alertname": 3}}}])
def test_no_alert_at_all_is_refused(event):
    with pytest.raises(IncidentResponseError, match="Refused alert"):
        validate(event)


def incident(id_, severity, opened):
    return {"id": id_, "severity": severity, "state": "triage", "opened_at": opened}


def test_a_firing_alert_opens_an_incident_when_none_is_open():
    plan = ae.incident_plan(validate(alert()), [])
    assert plan["action"] == "open" and plan["severity"] == "P1" and plan["diagnose"] == "high_error_rate"
    assert plan["title"] == "High Error Rate on app1 (10.77.2.11:8080): incident-response_high_error_rate"
    assert plan["note"] == ("Alert firing: incident-response_high_error_rate (P1) on app1 (10.77.2.11:8080) "
                            "since 2026-11-29T14:23:00.123Z")


def test_a_firing_alert_joins_the_newest_open_incident_of_its_severity_or_higher():
    open_ = [incident("INC-20261129-1400-aaaa", "P1", "2026-11-29T14:00:00Z"),
             incident("INC-20261129-1410-bbbb", "P2", "2026-11-29T14:10:00Z"),
             incident("INC-20261129-1420-cccc", "P4", "2026-11-29T14:20:00Z")]
    p2 = validate(alert(labels={"alertname": "incident-response_high_latency", "severity": "P2"}))
    assert ae.incident_plan(p2, open_)["incident_id"] == "INC-20261129-1410-bbbb"
    assert ae.incident_plan(validate(alert()), open_)["incident_id"] == "INC-20261129-1400-aaaa"


def test_a_more_severe_alert_than_every_open_incident_opens_its_own():
    plan = ae.incident_plan(validate(alert()), [incident("INC-20261129-1420-cccc", "P4", "2026-11-29T14:20:00Z")])
    assert plan["action"] == "open"


def test_a_resolved_alert_is_a_timeline_event_or_nothing():
    resolved = validate(alert(status="resolved", endsAt="2026-11-29T14:40:00Z"))
    plan = ae.incident_plan(resolved, [incident("INC-20261129-1400-aaaa", "P1", "2026-11-29T14:00:00Z")])
    assert (plan["action"], plan["kind"], plan["diagnose"]) == ("event", "alert_resolved", "")
    assert plan["summary"].endswith("at 2026-11-29T14:40:00Z")
    assert plan["refs"]["fingerprint"] == "3c8f4b3a0d2e9f17"
    assert ae.incident_plan(resolved, [])["action"] == "none"


def report(*recommendations, headline="CRITICAL: 3 critical, 1 warn of 12 findings on 3 hosts"):
    return {"verdict": {"headline": headline}, "recommendations": list(recommendations)}


ROLLBACK = {"id": "rollback", "severity": "critical", "command": "ansible-playbook playbooks/rollback.yml",
            "summary": "Roll back: v1.2.4 on app1 2 min ago, and the error rate is above the runbook's limit"}


def test_a_rollback_follows_only_when_enabled_and_recommended():
    firing = validate(alert())
    yes = ae.rollback_plan(firing, True, report(ROLLBACK), [], "INC-20261129-1400-aaaa")
    assert yes["rollback"] is True
    assert yes["note"].startswith("Diagnosis of incident-response_high_error_rate on app1 (10.77.2.11:8080): CRITICAL")
    assert "Recommended: Roll back: v1.2.4 on app1" in yes["note"]
    off = ae.rollback_plan(firing, False, report(ROLLBACK), [], "INC-20261129-1400-aaaa")
    assert off["rollback"] is False and "off (alert_auto_rollback)" in off["reason"]
    assert "ansible-playbook playbooks/rollback.yml" in off["note"]


@pytest.mark.parametrize("recommendations, timeline, reason", [
    ([], [], "not recommended"),
    ([{"id": "database_down", "severity": "critical", "summary": "Bring the database back first"}], [],
     "not recommended"),
    ([dict(ROLLBACK, severity="warn", summary="Roll back once the cache is back")], [], "only conditionally"),
    ([ROLLBACK], [{"kind": "rollback_done", "at": "2026-11-29T14:30:00Z"}], "a rollback already ran"),
])
def test_no_rollback_without_a_critical_recommendation_or_after_one_already_ran(recommendations, timeline, reason):
    plan = ae.rollback_plan(validate(alert()), True, report(*recommendations), timeline, "INC-20261129-1400-aaaa")
    assert plan["rollback"] is False and reason in plan["reason"]


def test_no_rollback_for_a_resolved_alert_or_without_a_report():
    resolved = validate(alert(status="resolved"))
    assert ae.rollback_plan(resolved, True, report(ROLLBACK), [], "x")["rollback"] is False
    missing = ae.rollback_plan(validate(alert()), True, None, [], "x")
    assert missing["rollback"] is False and "no verdict" in missing["note"]


def test_times_that_a_yaml_loader_turned_into_datetimes_are_accepted():
    """AWX writes an alert's extra vars as !unsafe YAML; ansible loads its timestamps as datetimes."""
    import datetime

    moment = datetime.datetime(2026, 12, 1, 10, 0, tzinfo=datetime.timezone.utc)
    got = validate(alert(startsAt=moment, status="resolved", endsAt=moment + datetime.timedelta(minutes=5)))
    assert (got["starts_at"], got["ends_at"]) == ("2026-12-01T10:00:00Z", "2026-12-01T10:05:00Z")
    with pytest.raises(IncidentResponseError, match="startsAt is not an RFC 3339 time"):
        validate(alert(startsAt=datetime.datetime(2026, 12, 1, 10, 0)))  # no zone: not a point in time
