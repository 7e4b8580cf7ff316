#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: incident_info
short_description: Read one incident (record and timeline) or list the open ones
version_added: 0.2.0
description:
  - Reads the incident store kept on the bastion by M(platform_eng.incident_response.incident).
  - With O(incident_id), returns its record and timeline, or fails naming the id when there is no such incident.
  - Without it, lists the incidents (open ones only unless O(include_closed=true)), newest first.
author:
  - Platform Engineering Team (@platform-eng)
extends_documentation_fragment:
  - platform_eng.incident_response.attributes
  - platform_eng.incident_response.attributes.info_module
  - platform_eng.incident_response.attributes.idempotent_not_modify_state
options:
  store:
    description: The directory holding one sub-directory per incident.
    type: path
    default: /var/lib/incident-response/incidents
  incident_id:
    description: The incident to read.
    type: str
  include_closed:
    description: List resolved and reviewed incidents too.
    type: bool
    default: false
seealso:
  - module: platform_eng.incident_response.incident
"""

EXAMPLES = r"""
- name: Is an incident open?
  platform_eng.incident_response.incident_info:
  delegate_to: bastion
  register: open_incidents

- name: Read one, with its timeline
  platform_eng.incident_response.incident_info:
    incident_id: INC-20261129-1423-ab12
  delegate_to: bastion
"""

RETURN = r"""
incident:
  description: The record of O(incident_id); null without it.
  returned: always
  type: dict
  sample: {id: INC-20261129-1423-ab12, severity: P1, state: triage, title: Checkout 5xx above 5 %}
timeline:
  description: The timeline of O(incident_id), oldest first; empty without it.
  returned: always
  type: list
  elements: dict
  sample:
    - {at: "2026-11-29T14:23:00Z", kind: opened, source: cli, actor: alice, summary: "Incident opened (P1)", refs: {}}
incidents:
  description: Without O(incident_id), the incidents found, newest first.
  returned: always
  type: list
  elements: dict
  sample:
    - {id: INC-20261129-1423-ab12, severity: P1, state: triage, title: Checkout 5xx above 5 %}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._incident_store import IncidentStore


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            store=dict(type="path", default="/var/lib/incident-response/incidents"),
            incident_id=dict(type="str"),
            include_closed=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    store = IncidentStore(module.params["store"])
    try:
        if module.params["incident_id"]:
            incident = store.load(module.params["incident_id"])
            module.exit_json(changed=False, incident=incident, timeline=store.timeline(incident["id"]),
                             incidents=[])
        found = store.records(open_only=not module.params["include_closed"])
        found.sort(key=lambda rec: rec["opened_at"], reverse=True)
    except (IncidentResponseError, OSError) as exc:
        module.fail_json(msg=f"Incident store {module.params['store']}: {exc}")
    module.exit_json(changed=False, incident=None, timeline=[], incidents=found)


if __name__ == "__main__":
    main()
