# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The consumer's view, without the lab: the built tarball installed into an empty collections path, and every
playbook used by its FQCN from there only (tests/integration/test_consumer.py runs them against the lab)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
import yaml

from consumer import REPO, Installed

PLAYBOOKS = sorted(p.stem for p in (REPO / "playbooks").glob("*.yml"))


def test_the_tarball_ships_every_playbook_and_the_staging_and_production_inventories(tarball: Path) -> None:
    with tarfile.open(tarball) as tar:
        names = set(tar.getnames())
    assert {f"playbooks/{name}.yml" for name in PLAYBOOKS} <= names
    assert {"playbooks/tasks/start_run.yml", "playbooks/flows/rollout.yml"} <= names
    assert {"inventories/production/hosts.yml", "inventories/staging/hosts.yml"} <= names
    assert "roles/incident_response/defaults/main.yml" in names


def test_the_collection_is_installed_in_the_empty_path_and_listed_there(installed: Installed) -> None:
    listed = installed.run("ansible-galaxy", "collection", "list", "--format", "json", "-p", str(installed.path))
    assert listed.returncode == 0, listed.stderr
    found = json.loads(listed.stdout)
    assert found[str(installed.path / "ansible_collections")]["platform_eng.incident_response"]["version"] == \
        yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]


@pytest.mark.parametrize("environment", ["staging", "production"])
@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_every_playbook_passes_a_syntax_check_by_fqcn(installed: Installed, playbook: str, environment: str) -> None:
    done = installed.run("ansible-playbook", f"platform_eng.incident_response.{playbook}", "--syntax-check",
                         "-i", str(installed.collection / "inventories" / environment))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"playbook: {installed.collection}/playbooks/{playbook}.yml" in done.stdout


def test_a_playbook_by_fqcn_runs_its_guard_from_the_installed_collection(installed: Installed) -> None:
    """A real run, refused before anything is contacted: the guard (an action plugin) loads from the temp path."""
    done = installed.run("ansible-playbook", "platform_eng.incident_response.diagnose", "-e", "alert=nope",
                         "-i", str(installed.collection / "inventories" / "staging"))
    text = " ".join((done.stdout + done.stderr).split())
    assert done.returncode != 0
    assert "Refused before changing anything" in text and "high_error_rate" in text, text[-2000:]
    assert str(installed.collection / "playbooks" / "diagnose.yml") in text or "diagnose" in text


def test_the_installed_roles_carry_the_runbook_numbers(installed: Installed, tmp_path: Path) -> None:
    seen = tmp_path / "seen.json"
    probe = installed.workdir / "probe_runbook.yml"
    probe.write_text(yaml.safe_dump([{
        "name": "Read the runbook's numbers from the installed collection", "hosts": "localhost",
        "gather_facts": False, "roles": ["platform_eng.incident_response.incident_response"],
        "tasks": [{"name": "Write them", "ansible.builtin.copy": {
            "dest": str(seen), "mode": "0600",
            "content": "{{ {'thresholds': incident_response_thresholds, 'rpo': incident_response_rpo_minutes,"
                       " 'rto': incident_response_rto_minutes} | to_json }}"}}]}]))
    done = installed.run("ansible-playbook", str(probe))
    assert done.returncode == 0, done.stdout + done.stderr
    runbook = yaml.safe_load((REPO / "roles/incident_response/defaults/main.yml").read_text())
    assert json.loads(seen.read_text()) == {"thresholds": runbook["incident_response_thresholds"],
                                            "rpo": runbook["incident_response_rpo_minutes"],
                                            "rto": runbook["incident_response_rto_minutes"]}
    # The roles that use them get them as a dependency, resolved inside the installed collection.
    static = installed.workdir / "probe_roles.yml"
    static.write_text(yaml.safe_dump([{"name": "Load every role statically", "hosts": "localhost",
                                       "gather_facts": False, "roles": [
                                           f"platform_eng.incident_response.{role.name}"
                                           for role in sorted((REPO / "roles").iterdir())]}]))
    checked = installed.run("ansible-playbook", str(static), "--syntax-check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
