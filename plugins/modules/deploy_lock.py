#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: deploy_lock
short_description: Take or release the lock that allows one deploy or rollback at a time
version_added: 0.1.0
description:
  - Keeps a lock file on the bastion that names its holder (owner, AWX job id, controller host and process, the run,
    the action and the version) with a start time and a time to live.
  - O(state=present) takes the lock. When another run holds it, the task fails at once with a message naming the
    holder. A lock past its TTL is taken over with a warning. A lock whose controller process is gone (a run that
    was interrupted or killed) is taken over with a warning; the action plugin checks that on the controller.
    O(break_lock=true) takes over a live lock deliberately and records who did it and why.
  - The lock is a lease. O(state=renewed) extends it by O(ttl) from now and fails when this run no longer holds it
    (it was taken over); a run renews at every step, so a long run keeps its lock and a dead one loses it one TTL
    after its last renewal, whichever controller or AWX container it ran in.
  - O(state=absent) releases the lock if this run holds it, and leaves anyone else's lock alone.
  - Every take-over is appended to an audit log, the lock path with C(.log) appended.
  - Taking over and releasing hold an exclusive C(flock) on a sidecar file (the lock path with C(.guard) appended), so
    two runs can never both take over the same expired lock.
  - With O(timeline_event), taking the lock also appends the run's start to the incident timeline kept on the same
    host (what the P(platform_eng.incident_response.incident#module) module does with O(action=event)) in the same
    call, so a deploy or rollback starts with one round trip to the bastion instead of two. The event never fails
    the task; whatever the store answers is returned in RV(timeline).
author:
  - Platform Engineering Team (@platform-eng)
extends_documentation_fragment:
  - platform_eng.incident_response.attributes
attributes:
  check_mode:
    support: full
    details:
      - Reports whether the lock would be taken, and who holds it, without writing anything.
      - With O(timeline_event), returns the event that would be recorded and writes nothing to the incident store.
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - Taking the lock again within the same run (the same O(run_id)) changes nothing.
options:
  path:
    description: Where the lock file lives on the target (the bastion).
    type: path
    default: /var/lib/incident-response/deploy.lock
  state:
    description: V(present) takes the lock, V(renewed) extends this run's lease (and checks it still holds it),
      V(absent) releases it.
    type: str
    choices: [present, absent, renewed]
    default: present
  run_id:
    description: Identifies this run; the same run may take the lock again and is the only one that releases it.
    type: str
    required: true
  owner:
    description: Who runs this, for example the remote user or the AWX user.
    type: str
    default: unknown
  action:
    description: What the lock is held for.
    type: str
    choices: [deploy, rollback]
    default: deploy
  version:
    description: The version being deployed or rolled back to.
    type: str
  awx_job_id:
    description: The AWX or Automation Controller job id, when the run comes from there.
    type: str
  controller:
    description:
      - The host name of the controller running the play. Filled in by the action plugin.
    type: str
  controller_pid:
    description:
      - The process id of C(ansible-playbook) on the controller. Filled in by the action plugin.
    type: int
  controller_identity:
    description:
      - Which process namespace and boot the controller process lives in, so its liveness is judged only where
        the process id means something (not across AWX containers or machines). Filled in by the action plugin.
    type: str
  ttl:
    description: Seconds after the last renewal at which the lock counts as abandoned and is taken over with a warning.
    type: int
    default: 3600
  break_lock:
    description: Take over a live lock deliberately. Needs O(break_reason); the audit log records who and why.
    type: bool
    default: false
  break_reason:
    description: Why the lock is being broken.
    type: str
  stale_run_id:
    description:
      - Take over the lock only if it is held by this run, whose controller process is known to be gone.
      - Set by the action plugin after it checked the holder's process on the controller; not for playbooks.
    type: str
  timeline_event:
    description:
      - An event to append to the incident timeline once the lock is taken (O(state=present) only; nothing is
        recorded when the lock is refused).
      - It goes to O(timeline_event.incident_id), or to the newest open incident; with no open incident nothing is
        recorded. A store that cannot be read is reported in RV(timeline) and the lock is still held.
    type: dict
    suboptions:
      store:
        description: The incident store on this host (the P(platform_eng.incident_response.incident#module)
          module's O(platform_eng.incident_response.incident#module:store)).
        type: path
        required: true
      incident_id:
        description: The incident to record in; empty for the newest open one.
        type: str
      kind:
        description: The event kind, for example C(deploy_started) or C(rollback_started).
        type: str
        required: true
      note:
        description: The event's summary.
        type: str
        default: ""
      refs:
        description: References for the event (run id, version).
        type: dict
        default: {}
      source:
        description: Where the event comes from.
        type: str
        default: deploy
      actor:
        description: Who records it.
        type: str
        default: automation
notes:
  - The action plugin runs the module a second time with O(stale_run_id) when the holder ran on this same controller
    and its C(ansible-playbook) process no longer exists, so an interrupted deploy does not block the next one for
    the whole TTL.
seealso:
  - module: platform_eng.incident_response.release_history
"""

EXAMPLES = r"""
- name: Take the deploy lock on the bastion
  platform_eng.incident_response.deploy_lock:
    run_id: "{{ deploy_run_id }}"
    owner: "{{ awx_user_name | default(lookup('ansible.builtin.env', 'USER')) }}"
    action: deploy
    version: v1.2.3
    ttl: 3600
  delegate_to: bastion

- name: Renew the lease before the next batch (fails if another run took the lock over)
  platform_eng.incident_response.deploy_lock:
    run_id: "{{ deploy_run_id }}"
    state: renewed
    ttl: 600
  delegate_to: bastion

- name: Release it
  platform_eng.incident_response.deploy_lock:
    run_id: "{{ deploy_run_id }}"
    state: absent
  delegate_to: bastion

- name: Break a lock left by a colleague's dead laptop
  platform_eng.incident_response.deploy_lock:
    run_id: "{{ deploy_run_id }}"
    owner: alice
    break_lock: true
    break_reason: "CHG-1234: bob's session died mid-deploy"
  delegate_to: bastion
"""

RETURN = r"""
lock:
  description: The lock held after the task (for O(state=absent), the other run's lock that was left alone, if any).
  returned: always
  type: dict
  sample:
    run_id: 20261127T103000-4242
    owner: alice
    action: deploy
    version: v1.2.3
    awx_job_id: "42"
    controller: ops-laptop
    controller_pid: 4242
    controller_identity: "boot 0f3c...; pidns 4026531836; started 81234"
    started_at: "2026-11-27T10:30:00Z"
    renewed_at: "2026-11-27T10:40:00Z"
    expires_at: "2026-11-27T11:30:00Z"
    ttl: 3600
broken:
  description: The lock that was taken over, with the reason, or null.
  returned: always
  type: dict
  sample:
    run_id: 20261127T090000-1111
    owner: bob
    broken_because: "its controller process 1111 on ops-laptop is gone (interrupted run)"
held_by:
  description: The holder's lock, when the task refused to take it.
  returned: when refused
  type: dict
  sample:
    run_id: 20261127T103000-4242
    owner: alice
timeline:
  description:
    - What the incident store answered for O(timeline_event), as the
      P(platform_eng.incident_response.incident#module) module returns it for O(action=event) (C(record) is null
      when no incident is open), or C(failed) and C(msg) when the store could not record it.
  returned: when O(timeline_event) is given and the lock was taken
  type: dict
  sample:
    changed: true
    record: {id: INC-20261127-1030-ab12, state: open}
    events: [{kind: deploy_started, summary: "Deploy of v1.2.3 to production started by alice"}]
path:
  description: The lock file.
  returned: always
  type: str
  sample: /var/lib/incident-response/deploy.lock
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.platform_eng.incident_response.plugins.module_utils._deploy_lock import (
    acquire,
    release,
    renew,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._incident_ops import record_event


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", default="/var/lib/incident-response/deploy.lock"),
            state=dict(type="str", choices=["present", "absent", "renewed"], default="present"),
            run_id=dict(type="str", required=True),
            owner=dict(type="str", default="unknown"),
            action=dict(type="str", choices=["deploy", "rollback"], default="deploy"),
            version=dict(type="str"),
            awx_job_id=dict(type="str"),
            controller=dict(type="str"),
            controller_pid=dict(type="int"),
            controller_identity=dict(type="str"),
            ttl=dict(type="int", default=3600),
            break_lock=dict(type="bool", default=False),
            break_reason=dict(type="str"),
            stale_run_id=dict(type="str"),
            timeline_event=dict(type="dict", options=dict(
                store=dict(type="path", required=True),
                incident_id=dict(type="str"),
                kind=dict(type="str", required=True),
                note=dict(type="str", default=""),
                refs=dict(type="dict", default={}),
                source=dict(type="str", default="deploy"),
                actor=dict(type="str", default="automation"),
            )),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        if params["state"] == "absent":
            result = release(params["path"], params["run_id"], check_mode=module.check_mode)
        elif params["state"] == "renewed":
            result = renew(params["path"], params["run_id"], params["ttl"], check_mode=module.check_mode)
        else:
            fields = ("run_id", "owner", "action", "version", "awx_job_id", "controller", "controller_pid",
                      "controller_identity")
            request = {key: params[key] for key in fields}
            result = acquire(params["path"], request, params["ttl"], break_lock=params["break_lock"],
                             break_reason=params["break_reason"], stale_run_id=params["stale_run_id"],
                             check_mode=module.check_mode)
    except (IncidentResponseError, OSError) as exc:
        module.fail_json(msg=f"Deploy lock {params['path']}: {exc}")
    for warning in result.pop("warnings"):
        module.warn(warning)
    if result.pop("failed", False):
        module.fail_json(**result)
    event = params["timeline_event"]
    if event and params["state"] == "present":
        result["timeline"] = record_event(event["store"], {k: v for k, v in event.items() if k != "store"},
                                          module.check_mode)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
