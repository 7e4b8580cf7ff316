# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The deploy lock on a real file system (tmp_path) with an injected clock, and real races
between threads and processes."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import threading
import typing as t
from pathlib import Path

import pytest

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _deploy_lock
from ansible_collections.platform_eng.incident_response.plugins.module_utils._deploy_lock import acquire, release
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import IncidentResponseError

START = dt.datetime(2026, 11, 27, 10, 30, tzinfo=dt.timezone.utc)
TTL = 3600


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: dt.datetime = START) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def request(run_id: str = "run-alice", owner: str = "alice", **extra: t.Any) -> dict[str, t.Any]:
    """What the action plugin sends for one run."""
    return {
        "run_id": run_id,
        "owner": owner,
        "action": "deploy",
        "version": "v1.2.3",
        "awx_job_id": "42",
        "controller": "ops-laptop",
        "controller_pid": 4242,
        **extra,
    }


BOB = request("run-bob", "bob", version="v1.2.4", awx_job_id=None, controller="bob-laptop", controller_pid=1111)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def lock_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "deploy.lock"


def on_disk(path: Path) -> dict[str, t.Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def audit_lines(path: Path) -> list[dict[str, t.Any]]:
    log = Path(f"{path}.log")
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] if log.exists() else []


def held_by_alice(path: Path, clock: Clock) -> dict[str, t.Any]:
    result = acquire(str(path), request(), TTL, clock=clock)
    assert result["changed"] and not result.get("failed")
    return on_disk(path)


# --- Taking the lock ------------------------------------------------------------------------


def test_acquire_creates_the_lock_naming_owner_run_version_and_expiry(lock_path: Path, clock: Clock) -> None:
    result = acquire(str(lock_path), request(), TTL, clock=clock)

    assert result["changed"] is True
    assert not result.get("failed")
    assert result["broken"] is None and result["warnings"] == []
    lock = on_disk(lock_path)
    assert lock == result["lock"]
    assert lock["owner"] == "alice"
    assert lock["run_id"] == "run-alice"
    assert lock["version"] == "v1.2.3"
    assert lock["awx_job_id"] == "42"
    assert lock["controller"] == "ops-laptop" and lock["controller_pid"] == 4242
    assert lock["started_at"] == "2026-11-27T10:30:00Z"
    assert lock["expires_at"] == "2026-11-27T11:30:00Z"
    assert lock["ttl"] == TTL


def test_acquire_leaves_no_temporary_files_beside_the_lock(lock_path: Path, clock: Clock) -> None:
    acquire(str(lock_path), request(), TTL, clock=clock)

    assert not [p.name for p in lock_path.parent.iterdir() if p.name.startswith(".deploy-lock.")]


def test_the_same_run_acquiring_again_changes_nothing(lock_path: Path, clock: Clock) -> None:
    first = held_by_alice(lock_path, clock)
    clock.advance(minutes=5)

    again = acquire(str(lock_path), request(), TTL, clock=clock)

    assert again["changed"] is False
    assert not again.get("failed")
    assert again["lock"] == first
    assert on_disk(lock_path) == first


def test_a_second_run_is_refused_with_a_message_naming_the_holder(lock_path: Path, clock: Clock) -> None:
    held = held_by_alice(lock_path, clock)
    clock.advance(minutes=10)

    result = acquire(str(lock_path), BOB, TTL, clock=clock)

    assert result["failed"] is True
    assert result["changed"] is False
    assert result["held_by"] == held
    msg = result["msg"]
    for detail in ("alice", "AWX job 42", "v1.2.3", "ops-laptop", "pid 4242", "run-alice", "expires in 50 min"):
        assert detail in msg, detail
    assert "deploy_lock_break" in msg  # tells the engineer how to break it on purpose
    assert on_disk(lock_path) == held
    assert audit_lines(lock_path) == []


