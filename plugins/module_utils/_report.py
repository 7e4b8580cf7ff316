# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The diagnosis report: one JSON document with a versioned schema, and Markdown for people.

The JSON is what tools read (AWX, a ticket, a post-mortem timeline), so its
shape only changes with a new ``schema`` value; a key may be added (as
``dashboards`` was), none is removed or changed within one. The Markdown is
what the on-call engineer reads at 3 a.m.: the verdict first, the runbook's
dashboards to click, then what to do, then the evidence, worst first. A
healthy system gets a few lines, not a list of every check that passed.
"""

from __future__ import annotations

import datetime
import typing as t

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    CRITICAL,
    OK,
    UNKNOWN,
    WARN,
    Finding,
    rank,
    worst_status,
)

SCHEMA = "incident_response.diagnose/v1"
# Severity order of the report's sections: worst first, "could not check" after the measured problems.
SEVERITIES = (CRITICAL, WARN, UNKNOWN, OK)
_HEADINGS = {CRITICAL: "Critical", WARN: "Warnings", UNKNOWN: "Could not check", OK: "OK"}
_VERDICTS = {CRITICAL: "CRITICAL", WARN: "WARNING", UNKNOWN: "INCOMPLETE", OK: "ALL CLEAR"}


def _row(finding: Finding, source: str, host: str | None, fallback: str | None) -> dict[str, t.Any]:
    return {
        "severity": finding.status,
        "check": finding.name,
        "source": source,
        "host": host,
        "target": finding.target,
        "value": finding.value,
        "threshold": finding.threshold,
        "unit": finding.unit,
        "evidence": finding.evidence,
        # The runbook's resolution: the check's own remediation, else the alert's first step.
        "resolution": finding.remediation or (fallback if finding.status != OK else None),
    }


def dashboard_links(dashboards: t.Mapping[str, str] | None, markdown: bool = True) -> str:
    """The runbook's dashboards on one line: Markdown links, or ``name url`` pairs for a terminal; "" for none."""
    if not dashboards:
        return ""
    if markdown:
        return "Dashboards: " + " · ".join(f"[{name}]({url})" for name, url in dashboards.items())
    return "Dashboards: " + ", ".join(f"{name} {url}" for name, url in dashboards.items())


def headline(alert: str, status: str, counts: t.Mapping[str, int], hosts: int) -> str:
    if status == OK:
        return f"{alert}: ALL CLEAR. {counts[OK]} checks on {hosts} host(s) are within the runbook's thresholds."
    # "unknown" spelled out: a check that did not run is not a check that passed.
    problems = ", ".join(f"{counts[s]} {'could not be checked' if s == UNKNOWN else s}"
                         for s in (CRITICAL, WARN, UNKNOWN) if counts[s])
    return f"{alert}: {_VERDICTS[status]}. {problems} ({counts[OK]} ok) on {hosts} host(s)."


def build(
    alert: str,
    findings: t.Sequence[tuple[str, str, Finding] | tuple[str, Finding]],
    recommendations: t.Sequence[t.Mapping[str, t.Any]],
    hosts: t.Mapping[str, t.Sequence[str]],
    durations: t.Mapping[str, t.Any],
    resolutions: t.Mapping[str, str] | None = None,
    generated_at: datetime.datetime | None = None,
    dashboards: t.Mapping[str, str] | None = None,
) -> dict[str, t.Any]:
    """The report document.

    ``findings`` are (source, host the check ran on, finding), or (source, finding) when the host does not
    matter; ``resolutions`` maps source -> runbook step; ``dashboards`` maps name -> URL (the runbook's
    Key Dashboards).
    """
    resolutions = resolutions or {}
    stamp = (generated_at or datetime.datetime.now(datetime.timezone.utc)).astimezone(datetime.timezone.utc)
    triples = [entry if len(entry) == 3 else (entry[0], None, entry[1]) for entry in findings]
    rows = [_row(f, source, host, resolutions.get(source)) for source, host, f in triples]
    # Stable order: severity, then target and check, so two runs of the same state diff cleanly.
    rows.sort(key=lambda r: (-rank(r["severity"]), str(r["target"]), r["check"]))
    counts = {s: sum(1 for r in rows if r["severity"] == s) for s in SEVERITIES}
    status = worst_status(r["severity"] for r in rows)
    return {
        "schema": SCHEMA,
        "alert": alert,
        "generated_at": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "verdict": {
            "status": status,
            "all_clear": status == OK,
            "headline": headline(alert, status, counts, len(hosts)),
            "counts": counts,
        },
        "findings": {s: [r for r in rows if r["severity"] == s] for s in SEVERITIES},
        "recommendations": [dict(r) for r in recommendations],
        "hosts": {h: sorted(set(sources)) for h, sources in sorted(hosts.items())},
        "durations": dict(durations),
        "dashboards": {str(name): str(url) for name, url in (dashboards or {}).items()},
    }


