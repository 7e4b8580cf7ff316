# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection as a consumer gets it: the tarball ansible-galaxy builds, installed into an empty path."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from consumer import BIN, REPO, Installed


@pytest.fixture(scope="session")
def tarball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("collection")
    done = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(out), str(REPO)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = out.glob("platform_eng-incident_response-*.tar.gz")
    return built


@pytest.fixture(scope="session")
def installed(tarball: Path, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("consumer")
    path, workdir = root / "collections", root / "work"
    workdir.mkdir()
    (workdir / "ansible.cfg").write_text("[defaults]\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    # Only the temp path: not the repository's .collections link, not ~/.ansible/collections (a copy there
    # would make ansible-galaxy skip the install). awx.awx, the one dependency, comes with the ansible package.
    env.update(ANSIBLE_CONFIG=str(workdir / "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=str(path), ANSIBLE_NOCOLOR="1",
               PATH=f"{BIN}:{env.get('PATH', '')}")
    consumer = Installed(path, workdir, env)
    done = consumer.run("ansible-galaxy", "collection", "install", "--offline", "--force", "-p", str(path),
                        str(tarball))
    assert done.returncode == 0, done.stdout + done.stderr
    assert (consumer.collection / "MANIFEST.json").is_file(), done.stdout
    return consumer
