#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: lb_pool
short_description: Take app hosts out of the load balancer before a restart and return them after their health gate
version_added: 0.2.0
description:
  - O(state=drained) stops new requests to O(members) and waits until they have no open sessions left, so a restart
    drops no request. A drain that would leave no other member of the pool serving is refused (a batch must never
    take the whole service out of traffic), unless O(allow_empty=true).
  - O(state=ready) returns O(members) and waits until the balancer's own health check has them up, so the next batch
    never drains while capacity is still coming back.
  - O(state=present) only reports every member of the pool.
  - The balancer is behind one small interface. V(haproxy) talks to haproxy's runtime API (a C(stats socket) with
    C(level admin), over TCP or a Unix socket); in AWS the same step is a target group deregistration.
author:
  - Platform Engineering Team (@platform-eng)
extends_documentation_fragment:
  - platform_eng.incident_response.attributes
attributes:
  check_mode:
    support: full
    details: Reads the pool and reports which members would change; sends nothing.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: Members already in the requested state are left alone and reported unchanged.
options:
  provider:
    description: The kind of load balancer.
    type: str
    choices: [haproxy]
    default: haproxy
  api:
    description:
      - Where the balancer's management interface is. For V(haproxy), C(host:port) of a TCP C(stats socket) or the path
        of a Unix one, with C(level admin).
    type: str
    required: true
  backend:
    description: The haproxy backend (pool) the members belong to.
    type: str
    required: true
  members:
    description: The pool members to change, by the name the balancer knows them by (haproxy C(server) names).
    type: list
    elements: str
    default: []
  state:
    description: V(drained), V(ready), or V(present) to only report.
    type: str
    choices: [drained, ready, present]
    default: present
  timeout:
    description: Seconds to wait for open sessions to end (drain) or for the health check to pass (ready).
    type: float
    default: 30
  allow_empty:
    description: Allow a drain that leaves no member serving (the service is out of traffic until they return).
    type: bool
    default: false
seealso:
  - module: platform_eng.incident_response.release_step
  - name: haproxy runtime API
    description: The commands this module sends (C(show servers state), C(show stat), C(set server ... state)).
    link: https://docs.haproxy.org/2.6/management.html#9.3
"""

EXAMPLES = r"""
- name: Take this batch out of traffic before its restart
  platform_eng.incident_response.lb_pool:
    api: 10.77.2.2:9999
    backend: app
    members: "{{ ansible_play_batch }}"
    state: drained
  delegate_to: bastion
  run_once: true

- name: Return the hosts that passed their health gate
  platform_eng.incident_response.lb_pool:
    api: 10.77.2.2:9999
    backend: app
    members: [app1]
    state: ready
  delegate_to: bastion
  run_once: true
"""

RETURN = r"""
members:
  description: The requested members (every member for O(state=present)) as the balancer sees them afterwards.
  returned: always
  type: dict
  sample: {"app1": {"name": "app1", "admin": "drain", "healthy": true, "sessions": 0, "serving": false}}
changed_members:
  description: The members whose state was changed (or would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [app1]
others:
  description: Members of the pool that were not named, for example hosts the inventory does not know.
  returned: always
  type: list
  elements: str
  sample: [app2]
waited_seconds:
  description: How long the module waited for the balancer to agree.
  returned: always
  type: float
  sample: 0.41
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _lb as lb
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            provider=dict(type="str", choices=list(lb.PROVIDERS), default="haproxy"),
            api=dict(type="str", required=True),
            backend=dict(type="str", required=True),
            members=dict(type="list", elements="str", default=[]),
            state=dict(type="str", choices=[lb.DRAINED, lb.READY, lb.PRESENT], default=lb.PRESENT),
            timeout=dict(type="float", default=30),
            allow_empty=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        pool = lb.pool_from_config(p)
        result = lb.set_state(pool, p["members"], p["state"], timeout=p["timeout"], check_mode=module.check_mode,
                              allow_empty=p["allow_empty"])
    except IncidentResponseError as exc:
        done = lb.partial_result(exc)
        module.fail_json(msg=f"load balancer {p['backend']} at {p['api']}: {exc}", **done)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
