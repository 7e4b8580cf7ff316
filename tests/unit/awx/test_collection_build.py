# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection tarball and the execution environment build context, built offline."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

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
    for banned in ("lab", "benchmarks", "tools", "molecule", "reports", "tests", ".venv", ".collections", ".git",
                   "pyproject.toml", ".ruff_cache", ".mypy_cache"):
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


def builder_context(tmp_path: Path, tarball: Path) -> Path:
    """The EE definition with what it points at, and the built tarball in build/, as the README's steps leave them."""
    src = tmp_path / "src"
    for relative in ("execution-environment.yml", "awx/requirements.yml", "meta/requirements.txt", "meta/bindep.txt"):
        (src / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / relative, src / relative)
    (src / "build").mkdir()
    shutil.copy(tarball, src / "build")
    return src


def create(src: Path, context: Path, path: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "ansible-builder"), "create", "-f", "execution-environment.yml",
                           "-c", str(context), *args], capture_output=True, text=True, timeout=120, check=False,
                          cwd=src, env=dict(os.environ, PATH=path))


def stage(containerfile: str, name: str) -> str:
    """The lines of one build stage (FROM ... AS name up to the next FROM)."""
    return containerfile.split(f" AS {name}\n", 1)[1].split("\nFROM ", 1)[0]


def test_ansible_builder_creates_the_build_context_offline_without_a_container_engine(
        tmp_path: Path, tarball: Path) -> None:
    # `create` only writes files: it runs with no container engine on PATH (this machine has a docker client in
    # /usr/local/bin but no engine) and without the network; `build` would need an engine, and a registry.
    # ansible-builder 3.2.0 picks podman's Containerfile only when podman is on PATH, else docker's Dockerfile.
    path = os.pathsep.join([str(BIN), "/usr/bin", "/bin"])
    assert shutil.which("podman", path=path) is None and shutil.which("docker", path=path) is None
    src = builder_context(tmp_path, tarball)
    done = create(src, tmp_path / "context", path)
    assert done.returncode == 0, done.stdout + done.stderr
    context = tmp_path / "context"
    containerfile = (context / "Dockerfile").read_text()
    assert (context / "_build/requirements.txt").read_text() == (REPO / "meta/requirements.txt").read_text()
    assert (context / "_build/bindep.txt").read_text() == (REPO / "meta/bindep.txt").read_text()
    assert (context / "_build/requirements.yml").read_text() == (REPO / "awx/requirements.yml").read_text()
    assert (context / "_build/collection" / tarball.name).read_bytes() == tarball.read_bytes()
    assert "ansible-core==2.19.14" in containerfile and "ansible-runner==2.4.3" in containerfile
    # The collection goes in where the build files are (the galaxy stage), and reaches the final image from there.
    galaxy = stage(containerfile, "galaxy")
    assert "COPY _build /build" in galaxy
    assert "ansible-galaxy collection install --offline /build/collection/platform_eng-incident_response-" in galaxy
    assert "COPY --from=galaxy /usr/share/ansible /usr/share/ansible" in stage(containerfile, "final")
    assert "/build/collection" not in stage(containerfile, "final")


def test_ansible_builder_writes_the_file_podman_reads_when_asked(tmp_path: Path, tarball: Path) -> None:
    """With any PATH (here the full one, docker client included), --output-filename fixes the file's name."""
    src = builder_context(tmp_path, tarball)
    done = create(src, tmp_path / "context", os.environ["PATH"], "--output-filename", "Containerfile")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "context" / "Containerfile").is_file() and not (tmp_path / "context" / "Dockerfile").exists()


def test_the_execution_environment_files_point_at_files_that_exist() -> None:
    ee = yaml.safe_load((REPO / "execution-environment.yml").read_text(encoding="utf-8"))
    assert ee["version"] == 3
    for key in ("python", "system", "galaxy"):
        assert (REPO / ee["dependencies"][key]).is_file(), key
    meta = yaml.safe_load((REPO / "meta" / "execution-environment.yml").read_text(encoding="utf-8"))
    for key in ("python", "system"):
        assert (REPO / meta["dependencies"][key]).is_file(), key
