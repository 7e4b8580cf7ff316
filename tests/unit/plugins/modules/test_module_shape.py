# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Every inspection module has the same shape: one call into its helper, named after the module
(``<name>_info`` calls ``check_<name>``), the shared ``fail_on`` option and its doc fragment, and the
missing-library check through ``run_check`` or ``require``, never written out again."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[4]
MODULES = REPO / "plugins" / "modules"
# Inspection modules: they judge findings and take fail_on.
INSPECTION = sorted(p.stem for p in MODULES.glob("*_info.py") if "fail_on" in p.read_text(encoding="utf-8")
                    and p.stem != "health_watch_info")  # the watch fails on a breach, not a verdict


def source(module: str) -> str:
    return (MODULES / f"{module}.py").read_text(encoding="utf-8")


def documentation(module: str) -> dict:
    return yaml.safe_load(re.search(r'DOCUMENTATION = r"""(.*?)"""', source(module), re.S).group(1))


@pytest.mark.parametrize("module", INSPECTION)
def test_the_module_calls_its_helpers_check_named_after_it(module: str) -> None:
    entry = f"check_{module[:-len('_info')]}"
    assert re.search(rf"\b{entry}\b", source(module)), f"{module} should call {entry}"


@pytest.mark.parametrize("module", INSPECTION)
def test_fail_on_is_the_shared_option_and_fragment(module: str) -> None:
    text = source(module)
    assert "**fail_on_argument_spec()" in text
    assert "platform_eng.incident_response.fail_on" in documentation(module)["extends_documentation_fragment"]
    assert "fail_on" not in documentation(module).get("options", {})


@pytest.mark.parametrize("module", sorted(p.stem for p in MODULES.glob("*.py")))
def test_no_module_writes_the_missing_library_check_itself(module: str) -> None:
    assert "missing_library(" not in source(module), "use run_check(..., libraries=...) or require(...)"
