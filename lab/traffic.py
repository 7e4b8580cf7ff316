#!/usr/bin/env python3
"""Bounded traffic for the sample service, so /metrics has data during a watch window.

    python lab/traffic.py --target http://10.77.2.11:8080 --target http://10.77.2.12:8080 \
        --rps 10 --duration 900

Requests go round-robin over the targets, mostly to /api/incidents and sometimes to
/docs, at no more than --rps in total. Slow responses never cause a catch-up burst:
a tick with no free worker is skipped. Stops after --duration or on SIGTERM/SIGINT and
prints one summary line. Only loopback and lab (10.77.0.0/16) addresses are accepted.
"""
from __future__ import annotations

import argparse
import ipaddress
import random
import signal
import socket
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


class Tally:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def add(self, outcome: str) -> None:
        with self._lock:
            self.counts[outcome] += 1


def hit(url: str, timeout: float, tally: Tally, workers: threading.Semaphore) -> None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            response.read()
            tally.add(f"{response.status // 100}xx")
    except urllib.error.HTTPError as exc:
        tally.add(f"{exc.code // 100}xx")
    except (OSError, ValueError):
        tally.add("errors")  # refused, timed out, reset: counted, never fatal
    finally:
        workers.release()


def run(targets: list[str], rps: float, duration: float, timeout: float, stop: threading.Event) -> Tally:
    tally = Tally()
    workers = threading.BoundedSemaphore(MAX_WORKERS)
    chooser = random.Random(7)
    interval = 1.0 / rps
    started = time.monotonic()
    next_tick = started
    sent = 0
    while not stop.is_set():
        now = time.monotonic()
        if now - started >= duration:
            break
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
        threading.Thread(target=hit, args=(url, timeout, tally, workers), daemon=True).start()
    # Give in-flight requests their timeout to finish, so the summary counts them.
    deadline = time.monotonic() + timeout
    idle = 0
    while idle < MAX_WORKERS and workers.acquire(timeout=max(0.0, deadline - time.monotonic())):
        idle += 1
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Bounded traffic for the incident-response sample service.")
    parser.add_argument("--target", action="append", required=True, help="base URL; repeat for more targets")
    parser.add_argument("--rps", type=float, default=5.0, help="total requests per second (default 5)")
    parser.add_argument("--duration", type=float, default=3600.0, help="seconds to run (default 3600)")
    parser.add_argument("--timeout", type=float, default=5.0, help="per-request timeout in seconds (default 5)")
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
    tally = run(targets, args.rps, args.duration, args.timeout, stop)
    elapsed = time.monotonic() - started
    counts = tally.counts
    total = sum(n for key, n in counts.items() if key != "skipped")
    detail = ", ".join(f"{counts[key]} {key}" for key in ("2xx", "3xx", "4xx", "5xx", "errors", "skipped"))
    print(f"traffic: {total} requests in {elapsed:.1f}s ({total / elapsed:.1f}/s) to {len(targets)} target(s): {detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
