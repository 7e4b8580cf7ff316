# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""postgresql_health_info, redis_health_info and service_start_info against the lab.

The database and cache sit on the private network, which the controller cannot
reach: the checks run on the bastion, as in production, and service_start_info
runs on the app host it inspects. Every fault a test makes (a slow query, cache
misses, a removed env var, a squatter on the service port) is undone before it ends.
"""

from __future__ import annotations

import json
import secrets
import shlex
import typing as t

import pytest

from conftest import Run, lab_ssh, run

ADMIN_PW, APP_PW, REDIS_PW = "lab-admin-pw", "lab-app-pw", "lab-redis-pw"
ENV_FILE = "/etc/incident-response/env"
SERVICE = "/opt/incident-response/current/bin/service"


def module(host: str, name: str, args: dict[str, t.Any]) -> tuple[dict[str, t.Any], Run]:
    """Run one module ad hoc on a lab host and return its result as JSON (ansible.posix.json callback)."""
    # ``-a '{}'`` would be taken as raw parameters, which modules refuse: no -a at all for no options.
    options = ["-a", json.dumps(args)] if args else []
    result = run("ansible", host, "-m", f"platform_eng.incident_response.{name}", *options,
                 env={"ANSIBLE_LOAD_CALLBACK_PLUGINS": "1", "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"})
    try:
        document = json.loads(result.out)
        return document["plays"][0]["tasks"][0]["hosts"][host], result
    except (ValueError, KeyError, IndexError):
        raise AssertionError(f"no module result from {host}: {result.text}") from None


def finding(result: dict[str, t.Any], name: str) -> dict[str, t.Any]:
    return next(f for f in result["findings"] if f["name"] == name)


def pg_args(lab: dict[str, t.Any], **extra: t.Any) -> dict[str, t.Any]:
    return {"host": lab["data"]["ip"], "port": lab["data"]["postgres_port"], "user": "admin", "password": ADMIN_PW,
            "database": "incident_response", **extra}


# --------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------


def test_postgresql_health_names_the_seeded_slow_query_first(lab):
    marker = f"ir_seeded_slow_query_{secrets.token_hex(4)}"
    psql = f"PGPASSWORD={ADMIN_PW} psql -X -q -At -h {lab['data']['ip']} -U admin -d incident_response"
    # Start from empty statistics, so a slow statement another test left behind cannot come first.
    lab_ssh("bastion", f"{psql} -c 'SELECT pg_stat_statements_reset()'")
    # Column aliases survive pg_stat_statements' normalisation, so the marker names this statement.
    lab_ssh("bastion", f"{psql} -c 'SELECT pg_sleep(3) AS {marker}'")

    result, raw = module("bastion", "postgresql_health_info", pg_args(lab))

    assert raw.rc == 0, raw.text
    assert result["changed"] is False
    assert result["pg_stat_statements"]["installed"] is True
    top = result["statements"][0]
    assert top["query"] == f"SELECT pg_sleep($1) AS {marker}", result["statements"][:3]
    assert top["mean_ms"] >= 3000
    slow = finding(result, "slow_statements")
    assert slow["status"] == "critical" and marker in slow["evidence"]
    assert "add indexes" in slow["remediation"]
    assert result["server"]["version_num"] >= 150000  # so mean_exec_time was the column used
    assert ADMIN_PW not in raw.text


def test_postgresql_health_reports_an_unreachable_server_without_failing(lab):
    result, raw = module("bastion", "postgresql_health_info", pg_args(lab, port=5433, connect_timeout=3))
    assert raw.rc == 0, raw.text
    assert result["status"] == "critical"
    assert [f["name"] for f in result["findings"]] == ["connection"]
    assert "Connection refused" in result["findings"][0]["evidence"]


def test_postgresql_health_fails_the_task_only_with_fail_on(lab):
    result, raw = module("bastion", "postgresql_health_info", pg_args(lab, port=5433, fail_on="critical"))
    assert raw.rc != 0
    assert "PostgreSQL health is critical (fail_on=critical)" in raw.text
    assert result["findings"][0]["status"] == "critical"  # the data comes back with the failure


# --------------------------------------------------------------------------
# Redis
# --------------------------------------------------------------------------


def test_redis_health_flags_a_cache_with_many_misses(lab):
    ip, port = lab["data"]["ip"], lab["data"]["redis_port"]
    # GETs of keys nobody wrote, piped over one connection, for about 20 s: longer than the window.
    misses = (f"for i in $(seq 40); do seq 500 | sed 's/^/GET ir-test-miss-/' | "
              f"redis-cli -h {ip} -p {port} -a {REDIS_PW} --no-auth-warning > /dev/null; sleep 0.5; done")
    pid = lab_ssh("bastion", f"setsid nohup sh -c {shlex.quote(misses)} > /dev/null 2>&1 < /dev/null & echo $!").out.strip()
    assert pid.isdigit(), pid
    try:
        result, raw = module("bastion", "redis_health_info",
                             {"host": ip, "port": port, "password": REDIS_PW, "window_seconds": 5})
    finally:
        lab_ssh("bastion", f"kill -- -{pid} 2>/dev/null || kill {pid} 2>/dev/null || true", check=False)

    assert raw.rc == 0, raw.text
    window = result["window"]
    assert window["misses"] > window["hits"], window
    hit_rate = finding(result, "cache_hit_rate")
    assert hit_rate["status"] in ("warn", "critical"), hit_rate
    assert "warm cache if needed" in hit_rate["remediation"]
    assert result["memory"]["maxmemory_bytes"] == 64 * 1024 * 1024
    assert REDIS_PW not in raw.text


def test_redis_health_reports_a_wrong_password_without_failing(lab):
    result, raw = module("bastion", "redis_health_info", {"host": lab["data"]["ip"], "port": lab["data"]["redis_port"],
                                                          "password": "not-the-password", "window_seconds": 0})
    assert raw.rc == 0, raw.text
    assert result["status"] == "critical" and "AuthenticationError" in result["findings"][0]["evidence"]


# --------------------------------------------------------------------------
# Service won't start (on app1 itself)
# --------------------------------------------------------------------------


@pytest.fixture
def app1_env_restored() -> t.Iterator[None]:
    lab_ssh("app1", f"cp -p {ENV_FILE} {ENV_FILE}.irtest-bak")
    try:
        yield
    finally:
        lab_ssh("app1", f"mv -f {ENV_FILE}.irtest-bak {ENV_FILE}")


def test_service_start_names_a_missing_env_var_but_never_a_value(lab, app1_env_restored):
    lab_ssh("app1", f"sed -i '/^DB_PASSWORD=/d' {ENV_FILE}")

    result, raw = module("app1", "service_start_info", {})

    assert raw.rc == 0, raw.text
    required = finding(result, "required_env")
    assert required["status"] == "critical" and required["value"] == ["DB_PASSWORD"]
    assert result["env"]["missing"] == ["DB_PASSWORD"]
    assert "Missing environment variables" in required["remediation"]
    for value in (APP_PW, REDIS_PW):
        assert value not in raw.text
    # The database and cache are reachable from app1, so that is not the cause.
    assert [f["status"] for f in result["findings"] if f["name"] == "dependency_reachable"] == ["ok", "ok"]


@pytest.fixture
def app1_port_squatted(lab) -> t.Iterator[int]:
    """Stop the service and put another process on its port; undo both afterwards."""
    lab_ssh("app1", f"{SERVICE} stop")
    pid = 0
    try:
        # A simple command in the background (no && list), so $! is python's own pid and the
        # SSH session does not wait for it.
        pid = int(lab_ssh("app1", "cd /tmp; setsid nohup python3 -m http.server 8080 > /dev/null 2>&1 < /dev/null "
                                  "& echo $!").out.strip())
        lab_ssh("app1", "python3 -c 'import socket, time\n"
                        "for _ in range(100):\n"
                        "    try: socket.create_connection((\"127.0.0.1\", 8080), 1).close(); break\n"
                        "    except OSError: time.sleep(0.1)\n"
                        "else: raise SystemExit(1)'")
        yield pid
    finally:
        if pid:
            lab_ssh("app1", f"kill {pid}", check=False)
            lab_ssh("app1", f"for i in $(seq 50); do kill -0 {pid} 2>/dev/null || break; sleep 0.1; done", check=False)
        lab_ssh("app1", f"{SERVICE} start")


def test_service_start_finds_the_busy_port(lab, app1_port_squatted):
    result, raw = module("app1", "service_start_info", {})

    assert raw.rc == 0, raw.text
    port = finding(result, "service_port")
    assert port["status"] == "critical" and port["value"] == 8080
    assert f"held by pid {app1_port_squatted} (python" in port["evidence"]
    assert "Port already in use" in port["remediation"]
    assert result["port"]["service_pid"] is None and result["port"]["held_by_service"] is False
    assert finding(result, "required_env")["status"] == "ok"


def test_service_start_accepts_the_running_service_on_its_port(lab):
    lab_ssh("app1", f"{SERVICE} start")  # no-op when it runs already
    result, raw = module("app1", "service_start_info", {"expect_running": True})
    assert raw.rc == 0, raw.text
    port = finding(result, "service_port")
    assert port["status"] == "ok" and "the service itself" in port["evidence"]
    assert result["port"]["held_by_service"] is True
    assert result["status"] == "ok", [f for f in result["findings"] if f["status"] != "ok"]
