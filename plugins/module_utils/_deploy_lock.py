# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The deploy lock: one deploy or rollback at a time, with an owner and a TTL.

The lock is a small JSON file on the bastion, created with an atomic
``link()`` so two runs racing for it cannot both win. Taking over an old
lock is read-then-replace, so it happens under an ``flock`` on a sidecar
``.guard`` file: otherwise a run that judged the old lock could move aside
the lock another run had just taken, and both would think they hold it.
Every take-over (an expired lock, a holder whose controller process is
gone, a deliberate break) is appended to an audit log beside it, naming
who broke what and why.

The lock is a lease: a live run renews it at every step (each batch, each
watch interval), and ``expires_at`` is always measured from the last
renewal. So a run longer than the TTL keeps its lock, and a run that died
anywhere (another controller, a vanished AWX job pod) loses it one TTL
after its last sign of life. Renewing also re-checks ownership: a run
whose lock was taken over learns it before its next switch, and stops.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import tempfile
import typing as t

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)

Clock = t.Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def read_lock(path: str) -> dict[str, t.Any] | None:
    try:
        with open(path, encoding="utf-8") as handle:
            lock = json.load(handle)
        # Everything below judges the lock by its expiry: without a usable one it is corrupt.
        if not isinstance(lock, dict) or not isinstance(lock.get("expires_at"), str):
            raise ValueError("not a deploy lock: no expires_at timestamp")
        if _parse(lock["expires_at"]).tzinfo is None:
            raise ValueError(f"expires_at {lock['expires_at']!r} has no time zone")
        return lock
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        # An unreadable lock is still a lock: refuse rather than guess.
        raise IncidentResponseError(f"Deploy lock {path} exists but cannot be read ({exc}); "
                                    "inspect it, then remove it or break it deliberately") from exc


