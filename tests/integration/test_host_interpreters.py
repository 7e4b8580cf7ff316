# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's hosts run modules with their own interpreter, the virtualenv playbooks/prerequisites.yml builds in
each host's /var/lib/incident-response/venv, not the controller's; a host without the libraries is told which
role to run. (The role itself, idempotence and check mode included, is tested on this machine in
tests/unit/roles/test_prerequisites.py.)
"""

from __future__ import annotations

import json
import sys
import typing as t
from pathlib import Path

import pytest
import yaml

from conftest import lab_ssh, run

VENV = "/var/lib/incident-response/venv"
ROLE = "platform_eng.incident_response.prerequisites"


@pytest.fixture(scope="module")
def prepared(lab: dict[str, t.Any]) -> dict[str, t.Any]:
    """make lab-up runs the playbook already; again here it must change nothing (irlab reset keeps the venvs)."""
    result = run("ansible-playbook", "playbooks/prerequisites.yml")
    assert result.rc == 0, result.text[-4000:]
    return lab


def hosts(lab: dict[str, t.Any]) -> list[str]:
    return ["bastion"] + [h["name"] for h in lab["app_hosts"]]


def test_the_prerequisites_are_already_in_place_after_lab_up(prepared) -> None:
    again = run("ansible-playbook", "playbooks/prerequisites.yml")
    assert again.rc == 0 and "changed=0" in again.out.split("PLAY RECAP")[1], again.out[-3000:]


def test_each_host_runs_modules_with_its_own_virtualenv_not_the_controllers(prepared, tmp_path: Path) -> None:
    playbook = tmp_path / "interpreter.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "Ask each host which Python runs its modules", "hosts": "bastions:app_servers",
        "gather_facts": False, "tasks": [
            {"name": "Read the interpreter's facts",
             "ansible.builtin.setup": {"gather_subset": ["!all"], "filter": ["ansible_python"]}},
            {"name": "Write them on the controller", "delegate_to": "localhost", "ansible.builtin.copy": {
                "dest": str(tmp_path / "{{ inventory_hostname }}.json"), "mode": "0600",
                "content": "{{ ansible_facts.python | to_json }}"}}]}]))
    result = run("ansible-playbook", str(playbook))
    assert result.rc == 0, result.text[-4000:]
    for host in hosts(prepared):
        python = json.loads((tmp_path / f"{host}.json").read_text())
        assert python["executable"] == f"{VENV}/bin/python", host
        assert python["executable"] != sys.executable


def test_a_host_whose_python_lacks_the_libraries_is_told_to_run_the_prerequisites_role(prepared) -> None:
    # The bastion's modules run by Debian's own Python, as on a host the role never prepared.
    result = run("ansible", "bastion", "-m", "platform_eng.incident_response.redis_health_info",
                 "-a", "host=127.0.0.1 port=1", "-e", "ansible_python_interpreter=/usr/bin/python3")
    text = " ".join(result.text.split())
    assert result.rc != 0
    assert "The Python library redis is not installed for /usr/bin/python3 on bastion" in text, text[-2000:]
    assert f"Run the {ROLE} role on this host first" in text and "Traceback" not in text


def test_a_host_whose_virtualenv_is_gone_fails_naming_the_interpreter_it_looked_for(prepared) -> None:
    """The one case ansible reports itself (the interpreter is missing, so no module ran): it names the path."""
    lab_ssh("app1", f"mv {VENV} {VENV}.away")
    try:
        result = run("ansible", "app1", "-m", "platform_eng.incident_response.release_history_info",
                     "-a", "app_dir=/opt/incident-response")
    finally:
        lab_ssh("app1", f"mv {VENV}.away {VENV}")
    assert result.rc != 0
    assert f"The module interpreter '{VENV}/bin/python' was not found" in " ".join(result.text.split())
