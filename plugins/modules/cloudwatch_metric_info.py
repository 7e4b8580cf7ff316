#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cloudwatch_metric_info
short_description: Judge CloudWatch metrics over a window against thresholds
version_added: 0.1.0
description:
  - For each entry of O(metrics), reads one statistic or percentile of a CloudWatch metric over the last
    O(window_minutes) and compares it with its thresholds, returning one finding per entry.
  - With O(metrics[].divide_by), the value is a ratio of two metrics with the same namespace, dimensions and
    statistic, computed here from their sums (not with metric math), so numerator and denominator are
    returned as evidence. This covers the runbook's C(high_error_rate) alert ("5xx > 5 % over 5 minutes"),
    from ALB C(HTTPCode_Target_5XX_Count) and C(RequestCount).
  - Percentiles (V(p95), V(p99.9)) are computed by CloudWatch over the whole window when O(period_seconds) is
    left at its default of one period per window; this covers C(high_latency) ("P95 > 500 ms") from ALB
    C(TargetResponseTime) in seconds with O(metrics[].multiplier=1000).
  - Entries are read concurrently, one C(GetMetricData) call each, so one failing entry does not hide the others.
options:
  metrics:
    description:
      - The metrics to judge.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - The finding's name; unique within the call. Defaults to C(metric_<metric_name>).
        type: str
      namespace:
        description:
          - The CloudWatch namespace, for example V(AWS/ApplicationELB).
        type: str
        required: true
      metric_name:
        description:
          - The metric, for example V(HTTPCode_Target_5XX_Count). Case-sensitive.
        type: str
        required: true
      dimensions:
        description:
          - Dimension names and values; they must match the metric's dimensions exactly.
        type: dict
        default: {}
      statistic:
        description:
          - V(SampleCount), V(Average), V(Sum), V(Minimum), V(Maximum) or a percentile such as V(p95) or V(p99.9).
        type: str
        default: Average
      divide_by:
        description:
          - Another metric in the same namespace with the same dimensions. The value becomes
            O(metrics[].multiplier) x this metric's statistic / the other's.
        type: str
      multiplier:
        description:
          - Applied to the value before it is compared, for example V(100) for a percentage or V(1000) for
            seconds to milliseconds.
        type: float
        default: 1
      unit:
        description:
          - A label for the value in findings, for example V(%) or V(ms). It does not select or convert data.
        type: str
      warn_threshold:
        description:
          - Beyond this (in the direction of O(metrics[].comparison)) the finding is C(warn).
        type: float
      critical_threshold:
        description:
          - Beyond this the finding is C(critical). A value equal to a threshold passes.
        type: float
      comparison:
        description:
          - V(greater_than) when higher is worse (errors, latency); V(less_than) when lower is worse (free space).
        type: str
        default: greater_than
        choices: [greater_than, less_than]
      missing_data:
        description:
          - The status when the window has no datapoints (or nothing to divide by), as CloudWatch alarms'
            C(TreatMissingData). ALB metrics are absent, not zero, when there is no traffic.
        type: str
        default: unknown
        choices: [ok, warn, critical, unknown]
  window_minutes:
    description:
      - The window, ending at the last whole minute. The runbook's alerts use 5 minutes.
    type: float
    default: 5
  period_seconds:
    description:
      - The CloudWatch period, a multiple of 60. Defaults to the whole window, so each statistic (and each
        percentile) is computed by CloudWatch over the whole window. With shorter periods, counts are summed,
        averages averaged and a percentile is the worst period's.
    type: int
extends_documentation_fragment:
  - platform_eng.incident_response.attributes
  - platform_eng.incident_response.attributes.info_module
  - platform_eng.incident_response.attributes.idempotent_not_modify_state
  - platform_eng.incident_response.aws
  - platform_eng.incident_response.fail_on
notes:
  - Needs C(cloudwatch:GetMetricData).
  - Most AWS metrics arrive one to three minutes late, so the newest minute of the window may be missing
    or partial.
seealso:
  - module: platform_eng.incident_response.cloudwatch_logs_search_info
  - module: platform_eng.incident_response.rds_instance_health_info
author:
  - Platform Engineering Team (@platform-eng)
"""

EXAMPLES = r"""
- name: The runbook's alerts, high_error_rate and high_latency, from the load balancer's metrics
  platform_eng.incident_response.cloudwatch_metric_info:
    region: us-east-1
    window_minutes: "{{ incident_response_thresholds.error_rate_window_minutes }}"
    metrics:
      - name: error_rate
        namespace: AWS/ApplicationELB
        metric_name: HTTPCode_Target_5XX_Count
        divide_by: RequestCount
        dimensions:
          LoadBalancer: app/incident-response-alb/50dc6c495c0c9188
        statistic: Sum
        multiplier: 100
        unit: "%"
        critical_threshold: "{{ incident_response_thresholds.error_rate_percent }}"
      - name: latency_p95
        namespace: AWS/ApplicationELB
        metric_name: TargetResponseTime
        dimensions:
          LoadBalancer: app/incident-response-alb/50dc6c495c0c9188
        statistic: p95
        multiplier: 1000
        unit: ms
        critical_threshold: "{{ incident_response_thresholds.latency_p95_ms }}"
  register: alerts

