#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: release_history_info
short_description: Read an app host's releases, its history, and the release to roll back to
version_added: 0.1.0
description:
  - Reads the C(current) symlink, the release directories under C(releases/) and the release history.
  - Returns the live version, the newest release recorded V(healthy) (RV(last_good)), the newest healthy release
    other than the live one that is still on disk (RV(previous_good), the rollback target), and which old releases
    may be removed to keep O(keep_releases) (never the live one or a good one it could roll back to).
author:
  - Platform Engineering Team (@platform-eng)
extends_documentation_fragment:
  - platform_eng.incident_response.attributes
  - platform_eng.incident_response.attributes.info_module
  - platform_eng.incident_response.attributes.idempotent_not_modify_state
options:
  app_dir:
    description: The application directory holding C(current) and C(releases/).
    type: path
    default: /opt/incident-response
  path:
    description: The history file.
    type: path
    default: /var/lib/incident-response/releases.json
  keep_releases:
    description: How many complete releases to keep on disk; RV(prune) lists the rest, oldest first.
    type: int
    default: 5
seealso:
  - module: platform_eng.incident_response.release_history
"""

EXAMPLES = r"""
- name: Find the release to roll back to
  platform_eng.incident_response.release_history_info:
  register: releases

- name: Roll back to it
  ansible.builtin.debug:
    msg: "{{ inventory_hostname }}: {{ releases.current }} -> {{ releases.previous_good }}"
"""

RETURN = r"""
current:
  description: The version C(current) points at, or null.
  returned: always
  type: str
  sample: v1.2.3
current_result:
  description: The latest recorded result for the live version, or null when the history does not know it.
  returned: always
  type: str
  sample: healthy
last_good:
  description: The newest release recorded healthy (and not later rolled back) that is still on disk.
  returned: always
  type: str
  sample: v1.2.3
previous_good:
  description: The newest good release other than the live one, still on disk; the rollback target.
  returned: always
  type: str
  sample: v1.2.2
kept:
  description: Complete release directories on disk, oldest first.
  returned: always
  type: list
  elements: str
  sample: [v1.2.2, v1.2.3]
partial:
  description: Unfinished release unpacks left by an interrupted run; never made live.
  returned: always
  type: list
  elements: str
  sample: [v1.2.4.partial-20261127T103000-4242]
prune:
  description: Releases beyond O(keep_releases), oldest first, safe to delete.
  returned: always
  type: list
  elements: str
  sample: [v1.2.0]
entries:
  description: The history, oldest first.
  returned: always
  type: list
  elements: dict
  sample: [{version: v1.2.2, result: healthy, run_id: bootstrap, by: irlab, at: "2026-11-27T10:00:00Z"}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _release_history as history
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            app_dir=dict(type="path", default="/opt/incident-response"),
            path=dict(type="path", default="/var/lib/incident-response/releases.json"),
            keep_releases=dict(type="int", default=5),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        result = history.describe(p["app_dir"], p["path"], p["keep_releases"])
    except (IncidentResponseError, OSError) as exc:
        module.fail_json(msg=f"Release history on {p['app_dir']}: {exc}")
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
