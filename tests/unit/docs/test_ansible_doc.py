# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every module, filter and role entry point documents itself through ansible-doc, as users read it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
MODULES = sorted(p.stem for p in (REPO / "plugins/modules").glob("*.py") if p.stem != "__init__")
ENV = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
ANSIBLE_DOC = str(Path(sys.executable).parent / "ansible-doc")


def doc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([ANSIBLE_DOC, *args], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=120,
                          check=False)


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    """All module pages from one ansible-doc run (one start-up instead of one per module), split per module."""
    result = doc("-t", "module", *(f"platform_eng.incident_response.{m}" for m in MODULES))
    assert result.returncode == 0, result.stderr
    assert "[WARNING]" not in result.stderr and "[ERROR]" not in result.stderr, result.stderr
    pages: dict[str, str] = {}
    current = None
    for line in result.stdout.splitlines():
        header = re.match(r"> MODULE platform_eng\.incident_response\.(\w+) ", line)
        if header:
            current = header.group(1)
            pages[current] = ""
        if current:
            pages[current] += line + "\n"
    return pages


@pytest.mark.parametrize("module", MODULES)
def test_module_doc_renders(rendered, module):
    page = rendered.get(module)
    assert page, f"ansible-doc rendered no page for {module}"
    assert "OPTIONS" in page and "EXAMPLES:" in page
    assert "RETURN VALUES:" in page or module == "input_guard"


def test_every_module_is_listed():
    result = doc("-l", "platform_eng.incident_response")
    assert result.returncode == 0, result.stderr
    for module in MODULES:
        assert f"platform_eng.incident_response.{module}" in result.stdout


@pytest.mark.parametrize("role", sorted(p.name for p in (REPO / "roles").iterdir() if (p / "tasks").is_dir()
                                        or (p / "defaults").is_dir()))
def test_role_argument_spec_renders(role):
    # Every role, so a role without an argument spec fails here: its inputs are declared and checked on entry.
    assert (REPO / "roles" / role / "meta" / "argument_specs.yml").exists(), f"roles/{role} declares no inputs"
    result = doc("-t", "role", f"platform_eng.incident_response.{role}")
    assert result.returncode == 0, result.stderr
    assert "ENTRY POINT: main" in result.stdout or "ENTRY POINT:" in result.stdout


@pytest.mark.parametrize("name", sorted(p.stem for p in (REPO / "plugins/filter").glob("*.py") if p.stem != "__init__"))
def test_filter_doc_renders(name):
    result = doc("-t", "filter", f"platform_eng.incident_response.{name}")
    assert result.returncode == 0, result.stderr
    assert "[WARNING]" not in result.stderr and "[ERROR]" not in result.stderr, result.stderr
    assert f"platform_eng.incident_response.{name}" in result.stdout and "EXAMPLES:" in result.stdout
