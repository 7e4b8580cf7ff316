# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The AWS connection is said once: every AWS module is in the ``aws`` action group, and tasks set the connection
with ``module_defaults`` on that group instead of repeating region, endpoint and credentials."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
GROUP = yaml.safe_load((REPO / "meta/runtime.yml").read_text(encoding="utf-8"))["action_groups"]["aws"]
AWS_MODULES = sorted(p.stem for p in (REPO / "plugins/modules").glob("*.py")
                     if re.search(r"^\s+- platform_eng\.incident_response\.aws$", p.read_text(encoding="utf-8"), re.M))
YAML = sorted(p for d in ("roles", "playbooks") for p in (REPO / d).rglob("*.yml"))
CONNECTION = re.compile(r"^\s+(region|endpoint_url|profile|access_key|secret_key|session_token):\s*\S", re.M)


def test_every_module_with_the_aws_options_is_in_the_aws_group() -> None:
    assert AWS_MODULES, "no module extends the aws doc fragment"
    assert sorted(GROUP) == AWS_MODULES
    assert {"sqs_queue_health_info", "elasticache_cluster_health_info", "rds_instance_scale_up"} <= set(GROUP)


@pytest.mark.parametrize("path", YAML, ids=[str(p.relative_to(REPO)) for p in YAML])
def test_no_task_repeats_the_aws_connection(path: Path) -> None:
    found = CONNECTION.findall(path.read_text(encoding="utf-8"))
    assert not found, f"set {found} through module_defaults: group/platform_eng.incident_response.aws"
