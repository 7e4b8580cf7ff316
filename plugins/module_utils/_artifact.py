# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Release archives on the bastion, exact: keyed by the commit the tag points to, built atomically.

A release tag must never move. The first build of a version records the
commit its tag pointed to; a later run that finds the tag on another commit
is refused with both commits named, instead of shipping different code
under the same version. An archive is written to a temporary name and
renamed, so a run killed mid-build never leaves a truncated archive that a
later run would trust.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
import typing as t

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._rollout import tail


def git(*args: str, cwd: str | None = None, timeout: float = 300) -> str:
    argv = ["git", *args]
    verb = args[2] if args[:1] == ("-C",) and len(args) > 2 else args[0]
    try:
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False,
                              env=dict(os.environ, GIT_TERMINAL_PROMPT="0"))
    except subprocess.TimeoutExpired as exc:
        raise IncidentResponseError(f"git {verb} did not finish within {timeout:g} s") from exc
    if proc.returncode != 0:
        raise IncidentResponseError(f"git {verb} failed (exit {proc.returncode}): {tail(proc.stderr) or 'no output'}")
    return proc.stdout


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_tag(checkout: str, origin: str, version: str) -> str:
    """Fetch ``version`` from ``origin`` into ``checkout`` (cloning it first if needed); return its commit."""
    if not os.path.isdir(os.path.join(checkout, ".git")):
        os.makedirs(checkout, exist_ok=True)
        git("init", "-q", "--", checkout)
    fetched = f"refs/incident-response/fetched/{version}"
    git("-C", checkout, "fetch", "-q", "--no-tags", "--", origin, f"+refs/tags/{version}:{fetched}")
    return git("-C", checkout, "rev-parse", "--verify", f"{fetched}^{{commit}}").strip()


def check_not_moved(record_path: str, version: str, commit: str) -> dict[str, t.Any] | None:
    """Refuse a tag that points somewhere else than when it was first built here."""
    try:
        with open(record_path, encoding="utf-8") as handle:
            known = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise IncidentResponseError(f"the build record {record_path} cannot be read: {exc}") from exc
    if known.get("commit") != commit:
        raise IncidentResponseError(
            f"tag {version} moved: it pointed at {known.get('commit')} when it was first built here "
            f"({known.get('built_at', '?')}), and now points at {commit}. A release tag must not move: "
            "publish a new version instead")
    return known


def build(checkout: str, artifacts: str, version: str, commit: str, built_at: str) -> dict[str, t.Any]:
    """Build (or reuse) ``<artifacts>/<version>-<commit12>.tar.gz`` for ``commit``; atomic."""
    os.makedirs(artifacts, mode=0o750, exist_ok=True)
    record_path = os.path.join(artifacts, f"{version}.build.json")
    check_not_moved(record_path, version, commit)
    name = f"{version}-{commit[:12]}.tar.gz"
    path = os.path.join(artifacts, name)
    built = False
    if not os.path.isfile(path):
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=artifacts)
        os.close(fd)
        try:
            git("-C", checkout, "archive", "--format=tar.gz", f"--output={tmp}", commit)
            os.chmod(tmp, 0o640)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        built = True
    digest = sha256(path)
    record = {"version": version, "commit": commit, "archive": name, "sha256": digest, "built_at": built_at}
    if built or not os.path.exists(record_path):
        fd, tmp = tempfile.mkstemp(prefix=f".{version}.build.", dir=artifacts)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(record, handle, indent=2, sort_keys=True)
        os.replace(tmp, record_path)
    return dict(record, path=path, built=built)


def checkout_commit(checkout: str, commit: str) -> bool:
    """Put the bastion's working tree on ``commit`` (migrations run from it); True when it moved."""
    head = git("-C", checkout, "rev-parse", "--verify", "-q", "HEAD^{commit}").strip() if _has_head(checkout) else ""
    if head == commit:
        return False
    git("-C", checkout, "checkout", "-q", "--detach", commit)
    return True


def _has_head(checkout: str) -> bool:
    try:
        git("-C", checkout, "rev-parse", "--verify", "-q", "HEAD")
    except IncidentResponseError:
        return False
    return True


def prune(artifacts: str, keep: int, protect: t.Iterable[str]) -> list[str]:
    """Remove archives of all but the ``keep`` newest versions (never a protected one); build records stay.

    The records are tiny and are what detects a moved tag, so they are kept for good.
    """
    if keep < 1:
        return []
    try:
        names = [n for n in os.listdir(artifacts) if n.endswith(".tar.gz") and not n.startswith(".")]
    except FileNotFoundError:
        return []
    newest: dict[str, float] = {}
    for name in names:
        version = name.split("-", 1)[0].removesuffix(".tar.gz")
        newest[version] = max(newest.get(version, 0.0), os.stat(os.path.join(artifacts, name)).st_mtime)
    ranked = sorted(newest, key=lambda v: newest[v], reverse=True)
    keep_versions = set(ranked[:keep]) | set(protect)
    doomed = sorted(os.path.join(artifacts, n) for n in names
                    if n.split("-", 1)[0].removesuffix(".tar.gz") not in keep_versions)
    for path in doomed:
        os.unlink(path)
    return doomed
