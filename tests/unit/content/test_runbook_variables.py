# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every number and name in the runbook defaults (roles/incident_response/defaults/main.yml) is read by the collection's content, or it goes.

A variable nothing reads looks like configuration and configures nothing: someone changes the SLA or the
owner there and no alert, page or report follows. Content is what runs: roles (not their argument specs,
whose defaults are documentation), playbooks and plugins (not their DOCUMENTATION, EXAMPLES and RETURN);
tests, inventories and the README do not count.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
RUNBOOK = REPO / "roles" / "incident_response" / "defaults" / "main.yml"
# Variables that are unread on purpose, each with the reason. An entry must stay true: once something reads the
# variable, test_the_allow_list_holds_only_unread_variables fails and the entry goes.
ALLOWED_UNREAD: dict[str, str] = {}
_DOC_STRINGS = {"DOCUMENTATION", "EXAMPLES", "RETURN"}


def _code_of(path: Path) -> str:
    """A plugin's source without its documentation strings, which mention variables without reading them."""
    text = path.read_text(encoding="utf-8")
    kept = text.splitlines()
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") in _DOC_STRINGS for t in node.targets):
            for line in range(node.lineno - 1, node.end_lineno or node.lineno):
                kept[line] = ""
    return "\n".join(kept)


def content() -> dict[str, str]:
    """Relative path -> the text in which a read counts."""
    texts = {}
    for path in sorted((REPO / "roles").rglob("*")):
        # The file that sets the variables is no reader of them, wherever it lives.
        if (path.is_file() and path.suffix in (".yml", ".yaml", ".j2") and path.name != "argument_specs.yml"
                and path.resolve() != RUNBOOK.resolve()):
            texts[str(path.relative_to(REPO))] = path.read_text(encoding="utf-8")
    for path in sorted((REPO / "playbooks").rglob("*.yml")):
        texts[str(path.relative_to(REPO))] = path.read_text(encoding="utf-8")
    for path in sorted((REPO / "plugins").rglob("*.py")):
        texts[str(path.relative_to(REPO))] = _code_of(path)
    return texts


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    return content()


def variables() -> list[str]:
    return sorted(yaml.safe_load(RUNBOOK.read_text(encoding="utf-8")))


def readers(texts: dict[str, str], name: str) -> list[str]:
    word = re.compile(rf"\b{re.escape(name)}\b")
    return [path for path, text in texts.items() if word.search(text)]


def test_the_search_finds_known_readers_and_skips_documentation(texts):
    assert "roles/diagnose/defaults/main.yml" in readers(texts, "incident_response_service_name")
    # pg_restore_drill documents the RTO variable; only the dr_drill role reads it.
    assert readers(texts, "incident_response_rto_minutes") == ["roles/dr_drill/defaults/main.yml"]


@pytest.mark.parametrize("name", variables())
def test_every_runbook_variable_is_read(texts, name):
    if name in ALLOWED_UNREAD:
        pytest.skip(f"{name}: unread on purpose, {ALLOWED_UNREAD[name]}")
    assert readers(texts, name), (f"{name} is set in {RUNBOOK.relative_to(REPO)} and read by nothing in roles, "
                                  "playbooks or plugins: read it where it belongs, or remove it")


def test_the_allow_list_holds_only_unread_variables(texts):
    for name, reason in ALLOWED_UNREAD.items():
        assert name in variables(), f"{name} is allowed unread but is no longer in runbook.yml: remove the entry"
        assert not readers(texts, name), (f"{name} is read now ({', '.join(readers(texts, name))}): remove it from "
                                          f"ALLOWED_UNREAD ({reason})")
