#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: elasticache_cluster_health_info
short_description: Judge an ElastiCache cache by its status, its nodes, its engine version and its memory
version_added: 0.2.0
description:
  - Reads one ElastiCache cache cluster (O(cache_cluster_id)) or replication group (O(replication_group_id), with
    each of its member clusters) and returns a verdict as findings, for the runbook's cache dependency (Redis on
    ElastiCache) seen from AWS. M(platform_eng.incident_response.redis_health_info) sees the same cache from Redis.
  - C(elasticache_status) is the cluster's or group's status; statuses in O(healthy_statuses) are V(ok), those in
    O(degraded_statuses) V(warn), any other V(critical).
  - C(elasticache_node) is each node's C(CacheNodeStatus); anything but C(available) is V(critical).
  - C(elasticache_engine_version) is V(warn) below O(min_engine_version) (Redis OSS and Valkey only).
  - C(elasticache_memory) is Redis C(used_memory) (O(used_memory_bytes)) as a share of the node type's memory, from a
    table of the common C(cache.t3), C(cache.t4g), C(cache.m5), C(cache.m6g), C(cache.r5) and C(cache.r6g) types as
    AWS publishes them (the node-type table of U(https://aws.amazon.com/elasticache/pricing/)). A node type that is
    not in the table, or no O(used_memory_bytes), is V(unknown), never a failure; O(node_memory_bytes) fills the gap.
  - A cache that does not exist is a V(critical) C(elasticache_cluster) finding; an access denied is V(unknown).
options:
  cache_cluster_id:
    description:
      - The cache cluster, for example V(incident-response-cache). Exactly one of this and O(replication_group_id).
    type: str
  replication_group_id:
    description:
      - The replication group (Redis OSS or Valkey with replicas, or cluster mode); its member clusters are read too.
    type: str
  used_memory_bytes:
    description:
      - Redis C(INFO) C(used_memory) of the primary, in bytes, for example C(memory.used_bytes) of a
        M(platform_eng.incident_response.redis_health_info) run on a host that reaches the cache.
      - Without it C(elasticache_memory) is V(unknown). The diagnose role joins the two checks itself.
    type: int
  node_memory_bytes:
    description:
      - The memory of one node, for a node type that is not in the module's table (the other types, previous
        generations, C(r6gd) data tiering).
    type: int
  memory_warn_percent:
    description:
      - C(used_memory) above this share of the node's memory is V(warn). With the default parameter groups
        ElastiCache reserves 25 % of the memory (C(reserved-memory-percent)), so above 75 % Redis evicts.
    type: float
    default: 75
  memory_critical_percent:
    description: C(used_memory) above this share of the node's memory is V(critical); the node swaps and snapshots fail.
    type: float
    default: 90
  min_engine_version:
    description:
      - The oldest Redis OSS or Valkey version that passes. AWS ended standard support for Redis OSS 4 and 5 on
        2026-01-31. An empty string turns the rule off.
    type: str
    default: "6.0"
  healthy_statuses:
    description: Cluster or group statuses that count as healthy.
    type: list
    elements: str
    default: [available, snapshotting]
  degraded_statuses:
    description: Statuses that are a warning, not an outage (a change in progress).
    type: list
    elements: str
    default: [modifying]
extends_documentation_fragment:
  - platform_eng.incident_response.attributes
  - platform_eng.incident_response.attributes.info_module
  - platform_eng.incident_response.attributes.idempotent_not_modify_state
  - platform_eng.incident_response.aws
  - platform_eng.incident_response.fail_on
notes:
  - Needs C(elasticache:DescribeCacheClusters), and C(elasticache:DescribeReplicationGroups) for a replication group.
  - The memory table holds what AWS publishes per node type; the memory Redis may use for data is lower
    (C(maxmemory) less the reserved memory), which is what M(platform_eng.incident_response.redis_health_info)'s
    C(memory) finding judges.
  - moto, which the lab's AWS is, returns no C(CacheNodes) (so C(elasticache_node) is V(unknown) there), keeps a
    deleted cluster in status C(deleting), and does not list a replication group's member clusters to
    DescribeCacheClusters.
seealso:
  - module: platform_eng.incident_response.redis_health_info
    description: The same cache from the inside, through Redis INFO.
  - module: community.aws.elasticache_info
    description: The raw describe output of ElastiCache clusters.
author:
  - Platform Engineering Team (@platform-eng)
"""

EXAMPLES = r"""
- name: Read the cache's used memory from the bastion, which reaches it
  platform_eng.incident_response.redis_health_info:
    host: master.incident-response.abc123.use1.cache.amazonaws.com
    password: "{{ vault_redis_auth_token }}"
    tls: true
    window_seconds: 0
  delegate_to: bastion
  run_once: true
  register: cache_info

- name: Judge the cache from AWS, with the memory Redis reported
  platform_eng.incident_response.elasticache_cluster_health_info:
    replication_group_id: incident-response
    used_memory_bytes: "{{ cache_info.memory.used_bytes }}"
    region: us-east-1
  register: cache_health

- name: Fail when the lab's cache cluster is not available
  platform_eng.incident_response.elasticache_cluster_health_info:
    cache_cluster_id: incident-response-cache
    endpoint_url: http://10.77.1.1:5000
    region: us-east-1
    fail_on: critical
"""

RETURN = r"""
status:
  description: The worst status among the findings.
  returned: always
  type: str
  sample: warn
counts:
  description: How many findings have each status.
  returned: always
  type: dict
  sample: {ok: 3, warn: 1, critical: 0, unknown: 0}
findings:
  description:
    - One verdict per rule, in the collection's shared shape. Names are C(elasticache_status),
      C(elasticache_node) (one per node), C(elasticache_engine_version), C(elasticache_memory), or
      C(elasticache_cluster) when the cache could not be described.
  returned: always
  type: list
  elements: dict
  sample:
    - name: elasticache_memory
      target: elasticache:incident-response-cache
      status: warn
      value: 78.12
      threshold: {warn: 75, critical: 90}
      unit: "% of node memory"
      evidence: >-
        used_memory 400.00 MiB (used_memory_bytes option) is 78.12 % of the 512.00 MiB of a cache.t3.micro node
        (cache.t3.micro has 0.5 GiB)
      remediation: "Redis uses most of the node's memory: expect evictions and a falling hit rate, ..."
cache:
  description: What ElastiCache said about the cache; V(null) when it could not be described.
  returned: always
  type: dict
  sample:
    id: incident-response-cache
    kind: cache_cluster
    status: available
    engine: redis
    engine_version: "7.1"
    node_type: cache.t3.micro
    node_memory_bytes: 536870912
    node_memory_source: cache.t3.micro has 0.5 GiB
    member_clusters: []
    nodes:
      - {cluster: incident-response-cache, id: "0001", status: available,
         endpoint: incident-response-cache.abc123.0001.use1.cache.amazonaws.com, port: 6379,
         availability_zone: us-east-1a}
region:
  description: The region the cache was looked up in.
  returned: always
  type: str
  sample: us-east-1
errors:
  description: The AWS errors that stopped part of the check, with operation, resource and region.
  returned: always
  type: list
  elements: str
  sample:
    - >-
      Failed to describe ElastiCache cluster incident-response-cache in us-east-1: not found:
      CacheClusterNotFound (Cache cluster incident-response-cache not found.)
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.platform_eng.incident_response.plugins.module_utils._aws import (
    BOTO3_IMPORT_ERROR,
    aws_argument_spec,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._aws_elasticache import (
    check_elasticache_cluster_health,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._verdict import (
    fail_on_argument_spec,
    run_check,
)


def main() -> None:
    argument_spec = aws_argument_spec()
    argument_spec.update(
        cache_cluster_id=dict(type="str"),
        replication_group_id=dict(type="str"),
        used_memory_bytes=dict(type="int"),
        node_memory_bytes=dict(type="int"),
        memory_warn_percent=dict(type="float", default=75),
        memory_critical_percent=dict(type="float", default=90),
        min_engine_version=dict(type="str", default="6.0"),
        healthy_statuses=dict(type="list", elements="str", default=["available", "snapshotting"]),
        degraded_statuses=dict(type="list", elements="str", default=["modifying"]),
        **fail_on_argument_spec(),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=[("cache_cluster_id", "replication_group_id")],
        required_one_of=[("cache_cluster_id", "replication_group_id")],
        supports_check_mode=True,
    )
    run_check(module, check_elasticache_cluster_health, "ElastiCache health", libraries=[("boto3", BOTO3_IMPORT_ERROR)])


if __name__ == "__main__":
    main()
