#!/usr/bin/env python3
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deploy and rollback as the fleet grows, in the lab, under steady traffic through the load balancer.

For each lab size (2, 6 and 12 app hosts; the lab is rebuilt with IRLAB_APP_HOSTS=N) and each round:

- the floor: ``ansible all -m ping`` to the same hosts;
- ``deploy.yml -e version=v1.2.3 -e deploy_watch_seconds=0`` from v1.2.2, default batches (canary, half, rest);
- ``rollback.yml`` back to v1.2.2, which every host has on disk (halves behind the balancer);
- the requests the lab's traffic generator sent through the balancer during each, and how many failed.

Once per size: the bad v1.2.4 with the watch on, from the moment the watch reports the breach to the moment
the last host passed its health gate on the previous release (ansible's own task timestamps, through the
ansible.posix.json callback).

Tasks per host is the work the app host itself did in the deploy (ok tasks of app1 minus includes). Each
round also keeps a profile of both runs in the results: their slowest tasks, and what the others added up to.
Everything is timed in one run, rounds interleaved; the lab is left up with 2 app hosts.

    .venv/bin/python benchmarks/deploy_scaling.py [--sizes 2 6 12] [--rounds 3]

Results: benchmarks/results/deploy_scaling.json and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RESULTS = REPO / "benchmarks" / "results"
TRAFFIC = Path("/var/lib/irlab/traffic.json")


def env(json_output: bool = False) -> dict[str, str]:
    extra = {"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"} if json_output else {}
    return dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), PATH=f"{BIN}:{os.environ['PATH']}",
                ANSIBLE_NOCOLOR="1", **extra)


def irlab(*args: str, hosts: int) -> None:
    subprocess.run([sys.executable, str(REPO / "lab/irlab.py"), *args], check=True, cwd=REPO,
                   env=dict(os.environ, IRLAB_APP_HOSTS=str(hosts)), stdout=subprocess.DEVNULL)


def tally() -> dict:
    for _attempt in range(20):
        try:
            return json.loads(TRAFFIC.read_text())
        except (OSError, ValueError):
            time.sleep(0.1)
    raise SystemExit(f"cannot read the traffic tally {TRAFFIC}")


def timed(argv: list[str], json_output: bool = False) -> tuple[int, float, str]:
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=REPO, env=env(json_output), capture_output=True, text=True, check=False)
    return proc.returncode, time.monotonic() - started, proc.stdout + proc.stderr


def under_traffic(argv: list[str], json_output: bool = True) -> dict:
    """Run a command; its wall time, the traffic during it, and its JSON report when asked for."""
    time.sleep(0.6)  # the tally is rewritten twice a second: start from a fresh one
    before = tally()
    rc, wall, out = timed(argv, json_output)
    time.sleep(0.6)
    after = tally()
    result = {"rc": rc, "wall_s": round(wall, 2), "requests": after["requests"] - before["requests"],
              "failed": after["failed"] - before["failed"]}
    if json_output:
        try:
            result["report"] = json.loads(out[out.index("{"):])
        except ValueError:
            raise SystemExit(f"no JSON report from {' '.join(argv)}:\n{out[-3000:]}") from None
    if rc != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({rc}):\n{out[-3000:]}")
    return result


def host_tasks(report: dict, host: str) -> int:
    """Tasks the host itself ran (ok minus includes), from the JSON callback's per-task results."""
    count = 0
    for play in report["plays"]:
        for task in play["tasks"]:
            result = task["hosts"].get(host)
            if result is None or result.get("skipped") or task["task"]["name"].startswith(("Run the requested", "Switch")):
                continue
            if "include" in result.get("action", "") or result.get("action") == "ansible.builtin.include_role":
                continue
            count += 1
    return count


