# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The SQS rules at their boundaries, then the whole check against moto's in-process SQS.

moto answers queue attributes (depth, in flight, delayed, RedrivePolicy) like SQS, but publishes no
CloudWatch metrics at all: these tests put the ApproximateAgeOfOldestMessage datapoints themselves,
as the lab's seed does. Errors that moto does not produce (access denied) come from botocore's Stubber.
"""

from __future__ import annotations

import datetime
import json
import typing as t

import pytest
from botocore.stub import Stubber

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _aws, _aws_sqs
from ansible_collections.platform_eng.incident_response.plugins.module_utils._aws_cloudwatch import Series
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    CRITICAL,
    OK,
    UNKNOWN,
    WARN,
    IncidentResponseError,
)

NOW = datetime.datetime(2025, 11, 10, 14, 23, 0, tzinfo=datetime.timezone.utc)
TARGET = "sqs:incident-response-jobs"
TH = _aws_sqs.SqsThresholds()
DLQ_ARN = "arn:aws:sqs:us-east-1:123456789012:incident-response-jobs-dlq"
WINDOW = "over 5 min to 2025-11-10T14:23:00Z"


def attrs(**values: t.Any) -> dict[str, str]:
    base = {"ApproximateNumberOfMessages": 0, "ApproximateNumberOfMessagesNotVisible": 0,
            "ApproximateNumberOfMessagesDelayed": 0, "MessageRetentionPeriod": 345600}
    base.update(values)
    return {key: str(value) for key, value in base.items()}


def age(*values: float) -> Series:
    return Series([NOW - datetime.timedelta(minutes=len(values) - i) for i in range(len(values))], list(values))


@pytest.mark.parametrize("depth, status", [(0, OK), (1000, OK), (1001, WARN), (10000, WARN), (10001, CRITICAL)])
def test_depth_above_each_threshold(depth: int, status: str) -> None:
    finding = _aws_sqs.depth_finding(TARGET, attrs(ApproximateNumberOfMessages=depth), TH)
    assert (finding.status, finding.value) == (status, depth)
    assert (finding.remediation is not None) is (status != OK)


@pytest.mark.parametrize("in_flight, status", [(96000, OK), (96001, WARN), (114000, WARN), (114001, CRITICAL)])
def test_in_flight_as_a_share_of_the_limit(in_flight: int, status: str) -> None:
    finding = _aws_sqs.in_flight_finding(TARGET, attrs(ApproximateNumberOfMessagesNotVisible=in_flight), TH)
    assert finding.status == status
    assert "of the 120000 limit" in finding.evidence


@pytest.mark.parametrize("seconds, status", [(299.9, OK), (300, OK), (300.1, WARN), (900, WARN), (900.1, CRITICAL)])
def test_oldest_message_age_uses_the_newest_datapoint(seconds: float, status: str) -> None:
    finding = _aws_sqs.oldest_age_finding(TARGET, attrs(ApproximateNumberOfMessages=5), age(5000.0, seconds), TH,
                                          WINDOW)
    assert (finding.status, finding.value) == (status, round(seconds, 1))


def test_an_oldest_message_near_the_retention_period_is_critical_whatever_the_thresholds() -> None:
    th = _aws_sqs.SqsThresholds(oldest_age_warn_seconds=None, oldest_age_critical_seconds=None)
    near = _aws_sqs.oldest_age_finding(TARGET, attrs(ApproximateNumberOfMessages=1, MessageRetentionPeriod=1000),
                                       age(801.0), th, WINDOW)
    at = _aws_sqs.oldest_age_finding(TARGET, attrs(ApproximateNumberOfMessages=1, MessageRetentionPeriod=1000),
                                     age(800.0), th, WINDOW)
    assert near.status == CRITICAL and "deleted unprocessed" in near.remediation and "past 80%" in near.evidence
    assert at.status == OK


def test_no_age_datapoint_is_unknown_unless_the_queue_is_empty() -> None:
    empty = _aws_sqs.oldest_age_finding(TARGET, attrs(), Series(), TH, WINDOW)
    waiting = _aws_sqs.oldest_age_finding(TARGET, attrs(ApproximateNumberOfMessagesNotVisible=2), Series(), TH, WINDOW)
    assert (empty.status, empty.value) == (OK, 0) and "empty" in empty.evidence
    assert waiting.status == UNKNOWN and "2 messages" in waiting.evidence and "CloudWatch" in waiting.remediation


@pytest.mark.parametrize("waiting, in_flight, status", [(0, 0, OK), (1, 0, WARN), (0, 1, WARN), (100, 0, WARN),
                                                        (100, 1, CRITICAL)])
def test_any_message_in_the_dead_letter_queue_is_at_least_a_warning(waiting: int, in_flight: int, status: str) -> None:
    redrive = json.dumps({"deadLetterTargetArn": DLQ_ARN, "maxReceiveCount": "5"})
    policy = _aws_sqs.parse_redrive_policy({"RedrivePolicy": redrive})
    finding = _aws_sqs.dlq_finding(TARGET, policy, attrs(ApproximateNumberOfMessages=waiting,
                                                         ApproximateNumberOfMessagesNotVisible=in_flight), TH)
    assert (finding.status, finding.value) == (status, waiting + in_flight)
    assert "after 5 receives each" in finding.evidence and DLQ_ARN in finding.evidence
    if status != OK:
        assert finding.remediation.endswith(f"aws sqs start-message-move-task --source-arn {DLQ_ARN}")


@pytest.mark.parametrize("require, status", [(True, WARN), (False, OK)])
def test_a_queue_without_a_dead_letter_queue(require: bool, status: str) -> None:
    finding = _aws_sqs.dlq_finding(TARGET, None, None, _aws_sqs.SqsThresholds(require_dlq=require))
    assert finding.status == status and finding.value is None and "no RedrivePolicy" in finding.evidence


@pytest.mark.parametrize("policy", ["not json", json.dumps({"maxReceiveCount": 3}),
                                    json.dumps({"deadLetterTargetArn": "arn:aws:sns:us-east-1:1:topic"})])
def test_a_malformed_redrive_policy_is_said(policy: str) -> None:
    with pytest.raises(IncidentResponseError):
        _aws_sqs.parse_redrive_policy({"RedrivePolicy": policy})


@pytest.mark.parametrize("reference, name", [
    ("incident-response-jobs", "incident-response-jobs"),
    ("https://sqs.us-east-1.amazonaws.com/123456789012/incident-response-jobs", "incident-response-jobs"),
    ("http://10.77.1.1:5000/123456789012/jobs.fifo/", "jobs.fifo"),
])
def test_queue_names_from_names_and_urls(reference: str, name: str) -> None:
    assert _aws_sqs.queue_name(reference) == name


@pytest.mark.parametrize("params, message", [
    ({"queues": []}, "at least one queue"),
    ({"queues": ["a", "https://sqs.us-east-1.amazonaws.com/1/a"]}, "each queue may be named once"),
    ({"queues": ["a"], "depth_warn": 10, "depth_critical": 5}, "depth_warn (10) is above depth_critical (5)"),
    ({"queues": ["a"], "dlq_messages_warn": -1}, "must not be negative"),
    ({"queues": ["a"], "in_flight_limit": 0}, "in_flight_limit must be a positive"),
])
def test_bad_options_fail_before_any_call(params: dict[str, t.Any], message: str) -> None:
    with pytest.raises(IncidentResponseError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _aws_sqs.check_sqs_queue_health(params, session=t.cast(_aws.AwsSession, None), now=lambda: NOW)


# --- the whole check, against moto ---------------------------------------------------------------------------


@pytest.fixture
def session(moto_session: _aws.AwsSession) -> _aws.AwsSession:
    return moto_session


def make_queues(session: _aws.AwsSession, backlog: int, dead: int) -> str:
    sqs = session.client("sqs")
    dlq = sqs.create_queue(QueueName="incident-response-jobs-dlq")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName="incident-response-jobs", Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 5})})["QueueUrl"]
    for start in range(0, backlog, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "job"}
                                                      for i in range(start, min(backlog, start + 10))])
    for number in range(dead):
        sqs.send_message(QueueUrl=dlq, MessageBody=f"failed job {number}")
    return url


def put_age(session: _aws.AwsSession, seconds: float, minutes_ago: int = 2) -> None:
    session.client("cloudwatch").put_metric_data(Namespace="AWS/SQS", MetricData=[{
        "MetricName": "ApproximateAgeOfOldestMessage",
        "Dimensions": [{"Name": "QueueName", "Value": "incident-response-jobs"}],
        "Timestamp": NOW - datetime.timedelta(minutes=minutes_ago), "Value": seconds, "Unit": "Seconds"}])


def by_name(result: dict[str, t.Any]) -> dict[str, dict[str, t.Any]]:
    return {f["name"]: f for f in result["findings"]}


def test_a_backlog_with_dead_letters_is_named_with_its_dead_letter_queue(session: _aws.AwsSession) -> None:
    make_queues(session, backlog=25, dead=3)
    put_age(session, 1380.0)
    result = _aws_sqs.check_sqs_queue_health({"queues": ["incident-response-jobs"], "depth_warn": 20}, session, lambda: NOW)
    found = by_name(result)
    assert found["sqs_depth"]["status"] == WARN and found["sqs_depth"]["value"] == 25
    assert found["sqs_oldest_age"]["status"] == CRITICAL and found["sqs_oldest_age"]["value"] == 1380.0
    assert found["sqs_dlq_depth"]["status"] == WARN and found["sqs_dlq_depth"]["value"] == 3
    assert found["sqs_in_flight"]["status"] == OK
    queue = result["queues"][0]
    assert queue["dead_letter_queue"]["name"] == "incident-response-jobs-dlq" and queue["messages"] == 25
    assert queue["oldest_age_seconds"] == 1380.0 and result["errors"] == [] and result["status"] == CRITICAL


def test_an_age_outside_the_window_is_not_read(session: _aws.AwsSession) -> None:
    make_queues(session, backlog=1, dead=0)
    put_age(session, 1380.0, minutes_ago=30)
    found = by_name(_aws_sqs.check_sqs_queue_health({"queues": ["incident-response-jobs"]}, session, lambda: NOW))
    assert found["sqs_oldest_age"]["status"] == UNKNOWN
    assert found["sqs_dlq_depth"]["status"] == OK and found["sqs_depth"]["status"] == OK


def test_a_missing_queue_is_critical_and_the_other_queues_are_still_judged(session: _aws.AwsSession) -> None:
    url = make_queues(session, backlog=0, dead=0)
    result = _aws_sqs.check_sqs_queue_health({"queues": ["incident-response-jbos", url]}, session, lambda: NOW)
    assert [q["name"] for q in result["queues"]] == ["incident-response-jbos", "incident-response-jobs"]
    missing = result["queues"][0]["findings"][0]
    assert (missing["name"], missing["status"]) == ("sqs_queue", CRITICAL)
    assert "not found: AWS.SimpleQueueService.NonExistentQueue" in missing["evidence"]
    assert result["queues"][1]["status"] == OK and len(result["errors"]) == 1


def test_a_redrive_policy_to_a_deleted_queue_is_critical(session: _aws.AwsSession) -> None:
    make_queues(session, backlog=0, dead=0)
    sqs = session.client("sqs")
    sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName="incident-response-jobs-dlq")["QueueUrl"])
    found = by_name(_aws_sqs.check_sqs_queue_health({"queues": ["incident-response-jobs"]}, session, lambda: NOW))
    assert found["sqs_dlq_depth"]["status"] == CRITICAL
    assert found["sqs_dlq_depth"]["remediation"].startswith(f"The RedrivePolicy names {DLQ_ARN}")


def test_access_denied_is_unknown_and_names_the_iam_action(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    session = _aws.AwsSession(_aws.AwsSettings(region="us-east-1", access_key="AKIDEXAMPLE", secret_key="not-a-secret"))
    stubber = Stubber(session.client("sqs"))
    stubber.add_client_error("get_queue_url", "AccessDenied", "not authorized to perform sqs:GetQueueUrl", 403)
    with stubber:
        result = _aws_sqs.check_sqs_queue_health({"queues": ["incident-response-jobs"]}, session, lambda: NOW)
    finding = result["findings"][0]
    assert (finding["name"], finding["status"]) == ("sqs_queue", UNKNOWN)
    assert "Grant sqs:GetQueueUrl" in finding["remediation"] and result["status"] == UNKNOWN
