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


TYPED = """
- name: Guard typed inputs
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Refuse malformed or unsafe inputs before anything else
      platform_eng.incident_response.input_guard:
        inputs:
          version: {required: true, pattern: '^v\\d+\\.\\d+\\.\\d+$', max_length: 64}
          deploy_serial: {type: serial, default: 1}
          deploy_watch_seconds: {type: int, min: 0, max: 3600}
      register: guard

    - name: Use the validated values only
      ansible.builtin.debug:
        msg: "validated {{ guard.validated.version }} serial={{ guard.validated.deploy_serial }}
          watch={{ guard.validated.deploy_watch_seconds }}"
"""


@pytest.mark.parametrize("form", ["key-value", "json", "file"])
def test_the_guard_sees_extra_vars_in_every_form(tmp_path: Path, form: str) -> None:
    canary = tmp_path / "CANARY"
    payload = f"{{{{ lookup('pipe', 'touch {canary}') }}}}"
    if form == "key-value":
        extra = [f"surprise={payload}"]
    elif form == "json":
        extra = ['{"surprise": {"nested": ["' + payload.replace("'", "\\u0027") + '"]}}']
    else:
        (tmp_path / "vars.yml").write_text(f"surprise:\n  nested: [\"{payload}\"]\n", encoding="utf-8")
        extra = [f"@{tmp_path / 'vars.yml'}"]

    run = run_playbook(tmp_path, TYPED, "version=v1.2.3", *extra)

    assert run.returncode != 0, output(run)
    assert "surprise looks like a Jinja template" in output(run)
    assert not canary.exists()


def test_typed_inputs_come_back_typed_and_bounded(tmp_path: Path) -> None:
    run = run_playbook(tmp_path, TYPED, "version=v1.2.3", '{"deploy_serial": [1, "50%"]}', "deploy_watch_seconds=0")

    assert run.returncode == 0, output(run)
    assert "validated v1.2.3 serial=[1, '50%'] watch=0" in run.stdout


def test_a_malformed_batch_size_and_an_unknown_name_are_refused_together(tmp_path: Path) -> None:
    run = run_playbook(tmp_path, TYPED, "version=v1.2.3", "deploy_serial=abc", "deploy_watch_seconds=3601",
                       "env=production", "guard={}")
    text = " ".join(output(run).split())

    assert run.returncode != 0, output(run)
    assert "Refused before changing anything:" in text
    assert "deploy_serial must be a number of hosts" in text
    assert "deploy_watch_seconds is 3601; the maximum is 3600" in text
    assert "select the environment with -i inventories/production" in text
    assert "guard is set by the collection itself" in text  # the guard's own register
    assert "Traceback" not in text


def test_rules_taken_from_a_variable_are_not_rendered_when_an_extra_var_carries_a_template(tmp_path: Path) -> None:
    playbook = """
    - name: Rules from a play variable
      hosts: localhost
      gather_facts: false
      vars:
        run_inputs:
          version: {required: true}
      tasks:
        - name: Guard
          platform_eng.incident_response.input_guard:
            inputs: "{{ run_inputs }}"
    """
    canary = tmp_path / "CANARY"

    run = run_playbook(tmp_path, playbook, "version=v1.2.3", f"run_inputs={{{{ lookup('pipe', 'touch {canary}') }}}}")

    assert run.returncode != 0, output(run)
    assert "run_inputs looks like a Jinja template" in output(run)
    assert not canary.exists()


LAB_CHECK = """
- name: Check the lab
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Refuse to send anything to a lab that is not running
      platform_eng.incident_response.lab_guard:
        lab: "{{ lab | default({}) }}"

    - name: Went on
      ansible.builtin.debug:
        msg: went on
"""


def test_the_lab_check_does_nothing_outside_the_lab(tmp_path: Path) -> None:
    run = run_playbook(tmp_path, LAB_CHECK)

    assert run.returncode == 0, output(run)
    assert "went on" in run.stdout


def test_the_lab_check_refuses_when_the_safety_route_is_missing(tmp_path: Path) -> None:
    # 192.0.2.0/24 (TEST-NET-1) has no unreachable route here; nothing is sent anywhere.
    lab = '{"lab": {"range": "192.0.2.0/24", "state_dir": "%s", "bastion": "192.0.2.10"}}' % tmp_path

    run = run_playbook(tmp_path, LAB_CHECK, lab)

    assert run.returncode != 0, output(run)
    assert "safety route is missing" in output(run) and "ip route replace unreachable 192.0.2.0/24" in output(run)
    assert "went on" not in run.stdout


def test_site_variables_named_in_the_inventory_are_allowed_but_cannot_allow_themselves(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(textwrap.dedent("""
        all:
          hosts:
            localhost:
              ansible_connection: local
          vars:
            incident_response_extra_vars_allowed: [site_region]
    """), encoding="utf-8")
    (tmp_path / "playbook.yml").write_text(textwrap.dedent(TYPED), encoding="utf-8")
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-local"))

    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        argv = [str(ANSIBLE_PLAYBOOK), "-i", str(inventory), str(tmp_path / "playbook.yml"), "-e", "version=v1.2.3"]
        for value in extra:
            argv += ["-e", value]
        return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=180, check=False)

    allowed = run("site_region=eu")
    self_allowing = run('{"incident_response_extra_vars_allowed": ["evil"]}', "evil=1")

    assert allowed.returncode == 0, output(allowed)
    assert self_allowing.returncode != 0
    assert "incident_response_extra_vars_allowed is set by the collection itself" in output(self_allowing)
    assert "evil is not an input of this playbook" in output(self_allowing)
