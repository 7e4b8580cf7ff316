#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: lab_guard
short_description: Refuse to send anything to the local lab when its safety route is missing or it is not running
version_added: 0.2.0
description:
  - Runs on the controller at the start of every playbook run against the lab inventory (C(playbooks/tasks/start_run.yml),
    right after M(platform_eng.incident_response.input_guard)), before any task connects anywhere.
  - First it checks that the lab's address range sits behind an C(unreachable) route in the root namespace
    (C(ip route show type unreachable RANGE)). Without that route a request to a lab address while the lab is
    down leaves the machine through the default gateway, so the run is refused with the command that restores it.
  - Then it checks that the lab is up - its facts file C(lab.json) exists in O(lab.state_dir) and the bastion's
    sshd accepts a TCP connection. With the route in place and the lab down, that connection fails locally and at
    once (no route to host). A lab that is not running fails the task with a message that says C(make lab-up).
  - With an empty O(lab) (every inventory but the lab's) it does nothing and reports the task as skipped.
author:
  - Platform Engineering Team (@platform-eng)
extends_documentation_fragment:
  - platform_eng.incident_response.attributes
  - platform_eng.incident_response.attributes.info_module
  - platform_eng.incident_response.attributes.idempotent_not_modify_state
  - platform_eng.incident_response.attributes.controller_decision
options:
  lab:
    description:
      - The lab's description, from the lab inventory's C(incident_response_lab). Empty means this is not the lab.
    type: dict
    default: {}
    suboptions:
      range:
        description: The lab's address range, which must be unreachable from the root namespace.
        type: str
        required: true
      state_dir:
        description: The lab's state directory; C(lab.json) there exists while the lab is up.
        type: path
        required: true
      bastion:
        description: The bastion's address on the management network.
        type: str
        required: true
      port:
        description: The bastion's SSH port.
        type: int
        default: 22
      timeout:
        description: Seconds to wait for the bastion's sshd (a lab that is down fails at once, not after this).
        type: float
        default: 2
notes:
  - This is an action plugin; the module file holds only its documentation.
  - The lab itself keeps the route whether it is up or down (C(tools/setup.sh) installs it, C(lab/irlab.py up)
    ensures it, C(lab/irlab.py down) leaves it).
"""

EXAMPLES = r"""
- name: Refuse to send anything to a lab that is not running
  platform_eng.incident_response.lab_guard:
    lab: "{{ incident_response_lab | default({}) }}"
"""

RETURN = r"""
lab:
  description: Whether the inventory is the lab's (O(lab) was given).
  returned: always
  type: bool
  sample: true
ready:
  description: The safety route is in place and the lab is up.
  returned: when O(lab) is given
  type: bool
  sample: true
safety_route:
  description: The C(unreachable) route for the lab's range is in place.
  returned: when O(lab) is given
  type: bool
  sample: true
facts:
  description: The lab's facts file exists.
  returned: when O(lab) is given
  type: bool
  sample: true
bastion:
  description: C(answers), or why the bastion's sshd did not (C(not probed) when the route is missing).
  returned: when O(lab) is given
  type: str
  sample: No route to host
msg:
  description: The verdict in one sentence; when the lab is down it says C(make lab-up).
  returned: always
  type: str
  sample: The lab is not running (/var/lib/irlab/lab.json is missing; ...). Start it with `make lab-up`, then run again.
"""
