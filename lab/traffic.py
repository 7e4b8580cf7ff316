#!/usr/bin/env python3
"""Bounded traffic for the sample service, so /metrics has data during a watch window.

    python lab/traffic.py --target http://10.77.2.11:8080 --target http://10.77.2.12:8080 \
        --rps 10 --duration 900
    python lab/traffic.py --target https://10.77.1.20 --cafile ca.pem --stats traffic.json

Requests go round-robin over the targets, mostly to /api/incidents and sometimes to
/docs, at no more than --rps in total. Slow responses never cause a catch-up burst:
a tick with no free worker is skipped. Stops after --duration or on SIGTERM/SIGINT and
prints one summary line. Only loopback and lab (10.77.0.0/16) addresses are accepted.

With --stats, the running tally is rewritten (atomically) twice a second: every
request counted by outcome, plus the last failures with their time and cause, so
a test can take the difference across a deploy and name what failed. A failure is
a 5xx or a request that got no answer (refused, reset, timed out).
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import os
import random
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from urllib.parse import urlsplit

ALLOWED_NETWORKS = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("10.77.0.0/16"))
PATHS = ("/api/incidents",) * 4 + ("/docs",)  # 80 % API, 20 % docs
MAX_WORKERS = 32


def check_target(url: str) -> str:
    """Return url without a trailing slash, or raise ValueError if it may not be hit."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url}: expected http(s)://host:port")
    addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, parts.port or 80)}
    for address in addresses:
        if not any(ipaddress.ip_address(address) in net for net in ALLOWED_NETWORKS):
            raise ValueError(f"{url}: {address} is outside the lab (127.0.0.0/8, 10.77.0.0/16)")
    return url.rstrip("/")


FAILURES = ("5xx", "errors")
KEEP_FAILURES = 200


class Tally:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.failures: list[dict[str, object]] = []

    def add(self, outcome: str, url: str = "", detail: str = "") -> None:
        with self._lock:
            self.counts[outcome] += 1
            if outcome in FAILURES:
                self.failures.append({"at": round(time.time(), 3), "outcome": outcome, "url": url,
                                      "detail": detail[:200]})
                del self.failures[:-KEEP_FAILURES]

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            counts = dict(self.counts)
            return {"at": round(time.time(), 3), "counts": counts,
                    "requests": sum(n for key, n in counts.items() if key != "skipped"),
                    "failed": sum(counts.get(key, 0) for key in FAILURES),
                    "recent_failures": list(self.failures)}


def write_stats(path: str, tally: Tally) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(tally.snapshot(), handle)
    os.replace(tmp, path)


def hit(url: str, timeout: float, tally: Tally, workers: threading.Semaphore,
        context: ssl.SSLContext | None = None) -> None:
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            response.read()
            tally.add(f"{response.status // 100}xx", url)
    except urllib.error.HTTPError as exc:
        tally.add(f"{exc.code // 100}xx", url, f"HTTP {exc.code}")
    except (OSError, ValueError) as exc:
        tally.add("errors", url, f"{type(exc).__name__}: {exc}")  # refused, timed out, reset: never fatal
    finally:
        workers.release()


def run(targets: list[str], rps: float, duration: float, timeout: float, stop: threading.Event,
        context: ssl.SSLContext | None = None, stats: str | None = None) -> Tally:
    tally = Tally()
    workers = threading.BoundedSemaphore(MAX_WORKERS)
    chooser = random.Random(7)
    interval = 1.0 / rps
    started = time.monotonic()
    next_tick = started
    sent = 0
    next_stats = started
    while not stop.is_set():
        now = time.monotonic()
        if now - started >= duration:
            break
        if stats and now >= next_stats:
            write_stats(stats, tally)
            next_stats = now + 0.5
        if now < next_tick:
            stop.wait(min(next_tick - now, duration - (now - started)))
            continue
        next_tick += interval
        if next_tick < now:  # fell behind: drop the missed ticks instead of bursting
            next_tick = now + interval
        if not workers.acquire(blocking=False):
            tally.add("skipped")
            continue
        url = targets[sent % len(targets)] + chooser.choice(PATHS)
        sent += 1
        threading.Thread(target=hit, args=(url, timeout, tally, workers, context), daemon=True).start()
    # Give in-flight requests their timeout to finish, so the summary counts them.
    deadline = time.monotonic() + timeout
    idle = 0
    while idle < MAX_WORKERS and workers.acquire(timeout=max(0.0, deadline - time.monotonic())):
        idle += 1
    if stats:
        write_stats(stats, tally)
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Bounded traffic for the incident-response sample service.")
    parser.add_argument("--target", action="append", required=True, help="base URL; repeat for more targets")
    parser.add_argument("--rps", type=float, default=5.0, help="total requests per second (default 5)")
    parser.add_argument("--duration", type=float, default=3600.0, help="seconds to run (default 3600)")
    parser.add_argument("--timeout", type=float, default=5.0, help="per-request timeout in seconds (default 5)")
    parser.add_argument("--cafile", help="CA bundle for https targets (default: the system's)")
    parser.add_argument("--stats", help="rewrite the running tally as JSON to this file twice a second")
    args = parser.parse_args(argv)
    if not 0 < args.rps <= 1000 or args.duration <= 0 or args.timeout <= 0:
        parser.error("--rps must be in (0, 1000], --duration and --timeout positive")
    try:
        targets = [check_target(url) for url in args.target]
    except (ValueError, OSError) as exc:
        parser.error(str(exc))
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda signum, frame: stop.set())
    started = time.monotonic()
    context = ssl.create_default_context(cafile=args.cafile) if args.cafile else None
    tally = run(targets, args.rps, args.duration, args.timeout, stop, context, args.stats)
    elapsed = time.monotonic() - started
    counts = tally.counts
    total = sum(n for key, n in counts.items() if key != "skipped")
    detail = ", ".join(f"{counts[key]} {key}" for key in ("2xx", "3xx", "4xx", "5xx", "errors", "skipped"))
    print(f"traffic: {total} requests in {elapsed:.1f}s ({total / elapsed:.1f}/s) to {len(targets)} target(s): {detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
