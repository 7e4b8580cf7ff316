#!/usr/bin/env python3
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The project's deploy and rollback against Ansistrano's, side by side on the lab behind its load balancer.

It drives the anchor bench (``../shared/anchor-bench/ansistrano/bench.py``, or ANCHOR_BENCH): the same lab hosts,
bastion, archive, ``make deploy``, restart and health wait for both tools, rounds interleaved, medians of the
rounds. One change to that bench: its third item, the project's deploy with ``deploy_serial=100%``, is left out.
Behind the balancer the project refuses it before changing anything (taking every host out at once would leave
no member serving), so the like-for-like pair is the project's default (canary, then halves, each host drained
and returned) against Ansistrano's all-at-once (which never leaves the pool and drops requests while it
restarts). Around every timed run it also reads the lab's traffic generator, so the report says how many of
the requests sent through the balancer during each tool's deploy and rollback failed.

    .venv/bin/python benchmarks/ansistrano_side_by_side.py [--sizes 2 6 12] [--rounds 3]

For each size the lab is rebuilt with IRLAB_APP_HOSTS=N; it ends down, with the safety route
``unreachable 10.77.0.0/16`` in place. Results: benchmarks/results/ansistrano-N.json and a Markdown report.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
import types
import typing as t
from pathlib import Path

from deploy_scaling import irlab, quiet_lab, tally  # the lab at a given size, and its traffic generator's counters

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
ANCHOR = Path(os.environ.get("ANCHOR_BENCH", REPO.parent / "shared" / "anchor-bench" / "ansistrano"))
WORK = Path(os.environ.setdefault("BENCH_WORK", "/tmp/anchor-bench-ansistrano"))


def safety_route() -> None:
    subprocess.run(["ip", "route", "replace", "unreachable", "10.77.0.0/16"], check=True)


def load_anchor() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("anchor_bench", ANCHOR / "bench.py")
    if spec is None or spec.loader is None or not (ANCHOR / "bench.py").exists():
        raise SystemExit(f"no anchor bench at {ANCHOR} (set ANCHOR_BENCH)")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.ITEMS.pop("project_all")
    vars(bench)["ORDERS"] = [["project", "ansistrano"], ["ansistrano", "project"]]  # rotated per round
    vars(bench)["timed"] = counting(bench.timed)
    return bench


def counting(timed: t.Callable[..., None]) -> t.Callable[..., None]:
    """The anchor bench's timed step, plus what the traffic generator saw through the balancer during it.

    The users' side of the comparison: a tool that never drains a host is faster because its users see the
    restarts. The counters span the bench's warm-up ping too, which sends nothing through the balancer.
    """
    def timed_and_counted(name: str, argv: list[str], hosts: int, tag: str, result: dict) -> None:
        time.sleep(0.6)  # the tally is rewritten twice a second: start from a fresh one
        before = tally()
        timed(name, argv, hosts, tag, result)
        time.sleep(0.6)
        after = tally()
        if name != "floor":
            seen = result.setdefault("traffic", {}).setdefault(name, {"requests": [], "failed": []})
            seen["requests"].append(after["requests"] - before["requests"])
            seen["failed"].append(after["failed"] - before["failed"])
            print(f"  {'':<22} {seen['failed'][-1]} of {seen['requests'][-1]} requests failed", flush=True)
    return timed_and_counted


def traffic_report(paths: list[Path]) -> str:
    rows = ["Requests through the load balancer during each run (the lab's traffic generator: 5 a second per app host, "
            "at most 40), "
            "failed of sent, summed over the rounds:", "",
            "| app hosts | project deploy | Ansistrano deploy | project rollback | Ansistrano rollback |",
            "|---|---|---|---|---|"]
    for path in paths:
        res = json.loads(path.read_text())
        cells = [str(res["hosts"])]
        for name in ("project_deploy", "ansistrano_deploy", "project_rollback", "ansistrano_rollback"):
            seen = res.get("traffic", {}).get(name)
            cells.append(f"{sum(seen['failed'])} of {sum(seen['requests'])}" if seen else "-")
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def archive(bench: types.ModuleType) -> None:
    """v1.2.3 from the lab's origin, as the project's bastion step builds it (git archive of the tag)."""
    origin = json.loads(Path("/var/lib/irlab/lab.json").read_text())["origin"].removeprefix("file://")
    target = WORK / "artifacts" / f"{bench.TO}.tar.gz"
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    subprocess.run(["git", "--git-dir", origin, "archive", "--format=tar.gz", f"--output={target}",
                    f"refs/tags/{bench.TO}"], check=True)
    print(f"archive built in {time.monotonic() - started:.3f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 6, 12])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    bench = load_anchor()
    RESULTS.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        for hosts in args.sizes:
            print(f"== lab with {hosts} app hosts", flush=True)
            irlab("down", hosts=hosts)
            safety_route()
            quiet_lab(hosts)
            safety_route()
            archive(bench)
            result = bench.bench(hosts, args.rounds)
            result["anchor_bench"] = str(ANCHOR)
            result["left_out"] = {"project_deploy_all": "refused behind the load balancer (no member would serve)"}
            out = RESULTS / f"ansistrano-{hosts}.json"
            out.write_text(json.dumps(result, indent=2) + "\n")
            written.append(out)
            print(json.dumps(result["median_s"]), flush=True)
    finally:
        irlab("down", hosts=2)
        safety_route()
    sys.stdout.write(bench.report(written) + "\n" + traffic_report(written))


if __name__ == "__main__":
    main()
