"""The lab's sample service, run for real on 127.0.0.1.

A throwaway PostgreSQL 15 and Redis back the service; releases are `git archive`s of
the tags lab/build_origin.py creates, installed Capistrano-style as on the app hosts.
Tests run in file order and share one deployment, like a deploy-then-incident story.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

psycopg2 = pytest.importorskip("psycopg2")
redis = pytest.importorskip("redis")

REPO = Path(__file__).resolve().parents[3]
LAB = REPO / "lab"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PYTHON = sys.executable  # must have psycopg2, redis and prometheus_client, like APP_PYTHON
ADMIN_PW, APP_PW, REDIS_PW = "lab-admin-pw", "lab-app-pw", "lab-redis-pw"

pytestmark = [
    pytest.mark.skipif(not (PG_BIN / "initdb").exists(), reason=f"PostgreSQL 15 server not installed ({PG_BIN})"),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed"),
    pytest.mark.skipif(os.geteuid() != 0, reason="starting PostgreSQL as the postgres user needs root"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(ready: Callable[[], object], timeout: float = 15.0) -> None:
    """Poll until ready() returns something true; exceptions mean not ready yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except Exception:  # noqa: BLE001, S110 - not ready yet
            pass
        time.sleep(0.1)
    raise TimeoutError(f"not ready after {timeout}s")


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Postgres:
    """A private cluster in `base`, owned by the postgres user (initdb refuses root)."""

    def __init__(self, base: Path) -> None:
        self.base, self.data, self.port = base, base / "data", free_port()
        self.proc: subprocess.Popen | None = None
        shutil.chown(base, "postgres", "postgres")
        pwfile = base / "pw"
        pwfile.write_text(ADMIN_PW + "\n")
        shutil.chown(pwfile, "postgres", "postgres")
        subprocess.run(
            [str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "admin", f"--pwfile={pwfile}",
             "--auth=scram-sha-256", "-E", "UTF8", "--no-sync"],
            user="postgres", group="postgres", check=True, capture_output=True, cwd=base,
        )

    def start(self) -> None:
        log = open(self.base / "postgres.log", "ab")  # noqa: SIM115 - postgres writes to it as long as it runs
        self.proc = subprocess.Popen(
            [str(PG_BIN / "postgres"), "-D", str(self.data), "-p", str(self.port),
             "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.base}", "-c", "fsync=off"],
            user="postgres", group="postgres", stdout=log, stderr=subprocess.STDOUT, cwd=self.base,
        )
        wait_for(lambda: self.connect().close() or True)

    def stop(self) -> None:
        if self.proc:
            stop_process(self.proc, signal.SIGINT)  # fast shutdown: ends open sessions too

    def connect(self, dbname: str = "postgres"):
        return psycopg2.connect(host="127.0.0.1", port=self.port, user="admin", password=ADMIN_PW,
                                dbname=dbname, connect_timeout=2)

    def sql(self, statement: str, dbname: str = "postgres") -> list[tuple]:
        conn = self.connect(dbname)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()