- name: Fail when the database is close to full
  platform_eng.incident_response.cloudwatch_metric_info:
    window_minutes: 15
    metrics:
      - name: db_free_storage
        namespace: AWS/RDS
        metric_name: FreeStorageSpace
        dimensions:
          DBInstanceIdentifier: incident-response-prod
        statistic: Minimum
        unit: bytes
        comparison: less_than
        warn_threshold: 21474836480      # 20 GiB
        critical_threshold: 10737418240  # 10 GiB
    fail_on: critical
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
  sample: {ok: 1, warn: 0, critical: 1, unknown: 0}
findings:
  description: One finding per entry of O(metrics), named after O(metrics[].name).
  returned: always
  type: list
  elements: dict
  sample:
    - name: error_rate
      target: "AWS/ApplicationELB:HTTPCode_Target_5XX_Count/RequestCount{LoadBalancer=app/incident-response-alb/50dc6c495c0c9188}"
      status: critical
      value: 7.0
      threshold: {warn: null, critical: 5.0, comparison: greater_than}
      unit: "%"
      evidence: "HTTPCode_Target_5XX_Count Sum 420 / RequestCount Sum 6000 x 100 = 7 % over 5 min ending 2025-11-10T14:23:00Z"
      remediation: "The metric is past its threshold: follow the runbook alert it belongs to ..."
metrics:
  description: Per entry of O(metrics), what was read, in the same order.
  returned: always
  type: list
  elements: dict
  sample:
    - name: error_rate
      namespace: AWS/ApplicationELB
      metric_name: HTTPCode_Target_5XX_Count
      dimensions: {LoadBalancer: app/incident-response-alb/50dc6c495c0c9188}
      statistic: Sum
      divide_by: RequestCount
      unit: "%"
      datapoints: 1
      numerator: 420.0
      denominator: 6000.0
      value: 7.0
  contains:
    name:
      description: The entry's name, as in its finding.
      returned: always
      type: str
      sample: error_rate
    namespace:
      description: The namespace read.
      returned: when the read succeeded
      type: str
      sample: AWS/ApplicationELB
    metric_name:
      description: The metric read.
      returned: when the read succeeded
      type: str
      sample: HTTPCode_Target_5XX_Count
    dimensions:
      description: The dimensions read.
      returned: when the read succeeded
      type: dict
      sample: {LoadBalancer: app/incident-response-alb/50dc6c495c0c9188}
    statistic:
      description: The statistic read.
      returned: when the read succeeded
      type: str
      sample: Sum
    divide_by:
      description: The denominator metric, or V(null).
      returned: when the read succeeded
      type: str
      sample: RequestCount
    unit:
      description: The label given in O(metrics[].unit).
      returned: when the read succeeded
      type: str
      sample: "%"
    datapoints:
      description: How many periods had data.
      returned: when the read succeeded
      type: int
      sample: 1
    numerator:
      description: The statistic of the metric over the window; V(null) without data.
      returned: when the read succeeded
      type: float
      sample: 420.0
    denominator:
      description: The statistic of O(metrics[].divide_by) over the window.
      returned: when the read succeeded
      type: float
      sample: 6000.0
    value:
      description: The value judged, after O(metrics[].multiplier); V(null) when there was nothing to judge.
      returned: always
      type: float
      sample: 7.0
    error:
      description: Why the read failed, with operation, metric and region.
      returned: when the read failed
      type: str
      sample: "Failed to get metric data for AWS/ApplicationELB:TargetResponseTime in us-east-1: throttled: Throttling"
window:
  description: The window and period read.
  returned: always
  type: dict
  sample: {start: "2025-11-10T14:18:00Z", end: "2025-11-10T14:23:00Z", period_seconds: 300}
region:
  description: The region the metrics were read in.
  returned: always
  type: str
  sample: us-east-1
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.platform_eng.incident_response.plugins.module_utils._aws import (
    BOTO3_IMPORT_ERROR,
    aws_argument_spec,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._aws_cloudwatch import check_cloudwatch_metric
from ansible_collections.platform_eng.incident_response.plugins.module_utils._verdict import (
    fail_on_argument_spec,
    run_check,
)


def main() -> None:
    metric_options = dict(
        name=dict(type="str"),
        namespace=dict(type="str", required=True),
        metric_name=dict(type="str", required=True),
        dimensions=dict(type="dict", default={}),
        statistic=dict(type="str", default="Average"),
        divide_by=dict(type="str"),
        multiplier=dict(type="float", default=1.0),
        unit=dict(type="str"),
        warn_threshold=dict(type="float"),
        critical_threshold=dict(type="float"),
        comparison=dict(type="str", default="greater_than", choices=["greater_than", "less_than"]),
        missing_data=dict(type="str", default="unknown", choices=["ok", "warn", "critical", "unknown"]),
    )
    argument_spec = aws_argument_spec()
    argument_spec.update(
        metrics=dict(type="list", elements="dict", required=True, options=metric_options),
        window_minutes=dict(type="float", default=5),
        period_seconds=dict(type="int"),
        **fail_on_argument_spec(),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    run_check(module, check_cloudwatch_metric, "CloudWatch metrics", libraries=[("boto3", BOTO3_IMPORT_ERROR)])


if __name__ == "__main__":
    main()
