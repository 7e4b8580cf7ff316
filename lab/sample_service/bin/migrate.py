#!/usr/bin/env python3
"""Apply migrations/NNN_name.sql in order, each exactly once.

Applied migrations are recorded in schema_migrations. Each migration runs in its own
transaction, and the whole run holds a PostgreSQL advisory lock, so two hosts running
`make migrate` at the same time apply every migration once. Connection settings are the
DB_* keys of the service env file (INCIDENT_RESPONSE_ENV_FILE, default
/etc/incident-response/env); the file wins over the process environment.

Exit codes: 0 success (including nothing to do), 1 a migration or the database failed,
2 configuration error.
"""
from __future__ import annotations

import hashlib
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import psycopg2

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
DEFAULT_ENV_FILE = "/etc/incident-response/env"
LOCK_KEY = 77_020_001  # any constant shared by every run of this tool
FILE_PATTERN = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
LEDGER_DDL = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""


class MigrationError(Exception):
    """Reported as one line and exit code 1."""


class ConfigError(Exception):
    """Reported as one line and exit code 2."""


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_settings() -> dict[str, str]:
    explicit = os.environ.get("INCIDENT_RESPONSE_ENV_FILE")
    path = Path(explicit or DEFAULT_ENV_FILE)
    settings = dict(os.environ)
    if path.exists():
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if line.strip() and not line.startswith("#"):
                key, sep, value = line.partition("=")
                if not sep:
                    raise ConfigError(f"{path}:{number}: expected KEY=VALUE")
                settings[key.strip()] = value
    elif explicit:
        raise ConfigError(f"env file {path} does not exist")
    missing = [key for key in ("DB_HOST", "DB_NAME", "DB_USER") if not settings.get(key)]
    if missing:
        raise ConfigError(f"missing settings ({path} or environment): {', '.join(missing)}")
    return settings


def discover(directory: Path) -> list[Migration]:
    migrations: dict[str, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = FILE_PATTERN.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files must be named NNN_name.sql")
        version, name = match.groups()
        if version in migrations:
            raise MigrationError(f"two migrations share version {version}")
        migrations[version] = Migration(version, name, path.read_text())
    return list(migrations.values())


def migrate(conn: psycopg2.extensions.connection, migrations: list[Migration]) -> list[str]:
    """Apply what is missing; return log lines. The caller holds no transaction open."""
    lines: list[str] = []
    with conn.cursor() as cur:
        conn.autocommit = True
        cur.execute("SET lock_timeout = '60s'")  # a stuck run must not block others forever
        cur.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        cur.execute(LEDGER_DDL)
        cur.execute("SELECT version, checksum FROM schema_migrations")
        applied = dict(cur.fetchall())
        conn.autocommit = False
        for migration in migrations:
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version}_{migration.name} was changed after it was applied"
                    )
                continue
            try:
                with conn:  # one transaction: the schema change and its ledger row
                    cur.execute(migration.sql)
                    cur.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                        (migration.version, migration.name, migration.checksum),
                    )
            except psycopg2.Error as exc:
                detail = " ".join(str(exc).split())
                raise MigrationError(f"migration {migration.version}_{migration.name} failed: {detail}") from exc
            lines.append(f"applied {migration.version}_{migration.name}")
        known = {migration.version for migration in migrations}
        newer = sorted(set(applied) - known)
        if newer:
            # Normal after a rollback: migrations are additive, so older code still works.
            lines.append(f"database also has migrations this release does not ship: {', '.join(newer)}")
    if not any(line.startswith("applied") for line in lines):
        lines.insert(0, "nothing to migrate")
    return lines


def main() -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"migrate: {exc}", file=sys.stderr)
        return 2
    target = f"{settings['DB_USER']}@{settings['DB_HOST']}:{settings.get('DB_PORT', '5432')}/{settings['DB_NAME']}"
    try:
        migrations = discover(MIGRATIONS_DIR)
        conn = psycopg2.connect(
            host=settings["DB_HOST"],
            port=int(settings.get("DB_PORT", "5432")),
            dbname=settings["DB_NAME"],
            user=settings["DB_USER"],
            password=settings.get("DB_PASSWORD", ""),
            connect_timeout=5,
            application_name="incident-response-migrate",
        )
    except psycopg2.Error as exc:
        print(f"migrate: cannot connect to {target}: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    except MigrationError as exc:
        print(f"migrate: {exc}", file=sys.stderr)
        return 1
    try:
        for line in migrate(conn, migrations):
            print(f"migrate: {line}")
    except (MigrationError, psycopg2.Error) as exc:
        print(f"migrate: {target}: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    finally:
        conn.close()  # also releases the advisory lock
    return 0


if __name__ == "__main__":
    sys.exit(main())