@dataclass
class Lab:
    root: Path
    origin: Path
    pg: Postgres
    redis_port: int
    api_port: int

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "INCIDENT_RESPONSE_ENV_FILE": str(self.root / "etc" / "env"),
            "INCIDENT_RESPONSE_STATE_DIR": str(self.root / "state"),
            "INCIDENT_RESPONSE_LOG_DIR": str(self.root / "log"),
        }

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def write_env_file(self, path: Path, dbname: str = "incident_response") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            f"APP_ENV=lab\nAPP_PYTHON={PYTHON}\nAPI_HOST=127.0.0.1\nAPI_PORT={self.api_port}\n"
            f"DB_HOST=127.0.0.1\nDB_PORT={self.pg.port}\nDB_NAME={dbname}\n"
            f"DB_USER=incident_response\nDB_PASSWORD={APP_PW}\n"
            f"REDIS_HOST=127.0.0.1\nREDIS_PORT={self.redis_port}\nREDIS_PASSWORD={REDIS_PW}\n"
            f"DOCS_DISABLED_FILE={self.docs_switch}\n"
        )

    @property
    def docs_switch(self) -> Path:
        return self.root / "etc" / "docs.disabled"

    def install(self, tag: str) -> Path:
        """Unpack the tag into releases/<tag>, as the deploy role does."""
        release = self.root / "releases" / tag
        if not release.exists():
            release.mkdir(parents=True)
            archive = subprocess.run(["git", "--git-dir", str(self.origin), "archive", tag],
                                     check=True, capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", str(release)], input=archive, check=True)
        return release

    def switch(self, tag: str) -> None:
        link = self.root / "current.new"
        link.unlink(missing_ok=True)
        link.symlink_to(Path("releases") / tag)
        link.rename(self.root / "current")  # one rename: never a missing `current`

    def run(self, *argv: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(argv), env=env or self.env, cwd=cwd, capture_output=True, text=True, timeout=60,
                              check=False)

    def service(self, action: str) -> subprocess.CompletedProcess[str]:
        return self.run(str(self.root / "current" / "bin" / "service"), action)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    root = Path(tempfile.mkdtemp(prefix="irlab-sample-service-"))
    root.chmod(0o755)  # the postgres user must reach its data directory below
    (root / "pg").mkdir()
    pg = Postgres(root / "pg")
    redis_port = free_port()
    redis_proc = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--requirepass", REDIS_PW, "--daemonize", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    lab = Lab(root, root / "origin.git", pg, redis_port, free_port())
    try:
        pg.start()
        pg.sql(f"CREATE ROLE incident_response LOGIN PASSWORD '{APP_PW}'")
        pg.sql("CREATE DATABASE incident_response OWNER incident_response")
        wait_for(lambda: redis.Redis(port=redis_port, password=REDIS_PW).ping())
        subprocess.run([PYTHON, str(LAB / "build_origin.py"), str(lab.origin)], check=True, capture_output=True)
        lab.write_env_file(root / "etc" / "env")
        yield lab
    finally:
        if (root / "current").exists():
            lab.service("stop")
        pid_file = root / "state" / "service.pid"
        if pid_file.exists():  # stop failed: kill exactly the process we started
            try:
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        stop_process(redis_proc)
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


def get(url: str, timeout: float = 10.0) -> tuple[int, bytes, float]:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read(), time.monotonic() - started
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), time.monotonic() - started


def ledger(lab: Lab, dbname: str = "incident_response") -> list[str]:
    return [row[0] for row in lab.pg.sql("SELECT version FROM schema_migrations ORDER BY version", dbname)]


def test_origin_has_reproducible_annotated_tags(lab: Lab, tmp_path: Path) -> None:
    again = tmp_path / "origin.git"
    subprocess.run([PYTHON, str(LAB / "build_origin.py"), str(again)], check=True, capture_output=True)

    def show(repo: Path, *args: str) -> str:
        return subprocess.run(["git", "--git-dir", str(repo), *args], check=True, capture_output=True,
                              text=True).stdout.strip()

    assert show(lab.origin, "tag", "--sort=-creatordate").split() == ["v1.2.4", "v1.2.3", "v1.2.2"]
    for tag in ("v1.2.2", "v1.2.3", "v1.2.4"):
        assert show(lab.origin, "cat-file", "-t", tag) == "tag"
        assert show(lab.origin, "rev-parse", tag) == show(again, "rev-parse", tag)
        assert show(lab.origin, "show", f"{tag}:VERSION") == tag
    assert show(lab.origin, "ls-tree", "--name-only", "v1.2.2", "migrations/").split() == [
        "migrations/001_incidents.sql"]
    assert json.loads(show(lab.origin, "show", "v1.2.3:release.json"))["error_ratio"] == 0
    assert json.loads(show(lab.origin, "show", "v1.2.4:release.json")) == {"error_ratio": 0.3, "extra_latency_ms": 700}


def test_migrate_applies_each_migration_once(lab: Lab) -> None:
    first = lab.run(PYTHON, str(lab.install("v1.2.2") / "bin" / "migrate.py"))
    assert first.returncode == 0, first.stderr
    assert "applied 001_incidents" in first.stdout

    release = lab.install("v1.2.3")
    second = lab.run("make", "-s", "migrate", cwd=release)
    assert second.returncode == 0, second.stderr
    assert "applied 002_incidents_status_index" in second.stdout
    assert "001" not in second.stdout

    third = lab.run("make", "-s", "migrate", cwd=release)
    assert third.returncode == 0, third.stderr
    assert "nothing to migrate" in third.stdout
    assert ledger(lab) == ["001", "002"]


