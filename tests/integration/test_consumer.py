# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection as a consumer uses it: built, installed into an empty collections path, and run by FQCN against
the lab from there only (health, diagnose, a deploy of v1.2.3).

The runs start in an empty directory with an empty ansible.cfg, and ANSIBLE_COLLECTIONS_PATH names only the
temp path: not this checkout's .collections link, not ~/.ansible/collections. The lab inventory is the one thing
taken from the repository (the consumer's own inventory). Without the lab, tests/unit/awx/test_collection_install.py
checks the tarball and a syntax check of every playbook by FQCN from the same kind of install.
The class starts and ends with `irlab reset`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import typing as t
from pathlib import Path

import pytest

from conftest import BIN, REPO, Run, irlab
from test_deploy import live_versions

INVENTORY = REPO / "inventories" / "lab" / "hosts.yml"
WATCH = ["-e", "deploy_watch_seconds=10", "-e", "deploy_watch_interval=5"]


class Consumer(t.NamedTuple):
    collection: Path  # .../ansible_collections/platform_eng/incident_response
    workdir: Path
    env: dict[str, str]

    def play(self, name: str, *args: str, timeout: float = 900) -> Run:
        proc = subprocess.run([str(BIN / "ansible-playbook"), f"platform_eng.incident_response.{name}", "-i",
                               str(INVENTORY), "-vv", *args], cwd=self.workdir, env=self.env, capture_output=True,
                              text=True, timeout=timeout, check=False)
        return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="module")
def consumer(tmp_path_factory: pytest.TempPathFactory) -> Consumer:
    root = tmp_path_factory.mktemp("consumer")
    build, path, workdir, reports = root / "build", root / "collections", root / "work", root / "reports"
    for directory in (build, workdir, reports):
        directory.mkdir()
    (workdir / "ansible.cfg").write_text("[defaults]\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=str(workdir / "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=str(path), ANSIBLE_NOCOLOR="1",
               PATH=f"{BIN}:{env.get('PATH', '')}", INCIDENT_RESPONSE_REPORTS_ROOT=str(reports))
    done = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(build), str(REPO)],
                          cwd=workdir, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    (tarball,) = build.glob("platform_eng-incident_response-*.tar.gz")
    done = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", "--offline", "--force", "-p",
                           str(path), str(tarball)], cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return Consumer(path / "ansible_collections" / "platform_eng" / "incident_response", workdir, env)


def ran_from_the_install_only(consumer: Consumer, result: Run) -> None:
    """Every task path ansible printed (-vv) is inside the installed collection, none in this checkout."""
    paths = re.findall(r"^task path: (\S+?):\d+$", result.out, re.MULTILINE)
    assert paths, result.out[-2000:]
    assert all(path.startswith(str(consumer.collection)) for path in paths), sorted(set(paths))[:5]


class TestTheInstalledCollectionAgainstTheLab:
    @pytest.fixture(scope="class", autouse=True)
    def fresh(self, lab):
        irlab("reset")
        yield
        irlab("reset")

    def test_health_by_fqcn(self, lab, consumer):
        result = consumer.play("health")
        assert result.rc == 0, result.text[-4000:]
        assert re.search(r"Service health: OK on 2 host\(s\)", " ".join(result.out.split())), result.out[-3000:]
        ran_from_the_install_only(consumer, result)

    def test_diagnose_by_fqcn_writes_its_report(self, lab, consumer):
        result = consumer.play("diagnose", "-e", "alert=high_latency")
        assert result.rc == 0, result.text[-4000:]
        reports = sorted(Path(consumer.env["INCIDENT_RESPONSE_REPORTS_ROOT"]).glob("diagnose-high_latency-*.json"))
        assert reports, "no report written"
        assert json.loads(reports[-1].read_text())["schema"] == "incident_response.diagnose/v1"
        ran_from_the_install_only(consumer, result)

    def test_deploy_by_fqcn_puts_v1_2_3_live(self, lab, consumer):
        result = consumer.play("deploy", "-e", "version=v1.2.3", *WATCH)
        assert result.rc == 0, result.text[-4000:]
        assert "Deploy of v1.2.3 to lab succeeded" in result.out
        assert live_versions(lab) == {h["name"]: "v1.2.3" for h in lab["app_hosts"]}
        ran_from_the_install_only(consumer, result)
