#!/usr/bin/env python3
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lab TLS endpoints with chosen certificate problems, for certificate checks.

Ports (from --base-port, default 8441):
  base+0  valid       tls-valid.irlab.test + the bind IP, expires in ~365 days
  base+1  expiring    tls-expiring.irlab.test + bind IP, expires in 10 days
  base+2  expired     tls-expired.irlab.test + bind IP, expired 2 days ago
  base+3  wrong_host  certificate names other.irlab.test only; clients expect
                      tls-wronghost.irlab.test, so the hostname check fails
  base+4.. --extra-endpoints N more "valid" endpoints (valid-001 ...), for
                      benchmarks that probe many targets at once

State dir (--state-dir):
  ca.pem, ca.key        the lab CA, created once and reused on later starts
  <name>.crt/<name>.key the certificate each endpoint serves; issued afresh at
                        every start so "expires in 10 days" holds from start-up
  endpoints.json        [{name, host, port, server_name, expected, not_after,
                         cert_file, key_file}]; ``expected`` is the verdict a
                        checker should reach for the seeded certificate

SIGHUP reloads every endpoint's certificate and key from its files (what a
renewal job does after replacing a file); new connections get the new
certificate, a file that fails to load keeps the old one. SIGTERM stops.

Each accepted connection gets its own thread and does its TLS handshake
there, so a hundred parallel handshakes do not queue behind each other.
A GET answers ``200 ok <name>`` so curl and HTTP probes work.

Usage: tls_endpoints.py --bind 127.0.0.1 --state-dir /var/lib/irlab/tls [--base-port 8441]
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import ipaddress
import json
import logging
import os
import pathlib
import selectors
import signal
import socket
import ssl
import sys
import threading
from typing import Any

import trustme
from cryptography import x509

LOG = logging.getLogger("tls_endpoints")
CONNECTION_TIMEOUT_S = 10.0
MAX_REQUEST_BYTES = 16 * 1024


@dataclasses.dataclass
class Endpoint:
    name: str
    port: int
    server_name: str  # the host name a client should ask for (SNI + hostname check)
    cert_names: list[str]  # what the certificate actually covers
    expected: str  # ok | expiring | expired | wrong_host
    not_before: datetime.datetime
    not_after: datetime.datetime
    cert_file: pathlib.Path = pathlib.Path()
    key_file: pathlib.Path = pathlib.Path()
    context: ssl.SSLContext | None = None


def plan_endpoints(bind: str, base_port: int, extra: int, now: datetime.datetime) -> list[Endpoint]:
    day = datetime.timedelta(days=1)
    # The bind address is a SAN too, so a client that connects by IP still
    # fails (or passes) only for the reason the endpoint exists to show.
    ip = [bind]
    endpoints = [
        Endpoint("valid", base_port, "tls-valid.irlab.test", ["tls-valid.irlab.test", *ip],
                 "ok", now - day, now + 365 * day),
        Endpoint("expiring", base_port + 1, "tls-expiring.irlab.test", ["tls-expiring.irlab.test", *ip],
                 "expiring", now - day, now + 10 * day),
        Endpoint("expired", base_port + 2, "tls-expired.irlab.test", ["tls-expired.irlab.test", *ip],
                 "expired", now - 90 * day, now - 2 * day),
        Endpoint("wrong_host", base_port + 3, "tls-wronghost.irlab.test", ["other.irlab.test"],
                 "wrong_host", now - day, now + 365 * day),
    ]
    for index in range(1, extra + 1):
        host = f"tls-valid-{index:03d}.irlab.test"
        endpoints.append(Endpoint(f"valid-{index:03d}", base_port + 3 + index, host, [host, *ip],
                                  "ok", now - day, now + 365 * day))
    return endpoints


def load_or_create_ca(state_dir: pathlib.Path) -> trustme.CA:
    cert_path, key_path = state_dir / "ca.pem", state_dir / "ca.key"
    if cert_path.exists() and key_path.exists():
        # Reusing the CA keeps every trust store that already holds ca.pem valid.
        return trustme.CA.from_pem(cert_path.read_bytes(), key_path.read_bytes())
    ca = trustme.CA(organization_name="irlab", organization_unit_name="irlab test CA")
    write_private(key_path, ca.private_key_pem.bytes())
    ca.cert_pem.write_to_path(str(cert_path))
    return ca