def test_a_refusal_one_second_before_expiry_says_zero_minutes_left(lock_path: Path, clock: Clock) -> None:
    held_by_alice(lock_path, clock)
    clock.advance(seconds=TTL - 1)

    result = acquire(str(lock_path), BOB, TTL, clock=clock)

    assert result["failed"] is True
    assert "expires in 0 min" in result["msg"]


@pytest.mark.parametrize("ttl", [0, -60])
def test_a_ttl_that_is_not_positive_is_refused(lock_path: Path, clock: Clock, ttl: int) -> None:
    with pytest.raises(IncidentResponseError, match="ttl must be a positive"):
        acquire(str(lock_path), request(), ttl, clock=clock)
    assert not lock_path.exists()


# --- Taking over ----------------------------------------------------------------------------


def test_an_expired_lock_is_taken_over_with_a_warning_and_an_audit_line(lock_path: Path, clock: Clock) -> None:
    held = held_by_alice(lock_path, clock)
    clock.advance(seconds=TTL)  # expiry is inclusive: at expires_at the lock is abandoned

    result = acquire(str(lock_path), BOB, TTL, clock=clock)

    assert result["changed"] is True and not result.get("failed")
    assert on_disk(lock_path)["run_id"] == "run-bob"
    assert result["broken"]["run_id"] == "run-alice"
    assert "expired at 2026-11-27T11:30:00Z" in result["broken"]["broken_because"]
    assert len(result["warnings"]) == 1
    assert "run-alice" in result["warnings"][0] and "expired" in result["warnings"][0]
    [line] = audit_lines(lock_path)
    assert line["event"] == "broken"
    assert line["by"] == "bob" and line["by_run"] == "run-bob"
    assert "expired" in line["reason"]
    assert line["lock"] == held
    assert line["at"] == "2026-11-27T11:30:00Z"


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_breaking_the_lock_without_a_reason_is_refused(lock_path: Path, clock: Clock, reason: str | None) -> None:
    held = held_by_alice(lock_path, clock)

    with pytest.raises(IncidentResponseError, match="needs a reason"):
        acquire(str(lock_path), BOB, TTL, break_lock=True, break_reason=reason, clock=clock)

    assert on_disk(lock_path) == held
    assert audit_lines(lock_path) == []


def test_breaking_the_lock_with_a_reason_takes_over_and_the_audit_log_says_who_and_why(
    lock_path: Path, clock: Clock
) -> None:
    held = held_by_alice(lock_path, clock)
    why = "CHG-1234: alice's session died mid-deploy"

    result = acquire(str(lock_path), BOB, TTL, break_lock=True, break_reason=why, clock=clock)

    assert result["changed"] is True and not result.get("failed")
    assert on_disk(lock_path)["run_id"] == "run-bob"
    assert result["broken"]["run_id"] == "run-alice"
    assert "run-alice" in result["warnings"][0]
    [line] = audit_lines(lock_path)
    assert line["by"] == "bob"
    assert line["by_run"] == "run-bob"
    assert why in line["reason"] and "bob" in line["reason"]
    assert line["lock"] == held


def test_a_stale_run_id_matching_the_holder_takes_the_lock_over(lock_path: Path, clock: Clock) -> None:
    held_by_alice(lock_path, clock)

    result = acquire(str(lock_path), BOB, TTL, stale_run_id="run-alice", clock=clock)

    assert result["changed"] is True and not result.get("failed")
    assert on_disk(lock_path)["run_id"] == "run-bob"
    assert "4242" in result["broken"]["broken_because"] and "is gone" in result["broken"]["broken_because"]
    [line] = audit_lines(lock_path)
    assert line["by_run"] == "run-bob" and "is gone" in line["reason"]


def test_a_stale_run_id_naming_another_run_does_not_take_the_lock_over(lock_path: Path, clock: Clock) -> None:
    held = held_by_alice(lock_path, clock)

    result = acquire(str(lock_path), BOB, TTL, stale_run_id="run-somebody-else", clock=clock)

    assert result["failed"] is True
    assert on_disk(lock_path) == held
    assert audit_lines(lock_path) == []


# --- Check mode writes nothing ----------------------------------------------------------------


