# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""No verdict is computed in YAML: Python decides (modules, filters, action plugins), with unit tests.

Each pattern is a shape a verdict took in the roles and playbooks before it moved to Python: a table from a
``fail_on`` level to the statuses that fail, a finding written by hand (a literal status), a judgement of a
certificate's classification, a status tested against a list.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
YAML = sorted(p for d in ("roles", "playbooks") for p in (REPO / d).rglob("*.yml"))
Q = r"""['"]?"""
VERDICT_SHAPES = {
    "fail_on table": re.compile(rf"{Q}(none|warn|critical){Q}\s*:\s*\[\s*({Q}(warn|critical){Q}\s*,?\s*)*\]"),
    "fail_on lookup": re.compile(r"\}\s*\[\s*\w*fail_on\s*\]"),
    "hand-built finding": re.compile(rf"{Q}status{Q}\s*:\s*{Q}(ok|warn|critical|unknown){Q}\s*[,}}\n]"),
    "classification judged": re.compile(r"classification"),
    "status in a list": re.compile(r"status\s+(not\s+)?in\s+\["),
}


def test_the_patterns_find_the_verdicts_they_were_written_for() -> None:
    examples = {
        "fail_on table": "{{ {'none': [], 'warn': ['warn', 'critical'], 'critical': ['critical']}[x_fail_on] }}",
        "fail_on lookup": "{{ {...}[x_fail_on] }}",
        "hand-built finding": "{'name': 'scratch_dropped', 'status': 'critical', 'value': false}",
        "classification judged": "selectattr('classification', 'in', ['expiring', 'expired'])",
        "status in a list": "that: result.status not in ['warn', 'critical']",
    }
    for name, text in examples.items():
        assert VERDICT_SHAPES[name].search(text), name
    assert VERDICT_SHAPES["hand-built finding"].search("status: critical\n")


@pytest.mark.parametrize("path", YAML, ids=[str(p.relative_to(REPO)) for p in YAML])
def test_no_role_or_playbook_computes_a_verdict(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    found = [f"{name}: line {text[:m.start()].count(chr(10)) + 1}: {m.group(0)!r}"
             for name, pattern in VERDICT_SHAPES.items() for m in pattern.finditer(text)]
    assert not found, "decide in Python (a module, a filter or an action plugin) with unit tests, not in YAML: " + \
        "; ".join(found)
