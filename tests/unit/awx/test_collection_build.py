# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection tarball and the execution environment build context, built offline."""

from __future__ import annotations

import re
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

from consumer import BIN, REPO

LAB_SECRET = re.compile(r"^\s*(smtp_)?password:\s*(\S+)", re.MULTILINE)


def lab_passwords() -> set[str]:
    found = set()
    for path in (REPO / "inventories" / "lab").rglob("*.yml"):
        found |= {m.group(2).strip("'\"") for m in LAB_SECRET.finditer(path.read_text(encoding="utf-8"))}
    return {p for p in found if "{{" not in p}


def test_the_tarball_holds_the_product_and_no_lab_or_developer_state(tarball: Path) -> None:
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    tops = {name.split("/")[0] for name in names}
    assert {"plugins", "roles", "playbooks", "meta", "awx", "README.md", "MANIFEST.json"} <= tops
    for banned in ("lab", "benchmarks", "tools", "molecule", "reports", "tests", ".venv", ".collections", ".git"):
        assert banned not in tops, f"{banned}/ is in the collection tarball"
    assert not [n for n in names if n.startswith("inventories/lab")], "the lab inventory is in the tarball"
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".tar.gz"))], "caches in the tarball"
    assert "playbooks/awx_configure.yml" in names and "meta/execution-environment.yml" in names


def test_no_lab_password_is_in_any_file_of_the_tarball(tarball: Path) -> None:
    secrets = lab_passwords()
    assert secrets, "no lab passwords found to look for: the inventory moved, update this test"
    with tarfile.open(tarball) as tar:
        for member in tar.getmembers():
            handle = tar.extractfile(member) if member.isfile() else None
            if handle is None:
                continue
            text = handle.read().decode("utf-8", "replace")
            leaked = [s for s in secrets if s in text]
            assert not leaked, f"{member.name} contains the lab password(s) {leaked}"


def test_the_dependencies_are_what_the_content_uses() -> None:
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text(encoding="utf-8"))
    used = set()
    for path in [*REPO.glob("playbooks/**/*.yml"), *REPO.glob("roles/**/*.yml")]:
        used |= set(re.findall(r"^\s*-?\s*([a-z_]+\.[a-z_]+)\.[a-z_0-9]+:", path.read_text(encoding="utf-8"),
                               re.MULTILINE))
    used -= {"ansible.builtin", "platform_eng.incident_response"}
    assert set(galaxy["dependencies"]) == used


def test_the_runtime_requirements_cover_what_the_plugins_import() -> None:
    wanted = {line.split("==")[0].strip().lower() for line in
              (REPO / "meta" / "requirements.txt").read_text(encoding="utf-8").splitlines()
              if line.strip() and not line.startswith("#")}
    imported = set()
    for path in (REPO / "plugins").rglob("*.py"):
        imported |= set(re.findall(r"^\s*(?:import|from)\s+(boto3|botocore|cryptography|kubernetes|prometheus_client|"
                                   r"psycopg2|redis)\b", path.read_text(encoding="utf-8"), re.MULTILINE))
    distributions = {name.replace("psycopg2", "psycopg2-binary") for name in imported}
    assert distributions <= wanted, f"missing from meta/requirements.txt: {distributions - wanted}"


@pytest.mark.skipif(not (BIN / "ansible-builder").exists(),
                    reason="ansible-builder is not installed in .venv (not in requirements.txt); "
                           "the EE files are checked structurally by the test below")
def test_ansible_builder_creates_the_build_context_offline(tmp_path: Path) -> None:
    done = subprocess.run([str(BIN / "ansible-builder"), "create", "-f", str(REPO / "execution-environment.yml"),
                           "-c", str(tmp_path / "context")], capture_output=True, text=True, timeout=120,
                          check=False, cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "context" / "Containerfile").is_file()


def test_the_execution_environment_files_point_at_files_that_exist() -> None:
    ee = yaml.safe_load((REPO / "execution-environment.yml").read_text(encoding="utf-8"))
    assert ee["version"] == 3
    for key in ("python", "system", "galaxy"):
        assert (REPO / ee["dependencies"][key]).is_file(), key
    meta = yaml.safe_load((REPO / "meta" / "execution-environment.yml").read_text(encoding="utf-8"))
    for key in ("python", "system"):
        assert (REPO / meta["dependencies"][key]).is_file(), key
