# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests for _postgresql and _postgresql_health: pure evaluators, and a real PostgreSQL 15 on 127.0.0.1 (conftest)."""

from __future__ import annotations

import json
import threading
import time
import typing as t

import pytest

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import IncidentResponseError
from ansible_collections.platform_eng.incident_response.plugins.module_utils._postgresql import (
    DML_PATTERN,
    connect,
    connect_kwargs,
    redact_query,
    statements_sql,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._postgresql_health import (
    PostgresqlThresholds,
    check_postgresql_health,
    connection_usage,
    evaluate_connections,
    evaluate_idle_in_transaction,
    evaluate_long_running,
    evaluate_sequential_scans,
    evaluate_statements,
)

TARGET = "db:5432/app"
DEFAULTS = PostgresqlThresholds()


def by_name(result: dict[str, t.Any], name: str) -> dict[str, t.Any]:
    return next(f for f in result["findings"] if f["name"] == name)


# --------------------------------------------------------------------------
# Version-dependent SQL and the connection spec (pure)
# --------------------------------------------------------------------------


@pytest.mark.parametrize("version, mean, total, absent", [
    (120000, "mean_time", "total_time", "exec_time"),
    (120017, "mean_time", "total_time", "exec_time"),
    (130000, "mean_exec_time", "total_exec_time", "s.mean_time"),
    (150004, "mean_exec_time", "total_exec_time", "s.mean_time"),
])
def test_statements_sql_names_the_columns_of_the_server_version(version, mean, total, absent):
    sql = statements_sql(version)
    assert f"s.{mean} AS mean_ms" in sql and f"s.{total} AS total_ms" in sql
    assert f"ORDER BY s.{mean} DESC" in sql
    assert absent not in sql


def test_statements_sql_filters_utility_statements_unless_asked():
    assert "%(dml_pattern)s" in statements_sql(150000)
    assert "dml_pattern" not in statements_sql(150000, include_utility=True)


def test_connect_kwargs_make_a_read_only_session_with_timeouts():
    kwargs = connect_kwargs({"host": "db", "password": "pw", "connect_timeout": 2, "statement_timeout": 7,
                             "ssl_mode": "verify-full", "ca_path": "/ca.pem", "database": "app"})
    assert kwargs["connect_timeout"] == 2 and kwargs["sslmode"] == "verify-full" and kwargs["sslrootcert"] == "/ca.pem"
    assert "default_transaction_read_only=on" in kwargs["options"] and "statement_timeout=7000" in kwargs["options"]
    assert kwargs["dbname"] == "app" and kwargs["port"] == 5432


@pytest.mark.parametrize("params, message", [
    ({"host": "db", "ssl_mode": "sometimes"}, "ssl_mode must be one of"),
    ({"host": "db", "connect_timeout": -1}, "at least 1 second"),
    ({"host": ""}, "host is required"),
])
def test_connect_kwargs_reject_bad_options(params, message):
    with pytest.raises(IncidentResponseError, match=message):
        connect_kwargs(params)


@pytest.mark.parametrize("text, shown", [
    ("ALTER ROLE app PASSWORD 'hunter2'", "ALTER ROLE app PASSWORD '********'"),
    ("create role x login password 'it''s secret' valid until 'infinity'",
     "create role x login password '********' valid until 'infinity'"),
    ("CREATE ROLE x PASSWORD $pw$hunter2$pw$", "CREATE ROLE x PASSWORD '********'"),
    ("ALTER USER x PASSWORD 'cut-by-track_activity_query_si", "ALTER USER x PASSWORD '********'"),
    ("SELECT *\n  FROM   incidents WHERE id = $1", "SELECT * FROM incidents WHERE id = $1"),
])
def test_redact_query_blanks_password_literals(text, shown):
    assert redact_query(text) == shown
    assert "hunter2" not in redact_query(text) and "secret" not in redact_query(text)


def test_redact_query_cuts_long_text():
    assert redact_query("SELECT " + "x" * 1000, max_chars=50) == "SELECT " + "x" * 40 + "..."


@pytest.mark.parametrize("params, message", [
    ({"slow_statement_warn_ms": 600, "slow_statement_critical_ms": 500}, "slow_statement_warn_ms"),
    ({"connections_warn_percent": -1}, "must not be negative"),
    ({"seq_scan_min_scans": None}, "needs a number"),
])
def test_thresholds_are_validated(params, message):
    with pytest.raises(IncidentResponseError, match=message):
        PostgresqlThresholds.from_params(params)


def test_thresholds_default_when_left_out_and_a_null_disables_a_level():
    thresholds = PostgresqlThresholds.from_params({"slow_statement_warn_ms": None})
    assert thresholds.slow_statement_warn_ms is None and thresholds.slow_statement_critical_ms == 500.0


# --------------------------------------------------------------------------
# Evaluators (pure)
# --------------------------------------------------------------------------


def statement(query: str, mean: float, calls: int = 10) -> dict[str, t.Any]:
    return {"queryid": "1", "database": "app", "user": "app", "calls": calls, "mean_ms": mean,
            "total_ms": mean * calls, "rows": calls, "query": query}


@pytest.mark.parametrize("mean, status", [(50.0, "ok"), (100.0, "ok"), (250.0, "warn"), (501.0, "critical")])
def test_slow_statements_judges_the_slowest_and_names_it(mean, status):
    rows = [statement("SELECT * FROM incidents WHERE title LIKE $1", mean), statement("SELECT $1", 0.1)]
    finding = evaluate_statements(rows, "1.10", None, DEFAULTS, TARGET, "app")
    assert finding.status == status and finding.value == mean
    assert "SELECT * FROM incidents WHERE title LIKE $1" in finding.evidence
    assert (finding.remediation is not None) == (status != "ok")


def test_missing_extension_is_a_clear_unknown_finding():
    finding = evaluate_statements([], None, None, DEFAULTS, TARGET, "app")
    assert finding.status == "unknown" and finding.value is None
    assert "pg_stat_statements extension is not installed in database 'app'" in finding.evidence
    assert "CREATE EXTENSION pg_stat_statements" in finding.remediation
    assert "shared_preload_libraries" in finding.remediation


def test_unreadable_view_is_unknown_with_the_error():
    error = "ObjectNotInPrerequisiteState: pg_stat_statements must be loaded via shared_preload_libraries"
    finding = evaluate_statements([], "1.10", error, DEFAULTS, TARGET, "app")
    assert finding.status == "unknown" and error in finding.evidence


def test_no_statements_yet_is_ok():
    assert evaluate_statements([], "1.10", None, DEFAULTS, TARGET, "app").status == "ok"


def test_hidden_statement_text_suggests_the_stats_role():
    finding = evaluate_statements([statement("<insufficient privilege>", 900.0)], "1.10", None, DEFAULTS, TARGET, "app")
    assert "pg_read_all_stats" in finding.evidence


def sessions(*specs: tuple[str, float, str]) -> list[dict[str, t.Any]]:
    rows = []
    for pid, (state, seconds, app) in enumerate(specs, start=100):
        rows.append({"pid": pid, "user": "app", "database": "app", "application": app, "state": state,
                     "query_seconds": seconds, "state_seconds": seconds, "transaction_seconds": seconds,
                     "query": "SELECT 1", "own": False})
    return rows


@pytest.mark.parametrize("in_use, warn, critical, status", [
    (10, 80.0, 90.0, "ok"),        # 50 %
    (16, 80.0, 90.0, "ok"),        # 80 %: equal to the threshold passes
    (17, 80.0, 90.0, "critical"),  # 85 %, but 17 = 20 - 3 reserved: non-superusers are refused
    (16, 70.0, None, "warn"),
    (17, None, None, "critical"),  # refused connections are critical whatever the thresholds
])
def test_connections_in_use_against_max_connections(in_use, warn, critical, status):
    usage = connection_usage({"max_connections": 20, "superuser_reserved_connections": 3},
                             sessions(*[("idle", 1.0, "incident-response")] * in_use))
    finding = evaluate_connections(usage, PostgresqlThresholds(connections_warn_percent=warn,
                                                               connections_critical_percent=critical), TARGET)
    assert finding.status == status
    assert finding.value == round(100.0 * in_use / 20, 2)
    assert f"{in_use} of 20 connections in use" in finding.evidence
    assert f"incident-response (app@app): {in_use}" in finding.evidence
    assert (finding.remediation is not None) == (status != "ok")


def test_connection_usage_groups_holders_most_first():
    usage = connection_usage({"max_connections": 50, "superuser_reserved_connections": 3},
                             sessions(("idle", 1, "web"), ("active", 1, "worker"), ("idle", 1, "web"), ("idle", 1, "")))
    assert usage["in_use"] == 4 and usage["by_state"] == {"idle": 3, "active": 1}
    assert usage["by_application"][0] == {"application": "web", "user": "app", "database": "app", "sessions": 2}
    assert {"application": "(none)", "user": "app", "database": "app", "sessions": 1} in usage["by_application"]


@pytest.mark.parametrize("seconds, status", [(5.0, "ok"), (61.0, "warn"), (301.0, "critical")])
def test_long_running_queries_judge_the_longest_active_session(seconds, status):
    rows = sessions(("active", seconds, "report"), ("active", 1.0, "web"), ("idle", 900.0, "web"))
    finding = evaluate_long_running(rows, DEFAULTS, TARGET)
    assert finding.status == status and finding.value == seconds
    if status != "ok":
        assert "pid 100" in finding.evidence and "pid 101" not in finding.evidence


def test_long_running_ignores_the_checks_own_session_and_idle_ones():
    rows = sessions(("active", 999.0, "x"), ("idle", 999.0, "y"))
    rows[0]["own"] = True
    finding = evaluate_long_running(rows, DEFAULTS, TARGET)
    assert finding.status == "ok" and finding.value == 0.0 and finding.evidence == "no session running one query"


@pytest.mark.parametrize("state", ["idle in transaction", "idle in transaction (aborted)"])
def test_idle_in_transaction_sessions_are_flagged(state):
    finding = evaluate_idle_in_transaction(sessions((state, 120.0, "web"), ("idle", 999.0, "web")), DEFAULTS, TARGET)
    assert finding.status == "warn" and finding.value == 120.0
    assert "1 session(s) idle in a transaction longer than 60 s: pid 100" in finding.evidence
    assert "idle_in_transaction_session_timeout" in finding.remediation


def table(name: str, rows: int, seq: int, idx: int) -> dict[str, t.Any]:
    return {"schema": "public", "table": name, "seq_scan": seq, "seq_tup_read": seq * rows, "idx_scan": idx,
            "live_rows": rows}


def test_sequential_scans_flag_big_tables_read_without_an_index():
    tables = [table("incidents", 20000, 50, 0), table("small", 100, 500, 0), table("indexed", 50000, 20, 900),
              table("rare", 50000, 3, 0)]
    finding = evaluate_sequential_scans(tables, DEFAULTS, TARGET, "app")
    assert finding.status == "warn" and finding.value == 1
    assert "public.incidents: 50 seq scans read 1000000 rows, 0 index scans, 20000 rows" in finding.evidence
    for name in ("small", "indexed", "rare"):
        assert f"public.{name}" not in finding.evidence


def test_no_heavy_sequential_scans_is_ok():
    finding = evaluate_sequential_scans([table("small", 10, 500, 0)], DEFAULTS, TARGET, "app")
    assert finding.status == "ok" and finding.value == 0 and finding.remediation is None


# --------------------------------------------------------------------------
# Against a real PostgreSQL 15
# --------------------------------------------------------------------------


@pytest.mark.parametrize("query, is_dml", [
    ("SELECT slow_report($1)", True),
    ("  select 1", True),
    ("WITH x AS (SELECT 1) SELECT * FROM x", True),
    ("(SELECT 1) UNION (SELECT 2)", True),
    ("/* app:web */ UPDATE incidents SET status = $1", True),
    ("insert into t values ($1)", True),
    ("CREATE DATABASE app", False),
    ("DO $$ BEGIN PERFORM pg_sleep(1); END $$", False),
    ("VACUUM ANALYZE incidents", False),
    ("selective_function()", False),
])
def test_dml_pattern_as_postgresql_evaluates_it(pg_server, query, is_dml):
    conn = pg_server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT %s ~* %s", (query, DML_PATTERN))
            assert cur.fetchone()[0] is is_dml
    finally:
        conn.close()


def test_seeded_slow_query_is_named_first(pg_server):
    pg_server.sql("SELECT pg_stat_statements_reset()", "app")
    pg_server.sql("CREATE OR REPLACE FUNCTION slow_report(s float8) RETURNS int LANGUAGE sql "
                  "AS 'SELECT 1 FROM pg_sleep(s)'", "app")
    pg_server.sql("SELECT slow_report(0.4)", "app")
    for _repeat in range(5):
        pg_server.sql("SELECT count(*) FROM pg_class", "app")
    # A slower one-off utility statement must not hide it.
    pg_server.sql("DO $$ BEGIN PERFORM pg_sleep(0.6); END $$", "app")

    result = check_postgresql_health(pg_server.params(statements_limit=3))

    assert result["server"]["version_num"] >= 150000
    assert result["pg_stat_statements"] == {"installed": True, "version": result["pg_stat_statements"]["version"]}
    top = result["statements"][0]
    assert top["query"] == "SELECT slow_report($1)" and top["mean_ms"] >= 400 and top["database"] == "app"
    assert len(result["statements"]) <= 3
    assert not any(s["query"].startswith(("DO", "CREATE")) for s in result["statements"])
    assert not any("platform_eng.incident_response" in s["query"] for s in result["statements"])
    slow = by_name(result, "slow_statements")
    assert slow["status"] == "warn" and "SELECT slow_report($1)" in slow["evidence"]

    with_utility = check_postgresql_health(pg_server.params(statements_include_utility=True))
    assert with_utility["statements"][0]["query"].startswith("DO $$")


def test_missing_extension_reported_on_a_real_server(pg_server):
    result = check_postgresql_health(pg_server.params("noext"))
    assert result["pg_stat_statements"] == {"installed": False, "version": None}
    assert result["statements"] == []
    slow = by_name(result, "slow_statements")
    assert slow["status"] == "unknown" and "not installed in database 'noext'" in slow["evidence"]
    # The other checks still report.
    assert by_name(result, "connections_in_use")["status"] == "ok"


def hold_connections(pg_server, count: int) -> list[t.Any]:
    return [pg_server.connect("app", application_name="ir-unit-pool") for slot in range(count)]


@pytest.mark.parametrize("others, warn, status", [(14, 70, "warn"), (16, 80, "critical")])
def test_pool_nearly_exhausted_is_flagged(pg_server, others, warn, status):
    held = hold_connections(pg_server, others)
    try:
        result = check_postgresql_health(pg_server.params(connections_warn_percent=warn))
    finally:
        for conn in held:
            conn.close()
    pool = by_name(result, "connections_in_use")
    assert result["connections"]["in_use"] == others + 1  # the check's own session counts too
    assert result["connections"]["max_connections"] == pg_server.MAX_CONNECTIONS
    assert pool["status"] == status
    assert f"ir-unit-pool (admin@app): {others}" in pool["evidence"]
    assert "connection pool exhaustion" in pool["remediation"]


def test_long_running_and_idle_in_transaction_sessions_are_named(pg_server):
    sleeper = pg_server.connect("app", application_name="ir-unit-sleeper")
    idle = pg_server.connect("app", application_name="ir-unit-idle")
    thread = threading.Thread(target=lambda: _swallow(lambda: sleeper.cursor().execute("SELECT pg_sleep(5)")))
    thread.start()
    try:
        idle.cursor().execute("SELECT 1")  # psycopg2 opens a transaction and leaves it open
        time.sleep(1.2)
        result = check_postgresql_health(pg_server.params(
            long_running_warn_seconds=0.5, idle_in_transaction_warn_seconds=0.5))
    finally:
        sleeper.cancel()
        thread.join()
        idle.rollback()
        sleeper.close()
        idle.close()
    long_running = by_name(result, "long_running_queries")
    assert long_running["status"] == "warn" and long_running["value"] >= 1.0
    assert "ir-unit-sleeper" in long_running["evidence"] and "pg_sleep" in long_running["evidence"]
    assert [s["application"] for s in result["sessions"]["long_running"]] == ["ir-unit-sleeper"]
    idle_tx = by_name(result, "idle_in_transaction")
    assert idle_tx["status"] == "warn" and "ir-unit-idle" in idle_tx["evidence"]
    assert result["sessions"]["idle_in_transaction"][0]["state"] == "idle in transaction"
    assert "own" not in result["sessions"]["idle_in_transaction"][0]


def _swallow(func: t.Callable[[], object]) -> None:
    try:
        func()
    except Exception:  # noqa: BLE001, S110 - see below  # pylint: disable=broad-except
        pass  # the cancel at the end of the test


def test_heavy_sequential_scans_on_a_real_table(pg_server):
    pg_server.sql("DROP TABLE IF EXISTS unindexed, indexed", "app")
    pg_server.sql("CREATE TABLE unindexed AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g", "app")
    pg_server.sql("CREATE TABLE indexed (id int PRIMARY KEY, v text)", "app")
    pg_server.sql("INSERT INTO indexed SELECT g, md5(g::text) FROM generate_series(1, 20000) g", "app")
    pg_server.sql("ANALYZE unindexed, indexed", "app")
    for i in range(12):
        pg_server.sql(f"SELECT count(*) FROM unindexed WHERE v = 'x{i}'", "app")
        pg_server.sql(f"SELECT v FROM indexed WHERE id = {i + 1}", "app")
    result = check_postgresql_health(pg_server.params())
    scans = by_name(result, "sequential_scans")
    assert scans["status"] == "warn"
    assert "public.unindexed" in scans["evidence"] and "public.indexed" not in scans["evidence"]
    assert [t_["table"] for t_ in result["sequential_scans"]] == ["unindexed"]


@pytest.mark.parametrize("overrides, evidence", [
    ({"port": None}, "Connection refused"),
    ({"password": "wrong-pw-7f3a"}, "password authentication failed"),
    ({"database": "nope"}, 'database "nope" does not exist'),
])
def test_unreachable_or_refused_server_is_a_critical_finding(pg_server, free_port_factory, overrides, evidence):
    if overrides.get("port", 0) is None:
        overrides = {"port": free_port_factory()}
    result = check_postgresql_health(pg_server.params(**overrides))
    assert result["status"] == "critical"
    assert [f["name"] for f in result["findings"]] == ["connection"]
    assert evidence in result["findings"][0]["evidence"]
    assert "Database Connection Errors" in result["findings"][0]["remediation"]
    assert result["server"] is None and result["statements"] == []
    assert "wrong-pw-7f3a" not in json.dumps(result)


def test_the_session_is_read_only(pg_server):
    conn = connect(pg_server.params())
    try:
        with pytest.raises(Exception, match="read-only transaction"):
            conn.cursor().execute("CREATE TABLE must_not_exist (id int)")
    finally:
        conn.close()
    assert pg_server.sql("SELECT to_regclass('must_not_exist')", "app") == [(None,)]