def test_concurrent_migrations_apply_each_once(lab: Lab) -> None:
    lab.pg.sql("CREATE DATABASE concurrent_check OWNER incident_response")
    lab.write_env_file(lab.root / "etc" / "env.concurrent", dbname="concurrent_check")
    env = {**lab.env, "INCIDENT_RESPONSE_ENV_FILE": str(lab.root / "etc" / "env.concurrent")}
    migrate = str(lab.install("v1.2.4") / "bin" / "migrate.py")
    procs = [subprocess.Popen([PYTHON, migrate], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for copy in range(3)]
    outputs = [proc.communicate(timeout=30) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], outputs
    combined = "".join(stdout for stdout, stderr in outputs)
    for name in ("001_incidents", "002_incidents_status_index", "003_incident_acknowledgement"):
        assert combined.count(f"applied {name}") == 1
    assert ledger(lab, "concurrent_check") == ["001", "002", "003"]


def test_migrate_reports_unreachable_database(lab: Lab, tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text(f"DB_HOST=127.0.0.1\nDB_PORT={free_port()}\nDB_NAME=x\nDB_USER=x\n")
    result = lab.run(PYTHON, str(lab.install("v1.2.3") / "bin" / "migrate.py"),
                     env={**lab.env, "INCIDENT_RESPONSE_ENV_FILE": str(env_file)})
    assert result.returncode == 1
    assert "cannot connect to x@127.0.0.1" in result.stderr


def test_make_deploy_accepts_only_known_environments(lab: Lab) -> None:
    release = lab.install("v1.2.3")
    rejected = lab.run("make", "deploy", "ENV=prod", cwd=release)
    assert rejected.returncode != 0
    assert "ENV must be one of: lab staging production" in rejected.stderr
    assert not (release / ".deployed-env").exists()

    assert "prepared for lab" in lab.run("make", "-s", "deploy", "ENV=lab", cwd=release).stdout
    assert (release / ".deployed-env").read_text() == "lab\n"
    assert list((release / "app" / "__pycache__").glob("server.*.pyc"))
    assert "already prepared for lab" in lab.run("make", "-s", "deploy", "ENV=lab", cwd=release).stdout


def test_healthy_release_serves_health_api_docs_and_metrics(lab: Lab) -> None:
    lab.switch("v1.2.3")
    started = lab.service("start")
    assert started.returncode == 0, started.stderr
    assert lab.service("status").returncode == 0

    code, body, _elapsed = get(lab.url + "/health")
    health = json.loads(body)
    assert (code, health["status"], health["version"]) == (200, "ok", "v1.2.3")
    assert {name: check["status"] for name, check in health["checks"].items()} == {"database": "ok", "cache": "ok"}

    answers = [json.loads(get(lab.url + "/api/incidents")[1]) for attempt in range(3)]
    assert answers[0]["open_incidents"] == 2
    assert len(answers[0]["recent"]) == 5
    assert answers[-1]["cache"] == "hit"

    code, body, _elapsed = get(lab.url + "/docs")
    assert code == 200 and b"/api/incidents" in body
    code, body, _elapsed = get(lab.url + "/no-such-page")
    assert code == 404 and json.loads(body)["error"] == "not found"

    metrics = get(lab.url + "/metrics")[1].decode()
    assert 'http_requests_total{code="200",method="GET",path="/api/incidents"} 3.0' in metrics
    assert 'http_request_duration_seconds_count{path="/api/incidents"} 3.0' in metrics
    assert 'http_request_duration_seconds_bucket{le="0.75",path="/api/incidents"}' in metrics
    assert 'http_requests_total{code="404",method="GET",path="unmatched"} 1.0' in metrics
    assert 'app_info{version="v1.2.3"} 1.0' in metrics


def test_the_docs_switch_takes_docs_away_at_once_and_only_docs(lab: Lab) -> None:
    assert get(lab.url + "/docs")[0] == 200
    lab.docs_switch.touch()
    try:
        code, body, _elapsed = get(lab.url + "/docs")
        assert code == 404 and json.loads(body) == {"error": "not found", "path": "/docs"}
        assert get(lab.url + "/health")[0] == 200 and get(lab.url + "/metrics")[0] == 200
    finally:
        lab.docs_switch.unlink()
    assert get(lab.url + "/docs")[0] == 200
    metrics = get(lab.url + "/metrics")[1].decode()
    # Counted like any missing route, so the lab's /metrics shows the 404.
    assert 'http_requests_total{code="404",method="GET",path="unmatched"} 2.0' in metrics


def test_restart_after_switch_runs_the_bad_release(lab: Lab) -> None:
    migrated = lab.run("make", "-s", "migrate", cwd=lab.install("v1.2.4"))
    assert "applied 003_incident_acknowledgement" in migrated.stdout
    lab.switch("v1.2.4")
    restarted = lab.service("restart")
    assert restarted.returncode == 0, restarted.stderr
    assert "releases/v1.2.4" in lab.service("status").stdout

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(get, [lab.url + "/api/incidents"] * 40))
    codes = [result[0] for result in results]
    assert set(codes) <= {200, 500}
    assert 0.15 <= codes.count(500) / len(codes) <= 0.5
    assert min(result[2] for result in results) >= 0.7

    # The trap of this release: the health check stays green and fast.
    code, body, elapsed = get(lab.url + "/health")
    assert (code, json.loads(body)["version"]) == (200, "v1.2.4")
    assert elapsed < 0.7
    metrics = get(lab.url + "/metrics")[1].decode()
    assert 'http_requests_total{code="500",method="GET",path="/api/incidents"}' in metrics
    assert 'http_request_duration_seconds_bucket{le="0.5",path="/api/incidents"} 0.0' in metrics


def test_traffic_generator_is_bounded_and_stops_on_sigterm(lab: Lab) -> None:
    traffic = str(LAB / "traffic.py")
    done = lab.run(PYTHON, traffic, "--target", lab.url, "--rps", "10", "--duration", "2")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("traffic: ")
    assert 10 <= int(done.stdout.split()[1]) <= 21  # 2 s at 10/s: never more, a few less on a busy machine

    refused = lab.run(PYTHON, traffic, "--target", "http://192.0.2.1:8080", "--duration", "1")
    assert refused.returncode == 2 and "outside the lab" in refused.stderr

    proc = subprocess.Popen([PYTHON, traffic, "--target", lab.url, "--rps", "5", "--duration", "600"],
                            stdout=subprocess.PIPE, text=True)
    time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=10)[0]
    assert proc.returncode == 0 and out.startswith("traffic: ")


