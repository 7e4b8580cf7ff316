# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Bounded concurrent fan-out with a per-target deadline.

Every inspection module probes many targets in one call. Each probe runs in
a bounded thread pool; a probe that raises or overruns its deadline becomes
an ``error`` entry for that target instead of failing the whole call, so one
dead endpoint never hides the verdict on the others.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import time
import typing as t

T = t.TypeVar("T")
R = t.TypeVar("R")


@dataclasses.dataclass
class Outcome(t.Generic[T, R]):
    item: T
    result: R | None = None
    error: str | None = None
    elapsed_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


def describe_error(exc: BaseException) -> str:
    """A one-line, secret-free description: the exception class and message."""
    text = str(exc).strip() or repr(exc)
    return f"{type(exc).__name__}: {text}"


def fan_out(
    func: t.Callable[[T], R],
    items: t.Sequence[T],
    max_workers: int = 16,
    timeout: float | None = None,
) -> list[Outcome[T, R]]:
    """Run ``func`` on every item with at most ``max_workers`` at a time.

    Results come back in the order of ``items``. ``timeout`` is the deadline
    for each item, counted from when its work starts; the probes themselves
    should also set socket timeouts, because a Python thread cannot be
    killed: an overrun is reported, and its thread is left to finish.
    """
    if not items:
        return []
    workers = max(1, min(max_workers, len(items)))
    outcomes: list[Outcome[T, R]] = [Outcome(item) for item in items]
    started: dict[int, float] = {}

    def run(index: int) -> R:
        started[index] = time.monotonic()
        return func(items[index])

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers)
    try:
        futures = {pool.submit(run, i): i for i in range(len(items))}
        pending = set(futures)
        while pending:
            done, pending = concurrent.futures.wait(
                pending, timeout=0.05, return_when=concurrent.futures.FIRST_COMPLETED
            )
            now = time.monotonic()
            for future in done:
                index = futures[future]
                outcome = outcomes[index]
                outcome.elapsed_ms = (now - started.get(index, now)) * 1000.0
                try:
                    outcome.result = future.result()
                except Exception as exc:  # noqa: BLE001 - whatever a call raised is its outcome  # pylint: disable=broad-except
                    outcome.error = describe_error(exc)
            if timeout is None:
                continue
            for future in list(pending):
                index = futures[future]
                begun = started.get(index)
                if begun is not None and now - begun > timeout:
                    pending.discard(future)
                    future.cancel()
                    outcomes[index].error = f"TimeoutError: no answer within {timeout:g} s"
                    outcomes[index].elapsed_ms = (now - begun) * 1000.0
    finally:
        # Do not wait for overrun threads: their sockets time out on their own.
        pool.shutdown(wait=False, cancel_futures=True)
    return outcomes
