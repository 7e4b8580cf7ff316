# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# The PostgreSQL connection options every module shares; the argument spec
# they document is postgresql_argument_spec() in module_utils/_postgresql.py.

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  host:
    description:
      - Host name or IP address of the PostgreSQL server, for example V(10.77.2.250) in the lab.
      - The module connects from the host it runs on; use C(delegate_to) a host on the database network (the bastion).
    type: str
    required: true
    aliases: [login_host]
  port:
    description: TCP port of the server.
    type: int
    default: 5432
    aliases: [login_port]
  user:
    description:
      - Role to log in as. The runbook uses the C(admin) role.
      - A role that is not a superuser sees the statement text and session details of other roles only with the
        C(pg_read_all_stats) role.
    type: str
    default: postgres
    aliases: [login_user]
  password:
    description:
      - Password of O(user). Never logged, and blanked out of error messages.
      - Leave it out to use C(PGPASSWORD) or C(~/.pgpass) on the host the module runs on.
    type: str
    aliases: [login_password]
  database:
    description:
      - Database to connect to. Table statistics (sequential scans) are per database; pg_stat_statements must be
        installed in this database (C(CREATE EXTENSION pg_stat_statements)).
    type: str
    default: postgres
    aliases: [db]
  ssl_mode:
    description:
      - libpq C(sslmode). V(verify-full) checks the certificate and the host name against O(ca_path).
      - See U(https://www.postgresql.org/docs/current/libpq-ssl.html).
    type: str
    default: prefer
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
    aliases: [sslmode]
  ca_path:
    description:
      - File with the CA certificates that sign the server certificate (libpq C(sslrootcert)), for O(ssl_mode)
        V(verify-ca) and V(verify-full); for RDS, the RDS CA bundle.
    type: path
    aliases: [ssl_rootcert]
  connect_timeout:
    description:
      - Seconds to wait for the connection (libpq C(connect_timeout)); an unreachable server becomes a V(critical)
        finding after this long.
    type: int
    default: 5
  statement_timeout:
    description:
      - Seconds any single inspection query may run before the server cancels it, so the check cannot hang on a
        lock. The session is also read-only (C(default_transaction_read_only)).
    type: int
    default: 10
requirements:
  - psycopg2 (C(psycopg2-binary) from PyPI) on the host the module runs on.
"""
