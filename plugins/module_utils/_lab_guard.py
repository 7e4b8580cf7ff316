# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Is the local lab safe to talk to, and is it running? Decided on the controller before anything is sent.

The lab's address range must sit behind an ``unreachable`` route in the root
namespace, whether the lab is up or down: without it, a request to a lab
address while the lab is down leaves the machine through the default gateway.
With the route in place, a connection to the bastion of a lab that is down
fails locally, at once (EHOSTUNREACH), so the check costs milliseconds.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import typing as t

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)

NOTHING_SENT = "Nothing was sent to the lab."


class LabStatus(t.NamedTuple):
    ready: bool
    route: bool
    facts: bool
    bastion: str  # "answers" or the reason it does not
    msg: str


def route_listed(ip_route_output: str, lab_range: str) -> bool:
    """True when ``ip route show type unreachable <range>`` printed the route for exactly that range."""
    wanted = ipaddress.ip_network(lab_range, strict=False)
    for line in ip_route_output.splitlines():
        words = line.split()
        if not words:
            continue
        destination = words[1] if words[0] == "unreachable" and len(words) > 1 else words[0]
        try:
            if ipaddress.ip_network(destination, strict=False) == wanted:
                return True
        except ValueError:
            continue
    return False


def safety_route_present(lab_range: str, runner: t.Callable[..., t.Any] = subprocess.run) -> bool:
    try:
        proc = runner(["ip", "route", "show", "type", "unreachable", lab_range], capture_output=True, text=True,
                      timeout=10, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise IncidentResponseError(f"Cannot read the routing table to check the lab's safety route: {exc}") from None
    return proc.returncode == 0 and route_listed(proc.stdout, lab_range)


def probe(host: str, port: int, timeout: float) -> str:
    """'answers', or why a TCP connection to host:port did not open."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return "answers"
    except socket.timeout:
        return f"no answer within {timeout:g} s"
    except OSError as exc:
        return exc.strerror or str(exc)


def judge(lab_range: str, route: bool, facts_path: str, facts: bool, bastion: str, bastion_where: str) -> LabStatus:
    if not route:
        return LabStatus(False, False, facts, "not probed", (
            f"The lab's safety route is missing: nothing stops traffic to {lab_range} from leaving this machine. "
            f"Restore it with `ip route replace unreachable {lab_range}` (tools/setup.sh and `make lab-up` install "
            f"it, `make lab-down` keeps it), then run again. {NOTHING_SENT}"))
    if not facts or bastion != "answers":
        why = []
        if not facts:
            why.append(f"{facts_path} is missing")
        if bastion != "answers":
            why.append(f"the bastion's sshd at {bastion_where} does not answer: {bastion}")
        return LabStatus(False, True, facts, bastion, (
            f"The lab is not running ({'; '.join(why)}). Start it with `make lab-up`, then run again. "
            f"{NOTHING_SENT}"))
    ready = f"The lab is up (safety route for {lab_range} in place, bastion {bastion_where} answers)."
    return LabStatus(True, True, True, bastion, ready)


def check_lab(lab: t.Mapping[str, t.Any], route_check: t.Callable[[str], bool] = safety_route_present,
              prober: t.Callable[[str, int, float], str] = probe) -> LabStatus:
    """The lab inventory's verdict; ``lab`` holds range, state_dir, bastion and optionally port and timeout."""
    try:
        lab_range = str(lab["range"])
        ipaddress.ip_network(lab_range, strict=False)
        facts_path = os.path.join(str(lab["state_dir"]), "lab.json")
        bastion = str(lab["bastion"])
        port = int(lab.get("port", 22))
        timeout = float(lab.get("timeout", 2))
    except (KeyError, TypeError, ValueError) as exc:
        raise IncidentResponseError(f"incident_response_lab must have range, state_dir and bastion: {exc}") from None
    if not route_check(lab_range):
        return judge(lab_range, False, facts_path, os.path.exists(facts_path), "not probed", f"{bastion}:{port}")
    facts = os.path.exists(facts_path)
    answer = prober(bastion, port, timeout)
    return judge(lab_range, True, facts_path, facts, answer, f"{bastion}:{port}")
