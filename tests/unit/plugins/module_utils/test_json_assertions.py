# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests for _json_assertions: the assertion language, and that it never runs code."""

from __future__ import annotations

import re
import typing as t

import pytest

# tests/unit/plugins/conftest.py puts the collection on sys.path for plain pytest.
from ansible_collections.platform_eng.incident_response.plugins.module_utils import _json_assertions as ja

HEALTHY = {"status": "ok", "checks": {"database": {"status": "ok"}, "cache": {"status": "ok"}}, "version": "v1.2.3"}


@pytest.mark.parametrize(
    "text, document, passed",
    [
        ('status == "ok"', HEALTHY, True),
        ("status == 'ok'", {"status": "degraded"}, False),
        ('checks.database.status == "ok"', HEALTHY, True),
        ('checks.database.status == "ok"', {"checks": {"database": {"status": "down"}}}, False),
        ('version != ""', HEALTHY, True),
        ('version != ""', {"version": ""}, False),
        ("uptime >= 30", {"uptime": 30}, True),
        ("uptime < 30", {"uptime": 30.5}, False),
        ("load <= 0.75", {"load": 0.5}, True),
        ("ready == true", {"ready": True}, True),
        ("ready == true", {"ready": 1}, False),  # JSON true is not 1
        ("count == 1", {"count": True}, False),
        ("replica == null", {"replica": None}, True),
        ('status in ["ok", "degraded"]', {"status": "degraded"}, True),
        ('status not in ["down"]', {"status": "ok"}, True),
        ('"db" in checks', {"checks": {"db": {}}}, True),
        ('"eu" in region', {"region": "eu-west-1"}, True),
        ('"primary" in roles', {"roles": ["replica"]}, False),
        ("items[1].id == 2", {"items": [{"id": 1}, {"id": 2}]}, True),
        ("items.0.id == 1", {"items": [{"id": 1}]}, True),
        ('labels["app.kubernetes.io/name"] == "api"', {"labels": {"app.kubernetes.io/name": "api"}}, True),
        ("-1 < delta", {"delta": 0}, True),
    ],
)
def test_assertions_evaluate_like_json(text: str, document: t.Any, passed: bool) -> None:
    assert ja.parse_assertion(text).evaluate(document).passed is passed


@pytest.mark.parametrize(
    "text, document, message",
    [
        ('checks.redis.status == "ok"', HEALTHY, "checks.redis.status not found in the body"),
        ("items[5].id == 1", {"items": []}, "items[5].id not found in the body"),
        ("count > 3", {"count": "5"}, "cannot compare str > int"),
        ("x in items", {"x": 1, "items": 3}, "cannot test int in int"),
        ('status == "ok"', {"status": "degraded"}, 'actual value "degraded"'),
        # a dunder is only ever a dictionary key here, never an attribute
        ("status.__class__ == 1", {"status": "ok"}, "status.__class__ not found in the body"),
    ],
)
def test_failed_assertions_say_why(text: str, document: t.Any, message: str) -> None:
    result = ja.parse_assertion(text).evaluate(document)
    assert not result.passed
    assert result.message == message


@pytest.mark.parametrize(
    "text, reason",
    [
        ('__import__("os").system("id")', "unexpected character '('"),
        ("status == 'ok'; rm -rf /", "unexpected character ';'"),
        ('{{ lookup("pipe", "id") }}', "unexpected character '{'"),
        ("status == 'ok' or 1 == 1", "one comparison per assertion"),
        ("os.system('id') == 0", "unexpected character '('"),
        ("status = 'ok'", "unexpected character '='"),
        ('"status" == "ok"', "neither side is a path"),
        ("status", "expected an operator"),
        ("status ==", "expected a value or a path"),
        ("status is 'ok'", "expected an operator"),
        ("x in 3", "right side of 'in'"),
        ("x == [1, y]", "lists may only hold literals"),
        ('x == "\\q"', "invalid string"),
        ("a.0.1 == 2", "expected a key after '.'"),
        ("a[b] == 2", "quoted key or an index"),
        ("", "empty assertion"),
        ("x == '" + "a" * 600 + "'", "longer than"),
    ],
)
def test_bad_assertions_are_rejected(text: str, reason: str) -> None:
    with pytest.raises(ja.AssertionSyntaxError, match=re.escape(reason)):
        ja.parse_assertion(text)
