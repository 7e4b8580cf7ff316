# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What a host needs from meta/requirements.txt, and the digest its virtualenv is stamped with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.platform_eng.incident_response.plugins.filter.requirement_set import requirement_set
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import IncidentResponseError
from ansible_collections.platform_eng.incident_response.plugins.module_utils._prerequisites import (
    parse_requirements,
)

REPO = Path(__file__).resolve().parents[4]
TEXT = """# header
boto3==1.44.8              # cloudwatch_*
botocore==1.44.8
psycopg2-binary==2.9.13    # postgresql_health_info
Prometheus_Client==0.26.0
redis == 8.1.0
"""


def test_it_picks_the_pinned_lines_sorted_with_their_import_names() -> None:
    got = requirement_set(TEXT, ["redis", "psycopg2_binary", "prometheus-client", "boto3"])
    assert got["requirements"] == ["boto3==1.44.8", "Prometheus_Client==0.26.0", "psycopg2-binary==2.9.13",
                                   "redis==8.1.0"]
    assert got["imports"] == ["boto3", "prometheus_client", "psycopg2", "redis"]
    assert got["id"] == got["sha256"][:16] and len(got["sha256"]) == 64
    assert json.loads(got["stamp"]) == {"sha256": got["sha256"], "python": "", "requirements": got["requirements"]}


def test_the_digest_names_the_set_not_the_order_or_the_comments() -> None:
    one = requirement_set(TEXT, ["redis", "boto3"])
    assert requirement_set(TEXT.replace("# cloudwatch_*", ""), ["boto3", "redis", "redis"])["sha256"] == one["sha256"]
    assert requirement_set(TEXT.replace("8.1.0", "8.1.1"), ["boto3", "redis"])["sha256"] != one["sha256"]
    assert requirement_set(TEXT, ["boto3"])["sha256"] != one["sha256"]


def test_the_hosts_python_is_part_of_the_set() -> None:
    """Wheels and markers (redis needs async-timeout below Python 3.11.3) depend on the host's Python."""
    old, new = (requirement_set(TEXT, ["redis"], python=version) for version in ("3.11.2", "3.11.9"))
    assert old["sha256"] != new["sha256"] and old["requirements"] == new["requirements"]
    assert json.loads(old["stamp"])["python"] == "3.11.2" and old["python"] == "3.11.2"
    with pytest.raises(AnsibleFilterError, match=r"python must be a version such as 3.11.2, got '3.11; id'"):
        requirement_set(TEXT, ["redis"], python="3.11; id")


def test_a_library_the_file_does_not_pin_is_refused_by_name() -> None:
    with pytest.raises(AnsibleFilterError, match=r"requirement_set: kubernetes not in the requirements file \(it pins"):
        requirement_set(TEXT, ["kubernetes", "boto3"])


def test_libraries_must_be_a_list() -> None:
    with pytest.raises(AnsibleFilterError, match="must be a list"):
        requirement_set(TEXT, "boto3")


def test_an_option_line_is_not_a_requirement() -> None:
    with pytest.raises(IncidentResponseError, match=r"line 2 is not a requirement: '--index-url https://x'"):
        parse_requirements("boto3==1\n--index-url https://x\n")


def test_the_shipped_requirements_file_parses() -> None:
    pinned = parse_requirements((REPO / "meta/requirements.txt").read_text(encoding="utf-8"))
    assert {"boto3", "botocore", "cryptography", "kubernetes", "prometheus-client", "psycopg2-binary",
            "redis"} <= set(pinned)
    assert all("==" in line for line in pinned.values()), "every runtime requirement is pinned"
