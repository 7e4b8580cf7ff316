# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""lab-down leaves nothing behind but the safety route, and lab-up right after works.
With the lab down, every playbook says so and names `make lab-up` before sending anything, and a packet to
a lab address fails on this machine.

Runs last (file name) because it rebuilds the lab; it leaves the lab up.
"""

from __future__ import annotations

import errno
import socket
import subprocess
import time
from pathlib import Path

import pytest

import playbook_inputs
from conftest import REPO, irlab, run

LAB_RANGE = "10.77.0.0/16"
PLAYBOOKS = playbook_inputs.playbooks()


def safety_route() -> str:
    return subprocess.run(["ip", "route", "show", "type", "unreachable", LAB_RANGE], capture_output=True, text=True,
                          check=False).stdout.strip()


def leftovers() -> list[str]:
    found = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    found += [f"namespace {line.split()[0]}" for line in netns.splitlines() if line.startswith("irlab-")]
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=False).stdout
    found += [f"link {line.split(':')[1].strip()}" for line in links.splitlines()
              if line.split(":")[1].strip().startswith(("irl-", "irlab-"))]
    # The safety route is no leftover: it stays whether the lab is up or down.
    routes = subprocess.run(["ip", "route", "show"], capture_output=True, text=True, check=False).stdout
    found += [f"route {line}" for line in routes.splitlines()
              if "10.77." in line and not line.startswith(f"unreachable {LAB_RANGE}")]
    procs = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=False).stdout
    found += [f"process {line.strip()}" for line in procs.splitlines()
              if ("/var/lib/irlab" in line or "lab/services/" in line or "lab/traffic.py" in line
                  or "moto_server -H 10.77" in line) and "ps -eo" not in line]
    mounts = Path("/proc/self/mounts").read_text()
    found += [f"mount {line}" for line in mounts.splitlines() if "incident-response" in line or "irlab" in line]
    if Path("/var/lib/irlab").exists():
        found.append("state directory /var/lib/irlab")
    if (REPO / "inventories/lab/hosts_scaled.yml").exists():
        found.append("inventory inventories/lab/hosts_scaled.yml")
    return found


@pytest.fixture(scope="module")
def lab_down(lab):
    """The lab taken down for the module's tests, and brought up again after them: an up after a down works."""
    irlab("down")
    try:
        yield
    finally:
        irlab("up")
        status = run(str(REPO / ".venv/bin/python"), "lab/irlab.py", "status")
        assert status.rc == 0, status.text


def test_lab_down_leaves_nothing_behind_but_the_safety_route(lab_down):
    assert leftovers() == []
    assert safety_route(), f"lab-down removed the route 'unreachable {LAB_RANGE}'"


@pytest.mark.parametrize("address", ["10.77.1.10", "10.77.1.1", "10.77.2.11", "10.77.2.250"])
def test_with_the_lab_down_a_packet_to_the_lab_fails_on_this_machine(lab_down, address):
    assert safety_route(), f"the route 'unreachable {LAB_RANGE}' is missing with the lab down"
    started = time.monotonic()
    with socket.socket() as sock, pytest.raises(OSError) as caught:
        sock.settimeout(5)
        sock.connect((address, 22))
    # Refused by the local routing table at once: no ARP, no gateway, no timeout.
    assert caught.value.errno == errno.EHOSTUNREACH, caught.value
    assert time.monotonic() - started < 0.5


LAB_CHECK = "TASK [Refuse to send anything to a lab that is not running]"


def tasks_after_the_lab_check(out: str) -> list[str]:
    """Tasks that ran after the lab check refused (nothing may: the lab check is where the run ends)."""
    if LAB_CHECK not in out:
        return ["(no lab check ran)"]
    return [line for line in out.split(LAB_CHECK, 1)[1].splitlines() if line.startswith("TASK [")]


def test_with_the_lab_down_every_playbook_says_make_lab_up_and_sends_nothing(lab_down):
    assert safety_route()
    failures = []
    for playbook in PLAYBOOKS:
        started = time.monotonic()
        result = run("ansible-playbook", f"playbooks/{playbook.name}", *playbook_inputs.required_args(playbook),
                     timeout=120)
        took = time.monotonic() - started
        text = " ".join(result.text.split())
        if result.rc == 0 or "The lab is not running" not in text or "make lab-up" not in text:
            failures.append(f"{playbook.name} (rc {result.rc}): {result.text[-1500:]}")
        elif "UNREACHABLE" in result.text or took > 30 or tasks_after_the_lab_check(result.out):
            failures.append(f"{playbook.name} went past the lab check ({took:.1f} s): {result.text[-1500:]}")
    assert failures == []
