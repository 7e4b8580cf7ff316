#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: release_history
short_description: Record a release's outcome in an app host's release history
version_added: 0.1.0
description:
  - Appends to, or updates, the release history kept on each app host, a JSON file listing which version went live,
    when, by whom, in which run, and whether it proved V(healthy), was V(rolled_back) or V(failed).
  - One run has one entry per version; recording the same result again changes nothing.
  - The file is replaced atomically, so an interrupted run never leaves a torn history.
  - Rollback reads the history with M(platform_eng.incident_response.release_history_info) to pick the previous
    B(good) release rather than the previous tag.
author:
  - Platform Engineering Team (@platform-eng)
extends_documentation_fragment:
  - platform_eng.incident_response.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  path:
    description: The history file on the app host.
    type: path
    default: /var/lib/incident-response/releases.json
  version:
    description: The release version, for example V(v1.2.3).
    type: str
    required: true
  result:
    description: The outcome to record.
    type: str
    choices: [deploying, healthy, rolled_back, failed]
    required: true
  run_id:
    description: The deploy or rollback run this entry belongs to.
    type: str
    required: true
  by:
    description: Who ran it (user, or AWX user and job).
    type: str
    default: unknown
  note:
    description: A short reason, for example what the watch window saw.
    type: str
seealso:
  - module: platform_eng.incident_response.release_history_info
  - module: platform_eng.incident_response.deploy_lock
"""

EXAMPLES = r"""
- name: Mark v1.2.4 rolled back after the watch window caught it
  platform_eng.incident_response.release_history:
    version: v1.2.4
    result: rolled_back
    run_id: "{{ deploy_run_id }}"
    by: alice
    note: "5xx ratio 31 % > 5 % on app1, app2"
"""

RETURN = r"""
entry:
  description: The entry as recorded.
  returned: always
  type: dict
  sample: {version: v1.2.4, result: rolled_back, run_id: 20261127T103000-4242, by: alice, at: "2026-11-27T10:31:02Z"}
entries:
  description: Number of entries in the history after the task.
  returned: always
  type: int
  sample: 7
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _release_history as history
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", default="/var/lib/incident-response/releases.json"),
            version=dict(type="str", required=True),
            result=dict(type="str", required=True, choices=list(history.RESULTS)),
            run_id=dict(type="str", required=True),
            by=dict(type="str", default="unknown"),
            note=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        before = history.load(p["path"])
        after, changed = history.record(before, p["version"], p["result"], p["run_id"], p["by"], p["note"])
        if changed and not module.check_mode:
            history.save(p["path"], after)
    except (IncidentResponseError, OSError) as exc:
        module.fail_json(msg=f"Release history {p['path']}: {exc}")
    entry = next(e for e in reversed(after) if e["run_id"] == p["run_id"] and e["version"] == p["version"])
    result = dict(changed=changed, entry=entry, entries=len(after))
    if module._diff:
        result["diff"] = {"before": {"releases": before[-3:]}, "after": {"releases": after[-3:]}}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
