# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's maintenance stand-ins: certificate renewal (no ACME server here) and the backup producer.

renew_cert.py runs against a real lab/services/tls_endpoints.py on 127.0.0.1 ports of its own: after
renew + reload, a client sees the new expiry; a certificate that is not due, or a dry run, changes nothing.
"""
from __future__ import annotations

import datetime
import json
import os
import pathlib
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from cryptography import x509

from ansible_collections.platform_eng.incident_response.lab import backup_producer

LAB = pathlib.Path(__file__).resolve().parents[3] / "lab"


def free_base_port(count: int = 4) -> int:
    for _attempt in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count < 65000:
            return base
    raise RuntimeError("no free ports")


@pytest.fixture
def tls(tmp_path: pathlib.Path) -> Iterator[tuple[subprocess.Popen, pathlib.Path, dict[str, dict]]]:
    log = tmp_path / "tls.log"
    with log.open("wb") as stderr:
        proc = subprocess.Popen([sys.executable, str(LAB / "services" / "tls_endpoints.py"), "--bind", "127.0.0.1",
                                 "--state-dir", str(tmp_path), "--base-port", str(free_base_port())],
                                stdout=subprocess.DEVNULL, stderr=stderr)
    deadline = time.monotonic() + 20
    while not re.search("^ready", log.read_text(), re.MULTILINE):
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    endpoints = {e["name"]: e for e in json.loads((tmp_path / "endpoints.json").read_text())}
    (tmp_path / "tls.pid").write_text(f"{proc.pid}\n")
    try:
        yield proc, tmp_path, endpoints
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


def renew_cert(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(LAB / "renew_cert.py"), *args], capture_output=True, text=True,
                          check=True, timeout=60)


def served_days_left(endpoint: dict) -> int:
    pem = ssl.get_server_certificate(("127.0.0.1", endpoint["port"]), timeout=5)
    cert = x509.load_pem_x509_certificate(pem.encode())
    return (cert.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)).days


def test_renew_and_reload_serve_a_certificate_beyond_the_threshold(tls: tuple) -> None:
    _proc, state, endpoints = tls
    assert served_days_left(endpoints["expiring"]) < 30
    before = pathlib.Path(endpoints["expiring"]["cert_file"]).read_bytes()

    dry = renew_cert("renew", "--state-dir", str(state), "--name", "expiring", "--dry-run")
    assert "dry run" in dry.stdout and pathlib.Path(endpoints["expiring"]["cert_file"]).read_bytes() == before

    renew_cert("renew", "--state-dir", str(state), "--name", "expiring", "--days", "90")
    renew_cert("reload", "--pidfile", str(state / "tls.pid"))
    deadline = time.monotonic() + 10
    while served_days_left(endpoints["expiring"]) < 89:
        assert time.monotonic() < deadline, "the endpoint still serves the old certificate after SIGHUP"
        time.sleep(0.1)
    # Same names as before, so clients that check the host name still accept it.
    cert = x509.load_pem_x509_certificate(pathlib.Path(endpoints["expiring"]["cert_file"]).read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "tls-expiring.irlab.test" in names.get_values_for_type(x509.DNSName)


def test_a_certificate_that_is_not_due_is_left_alone(tls: tuple) -> None:
    _proc, state, endpoints = tls
    before = pathlib.Path(endpoints["valid"]["cert_file"]).read_bytes()
    result = renew_cert("renew", "--state-dir", str(state), "--name", "valid")
    assert "not due" in result.stdout
    assert pathlib.Path(endpoints["valid"]["cert_file"]).read_bytes() == before


def test_env_file_is_read_as_data(tmp_path: pathlib.Path) -> None:
    env = tmp_path / "env"
    env.write_text("# comment\nDB_HOST=10.77.2.250\nDB_PASSWORD=a=b$(id)\n\n")
    assert backup_producer.read_env_file(env) == {"DB_HOST": "10.77.2.250", "DB_PASSWORD": "a=b$(id)"}


def test_dump_keys_sort_by_time() -> None:
    early = backup_producer.dump_key("latest/", datetime.datetime(2026, 1, 2, 3, 4, 5))
    late = backup_producer.dump_key("latest/", datetime.datetime(2026, 1, 2, 3, 4, 6))
    assert early == "latest/20260102T030405Z.dump" and early < late