def describe(lock: t.Mapping[str, t.Any], now: dt.datetime) -> str:
    """One line naming the holder, e.g. for the refusal a second deploy gets."""
    who = lock.get("owner", "someone")
    if lock.get("awx_job_id"):
        who += f" (AWX job {lock['awx_job_id']})"
    left = int((_parse(lock["expires_at"]) - now).total_seconds() // 60)
    return (f"{who} holds the deploy lock for a {lock.get('action', 'deploy')} of {lock.get('version') or '?'}"
            f" since {lock.get('started_at')} from {lock.get('controller', '?')} (pid {lock.get('controller_pid', '?')}),"
            f" run {lock.get('run_id')}; it expires in {max(left, 0)} min")


def expired(lock: t.Mapping[str, t.Any], now: dt.datetime) -> bool:
    return now >= _parse(lock["expires_at"])


def _write_exclusive(path: str, content: dict[str, t.Any]) -> bool:
    """Create ``path`` atomically with ``content``; False when it already exists."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".deploy-lock.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(content, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        os.unlink(tmp)


@contextlib.contextmanager
def _serialized(path: str, check_mode: bool) -> t.Iterator[None]:
    """Hold an exclusive flock on ``path.guard`` while the lock is read, judged and replaced."""
    if check_mode:  # reads only: nothing to protect, and check mode must not create the guard file
        yield
        return
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fd = os.open(path + ".guard", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the flock


def _audit(path: str, event: dict[str, t.Any]) -> None:
    with open(path + ".log", "a", encoding="utf-8") as handle:
        handle.write(json.dumps(event, sort_keys=True) + "\n")


def acquire(
    path: str,
    request: t.Mapping[str, t.Any],
    ttl: int,
    break_lock: bool = False,
    break_reason: str | None = None,
    stale_run_id: str | None = None,
    check_mode: bool = False,
    clock: Clock = utcnow,
) -> dict[str, t.Any]:
    """Take the lock for ``request`` (run_id, owner, action, version, controller...).

    Returns ``changed``, ``lock`` (what is held now), ``broken`` (the lock
    that was taken over, if any), ``warnings``, and on refusal ``held_by``
    with ``failed``. Re-acquiring within the same run changes nothing.
    """
    if ttl <= 0:
        raise IncidentResponseError(f"ttl must be a positive number of seconds, got {ttl}")
    if break_lock and not (break_reason or "").strip():
        raise IncidentResponseError("Breaking the deploy lock deliberately needs a reason (break_reason)")
    now = clock()
    wanted = dict(request)
    wanted.update(started_at=_iso(now), renewed_at=_iso(now), expires_at=_iso(now + dt.timedelta(seconds=ttl)),
                  ttl=ttl)
    result: dict[str, t.Any] = {"changed": False, "broken": None, "warnings": [], "path": path}

    with _serialized(path, check_mode):
        for _attempt in range(3):
            current = read_lock(path)
            if current is None:
                result["changed"] = True
                if check_mode or _write_exclusive(path, wanted):
                    result["lock"] = wanted
                    return result
                continue  # somebody won the race between our read and our link(): look again
            if current.get("run_id") == wanted["run_id"]:
                result["lock"] = current
                return result
            reason = None
            if expired(current, now):
                reason = f"it expired at {current['expires_at']}"
            elif stale_run_id and stale_run_id == current.get("run_id"):
                reason = (f"its controller process {current.get('controller_pid')} on "
                          f"{current.get('controller')} is gone (interrupted run)")
            elif break_lock:
                reason = f"broken deliberately by {wanted.get('owner')}: {break_reason}"
                wanted["broke"] = {"run_id": current.get("run_id"), "owner": current.get("owner"),
                                   "reason": break_reason}
            if reason is None:
                result.update(failed=True, held_by=current,
                              msg=f"Refusing to start: {describe(current, now)}. Wait for it, or break it "
                                  "deliberately with -e deploy_lock_break=true -e deploy_lock_break_reason='...'")
                return result
            result["warnings"].append(f"Took over the deploy lock of run {current.get('run_id')} "
                                      f"({current.get('owner')}, {current.get('action')} "
                                      f"{current.get('version')}): {reason}")
            result["broken"] = dict(current, broken_because=reason)
            if check_mode:
                result.update(changed=True, lock=wanted)
                return result
            # Move the old lock aside atomically; the guard makes this the lock we judged.
            aside = f"{path}.broken.{os.getpid()}"
            try:
                os.rename(path, aside)
            except FileNotFoundError:
                continue
            os.unlink(aside)
            _audit(path, {"event": "broken", "at": _iso(now), "by": wanted.get("owner"), "by_run": wanted["run_id"],
                          "reason": reason, "lock": current})
    raise IncidentResponseError(f"Could not take the deploy lock at {path}: it kept changing under us")


def _replace(path: str, content: dict[str, t.Any]) -> None:
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".deploy-lock.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(content, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def renew(path: str, run_id: str, ttl: int | None = None, check_mode: bool = False,
          clock: Clock = utcnow) -> dict[str, t.Any]:
    """Extend this run's lease by its TTL from now; fail when this run no longer holds the lock."""
    result: dict[str, t.Any] = {"changed": False, "broken": None, "warnings": [], "path": path}
    with _serialized(path, check_mode):
        current = read_lock(path)
        now = clock()
        if current is None:
            result.update(failed=True, lock=None,
                          msg=f"This run ({run_id}) no longer holds the deploy lock: {path} is gone "
                              "(it was taken over and released). Stopping before changing anything else.")
            return result
        if current.get("run_id") != run_id:
            result.update(failed=True, held_by=current, lock=current,
                          msg=f"This run ({run_id}) no longer holds the deploy lock: {describe(current, now)}. "
                              "Stopping before changing anything else.")
            return result
        lease = int(ttl or current.get("ttl") or 0)
        if lease <= 0:
            raise IncidentResponseError(f"ttl must be a positive number of seconds, got {lease}")
        renewed = dict(current, renewed_at=_iso(now), expires_at=_iso(now + dt.timedelta(seconds=lease)), ttl=lease)
        if not check_mode:
            _replace(path, renewed)
        result["lock"] = renewed
    return result


def release(path: str, run_id: str, check_mode: bool = False, clock: Clock = utcnow) -> dict[str, t.Any]:
    """Drop the lock if this run holds it; someone else's lock is left alone, with a warning."""
    result: dict[str, t.Any] = {"changed": False, "broken": None, "warnings": [], "path": path, "lock": None}
    if read_lock(path) is None:
        return result
    # Under the guard, so a take-over between our read and our unlink cannot lose its new lock.
    with _serialized(path, check_mode):
        current = read_lock(path)
        if current is None:
            return result
        if current.get("run_id") != run_id:
            result["lock"] = current
            result["warnings"].append(f"Left the deploy lock alone: {describe(current, clock())}")
            return result
        result["changed"] = True
        if not check_mode:
            os.unlink(path)
    return result
