# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""redis_health_info as Ansible runs it: arguments in, one JSON document out (redis-server from conftest)."""

from __future__ import annotations

import json

import pytest

from ansible_collections.platform_eng.incident_response.plugins.modules import redis_health_info
from ansible_collections.platform_eng.incident_response.tests.unit.plugins.module_runner import run_module


def test_check_mode_run_samples_a_window(capsys, redis_server):
    for i in range(150):
        redis_server.client.get(f"missing:{i}")
    result = run_module(capsys, redis_health_info, {**redis_server.params(window_seconds=0.2), "_ansible_check_mode": True})
    assert result["changed"] is False and "failed" not in result
    assert [f["name"] for f in result["findings"]] == [
        "connection", "cache_hit_rate", "cache_hit_rate_since_start", "evictions", "memory", "connected_clients",
        "blocked_clients"]
    assert result["window"]["seconds"] >= 0.2
    since_start = result["findings"][2]
    assert since_start["status"] == "critical" and since_start["value"] == 0.0
    assert redis_server.params()["password"] not in json.dumps(result)


@pytest.mark.parametrize("fail_on, failed", [("critical", True), ("none", False)])
def test_many_misses_fail_the_task_only_when_asked(capsys, redis_server, fail_on, failed):
    for i in range(150):
        redis_server.client.get(f"missing:{i}")
    result = run_module(capsys, redis_health_info, {**redis_server.params(), "fail_on": fail_on})
    assert result.get("failed", False) is failed
    if failed:
        assert result["msg"].startswith("Redis health is critical (fail_on=critical): 1 finding(s)")
        assert "cache_hit_rate_since_start critical (0.0 %)" in result["msg"]


def test_unreachable_cache_is_reported_not_failed(capsys, free_port_factory):
    result = run_module(capsys, redis_health_info, {"host": "127.0.0.1", "port": free_port_factory(), "password": "no-log-pw-2",
                                                    "window_seconds": 0})
    assert "failed" not in result and result["status"] == "critical"
    assert "no-log-pw-2" not in json.dumps(result)


def test_bad_option_combination_fails_with_a_message(capsys):
    result = run_module(capsys, redis_health_info, {"host": "127.0.0.1", "ca_path": "/etc/ssl/certs/ca-certificates.crt"})
    assert result["failed"] is True and "set tls: true" in result["msg"]


def test_missing_redis_library_is_explained(capsys, monkeypatch):
    monkeypatch.setattr(redis_health_info, "REDIS_IMPORT_ERROR", "Traceback ...")
    result = run_module(capsys, redis_health_info, {"host": "127.0.0.1"})
    assert result["failed"] is True and "redis" in result["msg"]
