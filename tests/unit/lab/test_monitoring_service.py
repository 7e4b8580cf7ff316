# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""lab/services/monitoring.py with irlab's own process helpers, on 127.0.0.1 instead of the lab's addresses.

The lab's namespaces are not made here: the processes start in this namespace on free ports, with their state in
a temporary directory, and stop by pid.
"""

from __future__ import annotations

import importlib
import json
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def lab(tmp_path, monkeypatch):
    monkeypatch.setenv("IRLAB_STATE", str(tmp_path / "irlab"))
    monkeypatch.syspath_prepend(str(REPO / "lab"))
    irlab = importlib.import_module("irlab")
    irlab = importlib.reload(irlab)  # its paths come from IRLAB_STATE at import
    monitoring = importlib.reload(importlib.import_module("services.monitoring"))
    for directory in (irlab.RUN, irlab.LOGS):
        directory.mkdir(parents=True)
    monkeypatch.setattr(monitoring, "BASTION_NETNS", None)
    for name in ("PROMETHEUS", "ALERTMANAGER", "RULEBOOK"):
        monkeypatch.setattr(monitoring, name, ("127.0.0.1", free_port()))
    try:
        yield irlab, monitoring
    finally:
        monitoring.down(irlab)
        sys.modules.pop("irlab", None)


def test_prometheus_and_alertmanager_start_scrape_the_app_hosts_and_stop(lab):
    irlab, monitoring = lab
    monitoring.up(irlab, ["127.0.0.1"], app_port=free_port())
    prometheus = "http://%s:%d" % monitoring.PROMETHEUS

    def targets():
        with urllib.request.urlopen(prometheus + "/api/v1/targets", timeout=5) as response:
            return json.load(response)["data"]["activeTargets"]

    deadline = time.monotonic() + 20
    while not targets() and time.monotonic() < deadline:
        time.sleep(0.2)
    (target,) = targets()
    assert target["labels"]["job"] == "incident-response"
    with urllib.request.urlopen("http://%s:%d/api/v2/status" % monitoring.ALERTMANAGER, timeout=5) as response:
        assert "nowhere" in json.load(response)["config"]["original"]
    assert [(name, up) for name, up, _where in monitoring.status(irlab)] == [
        ("prometheus", True), ("alertmanager", True), ("rulebook", False)]

    monitoring.down(irlab)

    assert [up for _name, up, _where in monitoring.status(irlab)] == [False, False, False]
    assert not list(irlab.RUN.glob("*.pid"))


def test_the_rulebook_starts_with_the_lab_inventorys_token_and_a_private_vars_file(lab):
    irlab, monitoring = lab
    monitoring.rulebook(irlab, auto_rollback=True)
    variables = monitoring.directory(irlab) / "rulebook-vars.yml"
    assert variables.stat().st_mode & 0o777 == 0o600
    settings = yaml.safe_load(variables.read_text())
    assert settings["alert_auto_rollback"] is True and settings["alert_webhook_token"] == "lab-eda-token"
    assert settings["alert_playbook"] == str(REPO / "playbooks" / "alert.yml")
    url = "http://%s:%d/alerts" % monitoring.RULEBOOK
    request = urllib.request.Request(url, data=b"{}", headers={"Content-Type": "application/json"}, method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 401, "no token, no event"
    assert [(name, up) for name, up, _where in monitoring.status(irlab)][-1] == ("rulebook", True)


def test_a_rulebook_stopped_on_purpose_is_off_not_down_and_starts_again(lab):
    irlab, monitoring = lab
    monitoring.rulebook(irlab)
    monitoring.rulebook_stop(irlab)
    (row,) = [r for r in monitoring.status(irlab) if r[0] == "rulebook"]
    assert row[1] is True and "off on purpose" in row[2]
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen("http://%s:%d/alerts" % monitoring.RULEBOOK, timeout=2)

    monitoring.rulebook(irlab)
    assert [(name, up) for name, up, _where in monitoring.status(irlab)][-1] == ("rulebook", True)
    monitoring.rulebook_stop(irlab)
    monitoring.down(irlab)
    assert [(name, up) for name, up, _where in monitoring.status(irlab)][-1] == ("rulebook", False), \
        "after lab-down a missing rulebook is down again, not off"
