#!/usr/bin/env python3
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deploy timings in the lab, from ansible's own task timestamps (the ansible.posix.json callback).

1. Rollback speed: deploy the bad v1.2.4 and measure from the moment the watch
   reports the breach to the moment the last host passed its health gate on
   the previous release (goal: under 20 s).
2. Deploy wall time as app hosts grow: v1.2.2 -> v1.2.3 on 2 hosts and on 6
   hosts (the lab rebuilt with IRLAB_APP_HOSTS=6), batches of 1 and all at once.

The lab is rebuilt for the 6-host runs and left with 2 hosts at the end.
Results go to benchmarks/results/deploy_timings.json.

    .venv/bin/python benchmarks/deploy_timings.py [--skip-scale]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RESULTS = REPO / "benchmarks" / "results"


def env() -> dict[str, str]:
    return dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), PATH=f"{BIN}:{os.environ['PATH']}",
                ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1")


def irlab(*args: str, hosts: int = 2) -> None:
    subprocess.run([sys.executable, str(REPO / "lab/irlab.py"), *args], check=True, cwd=REPO,
                   env=dict(os.environ, IRLAB_APP_HOSTS=str(hosts)), stdout=subprocess.DEVNULL)


def playbook(*args: str) -> tuple[int, dict, float]:
    started = time.monotonic()
    proc = subprocess.run([str(BIN / "ansible-playbook"), *args], cwd=REPO, env=env(), capture_output=True,
                          text=True, check=False)
    wall = time.monotonic() - started
    try:
        report = json.loads(proc.stdout[proc.stdout.index("{"):])
    except ValueError:
        raise SystemExit(f"no JSON report from ansible-playbook:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return proc.returncode, report, wall


def stamp(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def task_runs(report: dict, name_part: str) -> list[tuple[float, float]]:
    """(start, end) of every host's run of every task whose name contains ``name_part``."""
    runs = []
    for play in report["plays"]:
        for task in play["tasks"]:
            if name_part in task["task"]["name"]:
                for host_result in task["hosts"].values():
                    if host_result.get("skipped"):
                        continue
                    duration = task["task"].get("duration") or {}
                    if duration.get("start") and duration.get("end"):
                        runs.append((stamp(duration["start"]), stamp(duration["end"])))
    return runs


def rollback_speed() -> dict:
    irlab("reset")
    rc, report, wall = playbook("playbooks/deploy.yml", "-e", "version=v1.2.3", "-e", "deploy_watch_seconds=5",
                                "-e", "deploy_watch_interval=5")
    assert rc == 0, "the good deploy failed"
    rc, report, wall = playbook("playbooks/deploy.yml", "-e", "version=v1.2.4", "-e", "deploy_watch_seconds=120",
                                "-e", "deploy_watch_interval=5")
    assert rc != 0, "the bad release was not caught"
    watch_end = max(end for _start, end in task_runs(report, "Watch every app host"))
    gates = [end for start, end in task_runs(report, "Put this host back on the release it ran before") if start >= watch_end]
    assert gates, "no health gate ran after the breach"
    return {"breach_to_all_healthy_s": round(max(gates) - watch_end, 2), "bad_deploy_wall_s": round(wall, 1)}


def extra_inventory(hosts: int) -> str:
    lines = ["all:", "  children:", "    app_servers:", "      hosts:"]
    for index in range(3, hosts + 1):
        lines += [f"        app{index}:", f"          ansible_host: 10.77.2.{10 + index}"]
    handle = tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False)
    handle.write("\n".join(lines) + "\n")
    handle.close()
    return handle.name


def deploy_wall(hosts: int, serial: str) -> float:
    irlab("reset", hosts=hosts)
    inventory = ["-i", "inventories/lab/hosts.yml"] + (["-i", extra_inventory(hosts)] if hosts > 2 else [])
    rc, _report, wall = playbook("playbooks/deploy.yml", *inventory, "-e", "version=v1.2.3", "-e", f"deploy_serial={serial}",
                                 "-e", "deploy_watch_seconds=0")
    assert rc == 0, f"deploy to {hosts} hosts failed"
    return round(wall, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--skip-scale", action="store_true", help="only the rollback measurement")
    args = parser.parse_args()
    results: dict = {"when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "cpus": os.cpu_count()}
    results["rollback"] = rollback_speed()
    print(f"breach detected -> every host healthy on the previous release: "
          f"{results['rollback']['breach_to_all_healthy_s']} s (goal < 20 s)")
    if not args.skip_scale:
        scale = {}
        for hosts in (2, 6):
            if hosts > 2:
                irlab("up", hosts=hosts)
            for serial in ("1", "100%"):
                scale[f"{hosts} hosts, serial {serial}"] = deploy_wall(hosts, serial)
                print(f"deploy v1.2.2 -> v1.2.3, {hosts} hosts, serial {serial}: {scale[f'{hosts} hosts, serial {serial}']} s"
                      " (watch window off)")
        irlab("up", hosts=2)
        results["deploy_wall_s"] = scale
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "deploy_timings.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
