#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: postgresql_health_info
short_description: Name the slow queries and the connection pool pressure on a PostgreSQL server
version_added: 0.1.0
description:
  - Runs the runbook's "High Latency" database diagnosis in one read-only session and judges what it finds.
  - Names the top O(statements_limit) statements of C(pg_stat_statements) by mean execution time, using the column
    names of the server's version (C(mean_exec_time) from PostgreSQL 13, C(mean_time) before; the runbook's query
    uses the old name).
  - Counts client connections against C(max_connections), with the applications holding them (the runbook's
    "connection pool exhaustion").
  - Lists sessions running one query for long and sessions idle inside a transaction.
  - Lists large tables read mostly by sequential scans, the usual sign of a missing index.
  - Every check becomes a finding (name, target, status V(ok), V(warn), V(critical) or V(unknown), value,
    threshold, unit, evidence, remediation). A server that cannot be reached, or refuses the login, is a
    V(critical) C(connection) finding, not a module failure; when C(pg_stat_statements) is not installed, the
    C(slow_statements) finding is V(unknown) and says so. Only O(fail_on) turns a verdict into a task failure.
author:
  - Platform Engineering Team (@platform-eng)
extends_documentation_fragment:
  - platform_eng.incident_response.attributes
  - platform_eng.incident_response.attributes.info_module
  - platform_eng.incident_response.attributes.idempotent_not_modify_state
  - platform_eng.incident_response.postgresql
  - platform_eng.incident_response.fail_on
options:
  statements_limit:
    description: How many statements to report, slowest mean execution time first (the runbook uses 10).
    type: int
    default: 10
  statements_min_calls:
    description: Leave out statements called fewer times than this, to skip one-off queries.
    type: int
    default: 1
  statements_include_utility:
    description:
      - Also report utility statements (C(CREATE), C(ALTER), C(VACUUM), migrations).
      - By default only statements an application sends on its request path are reported (C(SELECT), C(INSERT),
        C(UPDATE), C(DELETE), C(WITH), C(MERGE), C(VALUES), C(TABLE), C(CALL)), because one slow migration would
        otherwise hide the query that makes requests slow.
    type: bool
    default: false
  seq_scan_limit:
    description: How many tables, most rows read by sequential scans first, to consider for the missing-index hint.
    type: int
    default: 10
  slow_statement_warn_ms:
    description: Mean execution time of the slowest statement above which C(slow_statements) is V(warn).
    type: float
    default: 100
  slow_statement_critical_ms:
    description:
      - Mean execution time above which C(slow_statements) is V(critical); the runbook's latency alert fires at a
        P95 above 500 ms, which one such statement alone breaks.
    type: float
    default: 500
  connections_warn_percent:
    description: Share of C(max_connections) in use above which C(connections_in_use) is V(warn).
    type: float
    default: 80
  connections_critical_percent:
    description:
      - Share of C(max_connections) in use above which C(connections_in_use) is V(critical).
      - The finding is also V(critical) once C(max_connections) minus C(superuser_reserved_connections) are in use,
        because the server then refuses every role that is not a superuser.
    type: float
    default: 90
  long_running_warn_seconds:
    description: A session running one query longer than this makes C(long_running_queries) V(warn).
    type: float
    default: 60
  long_running_critical_seconds:
    description: A session running one query longer than this makes C(long_running_queries) V(critical).
    type: float
    default: 300
  idle_in_transaction_warn_seconds:
    description: A session idle inside a transaction for longer than this makes C(idle_in_transaction) V(warn).
    type: float
    default: 60
  idle_in_transaction_critical_seconds:
    description: A session idle inside a transaction for longer than this makes C(idle_in_transaction) V(critical).
    type: float
    default: 300
  seq_scan_min_table_rows:
    description: Tables with fewer live rows than this are never flagged by C(sequential_scans); scanning them is cheap.
    type: int
    default: 10000
  seq_scan_min_scans:
    description: Tables with fewer sequential scans than this are never flagged by C(sequential_scans).
    type: int
    default: 10
notes:
  - Statements come from every database on the server, as in the runbook's query; C(pg_stat_statements) must be
    loaded through C(shared_preload_libraries) and created in O(database). Statistics count since the last
    C(pg_stat_statements_reset()).
  - Password literals (C(PASSWORD '...')) are blanked in every query text returned, and query texts are cut at 500
    characters; other literals in C(pg_stat_activity) are shown as the server reports them.
  - The module's own queries carry a marker comment and are left out of the statements report.
  - Sequential scan statistics are those of O(database) only, since the last statistics reset.
seealso:
  - module: community.postgresql.postgresql_info
    description: Inventory of databases, roles, settings and extensions.
  - name: pg_stat_statements
    description: The PostgreSQL documentation of the extension.
    link: https://www.postgresql.org/docs/current/pgstatstatements.html
