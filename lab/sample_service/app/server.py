#!/usr/bin/env python3
"""incident-response: a small web service with /health, /metrics, /docs and /api/incidents.

Configuration comes from the environment (bin/service loads /etc/incident-response/env).
The release this file belongs to is the directory above app/: its VERSION file names the
release and its release.json holds fault settings, so a lab can ship a misbehaving build.

While the file DOCS_DISABLED_FILE names exists (default /etc/incident-response/docs.disabled,
which is per host in the lab), /docs answers 404 like a release that lost the route: a lab can
take the API docs away on one host, at once and without a restart, and put them back.
"""
from __future__ import annotations

import json
import os
import queue
import random
import select
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg2
import redis
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

RELEASE_DIR = Path(__file__).resolve().parent.parent
CONNECT_TIMEOUT_S = 2  # a dead dependency must give a fast 503, not a hung request
CACHE_KEY = "incident-response:incidents:recent"
CACHE_TTL_S = 5
DOCS_DISABLED_FILE = "/etc/incident-response/docs.disabled"
# Fine steps around 500 ms so a P95 alert threshold falls between two buckets.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0)
DOCS = b"""<!doctype html><title>incident-response API</title>
<h1>incident-response API</h1>
<ul>
<li><code>GET /health</code> - JSON status of the service and its database and cache;
    200 when all checks pass, 503 otherwise.</li>
<li><code>GET /metrics</code> - Prometheus metrics: <code>http_requests_total</code>,
    <code>http_request_duration_seconds</code>, <code>app_info</code>, the process's memory and, when the
    environment sets one, <code>app_memory_limit_bytes</code>.</li>
<li><code>GET /api/incidents</code> - open incident count and the 20 most recent incidents
    (the list is cached in Redis for 5 s).</li>
<li><code>GET /docs</code> - this page.</li>
</ul>
"""

Response = tuple[int, str, bytes]
_rng = random.Random(1234)  # fixed seed: a faulty release fails the same share every run


@dataclass(frozen=True)
class Config:
    host: str
    port: int
    db: dict[str, Any]
    cache: dict[str, Any]
    docs_disabled_file: str = DOCS_DISABLED_FILE
    # The memory the service may use (a container's limit, MEMORY_LIMIT_BYTES), exported so an alert can
    # compare process_resident_memory_bytes with it; None exports nothing.
    memory_limit: int | None = None

    @classmethod
    def from_env(cls, env: dict[str, str]) -> Config:
        required = ("API_PORT", "DB_HOST", "DB_NAME", "DB_USER", "REDIS_HOST")
        missing = [key for key in required if not env.get(key)]
        if missing:
            raise SystemExit(f"incident-response: missing settings in the environment: {', '.join(missing)}")
        db = {
            "host": env["DB_HOST"],
            "port": int(env.get("DB_PORT", "5432")),
            "dbname": env["DB_NAME"],
            "user": env["DB_USER"],
            "password": env.get("DB_PASSWORD", ""),
            "connect_timeout": CONNECT_TIMEOUT_S,
            "application_name": "incident-response",
            "options": "-c statement_timeout=5000",
        }
        cache = {
            "host": env["REDIS_HOST"],
            "port": int(env.get("REDIS_PORT", "6379")),
            "password": env.get("REDIS_PASSWORD") or None,
            "socket_connect_timeout": CONNECT_TIMEOUT_S,
            "socket_timeout": CONNECT_TIMEOUT_S,
            "decode_responses": True,
        }
        limit = env.get("MEMORY_LIMIT_BYTES", "").strip()
        if limit and (not limit.isdigit() or int(limit) <= 0):
            raise SystemExit(f"incident-response: MEMORY_LIMIT_BYTES must be a positive number of bytes, got {limit!r}")
        return cls(env.get("API_HOST", "0.0.0.0"), int(env["API_PORT"]), db, cache,
                   env.get("DOCS_DISABLED_FILE") or DOCS_DISABLED_FILE, int(limit) if limit else None)


