# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The lab's own service scripts, started as throwaway processes on 127.0.0.1 for unit tests.

Tests exercise the modules against the same TLS endpoints and Kubernetes API
emulator the lab runs (lab/services/), on free ports, each process stopped
by its pid when the test session ends.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import signal
import socket
import subprocess
import sys
import time
import typing as t
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SERVICES = REPO / "lab" / "services"
BIND = "127.0.0.1"


def _wait_ready(proc: subprocess.Popen, log: Path, timeout: float = 60.0) -> str:
    """The service's 'ready ...' line from its log; its log in the error if it dies first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        match = re.search(r"^ready .*$", text, re.MULTILINE)
        if match:
            return match.group(0)
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}: {text[-2000:]}")
        time.sleep(0.05)
    raise TimeoutError(f"{proc.args} not ready after {timeout}s: {log.read_text(errors='replace')[-2000:]}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _ports_free(base: int, count: int) -> bool:
    for port in range(base, base + count):
        with socket.socket() as sock:
            try:
                sock.bind((BIND, port))
            except OSError:
                return False
    return True


class TlsEndpoints(t.NamedTuple):
    pid: int
    endpoints: list[dict[str, t.Any]]  # endpoints.json: name, host, port, server_name, expected, cert_file ...
    ca_path: str
    state_dir: Path

    def by_name(self, name: str) -> dict[str, t.Any]:
        return next(e for e in self.endpoints if e["name"] == name)


@contextlib.contextmanager
def tls_endpoints(state_dir: Path, extra: int = 0) -> t.Iterator[TlsEndpoints]:
    """lab/services/tls_endpoints.py: valid, expiring (10 days), expired, wrong_host, plus ``extra`` valid ones."""
    count = 4 + extra
    for _attempt in range(5):
        base = random.randrange(20000, 60000 - count)
        if not _ports_free(base, count):
            continue
        log = state_dir / "tls_endpoints.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(  # pylint: disable=consider-using-with
                [sys.executable, str(SERVICES / "tls_endpoints.py"), "--bind", BIND, "--state-dir", str(state_dir),
                 "--base-port", str(base), "--extra-endpoints", str(extra)],
                stdout=subprocess.DEVNULL, stderr=out)
        try:
            _wait_ready(proc, log)
        except RuntimeError:
            _stop(proc)  # a port was taken between our check and its bind: try another range
            continue
        try:
            endpoints = json.loads((state_dir / "endpoints.json").read_text())
            yield TlsEndpoints(proc.pid, endpoints, str(state_dir / "ca.pem"), state_dir)
        finally:
            _stop(proc)
        return
    raise RuntimeError(f"could not start tls_endpoints.py on {count} free ports")


class KubeEmulator(t.NamedTuple):
    pid: int
    host: str  # http://127.0.0.1:PORT
    kubeconfig: str


@contextlib.contextmanager
def kube_emulator(state_dir: Path) -> t.Iterator[KubeEmulator]:
    """lab/services/kube_emulator.py, seeded with three healthy pods in namespace incident-response."""
    log = state_dir / "kube_emulator.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, str(SERVICES / "kube_emulator.py"), "--bind", BIND, "--port", "0",
             "--state-dir", str(state_dir)],
            stdout=subprocess.DEVNULL, stderr=out, cwd=SERVICES)
    try:
        ready = _wait_ready(proc, log)
        port = int(ready.rsplit(":", 1)[1])
        yield KubeEmulator(proc.pid, f"http://{BIND}:{port}", str(state_dir / "kubeconfig"))
    finally:
        _stop(proc)


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound and released, so the kernel just gave it out)."""
    with socket.socket() as sock:
        sock.bind((BIND, 0))
        return sock.getsockname()[1]
