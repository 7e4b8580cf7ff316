# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The incident lifecycle against the lab, judged by what was DELIVERED: the webhook receiver's request log
(PagerDuty Events v2, Slack, the ticket call), the SMTP server's mailbox, and the store on the bastion."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import typing as t
import urllib.request
from pathlib import Path

import pytest
import yaml

from conftest import REPO, Run, ansible_env, lab_ssh, mails, run, webhook_requests

STORE = "/var/lib/incident-response/incidents"
ID_RE = re.compile(r"INC-\d{8}-\d{4}-[0-9a-f]{4}")
PLANTED = {
    "pagerduty_routing_key": "PLANTED-pd-routing-key-7d1f",
    "slack_webhook_url": "http://10.77.1.1:8099/slack/PLANTED-slack-hook-93ac",
    "smtp_username": "PLANTED-smtp-user-51be",
    "smtp_password": "PLANTED-smtp-password-c2e0",
    "ticket_token": "PLANTED-ticket-token-0a4d",
}


def forget_deliveries(lab: dict[str, t.Any]) -> None:
    for url in (f"http://{lab['services']['webhook']}/_requests", f"http://{lab['controller_ip']}:8026/_messages"):
        urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=5).close()


def delivered(lab: dict[str, t.Any]) -> dict[str, list[dict[str, t.Any]]]:
    requests = webhook_requests(lab)
    return {
        "pagerduty": [r["body"] for r in requests if r["path"] == "/v2/enqueue"],
        "slack": [r["body"] for r in requests if r["path"].startswith("/slack/incidents")
                  or "PLANTED-slack" in r["path"]],
        "ticket": [r["body"] for r in requests if r["path"] == "/rest/api/2/issue"],
        "email": mails(lab),
    }


def store_state() -> str:
    """Every file of the store with its content: equal before and after means nothing was written."""
    return lab_ssh("bastion", f"cd {STORE} 2>/dev/null && find . -type f ! -name .lock | sort | xargs -r tail -n +1"
                   " || echo no-store").out


def timeline(incident_id: str) -> list[dict[str, t.Any]]:
    out = lab_ssh("bastion", f"cat {STORE}/{incident_id}/timeline.jsonl").out
    return [json.loads(line) for line in out.splitlines()]


def record(incident_id: str) -> dict[str, t.Any]:
    return json.loads(lab_ssh("bastion", f"cat {STORE}/{incident_id}/record.json").out)


def incident(*args: str, check: bool = True, env: dict[str, str] | None = None, inventory: str | None = None) -> Run:
    extra = [arg for pair in args for arg in ((pair,) if pair.startswith("-") else ("-e", pair))]
    argv = ["ansible-playbook", *(["-i", inventory] if inventory else []), "playbooks/incident.yml", *extra]
    result = run(*argv, env=env)
    if check:
        assert result.rc == 0, result.text[-4000:]
    return result


def opened_id(result: Run) -> str:
    match = ID_RE.search(result.out)
    assert match, result.text[-3000:]
    return match.group(0)


@pytest.fixture(autouse=True)
def clean(lab):
    lab_ssh("bastion", f"rm -rf {STORE}")
    forget_deliveries(lab)
    yield
    lab_ssh("bastion", f"rm -rf {STORE}")
    forget_deliveries(lab)


def test_p1_pages_once_with_the_incident_id_and_posts_to_slack_then_ack_and_resolve(lab):
    inc = opened_id(incident("action=open", "severity=P1", '{"title": "Checkout 5xx above 5 %"}'))
    got = delivered(lab)
    assert len(got["pagerduty"]) == 1 and len(got["slack"]) == 1 and got["email"] == [] and got["ticket"] == []
    page = got["pagerduty"][0]
    assert (page["event_action"], page["dedup_key"], page["payload"]["severity"]) == ("trigger", inc, "critical")
    assert page["payload"]["summary"] == "[P1] Checkout 5xx above 5 %"
    assert page["payload"]["custom_details"]["dashboards"]["Grafana"] == "https://grafana.example.com/d/incident-response"
    assert "CloudWatch" in page["payload"]["custom_details"]["dashboards"]
    assert inc in got["slack"][0]["text"]

    incident("action=ack", f"incident_id={inc}")
    incident("action=resolve", f"incident_id={inc}", "note=rolled_back")
    actions = [(p["event_action"], p["dedup_key"]) for p in delivered(lab)["pagerduty"]]
    assert actions == [("trigger", inc), ("acknowledge", inc), ("resolve", inc)]
    rec = record(inc)
    assert rec["state"] == "resolution" and rec["acknowledged_at"] and rec["resolved_at"]
    kinds = [e["kind"] for e in timeline(inc)]
    assert kinds == ["opened", "paged", "acknowledged", "paged", "resolved", "paged"]


