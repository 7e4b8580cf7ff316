# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real Prometheus and Alertmanager on 127.0.0.1 for unit tests, and a stand-in service for them to scrape.

Free ports only (the OS picks them); every process is stopped by its own pid.
Debian's ``prometheus`` and ``prometheus-alertmanager`` provide the binaries;
without them the tests that need them fail and say how to install them.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import threading
import time
import typing as t
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

BIND = "127.0.0.1"
JOB = "incident-response"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0)  # the sample service's


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((BIND, 0))
        return sock.getsockname()[1]


def binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(f"{names[0]} is not installed: apt-get install prometheus prometheus-alertmanager "
                f"(tools/setup.sh installs them)")


def get_json(url: str, timeout: float = 5.0) -> t.Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.load(response)


def wait_until(check: t.Callable[[], t.Any], timeout: float = 30.0, what: str = "the condition") -> t.Any:
    deadline = time.monotonic() + timeout
    last: t.Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except Exception as exc:  # noqa: BLE001 - not there yet; kept for the timeout message  # pylint: disable=broad-except
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}; last: {last!r}")


class Process:
    """A server we started, stopped by its pid (never by name)."""

    def __init__(self, argv: list[str], log: Path, cwd: Path | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True, cwd=cwd, env=env)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


class Prometheus(Process):
    def __init__(self, directory: Path, targets: t.Sequence[str], rule_files: t.Sequence[str] = (),
                 alertmanager: str | None = None, interval: str = "1s") -> None:
        self.port = free_port()
        self.url = f"http://{BIND}:{self.port}"
        self.config = directory / "prometheus.yml"
        config: dict[str, t.Any] = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "rule_files": list(rule_files),
            "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": list(targets)}]}],
        }
        if alertmanager:
            config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
        self.config.write_text(yaml.safe_dump(config), encoding="utf-8")
        super().__init__([binary("prometheus"), f"--config.file={self.config}",
                          f"--storage.tsdb.path={directory / 'data'}", f"--web.listen-address={BIND}:{self.port}",
                          "--web.enable-lifecycle"], directory / "prometheus.log")
        wait_until(lambda: urllib.request.urlopen(self.url + "/-/ready", timeout=1).status == 200, 30,
                   f"Prometheus on {self.url} ({self.output()})")

    def query(self, promql: str) -> list[dict[str, t.Any]]:
        answer = get_json(f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        return answer["data"]["result"]

    def rule_names(self) -> set[str]:
        groups = get_json(self.url + "/api/v1/rules")["data"]["groups"]
        return {rule["name"] for group in groups for rule in group["rules"]}


class Alertmanager(Process):
    def __init__(self, directory: Path, config: Path) -> None:
        self.port = free_port()
        self.url = f"http://{BIND}:{self.port}"
        super().__init__([binary("prometheus-alertmanager", "alertmanager"), f"--config.file={config}",
                          f"--storage.path={directory / 'am-data'}", f"--web.listen-address={BIND}:{self.port}",
                          "--cluster.listen-address="], directory / "alertmanager.log")
        wait_until(lambda: urllib.request.urlopen(self.url + "/-/ready", timeout=1).status == 200, 30,
                   f"Alertmanager on {self.url} ({self.output()})")

    def config_text(self) -> str:
        return get_json(self.url + "/api/v2/status")["config"]["original"]

    def post_alerts(self, alerts: list[dict[str, t.Any]]) -> None:
        request = urllib.request.Request(self.url + "/api/v2/alerts", data=json.dumps(alerts).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        urllib.request.urlopen(request, timeout=5).close()

    def alerts(self) -> list[dict[str, t.Any]]:
        return get_json(self.url + "/api/v2/alerts")


class StandInService:
    """/metrics and /health as the sample service has them, with traffic of a chosen 5xx share and latency.

    Every 50 ms it counts ``per_tick`` requests, ``errors`` of them answered 500, and observes each request's
    duration: ``slow`` of them take ``slow_seconds``, the others ``fast_seconds``.
    """

    def __init__(self, errors: float, slow: float = 0.0, slow_seconds: float = 0.6, fast_seconds: float = 0.05,
                 per_tick: int = 20) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

        self.registry = CollectorRegistry()
        self.requests = Counter("http_requests_total", "requests", ["method", "path", "code"], registry=self.registry)
        self.duration = Histogram("http_request_duration_seconds", "duration", ["path"], buckets=BUCKETS,
                                  registry=self.registry)
        self.errors, self.slow, self.per_tick = errors, slow, per_tick
        self.slow_seconds, self.fast_seconds = slow_seconds, fast_seconds
        self._generate = generate_latest
        self._stop = threading.Event()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/metrics":
                    body, ctype = stand_in._generate(stand_in.registry), "text/plain; version=0.0.4"
                else:
                    body, ctype = b'{"status": "ok"}', "application/json"
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: t.Any) -> None:
                pass

        self.server = ThreadingHTTPServer((BIND, 0), Handler)
        self.address = f"{BIND}:{self.server.server_address[1]}"
        self.threads = [threading.Thread(target=self.server.serve_forever, daemon=True),
                        threading.Thread(target=self._traffic, daemon=True)]
        for thread in self.threads:
            thread.start()

    def _traffic(self) -> None:
        owed_errors = owed_slow = 0.0
        while not self._stop.wait(0.05):
            owed_errors += self.errors * self.per_tick
            owed_slow += self.slow * self.per_tick
            bad, slow = int(owed_errors), int(owed_slow)
            owed_errors -= bad
            owed_slow -= slow
            self.requests.labels("GET", "/api/incidents", "200").inc(self.per_tick - bad)
            if bad:
                self.requests.labels("GET", "/api/incidents", "500").inc(bad)
            for index in range(self.per_tick):
                self.duration.labels("/api/incidents").observe(self.slow_seconds if index < slow else self.fast_seconds)

    def stop(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
