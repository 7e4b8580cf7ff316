#!/usr/bin/env python3
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lab SMTP server (aiosmtpd) that keeps every message it accepts.

A real SMTP conversation: EHLO, optional AUTH PLAIN/LOGIN (any credentials
are accepted, since the lab has no mail accounts; the user name is kept, the
password never), MAIL FROM, RCPT TO, DATA. Each accepted message is appended
as one JSON line to the store: ``{"received_at", "peer", "auth_user",
"mail_from", "rcpt_tos", "subject", "body"}``.

A small HTTP side door lets tests read what was delivered:
  GET /_messages     JSON list, oldest first
  DELETE /_messages  empties the store

Usage: smtp_sink.py --bind 10.77.1.1 --port 8025 --http-port 8026 --store /var/lib/irlab/smtp/messages.jsonl
"""
from __future__ import annotations

import argparse
import datetime
import email
import email.policy
import json
import pathlib
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Store:
    def __init__(self, path: pathlib.Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)

    def append(self, record: dict[str, Any]) -> None:
        with self.lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")

    def read_all(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def clear(self) -> None:
        with self.lock:
            self.path.write_text("", encoding="utf-8")


class KeepingHandler:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd API)
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        user = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        self.store.append({
            "received_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "peer": str(session.peer[0]), "auth_user": user,
            "mail_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos),
            "subject": str(message.get("Subject", "")), "body": body.get_content() if body else "",
        })
        return "250 Message accepted for delivery"


def accept_any(_server: Any, _session: Any, _envelope: Any, _mechanism: str, auth_data: Any) -> AuthResult:
    return AuthResult(success=True, auth_data=auth_data)


def http_side_door(bind: str, port: int, store: Store) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/_messages":
                self._reply(200, json.dumps(store.read_all()).encode())
            else:
                self._reply(200 if self.path == "/" else 404, b'"ok"' if self.path == "/" else b'"not found"')

        def do_DELETE(self) -> None:
            store.clear()
            self._reply(200, b'"ok"')

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer((bind, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", required=True)
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--http-port", type=int, default=8026)
    parser.add_argument("--store", required=True, type=pathlib.Path)
    args = parser.parse_args(argv)
    store = Store(args.store)
    # No TLS in the lab: allow AUTH in the clear (auth_require_tls=False), as a relay inside a VPC often does.
    controller = Controller(KeepingHandler(store), hostname=args.bind, port=args.port, authenticator=accept_any,
                            auth_require_tls=False, auth_exclude_mechanism=["CRAM-MD5"])
    controller.start()
    http = http_side_door(args.bind, args.http_port, store)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    print(f"ready smtp-sink on {args.bind}:{args.port} (messages on http {args.http_port})", file=sys.stderr, flush=True)
    stopped.wait()
    controller.stop()
    http.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