"""

EXAMPLES = r"""
# The database sits on the private network: run the check on the bastion.
- name: Name the slowest statements and the connection pool pressure
  platform_eng.incident_response.postgresql_health_info:
    host: 10.77.2.250
    user: admin
    password: "{{ vault_db_admin_password }}"
    database: incident_response
  delegate_to: bastion
  run_once: true
  register: db_health

- name: Show the slowest statement
  ansible.builtin.debug:
    msg: "{{ db_health.statements[0].query }} ({{ db_health.statements[0].mean_ms }} ms mean)"
  when: db_health.statements | length > 0

# During an incident: stricter session limits, and fail the task on a critical verdict.
- name: Check for stuck sessions and pool exhaustion
  platform_eng.incident_response.postgresql_health_info:
    host: "{{ incident_response_db.host }}"
    user: "{{ incident_response_db.user }}"
    password: "{{ incident_response_db.password }}"
    database: "{{ incident_response_db.name }}"
    long_running_warn_seconds: 10
    idle_in_transaction_warn_seconds: 10
    statements_limit: 5
    fail_on: critical
  delegate_to: bastion
  run_once: true

# RDS with certificate verification.
- name: Check the production database over verified TLS
  platform_eng.incident_response.postgresql_health_info:
    host: incident-response-prod.abc123.us-east-1.rds.amazonaws.com
    user: admin
    password: "{{ vault_db_admin_password }}"
    database: incident_response
    ssl_mode: verify-full
    ca_path: /etc/ssl/certs/rds-global-bundle.pem
  delegate_to: bastion
  run_once: true
"""

RETURN = r"""
status:
  description: The worst status of all findings (V(critical) > V(warn) > V(unknown) > V(ok)).
  returned: always
  type: str
  sample: warn
counts:
  description: How many findings have each status.
  returned: always
  type: dict
  sample: {"ok": 4, "unknown": 0, "warn": 2, "critical": 0}
findings:
  description:
    - One finding per check, in this order; when the server cannot be reached, only C(connection).
    - Names are C(connection), C(slow_statements), C(connections_in_use), C(long_running_queries),
      C(idle_in_transaction) and C(sequential_scans).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The check.
      type: str
      sample: slow_statements
    target:
      description: The server and database, C(host:port/database).
      type: str
      sample: 10.77.2.250:5432/incident_response
    status:
      description: V(ok), V(warn), V(critical) or V(unknown) (could not measure).
      type: str
      sample: warn
    value:
      description:
        - What was measured, in RV(findings[].unit). The slowest mean time in ms for C(slow_statements), the share
          of C(max_connections) in use for C(connections_in_use), the longest duration in seconds for the session
          checks, the number of flagged tables for C(sequential_scans), C(server_version_num) for C(connection).
      type: raw
      sample: 812.4
    threshold:
      description: What the value was compared with, C({warn, critical}), or V(0) for C(sequential_scans).
      type: raw
      sample: {"warn": 100.0, "critical": 500.0}
    unit:
      description: Unit of the value.
      type: str
      sample: ms
    evidence:
      description: What the verdict rests on, in one line; names the slowest statement, the sessions and the tables.
      type: str
      sample: "slowest by mean time: 'SELECT * FROM incidents WHERE title LIKE $1' - mean 812.4 ms over 40 calls
        (database incident_response, user incident_response)"
    remediation:
      description: The runbook's advice when the status is V(warn), V(critical) or V(unknown) for a missing extension; else null.
      type: str
      sample: "Runbook 'High Latency': identify slow database queries and add indexes ..."
server:
  description: The server's version; null when it could not be reached.
  returned: always
  type: dict
  sample: {"version": "15.4", "version_num": 150004}
  contains:
    version:
      description: C(server_version) as the server reports it.
      type: str
      sample: "15.4"
    version_num:
      description: C(server_version_num), which chose the C(pg_stat_statements) column names.
      type: int
      sample: 150004
pg_stat_statements:
  description: Whether the extension is installed in O(database).
  returned: always
  type: dict
  sample: {"installed": true, "version": "1.10"}
  contains:
    installed:
      description: Whether C(CREATE EXTENSION pg_stat_statements) has run in O(database).
      type: bool
      sample: true
    version:
      description: The extension's version, null when not installed.
      type: str
      sample: "1.10"
statements:
  description: The top statements, slowest mean execution time first; empty when the extension is missing.
  returned: always
  type: list
  elements: dict
  sample: [{"queryid": "-7681624110224487555", "database": "incident_response", "user": "incident_response",
            "calls": 40, "mean_ms": 812.4, "total_ms": 32496.0, "rows": 40,
            "query": "SELECT * FROM incidents WHERE title LIKE $1"}]
  contains:
    queryid:
      description: The statement's C(queryid), as a string (it does not fit a JSON number exactly).
      type: str
      sample: "-7681624110224487555"
    database:
      description: Database the statement ran in.
      type: str
      sample: incident_response
    user:
      description: Role that ran it.
      type: str
      sample: incident_response
    calls:
      description: How many times it ran.
      type: int
      sample: 40
    mean_ms:
      description: Mean execution time in milliseconds.
      type: float
      sample: 812.4
    total_ms:
      description: Total execution time in milliseconds.
      type: float
      sample: 32496.0
    rows:
      description: Rows returned or affected, over all calls.
      type: int
      sample: 40
    query:
      description: The normalised statement text (constants as C($1)), password literals blanked, at most 500 characters.
      type: str
      sample: SELECT * FROM incidents WHERE title LIKE $1
