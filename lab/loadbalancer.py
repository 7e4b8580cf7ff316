# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's load balancer: haproxy in front of the app hosts, as the runbook's api.example.com.

It runs in its own namespace with a public side on the management bridge (the
controller plays the internet) and a private side next to the app hosts. TLS
ends here with a certificate for the public name from the lab CA. The runtime
API (``set server ... state drain|ready``, ``show stat``) listens on the
private side only, where the bastion reaches it, as an LB's admin interface
would sit on a management network in production.
"""

from __future__ import annotations

import os
import sys
import typing as t
from pathlib import Path

PUBLIC_NAME = "api.irlab.test"
BACKEND = "app"


def render_config(members: t.Sequence[tuple[str, str, int]], public_ip: str, api_ip: str, api_port: int,
                  pem: Path, pidfile: Path, admin_socket: Path) -> str:
    """The haproxy configuration: one server line per app host, health-checked on /health."""
    servers = [f"    server {name} {ip}:{port} check" for name, ip, port in members]
    return "\n".join([
        "global",
        f"    pidfile {pidfile}",
        # The collection drains and returns hosts through this one, from the bastion.
        f"    stats socket ipv4@{api_ip}:{api_port} level admin",
        # The lab's own side door (reset, tests): a Unix socket on the shared file system.
        f"    stats socket {admin_socket} mode 600 level admin",
        "    maxconn 2000",
        "",
        "defaults",
        "    mode http",
        "    log global",
        "    option httplog",
        "    timeout connect 2s",
        "    timeout client 30s",
        "    timeout server 30s",
        "    timeout http-request 10s",
        # A refused connection (a host restarting that nobody drained) is retried on another server.
        "    retries 2",
        "    option redispatch",
        "",
        "frontend public",
        f"    bind {public_ip}:443 ssl crt {pem}",
        f"    default_backend {BACKEND}",
        "",
        f"backend {BACKEND}",
        "    balance roundrobin",
        # No idle server connections: a restart must never meet a request sent on a stale one.
        "    option http-server-close",
        "    option httpchk GET /health",
        "    http-check expect status 200",
        "    default-server inter 1s fall 2 rise 2",
        *servers,
        "",
    ])


def issue_certificate(tls_dir: Path, public_ip: str, out: Path) -> None:
    """Certificate and key for the public name (and its address) in one PEM, as haproxy wants them."""
    sys.path.insert(0, str(Path(__file__).resolve().parent / "services"))
    try:
        import tls_endpoints  # the lab CA lives there; reused so every trust store holding ca.pem works
    finally:
        sys.path.pop(0)
    tls_dir.mkdir(parents=True, exist_ok=True)
    ca = tls_endpoints.load_or_create_ca(tls_dir)
    leaf = ca.issue_cert(PUBLIC_NAME, public_ip, common_name=PUBLIC_NAME)
    pem = b"".join(blob.bytes() for blob in leaf.cert_chain_pems) + leaf.private_key_pem.bytes()
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def pool(socket_path: Path) -> t.Any:
    """The balancer's pool through the lab's Unix socket, with the collection's own haproxy client."""
    repo = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(repo / ".collections"))  # made by tools/setup.sh
    try:
        from ansible_collections.platform_eng.incident_response.plugins.module_utils import _lb
    finally:
        sys.path.pop(0)
    return _lb.HaproxyPool(str(socket_path), BACKEND)
