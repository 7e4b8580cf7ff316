# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Event-Driven Ansible rulebook: valid against ansible-rulebook's schema, and run for real on 127.0.0.1.

The real run starts ansible-rulebook with the shipped rulebook, pointing its run_playbook at a stand-in
playbook (the real one needs the lab) whose first two tasks are the real validators, input_guard and
alert_event, and whose only action records the validated alert. Alerts are posted as Alertmanager posts them.
Every check ends with a valid "sentinel" alert: actions run one after another, so once the sentinel's record
is there, every alert posted before it has been handled.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import jsonschema
import pytest
import yaml

from ansible_collections.platform_eng.incident_response.tests.unit.plugins.monitoring_servers import Process, free_port

REPO = Path(__file__).resolve().parents[3]

RULEBOOK = REPO / "extensions/eda/rulebooks/incident_response.yml"
BIN = Path(sys.executable).parent
TOKEN = "unit-rulebook-token"
STAND_IN = """\
- name: Stand-in for playbooks/alert.yml, with its real validators
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Refuse unknown or unsafe input, the alert's own values included
      platform_eng.incident_response.input_guard:
        inputs:
          alert_auto_rollback: {type: bool, default: false}
      register: alert_request

    - name: Validate the alert itself
      platform_eng.incident_response.alert_event:
        app_hosts: {app1: 127.0.0.1, app2: 127.0.0.2}
        app_port: 8080
      register: alert_validated

    - name: Record what the real action would get
      ansible.builtin.copy:
        content: "{{ alert_validated.alert | combine({'auto_rollback': alert_request.validated.alert_auto_rollback}) | to_json }}"
        dest: "{{ record_dir }}/{{ alert_validated.alert.fingerprint }}-{{ 999999999 | random }}.json"
        mode: "0600"
"""


def load_rulebook():
    return yaml.safe_load(RULEBOOK.read_text(encoding="utf-8"))


def test_the_rulebook_is_valid_against_ansible_rulebooks_schema():
    import ansible_rulebook

    schema = json.loads((Path(ansible_rulebook.__file__).parent / "schema" / "ruleset_schema.json").read_text())
    jsonschema.validate(load_rulebook(), schema)


def test_the_rulebook_uses_the_builtin_webhook_splits_alerts_and_throttles_each_alert():
    (ruleset,) = load_rulebook()
    # run_playbook limits the run to these hosts; the playbook starts on the implicit localhost, which all misses.
    assert ruleset["hosts"].split(",") == ["localhost", "all"]
    (source,) = ruleset["sources"]
    assert "eda.builtin.webhook" in source and source["eda.builtin.webhook"]["token"]
    assert source["filters"] == [{"eda.builtin.event_splitter": {"splitter_key": "payload.alerts"}}]
    for rule in ruleset["rules"]:
        assert rule["throttle"]["once_within"]
        assert rule["throttle"]["group_by_attributes"] == ["event.labels.alertname", "event.fingerprint"]
        assert "{{" not in json.dumps(rule["action"]["run_playbook"]["extra_vars"]).replace(
            "{{ alert_auto_rollback | default(false) }}", ""), "no event value is rendered into the run"
    fires = next(r for r in ruleset["rules"] if "firing" in r["condition"])
    assert fires["action"]["run_playbook"]["extra_vars"]["alert_auto_rollback"] == "{{ alert_auto_rollback | default(false) }}"


def test_the_rulebooks_alert_prefix_is_the_catalogues():
    from ansible_collections.platform_eng.incident_response.plugins.module_utils import _alert_rules as ar

    prefix = f'is match("{ar.DEFAULTS["service"]}_")'
    for rule in load_rulebook()[0]["rules"]:
        assert prefix in rule["condition"]
    assert all(name.startswith(ar.DEFAULTS["service"] + "_") for name in ar.alert_names())


# --------------------------------------------------------------------------- the real run

