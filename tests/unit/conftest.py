# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The collection, and with it the tests' own helpers, importable as packages for every unit test.

ansible-test puts the collection on sys.path; plain pytest from a checkout does not. With it there, the test
helpers are ``ansible_collections.platform_eng.incident_response.tests.unit.helpers...`` and the lab's scripts
``...incident_response.lab...``, as ansible-test's own unit tests import theirs.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import typing as t
from pathlib import Path

import pytest

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


# The database and cache tests skip where PostgreSQL 15 or redis-server is not installed. On a machine that has
# them (this project's development machines and CI), such a skip hides a broken fixture or a lost library, so
# it fails the tier instead.
PG_BIN = Path("/usr/lib/postgresql/15/bin")
SERVERS = {
    "PostgreSQL": (lambda: (PG_BIN / "initdb").exists() and os.geteuid() == 0,
                   re.compile(r"postgres|psycopg", re.IGNORECASE)),
    "Redis": (lambda: shutil.which("redis-server") is not None, re.compile(r"redis", re.IGNORECASE)),
}
_SKIPPED_THOUGH_PRESENT: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not report.skipped or not isinstance(report.longrepr, tuple):
        return
    reason = str(report.longrepr[2])
    for server, (present, mentions) in SERVERS.items():
        if mentions.search(reason) and present():
            _SKIPPED_THOUGH_PRESENT.append(f"{report.nodeid}: {reason} ({server} is installed here)")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _SKIPPED_THOUGH_PRESENT and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: t.Any) -> None:
    if _SKIPPED_THOUGH_PRESENT:
        terminalreporter.section("database or cache tests skipped on a machine that has them", sep="=", red=True)
        for line in _SKIPPED_THOUGH_PRESENT:
            terminalreporter.line(line)
