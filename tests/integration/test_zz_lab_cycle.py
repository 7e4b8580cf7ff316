# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""lab-down leaves nothing behind, and lab-up right after works: down, up, down, up.

Runs last (file name) because it rebuilds the lab; it leaves the lab up.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import REPO, irlab, run


def leftovers() -> list[str]:
    found = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    found += [f"namespace {line.split()[0]}" for line in netns.splitlines() if line.startswith("irlab-")]
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=False).stdout
    found += [f"link {line.split(':')[1].strip()}" for line in links.splitlines()
              if line.split(":")[1].strip().startswith(("irl-", "irlab-"))]
    routes = subprocess.run(["ip", "route", "show", "type", "unreachable"], capture_output=True, text=True,
                            check=False).stdout
    found += [f"route {line}" for line in routes.splitlines() if "10.77." in line]
    procs = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=False).stdout
    found += [f"process {line.strip()}" for line in procs.splitlines()
              if ("/var/lib/irlab" in line or "lab/services/" in line or "lab/traffic.py" in line
                  or "moto_server -H 10.77" in line) and "ps -eo" not in line]
    mounts = Path("/proc/self/mounts").read_text()
    found += [f"mount {line}" for line in mounts.splitlines() if "incident-response" in line or "irlab" in line]
    if Path("/var/lib/irlab").exists():
        found.append("state directory /var/lib/irlab")
    return found


def test_down_up_down_up_is_clean(lab):
    for _round in range(2):
        irlab("down")
        assert leftovers() == []
        irlab("up")
        status = run(str(REPO / ".venv/bin/python"), "lab/irlab.py", "status")
        assert status.rc == 0, status.text
