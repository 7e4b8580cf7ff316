# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The runbook's database rules, with an injected clock; AWS errors through botocore's Stubber."""

from __future__ import annotations

import datetime
import typing as t

import pytest
from botocore.stub import ANY, Stubber

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _aws, _aws_rds
from ansible_collections.platform_eng.incident_response.plugins.module_utils._aws_cloudwatch import Series
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    CRITICAL,
    OK,
    UNKNOWN,
    WARN,
)

NOW = datetime.datetime(2025, 11, 10, 14, 23, 0, tzinfo=datetime.timezone.utc)
TARGET = "rds:incident-response-prod"
TH = _aws_rds.RdsThresholds()
GIB = 1024**3


def instance(**overrides: t.Any) -> dict[str, t.Any]:
    base = {
        "DBInstanceIdentifier": "incident-response-prod",
        "DBInstanceStatus": "available",
        "DBInstanceClass": "db.t3.medium",
        "Engine": "postgres",
        "EngineVersion": "15.4",
        "MultiAZ": True,
        "AllocatedStorage": 100,
        "StorageType": "gp3",
        "BackupRetentionPeriod": 7,
        "LatestRestorableTime": NOW - datetime.timedelta(minutes=5),
        "Endpoint": {"Address": "incident-response-prod.abc.us-east-1.rds.amazonaws.com", "Port": 5432},
        "VpcSecurityGroups": [{"VpcSecurityGroupId": "sg-0a1b", "Status": "active"}],
        "DBParameterGroups": [{"DBParameterGroupName": "incident-response-pg15", "ParameterApplyStatus": "in-sync"}],
    }
    base.update(overrides)
    return base


def series(*values: float) -> Series:
    stamps = [NOW - datetime.timedelta(minutes=len(values) - i) for i in range(len(values))]
    return Series(stamps, list(values))


@pytest.mark.parametrize(
    "lag, status",
    [
        (datetime.timedelta(minutes=14, seconds=59), OK),
        (datetime.timedelta(minutes=15), OK),  # "greater than" the RPO fails; equal passes
        (datetime.timedelta(minutes=15, seconds=1), CRITICAL),
        (datetime.timedelta(hours=3), CRITICAL),
    ],
)
def test_latest_restorable_time_against_the_rpo(lag: datetime.timedelta, status: str) -> None:
    finding = _aws_rds.restorable_time_finding(TARGET, instance(LatestRestorableTime=NOW - lag), NOW, TH)
    assert finding.status == status
    assert finding.threshold == {"warn": None, "critical": 15.0}
    assert (finding.remediation is None) == (status == OK)


def test_restorable_time_reads_aware_local_times_as_utc() -> None:
    # botocore hands back times in the local zone; 15:01 behind must still be 15:01 behind.
    local = (NOW - datetime.timedelta(minutes=15, seconds=1)).astimezone(
        datetime.timezone(datetime.timedelta(hours=-5))
    )
    finding = _aws_rds.restorable_time_finding(TARGET, instance(LatestRestorableTime=local), NOW, TH)
    assert finding.status == CRITICAL and "15:01 behind" in finding.evidence


def test_disabled_backups_mean_no_point_in_time_recovery() -> None:
    finding = _aws_rds.restorable_time_finding(TARGET, instance(BackupRetentionPeriod=0), NOW, TH)
    assert finding.status == CRITICAL and "automated backups are disabled" in finding.evidence


def test_no_restorable_time_yet_is_unknown() -> None:
    finding = _aws_rds.restorable_time_finding(TARGET, instance(LatestRestorableTime=None), NOW, TH)
    assert finding.status == UNKNOWN


@pytest.mark.parametrize(
    "status, healthy, expected",
    [
        ("available", ("available",), OK),
        ("storage-full", ("available",), CRITICAL),
        ("backing-up", ("available",), CRITICAL),
        ("backing-up", ("available", "backing-up"), OK),
    ],
)
def test_status_other_than_healthy_is_critical(status: str, healthy: tuple[str, ...], expected: str) -> None:
    finding = _aws_rds.status_finding(
        TARGET, instance(DBInstanceStatus=status), _aws_rds.RdsThresholds(healthy_statuses=healthy)
    )
    assert finding.status == expected and finding.value == status


