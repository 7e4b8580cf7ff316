# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Every playbook validates a role's arguments on a host before it runs any of that role's steps there.

A play that enters a role at ``main`` (or at another entry point of its ``meta/argument_specs.yml``) gets
ansible-core's argument-spec check; one that enters at ``tasks_from: <step>`` without an entry point of that
name does not. The deploy flow enters the deploy role at its steps in its later plays (validating in every
batch cost each host a task per batch), so this walks every playbook, following ``import_playbook``, and
checks that on each group of hosts the first entry into each role with an argument spec is a validated one.
"""

from __future__ import annotations

import typing as t
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
PLAYBOOKS = sorted((REPO / "playbooks").glob("*.yml"))
PREFIX = "platform_eng.incident_response."
ROLE_ACTIONS = ("include_role", "import_role")
# Groups of in-memory hosts a role's own validated step makes with add_host, from the arguments it checked:
# their entry at a step is not a first entry.
MADE_BY_ROLE = {"diagnose_checks": "diagnose"}


def test_the_in_memory_groups_are_made_by_their_role() -> None:
    for group, role in MADE_BY_ROLE.items():
        made = [task for path in (REPO / "roles" / role / "tasks").glob("*.yml")
                for task in yaml.safe_load(path.read_text(encoding="utf-8")) or []
                if group in ((task.get("ansible.builtin.add_host") or {}).get("groups") or [])]
        assert made, f"no add_host in roles/{role} makes {group}"


def entry_points(role: str) -> set[str] | None:
    spec = REPO / "roles" / role / "meta" / "argument_specs.yml"
    if not spec.exists():
        return None
    return set(yaml.safe_load(spec.read_text(encoding="utf-8"))["argument_specs"])


def role_entries(tasks: list[dict[str, t.Any]]) -> t.Iterator[tuple[str, str]]:
    """(role, entry point) for every include_role / import_role in these tasks, blocks included, in order."""
    for task in tasks or []:
        for key in ("block", "rescue", "always"):
            yield from role_entries(task.get(key) or [])
        for action in ROLE_ACTIONS:
            args = task.get(action) or task.get(f"ansible.builtin.{action}")
            if args:
                yield args["name"].removeprefix(PREFIX), args.get("tasks_from", "main").removesuffix(".yml")


def plays(path: Path) -> t.Iterator[tuple[Path, dict[str, t.Any]]]:
    for play in yaml.safe_load(path.read_text(encoding="utf-8")):
        target = play.get("ansible.builtin.import_playbook") or play.get("import_playbook")
        if target:
            yield from plays((path.parent / target).resolve())
        else:
            yield path, play


def first_entries(playbook: Path) -> dict[tuple[str, str], tuple[str, str]]:
    """For each (hosts, role): the entry point of the first play that enters the role there, and that play."""
    first: dict[tuple[str, str], tuple[str, str]] = {}
    for path, play in plays(playbook):
        hosts = str(play["hosts"])
        entries = [(r["role"] if isinstance(r, dict) else r, "main") for r in play.get("roles") or []]
        for section in ("pre_tasks", "tasks", "post_tasks"):
            entries += list(role_entries(play.get(section) or []))
        for role, entry in entries:
            first.setdefault((hosts, role.removeprefix(PREFIX)),
                             (entry, f"{path.relative_to(REPO)}: play {play.get('name')!r}"))
    return first


def test_the_walk_sees_the_deploy_flows_step_entries() -> None:
    """The check below cannot pass by finding nothing: the flow's later plays enter the deploy role at steps."""
    entered = [entry for path, play in plays(REPO / "playbooks" / "deploy.yml")
               for role, entry in role_entries(play.get("tasks") or []) if role == "deploy"]
    assert "main" in entered
    assert {"rollout", "put_back", "settle"} <= set(entered)


@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=[p.name for p in PLAYBOOKS])
def test_each_host_group_enters_a_role_at_a_validated_entry_point_first(playbook: Path) -> None:
    unvalidated = []
    for (hosts, role), (entry, where) in first_entries(playbook).items():
        points = entry_points(role)
        if MADE_BY_ROLE.get(hosts) == role:
            continue
        if points is not None and entry not in points:
            unvalidated.append(f"{hosts}: role {role} first entered at {entry!r} ({where}); "
                               f"its argument spec has {sorted(points)}")
    assert not unvalidated, "; ".join(unvalidated)
