# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The collection, and with it the tests' own helpers, importable as packages for every unit test.

ansible-test puts the collection on sys.path; plain pytest from a checkout does not. With it there, the test
helpers are ``ansible_collections.platform_eng.incident_response.tests.unit.helpers...`` and the lab's scripts
``...incident_response.lab...``, as ansible-test's own unit tests import theirs.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _make_collection_importable() -> None:
    try:
        import ansible_collections.platform_eng.incident_response.plugins.module_utils._findings  # noqa: F401

        return
    except ImportError:
        pass
    root = REPO / ".collections"
    if not (root / "ansible_collections" / "platform_eng" / "incident_response").exists():
        root = Path(tempfile.mkdtemp(prefix="collections-"))
        link = root / "ansible_collections" / "platform_eng" / "incident_response"
        link.parent.mkdir(parents=True)
        link.symlink_to(REPO)
    sys.path.insert(0, str(root))


_make_collection_importable()