@dataclass(frozen=True)
class Faults:
    """Misbehaviour of this release on /api/*; zero in a good release."""

    error_ratio: float = 0.0
    extra_latency_ms: int = 0

    @classmethod
    def load(cls, path: Path) -> Faults:
        if not path.exists():
            return cls()
        data = json.loads(path.read_text())
        faults = cls(float(data.get("error_ratio", 0.0)), int(data.get("extra_latency_ms", 0)))
        if not 0.0 <= faults.error_ratio <= 1.0 or faults.extra_latency_ms < 0:
            raise SystemExit(f"incident-response: invalid fault settings in {path}: {data}")
        return faults


class ConnectionPool:
    """Reuses a few PostgreSQL connections; a connection that failed is closed, not reused."""

    def __init__(self, params: dict[str, Any], size: int = 8) -> None:
        self._params = params
        self._idle: queue.LifoQueue[Any] = queue.LifoQueue(maxsize=size)

    @contextmanager
    def cursor(self) -> Iterator[Any]:
        conn = self._checkout()
        try:
            with conn, conn.cursor() as cur:  # `with conn` is one transaction
                yield cur
        except BaseException:
            conn.close()
            raise
        try:
            self._idle.put_nowait(conn)
        except queue.Full:
            conn.close()

    def _checkout(self) -> Any:
        while True:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                return psycopg2.connect(**self._params)
            # An idle connection has nothing to read unless the server closed it
            # (restart, idle timeout); drop those instead of failing a request.
            readable = select.select([conn], [], [], 0)[0]
            if not readable and not conn.closed:
                return conn
            conn.close()


