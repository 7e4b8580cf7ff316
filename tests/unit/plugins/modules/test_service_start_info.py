# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""service_start_info as Ansible runs it: arguments in, one JSON document out."""

from __future__ import annotations

import json
import socket
import typing as t

import pytest

from ansible_collections.platform_eng.incident_response.plugins.modules import service_start_info
from ansible_collections.platform_eng.incident_response.tests.unit.plugins.module_runner import run_module


@pytest.fixture
def host(tmp_path, free_port_factory) -> t.Iterator[dict[str, t.Any]]:
    """An env file without DB_PASSWORD, a busy service port, and a reachable database on 127.0.0.1."""
    squatter, database = socket.socket(), socket.socket()
    for sock in (squatter, database):
        sock.bind(("127.0.0.1", 0))
        sock.listen()
    env_file = tmp_path / "env"
    env_file.write_text(
        f"API_PORT={squatter.getsockname()[1]}\nDB_HOST=127.0.0.1\nDB_PORT={database.getsockname()[1]}\n"
        "DB_NAME=incident_response\nDB_USER=incident_response\nREDIS_HOST=127.0.0.1\n"
        f"REDIS_PORT={free_port_factory()}\nREDIS_PASSWORD=lab-redis-pw\n")
    yield {"env_file": str(env_file), "pid_file": str(tmp_path / "service.pid"),
           "paths": [{"path": str(env_file), "mode": "r"}], "port": squatter.getsockname()[1]}
    squatter.close()
    database.close()


def test_every_cause_is_found_in_one_check_mode_run(capsys, host):
    args = {k: v for k, v in host.items() if k != "port"}
    result = run_module(capsys, service_start_info, {**args, "_ansible_check_mode": True})
    assert result["changed"] is False and "failed" not in result
    statuses = [(f["name"], f["status"]) for f in result["findings"]]
    assert statuses == [("env_file", "ok"), ("required_env", "critical"), ("service_port", "critical"),
                        ("dependency_reachable", "ok"), ("dependency_reachable", "critical"), ("path_access", "ok")]
    assert result["env"]["missing"] == ["DB_PASSWORD"]
    port = next(f for f in result["findings"] if f["name"] == "service_port")
    assert port["status"] == "critical" and f"port {host['port']} is already in use" in port["evidence"]
    assert [d["reachable"] for d in result["dependencies"]] == [True, False]
    assert "lab-redis-pw" not in json.dumps(result)


def test_fail_on_critical_names_the_causes(capsys, host):
    args = {k: v for k, v in host.items() if k != "port"}
    result = run_module(capsys, service_start_info, {**args, "fail_on": "critical"})
    assert result["failed"] is True
    assert result["msg"].startswith("Service start check is critical (fail_on=critical): 3 finding(s)")
    assert "required_env critical (['DB_PASSWORD'])" in result["msg"]
    assert "service_port critical" in result["msg"]


def test_explicit_empty_lists_skip_checks(capsys, host):
    result = run_module(capsys, service_start_info, {"env_file": host["env_file"], "pid_file": host["pid_file"], "dependencies": [],
                                                     "paths": [], "required_env": ["API_PORT"], "port": None})
    assert [f["name"] for f in result["findings"]] == ["env_file", "required_env", "service_port"]


def test_bad_mode_letters_fail_with_a_message(capsys, host):
    result = run_module(capsys, service_start_info, {"env_file": host["env_file"], "paths": [{"path": "/etc", "mode": "read"}]})
    assert result["failed"] is True and "letters from r, w and x" in result["msg"]
