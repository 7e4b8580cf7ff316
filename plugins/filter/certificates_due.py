# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: certificates_due
short_description: The certificates inside the renewal threshold
version_added: 0.2.0
description:
  - Names the certificates of a M(platform_eng.incident_response.tls_certificate_info) result whose classification is
    V(expiring) or V(expired), the ones the certificates role renews (and, checked again after the renewal, the ones
    still due).
author:
  - Platform Engineering Team (@platform-eng)
options:
  _input:
    description: The C(certificates) of one or more M(platform_eng.incident_response.tls_certificate_info) results.
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
- name: Say which certificates are still due after the renewal
  ansible.builtin.debug:
    msg: "{{ after.certificates | platform_eng.incident_response.certificates_due }}"
"""

RETURN = r"""
_value:
  description: Their names, in the order given.
  type: list
  elements: str
"""

import typing as t

from ansible_collections.platform_eng.incident_response.plugins.module_utils._tls_certs import DUE


def certificates_due(certificates: t.Iterable[t.Mapping[str, t.Any]]) -> list[str]:
    return [cert["name"] for cert in certificates or [] if cert.get("classification") in DUE]


class FilterModule:
    def filters(self):
        return {"certificates_due": certificates_due}