def one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def to_json(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def json_response(code: int, payload: dict[str, Any]) -> Response:
    return code, "application/json", json.dumps(payload, default=to_json).encode() + b"\n"


class App:
    def __init__(self, config: Config, version: str, faults: Faults) -> None:
        self.config = config
        self.version = version
        self.faults = faults
        self.pool = ConnectionPool(config.db)
        self.cache = redis.Redis(**config.cache)
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total", "HTTP requests served", ["method", "path", "code"], registry=self.registry
        )
        self.duration = Histogram(
            "http_request_duration_seconds", "HTTP request duration", ["path"],
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        Gauge("app_info", "Running release", ["version"], registry=self.registry).labels(version).set(1)
        ProcessCollector(registry=self.registry)  # memory and CPU, for leak diagnosis
        if config.memory_limit:
            Gauge("app_memory_limit_bytes", "Memory the service may use (MEMORY_LIMIT_BYTES)",
                  registry=self.registry).set(config.memory_limit)
        self.routes: dict[str, Callable[[], Response]] = {
            "/health": self.health,
            "/metrics": self.metrics,
            "/docs": self.docs,
            "/api/incidents": self.incidents,
        }

    def route(self, path: str) -> Callable[[], Response] | None:
        # Checked on every request, so the lab's switch takes effect at once.
        if path == "/docs" and os.path.exists(self.config.docs_disabled_file):
            return None
        return self.routes.get(path)

    def health(self) -> Response:
        checks = {"database": probe(self._ping_database), "cache": probe(self.cache.ping)}
        healthy = all(check["status"] == "ok" for check in checks.values())
        body = {"status": "ok" if healthy else "degraded", "version": self.version, "checks": checks}
        return json_response(200 if healthy else 503, body)

    def _ping_database(self) -> None:
        # A fresh connection, not a pooled one: health must prove we can still connect.
        conn = psycopg2.connect(**{**self.config.db, "options": "-c statement_timeout=2000"})
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
        finally:
            conn.close()

    def metrics(self) -> Response:
        return 200, CONTENT_TYPE_LATEST, generate_latest(self.registry)

    def docs(self) -> Response:
        return 200, "text/html; charset=utf-8", DOCS

    def incidents(self) -> Response:
        if self.faults.extra_latency_ms:
            time.sleep(self.faults.extra_latency_ms / 1000)
        if _rng.random() < self.faults.error_ratio:
            raise InjectedFault("release fault (release.json)")
        recent, cache_state = self._cached_recent()
        try:
            with self.pool.cursor() as cur:
                cur.execute("SELECT count(*) FROM incidents WHERE status = 'open'")
                open_count = cur.fetchone()[0]
                if recent is None:
                    cur.execute(
                        "SELECT id, title, severity, status, service, created_at"
                        " FROM incidents ORDER BY created_at DESC LIMIT 20"
                    )
                    names = [col.name for col in cur.description]
                    recent = [dict(zip(names, row)) for row in cur.fetchall()]
        except psycopg2.Error as exc:
            raise DependencyError(f"database: {one_line(exc)}") from exc
        if cache_state == "miss":
            self._cache_store(recent)
        body = {"version": self.version, "open_incidents": open_count, "recent": recent, "cache": cache_state}
        return json_response(200, body)

    def _cached_recent(self) -> tuple[list[dict[str, Any]] | None, str]:
        # A cache outage slows requests down but must not fail them.
        try:
            cached = self.cache.get(CACHE_KEY)
        except redis.RedisError:
            return None, "error"
        return (json.loads(cached), "hit") if cached else (None, "miss")

    def _cache_store(self, recent: list[dict[str, Any]]) -> None:
        try:
            self.cache.setex(CACHE_KEY, CACHE_TTL_S, json.dumps(recent, default=to_json))
        except redis.RedisError:
            pass


class InjectedFault(Exception):
    """The release is configured to fail this request."""


class DependencyError(Exception):
    """The database could not serve the request."""


def probe(check: Callable[[], Any]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        check()
        error = None
    except Exception as exc:  # noqa: BLE001 - any failure is the check's result, not a crash
        error = one_line(exc)
    latency_ms = round((time.perf_counter() - started) * 1000, 1)
    return {"status": "ok" if error is None else "error", "latency_ms": latency_ms, "error": error}


class Handler(BaseHTTPRequestHandler):
    server_version = "incident-response"
    server: Server

    def do_GET(self) -> None:
        started = time.perf_counter()
        app = self.server.app
        path = urlsplit(self.path).path
        route = app.route(path)
        note = ""
        try:
            if route is None:
                code, ctype, body = json_response(404, {"error": "not found", "path": path})
            else:
                code, ctype, body = route()
        except DependencyError as exc:
            code, ctype, body = json_response(503, {"error": "dependency unavailable"})
            note = f" error={exc}"
        except Exception as exc:  # noqa: BLE001 - answer 500 instead of dropping the connection
            code, ctype, body = json_response(500, {"error": "internal error"})
            note = f" error={one_line(exc)}"
        elapsed = time.perf_counter() - started
        label = path if route else "unmatched"  # bounded label values
        # Count the request before answering it: a client that reads /metrics
        # right after its answer must find the request there.
        app.requests.labels("GET", label, str(code)).inc()
        app.duration.labels(label).observe(elapsed)
        self._send(code, ctype, body)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        sys.stderr.write(f"{stamp} {self.client_address[0]} GET {path} {code} {elapsed * 1000:.1f}ms{note}\n")

    def _send(self, code: int, ctype: str, body: bytes) -> None:
        try:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up; nothing to tell it

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # do_GET logs one line with the duration instead


class Server(ThreadingHTTPServer):
    daemon_threads = True
    app: App


def main() -> int:
    config = Config.from_env(dict(os.environ))
    version = (RELEASE_DIR / "VERSION").read_text().strip()
    app = App(config, version, Faults.load(RELEASE_DIR / "release.json"))
    try:
        server = Server((config.host, config.port), Handler)
    except OSError as exc:
        print(f"incident-response: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 1
    server.app = app
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))  # close the socket on stop
    print(f"incident-response {version} listening on {config.host}:{config.port} from {RELEASE_DIR}",
          file=sys.stderr)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        print(f"incident-response {version} stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
