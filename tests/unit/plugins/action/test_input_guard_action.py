# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The input_guard action in a real ansible-playbook run on localhost: a Jinja payload given
with -e is refused without being rendered, so the command it carries never runs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[4]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")

GUARDED = """
- name: Guard the run inputs
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Refuse a malformed version before anything renders it
      platform_eng.incident_response.input_guard:
        inputs:
          version: {required: true, pattern: '^v\\d+\\.\\d+\\.\\d+$', max_length: 64}
      register: guard

    - name: Use the validated value only
      ansible.builtin.debug:
        msg: "validated version is {{ guard.validated.version }}"
"""

# What the guard protects against: a playbook that tests the raw variable renders it.
UNGUARDED = """
- name: Use the raw input
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Test the raw variable, as a playbook without the guard would
      ansible.builtin.debug:
        msg: "{{ version is match('^v') }}"
"""

pytestmark = pytest.mark.skipif(not ANSIBLE_PLAYBOOK.exists(), reason=f"{ANSIBLE_PLAYBOOK} not installed")


def run_playbook(tmp_path: Path, playbook: str, *extra_vars: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "playbook.yml"
    path.write_text(textwrap.dedent(playbook), encoding="utf-8")
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-local"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
    )
    argv = [str(ANSIBLE_PLAYBOOK), "-i", "localhost,", "-c", "local", str(path)]
    for value in extra_vars:
        argv += ["-e", value]
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=180, check=False)


def output(run: subprocess.CompletedProcess[str]) -> str:
    return run.stdout + run.stderr


def test_the_canary_payload_runs_when_a_playbook_uses_the_raw_variable(tmp_path: Path) -> None:
    # Proves the canary test below can fail: without the guard, ansible-core runs the pipe.
    canary = tmp_path / "CANARY"

    run = run_playbook(tmp_path, UNGUARDED, f"version={{{{ lookup('pipe', 'touch {canary}') }}}}")

    assert run.returncode == 0, output(run)
    assert canary.exists()


def test_a_jinja_payload_in_the_version_is_refused_and_never_rendered(tmp_path: Path) -> None:
    canary = tmp_path / "CANARY"

    run = run_playbook(tmp_path, GUARDED, f"version={{{{ lookup('pipe', 'touch {canary}') }}}}")

    assert run.returncode != 0, output(run)
    assert "Refused before changing anything" in output(run)
    assert "looks like a Jinja template" in output(run)
    assert "validated version is" not in output(run)
    assert not canary.exists()


@pytest.mark.parametrize(
    "extra_vars, reason",
    [
        pytest.param("version=v1;touch /tmp/x", "does not match the allowed pattern", id="shell-metacharacters"),
        pytest.param('{"version": ["v1.2.3"]}', "must be a string, got list", id="json-list"),
        pytest.param("other=v1.2.3", "version is required", id="missing"),
    ],
)
def test_a_malformed_version_fails_the_run_before_the_next_task(tmp_path: Path, extra_vars: str, reason: str) -> None:
    run = run_playbook(tmp_path, GUARDED, extra_vars)

    assert run.returncode != 0, output(run)
    assert reason in output(run)
    assert "validated version is" not in output(run)


def test_a_valid_version_passes_and_the_validated_copy_is_used(tmp_path: Path) -> None:
    run = run_playbook(tmp_path, GUARDED, "version=v1.2.3")

    assert run.returncode == 0, output(run)
    assert "validated version is v1.2.3" in run.stdout


def test_the_guard_without_rules_fails_with_a_clear_message(tmp_path: Path) -> None:
    playbook = """
    - name: Misuse the guard
      hosts: localhost
      gather_facts: false
      tasks:
        - name: Guard nothing
          platform_eng.incident_response.input_guard:
            inputs: {}
    """

    run = run_playbook(tmp_path, playbook, "version=v1.2.3")

    assert run.returncode != 0, output(run)
    assert "input_guard needs 'inputs'" in output(run)
