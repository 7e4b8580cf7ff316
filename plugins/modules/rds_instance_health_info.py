#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: rds_instance_health_info
short_description: Judge an RDS instance by the runbook's database rules
version_added: 0.1.0
description:
  - Reads one RDS DB instance (status, class, engine and version, Multi-AZ, storage) and its CloudWatch
    metrics C(CPUUtilization), C(DatabaseConnections), C(FreeStorageSpace), C(ReadLatency) and
    C(WriteLatency) over a window, and returns a verdict as findings instead of raw JSON.
  - The rules are the runbook's, with its words as remediation. Status not in O(healthy_statuses) is
    C(critical) (C(rds_status)). Mean CPU over the window above O(cpu_percent) is C(critical), scale up
    (C(rds_cpu)). Peak connections near C(max_connections) mean pool exhaustion (C(rds_connections)).
    C(LatestRestorableTime) further behind than O(rpo_minutes) breaks the RPO (C(rds_restorable_time)).
  - Also judges free storage against the allocated storage (C(rds_free_storage)), mean read and write
    latency (C(rds_latency)) and Multi-AZ (C(rds_multi_az)).
  - Equivalent of the runbook's C(aws rds describe-db-instances --db-instance-identifier incident-response-prod)
    plus a look at the CloudWatch dashboard.
options:
  db_instance_identifier:
    description:
      - The DB instance identifier, for example V(incident-response-prod).
    type: str
    required: true
  window_minutes:
    description:
      - How many minutes of CloudWatch data to judge, ending at the last whole minute.
    type: float
    default: 15
  cpu_percent:
    description:
      - Mean C(CPUUtilization) over the window above this is C(critical) ("scale up database if CPU > 80 %").
        Equal passes.
    type: float
    default: 80
  max_connections:
    description:
      - The instance's connection limit.
      - When not set, the C(max_connections) value of the instance's parameter group is used, or the engine's
        default formula (PostgreSQL C(LEAST({DBInstanceClassMemory/9531392},5000))) evaluated with the class's
        nominal memory. RDS keeps part of that memory for itself, so the estimate is an upper bound; set this
        option when you know the real limit.
    type: int
  connections_warn_percent:
    description:
      - Peak C(DatabaseConnections) above this share of O(max_connections) is C(warn).
    type: float
    default: 80
  connections_critical_percent:
    description:
      - Peak C(DatabaseConnections) above this share of O(max_connections) is C(critical).
    type: float
    default: 90
  free_storage_warn_percent:
    description:
      - Free storage below this share of the allocated storage is C(warn).
    type: float
    default: 20
  free_storage_critical_percent:
    description:
      - Free storage below this share of the allocated storage is C(critical).
    type: float
    default: 10
  latency_warn_ms:
    description:
      - Mean read or write latency above this many milliseconds is C(warn). The runbook sets no database
        latency threshold; 20 ms is slow for SSD-backed storage.
    type: float
    default: 20
  rpo_minutes:
    description:
      - The recovery point objective. C(LatestRestorableTime) further behind than this is C(critical).
    type: float
    default: 15
  healthy_statuses:
    description:
      - DB instance statuses that count as healthy; any other is C(critical).
    type: list
    elements: str
    default: [available]
  require_multi_az:
    description:
      - Report a Single-AZ instance as C(warn).
    type: bool
    default: true
extends_documentation_fragment:
  - platform_eng.incident_response.attributes
  - platform_eng.incident_response.attributes.info_module
  - platform_eng.incident_response.attributes.idempotent_not_modify_state
  - platform_eng.incident_response.aws
  - platform_eng.incident_response.fail_on
notes:
  - Needs C(rds:DescribeDBInstances), C(rds:DescribeDBParameters) and C(cloudwatch:GetMetricData).
  - RDS publishes metrics once a minute, a minute or two late; a brand-new instance has none, which is
    C(unknown), not C(ok).
seealso:
  - module: amazon.aws.rds_instance_info
    description: The raw describe output of RDS instances.
  - module: platform_eng.incident_response.security_group_reachability_info
  - module: platform_eng.incident_response.s3_backup_info
author:
  - Platform Engineering Team (@platform-eng)
"""

EXAMPLES = r"""
- name: Judge the production database (runbook 'Database Connection Errors', step 1)
  platform_eng.incident_response.rds_instance_health_info:
    db_instance_identifier: incident-response-prod
    region: us-east-1
  register: db_health

- name: Page when the database breaks a runbook rule
  platform_eng.incident_response.rds_instance_health_info:
    db_instance_identifier: incident-response-prod
    window_minutes: 5
    fail_on: critical