@pytest.mark.parametrize("values, status", [((70.0, 80.0, 90.0), OK), ((80.0, 80.3), CRITICAL), ((), UNKNOWN)])
def test_cpu_mean_above_80_percent_says_scale_up(values: tuple[float, ...], status: str) -> None:
    finding = _aws_rds.cpu_finding(TARGET, series(*values), TH, "over 15 min")
    assert finding.status == status
    if status == CRITICAL:
        assert "scale up database if CPU > 80 %" in finding.remediation


@pytest.mark.parametrize("peak, status", [(360.0, OK), (361.0, WARN), (405.0, WARN), (406.0, CRITICAL)])
def test_connections_near_the_limit_mean_pool_exhaustion(peak: float, status: str) -> None:
    finding = _aws_rds.connections_finding(TARGET, series(100.0, peak), 450, "option", TH, "over 15 min")
    assert finding.status == status
    assert finding.value == round(100.0 * peak / 450, 1)
    if status != OK:
        assert "connection pool exhaustion" in finding.remediation


def test_connections_without_a_known_limit_are_unknown_and_say_how_to_fix_it() -> None:
    finding = _aws_rds.connections_finding(
        TARGET, series(120.0), None, "unknown for engine oracle-ee; set max_connections", TH, "over 15 min"
    )
    assert finding.status == UNKNOWN and "set max_connections" in finding.evidence


@pytest.mark.parametrize("free_gib, status", [(25.0, OK), (20.0, OK), (19.9, WARN), (10.0, WARN), (9.9, CRITICAL)])
def test_free_storage_lower_is_worse(free_gib: float, status: str) -> None:
    finding = _aws_rds.storage_finding(TARGET, series(free_gib * GIB), 100, TH, "latest")
    assert finding.status == status


def test_latency_uses_the_worse_of_read_and_write() -> None:
    finding = _aws_rds.latency_finding(TARGET, series(0.002), series(0.025), TH, "over 15 min")
    assert finding.status == WARN and finding.value == 25.0 and "write 25.00 ms" in finding.evidence


def test_single_az_is_a_warning_only_when_required() -> None:
    assert _aws_rds.multi_az_finding(TARGET, instance(MultiAZ=False), TH).status == WARN
    assert (
        _aws_rds.multi_az_finding(
            TARGET, instance(MultiAZ=False), _aws_rds.RdsThresholds(require_multi_az=False)
        ).status
        == OK
    )


@pytest.mark.parametrize(
    "klass, gib",
    [
        ("db.t3.medium", 4),
        ("db.t4g.micro", 1),
        ("db.r6g.large", 16),
        ("db.m5.2xlarge", 32),
        ("db.x2g.xlarge", 64),
        ("db.serverless", None),
    ],
)
def test_class_memory(klass: str, gib: int | None) -> None:
    assert _aws_rds.class_memory_bytes(klass) == (gib * GIB if gib else None)


@pytest.mark.parametrize(
    "expression, memory, limit",
    [
        ("LEAST({DBInstanceClassMemory/9531392},5000)", 4 * GIB, 450),
        ("LEAST({DBInstanceClassMemory/9531392},5000)", 256 * GIB, 5000),
        ("{DBInstanceClassMemory/12582880}", 8 * GIB, 682),
        ("GREATEST({DBInstanceClassMemory/12582880},1000)", 4 * GIB, 1000),
        ("200", None, 200),
        ("LEAST({DBInstanceClassMemory/9531392},5000)", None, None),
        ("{DBInstanceVCPU*100}", 4 * GIB, None),
    ],
)
def test_max_connections_formulas(expression: str, memory: int | None, limit: int | None) -> None:
    assert _aws_rds.evaluate_max_connections(expression, memory) == limit


# --- the whole check, with AWS stubbed ------------------------------------------------


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> _aws.AwsSession:
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return _aws.AwsSession(_aws.AwsSettings(region="us-east-1", access_key="AKIDEXAMPLE", secret_key="not-a-secret"))


def stub(session: _aws.AwsSession, service: str) -> Stubber:
    stubber = Stubber(session.client(service))
    stubber.activate()
    return stubber


