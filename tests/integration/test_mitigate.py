# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/mitigate.yml against the lab: the database scale-up on the moto server's RDS, its guard, its plan
under --check, and its event in the open incident. (moto applies a class change at once and reports the instance
available throughout, so the wait loop ends on its first look; unit tests cover the guard's boundaries.)"""

from __future__ import annotations

import json
import re
import sys

import boto3
import pytest

from conftest import lab_ssh, run

STORE = "/var/lib/incident-response/incidents"
DB = "incident-response-prod"
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@pytest.fixture(scope="module")
def seeded(lab):
    """The moto account as lab/seed_aws.py makes it (idempotent; moto forgets everything when it restarts)."""
    result = run(sys.executable, "lab/seed_aws.py", "--endpoint-url", f"http://{lab['services']['moto']}",
                 timeout=300, env=AWS_ENV)
    assert result.rc == 0, result.text[-2000:]


@pytest.fixture()
def rds(lab, seeded):
    client = boto3.client("rds", region_name="us-east-1", endpoint_url=f"http://{lab['services']['moto']}",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    found = client.describe_db_instances(DBInstanceIdentifier=DB)["DBInstances"][0]
    before = found["DBInstanceClass"]
    lab_ssh("bastion", f"rm -rf {STORE}")
    yield client
    # Back to the class the lab started with (the mitigation itself never scales down).
    client.modify_db_instance(DBInstanceIdentifier=DB, DBInstanceClass=before, ApplyImmediately=True)
    lab_ssh("bastion", f"rm -rf {STORE}")


def db_class(client) -> str:
    return client.describe_db_instances(DBInstanceIdentifier=DB)["DBInstances"][0]["DBInstanceClass"]


def mitigate(*pairs: str, check: bool = False):
    argv = ["ansible-playbook", "playbooks/mitigate.yml", *(["--check"] if check else [])]
    return run(*argv, *[a for p in pairs for a in ("-e", p)], env=AWS_ENV)


def test_scale_db_plans_under_check_then_scales_one_step_and_records_it(lab, rds):
    assert db_class(rds) == "db.t3.medium"
    opened = run("ansible-playbook", "playbooks/incident.yml", "-e", "action=open", "-e", "severity=P3",
                 "-e", "title=DB_CPU_high")
    assert opened.rc == 0, opened.text[-2000:]
    inc = re.search(r"INC-\d{8}-\d{4}-[0-9a-f]{4}", opened.out).group(0)
    timeline = f"{STORE}/{inc}/timeline.jsonl"
    before = lab_ssh("bastion", f"cat {timeline}").out

    plan = mitigate("action=scale_db", check=True)
    assert plan.rc == 0, plan.text[-2000:]
    assert "Would scale incident-response-prod from db.t3.medium to db.t3.large" in " ".join(plan.out.split())
    assert db_class(rds) == "db.t3.medium" and lab_ssh("bastion", f"cat {timeline}").out == before

    done = mitigate("action=scale_db")
    assert done.rc == 0, done.text[-2000:]
    assert db_class(rds) == "db.t3.large"
    events = [json.loads(line) for line in lab_ssh("bastion", f"cat {timeline}").out.splitlines()]
    assert events[-1]["kind"] == "mitigation" and "db.t3.medium to db.t3.large" in events[-1]["summary"]
    record = json.loads(lab_ssh("bastion", f"cat {STORE}/{inc}/record.json").out)
    assert record["state"] == "mitigation" and record["mitigated_at"] == events[-1]["at"]


@pytest.mark.parametrize("pairs, message", [
    (["action=scale_db", "db_target_class=db.t3.small"], "never scales down"),
    (["action=scale_db", "db_target_class=db.t3.xlarge"], "more than one step needs a reason"),
    (["action=scale_db", "db_instance=no-such-db"], "no-such-db"),
    (["action=rollback"], "ansible-playbook playbooks/rollback.yml"),
    (["action=restart_everything"], "not one of"),
])
def test_refusals_change_nothing(lab, rds, pairs, message):
    result = mitigate(*pairs)
    assert result.rc != 0 and message in " ".join(result.text.split()), result.text[-2000:]
    assert db_class(rds) == "db.t3.medium"


@pytest.fixture()
def deployment(lab):
    """The emulator's Deployment (kube_emulator.py stores a PUT as is; it runs no controller, so no pod changes)."""
    from kubernetes import client as k8s
    config = k8s.Configuration()
    config.host = f"http://{lab['services']['kube']}"
    apps = k8s.AppsV1Api(k8s.ApiClient(config))
    original = apps.read_namespaced_deployment("incident-response", "incident-response")
    limit = original.spec.template.spec.containers[0].resources.limits["memory"]
    yield apps
    current = apps.read_namespaced_deployment("incident-response", "incident-response")
    current.spec.template.spec.containers[0].resources.limits["memory"] = limit
    apps.replace_namespaced_deployment("incident-response", "incident-response", current)


def memory_limit(apps) -> str:
    found = apps.read_namespaced_deployment("incident-response", "incident-response")
    return found.spec.template.spec.containers[0].resources.limits["memory"]


def test_memory_limit_plans_under_check_then_raises_by_the_factor(lab, deployment):
    assert memory_limit(deployment) == "512Mi"
    plan = mitigate("action=memory_limit", check=True)
    assert plan.rc == 0 and "Would raise the memory limit of incident-response/incident-response" in plan.out
    assert memory_limit(deployment) == "512Mi"
    done = mitigate("action=memory_limit", "memory_factor=1.25")
    assert done.rc == 0, done.text[-2000:]
    assert memory_limit(deployment) == "640Mi"


@pytest.mark.parametrize("pairs, message", [
    (["action=memory_limit", "memory_factor=3"], "memory_factor"),
    (["action=memory_limit", "workload=no-such-app"], "no-such-app"),
])
def test_memory_limit_refusals_change_nothing(lab, deployment, pairs, message):
    result = mitigate(*pairs)
    assert result.rc != 0 and message in result.text, result.text[-2000:]
    assert memory_limit(deployment) == "512Mi"
