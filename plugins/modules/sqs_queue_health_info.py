#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: sqs_queue_health_info
short_description: Judge SQS queues by their backlog, messages in flight, oldest message and dead-letter queue
version_added: 0.2.0
description:
  - Reads each queue of O(queues) (the runbook's queue dependency, SQS), all at once, and returns a verdict as
    findings instead of raw attributes.
  - C(sqs_depth) judges C(ApproximateNumberOfMessages), the messages waiting, against O(depth_warn) and
    O(depth_critical).
  - C(sqs_in_flight) judges C(ApproximateNumberOfMessagesNotVisible), messages received but not deleted, as a share
    of O(in_flight_limit).
  - C(sqs_oldest_age) judges the newest datapoint of the CloudWatch metric C(ApproximateAgeOfOldestMessage)
    (C(Maximum), one-minute periods, over O(age_window_minutes)); SQS offers that age only as a metric. An age past
    80 % of the queue's C(MessageRetentionPeriod) is V(critical) whatever the thresholds, because those messages
    are about to be deleted unprocessed. No datapoint is V(unknown), or V(ok) when the queue is empty.
  - C(sqs_dlq_depth) follows the queue's C(RedrivePolicy) to its dead-letter queue and counts the messages there
    (waiting plus in flight). Any message in it is at least V(warn); the remediation carries the redrive command
    with the dead-letter queue's ARN. A queue without a dead-letter queue is V(warn) while O(require_dlq) is true.
  - A queue that does not exist is a V(critical) C(sqs_queue) finding; an access denied is V(unknown), naming the IAM
    action to grant.
  - The module never receives a message. A receive would hide the message from the consumers for the visibility
    timeout and count towards its C(maxReceiveCount), so a health check could push work into the dead-letter queue.
options:
  queues:
    description:
      - The queues to judge, by name (V(incident-response-jobs)) or by queue URL. Each queue once.
    type: list
    elements: str
    required: true
  depth_warn:
    description:
      - Messages waiting above this are V(warn). The runbook sets no queue numbers; set this from the queue's normal
        peak.
    type: float
    default: 1000
  depth_critical:
    description: Messages waiting above this are V(critical).
    type: float
    default: 10000
  oldest_age_warn_seconds:
    description:
      - An oldest message older than this is V(warn); 5 minutes, the runbook's alert window.
    type: float
    default: 300
  oldest_age_critical_seconds:
    description: An oldest message older than this is V(critical); 15 minutes, the runbook's watch after a deploy.
    type: float
    default: 900
  age_window_minutes:
    description:
      - Minutes of C(ApproximateAgeOfOldestMessage) to read; the newest datapoint is judged. SQS publishes it once a
        minute, a few minutes late, so a window under 5 minutes often holds nothing.
    type: float
    default: 5
  in_flight_limit:
    description: The in-flight quota of the queues (AWS, standard and FIFO queues alike, 120,000).
    type: int
    default: 120000
  in_flight_warn_percent:
    description: Messages in flight above this share of O(in_flight_limit) are V(warn).
    type: float
    default: 80
  in_flight_critical_percent:
    description: Messages in flight above this share of O(in_flight_limit) are V(critical).
    type: float
    default: 95
  dlq_messages_warn:
    description:
      - Messages in the dead-letter queue above this are V(warn). V(0), the default, makes any dead letter a warning.
    type: float
    default: 0
  dlq_messages_critical:
    description: Messages in the dead-letter queue above this are V(critical).
    type: float
    default: 100
  require_dlq:
    description: Report a queue without a dead-letter queue (no C(RedrivePolicy)) as V(warn).
    type: bool
    default: true
extends_documentation_fragment:
  - platform_eng.incident_response.attributes
  - platform_eng.incident_response.attributes.info_module
  - platform_eng.incident_response.attributes.idempotent_not_modify_state
  - platform_eng.incident_response.aws
  - platform_eng.incident_response.fail_on
notes:
  - Needs C(sqs:GetQueueUrl), C(sqs:GetQueueAttributes) (on the queues and their dead-letter queues) and
    C(cloudwatch:GetMetricData).
  - SQS's counts are approximate by design; a queue that has just been filled or drained may read a little off for
    about a minute.
  - moto, which the lab's AWS is, publishes no SQS metrics at all; the lab's seed puts
    C(ApproximateAgeOfOldestMessage) datapoints itself, as it does for RDS.
seealso:
  - module: community.aws.sqs_queue
    description: Creates and changes queues; this module only reads.
  - name: Available CloudWatch metrics for Amazon SQS
    description: ApproximateAgeOfOldestMessage and the other queue metrics.
    link: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html
author:
  - Platform Engineering Team (@platform-eng)
"""

EXAMPLES = r"""
- name: Judge the service's job queue and its dead-letter queue
  platform_eng.incident_response.sqs_queue_health_info:
    queues: [incident-response-jobs]
    region: us-east-1
  register: queue_health

- name: Fail when a queue is stuck (its oldest message older than 10 minutes)
  platform_eng.incident_response.sqs_queue_health_info:
    queues:
      - https://sqs.us-east-1.amazonaws.com/123456789012/incident-response-jobs
    oldest_age_critical_seconds: 600
    fail_on: critical

- name: Read the lab's queues (moto), with the connection set once for every AWS module
  module_defaults:
    group/platform_eng.incident_response.aws:
      region: "{{ incident_response_aws.region }}"
      endpoint_url: "{{ incident_response_aws.endpoint_url }}"
  block:
    - name: Judge the queues
      platform_eng.incident_response.sqs_queue_health_info:
        queues: "{{ incident_response_queues }}"
"""

RETURN = r"""
status:
  description: The worst status among the findings.
  returned: always
  type: str
  sample: critical
counts:
  description: How many findings have each status.
  returned: always
  type: dict
  sample: {ok: 1, warn: 1, critical: 2, unknown: 0}
findings:
  description:
    - Every queue's findings, in the collection's shared shape. Names are C(sqs_depth), C(sqs_in_flight),
      C(sqs_oldest_age), C(sqs_dlq_depth), or C(sqs_queue) when the queue could not be read.
  returned: always
  type: list
  elements: dict
  sample:
    - name: sqs_dlq_depth
      target: sqs:incident-response-jobs
      status: warn
      value: 3
      threshold: {warn: 0, critical: 100}
      unit: messages
      evidence: >-
        3 messages in the dead-letter queue incident-response-jobs-dlq
        (arn:aws:sqs:us-east-1:123456789012:incident-response-jobs-dlq), after 5 receives each
      remediation: >-
        Messages failed maxReceiveCount times and wait in the dead-letter queue incident-response-jobs-dlq. ...
        aws sqs start-message-move-task --source-arn arn:aws:sqs:us-east-1:123456789012:incident-response-jobs-dlq
queues:
  description: One entry per queue, in the order given, with its own status and findings.
  returned: always
  type: list
  elements: dict
  sample:
    - name: incident-response-jobs
      url: https://sqs.us-east-1.amazonaws.com/123456789012/incident-response-jobs
      arn: arn:aws:sqs:us-east-1:123456789012:incident-response-jobs
      fifo: false
      messages: 1500
      in_flight: 10
      delayed: 0
      oldest_age_seconds: 1380.0
      retention_seconds: 345600
      visibility_timeout_seconds: 30
      dead_letter_queue:
        name: incident-response-jobs-dlq
        arn: arn:aws:sqs:us-east-1:123456789012:incident-response-jobs-dlq
        url: https://sqs.us-east-1.amazonaws.com/123456789012/incident-response-jobs-dlq
        max_receive_count: 5
        messages: 3
        in_flight: 0
      status: critical
      counts: {ok: 1, warn: 1, critical: 2, unknown: 0}
      findings: []
region:
  description: The region the queues were looked up in.
  returned: always
  type: str
  sample: us-east-1
errors:
  description: The AWS errors that stopped part of a check, with operation, resource and region.
  returned: always
  type: list
  elements: str
  sample:
    - >-
      Failed to find SQS queue incident-response-jobs in us-east-1: not found:
      AWS.SimpleQueueService.NonExistentQueue (The specified queue does not exist.)
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.platform_eng.incident_response.plugins.module_utils._aws import (
    BOTO3_IMPORT_ERROR,
    aws_argument_spec,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._aws_sqs import (
    IN_FLIGHT_LIMIT,
    check_sqs_queue_health,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._verdict import (
    fail_on_argument_spec,
    run_check,
)


def main() -> None:
    argument_spec = aws_argument_spec()
    argument_spec.update(
        queues=dict(type="list", elements="str", required=True),
        depth_warn=dict(type="float", default=1000),
        depth_critical=dict(type="float", default=10000),
        oldest_age_warn_seconds=dict(type="float", default=300),
        oldest_age_critical_seconds=dict(type="float", default=900),
        age_window_minutes=dict(type="float", default=5),
        in_flight_limit=dict(type="int", default=IN_FLIGHT_LIMIT),
        in_flight_warn_percent=dict(type="float", default=80),
        in_flight_critical_percent=dict(type="float", default=95),
        dlq_messages_warn=dict(type="float", default=0),
        dlq_messages_critical=dict(type="float", default=100),
        require_dlq=dict(type="bool", default=True),
        **fail_on_argument_spec(),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    run_check(module, check_sqs_queue_health, "SQS queue health", libraries=[("boto3", BOTO3_IMPORT_ERROR)])


if __name__ == "__main__":
    main()