def _value(row: t.Mapping[str, t.Any]) -> str:
    value = row.get("value")
    if value is None or (isinstance(value, (dict, list)) and not value):
        return ""
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    unit = f" {row['unit']}" if row.get("unit") and not isinstance(row.get("value"), list) else ""
    return f" = {value}{unit}"


def markdown(report: t.Mapping[str, t.Any], max_ok: int = 0, title: str | None = None) -> str:
    """Verdict, what to do, then findings worst first; the all-clear is three lines.

    ``title`` heads the document; a diagnosis is titled after its alert (``Diagnosis: high_latency``).
    """
    verdict = report["verdict"]
    took = report.get("durations", {}).get("total_seconds")
    links = dashboard_links(report.get("dashboards"))
    title = title or f"Diagnosis: {report['alert']}"
    lines = [f"# {title}: {_VERDICTS[verdict['status']]}", "", verdict["headline"], ""]
    if verdict["all_clear"]:
        # Still a few lines: the dashboards go on the last one.
        lines.append(f"Generated {report['generated_at']}" + (f" in {took:.1f} s." if took is not None else ".")
                     + (f" {links}" if links else ""))
        return "\n".join(lines) + "\n"
    if links:
        lines += [links, ""]
    if report["recommendations"]:
        lines += ["## What to do", ""]
        for number, rec in enumerate(report["recommendations"], 1):
            lines.append(f"{number}. **{rec['summary']}** ({rec['severity']})")
            if rec.get("command"):
                lines += ["", f"   ```sh\n   {rec['command']}\n   ```", ""]
            if rec.get("evidence"):
                lines.append(f"   - Evidence: {rec['evidence']}")
            lines.append(f"   - Runbook: {rec['runbook']}")
        lines.append("")
    for severity in (CRITICAL, WARN, UNKNOWN):
        rows = report["findings"][severity]
        if not rows:
            continue
        lines += [f"## {_HEADINGS[severity]} ({len(rows)})", ""]
        for row in rows:
            lines.append(f"- **{row['target']}** `{row['check']}`{_value(row)} ({row['source']}{' on ' + row['host'] if row.get('host') else ''})")
            if row.get("evidence"):
                lines.append(f"  - Evidence: {row['evidence']}")
            if row.get("resolution"):
                lines.append(f"  - Resolution: {row['resolution']}")
        lines.append("")
    ok_rows = report["findings"][OK]
    lines.append(f"{len(ok_rows)} checks were ok" + (": " + ", ".join(
        f"{r['target']} {r['check']}" for r in ok_rows[:max_ok]) if max_ok and ok_rows else "."))
    lines += ["", f"Hosts: {', '.join(report['hosts'])}. Generated {report['generated_at']}"
              + (f" in {took:.1f} s." if took is not None else ".")]
    return "\n".join(lines) + "\n"


def console_lines(report: t.Mapping[str, t.Any], paths: t.Sequence[str] = (), limit: int = 3) -> list[str]:
    """A few lines readable in ten seconds: verdict, what to do, the worst findings, where the report is."""
    lines = [report["verdict"]["headline"]]
    for rec in report["recommendations"][:limit]:
        lines.append(f"DO: {rec['summary']}" + (f": {rec['command']}" if rec.get("command") else ""))
    worst = [r for s in (CRITICAL, WARN, UNKNOWN) for r in report["findings"][s]]
    for row in worst[:limit]:
        evidence = str(row.get("evidence") or "")
        evidence = evidence if len(evidence) <= 140 else evidence[:137] + "..."
        lines.append(f"[{row['severity']}] {row['target']} {row['check']}{_value(row)}: {evidence}".rstrip(": "))
    if len(worst) > limit:
        lines.append(f"... and {len(worst) - limit} more in the report")
    if report.get("dashboards"):
        lines.append(dashboard_links(report["dashboards"], markdown=False))
    lines += [f"Report: {p}" for p in paths]
    return lines