def test_dead_database_makes_health_fail_fast(lab: Lab) -> None:
    lab.pg.stop()
    try:
        code, body, elapsed = get(lab.url + "/health")
        health = json.loads(body)
        assert (code, health["status"]) == (503, "degraded")
        assert health["checks"]["database"]["status"] == "error"
        assert health["checks"]["cache"]["status"] == "ok"
        assert elapsed < 3
    finally:
        lab.pg.start()
    wait_for(lambda: get(lab.url + "/health")[0] == 200, timeout=10)


def test_stop_then_start_on_a_busy_port_fails_clearly(lab: Lab) -> None:
    stopped = lab.service("stop")
    assert stopped.returncode == 0, stopped.stderr
    assert lab.service("status").returncode == 3
    assert not (lab.root / "state" / "service.pid").exists()
    with pytest.raises(OSError):
        get(lab.url + "/health", timeout=2)

    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # old connections in TIME_WAIT
        squatter.bind(("127.0.0.1", lab.api_port))
        squatter.listen()
        failed = lab.run(str(lab.root / "current" / "bin" / "service"), "start",
                         env={**lab.env, "INCIDENT_RESPONSE_START_TIMEOUT": "3"})
    assert failed.returncode == 1
    assert "failed to start" in failed.stderr and "cannot listen" in failed.stderr
    assert not (lab.root / "state" / "service.pid").exists()


def test_memory_and_its_limit_are_exported_for_the_memory_alert(lab: Lab) -> None:
    env_file = lab.root / "etc" / "env-with-limit"
    lab.write_env_file(env_file)
    with env_file.open("a") as handle:
        handle.write("MEMORY_LIMIT_BYTES=536870912\n")
    env = {**lab.env, "INCIDENT_RESPONSE_ENV_FILE": str(env_file)}
    lab.service("stop")
    started = lab.run(str(lab.root / "current" / "bin" / "service"), "start", env=env)
    assert started.returncode == 0, started.stderr
    try:
        metrics = get(lab.url + "/metrics")[1].decode()
    finally:
        lab.run(str(lab.root / "current" / "bin" / "service"), "stop", env=env)
    assert "app_memory_limit_bytes 5.36870912e+08" in metrics
    assert "process_resident_memory_bytes " in metrics

    env_file.write_text(env_file.read_text().replace("MEMORY_LIMIT_BYTES=536870912", "MEMORY_LIMIT_BYTES=512Mi"))
    refused = lab.run(str(lab.root / "current" / "bin" / "service"), "start",
                      env={**env, "INCIDENT_RESPONSE_START_TIMEOUT": "3"})
    assert refused.returncode != 0
    assert "MEMORY_LIMIT_BYTES must be a positive number of bytes" in refused.stderr + refused.stdout + (
        (lab.root / "log" / "app.log").read_text() if (lab.root / "log" / "app.log").exists() else "")
