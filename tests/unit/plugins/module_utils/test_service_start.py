# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests for _service_start, _listeners and _service_paths: pure parsers and evaluators, and real
sockets, processes and files on this machine (listeners on 127.0.0.1 only)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

import pytest

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import IncidentResponseError
from ansible_collections.platform_eng.incident_response.plugins.module_utils._listeners import (
    Listener,
    belongs_to,
    parse_proc_net_tcp,
    port_listeners,
    service_pid,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._service_paths import (
    Account,
    allowed,
    check_path,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._service_start import (
    Dependency,
    EnvSource,
    check_dependencies,
    check_service_start,
    dependencies_from_env,
    evaluate_env,
    evaluate_port,
    parse_env_file,
    read_env,
)

SECRETS = ("lab-app-pw", "lab-redis-pw")
ENV_TEXT = ("# incident-response\nAPP_ENV=lab\nAPI_PORT={port}\nDB_HOST=127.0.0.1\nDB_PORT={db_port}\n"
            "DB_NAME=incident_response\nDB_USER=incident_response\nDB_PASSWORD=lab-app-pw\n"
            "REDIS_HOST=127.0.0.1\nREDIS_PORT={redis_port}\nREDIS_PASSWORD=lab-redis-pw\n")
NOBODY = Account("nobody", 65534, frozenset([65534]))
ROOT = Account("root", 0, frozenset([0]))


def by_name(result: dict[str, t.Any], name: str) -> list[dict[str, t.Any]]:
    return [f for f in result["findings"] if f["name"] == name]


def no_secret_in(result: t.Any) -> None:
    text = json.dumps(result)
    for secret in SECRETS:
        assert secret not in text


# --------------------------------------------------------------------------
# Environment (pure)
# --------------------------------------------------------------------------


def test_parse_env_file_reads_key_value_lines_as_the_control_script_does():
    env = parse_env_file("# comment\n\nA=1\nURL=postgres://u:p@h/db?x=y\nEMPTY=\nnot a line\n9BAD=x\nB-C=2\n")
    assert env.values == {"A": "1", "URL": "postgres://u:p@h/db?x=y", "EMPTY": ""}
    assert env.bad_lines == [6, 7, 8]


def test_the_env_file_overrides_the_process_environment(tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text("DB_HOST=from-file\n")
    env = read_env(str(env_file), ["process", "file"], {"DB_HOST": "from-process", "API_PORT": "8080"})
    assert env.values == {"DB_HOST": "from-file", "API_PORT": "8080"}
    assert read_env(str(env_file), ["process"], {"API_PORT": "1"}).values == {"API_PORT": "1"}


def test_missing_and_empty_names_are_reported_never_values():
    env = EnvSource({"API_PORT": "8080", "DB_PASSWORD": "lab-app-pw", "REDIS_PASSWORD": " "}, [])
    findings, report = evaluate_env(env, ["API_PORT", "DB_HOST", "DB_PASSWORD", "REDIS_PASSWORD"], "/etc/env",
                                    ["file"], "app1")
    required = findings[1]
    assert required.name == "required_env" and required.status == "critical"
    assert required.value == ["DB_HOST", "REDIS_PASSWORD"]
    assert "missing: DB_HOST; empty: REDIS_PASSWORD" in required.evidence
    assert "Missing environment variables" in required.remediation
    assert report["present"] == ["API_PORT", "DB_PASSWORD"] and report["missing"] == ["DB_HOST"]
    no_secret_in([f.as_dict() for f in findings] + [report])


def test_bad_env_file_lines_are_critical_by_number_only(tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text("API_PORT=8080\nlab-app-pw\n")
    env = read_env(str(env_file), ["file"], {})
    findings = evaluate_env(env, ["API_PORT"], str(env_file), ["file"], "app1")[0]
    assert findings[0].name == "env_file" and findings[0].status == "critical"
    assert "line(s) 2 of" in findings[0].evidence
    no_secret_in([f.as_dict() for f in findings])


def test_unreadable_env_file(tmp_path):
    env = read_env(str(tmp_path / "missing"), ["file"], {})
    findings = evaluate_env(env, ["API_PORT"], str(tmp_path / "missing"), ["file"], "app1")[0]
    assert [(f.name, f.status) for f in findings] == [("env_file", "critical"), ("required_env", "unknown")]
    assert "No such file or directory" in findings[0].evidence


# --------------------------------------------------------------------------
# Listening sockets and the pid file
# --------------------------------------------------------------------------

PROC_NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 71639 1 0 100 0 0 10 0
   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 71640 1 0 100 0 0 10 0
   2: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 71641 1 0 100 0 0 10 0
"""
PROC_NET_TCP6 = """\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when
   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 80001 1
"""


def test_parse_proc_net_tcp_keeps_listeners_only():
    assert parse_proc_net_tcp(PROC_NET_TCP) == [Listener("127.0.0.1", 8080, 71639), Listener("0.0.0.0", 8080, 71640)]
    assert parse_proc_net_tcp(PROC_NET_TCP6) == [Listener("::1", 8080, 80001)]


@pytest.mark.parametrize("listeners, own, expect_running, status, words", [
    ([], None, False, "ok", "port 8080 is free"),
    ([], None, True, "critical", "nothing listens on port 8080"),
    ([Listener("0.0.0.0", 8080, 1, os.getpid(), "python3")], os.getpid(), True, "ok", "the service itself"),
    ([Listener("0.0.0.0", 8080, 1, os.getpid(), "python3")], os.getpid(), False, "warn", "already running"),
    ([Listener("0.0.0.0", 8080, 1, 4242, "nginx")], None, False, "critical", "held by pid 4242 (nginx)"),
    ([Listener("0.0.0.0", 8080, 1, 4242, "nginx")], os.getpid(), True, "critical", "not by the service"),
    ([Listener("0.0.0.0", 8080, 1)], None, False, "critical", "an unknown process"),
    ([Listener("0.0.0.0", 8080, 1, os.getpid(), "python3"), Listener("::", 8080, 2, 4242, "nginx")], os.getpid(),
     True, "critical", "held by pid 4242 (nginx)"),
])
def test_evaluate_port(listeners, own, expect_running, status, words):
    finding = evaluate_port(8080, listeners, own, "pid note", expect_running, "app1")
    assert finding.status == status and words in finding.evidence
    if status == "critical" and listeners:
        assert "Port already in use" in finding.remediation


def test_no_port_known_is_unknown():
    assert evaluate_port(None, [], None, "", False, "app1").status == "unknown"


@pytest.fixture
def listener_process(free_port_factory) -> t.Iterator[tuple[int, subprocess.Popen]]:
    """Another process listening on 127.0.0.1, as a squatter on the service port would."""
    port = free_port_factory()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while not port_listeners(port):
            assert time.monotonic() < deadline, "http.server did not start"
            time.sleep(0.05)
        yield port, proc
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_port_listeners_name_the_process_holding_the_port(listener_process):
    port, proc = listener_process
    [listener] = port_listeners(port)
    assert (listener.address, listener.port, listener.pid) == ("127.0.0.1", port, proc.pid)
    assert listener.process and listener.process.startswith("python")


def test_own_socket_is_found_too(free_port_factory):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        [listener] = port_listeners(sock.getsockname()[1])
    assert listener.pid == os.getpid()
    assert port_listeners(free_port_factory()) == []


def test_service_pid_reads_a_live_pid_and_spots_stale_ones(tmp_path):
    pid_file = tmp_path / "service.pid"
    assert service_pid(str(pid_file))[0] is None and "not running" in service_pid(str(pid_file))[1]
    pid_file.write_text("garbage")
    assert "does not hold a pid" in service_pid(str(pid_file))[1]
    done = subprocess.Popen(["true"])
    done.wait()
    pid_file.write_text(str(done.pid))
    assert service_pid(str(pid_file)) == (None, f"stale pid file {pid_file}: pid {done.pid} is not running")
    pid_file.write_text(f"{os.getpid()}\n")
    assert service_pid(str(pid_file))[0] == os.getpid()


def test_a_child_of_the_service_belongs_to_it(listener_process):
    proc = listener_process[1]
    assert belongs_to(proc.pid, os.getpid())
    assert not belongs_to(os.getpid(), proc.pid)
    assert not belongs_to(None, os.getpid())


# --------------------------------------------------------------------------
# Reachability
# --------------------------------------------------------------------------


def test_dependencies_come_from_the_environment_with_the_services_default_ports():
    deps = dependencies_from_env({"DB_HOST": "10.77.2.250", "REDIS_HOST": "10.77.2.250", "REDIS_PORT": "6380"})
    assert deps == [Dependency("database", "10.77.2.250", 5432), Dependency("cache", "10.77.2.250", 6380)]
    missing = dependencies_from_env({"DB_PORT": "5432", "REDIS_HOST": "h", "REDIS_PORT": "secret-ish"})
    assert missing[0].problem == "DB_HOST is not set (see required_env)"
    assert missing[1].problem == "REDIS_PORT is not a port number" and "secret-ish" not in missing[1].problem


def test_reachable_and_refused_dependencies(free_port_factory):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        deps = [Dependency("database", "127.0.0.1", server.getsockname()[1]),
                Dependency("cache", "127.0.0.1", free_port_factory()),
                Dependency("cache2", None, None, "REDIS_HOST is not set")]
        findings, report = check_dependencies(deps, 2.0, "app1")
    assert [f.status for f in findings] == ["ok", "critical", "unknown"]
    assert findings[1].target.startswith("app1 -> cache 127.0.0.1:")
    assert "ConnectionRefusedError" in findings[1].evidence and "Database connection failure" in findings[1].remediation
    assert [r["reachable"] for r in report] == [True, False, None]


# --------------------------------------------------------------------------
# Permissions
# --------------------------------------------------------------------------


def fake_stat(mode: int, uid: int = 0, gid: int = 0) -> os.stat_result:
    return os.stat_result((mode, 0, 0, 1, uid, gid, 0, 0, 0, 0))


@pytest.mark.parametrize("mode, uid, gid, account, letter, expected", [
    (stat.S_IFREG | 0o600, 0, 0, ROOT, "r", True),                 # root reads anything
    (stat.S_IFREG | 0o644, 0, 0, ROOT, "x", False),                # ... but executes only with an x bit
    (stat.S_IFREG | 0o744, 0, 0, ROOT, "x", True),
    (stat.S_IFREG | 0o600, 0, 0, NOBODY, "r", False),
    (stat.S_IFREG | 0o604, 0, 0, NOBODY, "r", True),               # other bits
    (stat.S_IFREG | 0o640, 0, 65534, NOBODY, "r", True),           # group bits
    (stat.S_IFREG | 0o046, 65534, 0, NOBODY, "r", False),          # the owner class wins, even when it denies
    (stat.S_IFDIR | 0o700, 0, 0, NOBODY, "x", False),
    (stat.S_IFDIR | 0o755, 65534, 65534, NOBODY, "w", True),
])
def test_allowed_applies_exactly_one_permission_class(mode, uid, gid, account, letter, expected):
    assert allowed(fake_stat(mode, uid, gid), account, letter) is expected


@pytest.fixture
def open_dir() -> t.Iterator[Path]:
    """A directory every user may search (pytest's tmp_path sits below a 0700 directory)."""
    path = Path(tempfile.mkdtemp(prefix="ir-unit-paths-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_check_path_for_another_user(open_dir):
    secret = open_dir / "env"
    secret.write_text("x")
    secret.chmod(0o600)
    assert check_path({"path": str(secret), "mode": "r"}, ROOT)["status"] == "ok"
    report = check_path({"path": str(secret), "mode": "r"}, NOBODY)
    assert report["status"] == "critical" and report["mode"] == "0600"
    assert report["evidence"] == f"nobody cannot read {secret} (mode 0600, owner root:root)"


def test_check_path_needs_search_on_every_directory_above(open_dir):
    locked = open_dir / "locked"
    locked.mkdir(mode=0o700)
    (locked / "file").write_text("x")
    (locked / "file").chmod(0o644)
    report = check_path({"path": str(locked / "file"), "mode": "r"}, NOBODY)
    assert report["status"] == "critical"
    assert f"no search (x) permission on {locked} (mode 0700, owner root:root)" in report["evidence"]
    assert check_path({"path": str(locked / "file"), "mode": "r"}, ROOT)["status"] == "ok"


def test_missing_paths(open_dir):
    creatable = check_path({"path": str(open_dir / "state"), "mode": "w"}, ROOT)
    assert creatable["status"] == "warn" and "may create it" in creatable["evidence"]
    assert check_path({"path": str(open_dir / "state"), "mode": "w"}, NOBODY)["status"] == "critical"
    assert check_path({"path": str(open_dir / "bin" / "service"), "mode": "x"}, ROOT)["status"] == "critical"


def test_owner_mismatch_is_a_warning(tmp_path):
    report = check_path({"path": str(tmp_path), "mode": "rwx", "owner": "nobody"}, ROOT)
    assert report["status"] == "warn" and "expected nobody" in report["evidence"]


@pytest.mark.parametrize("spec, message", [
    ({"path": "relative/path"}, "not an absolute path"),
    ({"path": "/etc", "mode": "rwz"}, "letters from r, w and x"),
])
def test_bad_path_specs_are_configuration_errors(spec, message):
    with pytest.raises(IncidentResponseError, match=message):
        check_path(spec, ROOT)


# --------------------------------------------------------------------------
# The whole check, as on an app host
# --------------------------------------------------------------------------


@pytest.fixture
def app_host(tmp_path, free_port_factory) -> dict[str, t.Any]:
    """An env file, state directory and dependencies on 127.0.0.1, like /etc/incident-response on an app host."""
    db = socket.socket()
    db.bind(("127.0.0.1", 0))
    db.listen()
    api_port, redis_port = free_port_factory(), free_port_factory()
    env_file = tmp_path / "env"
    env_file.write_text(ENV_TEXT.format(port=api_port, db_port=db.getsockname()[1], redis_port=redis_port))
    (tmp_path / "state").mkdir()
    yield {"env_file": str(env_file), "pid_file": str(tmp_path / "state" / "service.pid"), "api_port": api_port,
           "paths": [{"path": str(env_file), "mode": "r"}, {"path": str(tmp_path / "state"), "mode": "w"}]}
    db.close()


def test_missing_env_var_and_dead_cache_on_an_app_host(app_host):
    env_file = Path(app_host["env_file"])
    env_file.write_text(env_file.read_text().replace("DB_PASSWORD=lab-app-pw\n", ""))
    params = {k: v for k, v in app_host.items() if k != "api_port"}
    result = check_service_start(params, environ={}, hostname="app1")
    [required] = by_name(result, "required_env")
    assert required["status"] == "critical" and required["value"] == ["DB_PASSWORD"]
    assert result["env"]["missing"] == ["DB_PASSWORD"]
    assert [f["status"] for f in by_name(result, "dependency_reachable")] == ["ok", "critical"]
    assert by_name(result, "service_port")[0]["status"] == "ok"
    assert [f["status"] for f in by_name(result, "path_access")] == ["ok", "ok"]
    assert result["status"] == "critical"
    no_secret_in(result)


def test_busy_port_on_an_app_host_names_the_squatter(app_host, listener_process):
    port, squatter = listener_process
    params = {**{k: v for k, v in app_host.items() if k != "api_port"}, "port": port, "expect_running": True}
    # The "service" is alive but does not hold the port (and is not the squatter's parent).
    service = subprocess.Popen(["sleep", "30"])
    try:
        Path(app_host["pid_file"]).write_text(str(service.pid))
        result = check_service_start(params, environ={}, hostname="app1")
    finally:
        service.kill()
        service.wait()
    [port_finding] = by_name(result, "service_port")
    assert port_finding["status"] == "critical"
    assert f"port {port} is already in use: 127.0.0.1:{port} held by pid {squatter.pid} (python" in port_finding["evidence"]
    assert result["port"]["listeners"][0]["pid"] == squatter.pid and result["port"]["held_by_service"] is False

    Path(app_host["pid_file"]).write_text(str(squatter.pid))  # now it is the service itself
    result = check_service_start(params, environ={}, hostname="app1")
    assert by_name(result, "service_port")[0]["status"] == "ok" and result["port"]["held_by_service"] is True


def test_process_environment_source(app_host):
    params = {"env_sources": ["process"], "required_env": ["API_PORT", "DB_HOST"], "pid_file": app_host["pid_file"],
              "paths": [], "dependencies": []}
    result = check_service_start(params, environ={"API_PORT": str(app_host["api_port"])}, hostname="app1")
    assert [f["name"] for f in result["findings"]][:2] == ["required_env", "service_port"]  # no env_file finding
    assert by_name(result, "required_env")[0]["value"] == ["DB_HOST"]
    assert result["port"]["port"] == app_host["api_port"]
    assert by_name(result, "dependency_reachable") == [] and by_name(result, "path_access") == []


@pytest.mark.parametrize("params, message", [
    ({"env_sources": ["vault"]}, "unknown source"),
    ({"port": 70000}, "between 1 and 65535"),
    ({"connect_timeout": 0}, "positive number"),
    ({"service_user": "no-such-user-ir"}, "does not exist on this host"),
])
def test_bad_options_are_configuration_errors(tmp_path, params, message):
    with pytest.raises(IncidentResponseError, match=message):
        check_service_start({"env_file": str(tmp_path / "env"), "paths": [], **params}, environ={})
