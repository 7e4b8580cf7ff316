# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Integration tests run real ansible commands against the real lab (make lab-up).

They use the repository exactly as a user does: from the repo root, with its
ansible.cfg, so the lab is the inventory and FQCNs resolve to this checkout.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import typing as t
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAB_FACTS = Path(os.environ.get("IRLAB_STATE", "/var/lib/irlab")) / "lab.json"
BIN = Path(sys.executable).parent


def ansible_env() -> dict[str, str]:
    """The environment a user's shell has after `make setup`: the venv first, the repo's ansible.cfg."""
    env = dict(os.environ)
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    env["PATH"] = f"{BIN}:{env.get('PATH', '')}"
    env["ANSIBLE_NOCOLOR"] = "1"
    env.pop("ANSIBLE_INVENTORY", None)
    # Report directories must lie under the reports root (input_guard); tests write theirs to pytest's tmp_path.
    env["INCIDENT_RESPONSE_REPORTS_ROOT"] = tempfile.gettempdir()
    return env


class Run(t.NamedTuple):
    rc: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def run(*argv: str, timeout: float = 600, env: dict[str, str] | None = None) -> Run:
    """Run a command from the repo root as a user would, e.g. run("ansible-playbook", "playbooks/x.yml")."""
    proc = subprocess.run(list(argv), cwd=REPO, env={**ansible_env(), **(env or {})}, capture_output=True,
                          text=True, timeout=timeout, check=False)
    return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="session")
def lab() -> dict[str, t.Any]:
    if not LAB_FACTS.exists():
        pytest.fail("the lab is not up: run `make lab-up` (make integration does it for you)")
    return json.loads(LAB_FACTS.read_text())


@pytest.fixture(scope="session", autouse=True)
def quiet_alert_path() -> t.Iterator[None]:
    """No alert-driven run in the background of a test: the lab's rulebook is stopped for the session.

    A test that breaks the service (a bad release, a stopped database) really fires the lab's alerts; with the
    rulebook running, each would start playbooks/alert.yml behind the test's back (an incident opened, a diagnosis,
    load on two cores). test_alerts_e2e starts the rulebook for each of its scenarios and stops it after them; the
    session leaves it running again, as `make lab-up` does.
    """
    if not LAB_FACTS.exists():
        yield
        return
    sys.path.insert(0, str(REPO / "lab"))
    import irlab as irlab_module  # the lab's own process helpers, imported only with a lab
    from services import monitoring

    monitoring.rulebook_stop(irlab_module)
    yield
    if LAB_FACTS.exists():
        monitoring.rulebook(irlab_module, auto_rollback=False)


def lab_ssh(host: str, command: str, check: bool = True) -> Run:
    """Run a shell command on a lab host through the lab's SSH config (and so through the bastion)."""
    facts = json.loads(LAB_FACTS.read_text())
    proc = subprocess.run(["ssh", "-F", facts["ssh_config"], host, command], capture_output=True, text=True,
                          timeout=60, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"ssh {host} {command!r} failed ({proc.returncode}): {proc.stderr}")
    return Run(proc.returncode, proc.stdout, proc.stderr)


def irlab(*args: str) -> Run:
    result = run(sys.executable, "lab/irlab.py", *args)
    assert result.rc == 0, result.text
    return result


def webhook_requests(lab: dict[str, t.Any], alertmanager: bool = False) -> list[dict[str, t.Any]]:
    """What the lab's webhook receiver got, oldest first.

    The lab's Alertmanager is live and pages through the same receiver whenever a test really breaks the service
    (a bad release fires the error-budget alerts, and it repeats and resolves them later), so its notifications
    are left out unless ``alertmanager=True``: a test of what a playbook sent sees only what playbooks sent."""
    with urllib.request.urlopen(f"http://{lab['services']['webhook']}/_requests", timeout=5) as resp:
        sent = json.load(resp)
    if alertmanager:
        return sent
    return [r for r in sent if not str(r.get("user_agent", "")).startswith("Alertmanager/")]


# Alertmanager's default e-mail subject (its template "__subject"): "[FIRING:2] ..." or "[RESOLVED] ...".
# The collection's own mails say the severity first ("[P2] RESOLVED INC-...").
ALERTMANAGER_SUBJECT = re.compile(r"\[(FIRING:\d+|RESOLVED)\] ")


def mails(lab: dict[str, t.Any], alertmanager: bool = False) -> list[dict[str, t.Any]]:
    """What the lab's SMTP server accepted, oldest first; Alertmanager's own mails are left out unless asked
    for, for the reason given in ``webhook_requests``."""
    with urllib.request.urlopen(f"http://{lab['controller_ip']}:8026/_messages", timeout=5) as resp:
        kept = json.load(resp)
    if alertmanager:
        return kept
    return [m for m in kept if not ALERTMANAGER_SUBJECT.match(str(m.get("subject", "")))]
