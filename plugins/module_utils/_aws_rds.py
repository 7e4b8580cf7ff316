# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""RDS instance health: the runbook's database rules over DescribeDBInstances and CloudWatch.

The evaluators (``*_finding``) are pure functions of the describe output,
the CloudWatch series and a clock, so the thresholds are tested without AWS.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import typing as t

from ansible_collections.platform_eng.incident_response.plugins.module_utils._aws import (
    AwsCallError,
    AwsSession,
    AwsSettings,
    as_utc,
    call,
    format_age,
    iso,
    paginate,
    utcnow,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._aws_cloudwatch import (
    Series,
    fetch_series,
    metric_query,
    metric_window,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    CRITICAL,
    OK,
    UNKNOWN,
    WARN,
    Finding,
    compare,
    summarize,
)

GIB = 1024**3

REMEDIATION_STATUS = (
    "Runbook 'Database Connection Errors': the instance is not available; read its recent "
    "RDS events (maintenance, storage-full, failover) before anything else."
)
REMEDIATION_CPU = (
    "Runbook 'High Latency': scale up database if CPU > 80 % (e.g. db.t3.medium to db.t3.large); "
    "identify slow queries and add indexes."
)
REMEDIATION_CONNECTIONS = (
    "Runbook 'High Error Rate': check connection pool exhaustion; ensure max_connections "
    "is not exceeded (pool size x app hosts must stay below it)."
)
REMEDIATION_STORAGE = (
    "Free storage is low: raise MaxAllocatedStorage (storage autoscaling) or add storage "
    "before the instance goes storage-full."
)
REMEDIATION_LATENCY = (
    "Runbook 'High Latency': identify slow database queries and add indexes; check the "
    "storage IOPS and burst balance."
)
REMEDIATION_PITR = (
    "Point-in-time recovery lags the RPO: check that automated backups are enabled "
    "(backup retention > 0) and look for backup errors in the RDS events."
)
REMEDIATION_MULTI_AZ = (
    "The instance is Single-AZ: losing its zone means a restore, not a failover; the 1 h RTO needs Multi-AZ."
)

# max_connections defaults per engine (the RDS default parameter groups).
_DEFAULT_MAX_CONNECTIONS = (
    ("aurora-postgresql", "LEAST({DBInstanceClassMemory/9531392},5000)"),
    ("postgres", "LEAST({DBInstanceClassMemory/9531392},5000)"),
    ("aurora-mysql", "GREATEST({DBInstanceClassMemory/12582880},1000)"),
    ("mysql", "{DBInstanceClassMemory/12582880}"),
    ("mariadb", "{DBInstanceClassMemory/12582880}"),
)
_BURSTABLE_GIB = {"micro": 1, "small": 2, "medium": 4, "large": 8, "xlarge": 16, "2xlarge": 32}
_GIB_PER_VCPU = {"c": 2, "m": 4, "r": 8, "x": 16}


@dataclasses.dataclass
class RdsThresholds:
    cpu_percent: float = 80.0
    connections_warn_percent: float = 80.0
    connections_critical_percent: float = 90.0
    free_storage_warn_percent: float = 20.0
    free_storage_critical_percent: float = 10.0
    latency_warn_ms: float = 20.0
    rpo_minutes: float = 15.0
    healthy_statuses: tuple[str, ...] = ("available",)
    require_multi_az: bool = True

    @classmethod
    def from_params(cls, params: t.Mapping[str, t.Any]) -> RdsThresholds:
        values = {f.name: params[f.name] for f in dataclasses.fields(cls) if params.get(f.name) is not None}
        if "healthy_statuses" in values:
            values["healthy_statuses"] = tuple(values["healthy_statuses"])
        return cls(**values)


# --- max_connections ------------------------------------------------------------


def class_memory_bytes(instance_class: str) -> int | None:
    """Nominal memory of a DB instance class (db.t3.medium: 4 GiB); None when unknown."""
    match = re.match(r"^db\.([a-z]+)\d+[a-z-]*\.(\w+)$", instance_class or "")
    if not match:
        return None
    family, size = match.groups()
    if family == "t":
        gib = _BURSTABLE_GIB.get(size)
    elif family[0] in _GIB_PER_VCPU:
        vcpus = {"large": 2, "xlarge": 4}.get(size)
        if vcpus is None and size.endswith("xlarge") and size[:-6].isdigit():
            vcpus = 4 * int(size[:-6])
        gib = vcpus * _GIB_PER_VCPU[family[0]] if vcpus else None
    else:
        gib = None
    return gib * GIB if gib else None


def evaluate_max_connections(expression: str, memory: int | None) -> int | None:
    """A number, or an RDS formula such as LEAST({DBInstanceClassMemory/9531392},5000)."""
    text = (expression or "").replace(" ", "")
    if "DBInstanceClassMemory" in text:
        if memory is None:
            return None
        text = re.sub(r"\{DBInstanceClassMemory/(\d+)\}", lambda m: str(memory // int(m.group(1))), text)
    while True:
        match = re.search(r"(LEAST|GREATEST)\((\d+),(\d+)\)", text)
        if not match:
            break
        pick = min if match.group(1) == "LEAST" else max
        text = text[: match.start()] + str(pick(int(match.group(2)), int(match.group(3)))) + text[match.end() :]
    return int(text) if text.isdigit() else None


def default_max_connections_formula(engine: str) -> str | None:
    for prefix, formula in _DEFAULT_MAX_CONNECTIONS:
        if (engine or "").startswith(prefix):
            return formula
    return None


def resolve_max_connections(
    session: AwsSession, instance: t.Mapping[str, t.Any], override: int | None
) -> tuple[int | None, str]:
    """The connection limit and where it came from (option, parameter group or engine default)."""
    if override:
        return int(override), "max_connections option"
    engine, klass = instance.get("Engine", ""), instance.get("DBInstanceClass", "")
    memory = class_memory_bytes(klass)
    groups = [g["DBParameterGroupName"] for g in instance.get("DBParameterGroups", [])]
    formula, source = None, ""
    if groups:
        try:
            for page in paginate(
                session,
                "rds",
                "describe_db_parameters",
                "describe DB parameters of",
                groups[0],
                "rds:DescribeDBParameters",
                DBParameterGroupName=groups[0],
            ):
                for parameter in page.get("Parameters", []):
                    if parameter.get("ParameterName") == "max_connections" and parameter.get("ParameterValue"):
                        formula, source = parameter["ParameterValue"], f"parameter group {groups[0]}"
        except AwsCallError as exc:
            source = f"engine default ({exc.problem.kind} reading parameter group {groups[0]})"
    if formula is None:
        formula = default_max_connections_formula(engine)
        source = source or f"engine default for {engine}"
    if formula is None:
        return None, f"unknown for engine {engine}; set max_connections"
    limit = evaluate_max_connections(formula, memory)
    if limit is None:
        return None, f"{formula} from {source} needs the memory of {klass}, which is not known; set max_connections"
    if "DBInstanceClassMemory" in formula:
        # RDS reserves part of the class memory, so the real limit is somewhat lower.
        source += f": {formula} with {klass} at {t.cast(int, memory) // GIB} GiB (an upper bound)"
    return limit, source


# --- evaluators -----------------------------------------------------------------


def status_finding(target: str, instance: t.Mapping[str, t.Any], th: RdsThresholds) -> Finding:
    status = instance.get("DBInstanceStatus", "unknown")
    ok = status in th.healthy_statuses
    return Finding(
        "rds_status",
        target,
        OK if ok else CRITICAL,
        status,
        list(th.healthy_statuses),
        None,
        f"DBInstanceStatus is {status}",
        None if ok else REMEDIATION_STATUS,
    )


def cpu_finding(target: str, cpu: Series, th: RdsThresholds, window_text: str) -> Finding:
    mean, peak = cpu.mean(), cpu.maximum()
    if mean is None:
        return Finding(
            "rds_cpu",
            target,
            UNKNOWN,
            None,
            {"warn": None, "critical": th.cpu_percent},
            "%",
            f"no CPUUtilization datapoints {window_text}",
        )
    status = compare(mean, None, th.cpu_percent)
    return Finding(
        "rds_cpu",
        target,
        status,
        round(mean, 2),
        {"warn": None, "critical": th.cpu_percent},
        "%",
        f"CPUUtilization mean {mean:.1f} % (peak {peak:.1f} %) {window_text}",
        REMEDIATION_CPU if status != OK else None,
    )


def connections_finding(
    target: str, connections: Series, limit: int | None, source: str, th: RdsThresholds, window_text: str
) -> Finding:
    peak = connections.maximum()
    threshold = {"warn": th.connections_warn_percent, "critical": th.connections_critical_percent}
    if peak is None:
        return Finding(
            "rds_connections",
            target,
            UNKNOWN,
            None,
            threshold,
            "% of max_connections",
            f"no DatabaseConnections datapoints {window_text}",
        )
    if not limit:
        return Finding(
            "rds_connections",
            target,
            UNKNOWN,
            None,
            threshold,
            "% of max_connections",
            f"peak {peak:.0f} connections {window_text}; max_connections {source}",
        )
    used = 100.0 * peak / limit
    status = compare(used, th.connections_warn_percent, th.connections_critical_percent)
    return Finding(
        "rds_connections",
        target,
        status,
        round(used, 1),
        threshold,
        "% of max_connections",
        f"peak {peak:.0f} of {limit} connections {window_text}; limit from {source}",
        REMEDIATION_CONNECTIONS if status != OK else None,
    )


def storage_finding(
    target: str, free: Series, allocated_gib: float | None, th: RdsThresholds, window_text: str
) -> Finding:
    latest = free.latest()
    threshold = {
        "warn": th.free_storage_warn_percent,
        "critical": th.free_storage_critical_percent,
        "comparison": "less_than",
    }
    if latest is None or not allocated_gib:
        return Finding(
            "rds_free_storage",
            target,
            UNKNOWN,
            None,
            threshold,
            "% free",
            f"no FreeStorageSpace datapoints {window_text}" if latest is None else "allocated storage unknown",
        )
    percent = 100.0 * latest / (allocated_gib * GIB)
    # Lower is worse: compare the shortfall the same way as a higher-is-worse value.
    status = compare(-percent, -th.free_storage_warn_percent, -th.free_storage_critical_percent)
    return Finding(
        "rds_free_storage",
        target,
        status,
        round(percent, 1),
        threshold,
        "% free",
        f"{latest / GIB:.1f} GiB free of {allocated_gib:g} GiB allocated (latest {window_text})",
        REMEDIATION_STORAGE if status != OK else None,
    )


def latency_finding(target: str, read: Series, write: Series, th: RdsThresholds, window_text: str) -> Finding:
    means = {name: t.cast(float, s.mean()) for name, s in (("read", read), ("write", write)) if s}  # not empty: a mean
    threshold = {"warn": th.latency_warn_ms, "critical": None}
    if not means:
        return Finding(
            "rds_latency",
            target,
            UNKNOWN,
            None,
            threshold,
            "ms",
            f"no ReadLatency/WriteLatency datapoints {window_text}",
        )
    worst = max(means.values()) * 1000.0
    status = compare(worst, th.latency_warn_ms, None)
    parts = ", ".join(f"{name} {value * 1000.0:.2f} ms" for name, value in sorted(means.items()))
    return Finding(
        "rds_latency",
        target,
        status,
        round(worst, 3),
        threshold,
        "ms",
        f"mean latency {parts} {window_text}",
        REMEDIATION_LATENCY if status != OK else None,
    )


def restorable_time_finding(
    target: str, instance: t.Mapping[str, t.Any], now: datetime.datetime, th: RdsThresholds
) -> Finding:
    """LatestRestorableTime against the RPO: 14:59 behind passes, 15:01 fails (for 15 minutes)."""
    limit = th.rpo_minutes * 60.0
    threshold = {"warn": None, "critical": th.rpo_minutes}
    retention = instance.get("BackupRetentionPeriod")
    if retention == 0:
        return Finding(
            "rds_restorable_time",
            target,
            CRITICAL,
            None,
            threshold,
            "minutes",
            "automated backups are disabled (BackupRetentionPeriod 0): no point-in-time recovery",
            REMEDIATION_PITR,
        )
    latest = instance.get("LatestRestorableTime")
    if latest is None:
        return Finding(
            "rds_restorable_time",
            target,
            UNKNOWN,
            None,
            threshold,
            "minutes",
            "no LatestRestorableTime reported yet",
            REMEDIATION_PITR,
        )
    lag = (now - as_utc(latest)).total_seconds()
    status = compare(lag, None, limit)
    return Finding(
        "rds_restorable_time",
        target,
        status,
        round(lag / 60.0, 2),
        threshold,
        "minutes",
        f"LatestRestorableTime {iso(latest)} is {format_age(lag)} behind {iso(now)} (RPO {th.rpo_minutes:g} min)",
        REMEDIATION_PITR if status != OK else None,
    )


def multi_az_finding(target: str, instance: t.Mapping[str, t.Any], th: RdsThresholds) -> Finding:
    multi_az = bool(instance.get("MultiAZ"))
    status = OK if multi_az or not th.require_multi_az else WARN
    return Finding(
        "rds_multi_az",
        target,
        status,
        multi_az,
        th.require_multi_az,
        None,
        "Multi-AZ" if multi_az else "Single-AZ",
        REMEDIATION_MULTI_AZ if status != OK else None,
    )


def describe_instance(instance: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    endpoint = instance.get("Endpoint") or {}
    return {
        "identifier": instance.get("DBInstanceIdentifier"),
        "status": instance.get("DBInstanceStatus"),
        "instance_class": instance.get("DBInstanceClass"),
        "engine": instance.get("Engine"),
        "engine_version": instance.get("EngineVersion"),
        "multi_az": bool(instance.get("MultiAZ")),
        "availability_zone": instance.get("AvailabilityZone"),
        "secondary_availability_zone": instance.get("SecondaryAvailabilityZone"),
        "storage_type": instance.get("StorageType"),
        "allocated_storage_gib": instance.get("AllocatedStorage"),
        "max_allocated_storage_gib": instance.get("MaxAllocatedStorage"),
        "iops": instance.get("Iops"),
        "endpoint": endpoint.get("Address"),
        "port": endpoint.get("Port"),
        "backup_retention_period_days": instance.get("BackupRetentionPeriod"),
        "latest_restorable_time": iso(instance.get("LatestRestorableTime")),
        "vpc_security_group_ids": [g["VpcSecurityGroupId"] for g in instance.get("VpcSecurityGroups", [])],
        "parameter_groups": [g["DBParameterGroupName"] for g in instance.get("DBParameterGroups", [])],
    }


def _metric_summary(series: Series, scale: float = 1.0) -> dict[str, t.Any]:
    def scaled(value: float | None) -> float | None:
        return None if value is None else round(value * scale, 3)

    return {
        "mean": scaled(series.mean()),
        "max": scaled(series.maximum()),
        "min": scaled(series.minimum()),
        "latest": scaled(series.latest()),
        "datapoints": len(series.values),
    }


def check_rds_instance_health(
    params: t.Mapping[str, t.Any], session: AwsSession | None = None, now: t.Callable[[], datetime.datetime] = utcnow
) -> dict[str, t.Any]:
    identifier = params["db_instance_identifier"]
    target = f"rds:{identifier}"
    thresholds = RdsThresholds.from_params(params)
    session = session or AwsSession(AwsSettings.from_params(params))
    result: dict[str, t.Any] = {"db_instance": None, "metrics": {}, "max_connections": None, "region": session.region}
    try:
        described = call(
            session,
            "rds",
            "describe_db_instances",
            "describe DB instance",
            identifier,
            "rds:DescribeDBInstances",
            DBInstanceIdentifier=identifier,
        )
    except AwsCallError as exc:
        result.update(summarize([exc.problem.finding("rds_instance", target)]), error=exc.problem.message)
        return result
    instance = described["DBInstances"][0]
    result["db_instance"] = describe_instance(instance)
    findings = [
        status_finding(target, instance, thresholds),
        multi_az_finding(target, instance, thresholds),
        restorable_time_finding(target, instance, now(), thresholds),
    ]

    minutes = float(params.get("window_minutes") or 15)
    start, end = metric_window(now(), minutes)
    window_text = f"over {minutes:g} min to {iso(end)}"
    dims = {"DBInstanceIdentifier": identifier}
    queries = [
        metric_query(qid, "AWS/RDS", name, dims, stat, 60)
        for qid, name, stat in (
            ("cpu", "CPUUtilization", "Average"),
            ("conn", "DatabaseConnections", "Maximum"),
            ("free", "FreeStorageSpace", "Minimum"),
            ("rlat", "ReadLatency", "Average"),
            ("wlat", "WriteLatency", "Average"),
        )
    ]
    try:
        series = fetch_series(session, queries, start, end, target)
    except AwsCallError as exc:
        for name in ("rds_cpu", "rds_connections", "rds_free_storage", "rds_latency"):
            findings.append(exc.problem.finding(name, target, not_found_status=UNKNOWN))
        result.update(summarize(findings), error=exc.problem.message)
        return result
    limit, source = resolve_max_connections(session, instance, params.get("max_connections"))
    result["max_connections"] = {"value": limit, "source": source}
    result["metrics"] = {
        "window": {"start": iso(start), "end": iso(end)},
        "cpu_percent": _metric_summary(series["cpu"]),
        "connections": _metric_summary(series["conn"]),
        "free_storage_gib": _metric_summary(series["free"], 1.0 / GIB),
        "read_latency_ms": _metric_summary(series["rlat"], 1000.0),
        "write_latency_ms": _metric_summary(series["wlat"], 1000.0),
    }
    findings += [
        cpu_finding(target, series["cpu"], thresholds, window_text),
        connections_finding(target, series["conn"], limit, source, thresholds, window_text),
        storage_finding(target, series["free"], instance.get("AllocatedStorage"), thresholds, window_text),
        latency_finding(target, series["rlat"], series["wlat"], thresholds, window_text),
    ]
    result.update(summarize(findings))
    return result
