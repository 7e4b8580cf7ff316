# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What a module says when a Python library it needs is missing on the host it runs on.

The collection's runtime libraries (meta/requirements.txt) reach a host through the
``prerequisites`` role: a virtualenv with those libraries, and ``ansible_python_interpreter``
pointed at it. A host that skipped it, or an inventory that points at another Python, gets
one message naming the library, the Python and host it looked in, and the role to run.
"""

from __future__ import annotations

import platform
import sys

PREREQUISITES_ROLE = "platform_eng.incident_response.prerequisites"


def missing_library(library: str, needed_for: str = "", python: str | None = None, host: str | None = None) -> str:
    """The failure message for a missing ``library`` (``needed_for`` says what the module wanted it for)."""
    python = python or sys.executable
    host = host or platform.node()
    why = f", needed {needed_for}" if needed_for else ""
    return (
        f"The Python library {library} is not installed for {python} on {host}{why}. "
        f"Run the {PREREQUISITES_ROLE} role on this host first "
        f"(ansible-playbook {PREREQUISITES_ROLE} -i <inventory> --limit <host>): it installs the collection's "
        "runtime requirements into a virtualenv and points ansible_python_interpreter at it."
    )
