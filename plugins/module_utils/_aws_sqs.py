# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""SQS queue health: the backlog, the messages in flight, the oldest message's age and the dead-letter queue.

SQS reports depth and in-flight counts as queue attributes, but the age of
the oldest message only as the CloudWatch metric
``ApproximateAgeOfOldestMessage``. The check reads that metric and never
receives a message to look at its timestamp: a receive hides the message
from the consumers for the visibility timeout and counts towards its
``maxReceiveCount``, so a health check would push messages into the
dead-letter queue. No datapoint is ``unknown`` (``ok`` for an empty queue).

The evaluators (``*_finding``) are pure functions of the attributes and the
metric series, so the thresholds are tested without AWS.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import typing as t

from ansible_collections.platform_eng.incident_response.plugins.module_utils._aws import (
    AwsCallError,
    AwsSession,
    AwsSettings,
    call,
    format_age,
    iso,
    utcnow,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._aws_cloudwatch import (
    Series,
    fetch_series,
    metric_query,
    metric_window,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._fanout import fan_out
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    CRITICAL,
    OK,
    UNKNOWN,
    WARN,
    Finding,
    IncidentResponseError,
    rated_finding,
    summarize,
    threshold_values,
)

# The AWS quota for messages received but not yet deleted, standard and FIFO queues alike.
IN_FLIGHT_LIMIT = 120_000
MAX_WORKERS = 8
# A message this close to its queue's retention period is about to be deleted unprocessed.
RETENTION_CRITICAL_SHARE = 0.8

REMEDIATION_BACKLOG = (
    "The queue is backing up: its consumers are not keeping up or not running. Check them first (runbook 'High "
    "Error Rate': check for recent deployments, review application logs for stack traces; if recent deployment, "
    "rollback immediately), then scale them up if they are saturated. Do not purge the queue: its messages are "
    "the work still to do."
)
REMEDIATION_AGE = (
    "The oldest message has waited too long: the consumers are stuck, stopped, or fail on it again and again. "
    "Read the consumers' logs for the message they fail on; if a recent deploy broke them, roll back (runbook "
    "'High Error Rate', resolution 3)."
)
REMEDIATION_EXPIRING = (
    "Messages are close to the queue's retention period and will be deleted unprocessed: get the consumers "
    "running now (or raise MessageRetentionPeriod, at most 14 days, to buy time)."
)
REMEDIATION_IN_FLIGHT = (
    "Many messages were received but never deleted: the consumers crash or time out after receiving them (check "
    "their logs and the visibility timeout). At the in-flight limit SQS stops handing out messages."
)
REMEDIATION_NO_AGE = (
    "CloudWatch has no ApproximateAgeOfOldestMessage datapoint for this queue in the window: SQS publishes its "
    "metrics once a minute for active queues, a few minutes late. Check the queue name and region, or widen "
    "age_window_minutes."
)
REMEDIATION_NO_DLQ = (
    "The queue has no dead-letter queue: a message that always fails is retried until MessageRetentionPeriod "
    "deletes it, and it delays the others meanwhile. Add a RedrivePolicy with a maxReceiveCount."
)


def redrive_command(dlq_arn: str) -> str:
    """How to move dead letters back to their source queue, once the cause is fixed."""
    return f"aws sqs start-message-move-task --source-arn {dlq_arn}"


def remediation_dlq(dlq_name: str, dlq_arn: str) -> str:
    return (
        f"Messages failed maxReceiveCount times and wait in the dead-letter queue {dlq_name}. Read one to see why "
        f"(aws sqs receive-message on the dead-letter queue), fix the consumer, then redrive them: "
        f"{redrive_command(dlq_arn)}"
    )


@dataclasses.dataclass(frozen=True)
class SqsThresholds:
    depth_warn: float | None = 1000
    depth_critical: float | None = 10000
    oldest_age_warn_seconds: float | None = 300
    oldest_age_critical_seconds: float | None = 900
    in_flight_limit: float = IN_FLIGHT_LIMIT
    in_flight_warn_percent: float | None = 80
    in_flight_critical_percent: float | None = 95
    dlq_messages_warn: float | None = 0
    dlq_messages_critical: float | None = 100
    require_dlq: bool = True

    @classmethod
    def from_params(cls, params: t.Mapping[str, t.Any]) -> SqsThresholds:
        values: dict[str, t.Any] = threshold_values(cls, params, skip=("require_dlq",), pairs=(
            ("depth_warn", "depth_critical"),
            ("oldest_age_warn_seconds", "oldest_age_critical_seconds"),
            ("in_flight_warn_percent", "in_flight_critical_percent"),
            ("dlq_messages_warn", "dlq_messages_critical"),
        ))
        if not values["in_flight_limit"]:
            raise IncidentResponseError("in_flight_limit must be a positive number of messages")
        require_dlq = params.get("require_dlq")
        return cls(**values, require_dlq=True if require_dlq is None else bool(require_dlq))


def _count(attributes: t.Mapping[str, t.Any], name: str) -> int:
    try:
        return int(attributes.get(name) or 0)
    except (TypeError, ValueError):
        return 0


# --- evaluators -----------------------------------------------------------------


def depth_finding(target: str, attributes: t.Mapping[str, t.Any], th: SqsThresholds) -> Finding:
    visible = _count(attributes, "ApproximateNumberOfMessages")
    delayed = _count(attributes, "ApproximateNumberOfMessagesDelayed")
    evidence = f"{visible} messages waiting (ApproximateNumberOfMessages)" + (f", {delayed} delayed" if delayed else "")
    return rated_finding("sqs_depth", target, visible, th.depth_warn, th.depth_critical, "messages", evidence,
                         REMEDIATION_BACKLOG)


def in_flight_finding(target: str, attributes: t.Mapping[str, t.Any], th: SqsThresholds) -> Finding:
    in_flight = _count(attributes, "ApproximateNumberOfMessagesNotVisible")
    percent = 100.0 * in_flight / th.in_flight_limit
    evidence = (f"{in_flight} messages in flight (ApproximateNumberOfMessagesNotVisible) of the "
                f"{th.in_flight_limit:g} limit ({percent:.2f} %)")
    # Judged unrounded: one message above 80 % of the limit is above it, even if it rounds to 80.00.
    finding = rated_finding("sqs_in_flight", target, percent, th.in_flight_warn_percent,
                            th.in_flight_critical_percent, "% of the in-flight limit", evidence, REMEDIATION_IN_FLIGHT)
    finding.value = round(percent, 3)
    return finding


def oldest_age_finding(target: str, attributes: t.Mapping[str, t.Any], age: Series, th: SqsThresholds,
                       window_text: str) -> Finding:
    """The newest datapoint of ApproximateAgeOfOldestMessage (Maximum) against the age thresholds.

    Equal to a threshold passes. An age beyond 80 % of the retention period is critical whatever the
    thresholds say: those messages are about to be deleted unprocessed.
    """
    threshold = {"warn": th.oldest_age_warn_seconds, "critical": th.oldest_age_critical_seconds}
    retention = _count(attributes, "MessageRetentionPeriod")
    messages = sum(_count(attributes, name) for name in (
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"))
    latest = age.latest()
    if latest is None:
        if messages == 0:
            return Finding("sqs_oldest_age", target, OK, 0, threshold, "s",
                           f"the queue is empty; no ApproximateAgeOfOldestMessage datapoint {window_text}")
        return Finding("sqs_oldest_age", target, UNKNOWN, None, threshold, "s",
                       f"no ApproximateAgeOfOldestMessage datapoint {window_text}, with {messages} messages in the "
                       "queue", REMEDIATION_NO_AGE)
    evidence = (f"oldest message {format_age(latest)} old (ApproximateAgeOfOldestMessage, newest datapoint "
                f"{window_text})")
    finding = rated_finding("sqs_oldest_age", target, round(latest, 1), th.oldest_age_warn_seconds,
                            th.oldest_age_critical_seconds, "s", evidence, REMEDIATION_AGE)
    if retention:
        evidence += f"; messages are deleted after {format_age(retention)} (MessageRetentionPeriod)"
        finding.evidence = evidence
        if latest > RETENTION_CRITICAL_SHARE * retention:
            finding.status, finding.remediation = CRITICAL, REMEDIATION_EXPIRING
            finding.evidence += f", and the oldest is past {RETENTION_CRITICAL_SHARE:.0%} of that"
    return finding


def parse_redrive_policy(attributes: t.Mapping[str, t.Any]) -> dict[str, t.Any] | None:
    """The queue's RedrivePolicy as a dict with the DLQ's ARN, name, account and region; None without one."""
    raw = attributes.get("RedrivePolicy")
    if not raw:
        return None
    try:
        policy = json.loads(raw) if isinstance(raw, str) else dict(raw)
        arn = str(policy["deadLetterTargetArn"])
    except (ValueError, TypeError, KeyError):
        raise IncidentResponseError(f"the queue's RedrivePolicy is not what SQS documents: {raw!r}") from None
    parts = arn.split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        raise IncidentResponseError(f"deadLetterTargetArn {arn!r} is not an SQS queue ARN")
    return {"arn": arn, "region": parts[3], "account": parts[4], "name": parts[5],
            "max_receive_count": _count(policy, "maxReceiveCount") or None}


def dlq_finding(target: str, policy: t.Mapping[str, t.Any] | None, dlq_attributes: t.Mapping[str, t.Any] | None,
                th: SqsThresholds) -> Finding:
    """Any message in the dead-letter queue is at least a warning (above ``dlq_messages_warn``, 0 by default)."""
    threshold = {"warn": th.dlq_messages_warn, "critical": th.dlq_messages_critical}
    if policy is None:
        status = WARN if th.require_dlq else OK
        return Finding("sqs_dlq_depth", target, status, None, threshold, "messages",
                       "no dead-letter queue (no RedrivePolicy)", REMEDIATION_NO_DLQ if status != OK else None)
    attributes = dlq_attributes or {}
    waiting = sum(_count(attributes, name) for name in (
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"))
    receives = f", after {policy['max_receive_count']} receives each" if policy.get("max_receive_count") else ""
    evidence = f"{waiting} messages in the dead-letter queue {policy['name']} ({policy['arn']}){receives}"
    return rated_finding("sqs_dlq_depth", target, waiting, th.dlq_messages_warn, th.dlq_messages_critical,
                         "messages", evidence, remediation_dlq(policy["name"], policy["arn"]))


# --- AWS ------------------------------------------------------------------------


def queue_name(reference: str) -> str:
    """A queue name from a name or a queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)."""
    text = reference.strip()
    if not text:
        raise IncidentResponseError("queues: a queue name or URL must not be empty")
    return text.rstrip("/").rsplit("/", 1)[-1] if "://" in text else text


def _attributes(session: AwsSession, url: str, name: str) -> dict[str, t.Any]:
    answer = call(session, "sqs", "get_queue_attributes", "read the attributes of SQS queue", name,
                  "sqs:GetQueueAttributes", QueueUrl=url, AttributeNames=["All"])
    return dict(answer.get("Attributes") or {})


def _queue_url(session: AwsSession, name: str, account: str | None = None) -> str:
    kwargs: dict[str, t.Any] = {"QueueName": name}
    if account:
        kwargs["QueueOwnerAWSAccountId"] = account
    answer = call(session, "sqs", "get_queue_url", "find SQS queue", name, "sqs:GetQueueUrl", **kwargs)
    return str(answer["QueueUrl"])


def describe_queue(attributes: t.Mapping[str, t.Any], name: str, url: str) -> dict[str, t.Any]:
    return {
        "name": name,
        "url": url,
        "arn": attributes.get("QueueArn"),
        "fifo": str(attributes.get("FifoQueue", "false")).lower() == "true",
        "messages": _count(attributes, "ApproximateNumberOfMessages"),
        "in_flight": _count(attributes, "ApproximateNumberOfMessagesNotVisible"),
        "delayed": _count(attributes, "ApproximateNumberOfMessagesDelayed"),
        "oldest_age_seconds": None,
        "retention_seconds": _count(attributes, "MessageRetentionPeriod") or None,
        "visibility_timeout_seconds": _count(attributes, "VisibilityTimeout"),
        "dead_letter_queue": None,
    }


def check_queue(session: AwsSession, reference: str, th: SqsThresholds, start: datetime.datetime,
                end: datetime.datetime, window_text: str) -> dict[str, t.Any]:
    """One queue's findings and description; AWS failures become findings, never exceptions."""
    name = queue_name(reference)
    target = f"sqs:{name}"
    report: dict[str, t.Any] = {"name": name, "url": None, "errors": []}
    try:
        url = reference.strip() if "://" in reference else _queue_url(session, name)
        attributes = _attributes(session, url, name)
    except AwsCallError as exc:
        report.update(summarize([exc.problem.finding("sqs_queue", target)]))
        report["errors"].append(exc.problem.message)
        return report
    report.update(describe_queue(attributes, name, url))
    findings = [depth_finding(target, attributes, th), in_flight_finding(target, attributes, th)]

    query = metric_query("age", "AWS/SQS", "ApproximateAgeOfOldestMessage", {"QueueName": name}, "Maximum", 60)
    try:
        age = fetch_series(session, [query], start, end, target)["age"]
        findings.append(oldest_age_finding(target, attributes, age, th, window_text))
        report["oldest_age_seconds"] = age.latest()
    except AwsCallError as exc:
        findings.append(exc.problem.finding("sqs_oldest_age", target, not_found_status=UNKNOWN))
        report["errors"].append(exc.problem.message)

    try:
        policy = parse_redrive_policy(attributes)
    except IncidentResponseError as exc:
        findings.append(Finding("sqs_dlq_depth", target, UNKNOWN, evidence=str(exc), remediation=REMEDIATION_NO_DLQ))
        policy = None
    else:
        if policy is None:
            findings.append(dlq_finding(target, None, None, th))
        else:
            try:
                dlq_url = _queue_url(session, policy["name"], policy["account"])
                dlq_attributes = _attributes(session, dlq_url, policy["name"])
            except AwsCallError as exc:
                # A redrive policy that points nowhere: failed messages have no place to go.
                findings.append(exc.problem.finding(
                    "sqs_dlq_depth", target,
                    remediation=f"The RedrivePolicy names {policy['arn']}, which could not be read: "
                                + exc.problem.remediation()))
                report["errors"].append(exc.problem.message)
            else:
                findings.append(dlq_finding(target, policy, dlq_attributes, th))
                report["dead_letter_queue"] = {
                    "name": policy["name"], "arn": policy["arn"], "url": dlq_url,
                    "max_receive_count": policy["max_receive_count"],
                    "messages": _count(dlq_attributes, "ApproximateNumberOfMessages"),
                    "in_flight": _count(dlq_attributes, "ApproximateNumberOfMessagesNotVisible"),
                }
    report.update(summarize(findings))
    return report


def check_sqs_queue_health(
    params: t.Mapping[str, t.Any], session: AwsSession | None = None, now: t.Callable[[], datetime.datetime] = utcnow
) -> dict[str, t.Any]:
    references = [str(q) for q in params.get("queues") or []]
    if not references:
        raise IncidentResponseError("queues: give at least one queue name or URL")
    names = [queue_name(q) for q in references]
    if len(set(names)) != len(names):
        raise IncidentResponseError("queues: each queue may be named once")
    th = SqsThresholds.from_params(params)
    minutes = float(params.get("age_window_minutes") or 5)
    start, end = metric_window(now(), minutes)
    window_text = f"over {minutes:g} min to {iso(end)}"
    session = session or AwsSession(AwsSettings.from_params(params))
    session.client("sqs"), session.client("cloudwatch")  # built once, before the threads share them

    outcomes = fan_out(lambda ref: check_queue(session, ref, th, start, end, window_text), references,
                       max_workers=MAX_WORKERS)
    queues, findings, errors = [], [], []
    for outcome in outcomes:
        if outcome.result is None:
            # A bug or an unexpected exception in one queue's check must not hide the others.
            name = queue_name(outcome.item)
            failure = Finding("sqs_queue", f"sqs:{name}", UNKNOWN, evidence=f"could not check: {outcome.error}")
            report = {"name": name, "url": None, **summarize([failure]), "errors": [str(outcome.error)]}
        else:
            report = outcome.result
        queues.append(report)
        findings += report["findings"]
        errors += report.pop("errors")
    return {**summarize(findings), "queues": queues, "region": session.region, "errors": errors}
