# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab has production's shape: what a user reaches from where."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO, lab_ssh, run


def test_ping_without_inventory_flag_reaches_bastion_and_app_hosts(lab):
    result = run("ansible", "all", "-m", "ansible.builtin.ping")
    assert result.rc == 0, result.text
    for host in ["bastion"] + [h["name"] for h in lab["app_hosts"]]:
        assert f"{host} | SUCCESS" in result.out


def test_each_host_has_its_own_hostname_and_app_directory(lab):
    marker = "/opt/incident-response/.who"
    for host in [h["name"] for h in lab["app_hosts"]]:
        assert lab_ssh(host, "hostname").out.strip() == host
        lab_ssh(host, f"echo {host} > {marker}")
    for host in [h["name"] for h in lab["app_hosts"]]:
        assert lab_ssh(host, f"cat {marker}").out.strip() == host
        lab_ssh(host, f"rm {marker}")
    assert not Path(marker).exists(), "a host's app directory leaked into the controller"


def test_controller_cannot_ssh_to_an_app_host_directly(lab):
    app = lab["app_hosts"][0]
    direct = subprocess.run(
        ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-i", f"{lab['state_dir']}/ssh/id_ed25519", f"root@{app['ip']}", "true"],
        capture_output=True, text=True, timeout=30, check=False)
    assert direct.returncode == 255
    assert "No route to host" in direct.stderr or "unreachable" in direct.stderr.lower()
    # ...while the same host answers through the bastion.
    assert lab_ssh(app["name"], "hostname").out.strip() == app["name"]


@pytest.mark.parametrize("port_key", ["postgres_port", "redis_port"])
def test_data_services_answer_from_bastion_but_not_from_controller(lab, port_key):
    ip, port = lab["data"]["ip"], lab["data"][port_key]
    with pytest.raises(OSError):
        socket.create_connection((ip, port), timeout=3).close()
    if port_key == "postgres_port":
        answer = lab_ssh("bastion", f"PGPASSWORD=lab-admin-pw psql -X -At -h {ip} -U admin -d incident_response "
                                    "-c \"SELECT extname FROM pg_extension WHERE extname='pg_stat_statements'\"")
        assert answer.out.strip() == "pg_stat_statements"
    else:
        answer = lab_ssh("bastion", f"redis-cli -h {ip} -p {port} -a lab-redis-pw --no-auth-warning PING")
        assert answer.out.strip() == "PONG"


def test_safety_route_covers_the_lab_range():
    routes = subprocess.run(["ip", "route", "show", "type", "unreachable"], capture_output=True, text=True,
                            check=False)
    assert "10.77.0.0/16" in routes.stdout


def test_controller_side_services_listen_on_the_management_bridge(lab):
    for where in lab["services"].values():
        host, port = where.split(":")
        socket.create_connection((host, int(port)), timeout=3).close()
    # The bastion reaches them too (moto must be reachable from both, per the architecture).
    moto = lab["services"]["moto"]
    assert lab_ssh("bastion", f"curl -s -o /dev/null -w '%{{http_code}}' http://{moto}/").out in ("200", "404")


def test_playbook_runs_on_a_lab_host_see_the_runbook_numbers_and_the_lab_override(tmp_path):
    """The incident_response role's defaults are the single source; the lab inventory overrides only the watch length.

    (Staging and production, and an inventory override, are proven without the lab in tests/unit/roles.)"""
    expected = yaml.safe_load((REPO / "roles/incident_response/defaults/main.yml").read_text())
    seen_file = tmp_path / "seen.json"
    playbook = tmp_path / "show_thresholds.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "Show what a playbook run on a lab host sees", "hosts": "app1", "gather_facts": False,
        "roles": ["platform_eng.incident_response.incident_response"],
        "tasks": [{"name": "Write what app1 sees on the controller", "delegate_to": "localhost",
                   "ansible.builtin.copy": {"dest": str(seen_file), "mode": "0600", "content": (
                       "{{ {'thresholds': incident_response_thresholds, 'rpo': incident_response_rpo_minutes,"
                       " 'watch': incident_response_monitor_minutes} | to_json }}")}}]}]))
    result = run("ansible-playbook", str(playbook))
    assert result.rc == 0, result.text
    seen = json.loads(seen_file.read_text())
    assert seen["thresholds"] == expected["incident_response_thresholds"]
    assert seen["rpo"] == expected["incident_response_rpo_minutes"]
    assert seen["watch"] == 1 != expected["incident_response_monitor_minutes"]


def test_lab_is_the_default_inventory_and_others_need_i():
    result = run("ansible-inventory", "--list")
    hosts = json.loads(result.out)["_meta"]["hostvars"]
    assert set(hosts) >= {"bastion", "app1", "app2"}
    assert not any("example.com" in h or ".internal" in h for h in hosts)
