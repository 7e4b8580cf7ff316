# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The ElastiCache rules at their boundaries, then the whole check against moto's in-process ElastiCache.

What moto (5.2) models: create_cache_cluster and describe_cache_clusters (status ``available``; a deleted
cluster stays in ``deleting``), and replication groups (create, describe). What it does not: node details
(DescribeCacheClusters returns no ``CacheNodes``, even with ShowCacheNodeInfo), the member clusters of a
replication group (DescribeCacheClusters does not know them), any status but available and deleting, and
node type validation. Node states are therefore tested with describe answers built here.
"""

from __future__ import annotations

import typing as t

import pytest

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _aws, _aws_elasticache
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    CRITICAL,
    OK,
    UNKNOWN,
    WARN,
    IncidentResponseError,
)

TARGET = "elasticache:incident-response-cache"
TH = _aws_elasticache.CacheThresholds()
MIB = 1024**2
T3_MICRO = 512 * MIB  # 0.5 GiB


@pytest.mark.parametrize("status, verdict", [("available", OK), ("snapshotting", OK), ("modifying", WARN),
                                             ("rebooting cluster nodes", CRITICAL), ("deleting", CRITICAL),
                                             (None, CRITICAL)])
def test_cluster_status(status: str | None, verdict: str) -> None:
    finding = _aws_elasticache.status_finding(TARGET, "cache cluster", status, TH)
    assert finding.status == verdict
    assert (finding.remediation is None) is (verdict == OK)


def test_each_node_is_judged_and_no_node_details_is_unknown() -> None:
    clusters = [
        {"CacheClusterId": "ir-001", "CacheNodes": [{"CacheNodeId": "0001", "CacheNodeStatus": "available"}]},
        {"CacheClusterId": "ir-002", "CacheNodes": [{"CacheNodeId": "0001", "CacheNodeStatus": "rebooting"}]},
        {"CacheClusterId": "ir-003"},
    ]
    findings = _aws_elasticache.node_findings("elasticache:ir", clusters)
    assert [(f.target, f.status) for f in findings] == [
        ("elasticache:ir/ir-001/0001", OK), ("elasticache:ir/ir-002/0001", CRITICAL), ("elasticache:ir/ir-003", UNKNOWN)]
    assert "no CacheNodes" in findings[2].evidence


@pytest.mark.parametrize("engine, version, verdict", [
    ("redis", "5.0.6", WARN), ("redis", "6.0", OK), ("redis", "6.x", OK), ("redis", "7.1.0", OK),
    ("redis", "4.0.10", WARN), ("valkey", "7.2", OK), ("memcached", "1.4.5", OK), ("redis", "seven", UNKNOWN),
    ("redis", None, UNKNOWN), (None, None, UNKNOWN),
])
def test_engine_version_against_the_minimum(engine: str | None, version: str | None, verdict: str) -> None:
    finding = _aws_elasticache.engine_version_finding(TARGET, engine, version, TH)
    assert finding.status == verdict
    if verdict == WARN:
        assert "2026-01-31" in finding.remediation


def test_no_minimum_version_turns_the_rule_off() -> None:
    th = _aws_elasticache.CacheThresholds.from_params({"min_engine_version": ""})
    assert _aws_elasticache.engine_version_finding(TARGET, "redis", "4.0.10", th).status == OK


@pytest.mark.parametrize("used_percent, verdict", [(50, OK), (75, OK), (75.01, WARN), (90, WARN), (90.01, CRITICAL)])
def test_used_memory_against_the_node_type(used_percent: float, verdict: str) -> None:
    memory, source = _aws_elasticache.node_memory("cache.t3.micro")
    assert (memory, source) == (T3_MICRO, "cache.t3.micro has 0.5 GiB")
    finding = _aws_elasticache.memory_finding(TARGET, "cache.t3.micro", memory, source,
                                              int(T3_MICRO * used_percent / 100), 75, 90)
    assert finding.status == verdict
    assert "of a cache.t3.micro node" in finding.evidence


@pytest.mark.parametrize("node_type", ["cache.zz9.huge", "cache.r6gd.xlarge", None])
def test_an_unknown_node_type_is_an_unknown_finding_not_a_crash(node_type: str | None) -> None:
    memory, source = _aws_elasticache.node_memory(node_type)
    finding = _aws_elasticache.memory_finding(TARGET, node_type, memory, source, 100 * MIB, 75, 90)
    assert memory is None and finding.status == UNKNOWN and "not in the table" in finding.evidence
    assert "node_memory_bytes" in finding.remediation


def test_node_memory_bytes_covers_an_unknown_type_and_used_memory_is_needed() -> None:
    memory, source = _aws_elasticache.node_memory("cache.r6gd.xlarge", override=1024 * MIB)
    assert (memory, source) == (1024 * MIB, "node_memory_bytes option")
    finding = _aws_elasticache.memory_finding(TARGET, "cache.r6gd.xlarge", memory, source, None, 75, 90)
    assert finding.status == UNKNOWN and "used_memory is not known" in finding.evidence


def test_the_table_covers_the_common_families_with_plausible_sizes() -> None:
    table = _aws_elasticache.NODE_MEMORY_GIB
    for family in ("t3", "t4g", "m5", "m6g", "r5", "r6g"):
        assert any(name.startswith(f"cache.{family}.") for name in table), family
    # Memory-optimised nodes have about twice the memory of general-purpose ones of the same size.
    assert table["cache.r6g.large"] > 2 * table["cache.m6g.large"] * 0.95
    assert table["cache.t3.micro"] < table["cache.t3.small"] < table["cache.t3.medium"]


@pytest.mark.parametrize("params, message", [
    ({"memory_warn_percent": 95, "memory_critical_percent": 90}, "is above memory_critical_percent"),
    ({"memory_warn_percent": 120}, "between 0 and 100"),
    ({"min_engine_version": "latest"}, "min_engine_version must be a version"),
])
def test_bad_thresholds_are_refused(params: dict[str, t.Any], message: str) -> None:
    with pytest.raises(IncidentResponseError, match=message):
        _aws_elasticache.CacheThresholds.from_params(params)


# --- the whole check -------------------------------------------------------------------------------------------


@pytest.fixture
def session(moto_session: _aws.AwsSession) -> _aws.AwsSession:
    return moto_session


def create(session: _aws.AwsSession, cluster_id: str = "incident-response-cache", **overrides: t.Any) -> None:
    session.client("elasticache").create_cache_cluster(**{
        "CacheClusterId": cluster_id, "CacheNodeType": "cache.t3.micro", "Engine": "redis", "EngineVersion": "7.1",
        "NumCacheNodes": 1, **overrides})


def by_name(result: dict[str, t.Any]) -> dict[str, dict[str, t.Any]]:
    return {f["name"]: f for f in result["findings"]}


def test_a_healthy_cluster_with_the_memory_redis_reported(session: _aws.AwsSession) -> None:
    create(session)
    result = _aws_elasticache.check_elasticache_cluster_health(
        {"cache_cluster_id": "incident-response-cache", "used_memory_bytes": 100 * MIB}, session)
    found = by_name(result)
    assert found["elasticache_status"]["status"] == OK and found["elasticache_engine_version"]["status"] == OK
    assert found["elasticache_memory"]["status"] == OK and found["elasticache_memory"]["value"] == 19.53
    # moto returns no CacheNodes: the node finding says it could not tell, instead of passing.
    assert found["elasticache_node"]["status"] == UNKNOWN
    assert result["cache"]["node_type"] == "cache.t3.micro" and result["cache"]["node_memory_bytes"] == T3_MICRO
    assert result["errors"] == []


def test_an_old_engine_and_an_unknown_node_type(session: _aws.AwsSession) -> None:
    create(session, "legacy-cache", CacheNodeType="cache.zz9.huge", EngineVersion="5.0.6")
    found = by_name(_aws_elasticache.check_elasticache_cluster_health(
        {"cache_cluster_id": "legacy-cache", "used_memory_bytes": 100 * MIB}, session))
    assert found["elasticache_engine_version"]["status"] == WARN
    assert found["elasticache_memory"]["status"] == UNKNOWN


def test_a_deleted_cluster_is_critical(session: _aws.AwsSession) -> None:
    create(session)
    session.client("elasticache").delete_cache_cluster(CacheClusterId="incident-response-cache")
    found = by_name(_aws_elasticache.check_elasticache_cluster_health({"cache_cluster_id": "incident-response-cache"}, session))
    assert found["elasticache_status"]["status"] == CRITICAL and found["elasticache_status"]["value"] == "deleting"


def test_a_missing_cluster_is_critical_and_says_where_it_looked(session: _aws.AwsSession) -> None:
    result = _aws_elasticache.check_elasticache_cluster_health({"cache_cluster_id": "incident-response-cahce"}, session)
    assert result["status"] == CRITICAL and result["cache"] is None
    assert result["errors"][0].startswith("Failed to describe ElastiCache cluster incident-response-cahce in "
                                          "us-east-1: not found: CacheClusterNotFound")


def test_a_replication_group_whose_members_moto_does_not_list(session: _aws.AwsSession) -> None:
    session.client("elasticache").create_replication_group(
        ReplicationGroupId="incident-response", ReplicationGroupDescription="cache", CacheNodeType="cache.r6g.large",
        Engine="redis", EngineVersion="7.1", NumCacheClusters=2)
    result = _aws_elasticache.check_elasticache_cluster_health({"replication_group_id": "incident-response"}, session)
    found = by_name(result)
    assert found["elasticache_status"]["status"] == OK and result["cache"]["kind"] == "replication_group"
    assert result["cache"]["node_type"] == "cache.r6g.large"
    # The member cluster exists on AWS; moto cannot describe it, which is "unknown", never "down".
    assert found["elasticache_node"]["status"] == UNKNOWN and "CacheClusterNotFound" in found["elasticache_node"]["evidence"]


def test_node_states_from_a_describe_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.stub import Stubber

    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    session = _aws.AwsSession(_aws.AwsSettings(region="us-east-1", access_key="AKIDEXAMPLE", secret_key="x" * 20))
    stubber = Stubber(session.client("elasticache"))
    stubber.add_response("describe_cache_clusters", {"CacheClusters": [{
        "CacheClusterId": "incident-response-cache", "CacheNodeType": "cache.m6g.large", "Engine": "redis",
        "EngineVersion": "7.1", "CacheClusterStatus": "available",
        "CacheNodes": [{"CacheNodeId": "0001", "CacheNodeStatus": "rebooting",
                        "Endpoint": {"Address": "incident-response-cache.abc.0001.use1.cache.amazonaws.com",
                                     "Port": 6379}}]}]},
        {"CacheClusterId": "incident-response-cache", "ShowCacheNodeInfo": True})
    with stubber:
        result = _aws_elasticache.check_elasticache_cluster_health({"cache_cluster_id": "incident-response-cache"}, session)
    found = by_name(result)
    assert found["elasticache_node"]["status"] == CRITICAL and found["elasticache_node"]["value"] == "rebooting"
    assert result["cache"]["nodes"][0]["endpoint"].startswith("incident-response-cache.abc.0001")


def test_exactly_one_identifier() -> None:
    with pytest.raises(IncidentResponseError, match="exactly one of cache_cluster_id and replication_group_id"):
        _aws_elasticache.check_elasticache_cluster_health({}, session=t.cast(_aws.AwsSession, None))
