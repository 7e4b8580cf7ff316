# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The role monitoring against a real Prometheus and Alertmanager on 127.0.0.1 (ansible local connection).

What a person would check: the live rules and routing are the collection's after a run; a second run
changes nothing; --check --diff shows the change and changes nothing; a rule promtool refuses never
replaces the good file, and Prometheus keeps serving the good rules; no secret appears in any output; a
firing service-down inhibits the error-rate alert of the same instance in the running Alertmanager.
Every notification endpoint is a closed port on 127.0.0.1: nothing leaves the machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.platform_eng.incident_response.tests.unit.plugins.monitoring_servers import Alertmanager, Prometheus, binary, free_port, wait_until

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
RUNBOOK = yaml.safe_load((REPO / "roles/incident_response/defaults/main.yml").read_text(encoding="utf-8"))
LAB_MONITORING = yaml.safe_load((REPO / "inventories/lab/group_vars/all/monitoring.yml").read_text(encoding="utf-8"))
SECRETS = {"pagerduty_routing_key": "unit-pd-KEY-1", "smtp_password": "unit-smtp-PW-2",
           "ticket_token": "unit-ticket-TOKEN-3", "eda_token": "unit-eda-TOKEN-4"}
SLACK_SECRET_PATH = "T000/B000/unitSLACKsecret5"
PLAYBOOK = """\
- name: Install the monitoring configuration
  hosts: monitor
  gather_facts: false
  tasks:
    - name: Run the role
      ansible.builtin.include_role:
        name: platform_eng.incident_response.monitoring
"""


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("monitoring")
    rules_dir, am_config = root / "rules", root / "alertmanager" / "alertmanager.yml"
    rules_dir.mkdir()
    am_config.parent.mkdir()
    # What was live before the collection: a minimal valid configuration.
    am_config.write_text("route: {receiver: 'null'}\nreceivers: [{name: 'null'}]\n", encoding="utf-8")
    alertmanager = Alertmanager(root, am_config)
    prometheus = Prometheus(root, [], rule_files=[str(rules_dir / "*.yml")],
                            alertmanager=f"127.0.0.1:{alertmanager.port}")
    closed = f"127.0.0.1:{free_port()}"  # nothing listens there: notifications fail here, on this machine
    variables = {
        **RUNBOOK,
        "incident_response_alert_parameters": LAB_MONITORING["incident_response_alert_parameters"],
        "incident_response_alertmanager_timing": LAB_MONITORING["incident_response_alertmanager_timing"],
        "incident_response_paging": {
            "pagerduty_url": f"http://{closed}/v2/enqueue", "pagerduty_routing_key": SECRETS["pagerduty_routing_key"],
            "slack_webhook_url": f"http://{closed}/services/{SLACK_SECRET_PATH}", "slack_channel": "#incidents",
            "smtp_host": "127.0.0.1", "smtp_port": int(closed.split(":")[1]), "smtp_username": "mailer",
            "smtp_password": SECRETS["smtp_password"], "smtp_starttls": True, "email_from": "alerts@example.com",
            "ticket_url": f"http://{closed}/rest/api/2/issue", "ticket_token": SECRETS["ticket_token"]},
        "incident_response_eda": {"url": f"http://{closed}/alerts", "token": SECRETS["eda_token"]},
        "monitoring_rules_dir": str(rules_dir),
        "monitoring_alertmanager_config": str(am_config),
        "monitoring_alertmanager_secrets_dir": str(root / "alertmanager" / "secrets"),
        "monitoring_prometheus_url": prometheus.url,
        "monitoring_alertmanager_url": alertmanager.url,
        "monitoring_promtool": binary("promtool"),
        "monitoring_amtool": binary("amtool"),
    }
    inventory = root / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {
        "hosts": {"monitor": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}},
        "vars": variables}}), encoding="utf-8")
    playbook = root / "site.yml"
    playbook.write_text(PLAYBOOK, encoding="utf-8")
    try:
        yield {"root": root, "rules": rules_dir / "incident-response.rules.yml", "am_config": am_config,
               "inventory": inventory, "playbook": playbook, "prometheus": prometheus, "alertmanager": alertmanager}
    finally:
        prometheus.stop()
        alertmanager.stop()