connections:
  description: Client connections against C(max_connections); null when C(pg_stat_activity) could not be read.
  returned: always
  type: dict
  sample: {"max_connections": 50, "superuser_reserved_connections": 3, "in_use": 12, "percent": 24.0,
           "by_state": {"active": 1, "idle": 11},
           "by_application": [{"application": "incident-response", "user": "incident_response",
                               "database": "incident_response", "sessions": 11}]}
  contains:
    max_connections:
      description: The server's C(max_connections).
      type: int
      sample: 50
    superuser_reserved_connections:
      description: Slots only superusers may use.
      type: int
      sample: 3
    in_use:
      description: Client sessions, this check's own included.
      type: int
      sample: 12
    percent:
      description: RV(connections.in_use) as a share of RV(connections.max_connections).
      type: float
      sample: 24.0
    by_state:
      description: Sessions per state (C(active), C(idle), C(idle in transaction), ...).
      type: dict
      sample: {"active": 1, "idle": 11}
    by_application:
      description: Sessions per application name, role and database, most first.
      type: list
      elements: dict
      sample: [{"application": "incident-response", "user": "incident_response", "database": "incident_response",
                "sessions": 11}]
sessions:
  description: Sessions behind the C(long_running_queries) and C(idle_in_transaction) findings, longest first.
  returned: always
  type: dict
  sample: {"long_running": [], "idle_in_transaction": [{"pid": 4242, "user": "incident_response",
           "database": "incident_response", "application": "incident-response", "client": "10.77.2.11/32",
           "state": "idle in transaction", "wait_event_type": "Client", "wait_event": "ClientRead",
           "query_seconds": 95.2, "transaction_seconds": 95.3, "state_seconds": 95.2,
           "query": "UPDATE incidents SET status = $1 WHERE id = $2"}]}
  contains:
    long_running:
      description: Active sessions other than this check's, with the pg_stat_activity fields of RV(sessions.idle_in_transaction).
      type: list
      elements: dict
      sample: []
    idle_in_transaction:
      description:
        - Sessions idle inside a transaction. Each has C(pid), C(user), C(database), C(application), C(client),
          C(state), C(wait_event_type), C(wait_event), C(query_seconds) (since the last query started),
          C(transaction_seconds), C(state_seconds) (since the state changed) and C(query) (the last query).
      type: list
      elements: dict
      sample: []
sequential_scans:
  description: Tables flagged by C(sequential_scans), most rows read by sequential scans first.
  returned: always
  type: list
  elements: dict
  sample: [{"schema": "public", "table": "incidents", "seq_scan": 1200, "seq_tup_read": 24000000,
            "idx_scan": 3, "live_rows": 20000}]
elapsed_ms:
  description: Wall time of the whole check in milliseconds.
  returned: always
  type: float
  sample: 48.4
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.platform_eng.incident_response.plugins.module_utils._postgresql import (
    PSYCOPG2_IMPORT_ERROR,
    postgresql_argument_spec,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._postgresql_health import check_postgresql_health
from ansible_collections.platform_eng.incident_response.plugins.module_utils._verdict import (
    fail_on_argument_spec,
    run_check,
)


def argument_spec() -> dict:
    spec = postgresql_argument_spec()
    spec.update(
        statements_limit=dict(type="int", default=10),
        statements_min_calls=dict(type="int", default=1),
        statements_include_utility=dict(type="bool", default=False),
        seq_scan_limit=dict(type="int", default=10),
        slow_statement_warn_ms=dict(type="float", default=100.0),
        slow_statement_critical_ms=dict(type="float", default=500.0),
        connections_warn_percent=dict(type="float", default=80.0),
        connections_critical_percent=dict(type="float", default=90.0),
        long_running_warn_seconds=dict(type="float", default=60.0),
        long_running_critical_seconds=dict(type="float", default=300.0),
        idle_in_transaction_warn_seconds=dict(type="float", default=60.0),
        idle_in_transaction_critical_seconds=dict(type="float", default=300.0),
        seq_scan_min_table_rows=dict(type="int", default=10000),
        seq_scan_min_scans=dict(type="int", default=10),
        **fail_on_argument_spec(),
    )
    return spec


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_check(module, check_postgresql_health, "PostgreSQL health", libraries=[("psycopg2", PSYCOPG2_IMPORT_ERROR)])


if __name__ == "__main__":
    main()
