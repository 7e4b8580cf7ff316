# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Staging and production name every variable a real run needs; an unset one stops the run naming it and its file.

Nothing here may reach a staging or production host: runs that get past the guard use plays on the controller
only and stop at a placeholder, and an `ssh` on PATH that records every call (and connects nowhere) proves no
connection was even attempted. (The syntax check of every playbook against these inventories runs by FQCN from
the installed collection, tests/unit/awx/test_collection_install.py.)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
ENVIRONMENTS = ["staging", "production"]
PLACEHOLDER = re.compile(r"\b(undef|mandatory)\(")


class Placeholder(t.NamedTuple):
    expression: str  # how a playbook reaches it, e.g. incident_response_db.host
    name: str  # what its message must name: the path, or the vault_* variable behind it
    file: str  # the file it is set in, relative to the repository


def placeholders(environment: str) -> list[Placeholder]:
    found = []

    def walk(value: t.Any, expression: str, file: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{expression}.{key}" if expression else str(key), file)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{expression}[{index}]", file)
        elif isinstance(value, str) and PLACEHOLDER.search(value):
            vault = re.search(r"\b(vault_\w+)\s*\|\s*mandatory\(", value)
            found.append(Placeholder(expression, vault.group(1) if vault else expression, file))

    for path in sorted((REPO / "inventories" / environment / "group_vars").rglob("*.yml")):
        walk(yaml.safe_load(path.read_text(encoding="utf-8")), "", path.relative_to(REPO).as_posix())
    return found


class Sentinel(t.NamedTuple):
    env: dict[str, str]
    calls: Path


