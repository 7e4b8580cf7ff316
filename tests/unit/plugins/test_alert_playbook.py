# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/alert.yml itself, offline: every host is this machine (local connection), the incident store a
temporary directory, chat the lab's webhook receiver on 127.0.0.1, the database and cache closed ports.

What a person would check: a firing alert opens an incident and says so in chat (and pages nobody, Alertmanager
does that), its diagnosis runs and its verdict is posted and recorded, no rollback is started without the
diagnosis recommending one; a second alert joins the incident; the resolved alert becomes a timeline event; an
alert with a forged instance changes nothing. The rollback itself needs the lab (tests/integration).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from ansible_collections.platform_eng.incident_response.tests.unit.plugins.monitoring_servers import free_port

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
RUNBOOK = yaml.safe_load((REPO / "roles/incident_response/defaults/main.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("alert-playbook")
    port = free_port()
    log = root / "webhook.log"
    with log.open("wb") as out:
        receiver = subprocess.Popen([sys.executable, str(REPO / "lab/services/webhook_receiver.py"), "--bind",
                                     "127.0.0.1", "--port", str(port), "--store", str(root / "webhook.jsonl")],
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 30
    while b"ready" not in log.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.1)
    closed = free_port()
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory = {"all": {
        "children": {"bastions": {"hosts": {"bastion": local}},
                     "app_servers": {"hosts": {"app1": {**local, "ansible_host": "127.0.0.1"}}}},
        "vars": {**RUNBOOK,
                 "incident_response_environment": "unit",
                 "incident_response_app_port": closed,
                 "incident_response_app_dir": str(root / "app"),
                 "incident_response_db": {"host": "127.0.0.1", "port": free_port(), "name": "x", "user": "x",
                                          "password": "unit-db-pw"},
                 "incident_response_cache": {"host": "127.0.0.1", "port": free_port(), "password": "unit-cache-pw"},
                 "incident_store": str(root / "incidents"),
                 "incident_response_paging": {"slack_webhook_url": f"http://127.0.0.1:{port}/slack/incidents",
                                              "pagerduty_url": f"http://127.0.0.1:{port}/v2/enqueue",
                                              "pagerduty_routing_key": "unit-pd-key",
                                              "ticket_url": f"http://127.0.0.1:{port}/rest/api/2/issue"},
                 "diagnose_cache_window": 1,
                 }}}
    (root / "inventory.yml").write_text(yaml.safe_dump(inventory), encoding="utf-8")
    (root / "reports").mkdir()
    try:
        yield {"root": root, "webhook": f"http://127.0.0.1:{port}", "instance": f"127.0.0.1:{closed}"}
    finally:
        receiver.terminate()
        receiver.wait(timeout=15)


def run_alert(world, status: str = "firing", fingerprint: str = "0123456789abcdef", inventory: Path | None = None,
              **labels: str):
    event = {"status": status, "fingerprint": fingerprint, "startsAt": "2026-11-29T14:23:00Z",
             "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-29T14:40:00Z",
             "labels": {"alertname": "incident-response_high_error_rate", "severity": "P1",
                        "service": "incident-response", "job": "incident-response", "instance": world["instance"],
                        **labels},
             "annotations": {"summary": "5xx ratio 31% (runbook: above 5 %)"}}
    extra = world["root"] / f"eda-{fingerprint}-{status}.json"
    extra.write_text(json.dumps({"ansible_eda": {"event": event, "ruleset": "r", "rule": "r"}}), encoding="utf-8")
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=f"{BIN}:{os.environ.get('PATH', '')}", INCIDENT_RESPONSE_REPORTS_ROOT=str(world["root"] / "reports"))
    env.pop("ANSIBLE_INVENTORY", None)
    return subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory or world["root"] / "inventory.yml"),
                           "playbooks/alert.yml", "-e", f"@{extra}"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600, check=False)


def sent(world) -> list[dict]:
    with urllib.request.urlopen(world["webhook"] + "/_requests", timeout=5) as response:
        return json.load(response)


def incidents(world) -> list[tuple[dict, list[dict]]]:
    found = []
    for record in sorted((world["root"] / "incidents").glob("INC-*/record.json")):
        timeline = [json.loads(line) for line in (record.parent / "timeline.jsonl").read_text().splitlines() if line]
        found.append((json.loads(record.read_text()), timeline))
    return found


