# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""ElastiCache health: the cluster's and its nodes' status, the engine version, and memory against the node type.

Redis's ``INFO`` knows how much memory the data uses (``used_memory``) but
not what the node has; DescribeCacheClusters knows the node type but not the
memory. :data:`NODE_MEMORY_GIB` joins the two. ``memory_finding`` is shared by
the module (given ``used_memory_bytes``) and the diagnosis, which joins the
ElastiCache result with the Redis check's ``INFO`` (see ``_diagnose.py``).
"""

from __future__ import annotations

import dataclasses
import typing as t

from ansible_collections.platform_eng.incident_response.plugins.module_utils._aws import (
    AwsCallError,
    AwsSession,
    AwsSettings,
    call,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    CRITICAL,
    OK,
    UNKNOWN,
    WARN,
    Finding,
    IncidentResponseError,
    rated_finding,
    summarize,
)

GIB = 1024**3

# Memory per node type in GiB, as AWS publishes it in the node-type table of the ElastiCache pricing page
# (https://aws.amazon.com/elasticache/pricing/) and the "Supported node types" page of the ElastiCache user
# guide. Common current types only; any other type is an ``unknown`` memory finding (set node_memory_bytes).
NODE_MEMORY_GIB: dict[str, float] = {
    "cache.t3.micro": 0.5, "cache.t3.small": 1.37, "cache.t3.medium": 3.09,
    "cache.t4g.micro": 0.5, "cache.t4g.small": 1.37, "cache.t4g.medium": 3.09,
    "cache.m5.large": 6.38, "cache.m5.xlarge": 12.93, "cache.m5.2xlarge": 26.04, "cache.m5.4xlarge": 52.26,
    "cache.m5.12xlarge": 157.12, "cache.m5.24xlarge": 314.32,
    "cache.m6g.large": 6.38, "cache.m6g.xlarge": 12.93, "cache.m6g.2xlarge": 26.04, "cache.m6g.4xlarge": 52.26,
    "cache.m6g.8xlarge": 103.68, "cache.m6g.12xlarge": 157.12, "cache.m6g.16xlarge": 209.55,
    "cache.r5.large": 13.07, "cache.r5.xlarge": 26.32, "cache.r5.2xlarge": 52.82, "cache.r5.4xlarge": 105.81,
    "cache.r5.12xlarge": 317.77, "cache.r5.24xlarge": 635.61,
    "cache.r6g.large": 13.07, "cache.r6g.xlarge": 26.32, "cache.r6g.2xlarge": 52.82, "cache.r6g.4xlarge": 105.81,
    "cache.r6g.8xlarge": 209.55, "cache.r6g.12xlarge": 317.77, "cache.r6g.16xlarge": 419.09,
}
# Engines the minimum version applies to. Valkey starts at 7.2; memcached versions are numbered differently.
VERSIONED_ENGINES = ("redis", "valkey")

REMEDIATION_STATUS = (
    "The cache is not available: read its ElastiCache events (maintenance, failover, node replacement). While it "
    "is down every lookup is a database query (runbook 'High Latency': check cache hit rate, warm cache if needed)."
)
REMEDIATION_MODIFYING = (
    "The cache is being modified (scaling, an engine upgrade or a parameter change): expect a failover or higher "
    "latency until it is available again; check its ElastiCache events for what is changing."
)
REMEDIATION_NODE = (
    "A cache node is not available: ElastiCache replaces failed nodes on its own; read the cluster's events, and "
    "if the primary is affected expect a failover (runbook 'High Latency': warm cache if needed)."
)
REMEDIATION_NO_NODES = (
    "DescribeCacheClusters returned no node details: run the check again; if it persists, look at the nodes in the "
    "ElastiCache console."
)
REMEDIATION_VERSION = (
    "The engine is older than the supported minimum: AWS ended standard support for Redis OSS 4 and 5 on "
    "2026-01-31 (Extended Support is billed); plan an upgrade to Redis OSS 6 or later, or to Valkey."
)
REMEDIATION_MEMORY = (
    "Redis uses most of the node's memory: expect evictions and a falling hit rate, then swapping and failed "
    "snapshots. Scale up the node type (or add shards), shorten TTLs, and look for unbounded keys (runbook 'Memory "
    "Leak': review recent code for unbounded data structures)."
)
REMEDIATION_MEMORY_UNKNOWN = (
    "Give used_memory_bytes (the memory.used_bytes of redis_health_info, Redis INFO used_memory) and, for a node "
    "type that is not in the table, node_memory_bytes."
)


@dataclasses.dataclass(frozen=True)
class CacheThresholds:
    memory_warn_percent: float | None = 75.0
    memory_critical_percent: float | None = 90.0
    min_engine_version: str | None = "6.0"
    healthy_statuses: tuple[str, ...] = ("available", "snapshotting")
    degraded_statuses: tuple[str, ...] = ("modifying",)

    @classmethod
    def from_params(cls, params: t.Mapping[str, t.Any]) -> CacheThresholds:
        values: dict[str, t.Any] = {}
        for name in ("memory_warn_percent", "memory_critical_percent"):
            if name in params:
                value = params[name]
                if value is not None and not 0 <= float(value) <= 100:
                    raise IncidentResponseError(f"{name} must be between 0 and 100, got {value}")
                values[name] = None if value is None else float(value)
        if "min_engine_version" in params:
            values["min_engine_version"] = params["min_engine_version"] or None
            if values["min_engine_version"] and version_tuple(values["min_engine_version"]) is None:
                raise IncidentResponseError(
                    f"min_engine_version must be a version such as 6.0 or 7.1, got {params['min_engine_version']!r}")
        for name in ("healthy_statuses", "degraded_statuses"):
            if params.get(name) is not None:
                values[name] = tuple(str(s) for s in params[name])
        th = cls(**values)
        warn, critical = th.memory_warn_percent, th.memory_critical_percent
        if None not in (warn, critical) and t.cast(float, warn) > t.cast(float, critical):
            raise IncidentResponseError(
                f"memory_warn_percent ({warn:g}) is above memory_critical_percent ({critical:g})")
        return th


def version_tuple(text: str | None) -> tuple[int, ...] | None:
    """``7.1.0`` -> (7, 1, 0); ``6.x`` -> (6,); anything else None."""
    parts = []
    for piece in str(text or "").strip().split("."):
        if piece.isdigit():
            parts.append(int(piece))
        elif piece in ("x", "X") and parts:
            break
        else:
            return None
    return tuple(parts) or None


def version_at_least(version: tuple[int, ...], minimum: tuple[int, ...]) -> bool:
    width = max(len(version), len(minimum))
    return version + (0,) * (width - len(version)) >= minimum + (0,) * (width - len(minimum))


def node_memory(node_type: str | None, override: int | None = None) -> tuple[int | None, str]:
    """The memory of a node type in bytes and where it came from; (None, why) when it is not known."""
    if override:
        return int(override), "node_memory_bytes option"
    gib = NODE_MEMORY_GIB.get(str(node_type or ""))
    if gib is None:
        return None, f"node type {node_type or '(none)'} is not in the table of known node types"
    return round(gib * GIB), f"{node_type} has {gib:g} GiB"


def _human(size: float) -> str:
    for unit, scale in (("GiB", GIB), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:.2f} {unit}"
    return f"{int(size)} B"


# --- evaluators -----------------------------------------------------------------


def status_finding(target: str, kind: str, status: str | None, th: CacheThresholds) -> Finding:
    status = status or "unknown"
    if status in th.healthy_statuses:
        verdict, remediation = OK, None
    elif status in th.degraded_statuses:
        verdict, remediation = WARN, REMEDIATION_MODIFYING
    else:
        verdict, remediation = CRITICAL, REMEDIATION_STATUS
    return Finding("elasticache_status", target, verdict, status, list(th.healthy_statuses), None,
                   f"{kind} status is {status}", remediation)


def node_findings(target: str, clusters: t.Sequence[t.Mapping[str, t.Any]]) -> list[Finding]:
    """One finding per node; a cluster that came back without node details is one ``unknown`` finding."""
    findings = []
    for cluster in clusters:
        cluster_id = cluster.get("CacheClusterId", "?")
        nodes = cluster.get("CacheNodes") or []
        if not nodes:
            findings.append(Finding("elasticache_node", f"{target}/{cluster_id}", UNKNOWN, None, ["available"], None,
                                    f"cluster {cluster_id} returned no CacheNodes (ShowCacheNodeInfo)",
                                    REMEDIATION_NO_NODES))
            continue
        for node in nodes:
            status = node.get("CacheNodeStatus") or "unknown"
            ok = status == "available"
            findings.append(Finding("elasticache_node", f"{target}/{cluster_id}/{node.get('CacheNodeId', '?')}",
                                    OK if ok else CRITICAL, status, ["available"], None,
                                    f"node {node.get('CacheNodeId', '?')} of {cluster_id} is {status}",
                                    None if ok else REMEDIATION_NODE))
    return findings


def engine_version_finding(target: str, engine: str | None, version: str | None, th: CacheThresholds) -> Finding:
    minimum = th.min_engine_version
    threshold = {"minimum": minimum}
    if not engine or (engine.lower() in VERSIONED_ENGINES and minimum and not version):
        return Finding("elasticache_engine_version", target, UNKNOWN, version, threshold, None,
                       "the engine and its version could not be read (no node cluster was described)")
    engine = engine.lower()
    if engine not in VERSIONED_ENGINES or not minimum:
        return Finding("elasticache_engine_version", target, OK, version, threshold, None,
                       f"{engine} {version or '(no version)'}; no minimum version applies")
    parsed = version_tuple(version)
    if parsed is None:
        return Finding("elasticache_engine_version", target, UNKNOWN, version, threshold, None,
                       f"{engine} engine version {version!r} could not be read")
    ok = version_at_least(parsed, t.cast(tuple, version_tuple(minimum)))
    return Finding("elasticache_engine_version", target, OK if ok else WARN, version, threshold, None,
                   f"{engine} {version} is {'at or above' if ok else 'below'} the minimum {minimum}",
                   None if ok else REMEDIATION_VERSION)


def memory_finding(target: str, node_type: str | None, memory_bytes: int | None, memory_source: str,
                   used_bytes: int | None, warn: float | None, critical: float | None,
                   used_source: str = "used_memory_bytes option") -> Finding:
    """Redis ``used_memory`` as a share of the node type's memory; equal to a threshold passes."""
    if memory_bytes is None or used_bytes is None:
        missing = memory_source if memory_bytes is None else "used_memory is not known (no Redis INFO given)"
        return Finding("elasticache_memory", target, UNKNOWN, None, {"warn": warn, "critical": critical},
                       "% of node memory", f"cannot compare: {missing}", REMEDIATION_MEMORY_UNKNOWN)
    percent = round(100.0 * used_bytes / memory_bytes, 2)
    evidence = (f"used_memory {_human(used_bytes)} ({used_source}) is {percent:g} % of the "
                f"{_human(memory_bytes)} of a {node_type} node ({memory_source})")
    return rated_finding("elasticache_memory", target, percent, warn, critical, "% of node memory", evidence,
                         REMEDIATION_MEMORY)


