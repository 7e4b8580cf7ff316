# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Release archives keyed by commit, built atomically; a moved tag is refused (real git, in a temp dir)."""

from __future__ import annotations

import subprocess
import tarfile

import pytest

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _artifact as artifact
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import IncidentResponseError


def sh(*argv, cwd):
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True)


@pytest.fixture()
def origin(tmp_path):
    repo = tmp_path / "origin"
    repo.mkdir()
    sh("git", "init", "-q", cwd=repo)
    sh("git", "config", "user.email", "t@example.com", cwd=repo)
    sh("git", "config", "user.name", "t", cwd=repo)
    (repo / "VERSION").write_text("v1.2.3\n")
    sh("git", "add", ".", cwd=repo)
    sh("git", "commit", "-qm", "v1.2.3", cwd=repo)
    sh("git", "tag", "v1.2.3", cwd=repo)
    return repo


def test_builds_an_archive_named_by_commit(origin, tmp_path):
    checkout, artifacts = tmp_path / "checkout", tmp_path / "artifacts"
    commit = artifact.fetch_tag(str(checkout), str(origin), "v1.2.3")
    built = artifact.build(str(checkout), str(artifacts), "v1.2.3", commit, "2026-11-29T00:00:00Z")
    assert built["built"] and built["archive"] == f"v1.2.3-{commit[:12]}.tar.gz"
    with tarfile.open(built["path"]) as tar:
        assert "VERSION" in tar.getnames()
    assert [p.name for p in artifacts.iterdir() if p.name.startswith(".")] == []
    again = artifact.build(str(checkout), str(artifacts), "v1.2.3", commit, "later")
    assert not again["built"] and again["sha256"] == built["sha256"]
    assert artifact.checkout_commit(str(checkout), commit) is True
    assert artifact.checkout_commit(str(checkout), commit) is False


def test_a_moved_tag_is_refused_naming_both_commits(origin, tmp_path):
    checkout, artifacts = tmp_path / "checkout", tmp_path / "artifacts"
    first = artifact.fetch_tag(str(checkout), str(origin), "v1.2.3")
    artifact.build(str(checkout), str(artifacts), "v1.2.3", first, "then")
    (origin / "VERSION").write_text("something else\n")
    sh("git", "commit", "-qam", "moved", cwd=origin)
    sh("git", "tag", "-f", "v1.2.3", cwd=origin)
    moved = artifact.fetch_tag(str(checkout), str(origin), "v1.2.3")
    assert moved != first
    with pytest.raises(IncidentResponseError, match=rf"tag v1.2.3 moved: it pointed at {first} .* now points at {moved}"):
        artifact.build(str(checkout), str(artifacts), "v1.2.3", moved, "now")
    assert len(list(artifacts.glob("*.tar.gz"))) == 1


def test_missing_tag_names_the_git_error(origin, tmp_path):
    with pytest.raises(IncidentResponseError, match="git fetch failed"):
        artifact.fetch_tag(str(tmp_path / "checkout"), str(origin), "v9.9.9")


def test_unreadable_origin_is_a_clear_error(tmp_path):
    with pytest.raises(IncidentResponseError, match="git fetch failed"):
        artifact.fetch_tag(str(tmp_path / "checkout"), str(tmp_path / "nowhere"), "v1.2.3")


def test_prune_keeps_the_newest_versions_and_every_build_record(tmp_path):
    import os

    for age, name in enumerate(["v1.0.0-aaa.tar.gz", "v1.1.0-bbb.tar.gz", "v1.2.0-ccc.tar.gz", "v1.2.0.build.json"]):
        (tmp_path / name).write_text("x")
        os.utime(tmp_path / name, (1000 + age, 1000 + age))
    removed = artifact.prune(str(tmp_path), 1, protect=["v1.0.0"])
    assert [os.path.basename(p) for p in removed] == ["v1.1.0-bbb.tar.gz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v1.0.0-aaa.tar.gz", "v1.2.0-ccc.tar.gz", "v1.2.0.build.json"]
    assert artifact.prune(str(tmp_path), 0, protect=[]) == []
