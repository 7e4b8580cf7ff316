#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: rollout_checkpoint
short_description: Between two batches, on the bastion, return the last batch to traffic, renew the lease and drain the next
version_added: 0.2.0
description:
  - The bastion's part of every batch boundary of a deploy or rollback, in one call and in this order, each step only
    when the one before it worked.
  - First O(ready) go back into the load balancer, and the module waits until the balancer's own health check has them
    up, so capacity is back before anything else leaves.
  - Then this run's lease on the deploy lock is renewed, which also proves the run still holds it; a run that lost its
    lock stops here, before it switches anything else. With O(release=true) the lock is released instead (the end of
    a run), and nothing is drained.
  - Then O(drain) leave traffic, and the module waits until they have no open requests. A drain that would leave no
    member serving is refused.
  - A step that fails does not fail the task by itself; RV(failed_step) names it and RV(msg) says why, so the caller
    can stop cleanly and put back what was drained. The task fails only on bad arguments.
author:
  - Platform Engineering Team (@platform-eng)
extends_documentation_fragment:
  - platform_eng.incident_response.attributes
attributes:
  check_mode:
    support: full
    details: Reads the lock's holder and the pool, and reports what would change; the lock is not touched (a run in
      check mode takes none) and nothing is sent to the balancer.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: Members already in the requested state are left alone.
options:
  lock_path:
    description: The deploy lock on this host.
    type: path
    default: /var/lib/incident-response/deploy.lock
  run_id:
    description: The run that holds the lock.
    type: str
    required: true
  ttl:
    description: The lease's new length in seconds, from now.
    type: int
  release:
    description: Release the lock instead of renewing it (after O(ready) are back).
    type: bool
    default: false
  load_balancer:
    description:
      - The load balancer, as for M(platform_eng.incident_response.lb_pool) (C(provider), C(api), C(backend)). Needed
        when O(ready) or O(drain) are given.
    type: dict
  ready:
    description: Hosts to put back into the load balancer first.
    type: list
    elements: str
    default: []
  drain:
    description: Hosts to take out of the load balancer last.
    type: list
    elements: str
    default: []
  timeout:
    description: Seconds to wait for the balancer, per step.
    type: float
    default: 30
seealso:
  - module: platform_eng.incident_response.lb_pool
  - module: platform_eng.incident_response.deploy_lock
"""

EXAMPLES = r"""
- name: Return the canary, renew the lease, take the next half out of traffic
  platform_eng.incident_response.rollout_checkpoint:
    run_id: "{{ deploy_run.id }}"
    ttl: 900
    load_balancer: {provider: haproxy, api: 10.77.2.2:9999, backend: app}
    ready: [app1]
    drain: [app2, app3]
  delegate_to: bastion
  run_once: true
  register: checkpoint

- name: At the end of the run, return the last batch and release the lock
  platform_eng.incident_response.rollout_checkpoint:
    run_id: "{{ deploy_run.id }}"
    load_balancer: {provider: haproxy, api: 10.77.2.2:9999, backend: app}
    ready: [app2, app3]
    release: true
  delegate_to: bastion
"""

RETURN = r"""
failed_step:
  description: The step that did not work (V(return), V(lease) or V(drain)), or null when all did.
  returned: always
  type: str
  sample: lease
msg:
  description: Why that step did not work.
  returned: always
  type: str
  sample: "This run (20261201T101500Z-4242) no longer holds the deploy lock: held by bob ..."
returned:
  description: The hosts now back in the load balancer and up.
  returned: always
  type: list
  elements: str
  sample: [app1]
drained:
  description: The hosts out of the load balancer after this call (on a failed drain, the ones it had already taken out).
  returned: always
  type: list
  elements: str
  sample: [app2, app3]
lease:
  description: The lock after the renewal (or the other run's lock when the lease was lost).
  returned: always
  type: dict
  sample: {"run_id": "20261201T101500Z-4242", "expires_at": "2026-12-01T10:30:00Z", "ttl": 900}
released:
  description: Whether this call released the lock.
  returned: always
  type: bool
  sample: false
pool:
  description: The members this call touched, as the balancer sees them afterwards.
  returned: always
  type: dict
  sample: {"app1": {"name": "app1", "admin": "ready", "healthy": true, "sessions": 0, "serving": true}}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _checkpoint as checkpoint
from ansible_collections.platform_eng.incident_response.plugins.module_utils import _lb as lb
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            lock_path=dict(type="path", default="/var/lib/incident-response/deploy.lock"),
            run_id=dict(type="str", required=True),
            ttl=dict(type="int"),
            release=dict(type="bool", default=False),
            load_balancer=dict(type="dict"),
            ready=dict(type="list", elements="str", default=[]),
            drain=dict(type="list", elements="str", default=[]),
            timeout=dict(type="float", default=30),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        pool = lb.pool_from_config(p["load_balancer"]) if p["load_balancer"] else None
        result = checkpoint.run(pool, p["lock_path"], p["run_id"], p["ttl"], ready=p["ready"], drain=p["drain"],
                                release=p["release"], timeout=p["timeout"], check_mode=module.check_mode)
    except (IncidentResponseError, OSError) as exc:
        module.fail_json(msg=f"rollout checkpoint on this host: {exc}")
    for warning in result.pop("warnings", []):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
