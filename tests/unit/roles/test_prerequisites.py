# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/prerequisites.yml for real, without the lab: two hosts on a local connection, a temp wheelhouse.

A "bastion" and an "app" host (both this machine, each with its own virtualenv path) get the libraries their
modules import, from wheels the controller downloads with pip (the package index is the only thing reached),
installed on the host with --no-index. The bastion's inventory already points ansible_python_interpreter at
the virtualenv that does not exist yet, as a real inventory would; the app host's points at a Python without
any library, and the role switches it for the rest of the run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
SYSTEM_PYTHON = "/usr/bin/python3"  # the hosts' Python (Debian's), also the one that downloads the wheels
pytestmark = pytest.mark.skipif(not Path(SYSTEM_PYTHON).exists(), reason=f"{SYSTEM_PYTHON} is not installed")

# Modules and the kind of host they run on (roles/*/tasks: delegate_to the bastion, or the play's app host).
RUNS_ON = {
    "bastion": ["deploy_lock", "health_watch_info", "http_health_info", "incident", "pg_restore_drill",
                "postgresql_health_info", "rds_instance_health_info", "redis_health_info", "release_artifact",
                "tls_certificate_info"],
    "app": ["release_history", "release_history_info", "release_step", "service_start_info", "tls_certificate_info"],
}
LIBRARY_IMPORTS = {"boto3": "boto3", "botocore": "botocore", "cryptography": "cryptography",
                   "kubernetes": "kubernetes", "prometheus_client": "prometheus_client",
                   "psycopg2-binary": "psycopg2", "redis": "redis"}


def recap(output: str) -> dict[str, dict[str, int]]:
    return {host: {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)}
            for host, counts in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output, re.MULTILINE)}


def tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.lstat().st_mtime_ns, p.lstat().st_size) for p in root.rglob("*")}


class Site(t.NamedTuple):
    root: Path
    inventory: Path
    playbook: Path

    def venv(self, host: str) -> Path:
        return self.root / host / "venv"

    def run(self, *args: str) -> subprocess.CompletedProcess:
        env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
        return subprocess.run([str(BIN / "ansible-playbook"), "-i", str(self.inventory), str(self.playbook), *args],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    root = tmp_path_factory.mktemp("prerequisites")
    subprocess.run([SYSTEM_PYTHON, "-m", "venv", "--without-pip", str(root / "bare")], check=True, timeout=120)
    common = {"ansible_connection": "local", "prerequisites_wheelhouse": str(root / "wheelhouse"),
              "prerequisites_python": SYSTEM_PYTHON, "prerequisites_bootstrap_interpreter": SYSTEM_PYTHON,
              "prerequisites_download_python": SYSTEM_PYTHON}
    inventory = root / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"vars": common, "children": {
        "bastions": {"hosts": {"bastion-under-test": {
            "prerequisites_venv": str(root / "bastion-under-test/venv"),
            "ansible_python_interpreter": str(root / "bastion-under-test/venv/bin/python")}}},
        "app_servers": {"hosts": {"app-under-test": {
            "prerequisites_venv": str(root / "app-under-test/venv"),
            "ansible_python_interpreter": str(root / "bare/bin/python")}}}}}}))
    # The shipped playbook, then a play that uses the collection's modules with whatever interpreter it left.
    playbook = root / "site.yml"
    playbook.write_text(yaml.safe_dump([
        {"name": "Prepare the hosts", "ansible.builtin.import_playbook": str(REPO / "playbooks/prerequisites.yml")},
        {"name": "Use the collection's modules on the prepared hosts", "hosts": "bastions:app_servers",
         "gather_facts": False, "tasks": [
             {"name": "Read a certificate file (cryptography)",
              "platform_eng.incident_response.tls_certificate_info": {"files": [{"path": "/nonexistent.pem"}]}},
             {"name": "Probe a cache that is not there (redis)", "when": "inventory_hostname in groups.bastions",
              "platform_eng.incident_response.redis_health_info": {"host": "127.0.0.1", "port": 1,
                                                                   "window_seconds": 0}},
             {"name": "Say which Python ran the modules", "delegate_to": "localhost", "ansible.builtin.copy": {
                 "dest": str(root / "{{ inventory_hostname }}.interpreter"), "mode": "0600",
                 "content": "{{ ansible_python_interpreter }}"}}]}]))
    return Site(root, inventory, playbook)


@pytest.fixture(scope="module")
def first(site: Site) -> subprocess.CompletedProcess:
    return site.run()