def stamp(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def task_runs(report: dict, name_part: str) -> list[tuple[float, float]]:
    runs = []
    for play in report["plays"]:
        for task in play["tasks"]:
            if name_part in task["task"]["name"]:
                duration = task["task"].get("duration") or {}
                if any(not r.get("skipped") for r in task["hosts"].values()) and duration.get("end"):
                    runs.append((stamp(duration["start"]), stamp(duration["end"])))
    return runs


def profile(report: dict, top: int = 10) -> dict:
    """Where a run's wall time went: its slowest tasks, and how much the rest (the many small ones) added up to."""
    tasks = []
    for play in report["plays"]:
        for task in play["tasks"]:
            duration = task["task"].get("duration") or {}
            if duration.get("end") and any(not r.get("skipped") for r in task["hosts"].values()):
                seconds = round(stamp(duration["end"]) - stamp(duration["start"]), 2)
                tasks.append((seconds, task["task"]["name"].split(" : ")[-1]))  # without the role's prefix
    tasks.sort(reverse=True)
    return {"slowest": [{"s": s, "task": name[:100]} for s, name in tasks[:top]],
            "other_tasks": len(tasks[top:]), "other_s": round(sum(s for s, _name in tasks[top:]), 2)}


def breach_to_rolled_back(hosts: int) -> dict:
    irlab("reset", hosts=hosts)
    playbook = str(BIN / "ansible-playbook")
    under_traffic([playbook, "playbooks/deploy.yml", "-e", "version=v1.2.3", "-e", "deploy_watch_seconds=0"])
    started = time.monotonic()
    proc = subprocess.run([playbook, "playbooks/deploy.yml", "-e", "version=v1.2.4", "-e", "deploy_watch_seconds=120",
                           "-e", "deploy_watch_interval=2"], cwd=REPO, env=env(True), capture_output=True, text=True,
                          check=False)
    wall = time.monotonic() - started
    if proc.returncode == 0:
        raise SystemExit("the bad release v1.2.4 was not caught")
    report = json.loads(proc.stdout[proc.stdout.index("{"):])
    watch_end = max(end for _start, end in task_runs(report, "Watch every app host"))
    gates = [end for start, end in task_runs(report, "Put this host back on the release it ran before") if start >= watch_end]
    if not gates:
        raise SystemExit("no host went back after the breach")
    return {"breach_to_all_back_s": round(max(gates) - watch_end, 2), "bad_deploy_wall_s": round(wall, 1)}


def quiet_lab(hosts: int) -> None:
    """The lab up at this size, with its alert rulebook stopped while the tools are timed.

    The breach run deploys a bad release on purpose; with the rulebook on, the alerts that follow start
    alert.yml (an incident and a diagnosis, sometimes several at once) on the same two cores as the run
    being timed. Prometheus and Alertmanager keep running; the lab's own tests measure the alert path.
    """
    irlab("up", hosts=hosts)
    irlab("rulebook", "stop", hosts=hosts)


def bench(hosts: int, rounds: int) -> dict:
    quiet_lab(hosts)
    playbook, ansible = str(BIN / "ansible-playbook"), str(BIN / "ansible")
    timed([ansible, "all", "-m", "ansible.builtin.ping"])  # warm the ControlPersist masters
    data: dict = {"hosts": hosts, "rounds": [], "load": []}
    for _round in range(rounds):
        data["load"].append(round(os.getloadavg()[0], 2))
        irlab("reset", hosts=hosts)
        timed([ansible, "all", "-m", "ansible.builtin.ping"])
        rc, floor, out = timed([ansible, "all", "-m", "ansible.builtin.ping"])
        if rc != 0:
            raise SystemExit(f"ping failed:\n{out[-2000:]}")
        deploy = under_traffic([playbook, "playbooks/deploy.yml", "-e", "version=v1.2.3", "-e", "deploy_watch_seconds=0"])
        rollback = under_traffic([playbook, "playbooks/rollback.yml"])
        data["rounds"].append({
            "floor_s": round(floor, 2),
            "deploy": {k: v for k, v in deploy.items() if k != "report"},
            "rollback": {k: v for k, v in rollback.items() if k != "report"},
            "tasks_per_host": {"deploy": host_tasks(deploy["report"], "app1"),
                               "rollback": host_tasks(rollback["report"], "app1")},
            "profile": {"deploy": profile(deploy["report"]), "rollback": profile(rollback["report"])},
        })
    data["breach"] = breach_to_rolled_back(hosts)
    return data


def median(values: list[float]) -> float:
    return round(statistics.median(values), 2)


def summary(data: dict) -> dict:
    rounds = data["rounds"]
    floor = median([r["floor_s"] for r in rounds])
    deploy = median([r["deploy"]["wall_s"] for r in rounds])
    rollback = median([r["rollback"]["wall_s"] for r in rounds])
    return {"hosts": data["hosts"], "floor_s": floor, "deploy_s": deploy, "rollback_s": rollback,
            "deploy_x_floor": round(deploy / floor, 1), "rollback_x_floor": round(rollback / floor, 1),
            "breach_to_all_back_s": data["breach"]["breach_to_all_back_s"],
            "tasks_per_host": rounds[0]["tasks_per_host"],
            "failed_requests": {"deploy": sum(r["deploy"]["failed"] for r in rounds),
                                "rollback": sum(r["rollback"]["failed"] for r in rounds)},
            "requests": {"deploy": sum(r["deploy"]["requests"] for r in rounds),
                         "rollback": sum(r["rollback"]["requests"] for r in rounds)},
            "load": data["load"]}


def table(rows: list[dict]) -> str:
    lines = ["| app hosts | ping floor | deploy (watch off) | rollback | breach -> all back | tasks per host "
             "(deploy / rollback) | failed requests (deploy / rollback, of all sent) | load at each round |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['hosts']} | {r['floor_s']} s | {r['deploy_s']} s ({r['deploy_x_floor']}x) | "
            f"{r['rollback_s']} s ({r['rollback_x_floor']}x) | {r['breach_to_all_back_s']} s | "
            f"{r['tasks_per_host']['deploy']} / {r['tasks_per_host']['rollback']} | "
            f"{r['failed_requests']['deploy']} / {r['failed_requests']['rollback']} "
            f"(of {r['requests']['deploy']} / {r['requests']['rollback']}) | "
            f"{' / '.join(str(x) for x in r['load'])} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 6, 12])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict = {"when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
                     "sizes": []}
    try:
        for hosts in args.sizes:
            data = bench(hosts, args.rounds)
            data["summary"] = summary(data)
            results["sizes"].append(data)
            print(f"{hosts} app hosts: {json.dumps(data['summary'])}", flush=True)
    finally:
        irlab("up", hosts=2)
    rows = [d["summary"] for d in results["sizes"]]
    if len(rows) > 1:
        small, big = rows[0], rows[-1]
        results["deploy_big_over_small"] = round(big["deploy_s"] / small["deploy_s"], 2)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "deploy_scaling.json").write_text(json.dumps(results, indent=2) + "\n")
    print(table(rows))
    if "deploy_big_over_small" in results:
        print(f"deploy to {rows[-1]['hosts']} hosts / deploy to {rows[0]['hosts']}: {results['deploy_big_over_small']}x")


if __name__ == "__main__":
    main()
