# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""One PostgreSQL connection spec for every module, and SQL that depends on the server version.

Modelled on community.postgresql's ``postgres_common_argument_spec()``: the
options live here once (documented in the ``postgres`` doc fragment), the
password is ``no_log``. Sessions opened here are read-only and carry a
statement timeout, so an inspection can neither change data nor hang on a
lock.
"""

from __future__ import annotations

import re
import traceback
import typing as t

try:
    import psycopg2
    import psycopg2.extras
except ImportError:
    psycopg2 = None
    PSYCOPG2_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    PSYCOPG2_IMPORT_ERROR = None

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import IncidentResponseError

SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
APPLICATION_NAME = "platform_eng.incident_response"
# Every statement this collection sends starts with this comment, so the
# top-statements report can leave our own inspection queries out.
SQL_MARKER = "/* platform_eng.incident_response */"

# PostgreSQL 13 split planning from execution time in pg_stat_statements and
# renamed mean_time/total_time to mean_exec_time/total_exec_time; the
# runbook's "ORDER BY mean_time" fails on 13 and later.
EXEC_TIME_RENAMED_IN = 130000


def postgresql_argument_spec() -> dict[str, t.Any]:
    """The shared connection options; merge into a module's argument spec."""
    return dict(
        host=dict(type="str", required=True, aliases=["login_host"]),
        port=dict(type="int", default=5432, aliases=["login_port"]),
        user=dict(type="str", default="postgres", aliases=["login_user"]),
        password=dict(type="str", no_log=True, aliases=["login_password"]),
        database=dict(type="str", default="postgres", aliases=["db"]),
        ssl_mode=dict(type="str", default="prefer", choices=list(SSL_MODES), aliases=["sslmode"]),
        ca_path=dict(type="path", aliases=["ssl_rootcert"]),
        connect_timeout=dict(type="int", default=5),
        statement_timeout=dict(type="int", default=10),
    )


def connect_kwargs(params: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """libpq keywords for the connection options; bad values fail before any connection."""
    if params.get("ssl_mode", "prefer") not in SSL_MODES:
        raise IncidentResponseError(f"ssl_mode must be one of {', '.join(SSL_MODES)}, got {params.get('ssl_mode')!r}")
    connect_timeout = int(params.get("connect_timeout") or 5)
    statement_timeout = int(params.get("statement_timeout") or 10)
    if connect_timeout < 1 or statement_timeout < 1:
        raise IncidentResponseError("connect_timeout and statement_timeout must be at least 1 second")
    kwargs = {
        "host": params.get("host"),
        "port": int(params.get("port") or 5432),
        "user": params.get("user") or "postgres",
        "password": params.get("password"),
        "dbname": params.get("database") or "postgres",
        "sslmode": params.get("ssl_mode") or "prefer",
        "sslrootcert": params.get("ca_path"),
        "connect_timeout": connect_timeout,
        "application_name": APPLICATION_NAME,
        # Read-only: an _info module must not be able to change anything, even by mistake.
        "options": f"-c default_transaction_read_only=on -c statement_timeout={statement_timeout * 1000}",
    }
    if not kwargs["host"]:
        raise IncidentResponseError("host is required")
    return {key: value for key, value in kwargs.items() if value is not None}


def connect(params: t.Mapping[str, t.Any]) -> t.Any:
    """Open an autocommit, read-only session; psycopg2 errors propagate for the caller to report."""
    if psycopg2 is None:
        raise IncidentResponseError("the psycopg2 Python library is required to inspect PostgreSQL")
    conn = psycopg2.connect(**connect_kwargs(params))
    conn.autocommit = True
    return conn


def query(conn: t.Any, sql: str, args: t.Mapping[str, t.Any] | None = None) -> list[dict[str, t.Any]]:
    """Rows as dicts; the marker comment lets the statements report skip our own queries."""
    with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
        cur.execute(f"{SQL_MARKER} {sql}", args)
        return [dict(row) for row in cur.fetchall()]


def describe_pg_error(exc: BaseException, password: str | None = None) -> str:
    """A one-line error: libpq spreads messages over lines, and a password must never show."""
    text = " ".join(str(exc).split()) or repr(exc)
    if password:
        text = text.replace(password, "********")
    return f"{type(exc).__name__}: {text}"


# Statements an application sends on its request path. Without this filter
# one-off DDL and maintenance (CREATE DATABASE, VACUUM, migrations) tops the
# list and hides the query that makes requests slow. Leading comments and
# parentheses are skipped; \y is a word boundary in PostgreSQL regexes.
DML_PATTERN = r"^\s*(/\*[^*]*\*/\s*)*[(\s]*(select|insert|update|delete|with|merge|values|table|call)\y"


def statements_sql(server_version_num: int, include_utility: bool = False) -> str:
    """Top statements by mean execution time, naming the columns this server version has.

    Parameters: ``limit``, ``min_calls``, ``max_chars`` (query text is cut
    there) and, unless ``include_utility``, ``dml_pattern`` (DML_PATTERN).
    Rows from every database are included, as in the runbook's query.
    """
    if server_version_num >= EXEC_TIME_RENAMED_IN:
        mean, total = "mean_exec_time", "total_exec_time"
    else:
        mean, total = "mean_time", "total_time"
    only_dml = "" if include_utility else "AND s.query ~* %(dml_pattern)s "
    # %% is a literal % for psycopg2's parameter syntax.
    return (
        f"SELECT s.queryid, d.datname AS database, r.rolname AS user, s.calls, "
        f"s.{mean} AS mean_ms, s.{total} AS total_ms, s.rows, "
        f"left(s.query, %(max_chars)s) AS query "
        f"FROM pg_stat_statements s "
        f"LEFT JOIN pg_database d ON d.oid = s.dbid "
        f"LEFT JOIN pg_roles r ON r.oid = s.userid "
        f"WHERE s.calls >= %(min_calls)s AND s.query NOT LIKE '%%platform_eng.incident_response%%' "
        f"{only_dml}"
        f"ORDER BY s.{mean} DESC NULLS LAST LIMIT %(limit)s"
    )


# Utility statements (CREATE ROLE ... PASSWORD '...') are stored verbatim by
# pg_stat_statements before PostgreSQL 16 and show up in pg_stat_activity, so
# password literals are blanked before any query text is reported.
# A literal cut short by truncation (no closing quote) is blanked to the end.
_PASSWORD_LITERAL = re.compile(r"(\bPASSWORD\s+)(E?'(?:[^']|'')*'?|\$[A-Za-z_]*\$.*?(?:\$[A-Za-z_]*\$|$))",
                               re.IGNORECASE | re.DOTALL)


def redact_query(text: str | None, max_chars: int = 500) -> str | None:
    if text is None:
        return None
    text = _PASSWORD_LITERAL.sub(r"\1'********'", text)
    text = " ".join(text.split())
    return text if len(text) <= max_chars else text[: max_chars - 3] + "..."
