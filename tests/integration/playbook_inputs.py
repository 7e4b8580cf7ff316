# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every documented input of every playbook, discovered rather than listed by hand.

A playbook's inputs are the union of
- the rules of its input_guard task (``inputs:``, inline or through a play variable),
- the options of every role it uses (``meta/argument_specs.yml``, every entry point), following
  include_role/import_role inside roles too,
- the ``-e name=`` mentions in its header comment.

So a playbook or role added later is covered without touching the tests.
"""

from __future__ import annotations

import re
import typing as t
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
GUARD = ("platform_eng.incident_response.input_guard", "input_guard")
ROLE_INCLUDES = ("ansible.builtin.include_role", "ansible.builtin.import_role", "include_role", "import_role")
HEADER_INPUT = re.compile(r"-e\s+[\"']?([A-Za-z_][A-Za-z0-9_]*)=")


class Input(t.NamedTuple):
    name: str
    rule: dict[str, t.Any] | None  # the guard's rule, when the guard declares it
    spec: dict[str, t.Any] | None  # the role option, when a role declares it
    sources: tuple[str, ...]


def playbooks() -> list[Path]:
    return sorted((REPO / "playbooks").glob("*.yml"))


def _load(path: Path) -> t.Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None


def _tasks(items: t.Any) -> t.Iterator[dict[str, t.Any]]:
    for item in items or []:
        if not isinstance(item, dict):
            continue
        yield item
        for key in ("block", "rescue", "always"):
            yield from _tasks(item.get(key))


def _role_name(name: t.Any) -> str | None:
    if not isinstance(name, str) or "{{" in name:
        return None
    return name.rsplit(".", 1)[-1]


def _roles_in_tasks(tasks: t.Iterable[dict[str, t.Any]]) -> set[str]:
    found = set()
    for task in tasks:
        for key in ROLE_INCLUDES:
            if isinstance(task.get(key), dict) and _role_name(task[key].get("name")):
                found.add(t.cast(str, _role_name(task[key]["name"])))
    return found


def _plays(playbook: Path, seen: set[Path] | None = None) -> t.Iterator[dict[str, t.Any]]:
    """The plays of a playbook, import_playbook followed."""
    seen = set() if seen is None else seen
    if playbook in seen:
        return
    seen.add(playbook)
    plays = _load(playbook) or []
    for play in plays if isinstance(plays, list) else []:
        if not isinstance(play, dict):
            continue
        imported = play.get("ansible.builtin.import_playbook") or play.get("import_playbook")
        if isinstance(imported, str) and "{{" not in imported:
            yield from _plays((playbook.parent / imported).resolve(), seen)
        else:
            yield play


def roles_used(playbook: Path) -> set[str]:
    """Roles a playbook uses, directly or through other roles' include_role."""
    todo: set[str] = set()
    for play in _plays(playbook):
        for entry in play.get("roles") or []:
            name = _role_name(entry.get("role") or entry.get("name") if isinstance(entry, dict) else entry)
            if name:
                todo.add(name)
        for key in ("pre_tasks", "tasks", "post_tasks", "handlers"):
            todo |= _roles_in_tasks(_tasks(play.get(key)))
    seen: set[str] = set()
    while todo:
        role = todo.pop()
        if role in seen or not (REPO / "roles" / role).is_dir():
            continue
        seen.add(role)
        for path in sorted((REPO / "roles" / role / "tasks").glob("*.yml")):
            todo |= _roles_in_tasks(_tasks(_load(path)))
    return seen


def guard_rules(playbook: Path) -> dict[str, dict[str, t.Any]]:
    """The rules of every input_guard task in the playbook (inline, or a play variable they name)."""
    rules: dict[str, dict[str, t.Any]] = {}
    for play in _plays(playbook):
        for key in ("pre_tasks", "tasks", "post_tasks"):
            for task in _tasks(play.get(key)):
                for action in GUARD:
                    args = task.get(action)
                    if not isinstance(args, dict):
                        continue
                    inputs = args.get("inputs")
                    if isinstance(inputs, str):
                        match = re.fullmatch(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}", inputs.strip())
                        inputs = (play.get("vars") or {}).get(match.group(1)) if match else None
                    if isinstance(inputs, dict):
                        rules.update({str(name): dict(rule or {}) for name, rule in inputs.items()})
    return rules


def role_options(role: str) -> dict[str, dict[str, t.Any]]:
    specs = _load(REPO / "roles" / role / "meta" / "argument_specs.yml") or {}
    options: dict[str, dict[str, t.Any]] = {}
    for entry in (specs.get("argument_specs") or {}).values():
        for name, spec in ((entry or {}).get("options") or {}).items():
            options.setdefault(str(name), dict(spec or {}))
    return options


def header_inputs(playbook: Path) -> set[str]:
    lines = []
    for line in playbook.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or line.strip() in ("", "---"):
            lines.append(line)
        else:
            break
    return set(HEADER_INPUT.findall("\n".join(lines)))


def inputs(playbook: Path) -> dict[str, Input]:
    rules = guard_rules(playbook)
    specs: dict[str, dict[str, t.Any]] = {}
    spec_source: dict[str, str] = {}
    for role in sorted(roles_used(playbook)):
        for name, spec in role_options(role).items():
            specs.setdefault(name, spec)
            spec_source.setdefault(name, f"role {role}")
    header = header_inputs(playbook)
    found = {}
    for name in sorted(set(rules) | set(specs) | header):
        origins = (("guard", name in rules), (spec_source.get(name, ""), name in specs), ("header", name in header))
        sources = tuple(source for source, present in origins if present)
        found[name] = Input(name, rules.get(name), specs.get(name), sources)
    return found


def malformed(item: Input) -> str | None:
    """A value its rule (or role type) must refuse; None for free text, which has no wrong shape but markers."""
    rule, spec = item.rule or {}, item.spec or {}
    kind = rule.get("type") or ("str" if item.rule is not None else spec.get("type", "str"))
    if kind in ("int", "float", "serial"):
        return "abc"
    if kind == "bool":
        return "maybe"
    if kind == "report_dir":
        return "/tmp/x/../../etc/evil-injection-test"
    if kind in ("list", "dict"):
        return "not-a-" + kind
    if rule.get("choices") or (item.rule is None and spec.get("choices")):
        return "no-such-choice"
    if rule.get("pattern"):
        return "bad value;id"
    return None


def sample(item: Input) -> str | None:
    """A valid value for a required guard input, so a run gets past the guard."""
    rule = item.rule or {}
    known = {"version": "v1.2.3", "incident_id": "INC-20261129-1423-ab12"}
    if item.name in known:
        return known[item.name]
    if rule.get("choices"):
        return str(rule["choices"][-1] if item.name == "alert" else rule["choices"][0])
    kind = rule.get("type", "str")
    if kind == "int":
        return str(rule.get("min", 1))
    if kind == "bool":
        return "false"
    if kind == "serial":
        return "1"
    return None


def required_args(playbook: Path) -> list[str]:
    """-e arguments for every required guard input of a playbook (valid values)."""
    argv = []
    for item in inputs(playbook).values():
        if item.rule is not None and item.rule.get("required"):
            value = sample(item)
            if value is None:
                raise AssertionError(f"{playbook.name}: no sample value for the required input {item.name}; "
                                     f"add one to tests/integration/playbook_inputs.py")
            argv += ["-e", f"{item.name}={value}"]
    return argv