def test_access_denied_is_an_unknown_finding_naming_the_call(session: _aws.AwsSession) -> None:
    rds = stub(session, "rds")
    rds.add_client_error(
        "describe_db_instances",
        "AccessDenied",
        "User: arn:aws:iam::123456789012:user/oncall is not authorized to perform: rds:DescribeDBInstances",
        403,
    )
    result = _aws_rds.check_rds_instance_health({"db_instance_identifier": "incident-response-prod"}, session, lambda: NOW)
    assert result["status"] == UNKNOWN and result["db_instance"] is None
    finding = result["findings"][0]
    assert finding["name"] == "rds_instance"
    assert finding["evidence"].startswith(
        "Failed to describe DB instance incident-response-prod in us-east-1: access denied: AccessDenied"
    )
    assert "Grant rds:DescribeDBInstances" in finding["remediation"]


def test_a_missing_instance_is_critical(session: _aws.AwsSession) -> None:
    rds = stub(session, "rds")
    rds.add_client_error(
        "describe_db_instances", "DBInstanceNotFound", "DBInstance incident-response-prd not found.", 404
    )
    result = _aws_rds.check_rds_instance_health({"db_instance_identifier": "incident-response-prd"}, session, lambda: NOW)
    assert result["status"] == CRITICAL
    assert "not found: DBInstanceNotFound" in result["error"]


def test_the_whole_check_reads_the_metrics_it_judges(session: _aws.AwsSession) -> None:
    rds, cloudwatch = stub(session, "rds"), stub(session, "cloudwatch")
    rds.add_response(
        "describe_db_instances", {"DBInstances": [instance()]}, {"DBInstanceIdentifier": "incident-response-prod"}
    )
    stamps = [NOW - datetime.timedelta(minutes=m) for m in (3, 2, 1)]

    def result(qid: str, values: list[float]) -> dict[str, t.Any]:
        return {"Id": qid, "Label": qid, "Timestamps": stamps, "Values": values, "StatusCode": "Complete"}

    cloudwatch.add_response(
        "get_metric_data",
        {
            "MetricDataResults": [
                result("cpu", [84.0, 86.0, 88.0]),
                result("conn", [90.0, 95.0, 93.0]),
                result("free", [60.0 * GIB, 59.0 * GIB, 58.0 * GIB]),
                result("rlat", [0.002, 0.002, 0.002]),
                result("wlat", [0.004, 0.004, 0.004]),
            ]
        },
        {
            "MetricDataQueries": ANY,
            "StartTime": NOW - datetime.timedelta(minutes=15),
            "EndTime": NOW,
            "ScanBy": "TimestampAscending",
        },
    )
    rds.add_response(
        "describe_db_parameters",
        {"Parameters": [{"ParameterName": "max_connections", "ParameterValue": "100", "Source": "user"}]},
        {"DBParameterGroupName": "incident-response-pg15"},
    )

    result_ = _aws_rds.check_rds_instance_health({"db_instance_identifier": "incident-response-prod"}, session, lambda: NOW)
    by_name = {f["name"]: f for f in result_["findings"]}
    assert by_name["rds_cpu"]["status"] == CRITICAL and by_name["rds_cpu"]["value"] == 86.0
    assert by_name["rds_connections"]["status"] == CRITICAL and by_name["rds_connections"]["value"] == 95.0
    assert "parameter group incident-response-pg15" in by_name["rds_connections"]["evidence"]
    assert by_name["rds_free_storage"]["status"] == OK and by_name["rds_restorable_time"]["status"] == OK
    assert result_["status"] == CRITICAL
    assert result_["max_connections"] == {"value": 100, "source": "parameter group incident-response-pg15"}
    assert result_["metrics"]["free_storage_gib"]["latest"] == 58.0
    assert result_["db_instance"]["latest_restorable_time"] == "2025-11-10T14:18:00Z"
    rds.assert_no_pending_responses()
    cloudwatch.assert_no_pending_responses()


def test_metrics_access_denied_keeps_the_describe_verdicts(session: _aws.AwsSession) -> None:
    rds, cloudwatch = stub(session, "rds"), stub(session, "cloudwatch")
    rds.add_response("describe_db_instances", {"DBInstances": [instance(DBInstanceStatus="storage-full")]})
    cloudwatch.add_client_error("get_metric_data", "AccessDenied", "not authorized", 403)
    result = _aws_rds.check_rds_instance_health({"db_instance_identifier": "incident-response-prod"}, session, lambda: NOW)
    by_name = {f["name"]: f for f in result["findings"]}
    assert by_name["rds_status"]["status"] == CRITICAL
    assert by_name["rds_cpu"]["status"] == UNKNOWN and "cloudwatch:GetMetricData" in by_name["rds_cpu"]["remediation"]
    assert result["status"] == CRITICAL
