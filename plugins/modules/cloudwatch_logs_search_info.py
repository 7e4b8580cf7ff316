#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cloudwatch_logs_search_info
short_description: Count the log events that match a pattern over the last minutes, with a sample
version_added: 0.1.0
description:
  - The runbook's C(aws logs tail /aws/lambda/incident-response --filter '5xx') as a verdict. It searches a
    CloudWatch Logs group with C(FilterLogEvents) over the last O(window_minutes) and returns the total count,
    the count per log stream, and the newest O(sample_size) matching lines.
  - Pages through the results up to O(max_events) events and O(max_pages) calls. A search that stops at a
    cap says so (RV(truncated)), and its count is then a lower bound.
  - With O(warn_threshold) or O(critical_threshold), a count above them is C(warn) or C(critical). Without
    thresholds the finding is C(ok) and only reports the count.
options:
  log_group_name:
    description:
      - The log group, for example V(/aws/lambda/incident-response).
    type: str
    required: true
  filter_pattern:
    description:
      - A CloudWatch Logs filter pattern, for example V(5xx), V("status=503") or V(?ERROR ?Exception).
        Patterns are case-sensitive. Empty matches every event.
    type: str
    default: ""
  window_minutes:
    description:
      - How far back to search, from now. The default is that of C(aws logs tail).
    type: float
    default: 10
  log_stream_names:
    description:
      - Search only these streams.
    type: list
    elements: str
  log_stream_prefix:
    description:
      - Search only streams whose name starts with this. Ignored when O(log_stream_names) is set.
    type: str
  warn_threshold:
    description:
      - More matching events than this is C(warn).
    type: int
  critical_threshold:
    description:
      - More matching events than this is C(critical).
    type: int
  sample_size:
    description:
      - How many of the newest matching lines to return.
    type: int
    default: 20
  max_line_length:
    description:
      - Longer sample lines are cut to this many characters.
    type: int
    default: 1000
  max_events:
    description:
      - Stop counting after this many matching events.
    type: int
    default: 10000
  max_pages:
    description:
      - Stop after this many C(FilterLogEvents) calls. CloudWatch may return empty pages while it searches
        a large group; this bounds the time spent.
    type: int
    default: 100
  page_size:
    description:
      - Events asked for per call (1 to 10000).
    type: int
    default: 10000
extends_documentation_fragment:
  - platform_eng.incident_response.attributes
  - platform_eng.incident_response.attributes.info_module
  - platform_eng.incident_response.attributes.idempotent_not_modify_state
  - platform_eng.incident_response.aws
  - platform_eng.incident_response.fail_on
notes:
  - Needs C(logs:FilterLogEvents).
  - Sample lines are returned as logged. If the application logs secrets, set C(no_log) on the task or
    O(sample_size=0).
  - A log group that does not exist is an C(unknown) finding (there is nothing to count), not zero matches.
seealso:
  - module: platform_eng.incident_response.cloudwatch_metric_info
author:
  - Platform Engineering Team (@platform-eng)
"""

EXAMPLES = r"""
- name: Check error logs (runbook 'High Error Rate', diagnosis)
  platform_eng.incident_response.cloudwatch_logs_search_info:
    log_group_name: /aws/lambda/incident-response
    filter_pattern: 5xx
    window_minutes: 5
    region: us-east-1
  register: error_logs

- name: Show where the errors come from
  ansible.builtin.debug:
    msg: "{{ error_logs.total_matches }} 5xx lines; busiest stream {{ error_logs.streams[0].log_stream_name | default('none') }}"

- name: Fail when database connection errors pile up
  platform_eng.incident_response.cloudwatch_logs_search_info:
    log_group_name: /aws/lambda/incident-response
    filter_pattern: '"could not connect to server"'
    window_minutes: 15
    warn_threshold: 0
    critical_threshold: 50
    sample_size: 5
    fail_on: critical
"""

RETURN = r"""
status:
  description: The worst status among the findings.
  returned: always
  type: str
  sample: ok