def test_a_firing_alert_opens_an_incident_diagnoses_and_posts_the_verdict(world):
    result = run_alert(world)

    assert result.returncode == 0, result.stdout + result.stderr
    ((record, timeline),) = incidents(world)
    assert record["severity"] == "P1" and record["source"] == "alert"
    assert record["title"] == (f"High Error Rate on app1 ({world['instance']}): incident-response_high_error_rate")
    kinds = [event["kind"] for event in timeline]
    assert kinds[:2] == ["opened", "paged"] and "diagnosis" in kinds and kinds[-1] == "paged"
    verdict = next(e for e in timeline if e["kind"] == "note")["summary"]
    assert verdict.startswith(f"Diagnosis of incident-response_high_error_rate on app1 ({world['instance']}):")
    assert "Automatic rollback: not recommended by the diagnosis" in verdict  # the database is down, and no deploy
    paths = {request["path"] for request in sent(world)}
    assert paths == {"/slack/incidents"}, "chat only: Alertmanager pages per severity, the incident does not again"
    assert any("OPENED" in r["body"]["text"] for r in sent(world))
    assert any("Diagnosis of incident-response_high_error_rate" in r["body"]["text"] for r in sent(world))
    assert list((world["root"] / "reports").glob("diagnose-high_error_rate-*.json"))
    for secret in ("unit-pd-key", "unit-db-pw", "unit-cache-pw"):
        assert secret not in result.stdout + result.stderr
    rollback = result.stdout.split("PLAY [Read every app host's release history]")[1]
    assert "changed:" not in rollback and "ok: [app1]" not in rollback, "the rollback flow is skipped entirely"


def test_a_second_alert_joins_the_open_incident_and_the_resolved_one_is_a_timeline_event(world):
    latency = run_alert(world, fingerprint="1111222233334444", alertname="incident-response_high_latency",
                        severity="P2")
    assert latency.returncode == 0, latency.stdout + latency.stderr
    resolved = run_alert(world, status="resolved")
    assert resolved.returncode == 0, resolved.stdout + resolved.stderr

    ((record, timeline),) = incidents(world)
    notes = [e["summary"] for e in timeline if e["kind"] == "note"]
    assert any(n.startswith("Alert firing: incident-response_high_latency (P2)") for n in notes)
    (event,) = [e for e in timeline if e["kind"] == "alert_resolved"]
    assert event["summary"].startswith("Alert resolved: incident-response_high_error_rate (P1)")
    assert event["refs"]["fingerprint"] == "0123456789abcdef"
    assert record["state"] == "triage", "a resolved alert is recorded; resolving the incident is a person's call"


def test_a_forged_instance_changes_nothing(world):
    before = incidents(world)
    requests = len(sent(world))
    result = run_alert(world, fingerprint="aaaabbbbccccdddd", instance="10.77.2.99:8080")
    assert result.returncode != 0
    assert "Refused alert, nothing runs with it" in " ".join(result.stdout.split())
    assert incidents(world) == before and len(sent(world)) == requests


def test_a_template_in_the_alert_is_refused_before_anything_renders_it(world, tmp_path):
    canary = tmp_path / "canary"
    result = run_alert(world, fingerprint="eeeeffff00001111", team=f"{{{{ lookup('pipe', 'touch {canary}') }}}}")
    assert result.returncode != 0
    assert "Refused before changing anything" in result.stdout
    assert not canary.exists()


def test_chat_down_still_diagnoses_and_the_run_says_what_failed(world, tmp_path):
    inventory = yaml.safe_load((world["root"] / "inventory.yml").read_text())
    settings = inventory["all"]["vars"]
    settings["incident_store"] = str(tmp_path / "incidents")
    settings["incident_response_paging"] = dict(settings["incident_response_paging"],
                                                slack_webhook_url=f"http://127.0.0.1:{free_port()}/slack/incidents")
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(inventory), encoding="utf-8")

    result = run_alert(world, fingerprint="2222333344445555", inventory=path)

    assert result.returncode != 0
    assert "The alert was handled, but:" in result.stdout and "NOT delivered" in result.stdout
    (timeline,) = [p.read_text() for p in (tmp_path / "incidents").glob("INC-*/timeline.jsonl")]
    assert '"kind": "diagnosis"' in timeline, "the diagnosis ran although chat was down"
