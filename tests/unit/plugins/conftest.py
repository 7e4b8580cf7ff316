# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Shared fixtures for plugin unit tests: throwaway PostgreSQL 15 and Redis servers on 127.0.0.1
(free ports, killed by pid). tests/unit/conftest.py puts the collection on sys.path.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import typing as t
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_ADMIN_PASSWORD = "unit-admin-pw"
REDIS_PASSWORD = "unit-redis-pw"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def free_port_factory() -> t.Callable[[], int]:
    """Ports nothing listens on: a connection there is refused at once."""
    return free_port


def wait_for(ready: t.Callable[[], object], timeout: float = 20.0) -> None:
    """Poll until ready() returns something true; exceptions mean not ready yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except Exception:  # noqa: BLE001, S110 - not ready yet  # pylint: disable=broad-except
            pass
        time.sleep(0.1)
    raise TimeoutError(f"not ready after {timeout}s")


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class PostgresServer:
    """A private PostgreSQL 15 cluster with pg_stat_statements preloaded and few connection slots.

    Database ``app`` has the extension, database ``noext`` does not.
    """

    MAX_CONNECTIONS = 20

    def __init__(self, base: Path) -> None:
        import psycopg2

        self.psycopg2 = psycopg2
        self.base, self.data, self.port = base, base / "data", free_port()
        shutil.chown(base, "postgres", "postgres")
        pwfile = base / "pw"
        pwfile.write_text(PG_ADMIN_PASSWORD + "\n")
        shutil.chown(pwfile, "postgres", "postgres")
        # initdb refuses to run as root.
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(PG_BIN / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "admin",
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            cwd=base,
        )
        log = open(base / "postgres.log", "ab")  # noqa: SIM115 - postgres writes to it  # pylint: disable=consider-using-with
        # Started directly as postgres (not through runuser, which would not pass SIGINT on),
        # so self.proc.pid is the postmaster itself.
        self.proc = subprocess.Popen(
            [
                str(PG_BIN / "postgres"),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={base}",
                "-c",
                "fsync=off",
                "-c",
                "shared_preload_libraries=pg_stat_statements",
                "-c",
                f"max_connections={self.MAX_CONNECTIONS}",
                "-c",
                "superuser_reserved_connections=3",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=base,
            user="postgres",
            group="postgres",
        )
        wait_for(lambda: self.connect().close() or True)
        self.sql("CREATE DATABASE app")
        self.sql("CREATE DATABASE noext")
        self.sql("CREATE EXTENSION pg_stat_statements", "app")

    def stop(self) -> None:
        # SIGINT is PostgreSQL's fast shutdown: it ends open sessions too.
        _stop(self.proc, signal.SIGINT)

    def connect(self, dbname: str = "postgres", **kwargs: t.Any) -> t.Any:
        return self.psycopg2.connect(
            host="127.0.0.1",
            port=self.port,
            user="admin",
            password=PG_ADMIN_PASSWORD,
            dbname=dbname,
            connect_timeout=2,
            **kwargs,
        )

    def sql(self, statement: str, dbname: str = "postgres") -> list[tuple]:
        conn = self.connect(dbname)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def params(self, database: str = "app", **overrides: t.Any) -> dict[str, t.Any]:
        """Options as the postgresql_health_info module passes them."""
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "user": "admin",
            "password": PG_ADMIN_PASSWORD,
            "database": database,
            "ssl_mode": "disable",
            "connect_timeout": 3,
            **overrides,
        }


@pytest.fixture(scope="session")
def pg_server() -> t.Iterator[PostgresServer]:
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL 15 server not installed ({PG_BIN})")
    if os.geteuid() != 0:
        pytest.skip("starting PostgreSQL as the postgres user needs root")
    pytest.importorskip("psycopg2")
    root = Path(tempfile.mkdtemp(prefix="ir-unit-pg-"))
    root.chmod(0o755)  # the postgres user must reach its directory below
    (root / "pg").mkdir()
    server = PostgresServer(root / "pg")
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


class RedisServer:
    def __init__(self, port: int, proc: subprocess.Popen) -> None:
        import redis

        self.port, self.proc = port, proc
        self.client = redis.Redis(host="127.0.0.1", port=port, password=REDIS_PASSWORD, socket_timeout=5)

    def params(self, **overrides: t.Any) -> dict[str, t.Any]:
        """Options as the redis_health_info module passes them."""
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "password": REDIS_PASSWORD,
            "connect_timeout": 3,
            "window_seconds": 0,
            **overrides,
        }


@pytest.fixture(scope="session")
def redis_session_server() -> t.Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not installed")
    pytest.importorskip("redis")
    port = free_port()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--requirepass",
            REDIS_PASSWORD,
            "--maxmemory",
            "32mb",
            "--maxmemory-policy",
            "allkeys-lru",
            "--daemonize",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = RedisServer(port, proc)
    try:
        wait_for(server.client.ping)
        yield server
    finally:
        _stop(proc)


@pytest.fixture
def redis_server(redis_session_server: RedisServer) -> RedisServer:
    """The session's Redis with empty data and zeroed statistics, so each test sees only its own traffic."""
    redis_session_server.client.flushall()
    redis_session_server.client.config_resetstat()
    return redis_session_server


@pytest.fixture
def moto_session(monkeypatch: pytest.MonkeyPatch) -> t.Iterator[t.Any]:
    """An AwsSession against moto's in-process AWS (mock_aws), with dummy credentials and no metadata lookups."""
    moto = pytest.importorskip("moto")
    from ansible_collections.platform_eng.incident_response.plugins.module_utils import _aws

    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with moto.mock_aws():
        yield _aws.AwsSession(_aws.AwsSettings(region="us-east-1", access_key="testing", secret_key="testing"))
