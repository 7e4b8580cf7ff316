# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Reports name hosts, sessions, queries and errors: no writer of the collection makes them world-readable."""

from __future__ import annotations

import stat
import typing as t
from pathlib import Path

import pytest
import yaml

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _diagnose

REPO = Path(__file__).resolve().parents[4]
WRITERS = ("ansible.builtin.copy", "ansible.builtin.template", "ansible.builtin.file", "copy", "template", "file")
REPORT = {"alert": "all", "generated_at": "2026-11-29T04:00:00Z"}


def test_a_diagnosis_report_is_readable_by_its_owner_and_group_only(tmp_path: Path) -> None:
    directory = tmp_path / "new" / "reports"

    paths = _diagnose.write(REPORT, "# report\n", str(directory))

    assert stat.S_IMODE(directory.stat().st_mode) & 0o027 == 0
    for path in paths:
        assert stat.S_IMODE(Path(path).stat().st_mode) == 0o640, path


def _tasks(items: t.Any) -> t.Iterator[dict[str, t.Any]]:
    for item in items or []:
        if isinstance(item, dict):
            yield item
            for key in ("block", "rescue", "always"):
                yield from _tasks(item.get(key))


def report_writers() -> list[tuple[str, str, dict[str, t.Any]]]:
    found = []
    for path in sorted((REPO / "roles").glob("*/tasks/*.yml")):
        for task in _tasks(yaml.safe_load(path.read_text(encoding="utf-8"))):
            for module in WRITERS:
                args = task.get(module)
                if isinstance(args, dict) and "report" in str(args.get("dest") or args.get("path") or ""):
                    found.append((f"{path.relative_to(REPO)}: {task.get('name')}", module, args))
    return found


def test_the_roles_write_reports_somewhere() -> None:
    assert report_writers(), "no report writer found: the scan below would prove nothing"


@pytest.mark.parametrize("where, module, args", report_writers(), ids=[w[0] for w in report_writers()])
def test_every_report_file_and_directory_a_role_writes_is_closed_to_other_users(
        where: str, module: str, args: dict[str, t.Any]) -> None:
    mode = str(args.get("mode", ""))
    assert mode, f"{where}: no mode, so the umask decides"
    limit = 0o750 if args.get("state") == "directory" else 0o640
    assert int(mode, 8) & ~limit == 0, f"{where}: mode {mode} is wider than {oct(limit)}"
