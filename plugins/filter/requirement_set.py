# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: requirement_set
short_description: The pinned requirements a host needs, and a digest that names that exact set
version_added: 0.2.0
description:
  - >-
    Picks the lines of a pip requirements file (the collection's C(meta/requirements.txt)) for the given
    distributions, and returns them with their import names and a SHA-256 of the set. The prerequisites role
    stamps a host's virtualenv with it, so a second run changes nothing and a changed pin rebuilds it.
  - Fails naming any distribution the file does not pin.
author:
  - Platform Engineering Team (@platform-eng)
options:
  _input:
    description: The text of the requirements file.
    type: str
    required: true
  libraries:
    description: Distribution names (C(boto3), C(psycopg2-binary), ...), compared as pip compares them.
    type: list
    elements: str
    required: true
  python:
    description:
      - The version of the Python the set is installed for (C(3.11.2)); wheels and environment markers depend on
        it, so it is part of the digest.
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Work out what a bastion needs
  ansible.builtin.set_fact:
    wanted: >-
      {{ lookup('ansible.builtin.file', 'meta/requirements.txt')
         | platform_eng.incident_response.requirement_set(['boto3', 'botocore', 'psycopg2-binary'], python='3.11.2') }}
"""

RETURN = r"""
_value:
  description: The set.
  type: dict
  contains:
    requirements:
      description: The requirement lines, sorted by name.
      type: list
      elements: str
      sample: [boto3==1.44.8, botocore==1.44.8, psycopg2-binary==2.9.13]
    python:
      description: The Python version the set is for.
      type: str
      sample: 3.11.2
    imports:
      description: The import name of each distribution, in the same order.
      type: list
      elements: str
      sample: [boto3, botocore, psycopg2]
    sha256:
      description: SHA-256 of the requirement lines.
      type: str
    id:
      description: The first 16 characters of C(sha256), for directory names.
      type: str
    stamp:
      description: The JSON text a virtualenv built from this set is stamped with.
      type: str
"""

import typing as t

from ansible.errors import AnsibleFilterError

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import IncidentResponseError
from ansible_collections.platform_eng.incident_response.plugins.module_utils._prerequisites import (
    requirement_set as _requirement_set,
)


def requirement_set(text: str, libraries: t.Iterable[str], python: str = "") -> dict[str, t.Any]:
    if isinstance(libraries, str):
        raise AnsibleFilterError("requirement_set: libraries must be a list of distribution names, not a string")
    try:
        return _requirement_set(str(text), [str(name) for name in libraries], str(python))
    except IncidentResponseError as exc:
        raise AnsibleFilterError(f"requirement_set: {exc}") from exc


class FilterModule:
    def filters(self):
        return {"requirement_set": requirement_set}
