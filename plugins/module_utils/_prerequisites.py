# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What a module says when a Python library it needs is missing on the host it runs on.

The collection's runtime libraries (meta/requirements.txt) reach a host through the
``prerequisites`` role: a virtualenv with those libraries, and ``ansible_python_interpreter``
pointed at it. A host that skipped it, or an inventory that points at another Python, gets
one message naming the library, the Python and host it looked in, and the role to run.

The role decides what a host needs with ``requirement_set``: the pinned lines of
meta/requirements.txt for the libraries that host's modules import, and a digest of them
that the host's virtualenv is stamped with.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import sys
import typing as t

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import IncidentResponseError

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


# A library a module needs: its import name, and the traceback of its failed import (None when it imported).
Library = t.Tuple[str, t.Optional[str]]


class _Module(t.Protocol):
    def fail_json(self, **kwargs: t.Any) -> t.NoReturn: ...


def require(module: _Module, libraries: t.Iterable[Library], needed_for: str = "") -> None:
    """Fail ``module`` with the missing-library message for the first of ``libraries`` that did not import."""
    for library, import_error in libraries:
        if import_error is not None:
            module.fail_json(msg=missing_library(library, needed_for), exception=import_error)


# Distributions whose import name is not their name with "-" as "_".
IMPORT_NAMES = {"psycopg2-binary": "psycopg2", "python-dateutil": "dateutil"}


def normalize(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_requirements(text: str) -> dict[str, str]:
    """Normalized distribution name -> its requirement line (comments and blank lines dropped)."""
    found: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)", line)
        if not match or line.startswith("-"):
            raise IncidentResponseError(f"requirements line {number} is not a requirement: {raw.strip()!r}")
        found[normalize(match.group(1))] = re.sub(r"\s+", "", line)
    return found


def requirement_set(text: str, libraries: t.Iterable[str], python: str = "") -> dict[str, t.Any]:
    """The pinned lines for ``libraries``, their import names, and a digest that names this exact set.

    ``python`` is the version of the host's Python the virtualenv is built with: wheels and environment
    markers depend on it, so it is part of the set. The digest changes whenever a pin, the list or that
    Python changes, so a host whose virtualenv was built otherwise is rebuilt, and one built from this set
    is left alone.
    """
    pinned = parse_requirements(text)
    wanted = sorted({normalize(name) for name in libraries})
    missing = [name for name in wanted if name not in pinned]
    if missing:
        raise IncidentResponseError(
            f"{', '.join(missing)} not in the requirements file (it pins {', '.join(sorted(pinned))})")
    if python and not re.fullmatch(r"\d+\.\d+(\.\d+)?", python):
        raise IncidentResponseError(f"python must be a version such as 3.11.2, got {python!r}")
    requirements = [pinned[name] for name in wanted]
    digest = hashlib.sha256("\n".join([f"python={python}", *requirements]).encode("utf-8")).hexdigest()
    imports = [IMPORT_NAMES.get(name, name.replace("-", "_")) for name in wanted]
    stamp = json.dumps({"sha256": digest, "python": python, "requirements": requirements}, indent=2) + "\n"
    return {"requirements": requirements, "imports": imports, "python": python, "sha256": digest,
            "id": digest[:16], "stamp": stamp}