counts:
  description: How many findings have each status.
  returned: always
  type: dict
  sample: {ok: 1, warn: 0, critical: 0, unknown: 0}
findings:
  description: One C(log_matches) finding whose value is the number of matching events.
  returned: always
  type: list
  elements: dict
  sample:
    - name: log_matches
      target: logs:/aws/lambda/incident-response
      status: ok
      value: 35
      threshold: {warn: null, critical: null}
      unit: events
      evidence: "35 events matched '5xx' in /aws/lambda/incident-response over the last 10 min (to 2025-11-10T14:23:00Z) across 3 stream(s)"
      remediation: null
total_matches:
  description: The number of matching events (a lower bound when RV(truncated)); V(null) when the search failed.
  returned: always
  type: int
  sample: 35
truncated:
  description: Whether the search stopped at O(max_events) or O(max_pages).
  returned: always
  type: bool
  sample: false
truncated_reason:
  description: Which cap stopped the search.
  returned: when the search ran
  type: str
  sample: max_events=10000 reached
pages:
  description: How many C(FilterLogEvents) calls were made.
  returned: always
  type: int
  sample: 1
streams:
  description: Matches per log stream, busiest first (at most 50 streams).
  returned: always
  type: list
  elements: dict
  sample:
    - log_stream_name: "2025/11/10/[$LATEST]6f1c1a0e9b2d4c7e8f00112233445566"
      matches: 12
stream_count:
  description: How many streams had a match.
  returned: when the search ran
  type: int
  sample: 3
sample:
  description: The newest matching lines, newest first.
  returned: always
  type: list
  elements: dict
  sample:
    - timestamp: "2025-11-10T14:22:53.338000Z"
      log_stream_name: "2025/11/10/[$LATEST]6f1c1a0e9b2d4c7e8f00112233445566"
      message: "[ERROR] 2025-11-10T14:22:53.338Z 6f1c1a0e 5xx status=503 method=POST path=/api/incidents"
log_group_name:
  description: The log group searched.
  returned: always
  type: str
  sample: /aws/lambda/incident-response
filter_pattern:
  description: The pattern used.
  returned: always
  type: str
  sample: 5xx
window:
  description: The time range searched.
  returned: always
  type: dict
  sample: {start: "2025-11-10T14:13:00Z", end: "2025-11-10T14:23:00Z"}
region:
  description: The region searched.
  returned: always
  type: str
  sample: us-east-1
error:
  description: The AWS error that stopped the search, with operation, resource and region.
  returned: when an AWS call failed
  type: str
  sample: >-
    Failed to search log group /aws/lambda/incident-response in us-east-1: not found:
    ResourceNotFoundException (The specified log group does not exist.)
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.platform_eng.incident_response.plugins.module_utils._aws import (
    BOTO3_IMPORT_ERROR,
    aws_argument_spec,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._aws_cloudwatch import check_cloudwatch_logs_search
from ansible_collections.platform_eng.incident_response.plugins.module_utils._verdict import (
    fail_on_argument_spec,
    run_check,
)


def main() -> None:
    argument_spec = aws_argument_spec()
    argument_spec.update(
        log_group_name=dict(type="str", required=True),
        filter_pattern=dict(type="str", default=""),
        window_minutes=dict(type="float", default=10),
        log_stream_names=dict(type="list", elements="str"),
        log_stream_prefix=dict(type="str"),
        warn_threshold=dict(type="int"),
        critical_threshold=dict(type="int"),
        sample_size=dict(type="int", default=20),
        max_line_length=dict(type="int", default=1000),
        max_events=dict(type="int", default=10000),
        max_pages=dict(type="int", default=100),
        page_size=dict(type="int", default=10000),
        **fail_on_argument_spec(),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    run_check(module, check_cloudwatch_logs_search, "CloudWatch Logs search", libraries=[("boto3", BOTO3_IMPORT_ERROR)])


if __name__ == "__main__":
    main()
