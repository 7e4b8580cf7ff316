# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""One host's deploy or rollback step, done in one call on the host.

install: unpack the archive into ``releases/<version>.partial-<run>``, run
``make deploy ENV=<env>`` there, and only then rename it to
``releases/<version>``, so an interrupted unpack can never become current.
switch: point ``current`` at a release with one atomic rename of a new
symlink, restart when the link moved or the service runs something else,
and wait until ``/health`` says ok with the expected version.
prune: keep ``keep`` releases, never the live one nor the ones a rollback
would return to, and remove ``.partial`` directories left by dead runs.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import tarfile
import time
import typing as t

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _release_history as history
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._rollout import tail


class StepError(IncidentResponseError):
    """A step failed; ``switched`` says whether ``current`` had already moved."""

    def __init__(self, message: str, switched: bool = False):
        super().__init__(message)
        self.switched = switched


def _run(argv: list[str], what: str, timeout: float) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise IncidentResponseError(f"{what} did not finish within {timeout:g} s") from exc
    except OSError as exc:
        raise IncidentResponseError(f"{what} could not start: {exc}") from exc
    if proc.returncode != 0:
        raise IncidentResponseError(f"{what} failed (exit {proc.returncode}): "
                                    f"{tail(proc.stderr) or tail(proc.stdout) or 'no output'}")
    return proc.stdout


def _safe_members(archive: tarfile.TarFile, dest: str) -> list[tarfile.TarInfo]:
    root = os.path.realpath(dest)
    members = []
    for member in archive.getmembers():
        path = os.path.realpath(os.path.join(dest, member.name))
        if path != root and not path.startswith(root + os.sep):
            raise IncidentResponseError(f"release archive member {member.name!r} would land outside {dest}")
        if member.issym() or member.islnk():
            link = os.path.realpath(os.path.join(os.path.dirname(path), member.linkname))
            if link != root and not link.startswith(root + os.sep):
                raise IncidentResponseError(f"release archive link {member.name!r} points outside the release")
        if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
            raise IncidentResponseError(f"release archive member {member.name!r} is not a file or directory")
        members.append(member)
    return members


def install(app_dir: str, version: str, archive_path: str, run_id: str, environment: str,
            make_timeout: float = 600) -> bool:
    """Make ``releases/<version>`` exist, complete; returns True when it was created now."""
    releases = os.path.join(app_dir, "releases")
    final = os.path.join(releases, version)
    if os.path.isdir(final):
        return False
    if not os.path.isfile(archive_path):
        raise IncidentResponseError(f"release archive {archive_path} is missing on this host")
    os.makedirs(releases, exist_ok=True)
    partial = f"{final}.partial-{run_id}"
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial, mode=0o755)
    try:
        with tarfile.open(archive_path, "r:gz") as archive:
            archive.extractall(partial, members=_safe_members(archive, partial))  # nosec: members checked above
    except (tarfile.TarError, OSError, EOFError) as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise IncidentResponseError(f"unpacking {archive_path} failed: {exc}") from exc
    _run(["make", "-s", "-C", partial, "deploy", f"ENV={environment}"], f"make deploy ENV={environment}",
         make_timeout)
    os.rename(partial, final)
    return True


def point_current(app_dir: str, version: str) -> bool:
    """Point ``current`` at ``releases/<version>`` atomically; True when it moved."""
    target = os.path.join(app_dir, "releases", version)
    if not os.path.isdir(target):
        raise IncidentResponseError(f"release {version} is not on this host ({target} is missing)")
    link = os.path.join(app_dir, "current")
    try:
        if os.readlink(link) == target:
            return False
    except OSError:
        pass
    tmp = f"{link}.next-{os.getpid()}"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, link)
    return True


def read_health(port: int, timeout: float = 3.0) -> tuple[dict[str, t.Any] | None, str | None]:
    """The service's own /health answer on this host, whatever its status code (a 503 body says why).

    Plain HTTP to the loopback only, so http.client and not ansible's open_url: that builds a TLS context
    (the system CA store) on every call, 55 ms each on a lab host, and its import costs 0.16 s more, which
    the gate paid on every sample of every host's step (profiled on the module's own run).
    """
    url = f"http://127.0.0.1:{port}/health"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/health", headers={"Accept": "application/json", "Connection": "close"})
        body = conn.getresponse().read(65536)
    except (OSError, http.client.HTTPException) as exc:
        return None, f"{url}: {exc}"
    finally:
        conn.close()
    try:
        data = json.loads(body)
    except ValueError:
        return None, f"{url} did not answer JSON"
    return (data if isinstance(data, dict) else None), None


def wait_healthy(port: int, version: str, samples: int, timeout: float, delay: float = 0.5,
                 sleep: t.Callable[[float], None] = time.sleep,
                 clock: t.Callable[[], float] = time.monotonic) -> float:
    """Wait for ``samples`` healthy answers in a row naming ``version``; returns the seconds it took."""
    started = clock()
    streak, last = 0, "no answer yet"
    while True:
        data, error = read_health(port)
        if data is not None and data.get("status") == "ok" and data.get("version") == version:
            streak += 1
            if streak >= samples:
                return round(clock() - started, 2)
        else:
            streak = 0
            last = (f"status {data.get('status')!r}, version {data.get('version')!r}" if data is not None
                    else error or "no answer")
        if clock() - started > timeout:
            raise IncidentResponseError(f"health gate: {version} not healthy within {timeout:g} s (last: {last})")
        sleep(delay)


def running_version(port: int) -> str | None:
    data, _error = read_health(port)
    return data.get("version") if data else None


def restart(app_dir: str, timeout: float = 60) -> None:
    _run([os.path.join(app_dir, "current", "bin", "service"), "restart"], "service restart", timeout)


def prune(app_dir: str, keep: int, protect: t.Iterable[str | None], run_id: str,
          artifacts_dir: str | None = None, check_mode: bool = False) -> list[str]:
    """Remove releases beyond ``keep`` (never protected ones), dead runs' .partial dirs and unused archives."""
    kept = history.kept_releases(app_dir)
    protected = {p for p in protect if p}
    doomed = [os.path.join(app_dir, "releases", name) for name in history.prunable(kept, keep, protected)]
    doomed += [os.path.join(app_dir, "releases", name) for name in history.partial_releases(app_dir)
               if not name.endswith(f".partial-{run_id}")]
    if artifacts_dir and os.path.isdir(artifacts_dir):
        remaining = set(kept) - {os.path.basename(d) for d in doomed}
        for name in sorted(os.listdir(artifacts_dir)):
            version = name.split(".tar.gz")[0].split("-")[0] if name.endswith(".tar.gz") else None
            if version and version not in remaining:
                doomed.append(os.path.join(artifacts_dir, name))
    if not check_mode:
        for path in doomed:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            elif os.path.lexists(path):
                os.unlink(path)
    return sorted(doomed)
