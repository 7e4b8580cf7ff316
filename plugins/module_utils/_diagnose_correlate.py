# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The runbook's correlations, across the findings of several checks.

One check sees one symptom; the runbook's resolution steps join them:
"check for recent deployments ... if recent deployment, rollback
immediately", "scale up database if CPU > 80 %", "check connection pool
exhaustion". Each rule here takes plain findings and release histories and
returns recommendations, so the playbook never re-derives them in Jinja.

Causes are ranked, not just listed: a dependency that is down (the database,
the cache) explains a high error rate better than a release that happened to
go live a minute earlier, and it comes first. When the database is down no
rollback is recommended at all: a rollback cannot bring a database back, and
the release's migrations run there. A stuck queue (a backlog, its dead-letter
queue filling) comes after the rollback: a bad release is the likelier reason
its consumers fail, and rolling back fixes both.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import typing as t

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    CRITICAL,
    OK,
    UNKNOWN,
    WARN,
    Finding,
    rank,
)

ROLLBACK_COMMAND = "ansible-playbook playbooks/rollback.yml"

# Findings that measure the service's 5xx rate, and its latency, whatever check produced them. A count of
# 5xx log lines is evidence, not a rate, so it never recommends a rollback on its own.
ERROR_RATE_CHECKS = frozenset({"http_error_rate", "metrics_5xx_ratio", "http_status", "error_rate"})
LATENCY_CHECKS = frozenset({"http_latency_p95", "metrics_latency_p95", "latency_p95"})
CPU_CHECKS = frozenset({"rds_cpu", "cpu", "db_cpu"})
POOL_CHECKS = frozenset({"connections_in_use", "rds_connections", "clients"})
# A server that answers "too many clients" is alive and its pool is exhausted: that is not a dead database.
POOL_EXHAUSTED = re.compile(r"too many clients|remaining connection slots|max number of clients", re.I)

QUEUE_BACKLOG_CHECKS = frozenset({"sqs_depth", "sqs_oldest_age"})
DEAD_LETTER_CHECKS = frozenset({"sqs_dlq_depth"})
CACHE_MEMORY_CHECKS = frozenset({"elasticache_memory"})
_SQS_ARN = re.compile(r"arn:aws[\w-]*:sqs:[\w-]+:\d+:[\w.-]+")

# Order among recommendations of the same severity: the most likely cause first.
PRIORITY = {"database_down": 0, "cache_down": 1, "rollback": 2, "queue_backlog": 3, "dead_letters": 4,
            "connection_pool": 5, "scale_up_database": 6, "cache_memory": 7}


@dataclasses.dataclass
class Recommendation:
    id: str
    severity: str
    summary: str
    runbook: str
    evidence: str = ""
    command: str | None = None

    def as_dict(self) -> dict[str, t.Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Deploy:
    host: str
    version: str
    at: datetime.datetime
    result: str | None
    by: str | None


def parse_time(text: str | None) -> datetime.datetime | None:
    """An ISO 8601 UTC time from the release history; None when absent or malformed."""
    if not text:
        return None
    try:
        stamp = datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=datetime.timezone.utc)


def recent_deploys(releases: t.Mapping[str, t.Mapping[str, t.Any]], now: datetime.datetime,
                   window_minutes: float) -> list[Deploy]:
    """The live release of each host when it was recorded within the window, newest first."""
    found = []
    for host, history in sorted(releases.items()):
        entries = [e for e in history.get("entries") or [] if isinstance(e, dict)]
        live = history.get("current")
        # The newest entry for the live version says when it went live.
        for entry in reversed(entries):
            if live and entry.get("version") != live:
                continue
            at = parse_time(entry.get("at"))
            if at is not None and now - at <= datetime.timedelta(minutes=window_minutes):
                found.append(Deploy(host, str(entry.get("version")), at, entry.get("result"), entry.get("by")))
            break
    return sorted(found, key=lambda d: d.at, reverse=True)


def _bad(findings: t.Iterable[Finding], names: frozenset[str], at_least: str = CRITICAL) -> list[Finding]:
    return [f for f in findings if f.name in names and rank(f.status) >= rank(at_least) and f.status != "unknown"]


def _describe(finding: Finding) -> str:
    unit = f" {finding.unit}" if finding.unit else ""
    value = "" if finding.value is None or isinstance(finding.value, (dict, list)) else f" {finding.value}{unit}"
    return f"{finding.target} {finding.name}{value}"


