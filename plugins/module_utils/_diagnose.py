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
from ansible_collections.platform_eng.incident_response.plugins.module_utils._diagnose_correlate import correlate
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    UNKNOWN,
    Finding,
    IncidentResponseError,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._verdict import reaches

ALERTS = ("high_error_rate", "high_latency", "service_wont_start", "db_connection", "memory_leak")

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
}
_FIELDS = ("name", "target", "status", "value", "threshold", "unit", "evidence", "remediation")


def _findings_of(item: t.Mapping[str, t.Any]) -> list[Finding]:
    source, host, result = item["source"], item.get("host") or "localhost", item.get("result") or {}
    where = f"{source} on {host}"
    if result.get("unreachable"):
        return [Finding("host_unreachable", where, UNKNOWN, evidence=str(result.get("msg") or "unreachable"))]
    if result.get("failed") or ("findings" not in result and result.get("msg")):
        return [Finding("check_failed", where, UNKNOWN, evidence=str(result.get("msg") or "the check failed"))]
    if not result.get("finished", 1) or "findings" not in result:
        return [Finding("check_incomplete", where, UNKNOWN,
                        evidence="the check did not finish within its time limit or returned no findings")]
    return [Finding(**{k: f.get(k) for k in _FIELDS}) for f in result["findings"]]


def diagnose(params: t.Mapping[str, t.Any], now: datetime.datetime | None = None) -> dict[str, t.Any]:
    """Build the report from the checks' results; the caller decides whether to write it."""
    alert = params["alert"]
    if alert not in ALERTS + ("all",):
        raise IncidentResponseError(f"Unknown alert {alert!r}; valid alerts: {', '.join(ALERTS + ('all',))}")
    now = now or datetime.datetime.now(datetime.timezone.utc)
    pairs: list[tuple[str, str, Finding]] = []
    hosts: dict[str, list[str]] = {}
    releases: dict[str, t.Mapping[str, t.Any]] = {}
    for item in params.get("results") or []:
        host = item.get("host") or "localhost"
        hosts.setdefault(host, []).append(item["source"])
        if item["source"] == "release_history":
            if not (item.get("result") or {}).get("failed"):
                releases[host] = item["result"]
                continue
        pairs += [(item["source"], host, f) for f in _findings_of(item)]
    extra, advice = correlate([finding for _source, _host, finding in pairs], releases, now,
                              float(params.get("deploy_window_minutes") or 30),
                              float(params.get("db_cpu_percent") or 80))
    pairs += [("release_history", f.target, f) for f in extra]
    durations = dict(params.get("durations") or {})
    durations["checks"] = [{"source": i["source"], "host": i.get("host") or "localhost", "seconds": i.get("seconds")}
                           for i in params.get("results") or []]
    started = params.get("started_epoch")
    if started:
        durations["total_seconds"] = round(now.timestamp() - float(started), 2)
    report = _report.build(alert, pairs, [a.as_dict() for a in advice], hosts, durations, RESOLUTIONS, now)
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
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write(report: t.Mapping[str, t.Any], text: str, directory: str) -> list[str]:
    """Write <dir>/diagnose-<alert>-<time>.json and .md; returns both paths."""
    try:
        os.makedirs(directory, exist_ok=True)
        stem = os.path.join(directory, f"diagnose-{report['alert']}-{report['generated_at'].replace(':', '')}")
        _atomic_write(stem + ".json", json.dumps(report, indent=2, sort_keys=False, default=str) + "\n")
        _atomic_write(stem + ".md", text)
    except OSError as exc:
        raise IncidentResponseError(f"Cannot write the diagnosis report to {directory}: {exc.strerror}") from None
    return [stem + ".json", stem + ".md"]
