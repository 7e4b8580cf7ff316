# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: maintenance_report
short_description: A maintenance job's findings as a report in the diagnosis report's shape (JSON and Markdown)
version_added: 0.1.0
description:
  - Builds the same document as M(platform_eng.incident_response.diagnose_report) (verdict with headline and counts,
    findings grouped by severity with their source, hosts, durations) from findings that several checks returned,
    with its own C(schema) and a C(details) section, plus the Markdown and a few console lines.
  - The verdict is the collection's one rule (the worst status wins), so no playbook re-derives it in Jinja.
author:
  - Platform Engineering Team (@platform-eng)
options:
  _input:
    description: One entry per check, each C(source) (a name) and C(findings) (the check's findings).
    type: list
    elements: dict
    required: true
  title:
    description: What ran, for example V(DR drill); the headline starts with it.
    type: str
    required: true
  schema:
    description: The document's schema name, for example V(incident_response.dr_drill/v1).
    type: str
    required: true
  hosts:
    description: Host name to the sources that ran on it.
    type: dict
    default: {}
  durations:
    description: Seconds per phase, reported as they are.
    type: dict
    default: {}
  details:
    description: Job-specific data (backup, restore, plan), kept under C(details).
    type: dict
    default: {}
  dashboards:
    description: Dashboard name to URL (the runbook's Key Dashboards), linked from the report and its console lines.
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Build the drill's report
  ansible.builtin.set_fact:
    drill: >-
      {{ [{'source': 's3_backup', 'findings': backup.findings}, {'source': 'restore', 'findings': restore.findings}]
         | platform_eng.incident_response.maintenance_report(title='DR drill', schema='incident_response.dr_drill/v1',
           hosts={'bastion': ['s3_backup', 'restore']}, durations=restore.timings) }}
"""

RETURN = r"""
_value:
  description: C(report) (the document; C(report.verdict.status) is the verdict), C(markdown) and C(lines).
  type: dict
"""

import typing as t

from ansible.errors import AnsibleFilterError

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import Finding
from ansible_collections.platform_eng.incident_response.plugins.module_utils._report import build, console_lines, markdown


def maintenance_report(checks: t.Sequence[t.Mapping[str, t.Any]], title: str, schema: str,
                       hosts: t.Mapping[str, t.Any] | None = None, durations: t.Mapping[str, t.Any] | None = None,
                       details: t.Mapping[str, t.Any] | None = None,
                       dashboards: t.Mapping[str, str] | None = None) -> dict[str, t.Any]:
    try:
        pairs = [(str(check["source"]), Finding(**dict(f))) for check in checks for f in check.get("findings") or []]
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"maintenance_report: each entry needs 'source' and findings of the shared shape: {exc}") from exc
    report = build(title, pairs, [], hosts or {}, durations or {}, dashboards=dashboards)
    report["schema"] = schema
    report["details"] = dict(details or {})
    # A maintenance job is not an alert: the document is titled after the job, not "Diagnosis: ...".
    text = markdown(report, title=title)
    if report["durations"]:
        # A drill is judged on its timings too (RTO), even when every check is ok.
        text += "\nTimings: " + ", ".join(f"{key} {value}" for key, value in report["durations"].items()) + "\n"
    return {"report": report, "markdown": text, "lines": console_lines(report)}


class FilterModule:
    def filters(self):
        return {"maintenance_report": maintenance_report}
