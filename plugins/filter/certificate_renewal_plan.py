# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: certificate_renewal_plan
short_description: What the certificates role runs, and where, for the certificates inside the renewal threshold
version_added: 0.2.0
description:
  - For each certificate that is due (see P(platform_eng.incident_response.certificates_due#filter)), finds its
    configuration (an endpoint of the same C(name), else a file whose C(path) is in the certificate's name) and returns
    one step per owner and commands, in the order the certificates came, with the renewal command (the certificate's
    C(renew_command), else O(renew_command)), the same with O(dry_run_args) appended, and the reload command (its
    C(reload_command), else O(reload_command)).
  - Two certificates that need the same commands on the same owner make one step.
author:
  - Platform Engineering Team (@platform-eng)
options:
  _input:
    description: The C(certificates) of the M(platform_eng.incident_response.tls_certificate_info) results.
    type: list
    elements: dict
    required: true
  endpoints:
    description: The role's C(certificates_endpoints) (C(name), C(owner), optional C(renew_command), C(reload_command)).
    type: list
    elements: dict
    default: []
  files:
    description: The role's C(certificates_files) (C(path), C(owner), optional C(renew_command), C(reload_command)).
    type: list
    elements: dict
    default: []
  renew_command:
    description: The renewal command (argv) of a certificate that names none.
    type: list
    elements: str
    required: true
  dry_run_args:
    description: Appended to the renewal command for the dry run.
    type: list
    elements: str
    default: []
  reload_command:
    description: The reload command (argv) of a certificate that names none; empty reloads nothing.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Plan a renewal for each certificate inside the threshold
  ansible.builtin.set_fact:
    plan: >-
      {{ checked.certificates | platform_eng.incident_response.certificate_renewal_plan(
         endpoints=certificates_endpoints, files=certificates_files, renew_command=['certbot', 'renew'],
         dry_run_args=['--dry-run'], reload_command=['systemctl', 'reload', 'nginx']) }}
"""

RETURN = r"""
_value:
  description: The steps, each C(owner), C(renew), C(dry_run) and C(reload) (argv lists).
  type: list
  elements: dict
"""

import typing as t

from ansible.errors import AnsibleFilterError

from ansible_collections.platform_eng.incident_response.plugins.module_utils._tls_certs import DUE


def _configuration(name: str, endpoints: t.Sequence[t.Mapping[str, t.Any]],
                   files: t.Sequence[t.Mapping[str, t.Any]]) -> t.Mapping[str, t.Any]:
    found = [e for e in endpoints if e.get("name") == name] + [f for f in files if str(f.get("path")) in name]
    if not found:
        raise AnsibleFilterError(f"certificate_renewal_plan: no endpoint or file is configured for {name!r}")
    return found[0]


def certificate_renewal_plan(certificates: t.Iterable[t.Mapping[str, t.Any]],
                             endpoints: t.Sequence[t.Mapping[str, t.Any]] = (),
                             files: t.Sequence[t.Mapping[str, t.Any]] = (),
                             renew_command: t.Sequence[str] = (), dry_run_args: t.Sequence[str] = (),
                             reload_command: t.Sequence[str] = ()) -> list[dict[str, t.Any]]:
    plan: list[dict[str, t.Any]] = []
    for cert in certificates or []:
        if cert.get("classification") not in DUE:
            continue
        conf = _configuration(str(cert["name"]), endpoints or [], files or [])
        renew = list(conf.get("renew_command", renew_command))
        step = {"owner": conf["owner"], "renew": renew, "dry_run": renew + list(dry_run_args),
                "reload": list(conf.get("reload_command", reload_command))}
        if step not in plan:
            plan.append(step)
    return plan


class FilterModule:
    def filters(self):
        return {"certificate_renewal_plan": certificate_renewal_plan}