def test_check_mode_reports_the_lock_it_would_take_but_writes_nothing(lock_path: Path, clock: Clock) -> None:
    result = acquire(str(lock_path), request(), TTL, check_mode=True, clock=clock)

    assert result["changed"] is True
    assert result["lock"]["run_id"] == "run-alice"
    assert not lock_path.exists()
    assert not lock_path.parent.exists()


@pytest.mark.parametrize(
    "how",
    [
        pytest.param(dict(advance=TTL + 1), id="expired"),
        pytest.param(dict(break_lock=True, break_reason="CHG-1"), id="broken-deliberately"),
        pytest.param(dict(stale_run_id="run-alice"), id="stale-holder"),
    ],
)
def test_check_mode_leaves_a_held_lock_untouched(lock_path: Path, clock: Clock, how: dict[str, t.Any]) -> None:
    held_by_alice(lock_path, clock)
    before = lock_path.read_bytes()
    clock.advance(seconds=how.pop("advance", 0))

    result = acquire(str(lock_path), BOB, TTL, check_mode=True, clock=clock, **how)

    assert result["changed"] is True
    assert result["broken"]["run_id"] == "run-alice"
    assert lock_path.read_bytes() == before
    assert audit_lines(lock_path) == []


# --- Releasing ----------------------------------------------------------------------------------


def test_release_by_the_holder_removes_the_lock(lock_path: Path, clock: Clock) -> None:
    held_by_alice(lock_path, clock)

    result = release(str(lock_path), "run-alice", clock=clock)

    assert result["changed"] is True
    assert result["warnings"] == []
    assert not lock_path.exists()
    # The next deploy gets it at once.
    assert not acquire(str(lock_path), BOB, TTL, clock=clock).get("failed")


def test_release_by_another_run_leaves_the_lock_with_a_warning(lock_path: Path, clock: Clock) -> None:
    held = held_by_alice(lock_path, clock)

    result = release(str(lock_path), "run-bob", clock=clock)

    assert result["changed"] is False
    assert result["lock"] == held
    assert on_disk(lock_path) == held
    assert len(result["warnings"]) == 1
    assert "Left the deploy lock alone" in result["warnings"][0] and "alice" in result["warnings"][0]


def test_release_without_a_lock_changes_nothing(lock_path: Path, clock: Clock) -> None:
    result = release(str(lock_path), "run-alice", clock=clock)

    assert result["changed"] is False and result["lock"] is None and result["warnings"] == []


def test_release_in_check_mode_keeps_the_lock(lock_path: Path, clock: Clock) -> None:
    held = held_by_alice(lock_path, clock)

    result = release(str(lock_path), "run-alice", check_mode=True, clock=clock)

    assert result["changed"] is True
    assert on_disk(lock_path) == held


# --- A lock that cannot be read is still a lock ---------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("{ half a lock", id="truncated-json"),
        pytest.param("", id="empty-file"),
        pytest.param("[]", id="json-list"),
        pytest.param('"run-alice"', id="json-string"),
        pytest.param("{}", id="no-expiry"),
        pytest.param('{"run_id": "run-alice", "expires_at": "soon"}', id="unparsable-expiry"),
        pytest.param('{"run_id": "run-alice", "expires_at": 1700000000}', id="numeric-expiry"),
        pytest.param('{"run_id": "run-alice", "expires_at": "2026-11-27T11:30:00"}', id="expiry-without-timezone"),
    ],
)
def test_a_corrupt_lock_refuses_with_a_clear_message(lock_path: Path, clock: Clock, content: str) -> None:
    lock_path.parent.mkdir(parents=True)
    lock_path.write_text(content, encoding="utf-8")

    with pytest.raises(IncidentResponseError) as caught:
        acquire(str(lock_path), BOB, TTL, clock=clock)

    message = str(caught.value)
    assert str(lock_path) in message and "cannot be read" in message
    assert lock_path.read_text(encoding="utf-8") == content
    with pytest.raises(IncidentResponseError, match="cannot be read"):
        release(str(lock_path), "run-bob", clock=clock)
    assert lock_path.read_text(encoding="utf-8") == content