def play(stack, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=f"{BIN}:{os.environ.get('PATH', '')}")
    env.pop("ANSIBLE_INVENTORY", None)
    return subprocess.run([str(BIN / "ansible-playbook"), "-i", str(stack["inventory"]), str(stack["playbook"]), *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)


def recap(result: subprocess.CompletedProcess) -> dict[str, int]:
    match = re.search(r"^monitor\s+:\s+(.*)$", result.stdout, re.MULTILINE)
    assert match, result.stdout + result.stderr
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", match.group(1))}


def assert_no_secret(text: str) -> None:
    for secret in [*SECRETS.values(), SLACK_SECRET_PATH]:
        assert secret not in text


def test_a_first_run_installs_both_checked_and_reloads_them(stack):
    result = play(stack, "--diff", "-v")

    assert result.returncode == 0, result.stdout + result.stderr
    assert recap(result)["changed"] >= 3
    assert_no_secret(result.stdout + result.stderr)
    # The live Prometheus serves the collection's rules, the live Alertmanager its routing: the reloads happened.
    names = stack["prometheus"].rule_names()
    assert "incident-response_high_error_rate" in names and "incident_response:http_error_ratio:rate10s" in names
    assert stack["alertmanager"].config_text().count("P1-pagerduty-slack") >= 1
    assert yaml.safe_load(stack["am_config"].read_text())["route"]["routes"][0]["receiver"] == "eda-rulebook"
    secrets = stack["root"] / "alertmanager" / "secrets"
    for name, value in SECRETS.items():
        assert (secrets / name).read_text() == value + "\n"
        assert (secrets / name).stat().st_mode & 0o777 == 0o640
    assert_no_secret(stack["am_config"].read_text())


def test_a_second_run_changes_nothing(stack):
    result = play(stack)
    assert result.returncode == 0, result.stdout + result.stderr
    assert recap(result)["changed"] == 0
    assert "RUNNING HANDLER" not in result.stdout


def test_check_diff_shows_the_change_and_changes_nothing(stack):
    before = sha(stack["rules"])
    result = play(stack, "--check", "--diff",
                  "-e", json.dumps({"monitoring_alert_parameters": {"error_rate_window": "30s", "error_rate_for": "20s"}}))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "-        for: 10s\n+        for: 20s\n" in result.stdout
    assert "promtool did not check it" in " ".join(result.stdout.split())
    assert sha(stack["rules"]) == before
    assert_no_secret(result.stdout + result.stderr)


def test_a_rule_promtool_refuses_never_replaces_the_good_file(stack):
    before = sha(stack["rules"])
    broken = [{"name": "site", "rules": [{"alert": "Broken", "expr": "rate(http_requests_total[5m]"}]}]
    result = play(stack, "-e", json.dumps({"monitoring_extra_rule_groups": broken}))

    assert result.returncode != 0
    assert "failed to validate" in result.stdout, result.stdout
    assert "parse error" in result.stdout, result.stdout
    assert sha(stack["rules"]) == before
    assert "Broken" not in stack["prometheus"].rule_names()
    assert "incident-response_high_error_rate" in stack["prometheus"].rule_names()


def test_a_configuration_its_checker_refuses_never_replaces_the_live_one(stack, tmp_path):
    before = sha(stack["am_config"])
    refuse = tmp_path / "refuse.sh"
    refuse.write_text("#!/bin/sh\necho 'amtool: error: refused by the test' >&2\nexit 1\n")
    refuse.chmod(0o755)
    result = play(stack, "-e", json.dumps({"monitoring_amtool": str(refuse),
                                           "monitoring_alertmanager_timing": {"group_wait": "2s"}}))
    assert result.returncode != 0
    assert "refused by the test" in result.stdout
    assert sha(stack["am_config"]) == before
    assert_no_secret(result.stdout + result.stderr)


def test_a_firing_service_down_inhibits_that_instances_error_rate_alert(stack):
    alertmanager = stack["alertmanager"]
    common = {"job": "incident-response", "service": "incident-response"}
    alertmanager.post_alerts([
        {"labels": {**common, "alertname": "incident-response_service_down", "instance": "app1:8080",
                    "severity": "P1"}},
        {"labels": {**common, "alertname": "incident-response_high_error_rate", "instance": "app1:8080",
                    "severity": "P1"}},
        {"labels": {**common, "alertname": "incident-response_high_error_rate", "instance": "app2:8080",
                    "severity": "P1"}},
    ])

    def states():
        found = {(a["labels"]["alertname"], a["labels"]["instance"]): a["status"] for a in alertmanager.alerts()}
        return found if len(found) == 3 else None

    found = wait_until(states, 15, "three alerts in Alertmanager")
    assert wait_until(lambda: states()[("incident-response_high_error_rate", "app1:8080")]["inhibitedBy"], 15,
                      "the error-rate alert of app1 to be inhibited")
    assert found[("incident-response_high_error_rate", "app2:8080")]["inhibitedBy"] == []
    assert found[("incident-response_service_down", "app1:8080")]["inhibitedBy"] == []
