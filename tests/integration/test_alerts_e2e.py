# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The alert path end to end in the lab, no step faked (issue 12's acceptance).

sample service -> Prometheus (the collection's rules) -> Alertmanager (routing by P1..P4) -> the receivers, and
-> ansible-rulebook -> playbooks/alert.yml -> incident, diagnosis, verdict -> (only when enabled) rollback.

Needs lab/services/monitoring.py wired into `irlab up` (Prometheus and Alertmanager in the bastion's namespace);
the rulebook is (re)started here per scenario, because a restart is also what clears its throttles. Each hop is
asserted from what the next part received: Alertmanager's API, the incident store on the bastion, the lab's
receivers, the hosts' versions.
"""

from __future__ import annotations

import json
import sys
import time
import typing as t
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

from conftest import REPO, irlab, lab_ssh, run, webhook_requests

sys.path.insert(0, str(REPO / "lab"))
import irlab as irlab_module  # the lab's own process helpers, for the rulebook's restarts
from services import monitoring

PROMETHEUS = "http://%s:%d" % monitoring.PROMETHEUS
ALERTMANAGER = "http://%s:%d" % monitoring.ALERTMANAGER
RULEBOOK = "http://%s:%d/alerts" % monitoring.RULEBOOK
LAB_MONITORING = yaml.safe_load((REPO / "inventories/lab/group_vars/all/monitoring.yml").read_text())
TOKEN = LAB_MONITORING["incident_response_eda"]["token"]
STORE = "/var/lib/incident-response/incidents"
TIMINGS = REPO / "reports" / "alerts-e2e-timings.json"


def get_json(url: str) -> t.Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def wait_until(check: t.Callable[[], t.Any], timeout: float, what: str, every: float = 1.0) -> t.Any:
    deadline = time.monotonic() + timeout
    last: t.Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as exc:  # noqa: BLE001 - not there yet; kept for the timeout message  # pylint: disable=broad-except
            last = exc
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout:g} s (last: {last!r})")


def active_alerts(name: str) -> list[dict]:
    query = urllib.parse.urlencode({"active": "true", "filter": f'alertname="{name}"'})
    return [a for a in get_json(f"{ALERTMANAGER}/api/v2/alerts?{query}") if a["status"]["state"] == "active"]


def incidents() -> list[tuple[dict, list[dict]]]:
    out = lab_ssh("bastion", f"for d in {STORE}/INC-*; do [ -d \"$d\" ] && cat \"$d/record.json\" && echo '@@' "
                             f"&& cat \"$d/timeline.jsonl\" && echo '@@@'; done", check=False).out
    found = []
    for chunk in filter(None, (c.strip() for c in out.split("@@@"))):
        record, timeline = chunk.split("@@", 1)
        found.append((json.loads(record), [json.loads(line) for line in timeline.splitlines() if line.strip()]))
    return found


def events(kind: str, alert_name: str = "") -> list[dict]:
    """Timeline events of a kind, in the incidents ``alert_name`` opened or joined (every incident when empty)."""
    return [e for _record, timeline in incidents_for(alert_name) for e in timeline if e["kind"] == kind]


def verdicts(alert_name: str) -> list[str]:
    return [e["summary"] for e in events("note", alert_name) if e["summary"].startswith("Diagnosis of")]


def incidents_for(alert_name: str) -> list[tuple[dict, list[dict]]]:
    """The incidents an alert opened or joined (a firing alert joins an open incident of its severity or higher)."""
    return [(record, timeline) for record, timeline in incidents()
            if alert_name in record["title"] or any(alert_name in str((e.get("refs") or {}).get("alert") or "")
                                                    for e in timeline)]


def versions(lab: dict) -> dict[str, str]:
    found = {}
    for host in lab["app_hosts"]:
        body = lab_ssh("bastion", f"curl -s --max-time 3 http://{host['ip']}:8080/health", check=False).out
        found[host["name"]] = json.loads(body).get("version") if body.strip().startswith("{") else None
    return found


def post_to_rulebook(*alerts: dict) -> int:
    body = json.dumps({"version": "4", "status": alerts[0]["status"], "receiver": "eda-rulebook",
                       "alerts": list(alerts)}).encode()
    request = urllib.request.Request(RULEBOOK, data=body, method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def alert(name: str = "incident-response_high_latency", severity: str = "P2", instance: str = "10.77.2.11:8080",
          fingerprint: str | None = None, **labels: str) -> dict:
    return {"status": "firing", "fingerprint": fingerprint or uuid.uuid4().hex[:16],
            "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "endsAt": "0001-01-01T00:00:00Z",
            "labels": {"alertname": name, "severity": severity, "service": "incident-response",
                       "job": "incident-response", "instance": instance, **labels},
            "annotations": {"summary": "posted by tests/integration/test_alerts_e2e.py"}}


def first_bad_request() -> float | None:
    """When the first 5xx was counted, from Prometheus (the counter's series appears with its first 500)."""
    query = 'min(min_over_time(timestamp(http_requests_total{job="incident-response",code=~"5.."})[15m:1s]))'
    result = get_json(f"{PROMETHEUS}/api/v1/query?" + urllib.parse.urlencode({"query": query}))["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def deploy_bad_release_without_the_watch() -> tuple[float, float]:
    started = time.time()
    result = run("ansible-playbook", "playbooks/deploy.yml", "-e", "version=v1.2.4", "-e", "deploy_watch_seconds=0",
                 timeout=900)
    assert result.rc == 0, result.text
    return started, time.time()


def record_timing(name: str, seconds: float, **detail: t.Any) -> None:
    TIMINGS.parent.mkdir(exist_ok=True)
    timings = json.loads(TIMINGS.read_text()) if TIMINGS.exists() else {}
    timings[name] = {"seconds": round(seconds, 1), **detail}
    TIMINGS.write_text(json.dumps(timings, indent=2) + "\n")


@pytest.fixture(scope="module")
def alerting(lab):
    assert [up for _name, up, _where in monitoring.status(irlab_module)][:2] == [True, True], (
        "Prometheus and Alertmanager are not running: lab/services/monitoring.py must be wired into irlab up")
    result = run("ansible-playbook", "playbooks/monitoring.yml", timeout=300)
    assert result.rc == 0, result.text
    wait_until(lambda: "incident-response_high_error_rate" in json.dumps(get_json(PROMETHEUS + "/api/v1/rules")), 30,
               "Prometheus serving the collection's rules")
    assert "eda-rulebook" in get_json(ALERTMANAGER + "/api/v2/status")["config"]["original"]
    yield lab
    monitoring.rulebook_stop(irlab_module)  # the other tests run without alert-driven runs (conftest)
    irlab("reset")


@pytest.fixture
def fresh(alerting):
    def start(auto_rollback: bool) -> dict:
        irlab("reset")  # also empties the bastion's incident store
        # No alert of an earlier scenario may still fire (a budget burn outlasts its rollback by its windows).
        monitoring.forget(irlab_module, [h["ip"] for h in alerting["app_hosts"]])
        monitoring.rulebook(irlab_module, auto_rollback=auto_rollback)
        return alerting
    return start


def test_a_bad_release_is_alerted_diagnosed_and_rolled_back_when_enabled(fresh):
    lab = fresh(auto_rollback=True)
    (good,) = set(versions(lab).values())  # the last good release (irlab reset: v1.2.2)
    _started, live = deploy_bad_release_without_the_watch()
    assert set(versions(lab).values()) == {"v1.2.4"}

    firing = wait_until(lambda: active_alerts("incident-response_high_error_rate"), 240,
                        "Prometheus firing the error-rate alert in Alertmanager")
    assert {a["labels"]["severity"] for a in firing} == {"P1"}
    fired_at = time.time()

    ((record, _timeline),) = wait_until(lambda: incidents_for("incident-response_high_error_rate"), 180,
                                        "the rulebook's run opening an incident")
    assert record["source"] == "alert" and record["severity"] == "P1"
    verdict = wait_until(lambda: verdicts("high_error_rate"), 240, "the diagnosis's verdict posted to the incident")[0]
    assert "v1.2.4" in verdict and "Roll back" in verdict, verdict
    assert "Automatic rollback: starting" in verdict, verdict

    wait_until(lambda: set(versions(lab).values()) == {good}, 300, f"every app host back on {good}")
    rolled_back = time.time()
    assert wait_until(lambda: events("rollback_done", "high_error_rate"), 60, "the rollback in the incident")

    sent = webhook_requests(lab, alertmanager=True)
    pages = [r for r in sent if r["path"] == "/v2/enqueue" and "high_error_rate" in json.dumps(r["body"])
             and r["body"].get("client") == "platform_eng.incident_response"]
    assert pages and pages[0]["body"]["routing_key"] == "lab-pagerduty-routing-key", "Alertmanager paged P1"
    assert any(r["path"] == "/slack/incidents" and "OPENED" in json.dumps(r["body"]) for r in sent), \
        "the incident posted to chat"

    wait_until(lambda: not active_alerts("incident-response_high_error_rate"), 300, "the alert resolving")
    assert wait_until(lambda: events("alert_resolved", "high_error_rate"), 180, "the resolved alert on the timeline")

    first = first_bad_request() or live
    record_timing("first_bad_request_to_rolled_back", rolled_back - first,
                  first_bad_to_alert_firing=round(fired_at - first, 1),
                  deploy_done_to_rolled_back=round(rolled_back - live, 1))


def test_with_auto_rollback_off_nothing_rolls_back_the_verdict_recommends_it_and_people_are_paged(fresh):
    lab = fresh(auto_rollback=False)
    deploy_bad_release_without_the_watch()

    wait_until(lambda: active_alerts("incident-response_high_error_rate"), 240, "the error-rate alert firing")
    verdict = wait_until(lambda: verdicts("high_error_rate"), 300, "the verdict")[0]
    assert "Roll back" in verdict and "Automatic rollback: off" in verdict, verdict
    pages = wait_until(lambda: [r for r in webhook_requests(lab, alertmanager=True) if r["path"] == "/v2/enqueue"], 120, "a page")
    assert pages[0]["body"]["event_action"] == "trigger"
    time.sleep(30)
    assert set(versions(lab).values()) == {"v1.2.4"}, "nothing rolled back"
    assert events("rollback_done") == [] and events("rollback_started") == []


def test_a_storm_of_one_alert_runs_one_diagnosis(fresh):
    fresh(auto_rollback=False)
    storm = alert(fingerprint=uuid.uuid4().hex[:16])
    assert {post_to_rulebook(storm) for _copy in range(50)} == {200}

    name = "incident-response_high_latency"
    wait_until(lambda: events("diagnosis", name), 240, "the diagnosis of the storm's alert")
    time.sleep(30)  # anything the storm would still start has started by now (runs are one after another)
    runs = [e for record, timeline in incidents() for e in timeline
            if (e["kind"] == "opened" and name in record["title"])
            or (e["kind"] == "note" and e["summary"].startswith(f"Alert firing: {name}"))]
    assert len(runs) == 1, runs
    assert len(events("diagnosis", name)) == 1


def test_an_alert_with_jinja_shell_metacharacters_or_an_unknown_name_runs_nothing(fresh, tmp_path):
    fresh(auto_rollback=False)
    canary = tmp_path / "canary"
    bad = [alert(instance=f"{{{{ lookup('pipe', 'touch {canary}') }}}}"),
           alert(team=f"$(touch {canary})"),
           alert(name="incident-response_disk_full"),
           alert(instance="10.77.2.99:8080")]
    for item in bad:
        post_to_rulebook(item)
    sentinel = alert(name="incident-response_memory_near_limit", severity="P3")
    post_to_rulebook(sentinel)

    wait_until(lambda: incidents_for("incident-response_memory_near_limit"), 240, "the sentinel's incident")
    assert incidents_for("incident-response_disk_full") == [] and incidents_for("10.77.2.99") == []
    log = (Path(irlab_module.LOGS) / "rulebook.log").read_text(errors="replace")
    flat = " ".join(log.split())
    assert "looks like a Jinja template" in flat and "Refused alert, nothing runs with it" in flat
    assert "is not an alert this collection ships" in flat and "is not an app host of this inventory" in flat
    assert not canary.exists()