def test_a_lock_path_that_cannot_be_opened_refuses_with_a_clear_message(lock_path: Path, clock: Clock) -> None:
    lock_path.mkdir(parents=True)  # root reads any file, but nobody reads a directory as JSON

    with pytest.raises(IncidentResponseError, match="exists but cannot be read"):
        acquire(str(lock_path), BOB, TTL, clock=clock)


# --- Races ------------------------------------------------------------------------------------------

RACERS = 8


def _race_in_threads(path: Path, clock: Clock) -> list[dict[str, t.Any]]:
    barrier = threading.Barrier(RACERS)
    results: list[dict[str, t.Any]] = [{} for _racer in range(RACERS)]

    def racer(index: int) -> None:
        barrier.wait()
        try:
            results[index] = acquire(str(path), request(f"run-{index}", f"user-{index}"), TTL, clock=clock)
        except Exception as exc:  # noqa: BLE001 - the racer's outcome, asserted on  # pylint: disable=broad-except
            results[index] = {"error": repr(exc)}

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def _winners(results: list[dict[str, t.Any]]) -> list[str]:
    assert [r for r in results if "error" in r] == []
    return [r["lock"]["run_id"] for r in results if not r.get("failed")]


def test_threads_racing_for_a_free_lock_leave_exactly_one_winner(lock_path: Path, clock: Clock) -> None:
    results = _race_in_threads(lock_path, clock)

    [winner] = _winners(results)
    assert on_disk(lock_path)["run_id"] == winner
    losers = [r for r in results if r.get("failed")]
    assert len(losers) == RACERS - 1
    assert all(winner in r["msg"] for r in losers)


def test_threads_racing_for_an_expired_lock_leave_exactly_one_winner(lock_path: Path, clock: Clock) -> None:
    held_by_alice(lock_path, clock)
    clock.advance(seconds=TTL + 1)

    results = _race_in_threads(lock_path, clock)

    [winner] = _winners(results)
    assert on_disk(lock_path)["run_id"] == winner
    assert [line["by_run"] for line in audit_lines(lock_path)] == [winner]


def _process_racer(path: str, index: int, barrier: t.Any, answers: t.Any) -> None:
    barrier.wait()
    try:
        result = acquire(path, request(f"proc-{index}", f"user-{index}"), TTL)
        answers.put({"run_id": f"proc-{index}", "failed": bool(result.get("failed"))})
    except Exception as exc:  # noqa: BLE001 - the racer's outcome, asserted on  # pylint: disable=broad-except
        answers.put({"run_id": f"proc-{index}", "error": repr(exc)})


def test_processes_racing_for_an_expired_lock_leave_exactly_one_winner(lock_path: Path) -> None:
    # Separate processes, as two ansible-playbook runs would be; the real clock, an old lock.
    held_by_alice(lock_path, Clock(dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)))
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(RACERS)
    answers = context.Queue()
    procs = [context.Process(target=_process_racer, args=(str(lock_path), i, barrier, answers)) for i in range(RACERS)]
    for proc in procs:
        proc.start()
    results = [answers.get(timeout=30) for _proc in procs]
    for proc in procs:
        proc.join(timeout=30)

    assert [r for r in results if "error" in r] == []
    winners = [r["run_id"] for r in results if not r["failed"]]
    assert len(winners) == 1
    assert on_disk(lock_path)["run_id"] == winners[0]
    assert [line["by_run"] for line in audit_lines(lock_path)] == winners


