# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""_fanout: results in order, errors and overruns per target, the deadline counted from each target's start."""

from __future__ import annotations

import threading
import time

from ansible_collections.platform_eng.incident_response.plugins.module_utils._fanout import describe_error, fan_out


def test_results_come_back_in_the_order_of_the_items() -> None:
    outcomes = fan_out(lambda n: n * 2, [3, 1, 2], max_workers=3)
    assert [(o.item, o.result, o.ok) for o in outcomes] == [(3, 6, True), (1, 2, True), (2, 4, True)]
    assert fan_out(lambda n: n, []) == []


def test_a_probe_that_raises_is_an_error_for_that_target_only() -> None:
    def probe(n: int) -> int:
        if n == 2:
            raise ConnectionRefusedError("[Errno 111] Connection refused")
        return n

    outcomes = fan_out(probe, [1, 2, 3])
    assert [o.ok for o in outcomes] == [True, False, True]
    assert outcomes[1].error == "ConnectionRefusedError: [Errno 111] Connection refused" and outcomes[1].result is None


def test_a_probe_that_overruns_its_deadline_is_reported_and_does_not_hold_the_others() -> None:
    release = threading.Event()

    def probe(n: int) -> int:
        if n == 0:
            release.wait(5)  # stuck, like a socket without a timeout
        return n

    started = time.monotonic()
    outcomes = fan_out(probe, [0, 1, 2], max_workers=3, timeout=0.3)
    took = time.monotonic() - started
    release.set()
    assert outcomes[0].error == "TimeoutError: no answer within 0.3 s" and outcomes[0].elapsed_ms >= 300
    assert [o.result for o in outcomes[1:]] == [1, 2]
    assert took < 2, "the call waits for the deadline, not for the stuck probe"


def test_the_deadline_counts_from_when_a_targets_work_starts_not_from_the_call() -> None:
    # One worker: the second item waits for the first, then gets its own full deadline.
    outcomes = fan_out(lambda n: time.sleep(0.2) or n, [1, 2], max_workers=1, timeout=0.35)
    assert [o.result for o in outcomes] == [1, 2] and all(o.ok for o in outcomes)


def test_describe_error_names_the_class_and_message_or_the_repr() -> None:
    assert describe_error(ValueError("bad value")) == "ValueError: bad value"
    assert describe_error(TimeoutError()) == "TimeoutError: TimeoutError()"
