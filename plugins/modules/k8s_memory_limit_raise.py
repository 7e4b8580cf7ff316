#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: k8s_memory_limit_raise
short_description: Raise a Deployment container's memory limit by a bounded factor (the runbook's temporary fix)
version_added: 0.2.0
description:
  - The runbook's Memory Leak resolution "increase memory limit as temporary fix" as a guarded mitigation.
  - Reads the Deployment, multiplies the container's current memory limit by O(factor) (rounded up to a whole Mi)
    and replaces the Deployment. Refuses a factor outside (1, O(max_factor)], a container without a limit, and a
    Deployment or container that does not exist.
author:
  - Platform Engineering Team (@platform-eng)
extends_documentation_fragment:
  - platform_eng.incident_response.k8s
  - platform_eng.incident_response.attributes
attributes:
  check_mode:
    support: full
    details:
      - Reads the Deployment and returns the plan (from and to limit); changes nothing.
  diff_mode:
    support: none
  idempotent:
    support: none
    details:
      - Every run raises the limit again; a mitigation is run on purpose.
options:
  namespace:
    description: The namespace.
    type: str
    default: incident-response
  name:
    description: The Deployment.
    type: str
    required: true
  container:
    description: The container; empty means the first one.
    type: str
    default: ""
  factor:
    description: Multiply the current limit by this.
    type: float
    default: 1.5
  max_factor:
    description: The largest factor allowed.
    type: float
    default: 2.0
seealso:
  - module: platform_eng.incident_response.k8s_workload_health_info
"""

EXAMPLES = r"""
- name: Give the leaking service half as much memory again, for now
  platform_eng.incident_response.k8s_memory_limit_raise:
    name: incident-response
    factor: 1.5
"""

RETURN = r"""
deployment:
  description: The Deployment, C(namespace/name).
  returned: always
  type: str
  sample: incident-response/incident-response
container:
  description: The container whose limit was raised.
  returned: always
  type: str
  sample: incident-response
from_limit:
  description: The limit before.
  returned: always
  type: str
  sample: 512Mi
to_limit:
  description: The limit after (planned, in check mode).
  returned: always
  type: str
  sample: 768Mi
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._k8s import (
    KUBERNETES_IMPORT_ERROR,
    connection_argument_spec,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._mitigate import (
    apps_api,
    raise_memory_limit,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._prerequisites import require


def main() -> None:
    argument_spec = connection_argument_spec()
    argument_spec.update(
        namespace=dict(type="str", default="incident-response"),
        name=dict(type="str", required=True),
        container=dict(type="str", default=""),
        factor=dict(type="float", default=1.5),
        max_factor=dict(type="float", default=2.0),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    require(module, [("kubernetes", KUBERNETES_IMPORT_ERROR)])
    p = module.params
    try:
        apps = apps_api(p)
        result = raise_memory_limit(apps, p["namespace"], p["name"], p["container"], p["factor"], p["max_factor"],
                                    module.check_mode)
    except IncidentResponseError as exc:
        module.fail_json(msg=f"Refused to raise the memory limit of {p['namespace']}/{p['name']}: {exc}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
