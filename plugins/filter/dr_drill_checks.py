# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: dr_drill_checks
short_description: The DR drill's steps as the checks of its report
version_added: 0.2.0
description:
  - Turns what the dr_drill role's steps registered into the O(platform_eng.incident_response.maintenance_report#filter:_input)
    of its report, one entry per source, C(s3_backup) (the backup's findings), C(rds) (the instance, its status and its
    latest restorable time; the RDS check's other findings are for a diagnosis, not a drill), C(restore) and C(cleanup).
  - A restore step that failed (it could not run at all; what it finds is a finding) is a V(critical) C(restore_run)
    finding with its message.
  - The clean-up step dropping the scratch database means the restore step could not, a V(critical)
    C(scratch_dropped) finding (not under check mode). A clean-up step that failed is an V(unknown) C(scratch_dropped)
    finding, because nobody knows whether the scratch database is gone.
author:
  - Platform Engineering Team (@platform-eng)
options:
  _input:
    description: The registered result of M(platform_eng.incident_response.s3_backup_info).
    type: dict
    required: true
  rds:
    description: The registered result of M(platform_eng.incident_response.rds_instance_health_info), if it ran.
    type: dict
    default: {}
  restore:
    description: The registered result of M(platform_eng.incident_response.pg_restore_drill), if it ran.
    type: dict
    default: {}
  cleanup:
    description: The registered result of the clean-up step (M(platform_eng.incident_response.pg_restore_drill) with
      C(state=absent)), if it ran.
    type: dict
    default: {}
  scratch_database:
    description: The drill's scratch database, the target of the restore and clean-up findings.
    type: str
    required: true
  host:
    description: The host the drill ran on, named when the clean-up could not be checked.
    type: str
    required: true
  check_mode:
    description: Whether the run is in check mode (nothing was restored, so nothing needed dropping).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Build the drill's report
  ansible.builtin.set_fact:
    drill: >-
      {{ backup | platform_eng.incident_response.dr_drill_checks(rds=rds, restore=restore, cleanup=cleanup,
         scratch_database=scratch, host='bastion', check_mode=ansible_check_mode)
         | platform_eng.incident_response.maintenance_report(title='DR drill', schema='incident_response.dr_drill/v1') }}
"""

RETURN = r"""
_value:
  description: One entry per source, each C(source) and C(findings) (the collection's finding shape).
  type: list
  elements: dict
"""

import typing as t

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    CRITICAL,
    UNKNOWN,
    Finding,
)

# What a drill judges of the RDS instance: that it is there, available, and restorable recently enough.
RDS_FINDINGS = ("rds_instance", "rds_status", "rds_restorable_time")


def restore_findings(restore: t.Mapping[str, t.Any], scratch: str) -> list[dict[str, t.Any]]:
    """The restore step's findings; a step that failed without any is one critical ``restore_run``."""
    if restore.get("failed"):
        return [Finding("restore_run", scratch, CRITICAL, evidence=restore.get("msg", "the restore step failed"),
                        remediation="The drill could not run the restore; fix the error above and run the drill "
                                    "again.").as_dict()]
    return list(restore.get("findings") or [])


def cleanup_findings(cleanup: t.Mapping[str, t.Any], scratch: str, host: str, check_mode: bool) -> list[dict[str, t.Any]]:
    """A drill that leaves data behind fails; a clean-up that could not run is said too."""
    if cleanup.get("dropped") and not check_mode:
        return [Finding("scratch_dropped", scratch, CRITICAL, False, True,
                        evidence="the scratch database was still there after the restore step; the cleanup step "
                                 "dropped it",
                        remediation="Read the restore step for why it did not.").as_dict()]
    if cleanup.get("failed"):
        reason = cleanup.get("msg", "the clean-up step failed")
        return [Finding("scratch_dropped", scratch, UNKNOWN, None, True, evidence=f"could not check {host}: {reason}",
                        remediation="Look for the scratch database by hand; drop it only if this drill created "
                                    "it.").as_dict()]
    return []


def dr_drill_checks(backup: t.Mapping[str, t.Any], rds: t.Mapping[str, t.Any] | None = None,
                    restore: t.Mapping[str, t.Any] | None = None, cleanup: t.Mapping[str, t.Any] | None = None,
                    scratch_database: str = "", host: str = "", check_mode: bool = False) -> list[dict[str, t.Any]]:
    rds_findings = [f for f in (rds or {}).get("findings") or [] if f.get("name") in RDS_FINDINGS]
    return [
        {"source": "s3_backup", "findings": list(backup["findings"])},
        {"source": "rds", "findings": rds_findings},
        {"source": "restore", "findings": restore_findings(restore or {}, scratch_database)},
        {"source": "cleanup", "findings": cleanup_findings(cleanup or {}, scratch_database, host, bool(check_mode))},
    ]


class FilterModule:
    def filters(self):
        return {"dr_drill_checks": dr_drill_checks}
