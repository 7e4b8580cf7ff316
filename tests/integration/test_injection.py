# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every documented input of every playbook is data: a template in it is refused and never evaluated, a malformed
value is refused, and neither takes the deploy lock or sends a notification.

The inputs are discovered (playbook_inputs.py: the guard's rules, the argument specs of every role a playbook uses,
and the playbook's header), so a new playbook or role option is covered without editing this file. One run per
playbook carries every input at once, each with its own canary file, and the refusal must name every one of them.
"""

from __future__ import annotations

import json
import re
import typing as t
from pathlib import Path

import pytest

import playbook_inputs
from conftest import lab_ssh, run, webhook_requests

LOCK = "/var/lib/incident-response/deploy.lock"
PLAYBOOKS = playbook_inputs.playbooks()
REFUSED = "Refused before changing anything"


def payload(canary: Path) -> str:
    return f"{{{{ lookup('pipe', 'touch {canary}') }}}}"


def flat(text: str) -> str:
    """The output with the callback's line wrapping undone."""
    return re.sub(r"\s+", " ", text)


def named(name: str, text: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", text) is not None


def lock_present() -> bool:
    return lab_ssh("bastion", f"test -e {LOCK}", check=False).rc == 0


@pytest.fixture
def untouched(lab: dict[str, t.Any]) -> t.Iterator[None]:
    """The run under test must neither leave a lock on the bastion nor send a webhook."""
    assert not lock_present(), f"a lock was already held before the test: {lab_ssh('bastion', f'cat {LOCK}').out}"
    sent_before = len(webhook_requests(lab))
    yield
    assert not lock_present(), f"the refused run left {LOCK} on the bastion"
    assert len(webhook_requests(lab)) == sent_before, "the refused run sent a notification"


def test_every_playbook_has_a_guard_and_documented_inputs() -> None:
    assert PLAYBOOKS, "no playbooks found"
    for playbook in PLAYBOOKS:
        assert playbook_inputs.guard_rules(playbook), f"{playbook.name} has no input_guard task with inputs"


def test_the_canary_payload_is_evaluated_where_nothing_guards_it(tmp_path: Path) -> None:
    # The control: the same -e payload, used raw, runs its command. So a missing canary below means "refused".
    canary = tmp_path / "control"

    result = run("ansible", "localhost", "-m", "ansible.builtin.debug", "-a", "msg={{ probe }}",
                 "-e", f"probe={payload(canary)}")

    assert result.rc == 0, result.text
    assert canary.exists()


@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=[p.stem for p in PLAYBOOKS])
def test_a_template_in_any_input_is_refused_and_never_evaluated(playbook: Path, tmp_path: Path,
                                                                untouched: None) -> None:
    items = playbook_inputs.inputs(playbook)
    canaries = {name: tmp_path / f"canary-{name}" for name in items}
    argv = ["ansible-playbook", f"playbooks/{playbook.name}"]
    for name, canary in canaries.items():
        argv += ["-e", f"{name}={payload(canary)}"]

    result = run(*argv, timeout=300)

    text = flat(result.text)
    assert result.rc != 0, result.text
    assert REFUSED in text, result.text
    assert [name for name, canary in canaries.items() if canary.exists()] == []
    assert [name for name in items if not named(name, text)] == [], "the refusal must name every input"


@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=[p.stem for p in PLAYBOOKS])
def test_a_malformed_value_in_any_typed_input_is_refused_before_the_lock(playbook: Path, untouched: None) -> None:
    items = playbook_inputs.inputs(playbook)
    bad = {name: value for name, item in items.items() if (value := playbook_inputs.malformed(item)) is not None}
    assert bad, f"{playbook.name} has no typed input"
    # As JSON: `-e name=bad value` would be split at the space by ansible-playbook itself.
    argv = ["ansible-playbook", f"playbooks/{playbook.name}", "-e", json.dumps(bad)]

    result = run(*argv, timeout=300)

    text = flat(result.text)
    assert result.rc != 0, result.text
    assert REFUSED in text, result.text
    assert "Traceback" not in result.text
    assert [name for name in bad if not named(name, text)] == [], "the refusal must name every malformed input"
    assert not Path("/etc/evil-injection-test").exists()


def test_the_guards_own_output_cannot_be_overridden_with_extra_vars(tmp_path: Path, untouched: None) -> None:
    canary = tmp_path / "canary-override"
    override = ('{"deploy_request": {"validated": {"version": "' + payload(canary).replace('"', '\\"') + '"}}, '
                '"deploy_run": {"version": "v9.9.9"}}')

    result = run("ansible-playbook", "playbooks/deploy.yml", "-e", "version=v1.2.3", "-e", override)

    text = flat(result.text)
    assert result.rc != 0, result.text
    assert "deploy_request is set by the collection itself and cannot be given with -e" in text
    assert "deploy_run is set by the collection itself" in text
    assert not canary.exists()


def test_env_is_refused_with_the_way_to_select_production(untouched: None) -> None:
    result = run("ansible-playbook", "playbooks/deploy.yml", "-e", "version=v1.2.3", "-e", "env=production; id")

    text = flat(result.text)
    assert result.rc != 0, result.text
    assert "env is not an input: select the environment with -i inventories/production" in text
    assert "PLAY [Plan" not in result.text


def test_a_report_directory_outside_the_reports_root_is_refused(untouched: None) -> None:
    result = run("ansible-playbook", "playbooks/diagnose.yml", "-e", "alert=all",
                 "-e", "diagnose_reports_dir=/tmp/x/../../etc/evil-injection-test",
                 env={"INCIDENT_RESPONSE_REPORTS_ROOT": ""})

    text = flat(result.text)
    assert result.rc != 0, result.text
    assert "resolves to /etc/evil-injection-test, outside the reports root" in text
    assert not Path("/etc/evil-injection-test").exists()
