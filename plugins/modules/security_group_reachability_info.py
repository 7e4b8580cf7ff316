#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: security_group_reachability_info
short_description: Tell whether security groups let a source reach a target on a port, and which rule does
version_added: 0.1.0
description:
  - Answers the runbook's "check security group rules" step (C(aws ec2 describe-security-groups --group-ids ...))
    with a verdict. Given a source (a CIDR, a security group, an EC2 instance or a network interface) and a
    target (a security group or an RDS instance), it returns whether a connection on O(port) is allowed,
    the inbound rule that allows it and the outbound rule that lets it leave the source, or the reasons
    nothing does.
  - Evaluates security groups as AWS does. Some inbound rule of some group of the target must match the
    protocol, the port and the source (a CIDR containing the source's addresses, or a group the source
    belongs to). Some outbound rule of the source's groups must let the traffic out. Replies need no rule.
  - Also audits security groups for a database port open to V(0.0.0.0/0) or V(::/0) and reports each such
    rule as a C(critical) C(sg_open_to_world) finding.
options:
  source:
    description:
      - Where the connection comes from. Give exactly one of the suboptions.
    type: dict
    required: true
    suboptions:
      cidr:
        description:
          - An IPv4 or IPv6 address or CIDR, for example an office range or an on-premises host.
          - Only CIDR rules can match it; a rule that names a security group needs one of the other kinds.
        type: str
      security_group:
        description:
          - A security group id (V(sg-...)) or name; a name is looked up in the target's VPC.
        type: str
      instance_id:
        description:
          - An EC2 instance id; its private addresses and the groups of all its network interfaces are used.
        type: str
      eni_id:
        description:
          - A network interface id (V(eni-...)), for example the one a Lambda function or a load balancer uses.
        type: str
  target:
    description:
      - What the connection goes to. Give exactly one of the suboptions.
    type: dict
    required: true
    suboptions:
      security_group:
        description:
          - A security group id or name.
        type: str
      db_instance_identifier:
        description:
          - An RDS DB instance identifier; its VPC security groups and its port are used.
        type: str
  port:
    description:
      - The destination port. Defaults to the RDS instance's port when the target is an RDS instance.
    type: int
  protocol:
    description:
      - The IP protocol of the connection.
    type: str
    default: tcp
    choices: [tcp, udp]
  expect:
    description:
      - The answer that is healthy. V(reachable) (the application must reach its database) makes a blocked
        path C(critical); V(unreachable) (the internet must not reach the database) makes an open path
        C(critical).
    type: str
    default: reachable
    choices: [reachable, unreachable]
  audit_scope:
    description:
      - Which security groups to audit for database ports open to the internet. V(vpc) is every group in the
        target's VPC, V(target) the target's groups only, V(none) skips the audit.
    type: str
    default: vpc
    choices: [vpc, target, none]
  database_ports:
    description:
      - Ports the audit treats as database ports.
    type: list
    elements: int
    default: [5432, 3306, 1433, 1521, 6379, 27017, 5439, 9042, 11211]
extends_documentation_fragment:
  - platform_eng.incident_response.attributes
  - platform_eng.incident_response.attributes.info_module
  - platform_eng.incident_response.attributes.idempotent_not_modify_state
  - platform_eng.incident_response.aws
  - platform_eng.incident_response.fail_on
notes:
  - Security groups only. Network ACLs, route tables, peering and host firewalls are not evaluated, so
    C(reachable=true) means "no security group blocks it". A source and target in different VPCs get a
    reason saying a route is needed as well.
  - Rules that name a managed prefix list are reported in RV(reasons) and not evaluated.
  - An RDS endpoint's address changes on failover, so an outbound rule to a narrow CIDR cannot be matched
    to it; such a case returns RV(reachable=null) and an C(unknown) finding instead of a guess.
  - Needs C(ec2:DescribeSecurityGroups), C(ec2:DescribeInstances), C(ec2:DescribeNetworkInterfaces) and
    C(rds:DescribeDBInstances) for the kinds of source and target used.
seealso:
  - module: amazon.aws.ec2_security_group_info
    description: The raw rules of security groups.
  - module: platform_eng.incident_response.rds_instance_health_info
author:
  - Platform Engineering Team (@platform-eng)
"""

EXAMPLES = r"""
- name: Can the application hosts reach the database? (runbook 'Database Connection Errors', step 2)
  platform_eng.incident_response.security_group_reachability_info:
    source:
      security_group: incident-response-app
    target:
      db_instance_identifier: incident-response-prod
    region: us-east-1
  register: app_to_db

- name: Show the rule that lets them in
  ansible.builtin.debug:
    msg: "{{ app_to_db.allowed_by | first | default(app_to_db.reasons) }}"

- name: The internet must not reach the database, and no database port may be open to it
  platform_eng.incident_response.security_group_reachability_info:
    source:
      cidr: 0.0.0.0/0
    target:
      db_instance_identifier: incident-response-prod
    expect: unreachable
    fail_on: critical

- name: Check one instance against a group on a given port
  platform_eng.incident_response.security_group_reachability_info:
    source:
      instance_id: i-0123456789abcdef0
    target:
      security_group: sg-0a1b2c3d4e5f60718
    port: 6379
"""

RETURN = r"""
status:
  description: The worst status among the findings.
  returned: always
  type: str
  sample: critical
counts:
  description: How many findings have each status.
  returned: always
  type: dict
  sample: {ok: 1, warn: 0, critical: 1, unknown: 0}
