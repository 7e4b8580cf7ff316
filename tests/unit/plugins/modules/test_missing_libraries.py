# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A host without the prerequisites: every module that needs a library fails naming the prerequisites role.

Each module runs for real through ansible-playbook (local connection) under a fresh virtualenv that has
no third-party library at all, as a bastion or app host would before the prerequisites role ran. Every
module's import check comes before it contacts anything, so the arguments point at nothing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[4]
BIN = Path(sys.executable).parent
LIBRARIES = ("boto3", "botocore", "cryptography", "kubernetes", "prometheus_client", "psycopg2", "redis")
ROLE = "platform_eng.incident_response.prerequisites"

# Arguments that pass each module's argument spec and reach its library check.
ARGS: dict[str, dict[str, t.Any]] = {
    "cloudwatch_logs_search_info": {"log_group_name": "/x", "region": "us-east-1"},
    "cloudwatch_metric_info": {"region": "us-east-1",
                               "metrics": [{"name": "x", "namespace": "AWS/RDS", "metric_name": "CPUUtilization"}]},
    "health_watch_info": {"targets": [{"name": "a", "metrics_url": "http://127.0.0.1:1/metrics"}], "duration": 1},
    "http_health_info": {"endpoints": [{"name": "a", "url": "http://127.0.0.1:1/health"}], "metrics_window": 1},
    "k8s_memory_limit_raise": {"name": "x", "host": "http://127.0.0.1:1"},
    "k8s_workload_health_info": {"namespace": "x", "host": "http://127.0.0.1:1"},
    "pg_restore_drill": {"postgres": {"host": "127.0.0.1", "port": 1}, "scratch_database": "dr_drill_x",
                         "state": "absent", "run_id": "r1"},
    "postgresql_health_info": {"host": "127.0.0.1", "port": 1},
    "rds_instance_health_info": {"db_instance_identifier": "x", "region": "us-east-1"},
    "rds_instance_scale_up": {"db_instance_identifier": "x", "region": "us-east-1"},
    "redis_health_info": {"host": "127.0.0.1", "port": 1},
    "s3_backup_info": {"bucket": "x", "region": "us-east-1"},
    "security_group_reachability_info": {"source": {"cidr": "10.0.0.0/24"}, "target": {"security_group": "sg-1"},
                                         "region": "us-east-1"},
    "tls_certificate_info": {"files": [{"path": "/nonexistent.pem"}]},
    "sqs_queue_health_info": {"queues": ["x"], "region": "us-east-1"},
    "elasticache_cluster_health_info": {"replication_group_id": "x", "region": "us-east-1"},
}
# Modules whose import chain reaches a guarded import of a runtime library that they never call.
NO_LIBRARY_NEEDED = {"diagnose_report"}  # reaches _aws through the ElastiCache memory join, judges data only


def modules_needing_a_library() -> set[str]:
    """The modules whose code (through their module_utils) imports one of the runtime libraries."""
    def imports(path: Path, seen: set[Path]) -> bool:
        if path in seen or not path.exists():
            return False
        seen.add(path)
        text = path.read_text(encoding="utf-8")
        if re.search(rf"^\s*(?:import|from)\s+({'|'.join(LIBRARIES)})\b", text, re.MULTILINE):
            return True
        return any(imports(REPO / "plugins/module_utils" / f"{name}.py", seen)
                   for name in re.findall(r"plugins\.module_utils(?:\.| import )(_\w+)", text))
    return {p.stem for p in (REPO / "plugins/modules").glob("*.py") if imports(p, set())}


def test_every_module_that_needs_a_library_is_exercised_here() -> None:
    assert modules_needing_a_library() - NO_LIBRARY_NEEDED == set(ARGS)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, t.Any]]:
    tmp = tmp_path_factory.mktemp("bare")
    # A Python with nothing but the standard library: the host before the prerequisites role.
    subprocess.run(["python3", "-m", "venv", "--without-pip", str(tmp / "bare")], check=True, timeout=120)
    out = tmp / "results.json"
    tasks = [{"name": f"Run {module}", f"platform_eng.incident_response.{module}": args,
              "register": f"r_{module}", "ignore_errors": True} for module, args in sorted(ARGS.items())]
    tasks.append({"name": "Save the results", "ansible.builtin.copy": {
        "dest": str(out), "mode": "0600",
        "content": "{{ {" + ", ".join(f"'{m}': r_{m}" for m in sorted(ARGS)) + "} | to_json }}"}})
    playbook = tmp / "bare.yml"
    playbook.write_text(yaml.safe_dump([{"name": "Run every module without its library", "hosts": "all",
                                         "gather_facts": False, "tasks": tasks}]))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    done = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook),
                           "-e", f"ansible_python_interpreter={tmp / 'bare/bin/python'}"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert out.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.parametrize("module", sorted(ARGS))
def test_a_host_without_the_prerequisites_is_told_which_role_to_run(results, module) -> None:
    result = results[module]
    assert result.get("failed") is True, result
    message = result["msg"]
    assert re.search(r"The Python library (\w+) is not installed for \S+/bare/bin/python on ", message), message
    assert f"Run the {ROLE} role on this host first" in message
    assert "Traceback" not in message and "ImportError" not in message and "ModuleNotFoundError" not in message