# --- AWS ------------------------------------------------------------------------


def _describe_clusters(session: AwsSession, cluster_id: str) -> dict[str, t.Any]:
    answer = call(session, "elasticache", "describe_cache_clusters", "describe ElastiCache cluster", cluster_id,
                  "elasticache:DescribeCacheClusters", CacheClusterId=cluster_id, ShowCacheNodeInfo=True)
    return dict(answer["CacheClusters"][0])


def describe_nodes(clusters: t.Sequence[t.Mapping[str, t.Any]]) -> list[dict[str, t.Any]]:
    nodes = []
    for cluster in clusters:
        for node in cluster.get("CacheNodes") or []:
            endpoint = node.get("Endpoint") or {}
            nodes.append({"cluster": cluster.get("CacheClusterId"), "id": node.get("CacheNodeId"),
                          "status": node.get("CacheNodeStatus"), "endpoint": endpoint.get("Address"),
                          "port": endpoint.get("Port"), "availability_zone": node.get("CustomerAvailabilityZone")})
    return nodes


def check_elasticache_cluster_health(params: t.Mapping[str, t.Any], session: AwsSession | None = None) -> dict[str, t.Any]:
    cluster_id, group_id = params.get("cache_cluster_id"), params.get("replication_group_id")
    if bool(cluster_id) == bool(group_id):
        raise IncidentResponseError("give exactly one of cache_cluster_id and replication_group_id")
    th = CacheThresholds.from_params(params)
    identifier = str(cluster_id or group_id)
    target = f"elasticache:{identifier}"
    session = session or AwsSession(AwsSettings.from_params(params))
    result: dict[str, t.Any] = {"cache": None, "region": session.region, "errors": []}
    findings: list[Finding] = []
    clusters: list[dict[str, t.Any]] = []
    try:
        if group_id:
            group = call(session, "elasticache", "describe_replication_groups",
                         "describe ElastiCache replication group", identifier,
                         "elasticache:DescribeReplicationGroups", ReplicationGroupId=identifier)["ReplicationGroups"][0]
            kind, status, node_type = "replication group", group.get("Status"), group.get("CacheNodeType")
            members, group_engine = list(group.get("MemberClusters") or []), group.get("Engine")
        else:
            clusters.append(_describe_clusters(session, identifier))
            kind, status, node_type = "cache cluster", clusters[0].get("CacheClusterStatus"), clusters[0].get(
                "CacheNodeType")
            members, group_engine = [], None
    except AwsCallError as exc:
        result.update(summarize([exc.problem.finding("elasticache_cluster", target)]))
        result["errors"].append(exc.problem.message)
        return result
    findings.append(status_finding(target, kind, status, th))
    for member in members:
        try:
            clusters.append(_describe_clusters(session, member))
        except AwsCallError as exc:
            # The group names a member that cannot be read: its nodes are not known, not down.
            findings.append(exc.problem.finding("elasticache_node", f"{target}/{member}", not_found_status=UNKNOWN))
            result["errors"].append(exc.problem.message)
    findings += node_findings(target, clusters)
    engine = clusters[0].get("Engine") if clusters else group_engine
    version = clusters[0].get("EngineVersion") if clusters else None
    findings.append(engine_version_finding(target, engine, version, th))
    memory_bytes, memory_source = node_memory(node_type, params.get("node_memory_bytes"))
    findings.append(memory_finding(target, node_type, memory_bytes, memory_source, params.get("used_memory_bytes"),
                                   th.memory_warn_percent, th.memory_critical_percent))
    result["cache"] = {
        "id": identifier,
        "kind": "replication_group" if group_id else "cache_cluster",
        "status": status,
        "engine": engine,
        "engine_version": version,
        "node_type": node_type,
        "node_memory_bytes": memory_bytes,
        "node_memory_source": memory_source,
        "member_clusters": members,
        "nodes": describe_nodes(clusters),
    }
    result.update(summarize(findings))
    return result