@pytest.fixture
def no_ssh(tmp_path: Path) -> t.Iterator[Sentinel]:
    """An ssh that records its arguments and fails at once: any attempt to reach a host shows up here."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "ssh-calls"
    bin_dir.mkdir()
    (bin_dir / "ssh").write_text(f"#!/bin/sh\necho \"$@\" >> {calls}\nexit 255\n")
    (bin_dir / "ssh").chmod(0o755)
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_CALLBACK_RESULT_FORMAT="json", PATH=f"{bin_dir}:{BIN}:{os.environ.get('PATH', '')}")
    yield Sentinel(env, calls)
    assert not calls.exists(), f"a connection was attempted: {calls.read_text()}"


def play(sentinel: Sentinel, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "ansible-playbook"), *argv], cwd=REPO, env=sentinel.env, capture_output=True,
                          text=True, timeout=300, check=False)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_inventory_graph_has_the_bastion_and_app_hosts(environment: str) -> None:
    done = subprocess.run([str(BIN / "ansible-inventory"), "-i", f"inventories/{environment}", "--graph"], cwd=REPO,
                          env=dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg")), capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0 and "[WARNING]" not in done.stderr, done.stderr
    assert re.search(r"@bastions:\n[ |]+--\w", done.stdout) and re.search(r"@app_servers:\n[ |]+--\w", done.stdout)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_inventory_names_what_a_real_run_needs(environment: str) -> None:
    names = {p.expression for p in placeholders(environment)} | {p.name for p in placeholders(environment)}
    for needed in ("incident_response_origin", "incident_response_db.host", "vault_db_password",
                   "incident_response_cache.host", "vault_redis_password", "vault_db_admin_password",
                   "vault_deployments_webhook_url", "incident_response_public_hostname",
                   "vault_pagerduty_routing_key", "vault_slack_incidents_webhook_url", "vault_smtp_username",
                   "vault_smtp_password", "vault_ticket_token"):
        assert needed in names, f"{environment}: {needed} is not a placeholder"
    hosts = yaml.safe_load((REPO / "inventories" / environment / "hosts.yml").read_text())["all"]["children"]
    for group in ("bastions", "app_servers"):
        assert hosts[group]["vars"]["ansible_python_interpreter"] == "{{ prerequisites_venv }}/bin/python", group


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_placeholder_stops_a_run_naming_itself_and_its_file(
        environment: str, no_ssh: Sentinel, tmp_path: Path) -> None:
    found = placeholders(environment)
    out = tmp_path / "messages.json"
    tasks = [{"name": f"Use {p.expression}", "ansible.builtin.set_fact": {f"probe_{i}": "{{ " + p.expression + " }}"},
              "register": f"r_{i}", "ignore_errors": True} for i, p in enumerate(found)]
    tasks.append({"name": "Save what each said", "ansible.builtin.copy": {"dest": str(out), "mode": "0600", "content":
                  "{{ [" + ", ".join(f"r_{i}.msg | default('')" for i in range(len(found))) + "] | to_json }}"}})
    probe = tmp_path / "probe.yml"
    probe.write_text(yaml.safe_dump([{"name": "Use every placeholder on the controller", "hosts": "localhost",
                                      "gather_facts": False, "tasks": tasks}]))
    done = play(no_ssh, "-i", f"inventories/{environment}", str(probe))
    assert done.returncode == 0, done.stdout[-3000:]
    messages = json.loads(out.read_text())
    for placeholder, message in zip(found, messages):
        assert f"{placeholder.name} is not set: " in message, (placeholder, message)
        where = (f"inventories/{environment}/group_vars/all/vault.yml" if placeholder.name.startswith("vault_")
                 else placeholder.file)
        assert where in message, (placeholder, message)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_a_deploy_stops_at_the_unset_origin_before_anything_is_contacted(environment: str, no_ssh: Sentinel) -> None:
    done = play(no_ssh, "-i", f"inventories/{environment}", "playbooks/deploy.yml", "-e", "version=v1.2.3",
                "-e", "change_ticket=CHG-1234")
    assert done.returncode != 0
    assert (f"incident_response_origin is not set: the git URL the bastion fetches release tags from; set it in "
            f"inventories/{environment}/group_vars/all/{environment}.yml") in done.stdout, done.stdout[-3000:]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_certificate_check_stops_at_the_unset_endpoint(environment: str, no_ssh: Sentinel) -> None:
    done = play(no_ssh, "-i", f"inventories/{environment}", "playbooks/maintenance.yml", "--tags", "certificates")
    assert done.returncode != 0
    assert (f"incident_response_public_hostname is not set: the name the service answers TLS on; set it in "
            f"inventories/{environment}/group_vars/all/{environment}.yml") in done.stdout, done.stdout[-3000:]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_scale_db_and_diagnose_target_the_environments_own_database(
        environment: str, no_ssh: Sentinel, tmp_path: Path) -> None:
    """mitigate.yml -e action=scale_db without -e db_instance must scale this environment's instance, never
    production's from staging: the playbook's own expression, and diagnose's default, evaluated with its inventory."""
    plays = yaml.safe_load((REPO / "playbooks" / "mitigate.yml").read_text())
    (scale,) = [task for play_ in plays for task in play_.get("tasks", [])
                if "platform_eng.incident_response.rds_instance_scale_up" in task]
    expression = scale["platform_eng.incident_response.rds_instance_scale_up"]["db_instance_identifier"].strip()
    out = tmp_path / "targets.json"
    probe = tmp_path / "probe.yml"
    probe.write_text(yaml.safe_dump([{"name": "Resolve the database targets", "hosts": "localhost", "gather_facts": False,
                                      "vars": {"mitigate_request": {"validated": {"db_instance": ""}}},
                                      "roles": ["platform_eng.incident_response.incident_response"],
                                      "tasks": [{"name": "Save them", "ansible.builtin.copy": {
                                          "dest": str(out), "mode": "0600",
                                          "content": "{{ {'scale_db': " + expression.strip("{} ") + ", 'diagnose': "
                                                     "lookup('ansible.builtin.vars', 'diagnose_rds_instance', "
                                                     "default=incident_response_rds_instance)} | to_json }}"}}]}]))
    done = play(no_ssh, "-i", f"inventories/{environment}", str(probe))
    assert done.returncode == 0, done.stdout[-3000:]
    targets = json.loads(out.read_text())
    assert targets == {"scale_db": f"incident-response-{'prod' if environment == 'production' else environment}",
                       "diagnose": f"incident-response-{'prod' if environment == 'production' else environment}"}
    defaults = yaml.safe_load((REPO / "roles" / "diagnose" / "defaults" / "main.yml").read_text())
    assert defaults["diagnose_rds_instance"] == "{{ incident_response_rds_instance }}"
