# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Turn the raw results of a diagnosis's checks into the report, and write it.

The playbook hands over each check's module result as it came back (or its
failure); this file gathers their findings, adds the correlations, builds the
report and writes it. A check that failed or did not finish is a finding
("could not check"), never a reason to lose the rest of the report.
"""

from __future__ import annotations

import datetime
import json
import os
import tempfile
import typing as t

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _report
from ansible_collections.platform_eng.incident_response.plugins.module_utils._aws_elasticache import memory_finding
from ansible_collections.platform_eng.incident_response.plugins.module_utils._diagnose_correlate import correlate
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    UNKNOWN,
    Finding,
    IncidentResponseError,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._verdict import reaches

# The one list of the runbook alerts a diagnosis knows, and the checks each runs (../runbook.md "Common Alerts" and
# "Troubleshooting"); ``all`` runs the union, each check once. The playbook's guard, the role's argument spec and
# the alert catalogue name the same alerts, and tests/unit/content/test_alert_list.py keeps them so.
# release_history feeds the "recent deploy" correlation and is read wherever a bad release could be the cause, and
# so are both dependencies (postgres, redis): a dead one outranks a recent deploy. The cache is seen from Redis
# (redis) and from AWS (elasticache); a stuck queue (sqs) explains errors and latency of the requests that wait on it.
CHECKS_BY_ALERT: dict[str, tuple[str, ...]] = {
    "high_error_rate": ("http", "release_history", "k8s", "postgres", "redis", "cloudwatch_logs", "rds", "elasticache",
                        "sqs"),
    "high_latency": ("http", "postgres", "redis", "rds", "release_history", "elasticache", "sqs"),
    "service_wont_start": ("service_start", "http", "release_history"),
    "db_connection": ("postgres", "service_start", "rds", "security_groups"),
    "memory_leak": ("k8s", "postgres", "release_history"),
}
ALERTS = tuple(CHECKS_BY_ALERT)
ALERT_CHOICES = ALERTS + ("all",)
# Where each check runs: the bastion reaches the service, the database and the cache; each app host checks itself;
# the controller asks Kubernetes and AWS.
ON_BASTION = ("http", "redis", "postgres")
PER_APP_HOST = ("service_start", "release_history")
AWS_CHECKS = ("cloudwatch_logs", "rds", "security_groups", "elasticache", "sqs")

# The runbook's resolution step for a finding whose check gave no remediation of its own.
RESOLUTIONS = {
    "http": "High Error Rate: check for recent deployments; review application logs for stack traces",
    "postgres": "High Latency: identify slow database queries and add indexes",
    "redis": "High Latency: check cache hit rate, warm cache if needed",
    "service_start": "Service Won't Start: missing environment variables, database connection failure, "
                     "port already in use, insufficient permissions",
    "k8s": "Memory Leak: review recent code for unbounded data structures; increase memory limit as temporary fix",
    "cloudwatch_logs": "High Error Rate: review application logs for stack traces",
    "cloudwatch_metrics": "High Error Rate: scale up if resource saturation detected",
    "rds": "Database Connection Errors: verify database is running",
    "security_groups": "Database Connection Errors: check security group rules",
    "elasticache": "High Latency: check cache hit rate, warm cache if needed",
    "sqs": "High Error Rate: review application logs for stack traces; scale up if resource saturation detected",
}
_FIELDS = ("name", "target", "status", "value", "threshold", "unit", "evidence", "remediation")


def could_not_check(source: str, host: str, name: str, reason: str) -> Finding:
    """A check that did not run, or did not report: an ``unknown`` finding that names the host and why."""
    return Finding(name, f"{source} on {host}", UNKNOWN, evidence=f"could not check {host}: {reason}",
                   remediation=f"Nothing is known about {source} on {host}: fix the cause above and diagnose again, "
                               "or check it by hand")


def _findings_of(item: t.Mapping[str, t.Any]) -> list[Finding]:
    source, host, result = item["source"], item.get("host") or "localhost", item.get("result") or {}
    if result.get("unreachable"):
        return [could_not_check(source, host, "host_unreachable",
                                f"{source} did not run, the host is unreachable: {result.get('msg') or 'unreachable'}")]
    if result.get("skipped"):
        why = result.get("skip_reason") or result.get("msg") or "skipped"
        return [could_not_check(source, host, "check_skipped", f"{source} was skipped: {why}")]
    if result.get("failed") or ("findings" not in result and result.get("msg")):
        return [could_not_check(source, host, "check_failed",
                                f"{source} failed: {result.get('msg') or 'the check failed'}")]
    if not result.get("finished", 1) or "findings" not in result:
        return [could_not_check(source, host, "check_incomplete",
                                f"{source} did not finish within its time limit or returned no findings")]
    return [Finding(**{k: f.get(k) for k in _FIELDS}) for f in result["findings"]]


def join_cache_memory(results: t.Sequence[t.Mapping[str, t.Any]]) -> list[dict[str, t.Any]]:
    """The results, with ElastiCache's memory judged against the ``used_memory`` the Redis check read.

    The two checks run apart (ElastiCache from the controller, Redis from the bastion, which reaches the
    cache), so the ElastiCache module cannot see ``used_memory`` itself and reports its memory finding as
    ``unknown``. Here both results are at hand: the finding is judged with the module's own function and
    thresholds. Anything missing (no Redis result, a failed check) leaves the ``unknown`` finding as it was.
    """
    used = host = None
    for item in results:
        memory = (item.get("result") or {}).get("memory") if item.get("source") == "redis" else None
        if isinstance(memory, dict) and memory.get("used_bytes") is not None:
            used, host = int(memory["used_bytes"]), item.get("host") or "localhost"
            break
    joined = []
    for item in results:
        result = item.get("result") or {}
        cache = result.get("cache")
        if item.get("source") != "elasticache" or used is None or not isinstance(cache, dict):
            joined.append(dict(item))
            continue
        findings = []
        for finding in result.get("findings") or []:
            if finding.get("name") == "elasticache_memory" and finding.get("status") == UNKNOWN:
                limits = finding.get("threshold") or {}
                finding = memory_finding(
                    finding["target"], cache.get("node_type"), cache.get("node_memory_bytes"),
                    cache.get("node_memory_source") or "", used, limits.get("warn"), limits.get("critical"),
                    f"Redis INFO from {host}").as_dict()
            findings.append(finding)
        joined.append({**item, "result": {**result, "findings": findings}})
    return joined


def _is_history(result: t.Mapping[str, t.Any]) -> bool:
    """A release history that was read, as opposed to a failure, an unreachable host or a skip."""
    return not any(result.get(key) for key in ("failed", "unreachable", "skipped")) and "entries" in result


def missing_checks(planned: t.Iterable[t.Sequence[t.Any]], results: t.Iterable[t.Mapping[str, t.Any]]
                   ) -> list[tuple[str, str, Finding]]:
    """A finding for every planned check that has no result.

    ``planned`` holds (host, sources) pairs: the checks each slot was given. A slot whose host became
    unreachable or failed is dropped from the play by Ansible and never hands its results over; without
    this, its checks would vanish from the report instead of saying they could not run.
    """
    reported = {(item["source"], item.get("host") or "localhost") for item in results}
    missing = []
    for pair in planned:
        try:
            host, sources = pair
        except (TypeError, ValueError):
            raise IncidentResponseError(f"planned: each entry is [host, [sources]], got {pair!r}") from None
        host = host or "localhost"
        for source in sources or []:
            if (source, host) not in reported:
                missing.append((source, host, could_not_check(
                    source, host, "check_missing",
                    f"{source} never reported: the run lost this check (its host became unreachable or its "
                    "step failed before it handed the result over; see the run's output)")))
    return missing


def _known(alert: str) -> str:
    if alert not in ALERT_CHOICES:
        raise IncidentResponseError(f"Unknown alert {alert!r}; valid alerts: {', '.join(ALERT_CHOICES)}")
    return alert


def plan_checks(alert: str, aws: bool, kube: bool, queues: bool, elasticache: bool) -> dict[str, list[str]]:
    """The checks an alert runs, without those that have nothing to ask, grouped by where they run.

    ``aws``, ``kube``, ``queues`` and ``elasticache`` say whether the AWS checks are on, and whether a Kubernetes API,
    queues and an ElastiCache cache are configured. ``on_bastion`` gets a slot per check (they are the slow ones),
    ``per_app_host`` runs on every app host, ``k8s`` and ``aws`` get a controller slot each.
    """
    chosen = CHECKS_BY_ALERT[_known(alert)] if alert != "all" else tuple(
        dict.fromkeys(check for checks in CHECKS_BY_ALERT.values() for check in checks))
    left_out = set(() if aws else AWS_CHECKS) | set(() if kube else ("k8s",)) | set(() if queues else ("sqs",)) | set(
        () if elasticache else ("elasticache",))
    checks = [check for check in chosen if check not in left_out]
    return {
        "checks": checks,
        "on_bastion": [c for c in checks if c in ON_BASTION],
        "per_app_host": [c for c in checks if c in PER_APP_HOST],
        "k8s": [c for c in checks if c == "k8s"],
        "aws": [c for c in checks if c in AWS_CHECKS],
    }


def diagnose(params: t.Mapping[str, t.Any], now: datetime.datetime | None = None) -> dict[str, t.Any]:
    """Build the report from the checks' results; the caller decides whether to write it."""
    alert = _known(params["alert"])
    now = now or datetime.datetime.now(datetime.timezone.utc)
    pairs: list[tuple[str, str, Finding]] = []
    hosts: dict[str, list[str]] = {}
    releases: dict[str, t.Mapping[str, t.Any]] = {}
    results = join_cache_memory(params.get("results") or [])
    for item in results:
        host = item.get("host") or "localhost"
        hosts.setdefault(host, []).append(item["source"])
        if item["source"] == "release_history" and _is_history(item.get("result") or {}):
            releases[host] = item["result"]
            continue
        pairs += [(item["source"], host, f) for f in _findings_of(item)]
    for source, host, finding in missing_checks(params.get("planned") or [], results):
        hosts.setdefault(host, []).append(source)
        pairs.append((source, host, finding))
    extra, advice = correlate([(source, finding) for source, _host, finding in pairs], releases, now,
                              float(params.get("deploy_window_minutes") or 30),
                              float(params.get("db_cpu_percent") or 80))
    pairs += [("release_history", f.target, f) for f in extra]
    durations = dict(params.get("durations") or {})
    durations["checks"] = [{"source": i["source"], "host": i.get("host") or "localhost", "seconds": i.get("seconds")}
                           for i in params.get("results") or []]
    started = params.get("started_epoch")
    if started:
        durations["total_seconds"] = round(now.timestamp() - float(started), 2)
    report = _report.build(alert, pairs, [a.as_dict() for a in advice], hosts, durations, RESOLUTIONS, now,
                           params.get("dashboards"))
    return {
        "report": report,
        "markdown": _report.markdown(report),
        "status": report["verdict"]["status"],
        "fails": reaches(report["verdict"]["status"], params.get("fail_on") or "none"),
    }


def _atomic_write(path: str, text: str) -> None:
    # A reader (AWX, a tail -f) never sees half a report.
    handle, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".diagnose-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(tmp, 0o640)  # reports name hosts, sessions and errors: not for every local user
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write(report: t.Mapping[str, t.Any], text: str, directory: str) -> list[str]:
    """Write <dir>/diagnose-<alert>-<time>.json and .md; returns both paths."""
    try:
        os.makedirs(directory, mode=0o750, exist_ok=True)
        stem = os.path.join(directory, f"diagnose-{report['alert']}-{report['generated_at'].replace(':', '')}")
        _atomic_write(stem + ".json", json.dumps(report, indent=2, sort_keys=False, default=str) + "\n")
        _atomic_write(stem + ".md", text)
    except OSError as exc:
        raise IncidentResponseError(f"Cannot write the diagnosis report to {directory}: {exc.strerror}") from None
    return [stem + ".json", stem + ".md"]