findings:
  description:
    - C(sg_reachability), the verdict on the path (C(ok) when it matches O(expect)), then C(sg_open_to_world)
      findings from the audit, one C(critical) per exposed rule or one C(ok) when there is none.
  returned: always
  type: list
  elements: dict
  sample:
    - name: sg_reachability
      target: "sg-0f1e2d3c4b5a69788 (incident-response-app) -> rds:incident-response-prod:5432"
      status: ok
      value: true
      threshold: reachable
      unit: null
      evidence: "sg-0f1e2d3c4b5a69788 (incident-response-app) can reach rds:incident-response-prod on tcp/5432
        (allowed by sg-0a1b2c3d4e5f60718 (incident-response-db) tcp/5432 from sg-0f1e2d3c4b5a69788)"
      remediation: null
    - name: sg_open_to_world
      target: sg-0badc0ffee0123456 (incident-response-legacy-db)
      status: critical
      value: 0.0.0.0/0
      threshold: no rule
      unit: null
      evidence: "tcp/5432-5432 open to 0.0.0.0/0 covers database port(s) 5432"
      remediation: "A database port is open to the whole internet: replace the 0.0.0.0/0 or ::/0 rule ..."
reachable:
  description: V(true) when the security groups allow the connection, V(false) when they block it,
    V(null) when it could not be decided.
  returned: always
  type: bool
  sample: true
allowed_by:
  description: The inbound rules that let the source in; the first is the one the evidence names.
  returned: always
  type: list
  elements: dict
  sample:
    - group_id: sg-0a1b2c3d4e5f60718
      group_name: incident-response-db
      direction: ingress
      protocol: tcp
      from_port: 5432
      to_port: 5432
      peer: sg-0f1e2d3c4b5a69788
      description: app to db
egress_allowed_by:
  description: The outbound rules of the source's groups that let the traffic out (empty for a CIDR source).
  returned: always
  type: list
  elements: dict
  sample:
    - group_id: sg-0f1e2d3c4b5a69788
      group_name: incident-response-app
      direction: egress
      protocol: "-1"
      from_port: null
      to_port: null
      peer: 0.0.0.0/0
      description: null
reasons:
  description: Why rules do not apply, in words, for a blocked or undecided path.
  returned: always
  type: list
  elements: str
  sample:
    - "sg-0a1b2c3d4e5f60718 (incident-response-db) allows tcp/5432 only from sg-0f1e2d3c4b5a69788"
source:
  description: The source as evaluated, with its addresses, security groups and VPC.
  returned: when the source and target could be described
  type: dict
  sample: {kind: instance, label: "i-0123456789abcdef0 (10.0.1.4)", addresses: [10.0.1.4/32],
           security_group_ids: [sg-0f1e2d3c4b5a69788], vpc_id: vpc-0123456789abcdef0}
target:
  description: The target as evaluated, with its security groups and VPC.
  returned: when the source and target could be described
  type: dict
  sample: {kind: db_instance, label: "rds:incident-response-prod", addresses: [],
           security_group_ids: [sg-0a1b2c3d4e5f60718], vpc_id: vpc-0123456789abcdef0}
protocol:
  description: The protocol evaluated.
  returned: when the source and target could be described
  type: str
  sample: tcp
port:
  description: The port evaluated.
  returned: when the source and target could be described
  type: int
  sample: 5432
security_findings:
  description: The rules that open a database port to V(0.0.0.0/0) or V(::/0), with the ports they expose.
  returned: always
  type: list
  elements: dict
  sample:
    - group_id: sg-0badc0ffee0123456
      group_name: incident-response-legacy-db
      direction: ingress
      protocol: tcp
      from_port: 5432
      to_port: 5432
      peer: 0.0.0.0/0
      description: TEMPORARY vendor access - remove
      database_ports: [5432]
audited_security_groups:
  description: How many security groups the audit looked at.
  returned: when the source and target could be described
  type: int
  sample: 6
region:
  description: The region the groups were looked up in.
  returned: always
  type: str
  sample: us-east-1
error:
  description: The AWS error that stopped the check, with operation, resource and region.
  returned: when an AWS call failed
  type: str
  sample: >-
    Failed to describe DB instance incident-response-prd in us-east-1: not found:
    DBInstanceNotFound (DBInstance incident-response-prd not found.)
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.platform_eng.incident_response.plugins.module_utils._aws import (
    BOTO3_IMPORT_ERROR,
    aws_argument_spec,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._aws_security_groups import (
    DATABASE_PORTS,
    check_security_group_reachability,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._verdict import (
    fail_on_argument_spec,
    run_check,
)


def main() -> None:
    source_kinds = ["cidr", "security_group", "instance_id", "eni_id"]
    target_kinds = ["security_group", "db_instance_identifier"]
    argument_spec = aws_argument_spec()
    argument_spec.update(
        source=dict(
            type="dict",
            required=True,
            options={kind: dict(type="str") for kind in source_kinds},
            mutually_exclusive=[source_kinds],
            required_one_of=[source_kinds],
        ),
        target=dict(
            type="dict",
            required=True,
            options={kind: dict(type="str") for kind in target_kinds},
            mutually_exclusive=[target_kinds],
            required_one_of=[target_kinds],
        ),
        port=dict(type="int"),
        protocol=dict(type="str", default="tcp", choices=["tcp", "udp"]),
        expect=dict(type="str", default="reachable", choices=["reachable", "unreachable"]),
        audit_scope=dict(type="str", default="vpc", choices=["vpc", "target", "none"]),
        database_ports=dict(type="list", elements="int", default=list(DATABASE_PORTS)),
        **fail_on_argument_spec(),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    run_check(module, check_security_group_reachability, "Security group reachability",
              libraries=[("boto3", BOTO3_IMPORT_ERROR)])


if __name__ == "__main__":
    main()
