#!/usr/bin/env python3
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lab stand-in for Slack incoming webhooks and the PagerDuty Events API.

Every POST, to any path, is appended as one JSON line to the store file:
``{"received_at", "path", "content_type", "user_agent", "body"}`` where ``body`` is the
parsed JSON document when the payload is JSON, otherwise the raw text, and ``user_agent``
tells Alertmanager's own notifications (``Alertmanager/<version>``) from the collection's.

Answers, so that clients written for the real services work unchanged:
  POST .../v2/enqueue   202 + PagerDuty-shaped JSON (Events API v2 answers 202)
  POST .../rest/api/2/issue  201 + Jira-shaped JSON (``id``, ``key``, ``self``) for the ticket channel
  POST anything else    200 + ``ok`` (what a Slack incoming webhook answers)
  GET  /_requests       200 + JSON list of every recorded request (oldest first)
  DELETE /_requests     200 + ``ok``; empties the store
  GET  /                200 + ``ok`` (liveness)

The store file is the only state, so a restart keeps the history.

Usage: webhook_receiver.py --bind 127.0.0.1 --port 8099 --store /var/lib/irlab/webhook/requests.jsonl
"""
from __future__ import annotations

import argparse
import datetime
import json
import logging
import pathlib
import signal
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LOG = logging.getLogger("webhook_receiver")
# Bound the body we accept: a notification is a few KiB; anything larger is a bug.
MAX_BODY_BYTES = 1024 * 1024


class RequestStore:
    """Append-only JSON-lines file shared by all handler threads."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch(exist_ok=True)

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, sort_keys=True) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)

    def read_all(self) -> list[dict[str, Any]]:
        with self._lock:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def clear(self) -> None:
        with self._lock:
            self.path.write_text("", encoding="utf-8")


def parse_body(raw: bytes, content_type: str) -> Any:
    """JSON documents become objects; anything else stays text (form posts too)."""
    text = raw.decode("utf-8", errors="replace")
    looks_like_json = "json" in content_type.lower() or text.lstrip()[:1] in ("{", "[")
    if looks_like_json:
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


class WebhookHandler(BaseHTTPRequestHandler):
    server: WebhookServer
    protocol_version = "HTTP/1.1"

    def _reply(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._reply(413, b"payload too large")
            return
        raw = self.rfile.read(length) if length else b""
        content_type = self.headers.get("Content-Type", "")
        record = {
            "received_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "path": self.path,
            "content_type": content_type,
            "user_agent": self.headers.get("User-Agent", ""),
            "body": parse_body(raw, content_type),
        }
        self.server.store.append(record)
        if self.path.split("?", 1)[0].endswith("/v2/enqueue"):
            dedup_key = record["body"].get("dedup_key") if isinstance(record["body"], dict) else None
            answer = {"status": "success", "message": "Event processed",
                      "dedup_key": dedup_key or uuid.uuid4().hex}
            self._reply(202, json.dumps(answer).encode(), "application/json")
        elif self.path.split("?", 1)[0].endswith("/rest/api/2/issue"):
            number = sum(1 for item in self.server.store.read_all() if item["path"].endswith("/rest/api/2/issue"))
            key = f"OPS-{number}"
            answer = {"id": str(10000 + number), "key": key,
                      "self": f"http://{self.headers.get('Host')}/rest/api/2/issue/{key}"}
            self._reply(201, json.dumps(answer).encode(), "application/json")
        else:
            self._reply(200, b"ok")

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/_requests":
            body = json.dumps(self.server.store.read_all()).encode()
            self._reply(200, body, "application/json")
        elif path == "/":
            self._reply(200, b"ok")
        else:
            self._reply(404, b"not found")

    def do_DELETE(self) -> None:
        if self.path.split("?", 1)[0] == "/_requests":
            self.server.store.clear()
            self._reply(200, b"ok")
        else:
            self._reply(404, b"not found")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        # One short line per request at debug level keeps the lab log readable.
        LOG.debug("%s %s", self.address_string(), format % args)


class WebhookServer(ThreadingHTTPServer):
    daemon_threads = True
    # A burst of notifications from many hosts must not be refused by a tiny backlog.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], store: RequestStore) -> None:
        self.store = store
        super().__init__(address, WebhookHandler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", required=True, help="address to listen on")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--store", required=True, type=pathlib.Path, help="JSON-lines file")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)

    server = WebhookServer((args.bind, args.port), RequestStore(args.store))

    def stop(signum: int, _frame: Any) -> None:
        LOG.info("signal %d: shutting down", signum)
        # shutdown() blocks until serve_forever returns, so it must run in another thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # A bare, stable line the lab manager waits for (logging adds a timestamp prefix).
    print(f"ready webhook-receiver on {args.bind}:{server.server_address[1]}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
