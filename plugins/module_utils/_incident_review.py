# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The post-incident review: the runbook's template, section by section, filled from the record and timeline.

The runbook's template is::

    # Incident Report: incident-response Outage
    **Date:** / **Duration:** / **Severity:** / **Impact:**
    ## Timeline        (- HH:MM UTC: ...)
    ## Root Cause
    ## Resolution      (numbered steps)
    ## Action Items    (- [ ] ...)

The automation knows the times, the steps it took and what the diagnosis
said; it does not know the impact, the confirmed root cause or the action
items. Those are left as clearly marked drafts or blanks for people.
"""

from __future__ import annotations

import typing as t

from ansible_collections.platform_eng.incident_response.plugins.module_utils._incident import (
    human_duration,
    iso,
    minutes_between,
    utc,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._report import dashboard_links

REVIEW_SCHEMA = "incident_response.incident_review/v1"
# Timeline kinds that are steps the automation or responders took to resolve it.
RESOLUTION_KINDS = ("rollback_done", "rollback", "mitigation", "mitigated", "deploy_rolled_back")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def review_data(record: t.Mapping[str, t.Any], timeline: t.Sequence[t.Mapping[str, t.Any]],
                service: str = "incident-response", generated_at: str | None = None,
                dashboards: t.Mapping[str, str] | None = None) -> dict[str, t.Any]:
    """Everything the Markdown is rendered from; written next to it as JSON."""
    events = sorted(timeline, key=lambda item: utc(item["at"]))
    end = record.get("resolved_at")
    diagnoses = [item for item in events if item.get("kind") == "diagnosis"]
    steps = [item for item in events if item.get("kind") in RESOLUTION_KINDS]
    return {
        "schema": REVIEW_SCHEMA,
        "generated_at": generated_at or iso(utc(None)),
        "service": service,
        "incident": dict(record),
        "date": record["opened_at"][:10],
        "durations_minutes": {
            "total": minutes_between(record["opened_at"], end),
            "to_acknowledge": minutes_between(record["opened_at"], record.get("acknowledged_at")),
            "to_mitigate": minutes_between(record["opened_at"], record.get("mitigated_at")),
            "to_resolve": minutes_between(record["opened_at"], end),
        },
        "timeline": [dict(item) for item in events],
        "root_cause_draft": [{"at": d["at"], "summary": d["summary"], "report": (d.get("refs") or {}).get("report", "")}
                             for d in diagnoses],
        "resolution_steps": [{"at": s["at"], "summary": s["summary"]} for s in steps],
        "dashboards": dict(dashboards or {}),
    }


def render_markdown(data: t.Mapping[str, t.Any]) -> str:
    record = data["incident"]
    durations = data["durations_minutes"]
    total = durations["total"]
    duration = human_duration(total) if total is not None else "ongoing (not resolved)"
    lines = [
        f"# Incident Report: {data['service']} Outage",
        "",
        f"**Date:** {data['date']}",
        f"**Duration:** {duration}",
        f"**Severity:** {record['severity']}",
        "**Impact:** _to be filled in: XX% of users affected_",
        "",
        f"Incident {record['id']}: {_one_line(record['title'])}. Time to acknowledge: "
        f"{human_duration(durations['to_acknowledge'])}; time to mitigate: {human_duration(durations['to_mitigate'])}.",
        "",
    ]
    if data.get("dashboards"):
        # Where the reviewers look at the metrics of the incident's window.
        lines += [dashboard_links(data["dashboards"]), ""]
    lines += [
        "## Timeline",
    ]
    for item in data["timeline"]:
        refs = item.get("refs") or {}
        where = f" ({refs['report']})" if refs.get("report") else ""
        lines.append(f"- {utc(item['at']):%H:%M} UTC: {_one_line(item['summary'])}{where}")
    lines += ["", "## Root Cause"]
    if data["root_cause_draft"]:
        lines.append("DRAFT from the automated diagnosis; a person must confirm or replace it:")
        for draft in data["root_cause_draft"]:
            report = f" (report: {draft['report']})" if draft["report"] else ""
            lines.append(f"- {utc(draft['at']):%H:%M} UTC diagnosis: {_one_line(draft['summary'])}{report}")
    else:
        lines.append("_To be written: no automated diagnosis was recorded during this incident._")
    lines += ["", "## Resolution"]
    if data["resolution_steps"]:
        lines += [f"{n}. {_one_line(step['summary'])} ({utc(step['at']):%H:%M} UTC)"
                  for n, step in enumerate(data["resolution_steps"], 1)]
    else:
        lines.append("_No automated resolution step was recorded; describe what was done._")
    lines += ["", "## Action Items", "- [ ] ", ""]
    return "\n".join(lines)
