# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The runbook's correlations, across the findings of several checks.

One check sees one symptom; the runbook's resolution steps join them:
"check for recent deployments ... if recent deployment, rollback
immediately", "scale up database if CPU > 80 %", "check connection pool
exhaustion". Each rule here takes plain findings and release histories and
returns recommendations, so the playbook never re-derives them in Jinja.
"""

from __future__ import annotations

import dataclasses
import datetime
import typing as t

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    CRITICAL,
    OK,
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


def correlate(findings: t.Sequence[Finding], releases: t.Mapping[str, t.Mapping[str, t.Any]],
              now: datetime.datetime, deploy_window_minutes: float = 30,
              db_cpu_percent: float = 80) -> tuple[list[Finding], list[Recommendation]]:
    """Extra findings (the recent deploy) and the runbook's recommendations, most urgent first."""
    extra: list[Finding] = []
    advice: list[Recommendation] = []
    deploys = recent_deploys(releases, now, deploy_window_minutes)
    errors = _bad(findings, ERROR_RATE_CHECKS)
    slow = _bad(findings, LATENCY_CHECKS)

    if deploys:
        suspect = bool(errors or slow)
        extra.append(Finding(
            "recent_deploy", ", ".join(sorted({d.host for d in deploys})), CRITICAL if suspect else OK,
            value=deploys[0].version, threshold=f"within {deploy_window_minutes:g} min",
            evidence="; ".join(_ago(d, now) for d in deploys),
            remediation="If recent deployment, rollback immediately" if suspect else None))
    if deploys and errors:
        advice.append(Recommendation(
            "rollback", CRITICAL,
            f"Roll back: {_ago(deploys[0], now)}, and the error rate is above the runbook's limit",
            "High Error Rate, resolution 3: if recent deployment, rollback immediately",
            "; ".join(_describe(f) for f in errors[:4]), ROLLBACK_COMMAND))
    elif deploys and slow:
        advice.append(Recommendation(
            "rollback", CRITICAL,
            f"Roll back or review: {_ago(deploys[0], now)}, and P95 latency is above the runbook's limit",
            "High Latency, resolution 3: review recent code changes for inefficient loops",
            "; ".join(_describe(f) for f in slow[:4]), ROLLBACK_COMMAND))

    hot = [f for f in findings if f.name in CPU_CHECKS and isinstance(f.value, (int, float))
           and f.value > db_cpu_percent]
    if hot:
        advice.append(Recommendation(
            "scale_up_database", CRITICAL,
            f"Scale up the database: CPU above {db_cpu_percent:g} %",
            "High Latency, resolution 4: scale up database if CPU > 80 %",
            "; ".join(_describe(f) for f in hot)))

    pool = _bad(findings, POOL_CHECKS, WARN)
    if pool:
        advice.append(Recommendation(
            "connection_pool", max((f.status for f in pool), key=rank),
            "The connection pool is near its limit: look for connection pool exhaustion and unclosed connections",
            "High Error Rate, resolution 4: if database issue, check connection pool exhaustion; "
            "Database Connection Errors, step 4: ensure max_connections not exceeded",
            "; ".join(_describe(f) for f in pool)))
    advice.sort(key=lambda r: -rank(r.severity))
    return extra, advice
