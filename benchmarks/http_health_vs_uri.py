#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""One http_health_info task versus an ansible.builtin.uri loop, side by side.

Starts N local HTTP endpoints that answer /health after a realistic delay,
then times three ansible-playbook runs with the repository's ansible.cfg:
an empty playbook (the start-up floor), one http_health_info task over all
endpoints (samples=1), and a task looping ansible.builtin.uri over the same
endpoints. The runs are interleaved and repeated, so a busy machine slows
all three alike; the table shows medians and the ratio. Results go to
benchmarks/results/ as JSON.

    .venv/bin/python benchmarks/http_health_vs_uri.py [--endpoints 50] [--repeat 3] [--bind 127.0.0.1]
"""

from __future__ import annotations

import argparse
import datetime
import http.server
import ipaddress
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Only addresses this machine owns: loopback, or the lab's own range.
ALLOWED_NETWORKS = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("10.77.0.0/16"))

PLAYBOOKS = {
    "empty": """
- name: Measure the start-up floor
  hosts: all
  gather_facts: false
  tasks: []
""",
    "http_health_info": """
- name: Probe every endpoint with one module call
  hosts: all
  gather_facts: false
  vars_files: [endpoints.json]
  tasks:
    - name: Check all endpoints concurrently
      platform_eng.incident_response.http_health_info:
        endpoints: "{{ endpoints }}"
        samples: 1
        fail_on: critical
""",
    "uri_loop": """
- name: Probe every endpoint with a uri loop
  hosts: all
  gather_facts: false
  vars_files: [endpoints.json]
  tasks:
    - name: Check each endpoint in turn
      ansible.builtin.uri:
        url: "{{ item.url }}"
        status_code: 200
      loop: "{{ endpoints }}"
      loop_control:
        label: "{{ item.name }}"
""",
}


class _HealthHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: t.Any) -> None:
        pass

    def do_GET(self) -> None:
        server = t.cast("_HealthServer", self.server)
        time.sleep(server.delay)  # the service's own work: a database round trip or two
        body = json.dumps({"status": "ok", "checks": {"database": {"status": "ok"}}}).encode()
        with server.lock:
            server.hits += 1
        self.send_response(200 if self.path == "/health" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _HealthServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, bind: str, delay: float):
        super().__init__((bind, 0), _HealthHandler)
        self.delay = delay
        self.hits = 0
        self.lock = threading.Lock()


def start_endpoints(bind: str, count: int, delay: float) -> list[_HealthServer]:
    servers = [_HealthServer(bind, delay) for _server in range(count)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    return servers


def run_playbook(playbook: Path) -> tuple[float, int, str]:
    command = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "-i",
        "localhost,",
        "-c",
        "local",
        "-e",
        f"ansible_python_interpreter={sys.executable}",
        str(playbook),
    ]
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    started = time.monotonic()
    process = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    return elapsed, process.returncode, process.stdout[-3000:] + process.stderr[-3000:]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--bind", default="127.0.0.1", help="address the endpoints listen on (loopback or 10.77/16)")
    parser.add_argument("--endpoints", type=int, default=50, help="how many endpoints to start (default 50)")
    parser.add_argument("--delay-ms", type=float, default=30.0, help="each /health answer's delay (default 30)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds; medians are reported (default 3)")
    parser.add_argument("--results-dir", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()
    address = ipaddress.ip_address(args.bind)
    if not any(address in network for network in ALLOWED_NETWORKS):
        parser.error(f"--bind {args.bind}: only 127.0.0.0/8 or the lab's 10.77.0.0/16 are allowed")
    if args.endpoints < 1 or args.repeat < 1:
        parser.error("--endpoints and --repeat must be at least 1")
    return args


def main() -> int:
    args = parse_args()
    servers = start_endpoints(args.bind, args.endpoints, args.delay_ms / 1000.0)
    endpoints = [
        {"name": f"ep{i:02d}", "url": f"http://{args.bind}:{server.server_address[1]}/health"}
        for i, server in enumerate(servers)
    ]
    timings: dict[str, list[float]] = {name: [] for name in PLAYBOOKS}
    requests: dict[str, list[int]] = {name: [] for name in PLAYBOOKS}
    with tempfile.TemporaryDirectory(prefix="bench-http-health-") as tmp:
        workdir = Path(tmp)
        (workdir / "endpoints.json").write_text(json.dumps({"endpoints": endpoints}))
        for name, text in PLAYBOOKS.items():
            (workdir / f"{name}.yml").write_text(text.lstrip())
        for round_number in range(1, args.repeat + 1):
            for name in PLAYBOOKS:
                before = sum(server.hits for server in servers)
                elapsed, returncode, output = run_playbook(workdir / f"{name}.yml")
                if returncode != 0:
                    print(f"{name} failed (rc={returncode}) in round {round_number}:\n{output}", file=sys.stderr)
                    return 1
                timings[name].append(elapsed)
                requests[name].append(sum(server.hits for server in servers) - before)
            print(f"round {round_number}/{args.repeat}: " + ", ".join(f"{n} {timings[n][-1]:.2f}s" for n in PLAYBOOKS))

    for server in servers:
        server.shutdown()
        server.server_close()

    median = {name: statistics.median(values) for name, values in timings.items()}
    floor = median["empty"]
    module_time, uri_time = median["http_health_info"], median["uri_loop"]
    above_floor = {name: max(value - floor, 1e-9) for name, value in median.items()}
    summary = {
        "ratio_wall": round(uri_time / module_time, 2),
        "ratio_above_floor": round(above_floor["uri_loop"] / above_floor["http_health_info"], 2),
    }

    print()
    print(f"{args.endpoints} endpoints on {args.bind}, {args.delay_ms:g} ms per answer, median of {args.repeat} runs")
    print(f"{'playbook':<20} {'median s':>9} {'min s':>7} {'max s':>7} {'above floor s':>14} {'requests':>9}")
    for name in PLAYBOOKS:
        values = timings[name]
        print(
            f"{name:<20} {median[name]:>9.2f} {min(values):>7.2f} {max(values):>7.2f} "
            f"{median[name] - floor:>14.2f} {requests[name][-1]:>9}"
        )
    print(
        f"uri loop / http_health_info: {summary['ratio_wall']}x wall time, "
        f"{summary['ratio_above_floor']}x above the start-up floor"
    )

    args.results_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = args.results_dir / f"http_health_vs_uri-{stamp}.json"
    path.write_text(
        json.dumps(
            {
                "benchmark": "http_health_vs_uri",
                "when": stamp,
                "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "system": platform.platform()},
                "parameters": {
                    "endpoints": args.endpoints,
                    "delay_ms": args.delay_ms,
                    "repeat": args.repeat,
                    "bind": args.bind,
                },
                "seconds": timings,
                "median_seconds": median,
                "requests_per_run": requests,
                **summary,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"results: {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
