#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: rds_instance_scale_up
short_description: Scale an RDS instance up one step of an allowed ladder of classes, and wait until it is available
version_added: 0.2.0
description:
  - The runbook's resolution "scale up database if CPU > 80 %" as a guarded mitigation.
  - Moves the instance one step up its family's ladder (for example V(db.t3.medium) to V(db.t3.large)) with
    C(ApplyImmediately), then waits until it is C(available) in the new class.
  - Refuses a class that is not on an allowed ladder, a target that is not larger (never scales down), more than one
    step without O(reason), an instance that is not C(available), and an instance that does not exist.
author:
  - Platform Engineering Team (@platform-eng)
extends_documentation_fragment:
  - platform_eng.incident_response.aws
  - platform_eng.incident_response.attributes
attributes:
  check_mode:
    support: full
    details:
      - Reads the instance and returns the plan (from and to class); modifies nothing.
  diff_mode:
    support: none
  idempotent:
    support: none
    details:
      - Every run scales one more step; that is the point of a mitigation run on purpose.
options:
  db_instance_identifier:
    description: The DB instance, for example V(incident-response-prod).
    type: str
    required: true
  target_class:
    description: The class to move to; empty means the next step up.
    type: str
    default: ""
  reason:
    description: Why, required for more than one step.
    type: str
    default: ""
  ladders:
    description: Family to its classes, smallest first. The default covers db.t3, db.m5 and db.r5.
    type: dict
  wait_seconds:
    description: How long to wait for the instance to be available in the new class.
    type: int
    default: 900
seealso:
  - module: platform_eng.incident_response.rds_instance_health_info
"""

EXAMPLES = r"""
- name: Scale the database up one step
  platform_eng.incident_response.rds_instance_scale_up:
    db_instance_identifier: incident-response-prod
    region: us-east-1
"""

RETURN = r"""
instance:
  description: The DB instance.
  returned: always
  type: str
  sample: incident-response-prod
from_class:
  description: Its class before.
  returned: always
  type: str
  sample: db.t3.medium
to_class:
  description: Its class after (planned, in check mode).
  returned: always
  type: str
  sample: db.t3.large
steps:
  description: How many steps up the ladder.
  returned: always
  type: int
  sample: 1
status:
  description: The instance status at the end.
  returned: always
  type: str
  sample: available
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.platform_eng.incident_response.plugins.module_utils._aws import (
    BOTO3_IMPORT_ERROR,
    AwsSession,
    AwsSettings,
    aws_argument_spec,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._mitigate import scale_up
from ansible_collections.platform_eng.incident_response.plugins.module_utils._prerequisites import require


def main() -> None:
    argument_spec = aws_argument_spec()
    argument_spec.update(
        db_instance_identifier=dict(type="str", required=True),
        target_class=dict(type="str", default=""),
        reason=dict(type="str", default=""),
        ladders=dict(type="dict"),
        wait_seconds=dict(type="int", default=900),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    require(module, [("boto3", BOTO3_IMPORT_ERROR)])
    p = module.params
    try:
        session = AwsSession(AwsSettings.from_params(p))
        result = scale_up(session, p["db_instance_identifier"], p["target_class"], p["reason"], module.check_mode,
                          p["wait_seconds"], p["ladders"])
    except IncidentResponseError as exc:
        module.fail_json(msg=f"Refused to scale {p['db_instance_identifier']}: {exc}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
