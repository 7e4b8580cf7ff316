# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The AWS modules as Ansible runs them: arguments in, one JSON document out.

AWS is moto's in-process ``mock_aws``: it answers like AWS for what these tests touch (S3 listing,
RDS and CloudWatch Logs not-found errors), which is all they rely on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest

from ansible_collections.platform_eng.incident_response.plugins.modules import (
    cloudwatch_logs_search_info,
    cloudwatch_metric_info,
    elasticache_cluster_health_info,
    rds_instance_health_info,
    s3_backup_info,
    security_group_reachability_info,
    sqs_queue_health_info,
)
from ansible_collections.platform_eng.incident_response.tests.unit.plugins import module_runner

moto = pytest.importorskip("moto")

REPO = Path(__file__).resolve().parents[4]
MODULES = [
    cloudwatch_logs_search_info,
    cloudwatch_metric_info,
    elasticache_cluster_health_info,
    rds_instance_health_info,
    s3_backup_info,
    security_group_reachability_info,
    sqs_queue_health_info,
]
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
CONNECTION = {"region": "us-east-1", "access_key": "AKIAIOSFODNN7EXAMPLE", "secret_key": SECRET}


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> t.Iterator[None]:
    for name in (
        "AWS_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with moto.mock_aws():
        yield


def run_module(capsys: pytest.CaptureFixture[str], module: t.Any, args: dict[str, t.Any]) -> dict[str, t.Any]:
    return module_runner.run_module(capsys, module, args, secrets=[SECRET])


def make_backup() -> None:
    import boto3

    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    s3.create_bucket(Bucket="backups-incident-response")
    s3.put_object(Bucket="backups-incident-response", Key="latest/hourly.dump", Body=b"PGDMP")


@pytest.mark.parametrize("check_mode", [False, True])
def test_a_fresh_backup_is_ok_and_nothing_changes(capsys: pytest.CaptureFixture[str], check_mode: bool) -> None:
    make_backup()
    result = run_module(
        capsys, s3_backup_info, dict(CONNECTION, bucket="backups-incident-response", _ansible_check_mode=check_mode)
    )
    assert result["changed"] is False and "failed" not in result
    assert result["status"] == "ok" and result["newest"]["key"] == "latest/hourly.dump"
    assert [f["name"] for f in result["findings"]] == ["backup_age", "backup_size", "backup_integrity"]


@pytest.mark.parametrize("fail_on, failed", [("none", False), ("critical", True)])
def test_fail_on_turns_the_verdict_into_a_failure(
    capsys: pytest.CaptureFixture[str], fail_on: str, failed: bool
) -> None:
    result = run_module(capsys, s3_backup_info, dict(CONNECTION, bucket="backups-incident-respons", fail_on=fail_on))
    assert result.get("failed", False) is failed and result["changed"] is False
    assert result["status"] == "critical" and "NoSuchBucket" in result["error"]
    if failed:
        assert result["msg"].startswith("S3 backup is critical (fail_on=critical): 1 finding(s)")
        assert "s3://backups-incident-respons/latest/ backup_age critical" in result["msg"]


def test_a_missing_region_fails_with_what_to_set(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_module(capsys, s3_backup_info, {"bucket": "b", "access_key": "a", "secret_key": SECRET})
    assert result["failed"] is True and result["msg"].startswith("No AWS region: set the region option")


def test_bad_options_fail_before_any_call(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_module(
        capsys,
        cloudwatch_metric_info,
        dict(
            CONNECTION,
            metrics=[{"namespace": "AWS/ApplicationELB", "metric_name": "TargetResponseTime", "statistic": "P95"}],
        ),
    )
    assert result["failed"] is True and "statistic must be" in result["msg"]
    result = run_module(capsys, s3_backup_info, dict(CONNECTION, bucket="b", as_of="yesterday"))
    assert result["failed"] is True and "as_of must be an ISO 8601 time" in result["msg"]


def test_one_source_kind_at_a_time(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_module(
        capsys,
        security_group_reachability_info,
        dict(
            CONNECTION,
            source={"cidr": "10.0.0.0/8", "instance_id": "i-0123"},
            target={"db_instance_identifier": "incident-response-prod"},
        ),
    )
    assert result["failed"] is True and "mutually exclusive" in result["msg"]


@pytest.mark.parametrize(
    "module, args, status, error",
    [
        pytest.param(
            rds_instance_health_info,
            {"db_instance_identifier": "incident-response-prd"},
            "critical",
            "Failed to describe DB instance incident-response-prd in us-east-1: not found: DBInstanceNotFound",
            id="rds",
        ),
        pytest.param(
            cloudwatch_logs_search_info,
            {"log_group_name": "/aws/lambda/nope"},
            "unknown",
            "Failed to search log group /aws/lambda/nope in us-east-1: not found: ResourceNotFoundException",
            id="logs",
        ),
        pytest.param(
            security_group_reachability_info,
            {"source": {"cidr": "10.0.1.4"}, "target": {"security_group": "sg-0123abcd"}},
            "critical",
            "Failed to describe security group sg-0123abcd in us-east-1: not found: InvalidGroup.NotFound",
            id="security_group",
        ),
        pytest.param(
            sqs_queue_health_info,
            {"queues": ["incident-response-jobs"]},
            "critical",
            "Failed to find SQS queue incident-response-jobs in us-east-1: not found: "
            "AWS.SimpleQueueService.NonExistentQueue",
            id="sqs",
        ),
        pytest.param(
            elasticache_cluster_health_info,
            {"cache_cluster_id": "incident-response-cache"},
            "critical",
            "Failed to describe ElastiCache cluster incident-response-cache in us-east-1: not found: "
            "CacheClusterNotFound",
            id="elasticache",
        ),
    ],
)
def test_not_found_is_a_finding_not_a_traceback(
    capsys: pytest.CaptureFixture[str], module: t.Any, args: dict[str, t.Any], status: str, error: str
) -> None:
    result = run_module(capsys, module, dict(CONNECTION, **args))
    assert "failed" not in result and result["changed"] is False
    errors = result["errors"] if "errors" in result else [result["error"]]
    assert result["status"] == status and errors[0].startswith(error)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_ansible_doc_renders(module: t.Any) -> None:
    name = module.__name__.rsplit(".", 1)[-1]
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-doc"),
            "--json",
            "-t",
            "module",
            f"platform_eng.incident_response.{name}",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)[f"platform_eng.incident_response.{name}"]
    options = doc["doc"]["options"]
    assert {"region", "endpoint_url", "secret_key", "retries", "fail_on"} <= set(options)
    assert doc["doc"]["attributes"]["check_mode"]["support"] == "full"
    assert all("sample" in value for value in doc["return"].values()), name


def test_a_stuck_queue_fails_on_critical_and_nothing_is_received(capsys: pytest.CaptureFixture[str]) -> None:
    import boto3

    sqs = boto3.client("sqs", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    dlq = sqs.create_queue(QueueName="incident-response-jobs-dlq")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName="incident-response-jobs", Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 5})})["QueueUrl"]
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "job"} for i in range(10)])
    sqs.send_message(QueueUrl=dlq, MessageBody="failed job")

    result = run_module(capsys, sqs_queue_health_info, dict(
        CONNECTION, queues=["incident-response-jobs"], depth_warn=5, depth_critical=9, fail_on="critical",
        _ansible_check_mode=True))
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"].startswith("SQS queue health is critical (fail_on=critical): 1 finding(s)")
    assert "sqs:incident-response-jobs sqs_depth critical (10 messages)" in result["msg"]
    assert {f["name"]: f["status"] for f in result["findings"]}["sqs_dlq_depth"] == "warn"
    # The check only reads: every message is still there, none became invisible.
    left = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (left["ApproximateNumberOfMessages"], left["ApproximateNumberOfMessagesNotVisible"]) == ("10", "0")


def test_elasticache_needs_exactly_one_identifier(capsys: pytest.CaptureFixture[str]) -> None:
    both = run_module(capsys, elasticache_cluster_health_info,
                      dict(CONNECTION, cache_cluster_id="a", replication_group_id="b"))
    assert both["failed"] is True and "mutually exclusive" in both["msg"]
    neither = run_module(capsys, elasticache_cluster_health_info, dict(CONNECTION))
    assert neither["failed"] is True and "one of the following is required" in neither["msg"]


def test_elasticache_judges_the_used_memory_it_is_given(capsys: pytest.CaptureFixture[str]) -> None:
    import boto3

    boto3.client("elasticache", region_name="us-east-1", aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_cache_cluster(
        CacheClusterId="incident-response-cache", CacheNodeType="cache.t3.micro", Engine="redis", EngineVersion="7.1")
    result = run_module(capsys, elasticache_cluster_health_info, dict(
        CONNECTION, cache_cluster_id="incident-response-cache", used_memory_bytes=480 * 1024**2))
    memory = {f["name"]: f for f in result["findings"]}["elasticache_memory"]
    assert "failed" not in result and memory["status"] == "critical" and memory["value"] == 93.75
    assert result["cache"]["engine_version"] == "7.1"