def test_the_first_run_installs_each_host_kind_its_libraries_and_switches_the_interpreter(site, first) -> None:
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-3000:]
    for host, imports in (("bastion-under-test", ["boto3", "psycopg2", "redis", "prometheus_client", "cryptography"]),
                          ("app-under-test", ["cryptography"])):
        python = site.venv(host) / "bin/python"
        done = subprocess.run([str(python), "-c", f"import {', '.join(imports)}"], capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode == 0, f"{host}: {done.stderr}"
        assert (site.root / f"{host}.interpreter").read_text() == str(python)
        stamp = json.loads((site.venv(host) / ".incident-response-requirements.json").read_text())
        assert stamp["python"] == subprocess.check_output([SYSTEM_PYTHON, "-c", "import platform; "
                                                           "print(platform.python_version())"], text=True).strip()
        assert not Path(f"{site.venv(host)}.wheelhouse").exists(), "the copied wheelhouse stays behind"
    # An app host needs far less than the bastion: no AWS, PostgreSQL or Redis client there.
    app = subprocess.run([str(site.venv("app-under-test") / "bin/python"), "-c", "import boto3"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert app.returncode != 0 and "No module named 'boto3'" in app.stderr
    # One wheelhouse per requirement set, downloaded once for the play.
    assert len(list((site.root / "wheelhouse").glob("*/.complete"))) == 2


def test_the_host_installs_from_the_wheelhouse_only() -> None:
    """Air-gapped hosts: no index, and neither the host's pip configuration nor its environment can add one."""
    tasks = yaml.safe_load((REPO / "roles/prerequisites/tasks/venv.yml").read_text())
    block = next(task["block"] for task in tasks if "block" in task)
    install = next(task for task in block if "from the wheelhouse only" in task["name"])
    argv = install["ansible.builtin.command"]["argv"]
    assert "'--isolated', '--no-index'" in argv and "'--find-links', prerequisites_venv ~ '.wheelhouse'" in argv
    assert install["environment"] == {"PIP_CONFIG_FILE": "/dev/null"}


def test_a_second_run_changes_nothing(site, first) -> None:
    again = site.run()
    assert again.returncode == 0, again.stdout[-4000:]
    counts = recap(again.stdout)
    assert counts["bastion-under-test"]["changed"] == 0 and counts["app-under-test"]["changed"] == 0, again.stdout


def test_check_mode_after_a_run_changes_nothing(site, first) -> None:
    before = tree(site.root / "bastion-under-test"), tree(site.root / "wheelhouse")
    checked = site.run("--check")
    assert checked.returncode == 0, checked.stdout[-4000:]
    assert recap(checked.stdout)["bastion-under-test"]["changed"] == 0
    assert (tree(site.root / "bastion-under-test"), tree(site.root / "wheelhouse")) == before


def test_check_mode_on_a_fresh_host_builds_nothing_and_says_what_it_would(site, first, tmp_path) -> None:
    inventory = yaml.safe_load(site.inventory.read_text())
    host = inventory["all"]["children"]["bastions"]["hosts"]["bastion-under-test"]
    host["prerequisites_venv"] = str(tmp_path / "fresh/venv")
    host["prerequisites_libraries"] = ["redis"]  # a set the controller has not downloaded either
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    wheelhouse = tree(site.root / "wheelhouse")
    checked = Site(site.root, tmp_path / "hosts.yml", REPO / "playbooks/prerequisites.yml").run("--check")
    assert checked.returncode == 0, checked.stdout[-4000:]
    assert not (tmp_path / "fresh").exists()
    assert tree(site.root / "wheelhouse") == wheelhouse
    said = " ".join(checked.stdout.split())  # the output wraps long lines
    assert re.search(r"Check mode: \S+/fresh/venv on bastion-under-test would be built with redis==", said)
    assert "from a wheelhouse the controller has not downloaded yet" in said


def test_a_directory_that_is_not_a_virtualenv_is_refused_not_cleared(site, first, tmp_path) -> None:
    precious = tmp_path / "data/venv"
    precious.mkdir(parents=True)
    (precious / "keep.txt").write_text("mine")
    inventory = yaml.safe_load(site.inventory.read_text())
    inventory["all"]["children"]["bastions"]["hosts"]["bastion-under-test"]["prerequisites_venv"] = str(precious)
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    refused = Site(site.root, tmp_path / "hosts.yml", REPO / "playbooks/prerequisites.yml").run(
        "--limit", "bastion-under-test")
    assert refused.returncode != 0
    said = " ".join(refused.stdout.split())
    assert f"{precious} on bastion-under-test exists and is not a virtualenv (no pyvenv.cfg)" in said
    assert (precious / "keep.txt").read_text() == "mine"


def test_each_host_kind_gets_what_its_modules_import() -> None:
    """The kinds in the role's defaults cover the libraries of the modules that run on that kind of host."""
    defaults = yaml.safe_load((REPO / "roles/prerequisites/defaults/main.yml").read_text())
    pinned = {line.split("==")[0].strip().lower() for line in (REPO / "meta/requirements.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")}

    def imported(module: str, seen: set[str]) -> set[str]:
        path = REPO / "plugins" / ("modules" if not module.startswith("_") else "module_utils") / f"{module}.py"
        if module in seen or not path.exists():
            return set()
        seen.add(module)
        text = path.read_text(encoding="utf-8")
        found = {lib for lib, name in LIBRARY_IMPORTS.items()
                 if re.search(rf"^\s*(?:import|from)\s+{name}\b", text, re.MULTILINE)}
        for util in re.findall(r"plugins\.module_utils(?:\.| import )(_\w+)", text):
            found |= imported(util, seen)
        return found

    by_kind = defaults["prerequisites_libraries_by_kind"]
    for kind, modules in RUNS_ON.items():
        needed = set().union(*(imported(m, set()) for m in modules))
        assert needed <= set(by_kind[kind]), f"{kind} hosts run modules that import {sorted(needed - set(by_kind[kind]))}"
    for kind, libraries in by_kind.items():
        assert set(libraries) <= pinned, f"{kind}: {sorted(set(libraries) - pinned)} not in meta/requirements.txt"
    assert set(by_kind["all"]) == set(LIBRARY_IMPORTS)
