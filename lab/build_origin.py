#!/usr/bin/env python3
"""Build the sample service's git origin: python lab/build_origin.py DEST

DEST (for example /var/lib/irlab/origin.git) becomes a bare repository with branch
`main` and the annotated tags in RELEASES, built from lab/sample_service. Everything
that differs between the tags is in RELEASES: how many migrations a release ships,
its VERSION and its release.json faults. Fixed identities and dates make the commit
ids the same on every run; an existing DEST is replaced.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

SOURCE = Path(__file__).resolve().parent / "sample_service"
HEALTHY: dict[str, float | int] = {"error_ratio": 0.0, "extra_latency_ms": 0}


@dataclass(frozen=True)
class Release:
    tag: str
    date: str  # author, committer and tagger date
    last_migration: int  # ships migrations/001..NNN
    message: str
    faults: dict[str, float | int] = field(default_factory=lambda: dict(HEALTHY))


RELEASES = (
    Release("v1.2.2", "2025-10-20T09:00:00+00:00", 1, "Incident list API with Redis cache"),
    Release("v1.2.3", "2025-11-03T09:00:00+00:00", 2, "Index incidents by status"),
    # The bad release: 30 % of /api requests fail and all are 700 ms slower, while
    # /health stays green, which only a watch window after the deploy catches.
    Release("v1.2.4", "2025-11-17T09:00:00+00:00", 3, "Track incident acknowledgement",
            {"error_ratio": 0.3, "extra_latency_ms": 700}),
)


def git(*args: str, cwd: Path, date: str = "2025-10-20T09:00:00+00:00") -> str:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(cwd),  # no user or system config may change the result
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Platform Engineering",
        "GIT_AUTHOR_EMAIL": "platform-engineering@example.com",
        "GIT_COMMITTER_NAME": "Platform Engineering",
        "GIT_COMMITTER_EMAIL": "platform-engineering@example.com",
        "GIT_AUTHOR_DATE": date,
        "GIT_COMMITTER_DATE": date,
    }
    done = subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def fill_tree(work: Path, release: Release) -> None:
    """Make the work tree exactly the sample service as of `release`."""
    for child in work.iterdir():
        if child.name != ".git":
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    shutil.copytree(SOURCE, work, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".deployed-env"))
    for migration in (work / "migrations").glob("*.sql"):
        if int(migration.name[:3]) > release.last_migration:
            migration.unlink()
    (work / "VERSION").write_text(release.tag + "\n")
    (work / "release.json").write_text(json.dumps(release.faults) + "\n")
    for path in work.rglob("*"):  # git records only these two modes
        if path.is_file() and ".git" not in path.parts:
            path.chmod(0o755 if path.parent.name == "bin" else 0o644)


def build(dest: Path) -> dict[str, str]:
    """Build the bare repository at dest; return tag -> commit id."""
    dest = dest.resolve()
    dest.parent.mkdir(parents=True, exist_ok=True)
    commits: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="origin-", dir=dest.parent) as tmp:
        work, bare = Path(tmp, "work"), Path(tmp, "origin.git")
        work.mkdir()
        git("init", "--quiet", "--initial-branch=main", cwd=work)
        for release in RELEASES:
            fill_tree(work, release)
            git("add", "--all", cwd=work)
            git("commit", "--quiet", "--no-gpg-sign", "-m", release.message, cwd=work, date=release.date)
            git("tag", "--annotate", "--no-sign", "-m", f"Release {release.tag}", release.tag,
                cwd=work, date=release.date)
            commits[release.tag] = git("rev-parse", "HEAD", cwd=work)
        git("init", "--quiet", "--bare", "--initial-branch=main", str(bare), cwd=Path(tmp))
        git("push", "--quiet", str(bare), "refs/heads/main", "refs/tags/*", cwd=work)
        # Swap in the finished repository, so DEST is never half built.
        if dest.exists():
            shutil.rmtree(dest)
        bare.rename(dest)
    return commits


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path, help="path of the bare repository to (re)create")
    args = parser.parse_args()
    try:
        commits = build(args.dest)
    except subprocess.CalledProcessError as exc:
        print(f"build_origin: {' '.join(exc.cmd)} failed: {exc.stderr.strip()}", file=sys.stderr)
        return 1
    for tag, commit in commits.items():
        print(f"{tag} {commit}")
    print(f"origin ready at {args.dest.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
