# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""postgresql_health_info as Ansible runs it: arguments in, one JSON document out (PostgreSQL from conftest)."""

from __future__ import annotations

import json

import pytest

from ansible_collections.platform_eng.incident_response.plugins.modules import postgresql_health_info
from ansible_collections.platform_eng.incident_response.tests.unit.plugins.module_runner import run_module

FINDINGS = ["connection", "slow_statements", "connections_in_use", "long_running_queries", "idle_in_transaction",
            "sequential_scans"]


def test_check_mode_run_reports_every_finding(capsys, pg_server):
    params = pg_server.params()
    # The aliases a community.postgresql user would type work too.
    args = {"login_host": params["host"], "login_port": params["port"], "login_user": "admin",
            "login_password": params["password"], "db": "app", "sslmode": "disable", "_ansible_check_mode": True}
    result = run_module(capsys, postgresql_health_info, args)
    assert result["changed"] is False and "failed" not in result
    assert [f["name"] for f in result["findings"]] == FINDINGS
    assert result["pg_stat_statements"]["installed"] is True
    assert result["connections"]["max_connections"] == pg_server.MAX_CONNECTIONS
    assert params["password"] not in json.dumps(result)


def test_unreachable_server_is_reported_not_failed(capsys, pg_server, free_port_factory):
    result = run_module(capsys, postgresql_health_info, pg_server.params(port=free_port_factory(), password="no-log-pw-1"))
    assert "failed" not in result and result["status"] == "critical"
    assert result["findings"][0]["name"] == "connection"
    assert "no-log-pw-1" not in json.dumps(result)


@pytest.mark.parametrize("fail_on, failed", [("critical", True), ("warn", True), ("none", False)])
def test_fail_on_turns_the_verdict_into_a_failure(capsys, pg_server, free_port_factory, fail_on, failed):
    result = run_module(capsys, postgresql_health_info, {**pg_server.params(port=free_port_factory()), "fail_on": fail_on})
    assert result.get("failed", False) is failed
    if failed:
        assert result["msg"].startswith(f"PostgreSQL health is critical (fail_on={fail_on}): 1 finding(s)")
        assert "connection critical (no value)" in result["msg"]
        assert result["findings"][0]["status"] == "critical"  # the data is still there


def test_inconsistent_thresholds_fail_before_connecting(capsys, pg_server):
    result = run_module(capsys, postgresql_health_info, {**pg_server.params(), "slow_statement_warn_ms": 900, "slow_statement_critical_ms": 500})
    assert result["failed"] is True
    assert result["msg"] == "slow_statement_warn_ms (900) is above slow_statement_critical_ms (500)"


def test_missing_psycopg2_is_explained(capsys, monkeypatch):
    monkeypatch.setattr(postgresql_health_info, "PSYCOPG2_IMPORT_ERROR", "Traceback ...")
    result = run_module(capsys, postgresql_health_info, {"host": "127.0.0.1"})
    assert result["failed"] is True and "psycopg2" in result["msg"]
