# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The runbook's numbers live once, in the incident_response role's defaults; every role that uses one depends on it.

Playbook runs (local, a debug only: no host is contacted) see the runbook's values with the staging and
production inventories, which repeat none of them, and an inventory value still wins.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
DEFAULTS = yaml.safe_load((REPO / "roles/incident_response/defaults/main.yml").read_text(encoding="utf-8"))
# Not runbook numbers but each environment's own names, which every inventory other than production sets
# (tests/unit/inventories/test_environments.py checks what they resolve to).
PER_ENVIRONMENT = {"incident_response_rds_instance"}
RUNBOOK = {name: value for name, value in DEFAULTS.items() if name not in PER_ENVIRONMENT}
RUNBOOK_ROLE = "platform_eng.incident_response.incident_response"


def show_playbook(tmp_path: Path) -> Path:
    """A play on the controller that writes every runbook variable it sees to seen.json."""
    seen = "{" + ", ".join(f"'{name}': {name}" for name in sorted(RUNBOOK)) + "}"
    playbook = tmp_path / "show_runbook.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "Show what a playbook run sees", "hosts": "localhost", "gather_facts": False, "roles": [RUNBOOK_ROLE],
        "tasks": [{"name": "Write the runbook's numbers", "ansible.builtin.copy": {
            "dest": str(tmp_path / "seen.json"), "mode": "0600", "content": "{{ " + seen + " | to_json }}"}}]}]))
    return playbook


def play(tmp_path: Path, inventory: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    return subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), str(show_playbook(tmp_path))],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)


def seen_by_a_run(tmp_path: Path, inventory: Path) -> dict[str, t.Any]:
    done = play(tmp_path, inventory)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads((tmp_path / "seen.json").read_text())


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_playbook_runs_see_the_runbook_numbers_in_every_environment(tmp_path: Path, environment: str) -> None:
    assert seen_by_a_run(tmp_path, REPO / "inventories" / environment) == RUNBOOK


def test_an_inventory_value_overrides_the_runbook(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory"
    shutil.copytree(REPO / "inventories" / "staging", inventory)
    thresholds = dict(RUNBOOK["incident_response_thresholds"], latency_p95_ms=300)
    (inventory / "group_vars/all/zz_site.yml").write_text(yaml.safe_dump(
        {"incident_response_thresholds": thresholds, "incident_response_monitor_minutes": 30}))
    seen = seen_by_a_run(tmp_path, inventory)
    assert seen["incident_response_thresholds"]["latency_p95_ms"] == 300
    assert seen["incident_response_monitor_minutes"] == 30
    assert seen["incident_response_rpo_minutes"] == RUNBOOK["incident_response_rpo_minutes"]


def test_an_override_that_leaves_a_threshold_out_is_refused_naming_it(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory"
    shutil.copytree(REPO / "inventories" / "staging", inventory)
    (inventory / "group_vars/all/zz_site.yml").write_text("incident_response_thresholds: {error_rate_percent: 3}\n")
    done = play(tmp_path, inventory)
    assert done.returncode != 0
    assert ("missing required arguments: db_cpu_percent, error_rate_window_minutes, latency_p95_ms found in "
            "incident_response_thresholds") in done.stdout + done.stderr


def test_the_lab_inventory_overrides_only_what_the_lab_changes() -> None:
    """Read, not run: the lab watches for one minute; the runbook's numbers are not repeated there."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    done = subprocess.run([str(BIN / "ansible-inventory"), "-i", "inventories/lab/hosts.yml", "--host", "app1"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=True)
    app1 = json.loads(done.stdout)
    assert app1["incident_response_monitor_minutes"] == 1
    assert "incident_response_thresholds" not in app1


def runbook_names_used(text: str) -> set[str]:
    return {name for name in RUNBOOK if re.search(rf"\b{name}\b", text)}


@pytest.mark.parametrize("role", sorted(p.name for p in (REPO / "roles").iterdir() if p.name != "incident_response"))
def test_a_role_that_uses_a_runbook_number_depends_on_the_incident_response_role(role: str) -> None:
    used = set()
    for path in (REPO / "roles" / role).rglob("*.yml"):
        if path.parts[-2:] != ("meta", "argument_specs.yml"):
            used |= runbook_names_used(path.read_text(encoding="utf-8"))
    dependencies = (yaml.safe_load((REPO / "roles" / role / "meta/main.yml").read_text()) or {}).get("dependencies")
    names = {d.get("role") if isinstance(d, dict) else d for d in dependencies or []}
    # Unqualified: a collection role's dependency resolves in its own collection first.
    assert bool(used) == ("incident_response" in names), f"{role} uses {sorted(used)}; it depends on {sorted(names)}"


@pytest.mark.parametrize("playbook", sorted(p.relative_to(REPO).as_posix() for p in (REPO / "playbooks").rglob("*.yml")))
def test_a_play_that_uses_a_runbook_number_outside_a_role_lists_the_incident_response_role(playbook: str) -> None:
    entries = yaml.safe_load((REPO / playbook).read_text(encoding="utf-8")) or []
    # import_playbook entries are checked where their playbook is.
    plays = [e for e in entries if not (isinstance(e, dict) and "ansible.builtin.import_playbook" in e)] \
        if isinstance(entries, list) else entries
    if not isinstance(plays, list) or not all(isinstance(play, dict) and "hosts" in play for play in plays):
        # a task file (playbooks/tasks/): whatever uses a runbook number there must get it from the play
        assert not runbook_names_used((REPO / playbook).read_text(encoding="utf-8")), playbook
        return
    for play in plays:
        used = runbook_names_used(yaml.safe_dump(play))
        if not used:
            continue
        # The play's first task makes the role's defaults public to the rest of the play; only the input guard
        # and the lab check may come before it (they run before anything else, and use no runbook number).
        tasks = [task for task in play.get("tasks") or [] if not task.get("platform_eng.incident_response.input_guard")
                 and task.get("ansible.builtin.import_tasks") != "tasks/start_run.yml"]
        first = (tasks or [{}])[0].get("ansible.builtin.include_role") or {}
        assert first.get("name") == RUNBOOK_ROLE and first.get("public") is True, (
            f"{playbook}: play {play['name']!r} uses {sorted(used)} without including {RUNBOOK_ROLE} first")