def test_a_run_that_judged_the_old_lock_never_breaks_the_lock_another_run_just_took(
    lock_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bob reads the expired lock; before he acts on it, Carol takes it over. Bob must not
    then move Carol's fresh lock aside: two runs would both believe they hold the lock."""
    held_by_alice(lock_path, clock)
    clock.advance(seconds=TTL + 1)
    real_read = _deploy_lock.read_lock
    carol_result: dict[str, t.Any] = {}
    carol = threading.Thread(
        target=lambda: carol_result.update(acquire(str(lock_path), request("run-carol", "carol"), TTL, clock=clock))
    )

    def read_then_let_carol_in(path: str) -> dict[str, t.Any] | None:
        lock = real_read(path)
        if threading.current_thread() is not carol and not carol.is_alive() and not carol_result:
            carol.start()
            carol.join(timeout=1.0)  # Carol either finishes now or waits for Bob
        return lock

    monkeypatch.setattr(_deploy_lock, "read_lock", read_then_let_carol_in)
    bob_result = acquire(str(lock_path), BOB, TTL, clock=clock)
    carol.join(timeout=30)

    winners = [r["lock"]["run_id"] for r in (bob_result, carol_result) if not r.get("failed")]
    assert len(winners) == 1, (bob_result, carol_result)
    assert on_disk(lock_path)["run_id"] == winners[0]


# --- The lease --------------------------------------------------------------------------------

from ansible_collections.platform_eng.incident_response.plugins.module_utils._deploy_lock import renew  # noqa: E402


def test_renewing_moves_the_expiry_from_now_and_keeps_the_start(lock_path: Path, clock: Clock) -> None:
    taken = held_by_alice(lock_path, clock)
    clock.advance(minutes=50)
    result = renew(str(lock_path), "run-alice", 600, clock=clock)
    assert not result.get("failed")
    lock = on_disk(lock_path)
    assert lock["started_at"] == taken["started_at"] == "2026-11-27T10:30:00Z"
    assert lock["renewed_at"] == "2026-11-27T11:20:00Z" and lock["expires_at"] == "2026-11-27T11:30:00Z"


def test_a_renewed_lock_is_not_taken_over_past_its_original_ttl(lock_path: Path, clock: Clock) -> None:
    held_by_alice(lock_path, clock)
    clock.advance(seconds=TTL - 1)
    renew(str(lock_path), "run-alice", TTL, clock=clock)
    clock.advance(seconds=TTL - 1)  # two TTLs after the start, one second before the lease ends
    assert acquire(str(lock_path), BOB, TTL, clock=clock).get("failed")
    clock.advance(seconds=1)  # expiry is measured from the last renewal
    taken = acquire(str(lock_path), BOB, TTL, clock=clock)
    assert not taken.get("failed") and taken["broken"]["run_id"] == "run-alice"


def test_renewing_a_lock_another_run_took_over_fails_naming_it(lock_path: Path, clock: Clock) -> None:
    held_by_alice(lock_path, clock)
    clock.advance(seconds=TTL)
    acquire(str(lock_path), BOB, TTL, clock=clock)
    result = renew(str(lock_path), "run-alice", TTL, clock=clock)
    assert result["failed"] and "no longer holds the deploy lock" in result["msg"] and "bob" in result["msg"]
    assert on_disk(lock_path)["run_id"] == "run-bob"


def test_renewing_a_lock_that_is_gone_fails(lock_path: Path, clock: Clock) -> None:
    result = renew(str(lock_path), "run-alice", TTL, clock=clock)
    assert result["failed"] and "is gone" in result["msg"]


def test_renewing_in_check_mode_writes_nothing(lock_path: Path, clock: Clock) -> None:
    before = held_by_alice(lock_path, clock)
    clock.advance(minutes=5)
    assert not renew(str(lock_path), "run-alice", TTL, check_mode=True, clock=clock).get("failed")
    assert on_disk(lock_path) == before


def test_a_deliberate_break_is_recorded_in_the_new_lock(lock_path: Path, clock: Clock) -> None:
    held_by_alice(lock_path, clock)
    acquire(str(lock_path), BOB, TTL, break_lock=True, break_reason="CHG-7: alice's laptop died", clock=clock)
    assert on_disk(lock_path)["broke"] == {"run_id": "run-alice", "owner": "alice", "reason": "CHG-7: alice's laptop died"}
