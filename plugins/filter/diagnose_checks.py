# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: diagnose_checks
short_description: The checks a runbook alert's diagnosis runs, grouped by where they run
version_added: 0.2.0
description:
  - The diagnose role's plan, from the one list of alerts and their checks (C(plugins/module_utils/_diagnose.py)).
    V(all) runs every alert's checks, each once.
  - Leaves out the checks that have nothing to ask (AWS checks when they are off, Kubernetes without an API, SQS without
    queues, ElastiCache without a cache) and groups the rest by where they run.
author:
  - Platform Engineering Team (@platform-eng)
options:
  _input:
    description: The alert (V(high_error_rate), V(high_latency), V(service_wont_start), V(db_connection),
      V(memory_leak) or V(all)).
    type: str
    required: true
  aws:
    description: Whether the AWS checks run.
    type: bool
    default: false
  kube:
    description: Whether a Kubernetes API is configured.
    type: bool
    default: false
  queues:
    description: Whether SQS queues are configured.
    type: bool
    default: false
  elasticache:
    description: Whether an ElastiCache cache is configured.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Choose the checks this alert needs
  ansible.builtin.set_fact:
    plan: "{{ 'high_latency' | platform_eng.incident_response.diagnose_checks(aws=true, queues=true) }}"
"""

RETURN = r"""
_value:
  description:
    - C(checks) (every check, in the alert's order), C(on_bastion) (a slot each), C(per_app_host) (on every app host),
      C(k8s) and C(aws) (a controller slot each).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.platform_eng.incident_response.plugins.module_utils._diagnose import plan_checks
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import IncidentResponseError


def diagnose_checks(alert: str, aws: bool = False, kube: bool = False, queues: bool = False,
                    elasticache: bool = False) -> dict[str, list[str]]:
    try:
        return plan_checks(str(alert), bool(aws), bool(kube), bool(queues), bool(elasticache))
    except IncidentResponseError as exc:
        raise AnsibleFilterError(f"diagnose_checks: {exc}") from None


class FilterModule:
    def filters(self):
        return {"diagnose_checks": diagnose_checks}