class Rulebook(Process):
    def __init__(self, root: Path) -> None:
        self.root, self.port, self.records = root, free_port(), root / "records"
        self.records.mkdir()
        (root / "playbooks").mkdir()
        self.playbook = root / "playbooks" / "stand_in.yml"
        self.playbook.write_text(STAND_IN, encoding="utf-8")
        variables = {"alert_webhook_host": "127.0.0.1", "alert_webhook_port": self.port, "alert_webhook_token": TOKEN,
                     "alert_playbook": str(self.playbook), "alert_auto_rollback": False}
        (root / "vars.yml").write_text(yaml.safe_dump(variables), encoding="utf-8")
        # Shaped like the lab's: the controller is the implicit localhost, not an inventory host, so a --limit of
        # "all" would skip the playbook's localhost play.
        (root / "inventory.yml").write_text(yaml.safe_dump({"all": {
            "hosts": {"app1": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}},
            "vars": {"record_dir": str(self.records)}}}), encoding="utf-8")
        env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                   PATH=f"{BIN}:{os.environ.get('PATH', '')}", ANSIBLE_LOCAL_TEMP=str(root / "ansible-tmp"))
        if not shutil.which("java") and not Path("/usr/lib/jvm").exists():
            pytest.fail("ansible-rulebook needs a Java 17 runtime: apt-get install openjdk-17-jre-headless")
        super().__init__([str(BIN / "ansible-rulebook"), "--rulebook", str(RULEBOOK), "--vars", str(root / "vars.yml"),
                          "--inventory", str(root / "inventory.yml")], root / "rulebook.log", cwd=root, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"ansible-rulebook exited with {self.proc.returncode}: {self.output()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        pytest.fail(f"ansible-rulebook did not listen on 127.0.0.1:{self.port}: {self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def post(self, *alerts: dict, token: str | None = TOKEN) -> int:
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
        body = {"version": "4", "status": alerts[0]["status"], "receiver": "eda-rulebook", "alerts": list(alerts)}
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/alerts", data=json.dumps(body).encode(),
                                         headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def recorded(self) -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted(self.records.glob("*.json"))]

    def wait_for(self, fingerprint: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(r["fingerprint"] == fingerprint for r in self.recorded()):
                return
            if self.proc.poll() is not None:
                pytest.fail(f"ansible-rulebook exited: {self.output()}")
            time.sleep(0.3)
        pytest.fail(f"no run recorded {fingerprint} within {timeout:g} s: {self.output()[-4000:]}")


def fingerprint() -> str:
    return uuid.uuid4().hex[:16]


def alert(status: str = "firing", fp: str | None = None, **labels: str) -> dict:
    return {"status": status, "fingerprint": fp or fingerprint(),
            "labels": {"alertname": "incident-response_high_error_rate", "severity": "P1",
                       "service": "incident-response", "job": "incident-response", "instance": "127.0.0.1:8080",
                       **labels},
            "annotations": {"summary": "5xx ratio 31% on 127.0.0.1:8080 over 30s (runbook: above 5 %)"},
            "startsAt": "2026-11-29T14:23:00Z", "endsAt": "0001-01-01T00:00:00Z" if status == "firing"
            else "2026-11-29T14:40:00Z", "generatorURL": "http://127.0.0.1:9090/graph"}


@pytest.fixture(scope="module")
def rulebook(tmp_path_factory):
    running = Rulebook(tmp_path_factory.mktemp("rulebook"))
    try:
        yield running
    finally:
        running.stop()


def test_a_storm_of_the_same_alert_runs_once(rulebook):
    storm = alert()
    assert {rulebook.post(storm) for _copy in range(50)} == {200}
    sentinel = alert(instance="127.0.0.2:8080")
    rulebook.post(sentinel)
    rulebook.wait_for(sentinel["fingerprint"])

    runs = [r for r in rulebook.recorded() if r["fingerprint"] == storm["fingerprint"]]
    assert len(runs) == 1
    assert (runs[0]["name"], runs[0]["host"], runs[0]["status"], runs[0]["auto_rollback"]) == (
        "incident-response_high_error_rate", "app1", "firing", False)


def test_a_resolved_alert_runs_once_too(rulebook):
    fp = fingerprint()
    for _copy in range(5):
        rulebook.post(alert("resolved", fp))
    rulebook.wait_for(fp)
    assert [r["status"] for r in rulebook.recorded() if r["fingerprint"] == fp] == ["resolved"]


@pytest.mark.parametrize("labels, logged", [
    ({"instance": "{{ lookup('pipe', 'touch /tmp/eda-canary') }}"}, "looks like a Jinja template"),
    ({"instance": "127.0.0.1:8080; touch /tmp/eda-canary"}, "label instance carries shell metacharacters"),
    ({"team": "$(touch /tmp/eda-canary)"}, "label team carries shell metacharacters"),
    ({"alertname": "incident-response_disk_full"}, "is not an alert this collection ships"),
    ({"instance": "10.77.2.99:8080"}, "is not an app host of this inventory"),
])
def test_an_untrusted_alert_never_reaches_the_action_and_the_reason_is_logged(rulebook, labels, logged):
    bad = alert(**labels)
    rulebook.post(bad)
    sentinel = alert(instance="127.0.0.2:8080")
    rulebook.post(sentinel)
    rulebook.wait_for(sentinel["fingerprint"])

    assert [r for r in rulebook.recorded() if r["fingerprint"] == bad["fingerprint"]] == []
    assert logged in " ".join(rulebook.output().split())
    assert not Path("/tmp/eda-canary").exists()


def test_another_services_alert_and_an_unauthenticated_post_start_nothing(rulebook):
    other = alert(alertname="DiskFull")
    rulebook.post(other)
    forged = alert()
    assert rulebook.post(forged, token=None) == 401
    assert rulebook.post(forged, token="wrong") == 401
    sentinel = alert(instance="127.0.0.2:8080")
    rulebook.post(sentinel)
    rulebook.wait_for(sentinel["fingerprint"])
    fingerprints = {r["fingerprint"] for r in rulebook.recorded()}
    assert other["fingerprint"] not in fingerprints and forged["fingerprint"] not in fingerprints