def write_private(path: pathlib.Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def issue(ca: trustme.CA, endpoint: Endpoint, state_dir: pathlib.Path) -> None:
    leaf = ca.issue_cert(*endpoint.cert_names, common_name=endpoint.cert_names[0],
                         not_before=endpoint.not_before, not_after=endpoint.not_after)
    endpoint.cert_file = state_dir / f"{endpoint.name}.crt"
    endpoint.key_file = state_dir / f"{endpoint.name}.key"
    endpoint.cert_file.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    write_private(endpoint.key_file, leaf.private_key_pem.bytes())


def load_context(endpoint: Endpoint) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(endpoint.cert_file, endpoint.key_file)
    cert = x509.load_pem_x509_certificate(endpoint.cert_file.read_bytes())
    endpoint.not_after = cert.not_valid_after_utc
    endpoint.context = context  # one reference swap: in-flight handshakes keep the old one


def write_manifest(state_dir: pathlib.Path, bind: str, endpoints: list[Endpoint]) -> None:
    manifest = [
        {"name": e.name, "host": bind, "port": e.port, "server_name": e.server_name,
         "expected": e.expected, "not_after": e.not_after.isoformat(),
         "cert_file": str(e.cert_file), "key_file": str(e.key_file)}
        for e in endpoints
    ]
    tmp = state_dir / "endpoints.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    tmp.replace(state_dir / "endpoints.json")  # readers never see a half-written file


def reload_all(state_dir: pathlib.Path, bind: str, endpoints: list[Endpoint]) -> None:
    reloaded = 0
    for endpoint in endpoints:
        try:
            load_context(endpoint)
            reloaded += 1
        except (OSError, ssl.SSLError, ValueError) as exc:
            LOG.error("reload %s from %s failed, keeping the old certificate: %s",
                      endpoint.name, endpoint.cert_file, exc)
    write_manifest(state_dir, bind, endpoints)
    LOG.info("reloaded certificates for %d of %d endpoints", reloaded, len(endpoints))


def serve_connection(conn: socket.socket, endpoint: Endpoint) -> None:
    conn.settimeout(CONNECTION_TIMEOUT_S)
    context = endpoint.context
    assert context is not None
    try:
        with context.wrap_socket(conn, server_side=True) as tls:
            request = b""
            while b"\r\n\r\n" not in request and len(request) < MAX_REQUEST_BYTES:
                chunk = tls.recv(4096)
                if not chunk:
                    return  # a certificate checker that only handshakes ends here
                request += chunk
            body = f"ok {endpoint.name}\n".encode()
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                        + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
    except (OSError, ssl.SSLError) as exc:
        # Clients that reject our certificate abort the handshake: expected, not news.
        LOG.debug("%s: connection ended: %s", endpoint.name, exc)
    finally:
        conn.close()


def listen(bind: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((bind, port))
    sock.listen(512)  # a benchmark opens 100+ connections at once
    sock.setblocking(False)
    return sock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", required=True)
    parser.add_argument("--state-dir", required=True, type=pathlib.Path)
    parser.add_argument("--base-port", type=int, default=8441)
    parser.add_argument("--extra-endpoints", type=int, default=0)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        ipaddress.ip_address(args.bind)  # it becomes an IP SAN, so it must be a literal address
    except ValueError:
        parser.error(f"--bind must be an IP address, not {args.bind!r}")
    if args.base_port + 3 + args.extra_endpoints > 65535:
        parser.error("port range exceeds 65535")

    args.state_dir.mkdir(parents=True, exist_ok=True)
    ca = load_or_create_ca(args.state_dir)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    endpoints = plan_endpoints(args.bind, args.base_port, args.extra_endpoints, now)
    for endpoint in endpoints:
        issue(ca, endpoint, args.state_dir)
        load_context(endpoint)
    write_manifest(args.state_dir, args.bind, endpoints)

    selector = selectors.DefaultSelector()
    sockets = [listen(args.bind, endpoint.port) for endpoint in endpoints]
    for sock, endpoint in zip(sockets, endpoints):
        selector.register(sock, selectors.EVENT_READ, endpoint)

    stopping = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        if signum == signal.SIGHUP:
            reload_all(args.state_dir, args.bind, endpoints)  # runs in the main thread
        else:
            LOG.info("signal %d: shutting down", signum)
            stopping.set()

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, on_signal)

    print(f"ready tls-endpoints on {args.bind}:{endpoints[0].port}-{endpoints[-1].port}",
          file=sys.stderr, flush=True)
    while not stopping.is_set():
        for key, _events in selector.select(timeout=0.25):
            try:
                conn, _peer = key.fileobj.accept()  # type: ignore[union-attr]
            except (BlockingIOError, InterruptedError):
                continue
            conn.setblocking(True)
            threading.Thread(target=serve_connection, args=(conn, key.data), daemon=True).start()
    for sock in sockets:
        selector.unregister(sock)
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
