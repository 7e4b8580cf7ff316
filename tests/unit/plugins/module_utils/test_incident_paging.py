# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Severity routing, the payload shapes, and delivery to the lab's real receivers (webhook receiver, SMTP
server) started here on loopback; secrets never appear in a planned message or an error."""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from ansible_collections.platform_eng.incident_response.plugins.module_utils._incident import new_record
from ansible_collections.platform_eng.incident_response.plugins.module_utils._incident_paging import (
    describe,
    plan,
    plan_escalation,
    send,
)

SERVICES = pathlib.Path(__file__).resolve().parents[4] / "lab" / "services"
OPENED = dt.datetime(2026, 11, 24, 14, 23, tzinfo=dt.timezone.utc)
LINKS = {"Grafana": "https://grafana.example.com/d/incident-response",
         "CloudWatch": "https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards:name=incident-response"}
SECRETS = {"routing_key": "PLANTED-routing-key-1", "webhook": "PLANTED-slack-hook-2", "password": "PLANTED-smtp-pw-3",
           "token": "PLANTED-ticket-token-4"}


def record(severity: str) -> dict:
    return new_record("INC-20261124-1423-ab12", "Checkout 5xx above 5 %", severity, OPENED, "alice")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(script: str, args: list[str], log: pathlib.Path) -> subprocess.Popen:
    with log.open("wb") as stderr:
        proc = subprocess.Popen([sys.executable, str(SERVICES / script), *args], stdout=subprocess.DEVNULL,
                                stderr=stderr)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not re.search(r"^ready ", log.read_text(errors="replace"), re.M):
        assert proc.poll() is None, log.read_text()
        time.sleep(0.05)
    return proc


@pytest.fixture(scope="module")
def receivers(tmp_path_factory):
    work = tmp_path_factory.mktemp("receivers")
    web, smtp, side = free_port(), free_port(), free_port()
    procs = [start("webhook_receiver.py", ["--bind", "127.0.0.1", "--port", str(web), "--store",
                                           str(work / "web.jsonl")], work / "web.log"),
             start("smtp_sink.py", ["--bind", "127.0.0.1", "--port", str(smtp), "--http-port", str(side),
                                    "--store", str(work / "smtp.jsonl")], work / "smtp.log")]
    channels = {
        "pagerduty": {"url": f"http://127.0.0.1:{web}/v2/enqueue", "routing_key": SECRETS["routing_key"],
                      "service": "PagerDuty on-call rotation"},
        "slack": {"webhook_url": f"http://127.0.0.1:{web}/slack/{SECRETS['webhook']}", "channel": "#incidents"},
        "email": {"host": "127.0.0.1", "port": smtp, "username": "ops", "password": SECRETS["password"],
                  "from": "incident-response@example.com", "to": "platform-engineering@example.com"},
        "ticket": {"url": f"http://127.0.0.1:{web}/rest/api/2/issue", "token": SECRETS["token"], "project": "OPS"},
    }

    def delivered():
        with urllib.request.urlopen(f"http://127.0.0.1:{web}/_requests", timeout=5) as resp:
            requests = json.load(resp)
        with urllib.request.urlopen(f"http://127.0.0.1:{side}/_messages", timeout=5) as resp:
            mails = json.load(resp)
        for url in (f"http://127.0.0.1:{web}/_requests", f"http://127.0.0.1:{side}/_messages"):
            urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=5).close()
        return requests, mails

    yield channels, delivered
    for proc in procs:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(10)


@pytest.mark.parametrize("severity, channels", [
    ("P1", ["pagerduty", "slack"]), ("P2", ["email", "slack"]), ("P3", ["slack"]), ("P4", ["ticket"]),
])
def test_the_runbook_routing_table(severity, channels):
    assert [m.channel for m in plan("open", record(severity), {}, {}, LINKS, "lab")] == channels


def test_ack_and_resolve_only_touch_pager_and_chat():
    assert [m.channel for m in plan("ack", record("P1"), {}, {}, {}, "lab")] == ["pagerduty", "slack"]
    assert [m.channel for m in plan("resolve", record("P2"), {}, {}, {}, "lab")] == ["slack"]
    assert plan("resolve", record("P4"), {}, {}, {}, "lab") == []


def test_pagerduty_trigger_body():
    (page, _slack) = plan("open", record("P1"), {}, {}, LINKS, "incident-response (lab)")
    body = page.body
    assert body["event_action"] == "trigger" and body["dedup_key"] == "INC-20261124-1423-ab12"
    assert body["payload"]["severity"] == "critical" and body["payload"]["source"] == "incident-response (lab)"
    assert body["payload"]["summary"] == "[P1] Checkout 5xx above 5 %"
    assert body["payload"]["custom_details"]["dashboards"] == LINKS
    assert body["payload"]["custom_details"]["latest_verdict"] == "no diagnosis yet"
    ack = plan("ack", record("P1"), {}, {}, LINKS, "x")[0].body
    assert ack == {"event_action": "acknowledge", "dedup_key": "INC-20261124-1423-ab12"}


def test_escalations_name_the_right_people():
    contacts = {"secondary": "platform-engineering@example.com", "executive": "cto@example.com"}
    email_to = {"email": {"to": "platform-engineering@example.com"}}
    breach = plan_escalation(record("P2"), "response_breach", "late", {}, email_to, {}, "x", contacts)
    assert [(m.channel, m.recipient) for m in breach] == [("slack", "#incidents"),
                                                          ("email", "platform-engineering@example.com")]
    executive = plan_escalation(record("P1"), "executive", "2 h 01 min", {}, email_to, {}, "x", contacts)
    assert [(m.channel, m.recipient) for m in executive] == [("slack", "#incidents"), ("email", "cto@example.com")]


def test_delivery_to_real_receivers_and_no_secret_in_what_is_reported(receivers):
    channels, delivered = receivers
    messages = [m for sev in ("P1", "P2", "P4") for m in plan("open", record(sev), {}, channels, LINKS, "lab")]
    outcomes = send(messages, channels)
    assert all(o["delivered"] for o in outcomes), outcomes
    requests, mails = delivered()
    pages = [r for r in requests if r["path"] == "/v2/enqueue"]
    assert len(pages) == 1 and pages[0]["body"]["routing_key"] == SECRETS["routing_key"]
    assert len([r for r in requests if r["path"].startswith("/slack/")]) == 2
    (ticket,) = [r for r in requests if r["path"] == "/rest/api/2/issue"]
    assert ticket["body"]["fields"]["project"] == {"key": "OPS"}
    (mail,) = mails
    assert mail["rcpt_tos"] == ["platform-engineering@example.com"] and "INC-20261124-1423-ab12" in mail["subject"]
    shown = json.dumps([describe(messages), outcomes])
    assert not any(secret in shown for secret in SECRETS.values())


def test_a_failing_channel_is_reported_scrubbed_and_does_not_stop_the_others(receivers):
    channels, delivered = receivers
    broken = {**channels, "pagerduty": {**channels["pagerduty"],
                                        "url": f"http://127.0.0.1:{free_port()}/{SECRETS['routing_key']}"}}
    outcomes = send(plan("open", record("P1"), {}, broken, LINKS, "lab"), broken, timeout=2)
    assert [o["delivered"] for o in outcomes] == [False, True]
    assert SECRETS["routing_key"] not in json.dumps(outcomes)
    delivered()


def test_every_channel_that_a_person_reads_carries_the_dashboards():
    messages = {m.channel: m.body for sev in ("P1", "P2", "P4") for m in plan("open", record(sev), {}, {}, LINKS, "lab")}
    assert messages["pagerduty"]["payload"]["custom_details"]["dashboards"] == LINKS
    assert [f["value"] for f in messages["slack"]["attachments"][0]["fields"] if f["title"] in LINKS] == list(
        LINKS.values())
    for name, href in LINKS.items():
        assert f"{name}: {href}" in messages["email"]["text"]
        assert f"{name}: {href}" in messages["ticket"]["fields"]["description"]