- name: Check the lab's database (moto), with the connection set once for every AWS module
  module_defaults:
    group/platform_eng.incident_response.aws:
      region: "{{ incident_response_aws.region }}"
      endpoint_url: "{{ incident_response_aws.endpoint_url }}"
  block:
    - name: Read the instance's health
      platform_eng.incident_response.rds_instance_health_info:
        db_instance_identifier: incident-response-prod
        max_connections: 450
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
  sample: {ok: 7, warn: 0, critical: 0, unknown: 0}
findings:
  description:
    - One verdict per rule, in the collection's shared shape. Names are C(rds_status), C(rds_multi_az),
      C(rds_restorable_time), C(rds_cpu), C(rds_connections), C(rds_free_storage), C(rds_latency), or
      C(rds_instance) when the instance could not be described.
  returned: always
  type: list
  elements: dict
  sample:
    - name: rds_cpu
      target: rds:incident-response-prod
      status: ok
      value: 41.8
      threshold: {warn: null, critical: 80}
      unit: "%"
      evidence: CPUUtilization mean 41.8 % (peak 45.0 %) over 15 min to 2025-11-10T14:23:00Z
      remediation: null
db_instance:
  description: What DescribeDBInstances said about the instance; V(null) when it could not be described.
  returned: always
  type: dict
  sample:
    identifier: incident-response-prod
    status: available
    instance_class: db.t3.medium
    engine: postgres
    engine_version: "15.4"
    multi_az: true
    availability_zone: us-east-1a
    secondary_availability_zone: us-east-1b
    storage_type: gp2
    allocated_storage_gib: 100
    max_allocated_storage_gib: 200
    iops: null
    endpoint: incident-response-prod.abcdefghij.us-east-1.rds.amazonaws.com
    port: 5432
    backup_retention_period_days: 7
    latest_restorable_time: "2025-11-10T14:19:00Z"
    vpc_security_group_ids: [sg-0a1b2c3d4e5f60718]
    parameter_groups: [default.postgres15]
metrics:
  description:
    - The window and, per metric, the mean, max, min and latest of its one-minute values (latency in
      milliseconds, free storage in GiB) and how many datapoints there were.
  returned: always
  type: dict
  sample:
    window: {start: "2025-11-10T14:08:00Z", end: "2025-11-10T14:23:00Z"}
    cpu_percent: {mean: 41.8, max: 45.0, min: 38.0, latest: 42.0, datapoints: 15}
    connections: {mean: 118.0, max: 131.0, min: 104.0, latest: 120.0, datapoints: 15}
    free_storage_gib: {mean: 71.9, max: 72.0, min: 71.8, latest: 71.8, datapoints: 15}
    read_latency_ms: {mean: 2.1, max: 2.9, min: 1.5, latest: 2.0, datapoints: 15}
    write_latency_ms: {mean: 4.2, max: 5.1, min: 3.3, latest: 4.0, datapoints: 15}
max_connections:
  description: The connection limit the connections rule used, and where it came from.
  returned: when the metrics could be read
  type: dict
  sample:
    value: 450
    source: "engine default for postgres: LEAST({DBInstanceClassMemory/9531392},5000) with db.t3.medium at 4 GiB (an upper bound)"
region:
  description: The region the instance was looked up in.
  returned: always
  type: str
  sample: us-east-1
error:
  description: The AWS error that stopped part of the check, with operation, resource and region.
  returned: when an AWS call failed
  type: str
  sample: >-
    Failed to describe DB instance incident-response-prod in us-east-1: not found:
    DBInstanceNotFound (DBInstance incident-response-prod not found.)
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.platform_eng.incident_response.plugins.module_utils._aws import (
    BOTO3_IMPORT_ERROR,
    aws_argument_spec,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._aws_rds import check_rds_instance_health
from ansible_collections.platform_eng.incident_response.plugins.module_utils._verdict import (
    fail_on_argument_spec,
    run_check,
)


def main() -> None:
    argument_spec = aws_argument_spec()
    argument_spec.update(
        db_instance_identifier=dict(type="str", required=True),
        window_minutes=dict(type="float", default=15),
        cpu_percent=dict(type="float", default=80),
        max_connections=dict(type="int"),
        connections_warn_percent=dict(type="float", default=80),
        connections_critical_percent=dict(type="float", default=90),
        free_storage_warn_percent=dict(type="float", default=20),
        free_storage_critical_percent=dict(type="float", default=10),
        latency_warn_ms=dict(type="float", default=20),
        rpo_minutes=dict(type="float", default=15),
        healthy_statuses=dict(type="list", elements="str", default=["available"]),
        require_multi_az=dict(type="bool", default=True),
        **fail_on_argument_spec(),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    run_check(module, check_rds_instance_health, "RDS instance health", libraries=[("boto3", BOTO3_IMPORT_ERROR)])


if __name__ == "__main__":
    main()
