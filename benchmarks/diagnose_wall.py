#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Wall time of `diagnose.yml -e alert=all` against its floor, and against stock modules one after another.

The floor is what no diagnosis can beat: ansible-playbook's start-up plus
the slowest single probe. Each probe runs alone in its own ansible-playbook
(the role's own check task, same arguments), so the slowest of those runs
*is* start-up plus the slowest probe. The stock run does the same reads with
ansible.builtin.uri, community.postgresql.postgresql_query,
community.general.redis_info, kubernetes.core.k8s_info/k8s_log and
amazon.aws *_info modules, one task after another, with the same /metrics
and cache windows. Needs the lab (make lab-up); it only reads.

A third variant runs the same diagnosis with the lab's Prometheus configured
(incident_response_prometheus_url through an extra inventory file): the HTTP
check then asks Prometheus for the alert's window instead of waiting through
a /metrics window of its own.

    .venv/bin/python benchmarks/diagnose_wall.py [--repeat 1] [--skip-stock]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The lab's moto server takes any key; the endpoint keeps every AWS client on it.
# The lab's Prometheus (lab/services/monitoring.py), as a site would set it in its inventory.
PROMETHEUS_INVENTORY = "all:\n  vars:\n    incident_response_prometheus_url: http://10.77.1.10:9090\n"
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_ENDPOINT_URL": "http://10.77.1.1:5000", "AWS_EC2_METADATA_DISABLED": "true"}
PROBES = {"http": "bastion", "redis": "bastion", "postgres": "bastion", "k8s": "localhost",
          "service_start": "app1", "release_history": "app1", "cloudwatch_logs": "localhost", "rds": "localhost",
          "security_groups": "localhost", "elasticache": "localhost", "sqs": "localhost"}

EMPTY = """
- name: Measure the start-up floor
  hosts: localhost
  gather_facts: false
  tasks: []
"""

PROBE = """
- name: Run one probe alone
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Describe the endpoints as the plan step does
      ansible.builtin.set_fact:
        diagnose__endpoints: >-
          {{{{ groups['app_servers'] | platform_eng.incident_response.service_endpoints(hostvars=hostvars,
             port=incident_response_app_port, paths=incident_response_endpoints, metrics=true) }}}}
    - name: Run the probe
      ansible.builtin.include_role:
        name: platform_eng.incident_response.diagnose
        tasks_from: check_{source}.yml
      vars:
        diagnose_on: {host}
    - name: Fail when the check itself failed (the role records failures as findings instead)
      ansible.builtin.assert:
        that: hostvars[inventory_hostname]['diagnose__result_{source}'] is not failed
"""

STOCK = Path(__file__).with_name("diagnose_stock.yml")


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    start = time.monotonic()
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False)
    return time.monotonic() - start, proc.returncode, proc.stdout[-2000:] + proc.stderr[-2000:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="rounds; medians are reported")
    parser.add_argument("--skip-stock", action="store_true", help="leave out the stock run (it takes about a minute)")
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, **AWS_ENV, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}
    playbook = str(bin_dir / "ansible-playbook")
    runs: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        files = {"empty": Path(tmp, "empty.yml")}
        files["empty"].write_text(EMPTY)
        prometheus_inventory = Path(tmp, "prometheus.yml")
        prometheus_inventory.write_text(PROMETHEUS_INVENTORY)
        for source, host in PROBES.items():
            files[f"probe:{source}"] = Path(tmp, f"probe_{source}.yml")
            files[f"probe:{source}"].write_text(PROBE.format(source=source, host=host))
        for _round in range(args.repeat):
            # Interleaved, so a busy machine slows every variant alike.
            for name, path in files.items():
                seconds, rc, tail = timed([playbook, str(path)], env)
                if rc != 0:
                    # A probe that fails fast would pass for a fast probe and lower the floor.
                    raise SystemExit(f"{name} failed (rc {rc}); its timing would be meaningless:\n{tail}")
                runs.setdefault(name, []).append(seconds)
            seconds, rc, tail = timed([playbook, "playbooks/diagnose.yml", "-e", "alert=all",
                                       "-e", f"diagnose_reports_dir={tmp}/reports"], env)
            if rc not in (0, 2):
                print(tail, file=sys.stderr)
            runs.setdefault("diagnose", []).append(seconds)
            seconds, rc, tail = timed([playbook, "-i", "inventories/lab", "-i", str(prometheus_inventory),
                                       "playbooks/diagnose.yml", "-e", "alert=all",
                                       "-e", f"diagnose_reports_dir={tmp}/reports"], env)
            if rc not in (0, 2):
                print(tail, file=sys.stderr)
            runs.setdefault("diagnose_prometheus", []).append(seconds)
            if not args.skip_stock:
                seconds, rc, tail = timed([playbook, str(STOCK)], env)
                if rc != 0:
                    print(tail, file=sys.stderr)
                runs.setdefault("stock_sequential", []).append(seconds)
    median = {name: round(statistics.median(values), 2) for name, values in runs.items()}
    probes = {name.split(":", 1)[1]: value for name, value in median.items() if name.startswith("probe:")}
    slowest = max(probes, key=lambda name: probes[name])
    floor = probes[slowest]
    stock = median.get("stock_sequential")
    result = {
        "benchmark": "diagnose_wall",
        "when": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load": os.getloadavg()},
        "repeat": args.repeat,
        "startup_seconds": median["empty"],
        "probe_alone_seconds": probes,
        "slowest_probe": slowest,
        "floor_seconds": floor,
        "diagnose_seconds": median["diagnose"],
        "diagnose_with_prometheus_seconds": median["diagnose_prometheus"],
        "stock_sequential_seconds": stock,
        "diagnose_vs_floor": round(median["diagnose"] / floor, 2),
        "stock_vs_diagnose": round(stock / median["diagnose"], 2) if stock else None,
        "runs": runs,
    }
    print(f"start-up                         {median['empty']:6.1f} s")
    print(f"floor (start-up + {slowest} alone) {floor:6.1f} s")
    print(f"diagnose.yml alert=all           {median['diagnose']:6.1f} s   {result['diagnose_vs_floor']}x the floor")
    print(f"diagnose.yml alert=all, Prometheus {median['diagnose_prometheus']:6.1f} s   (goal: 5 s or less)")
    if stock:
        print(f"stock modules, one after another {stock:6.1f} s   {result['stock_vs_diagnose']}x diagnose")
    out = REPO / "benchmarks" / "results" / f"diagnose_wall-{result['when'].replace(':', '').replace('-', '')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results: {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
