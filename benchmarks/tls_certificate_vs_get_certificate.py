#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""One tls_certificate_info task versus a community.crypto.get_certificate loop, side by side.

Starts the lab's TLS endpoints (lab/services/tls_endpoints.py: valid,
expiring, expired, wrong host, plus 96 more valid ones: 100 in all) on free
ports, then times three ansible-playbook runs with the repository's
ansible.cfg: an empty playbook (the start-up floor), one
tls_certificate_info task over all endpoints, and a task looping
community.crypto.get_certificate over the same endpoints with the same CA
bundle and SNI names. The runs are interleaved and repeated, so a busy
machine slows all three alike; the table shows medians and the ratio.
Results go to benchmarks/results/ as JSON.

    .venv/bin/python benchmarks/tls_certificate_vs_get_certificate.py [--extra-endpoints 96] [--repeat 3] [--bind 127.0.0.1]
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TLS_ENDPOINTS = REPO / "lab" / "services" / "tls_endpoints.py"
# Only addresses this machine owns: loopback, or the lab's own range.
ALLOWED_NETWORKS = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("10.77.0.0/16"))

PLAYBOOKS = {
    "empty": """
- name: Measure the start-up floor
  hosts: all
  gather_facts: false
  tasks: []
""",
    "tls_certificate_info": """
- name: Check every certificate with one module call
  hosts: all
  gather_facts: false
  vars_files: [endpoints.json]
  tasks:
    - name: Check all endpoints concurrently
      platform_eng.incident_response.tls_certificate_info:
        endpoints: "{{ endpoints }}"
        ca_path: "{{ ca_path }}"
""",
    "get_certificate_loop": """
- name: Fetch every certificate with a get_certificate loop
  hosts: all
  gather_facts: false
  vars_files: [endpoints.json]
  tasks:
    - name: Fetch each endpoint's certificate in turn
      community.crypto.get_certificate:
        host: "{{ item.host }}"
        port: "{{ item.port }}"
        server_name: "{{ item.server_name }}"
        ca_cert: "{{ ca_path }}"
      loop: "{{ endpoints }}"
      loop_control:
        label: "{{ item.name }}"
      # With ca_cert set, get_certificate fails on the expired endpoint; count, do not stop.
      failed_when: false
""",
}


def free_port_range(bind: str, count: int) -> int:
    """A base port with ``count`` free ports above it (tls_endpoints.py binds base..base+count-1)."""
    for _attempt in range(50):
        base = random.randrange(20000, 60000 - count)
        try:
            for port in range(base, base + count):
                with socket.socket(socket.AF_INET6 if ":" in bind else socket.AF_INET) as sock:
                    sock.bind((bind, port))
            return base
        except OSError:
            continue
    raise RuntimeError(f"no {count} consecutive free ports on {bind}")


def start_endpoints(bind: str, base_port: int, extra: int, state_dir: Path) -> subprocess.Popen:
    log = state_dir / "tls_endpoints.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, str(TLS_ENDPOINTS), "--bind", bind, "--state-dir", str(state_dir),
             "--base-port", str(base_port), "--extra-endpoints", str(extra)],
            stdout=subprocess.DEVNULL, stderr=out)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if "ready " in log.read_text(errors="replace"):
            return process
        if process.poll() is not None:
            break
        time.sleep(0.1)
    stop(process)
    raise RuntimeError(f"tls_endpoints.py did not start: {log.read_text(errors='replace')[-2000:]}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_playbook(playbook: Path) -> tuple[float, int, str]:
    command = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "-i", "localhost,",
        "-c", "local",
        "-e", f"ansible_python_interpreter={sys.executable}",
        str(playbook),
    ]
    # The JSON callback hands back every task result, so neither playbook needs an extra
    # task (and its own module run) to report what it found.
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    started = time.monotonic()
    process = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    return elapsed, process.returncode, process.stdout + process.stderr[-3000:]


def task_result(output: str) -> dict[str, t.Any]:
    """The first task's result for localhost from the JSON callback's output ({} for the empty playbook)."""
    tasks = json.loads(output[output.index("{"):output.rindex("}") + 1])["plays"][0]["tasks"]
    return tasks[0]["hosts"]["localhost"] if tasks else {}