def _ago(deploy: Deploy, now: datetime.datetime) -> str:
    minutes = int((now - deploy.at).total_seconds() // 60)
    return f"{deploy.version} on {deploy.host} {minutes} min ago" + (f" by {deploy.by}" if deploy.by else "")


def _sourced(entries: t.Sequence[Finding | tuple[str, Finding]]) -> list[tuple[str | None, Finding]]:
    return [entry if isinstance(entry, tuple) else (None, entry) for entry in entries]


def dead_dependencies(entries: t.Sequence[Finding | tuple[str, Finding]]) -> dict[str, list[Finding]]:
    """The findings that say a dependency is down, by dependency (``database``, ``cache``).

    ``entries`` are findings, or (source, finding) pairs: a ``connection`` finding means the database when the
    postgres check made it and the cache when the redis check did. A refusal for too many clients is the pool
    (see ``connection_pool``), not a dead server; an ``unknown`` finding proves nothing either way.
    """
    dead: dict[str, list[Finding]] = {}
    for source, finding in _sourced(entries):
        if finding.status != CRITICAL:
            continue
        if finding.name == "connection" and source in ("postgres", "redis"):
            if POOL_EXHAUSTED.search(str(finding.evidence or "")):
                continue
            dead.setdefault("database" if source == "postgres" else "cache", []).append(finding)
        elif finding.name == "dependency_reachable":
            # service_start_info names the dependency: "app1 -> database 10.77.2.250:5432".
            for name in ("database", "cache"):
                if f"-> {name}" in finding.target:
                    dead.setdefault(name, []).append(finding)
        elif finding.name == "rds_status":
            dead.setdefault("database", []).append(finding)
        elif finding.name == "elasticache_status":
            # AWS says the cache is not available (deleting, rebooting, restore-failed...).
            dead.setdefault("cache", []).append(finding)
    return dead


def database_checked(entries: t.Sequence[Finding | tuple[str, Finding]]) -> bool:
    """False when the postgres check ran nowhere it could connect, but was planned (it could not check)."""
    postgres = [finding for source, finding in _sourced(entries) if source == "postgres"]
    return not postgres or any(f.name == "connection" and f.status != UNKNOWN for f in postgres)


def _where(findings: t.Sequence[Finding]) -> str:
    return "; ".join(f"{f.target}: {f.evidence}" if f.evidence else f.target for f in findings[:4]) + (
        f"; and {len(findings) - 4} more" if len(findings) > 4 else "")


def _dependency_advice(dead: t.Mapping[str, list[Finding]]) -> list[Recommendation]:
    advice = []
    if "database" in dead:
        advice.append(Recommendation(
            "database_down", CRITICAL,
            "Bring the database back first: it does not accept connections, and nothing that uses it can work "
            "until it does (a rollback cannot fix it)",
            "Database Connection Errors: 1. verify database is running; 3. test connection from application host",
            _where(dead["database"])))
    if "cache" in dead:
        advice.append(Recommendation(
            "cache_down", CRITICAL,
            "Bring the cache back: Redis does not accept connections",
            "Service Won't Start, common cause: dependency connection failure; High Latency, resolution 2: "
            "check cache hit rate, warm cache if needed",
            _where(dead["cache"])))
    return advice


def _recent_deploy_finding(deploys: list[Deploy], suspect: bool, dead: t.Mapping[str, list[Finding]],
                           now: datetime.datetime, window: float) -> Finding:
    hosts, evidence = ", ".join(sorted({d.host for d in deploys})), "; ".join(_ago(d, now) for d in deploys)
    threshold = f"within {window:g} min"
    if not suspect:
        return Finding("recent_deploy", hosts, OK, deploys[0].version, threshold, evidence=evidence)
    if "database" in dead:
        return Finding("recent_deploy", hosts, WARN, deploys[0].version, threshold, evidence=evidence,
                       remediation="Not the first suspect while the database is down: a rollback cannot bring the "
                                   "database back and the release's migrations run there. Diagnose again once the "
                                   "database is up.")
    if dead:
        return Finding("recent_deploy", hosts, WARN, deploys[0].version, threshold, evidence=evidence,
                       remediation=f"Second suspect after the {' and '.join(sorted(dead))}: if the error rate stays "
                                   "high once it is back, roll back.")
    return Finding("recent_deploy", hosts, CRITICAL, deploys[0].version, threshold, evidence=evidence,
                   remediation="If recent deployment, rollback immediately")


def _dead_letter_arn(letters: t.Sequence[Finding]) -> str | None:
    """The dead-letter queue's ARN, which sqs_queue_health_info writes into the evidence of sqs_dlq_depth."""
    for finding in letters:
        match = _SQS_ARN.search(str(finding.evidence or ""))
        if match:
            return match.group(0)
    return None


def _queue_advice(plain: t.Sequence[Finding]) -> list[Recommendation]:
    """A backlog (depth or the oldest message's age) per queue, with its dead letters if any; dead letters alone."""
    advice = []
    backlog = _bad(plain, QUEUE_BACKLOG_CHECKS, WARN)
    # The "no dead-letter queue" warning has no value: it is a configuration finding, not dead letters.
    dead = [f for f in _bad(plain, DEAD_LETTER_CHECKS, WARN) if isinstance(f.value, (int, float)) and f.value > 0]
    for queue in sorted({f.target for f in backlog + dead}):
        waiting = [f for f in backlog if f.target == queue]
        letters = [f for f in dead if f.target == queue]
        arn = _dead_letter_arn(letters)
        redrive = f"aws sqs start-message-move-task --source-arn {arn}" if arn else None
        evidence = "; ".join(f"{_describe(f)}: {f.evidence}" for f in waiting + letters)
        if waiting:
            also = f" and {letters[0].value:g} messages are in its dead-letter queue" if letters else ""
            advice.append(Recommendation(
                "queue_backlog", max((f.status for f in waiting + letters), key=rank),
                f"The queue {queue.split(':', 1)[-1]} is backing up{also}: its consumers are stuck or failing; "
                "check them (their logs, a recent deploy), scale them up if they are saturated"
                + (", then redrive the dead letters once they work" if letters else ""),
                "High Error Rate, resolution 2: review application logs for stack traces; resolution 5: scale up if "
                "resource saturation detected",
                evidence, redrive))
        else:
            advice.append(Recommendation(
                "dead_letters", max((f.status for f in letters), key=rank),
                f"{letters[0].value:g} messages of {queue.split(':', 1)[-1]} failed and wait in its dead-letter queue: "
                "read one to see why, fix the consumer, then redrive them",
                "High Error Rate, resolution 2: review application logs for stack traces",
                evidence, redrive))
    return advice


def correlate(findings: t.Sequence[Finding | tuple[str, Finding]], releases: t.Mapping[str, t.Mapping[str, t.Any]],
              now: datetime.datetime, deploy_window_minutes: float = 30,
              db_cpu_percent: float = 80) -> tuple[list[Finding], list[Recommendation]]:
    """Extra findings (the recent deploy) and the runbook's recommendations, the most likely cause first.

    ``findings`` are findings, or (source, finding) pairs so that a ``connection`` finding can be told apart
    (postgres or redis).
    """
    plain = [finding for _source, finding in _sourced(findings)]
    extra: list[Finding] = []
    dead = dead_dependencies(findings)
    advice = _dependency_advice(dead)
    deploys = recent_deploys(releases, now, deploy_window_minutes)
    errors = _bad(plain, ERROR_RATE_CHECKS)
    slow = _bad(plain, LATENCY_CHECKS)

    if deploys:
        extra.append(_recent_deploy_finding(deploys, bool(errors or slow), dead, now, deploy_window_minutes))
    # A dead database rules the rollback out; a dead cache only puts it second; a database nobody could check
    # is said, because the rollback's migrations run there.
    if deploys and (errors or slow) and "database" not in dead:
        then = "once the cache is back, if the error rate stays high: " if dead else ""
        unchecked = "" if database_checked(findings) else (
            "; the database could not be checked: confirm it is up first (the release's migrations run there)")
        if errors:
            advice.append(Recommendation(
                "rollback", CRITICAL if not dead else WARN,
                f"Roll back{' ' + then if then else ': '}{_ago(deploys[0], now)}, and the error rate is above the "
                "runbook's limit" + unchecked,
                "High Error Rate, resolution 3: if recent deployment, rollback immediately",
                "; ".join(_describe(f) for f in errors[:4]), ROLLBACK_COMMAND))
        else:
            advice.append(Recommendation(
                "rollback", CRITICAL if not dead else WARN,
                f"Roll back or review{' ' + then if then else ': '}{_ago(deploys[0], now)}, and P95 latency is "
                "above the runbook's limit" + unchecked,
                "High Latency, resolution 3: review recent code changes for inefficient loops",
                "; ".join(_describe(f) for f in slow[:4]), ROLLBACK_COMMAND))

    hot = [f for f in plain if f.name in CPU_CHECKS and isinstance(f.value, (int, float))
           and f.value > db_cpu_percent]
    if hot:
        advice.append(Recommendation(
            "scale_up_database", CRITICAL,
            f"Scale up the database: CPU above {db_cpu_percent:g} %",
            "High Latency, resolution 4: scale up database if CPU > 80 %",
            "; ".join(_describe(f) for f in hot)))

    advice += _queue_advice(plain)

    full = _bad(plain, CACHE_MEMORY_CHECKS, WARN)
    if full:
        advice.append(Recommendation(
            "cache_memory", max((f.status for f in full), key=rank),
            "Scale up the cache: Redis uses most of its node's memory, so it evicts keys and the hit rate falls",
            "High Latency, resolution 2: check cache hit rate, warm cache if needed; Memory Leak: review recent code "
            "for unbounded data structures",
            "; ".join(f"{_describe(f)}: {f.evidence}" for f in full)))

    pool = _bad(plain, POOL_CHECKS, WARN) + [
        f for source, f in _sourced(findings) if f.name == "connection" and source in ("postgres", "redis")
        and f.status == CRITICAL and POOL_EXHAUSTED.search(str(f.evidence or ""))]
    if pool:
        advice.append(Recommendation(
            "connection_pool", max((f.status for f in pool), key=rank),
            "The connection pool is near its limit: look for connection pool exhaustion and unclosed connections",
            "High Error Rate, resolution 4: if database issue, check connection pool exhaustion; "
            "Database Connection Errors, step 4: ensure max_connections not exceeded",
            "; ".join(f"{_describe(f)}: {f.evidence}" if f.name == "connection" else _describe(f) for f in pool)))
    advice.sort(key=lambda r: (-rank(r.severity), PRIORITY.get(r.id, len(PRIORITY))))
    return extra, advice