@pytest.mark.parametrize("severity, expected", [
    ("P2", {"email": 1, "slack": 1, "pagerduty": 0, "ticket": 0}),
    ("P3", {"email": 0, "slack": 1, "pagerduty": 0, "ticket": 0}),
    ("P4", {"email": 0, "slack": 0, "pagerduty": 0, "ticket": 1}),
])
def test_severity_routing_as_delivered(lab, severity, expected):
    inc = opened_id(incident("action=open", f"severity={severity}", "title=Admin_page_slow"))
    got = delivered(lab)
    assert {channel: len(items) for channel, items in got.items()} == expected
    if severity == "P2":
        (mail,) = got["email"]
        assert mail["rcpt_tos"] == ["platform-engineering@example.com"] and inc in mail["subject"]
        assert mail["auth_user"] == "lab-mailer"
    if severity == "P4":
        fields = got["ticket"][0]["fields"]
        assert fields["project"] == {"key": "OPS"} and inc in fields["labels"]


def _at(base: dt.datetime, minutes: int, seconds: int = 0) -> str:
    return (base + dt.timedelta(minutes=minutes, seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_escalation_boundaries_with_an_injected_clock(lab):
    t0 = dt.datetime(2026, 11, 29, 1, 0, tzinfo=dt.timezone.utc)
    inc = opened_id(incident("action=open", "severity=P1", "title=Checkout_down", f"incident_clock={_at(t0, 0)}"))
    forget_deliveries(lab)

    out = incident("action=escalate", f"incident_clock={_at(t0, 14, 59)}").out
    assert "nothing to escalate" in out and delivered(lab)["email"] == []

    incident("action=escalate", f"incident_clock={_at(t0, 15, 1)}")
    got = delivered(lab)
    assert [m["rcpt_tos"] for m in got["email"]] == [["platform-engineering@example.com"]]
    assert [p["event_action"] for p in got["pagerduty"]] == ["trigger"]  # re-notified, same dedup_key
    assert got["pagerduty"][0]["dedup_key"] == inc
    forget_deliveries(lab)

    incident("action=escalate", f"incident_clock={_at(t0, 20)}")
    incident("action=escalate", f"incident_clock={_at(t0, 119)}")
    assert delivered(lab)["email"] == []

    incident("action=escalate", f"incident_clock={_at(t0, 121)}")
    assert [m["rcpt_tos"] for m in delivered(lab)["email"]] == [["cto@example.com"]]
    incident("action=escalate", f"incident_clock={_at(t0, 126)}")
    assert [m["rcpt_tos"] for m in delivered(lab)["email"]] == [["cto@example.com"]]  # not again

    escalated = [e for e in timeline(inc) if e["kind"] == "escalated"]
    assert [e["refs"]["escalation"] for e in escalated] == ["response_breach", "executive"]
    assert [e["at"] for e in escalated] == [_at(t0, 15, 1), _at(t0, 121)]


def test_acknowledged_in_time_is_not_escalated(lab):
    t0 = dt.datetime(2026, 11, 29, 3, 0, tzinfo=dt.timezone.utc)
    inc = opened_id(incident("action=open", "severity=P2", "title=Slow", f"incident_clock={_at(t0, 0)}"))
    incident("action=ack", f"incident_id={inc}", f"incident_clock={_at(t0, 59, 59)}")
    forget_deliveries(lab)
    incident("action=escalate", f"incident_clock={_at(t0, 61)}")
    assert delivered(lab) == {"pagerduty": [], "slack": [], "ticket": [], "email": []}


def test_diagnose_during_an_incident_lands_in_the_review_in_order(lab, tmp_path):
    inc = opened_id(incident("action=open", "severity=P2", "title=Latency_high"))
    diagnose = run("ansible-playbook", "playbooks/diagnose.yml", "-e", "alert=high_latency")
    assert diagnose.rc == 0, diagnose.text[-3000:]
    assert f"diagnosis recorded in {inc}" in diagnose.out
    incident("action=resolve", f"incident_id={inc}")
    incident("action=report", f"incident_id={inc}")
    events = timeline(inc)
    assert [e["kind"] for e in events] == ["opened", "paged", "diagnosis", "resolved", "paged", "reported"]
    markdown = (REPO / "reports" / f"{inc}-review.md").read_text()
    data = json.loads((REPO / "reports" / f"{inc}-review.json").read_text())
    assert oct((REPO / "reports" / f"{inc}-review.md").stat().st_mode & 0o777) == "0o600"
    headings = [line for line in markdown.splitlines() if line.startswith("#")]
    assert headings == ["# Incident Report: incident-response Outage", "## Timeline", "## Root Cause",
                        "## Resolution", "## Action Items"]
    lines = [line for line in markdown.splitlines() if re.match(r"- \d\d:\d\d UTC: ", line)]
    assert [line[2:7] for line in lines] == [e["at"][11:16] for e in events]
    assert "diagnose high_latency" in lines[2] and events[2]["refs"]["report"] in lines[2]
    assert "DRAFT from the automated diagnosis" in markdown
    assert data["incident"]["id"] == inc and data["timeline"] == events
    for path in (REPO / "reports").glob(f"{inc}-review.*"):
        path.unlink()


def test_two_runs_appending_at_once_both_land(lab):
    inc = opened_id(incident("action=open", "severity=P3", "title=Concurrent"))
    procs = [subprocess.Popen(["ansible-playbook", "playbooks/incident.yml", "-e", "action=update",
                               "-e", f"incident_id={inc}", "-e", f"note=from_run_{n}"],
                              cwd=REPO, env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for n in range(2)]
    outputs = [proc.communicate(timeout=300)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    notes = sorted(e["summary"] for e in timeline(inc) if e["kind"] == "note")  # every line parses
    assert notes == ["from_run_0", "from_run_1"]


CANARY = Path("/tmp/incident-canary")


@pytest.mark.parametrize("args", [
    ["action=open", "severity=P0", "title=x"],
    ["action=open", "severity=P9", "title=x"],
    ['{"action": "open", "severity": "P1", "title": "two\\nlines"}'],
    ['{"action": "open", "severity": "P1", "title": "{{ lookup(\'pipe\', \'touch /tmp/incident-canary\') }}"}'],
    ['{"action": "update", "incident_id": "INC-20261129-0000-abcd", "note": "{{ lookup(\'pipe\', \'touch /tmp/incident-canary\') }}"}'],
    ["action=ack", "incident_id=INC-20261129-0000-abcd"],
    ["action=open", "severity=P1", "title=x", "unknown_var=1"],
], ids=["P0", "P9", "newline", "jinja-title", "jinja-note", "unknown-id", "unknown-var"])
def test_bad_input_is_refused_before_anything_is_sent_or_written(lab, args):
    CANARY.unlink(missing_ok=True)
    before = store_state()
    result = incident(*args, check=False)
    assert result.rc != 0
    assert re.search(r"Refused|no incident INC-20261129-0000-abcd", result.text), result.text[-2000:]
    assert delivered(lab) == {"pagerduty": [], "slack": [], "ticket": [], "email": []}
    assert store_state() == before
    assert not CANARY.exists()


def test_resolve_on_a_closed_incident_is_refused(lab):
    inc = opened_id(incident("action=open", "severity=P3", "title=Closed"))
    incident("action=resolve", f"incident_id={inc}")
    forget_deliveries(lab)
    before = store_state()
    result = incident("action=resolve", f"incident_id={inc}", check=False)
    assert result.rc != 0 and "already closed" in result.text
    assert delivered(lab)["slack"] == [] and store_state() == before


def test_check_mode_on_every_action_delivers_nothing_and_writes_nothing(lab):
    inc = opened_id(incident("action=open", "severity=P1", "title=Check_mode"))
    forget_deliveries(lab)
    before = store_state()
    later = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for args in (["action=open", "severity=P2", "title=New"], ["action=ack"], ["action=update", "note=hello"],
                 ["action=assign", "commander=alice"], ["action=mitigated"], ["action=resolve"],
                 ["action=escalate", f"incident_clock={later}"]):
        extra = [] if args[0] in ("action=open", "action=escalate") else [f"incident_id={inc}"]
        result = run("ansible-playbook", "playbooks/incident.yml", "--check",
                     *[a for pair in [*args, *extra] for a in ("-e", pair)])
        assert result.rc == 0, result.text[-3000:]
        assert "would send" in result.out or args[0] == "action=assign" or "escalate" in args[0], result.out[-2000:]
    assert delivered(lab) == {"pagerduty": [], "slack": [], "ticket": [], "email": []}
    assert store_state() == before
    incident("action=resolve", f"incident_id={inc}")
    before = store_state()
    result = run("ansible-playbook", "playbooks/incident.yml", "--check", "-e", "action=report", "-e",
                 f"incident_id={inc}")
    assert result.rc == 0, result.text[-3000:]
    assert store_state() == before and not list((REPO / "reports").glob(f"{inc}-review.*"))


@pytest.fixture()
def planted_inventory(tmp_path):
    """The lab inventory with a planted secret in every credential (and one channel that cannot be reached)."""
    inv = tmp_path / "inventory"
    shutil.copytree(REPO / "inventories" / "lab", inv, symlinks=False)
    paging = yaml.safe_load((REPO / "inventories/lab/group_vars/all/incident.yml").read_text())["incident_response_paging"]
    paging.update(PLANTED)
    (inv / "group_vars/all/zz_planted.yml").write_text(json.dumps({"incident_response_paging": paging}))
    return inv


def test_planted_secrets_never_show(lab, planted_inventory, tmp_path):
    env = {"ANSIBLE_SHOW_CUSTOM_STATS": "1"}
    hosts = str(planted_inventory / "hosts.yml")
    outputs = []
    for severity in ("P1", "P2", "P4"):
        result = incident("action=open", f"severity={severity}", "title=Secrets", "-vvv", env=env, inventory=hosts)
        outputs.append(result.text)
    inc = opened_id(Run(0, outputs[0], ""))
    for args in (["action=ack", f"incident_id={inc}"], ["action=resolve", f"incident_id={inc}"],
                 ["action=report", f"incident_id={inc}"]):
        outputs.append(incident(*args, "-vvv", env=env, inventory=hosts).text)
    # A failure path: the ticket endpoint refuses the connection, with the token in the error's reach.
    broken = planted_inventory / "group_vars/all/zz_zbroken.yml"
    paging = json.loads((planted_inventory / "group_vars/all/zz_planted.yml").read_text())["incident_response_paging"]
    broken.write_text(json.dumps({"incident_response_paging": {**paging, "ticket_url":
                                                               "http://10.77.1.1:9/" + PLANTED["ticket_token"]}}))
    failed = incident("action=open", "severity=P4", "title=Broken", "-vvv", env=env, inventory=hosts, check=False)
    assert failed.rc != 0 and "NOT delivered" in failed.text
    outputs.append(failed.text)
    got = delivered(lab)
    assert got["pagerduty"][0]["routing_key"] == PLANTED["pagerduty_routing_key"]  # the secrets were really used
    assert any(m["auth_user"] == PLANTED["smtp_username"] for m in got["email"])
    stored = lab_ssh("bastion", f"cat {STORE}/*/timeline.jsonl {STORE}/*/record.json").out
    reports = "".join(p.read_text() for p in (REPO / "reports").glob(f"{inc}-review.*"))
    assert reports
    for secret in PLANTED.values():
        shown = secret.rsplit("/", 1)[-1]
        for where, text in [("output", "\n".join(outputs)), ("store", stored), ("reports", reports)]:
            assert shown not in text, f"{secret} appears in the {where}"
    for path in (REPO / "reports").glob(f"{inc}-review.*"):
        path.unlink()


def test_bastion_unreachable_still_pages_and_says_what_was_not_recorded(lab, tmp_path):
    inv = tmp_path / "inventory"
    shutil.copytree(REPO / "inventories" / "lab", inv)
    hosts = yaml.safe_load((inv / "hosts.yml").read_text())
    hosts["all"]["children"]["bastions"]["hosts"]["bastion"]["ansible_port"] = 2  # nothing listens there
    (inv / "hosts.yml").write_text(yaml.safe_dump(hosts))
    result = incident("action=open", "severity=P1", "title=Bastion_down", inventory=str(inv / "hosts.yml"),
                      check=False)
    assert result.rc != 0
    (page,) = delivered(lab)["pagerduty"]
    assert f"The id people were paged with is {page['dedup_key']}" in " ".join(result.text.split())
    assert "NOTHING was recorded on bastion" in " ".join(result.text.split())
    assert store_state() == "no-store\n"
