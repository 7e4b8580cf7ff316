# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""PostgreSQL health for the runbook's "High Latency" and "connection pool exhaustion".

``check_postgresql_health`` opens one read-only session, runs a few catalog
queries and turns their rows into findings with the evaluators below, which
are pure functions of rows and thresholds. Each query runs on its own: one
that fails (missing privilege, missing extension) becomes an ``unknown``
finding and the others still report. A server that cannot be reached is one
``critical`` finding, never an exception.
"""

from __future__ import annotations

import dataclasses
import time
import typing as t

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    CRITICAL,
    OK,
    UNKNOWN,
    WARN,
    Finding,
    IncidentResponseError,
    rated_finding,
    summarize,
    threshold_values,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._postgresql import (
    DML_PATTERN,
    connect,
    describe_pg_error,
    query,
    redact_query,
    statements_sql,
)

REMEDIATION_CONNECT = (
    "Runbook 'Database Connection Errors': verify the database is running; check security group rules; "
    "test the connection from the application host (psql -h <db-host> -U <user> -d <database>); "
    "check the connection pool settings and ensure max_connections is not exceeded."
)
REMEDIATION_SLOW = (
    "Runbook 'High Latency': identify slow database queries and add indexes (EXPLAIN ANALYZE the statement "
    "named first); check cache hit rate, warm cache if needed; review recent code changes for inefficient "
    "loops; scale up database if CPU >80%."
)
REMEDIATION_EXTENSION = (
    "The runbook's slow-query check needs pg_stat_statements: add it to shared_preload_libraries "
    "(restart required), then run CREATE EXTENSION pg_stat_statements in the database this check connects to; "
    "a non-superuser also needs the pg_read_all_stats role to see other users' statements."
)
REMEDIATION_POOL = (
    "Runbook 'High Error Rate': if database issue, check connection pool exhaustion; 'Database Connection "
    "Errors': check connection pool settings in code, ensure max_connections not exceeded; 'Memory Leak': "
    "check for unclosed database connections. The evidence names the applications holding the most sessions."
)
REMEDIATION_LONG_RUNNING = (
    "Runbook 'High Latency': identify slow database queries and add indexes. A query that blocks others can "
    "be cancelled with SELECT pg_cancel_backend(<pid>) (pids in evidence)."
)
REMEDIATION_IDLE_TX = (
    "A session idle in a transaction holds its locks and a pool slot (runbook 'Memory Leak': check for "
    "unclosed database connections): fix the code path that neither commits nor rolls back, set "
    "idle_in_transaction_session_timeout, and end one with SELECT pg_terminate_backend(<pid>)."
)
REMEDIATION_SEQ_SCAN = (
    "Runbook 'High Latency': identify slow database queries and add indexes; the post-incident example was a "
    "full table scan fixed by adding the missing index. Find the statements that read these tables "
    "(see slow_statements) and EXPLAIN them."
)

MAX_QUERY_CHARS = 500
MAX_EVIDENCE_ITEMS = 5

CONNECTIONS_SQL = (
    "SELECT current_setting('max_connections')::int AS max_connections, "
    "current_setting('superuser_reserved_connections')::int AS superuser_reserved_connections"
)
# Only client backends count against max_connections' ordinary slots.
SESSIONS_SQL = (
    "SELECT pid, usename AS user, datname AS database, application_name AS application, "
    "client_addr::text AS client, state, wait_event_type, wait_event, "
    "extract(epoch FROM now() - query_start)::float8 AS query_seconds, "
    "extract(epoch FROM now() - xact_start)::float8 AS transaction_seconds, "
    "extract(epoch FROM now() - state_change)::float8 AS state_seconds, "
    "left(query, %(max_chars)s) AS query, pid = pg_backend_pid() AS own "
    "FROM pg_stat_activity WHERE backend_type = 'client backend'"
)
EXTENSION_SQL = "SELECT extversion FROM pg_extension WHERE extname = 'pg_stat_statements'"
TABLES_SQL = (
    "SELECT schemaname AS schema, relname AS table, seq_scan, seq_tup_read, "
    "coalesce(idx_scan, 0) AS idx_scan, n_live_tup AS live_rows "
    "FROM pg_stat_user_tables WHERE seq_scan > 0 ORDER BY seq_tup_read DESC LIMIT %(limit)s"
)
IDLE_IN_TRANSACTION = ("idle in transaction", "idle in transaction (aborted)")


@dataclasses.dataclass(frozen=True)
class PostgresqlThresholds:
    slow_statement_warn_ms: float | None = 100.0
    slow_statement_critical_ms: float | None = 500.0
    connections_warn_percent: float | None = 80.0
    connections_critical_percent: float | None = 90.0
    long_running_warn_seconds: float | None = 60.0
    long_running_critical_seconds: float | None = 300.0
    idle_in_transaction_warn_seconds: float | None = 60.0
    idle_in_transaction_critical_seconds: float | None = 300.0
    seq_scan_min_table_rows: float = 10000
    seq_scan_min_scans: float = 10

    @classmethod
    def from_params(cls, params: t.Mapping[str, t.Any]) -> PostgresqlThresholds:
        """Thresholds from module options; a missing key keeps its default, an explicit null disables that level."""
        return cls(**threshold_values(cls, params, pairs=(
            ("slow_statement_warn_ms", "slow_statement_critical_ms"),
            ("connections_warn_percent", "connections_critical_percent"),
            ("long_running_warn_seconds", "long_running_critical_seconds"),
            ("idle_in_transaction_warn_seconds", "idle_in_transaction_critical_seconds"),
        ), required=("seq_scan_min_table_rows", "seq_scan_min_scans")))


# --------------------------------------------------------------------------
# Evaluators: rows in, one finding out
# --------------------------------------------------------------------------


def evaluate_statements(rows: list[dict[str, t.Any]], extension_version: str | None, error: str | None,
                        thresholds: PostgresqlThresholds, target: str, database: str) -> Finding:
    """Judge the slowest statement by mean execution time; say so plainly when we cannot see statements."""
    limits = {"warn": thresholds.slow_statement_warn_ms, "critical": thresholds.slow_statement_critical_ms}
    if error is not None:
        return Finding("slow_statements", target, UNKNOWN, None, limits, "ms",
                       f"pg_stat_statements could not be read: {error}", REMEDIATION_EXTENSION)
    if extension_version is None:
        return Finding("slow_statements", target, UNKNOWN, None, limits, "ms",
                       f"the pg_stat_statements extension is not installed in database {database!r}, so the "
                       "slowest statements cannot be named", REMEDIATION_EXTENSION)
    if not rows:
        return Finding("slow_statements", target, OK, 0.0, limits, "ms",
                       "pg_stat_statements has no statements yet (reset recently, or no traffic)")
    top = rows[0]
    mean = round(float(top["mean_ms"]), 3)
    evidence = (f"slowest by mean time: {top['query']!r} - mean {mean:g} ms over {top['calls']} calls "
                f"(database {top['database']}, user {top['user']})")
    if top["query"] == "<insufficient privilege>":
        evidence += "; grant pg_read_all_stats to see other users' statement text"
    return rated_finding("slow_statements", target, mean, thresholds.slow_statement_warn_ms,
                         thresholds.slow_statement_critical_ms, "ms", evidence, REMEDIATION_SLOW)


def connection_usage(settings: dict[str, t.Any], sessions: list[dict[str, t.Any]]) -> dict[str, t.Any]:
    """Client sessions against max_connections, with who holds them."""
    max_connections = int(settings["max_connections"])
    in_use = len(sessions)
    by_state: dict[str, int] = {}
    holders: dict[tuple[str, str, str], int] = {}
    for session in sessions:
        state = session.get("state") or "unknown"
        by_state[state] = by_state.get(state, 0) + 1
        key = (session.get("application") or "(none)", session.get("user") or "?", session.get("database") or "?")
        holders[key] = holders.get(key, 0) + 1
    by_application = [
        {"application": app, "user": user, "database": db, "sessions": count}
        for (app, user, db), count in sorted(holders.items(), key=lambda item: (-item[1], item[0]))
    ]
    return {
        "max_connections": max_connections,
        "superuser_reserved_connections": int(settings["superuser_reserved_connections"]),
        "in_use": in_use,
        "percent": round(100.0 * in_use / max_connections, 2) if max_connections else None,
        "by_state": by_state,
        "by_application": by_application,
    }


def evaluate_connections(usage: dict[str, t.Any], thresholds: PostgresqlThresholds, target: str) -> Finding:
    """Pool exhaustion: non-superusers are refused once max_connections minus the reserved slots are used."""
    ordinary = usage["max_connections"] - usage["superuser_reserved_connections"]
    holders = ", ".join(f"{h['application']} ({h['user']}@{h['database']}): {h['sessions']}"
                        for h in usage["by_application"][:MAX_EVIDENCE_ITEMS])
    states = ", ".join(f"{state} {count}" for state, count in sorted(usage["by_state"].items()))
    evidence = (f"{usage['in_use']} of {usage['max_connections']} connections in use "
                f"({usage['superuser_reserved_connections']} reserved for superusers, so non-superusers are "
                f"refused at {ordinary}); by state: {states or 'none'}; most sessions: {holders or 'none'}")
    finding = rated_finding("connections_in_use", target, usage["percent"], thresholds.connections_warn_percent,
                            thresholds.connections_critical_percent, "%", evidence, REMEDIATION_POOL)
    if usage["in_use"] >= ordinary and finding.status != CRITICAL:
        finding.status, finding.remediation = CRITICAL, REMEDIATION_POOL
    return finding


def _session_line(session: dict[str, t.Any], seconds_key: str) -> str:
    return (f"pid {session['pid']} {session.get('user')}@{session.get('database')} "
            f"({session.get('application') or 'no application_name'}) {session[seconds_key]:.1f} s: "
            f"{session.get('query')!r}")


def _session_finding(name: str, sessions: list[dict[str, t.Any]], seconds_key: str, warn: float | None,
                     critical: float | None, what: str, target: str, remediation: str) -> Finding:
    ordered = sorted(sessions, key=lambda s: -float(s[seconds_key] or 0.0))
    longest = round(float(ordered[0][seconds_key] or 0.0), 3) if ordered else 0.0
    lowest = min(x for x in (warn, critical, float("inf")) if x is not None)
    over = [s for s in ordered if float(s[seconds_key] or 0.0) > lowest]
    if over:
        evidence = f"{len(over)} session(s) {what} longer than {lowest:g} s: " + "; ".join(
            _session_line(s, seconds_key) for s in over[:MAX_EVIDENCE_ITEMS])
    elif ordered:
        evidence = f"{len(ordered)} session(s) {what}, the longest for {longest:g} s"
    else:
        evidence = f"no session {what}"
    return rated_finding(name, target, longest, warn, critical, "s", evidence, remediation)


def evaluate_long_running(sessions: list[dict[str, t.Any]], thresholds: PostgresqlThresholds, target: str) -> Finding:
    active = [s for s in sessions if s.get("state") == "active" and not s.get("own") and s.get("query_seconds") is not None]
    return _session_finding("long_running_queries", active, "query_seconds", thresholds.long_running_warn_seconds,
                            thresholds.long_running_critical_seconds, "running one query", target,
                            REMEDIATION_LONG_RUNNING)


def evaluate_idle_in_transaction(sessions: list[dict[str, t.Any]], thresholds: PostgresqlThresholds, target: str) -> Finding:
    idle = [s for s in sessions if s.get("state") in IDLE_IN_TRANSACTION and s.get("state_seconds") is not None]
    return _session_finding("idle_in_transaction", idle, "state_seconds", thresholds.idle_in_transaction_warn_seconds,
                            thresholds.idle_in_transaction_critical_seconds, "idle in a transaction", target,
                            REMEDIATION_IDLE_TX)


def heavy_sequential_scans(tables: list[dict[str, t.Any]], thresholds: PostgresqlThresholds) -> list[dict[str, t.Any]]:
    """Big tables read mostly by sequential scans: the missing-index hint."""
    return [
        table for table in tables
        if table["live_rows"] >= thresholds.seq_scan_min_table_rows
        and table["seq_scan"] >= thresholds.seq_scan_min_scans
        and table["seq_scan"] > table["idx_scan"]
    ]


def evaluate_sequential_scans(tables: list[dict[str, t.Any]], thresholds: PostgresqlThresholds, target: str,
                              database: str) -> Finding:
    heavy = heavy_sequential_scans(tables, thresholds)
    criteria = (f"at least {thresholds.seq_scan_min_table_rows:g} rows and {thresholds.seq_scan_min_scans:g} "
                "sequential scans, more sequential than index scans")
    if heavy:
        evidence = f"{len(heavy)} table(s) in {database} with {criteria}: " + "; ".join(
            f"{t_['schema']}.{t_['table']}: {t_['seq_scan']} seq scans read {t_['seq_tup_read']} rows, "
            f"{t_['idx_scan']} index scans, {t_['live_rows']} rows" for t_ in heavy[:MAX_EVIDENCE_ITEMS])
    else:
        evidence = f"no table in {database} with {criteria}"
    status = WARN if heavy else OK
    return Finding("sequential_scans", target, status, len(heavy), 0, "tables", evidence,
                   REMEDIATION_SEQ_SCAN if heavy else None)


# --------------------------------------------------------------------------
# The whole check
# --------------------------------------------------------------------------


def _statement_row(row: dict[str, t.Any]) -> dict[str, t.Any]:
    return {
        "queryid": None if row["queryid"] is None else str(row["queryid"]),
        "database": row["database"],
        "user": row["user"],
        "calls": int(row["calls"]),
        "mean_ms": round(float(row["mean_ms"]), 3),
        "total_ms": round(float(row["total_ms"]), 3),
        "rows": int(row["rows"]),
        "query": redact_query(row["query"], MAX_QUERY_CHARS),
    }


def _session_row(row: dict[str, t.Any]) -> dict[str, t.Any]:
    out = dict(row)
    out["query"] = redact_query(row["query"], MAX_QUERY_CHARS)
    for key in ("query_seconds", "transaction_seconds", "state_seconds"):
        out[key] = None if row[key] is None else round(float(row[key]), 3)
    return out


def _report(sessions: t.Iterable[dict[str, t.Any]], seconds_key: str) -> list[dict[str, t.Any]]:
    """Sessions for the result, longest first, without the internal ``own`` flag."""
    rows = [{k: v for k, v in s.items() if k != "own"} for s in sessions]
    return sorted(rows, key=lambda s: -(s[seconds_key] or 0.0))


def check_postgresql_health(params: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """Connect once, inspect, and return the module's result (findings plus the rows they rest on)."""
    started = time.monotonic()
    thresholds = PostgresqlThresholds.from_params(params)
    limit = int(params.get("statements_limit") or 10)
    min_calls = int(params.get("statements_min_calls") or 1)
    if limit < 1 or min_calls < 1:
        raise IncidentResponseError("statements_limit and statements_min_calls must be at least 1")
    database = params.get("database") or "postgres"
    target = f"{params.get('host')}:{params.get('port') or 5432}/{database}"
    password = params.get("password")
    result: dict[str, t.Any] = {
        "server": None, "pg_stat_statements": {"installed": False, "version": None}, "statements": [],
        "connections": None, "sessions": {"long_running": [], "idle_in_transaction": []}, "sequential_scans": [],
    }
    try:
        conn = connect(params)
    except IncidentResponseError:
        raise
    except Exception as exc:  # noqa: BLE001 - see below  # pylint: disable=broad-except
        # Any driver error (refused, timeout, auth, TLS) is what the on-call engineer needs to read.
        finding = Finding("connection", target, CRITICAL, None, None, None,
                          describe_pg_error(exc, password), REMEDIATION_CONNECT)
        return {**summarize([finding]), **result, "elapsed_ms": _elapsed(started)}

    findings: list[Finding] = []

    def attempt(name: str, unit: str, run: t.Callable[[], Finding]) -> None:
        try:
            findings.append(run())
        except Exception as exc:  # noqa: BLE001 - a failed query is that finding's evidence  # pylint: disable=broad-except
            findings.append(Finding(name, target, UNKNOWN, None, None, unit,
                                    f"query failed: {describe_pg_error(exc, password)}"))

    try:
        # Both come with the connection handshake: no query needed.
        version_num = int(conn.server_version)
        version = conn.get_parameter_status("server_version") or str(version_num)
        result["server"] = {"version": version, "version_num": version_num}
        findings.append(Finding("connection", target, OK, version_num, None, None,
                                f"connected as {params.get('user') or 'postgres'} to PostgreSQL {version}"))

        def statements() -> Finding:
            error = None
            rows: list[dict[str, t.Any]] = []
            installed = query(conn, EXTENSION_SQL)
            extension_version = installed[0]["extversion"] if installed else None
            result["pg_stat_statements"] = {"installed": bool(installed), "version": extension_version}
            if installed:
                try:
                    sql = statements_sql(version_num, bool(params.get("statements_include_utility")))
                    rows = [_statement_row(r) for r in query(conn, sql, {
                        "limit": limit, "min_calls": min_calls, "max_chars": MAX_QUERY_CHARS + 1,
                        "dml_pattern": DML_PATTERN})]
                except Exception as exc:  # noqa: BLE001 - see below  # pylint: disable=broad-except
                    # Installed but not preloaded: the view exists and raises on read.
                    error = describe_pg_error(exc, password)
            result["statements"] = rows
            return evaluate_statements(rows, extension_version, error, thresholds, target, database)

        sessions: list[dict[str, t.Any]] = []

        def connections() -> Finding:
            sessions.extend(_session_row(r) for r in query(conn, SESSIONS_SQL, {"max_chars": MAX_QUERY_CHARS + 1}))
            usage = connection_usage(query(conn, CONNECTIONS_SQL)[0], sessions)
            result["connections"] = usage
            return evaluate_connections(usage, thresholds, target)

        def long_running() -> Finding:
            finding = evaluate_long_running(sessions, thresholds, target)
            result["sessions"]["long_running"] = _report(
                (s for s in sessions if s["state"] == "active" and not s["own"]), "query_seconds")
            return finding

        def idle_in_transaction() -> Finding:
            result["sessions"]["idle_in_transaction"] = _report(
                (s for s in sessions if s["state"] in IDLE_IN_TRANSACTION), "state_seconds")
            return evaluate_idle_in_transaction(sessions, thresholds, target)

        def sequential_scans() -> Finding:
            tables = query(conn, TABLES_SQL, {"limit": int(params.get("seq_scan_limit") or 10)})
            result["sequential_scans"] = heavy_sequential_scans(tables, thresholds)
            return evaluate_sequential_scans(tables, thresholds, target, database)

        attempt("slow_statements", "ms", statements)
        attempt("connections_in_use", "%", connections)
        if result["connections"] is not None:
            attempt("long_running_queries", "s", long_running)
            attempt("idle_in_transaction", "s", idle_in_transaction)
        else:
            findings += [Finding(name, target, UNKNOWN, None, None, "s", "pg_stat_activity could not be read")
                         for name in ("long_running_queries", "idle_in_transaction")]
        attempt("sequential_scans", "tables", sequential_scans)
    finally:
        conn.close()
    return {**summarize(findings), **result, "elapsed_ms": _elapsed(started)}


def _elapsed(started: float) -> float:
    return round((time.monotonic() - started) * 1000.0, 3)