def outcome(name: str, result: dict[str, t.Any]) -> t.Any:
    """What each playbook found, to show both looked at the same endpoints."""
    if name == "tls_certificate_info":
        return {kind: len(names) for kind, names in result["by_classification"].items() if names}
    if name == "get_certificate_loop":
        items = result["results"]
        return {"fetched": sum(1 for item in items if "cert" in item),
                "failed": [item["item"]["name"] for item in items if "cert" not in item]}
    return None


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--bind", default="127.0.0.1", help="address the endpoints listen on (loopback or 10.77/16)")
    parser.add_argument("--extra-endpoints", type=int, default=96,
                        help="valid endpoints beyond the lab's four (default 96: 100 in all)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds; medians are reported (default 3)")
    parser.add_argument("--results-dir", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()
    address = ipaddress.ip_address(args.bind)
    if not any(address in network for network in ALLOWED_NETWORKS):
        parser.error(f"--bind {args.bind}: only 127.0.0.0/8 or the lab's 10.77.0.0/16 are allowed")
    if args.extra_endpoints < 0 or args.repeat < 1:
        parser.error("--extra-endpoints must not be negative and --repeat must be at least 1")
    return args


def main() -> int:
    args = parse_args()
    count = 4 + args.extra_endpoints
    timings: dict[str, list[float]] = {name: [] for name in PLAYBOOKS}
    outcomes: dict[str, t.Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-tls-") as tmp:
        workdir = Path(tmp)
        state_dir = workdir / "tls"
        state_dir.mkdir()
        server = start_endpoints(args.bind, free_port_range(args.bind, count), args.extra_endpoints, state_dir)
        try:
            manifest = json.loads((state_dir / "endpoints.json").read_text())
            endpoints = [{k: e[k] for k in ("name", "host", "port", "server_name")} for e in manifest]
            (workdir / "endpoints.json").write_text(json.dumps({"endpoints": endpoints,
                                                                "ca_path": str(state_dir / "ca.pem")}))
            for name, text in PLAYBOOKS.items():
                (workdir / f"{name}.yml").write_text(text.lstrip())
            for round_number in range(1, args.repeat + 1):
                for name in PLAYBOOKS:
                    elapsed, returncode, output = run_playbook(workdir / f"{name}.yml")
                    if returncode != 0:
                        print(f"{name} failed (rc={returncode}) in round {round_number}:\n{output[-6000:]}",
                              file=sys.stderr)
                        return 1
                    timings[name].append(elapsed)
                    outcomes[name] = outcome(name, task_result(output))
                print(f"round {round_number}/{args.repeat}: "
                      + ", ".join(f"{n} {timings[n][-1]:.2f}s" for n in PLAYBOOKS), flush=True)
        finally:
            stop(server)

    median = {name: statistics.median(values) for name, values in timings.items()}
    floor = median["empty"]
    module_time, loop_time = median["tls_certificate_info"], median["get_certificate_loop"]
    above_floor = {name: max(value - floor, 1e-9) for name, value in median.items()}
    summary = {
        "ratio_wall": round(loop_time / module_time, 2),
        "ratio_above_floor": round(above_floor["get_certificate_loop"] / above_floor["tls_certificate_info"], 2),
    }
    verdicts = outcomes["tls_certificate_info"]

    print()
    print(f"{count} TLS endpoints on {args.bind}, median of {args.repeat} runs")
    print(f"{'playbook':<22} {'median s':>9} {'min s':>7} {'max s':>7} {'above floor s':>14}")
    for name in PLAYBOOKS:
        values = timings[name]
        print(f"{name:<22} {median[name]:>9.2f} {min(values):>7.2f} {max(values):>7.2f} {median[name] - floor:>14.2f}")
    print(f"tls_certificate_info verdicts: {verdicts}")
    print(f"get_certificate loop: {outcomes['get_certificate_loop']}")
    print(f"get_certificate loop / tls_certificate_info: {summary['ratio_wall']}x wall time, "
          f"{summary['ratio_above_floor']}x above the start-up floor (goal: 10x or better)")

    args.results_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = args.results_dir / f"tls_certificate_vs_get_certificate-{stamp}.json"
    path.write_text(json.dumps({
        "benchmark": "tls_certificate_vs_get_certificate",
        "when": stamp,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "system": platform.platform()},
        "parameters": {"endpoints": count, "repeat": args.repeat, "bind": args.bind},
        "seconds": timings,
        "median_seconds": median,
        "tls_certificate_info_verdicts": verdicts,
        "get_certificate_loop": outcomes["get_certificate_loop"],
        **summary,
    }, indent=2) + "\n")
    print(f"results: {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
