# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests for _redis_health: pure evaluators, and real redis-server processes on 127.0.0.1 (conftest)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import threading
import typing as t
from pathlib import Path

import pytest

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
    compare_low,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._redis_health import (
    RedisThresholds,
    check_redis_health,
    client,
    evaluate_blocked,
    evaluate_clients,
    evaluate_evictions,
    evaluate_hit_rate,
    evaluate_memory,
    window_stats,
)

TARGET = "cache:6379"
DEFAULTS = RedisThresholds()


def by_name(result: dict[str, t.Any], name: str) -> dict[str, t.Any]:
    return next(f for f in result["findings"] if f["name"] == name)


# --------------------------------------------------------------------------
# Evaluators (pure)
# --------------------------------------------------------------------------


@pytest.mark.parametrize("value, status", [(None, "unknown"), (95.0, "ok"), (80.0, "ok"), (79.9, "warn"),
                                           (50.0, "warn"), (49.9, "critical")])
def test_compare_low_treats_lower_as_worse(value, status):
    assert compare_low(value, 80.0, 50.0) == status


def info(**values: t.Any) -> dict[str, t.Any]:
    base = {"run_id": "a", "uptime_in_seconds": 100, "keyspace_hits": 0, "keyspace_misses": 0, "evicted_keys": 0,
            "rejected_connections": 0}
    return {**base, **values}


def test_window_stats_are_counter_increases():
    first = info(keyspace_hits=1000, keyspace_misses=10, evicted_keys=5, rejected_connections=1)
    second = info(uptime_in_seconds=110, keyspace_hits=1020, keyspace_misses=190, evicted_keys=9,
                  rejected_connections=1)
    window = window_stats(first, second, 10.0)
    assert window == {"seconds": 10.0, "restarted": False, "hits": 20, "misses": 180, "hit_rate": 10.0,
                      "evicted_keys": 4, "rejected_connections": 0}


@pytest.mark.parametrize("second", [
    info(run_id="b", uptime_in_seconds=1),        # restarted
    info(uptime_in_seconds=110, keyspace_hits=3),  # CONFIG RESETSTAT during the window
])
def test_window_stats_after_a_restart_are_not_trusted(second):
    window = window_stats(info(keyspace_hits=500), second, 10.0)
    assert window["restarted"] is True and window["hit_rate"] is None
    finding = evaluate_hit_rate("cache_hit_rate", window["hits"], window["misses"], "in the window", DEFAULTS, TARGET)
    assert finding.status == "unknown" and "restarted" in finding.evidence


@pytest.mark.parametrize("hits, misses, status, value", [
    (900, 100, "ok", 90.0),
    (700, 300, "warn", 70.0),
    (100, 900, "critical", 10.0),
    (1, 50, "ok", 1.96),  # 51 lookups: too few to judge
    (0, 0, "ok", None),
])
def test_hit_rate_finding(hits, misses, status, value):
    finding = evaluate_hit_rate("cache_hit_rate", hits, misses, "in the last 5 s", DEFAULTS, TARGET)
    assert (finding.status, finding.value) == (status, value)
    assert f"{hits} hits and {misses} misses in the last 5 s" in finding.evidence
    assert (finding.remediation is not None) == (status != "ok")
    if hits + misses < 100:
        assert "too few to judge" in finding.evidence


@pytest.mark.parametrize("window, total, status, value", [
    (None, 0, "ok", 0),
    (None, 12, "warn", 12),
    ({"restarted": False, "evicted_keys": 0, "seconds": 5.0}, 12, "ok", 0),  # old evictions, none now
    ({"restarted": False, "evicted_keys": 3, "seconds": 5.0}, 12, "warn", 3),
])
def test_evictions_are_judged_over_the_window_when_there_is_one(window, total, status, value):
    finding = evaluate_evictions(info(evicted_keys=total, maxmemory_policy="allkeys-lru"), window, DEFAULTS, TARGET)
    assert (finding.status, finding.value) == (status, value)
    assert f"({total} since start, maxmemory-policy allkeys-lru)" in finding.evidence


@pytest.mark.parametrize("used, limit, status, value", [
    (10, 100, "ok", 10.0), (81, 100, "warn", 81.0), (96, 100, "critical", 96.0), (10, 0, "ok", None),
])
def test_memory_against_maxmemory(used, limit, status, value):
    finding = evaluate_memory({"used_memory": used, "maxmemory": limit, "maxmemory_policy": "allkeys-lru"},
                              DEFAULTS, TARGET)
    assert (finding.status, finding.value) == (status, value)
    if not limit:
        assert "no maxmemory set" in finding.evidence


@pytest.mark.parametrize("connected, rejected, status", [(10, 0, "ok"), (85, 0, "warn"), (96, 0, "critical"),
                                                         (10, 2, "critical")])
def test_connected_clients_and_rejected_connections(connected, rejected, status):
    window = {"rejected_connections": rejected, "seconds": 5.0}
    finding = evaluate_clients({"connected_clients": connected, "maxclients": 100}, window, DEFAULTS, TARGET)
    assert finding.status == status and finding.value == float(connected)
    if rejected:
        assert f"{rejected} connections rejected in the last 5 s" in finding.evidence


@pytest.mark.parametrize("blocked, status", [(0, "ok"), (1, "warn")])
def test_blocked_clients(blocked, status):
    assert evaluate_blocked({"blocked_clients": blocked}, DEFAULTS, TARGET).status == status


@pytest.mark.parametrize("params, message", [
    ({"hit_rate_warn_percent": 40, "hit_rate_critical_percent": 50}, "hit_rate_warn_percent"),
    ({"memory_warn_percent": 99, "memory_critical_percent": 90}, "memory_warn_percent"),
    ({"evictions_warn": -1}, "must not be negative"),
])
def test_thresholds_are_validated(params, message):
    with pytest.raises(IncidentResponseError, match=message):
        RedisThresholds.from_params(params)


def test_ca_path_without_tls_is_a_configuration_error():
    with pytest.raises(IncidentResponseError, match="set tls: true"):
        client({"host": "127.0.0.1", "ca_path": "/ca.pem"})


# --------------------------------------------------------------------------
# Against a real redis-server
# --------------------------------------------------------------------------


def test_many_misses_in_the_window_are_flagged(redis_server):
    cache = redis_server.client
    cache.set("incidents:recent", "[]")
    for _repeat in range(2000):  # a warm past ...
        cache.get("incidents:recent")

    asked: list[float] = []

    def misses_during_the_window(seconds: float) -> None:
        asked.append(seconds)
        for i in range(300):  # ... and a cold present
            cache.get(f"incidents:{i}")

    result = check_redis_health(redis_server.params(window_seconds=0.5), sleep=misses_during_the_window)
    assert asked == [0.5]  # INFO, wait the window, INFO
    window_rate = by_name(result, "cache_hit_rate")
    assert window_rate["status"] == "critical" and window_rate["value"] == 0.0
    assert "0 hits and 300 misses" in window_rate["evidence"]
    assert "warm cache if needed" in window_rate["remediation"]
    since_start = by_name(result, "cache_hit_rate_since_start")
    assert since_start["status"] == "ok" and since_start["value"] == round(100 * 2000 / 2300, 2)
    assert result["window"]["misses"] == 300 and result["since_start"]["hits"] == 2000
    assert result["status"] == "critical"


def test_a_warm_cache_is_ok(redis_server):
    redis_server.client.set("k", "v")
    for _repeat in range(200):
        redis_server.client.get("k")
    result = check_redis_health(redis_server.params(window_seconds=0))
    assert "cache_hit_rate" not in [f["name"] for f in result["findings"]]  # no window asked for
    assert by_name(result, "cache_hit_rate_since_start")["status"] == "ok"
    assert result["window"] is None
    assert result["status"] == "ok", result["findings"]
    assert result["server"]["version"] and result["memory"]["maxmemory_bytes"] == 32 * 1024 * 1024
    assert result["keyspace"]["db0"]["keys"] == 1


def test_evictions_and_memory_pressure(redis_server):
    cache = redis_server.client
    cache.config_set("maxmemory", "2mb")
    try:
        for i in range(400):
            cache.set(f"blob:{i}", b"x" * 10000)
        result = check_redis_health(redis_server.params())
    finally:
        cache.config_set("maxmemory", "32mb")
    assert by_name(result, "evictions")["status"] == "warn" and result["since_start"]["evicted_keys"] > 0
    assert by_name(result, "memory")["status"] in ("warn", "critical")
    assert result["memory"]["policy"] == "allkeys-lru"


def test_blocked_client_is_counted(redis_server):
    import redis

    consumer = redis.Redis(host="127.0.0.1", port=redis_server.port, password=redis_server.params()["password"])
    thread = threading.Thread(target=lambda: consumer.blpop(["queue:empty"], timeout=3))
    thread.start()
    try:
        for _attempt in range(50):  # wait until the BLPOP is in
            if redis_server.client.info("clients")["blocked_clients"]:
                break
            threading.Event().wait(0.05)
        result = check_redis_health(redis_server.params())
    finally:
        redis_server.client.lpush("queue:empty", "wake")
        thread.join()
        consumer.close()
    assert by_name(result, "blocked_clients")["status"] == "warn"
    assert result["clients"]["blocked"] == 1 and result["clients"]["connected"] >= 2


def test_acl_username_is_used(redis_server):
    redis_server.client.execute_command("ACL", "SETUSER", "monitor", "on", ">monitor-pw", "+info", "+hello", "+ping",
                                        "+client")
    try:
        result = check_redis_health(redis_server.params(username="monitor", password="monitor-pw"))
    finally:
        redis_server.client.execute_command("ACL", "DELUSER", "monitor")
    assert by_name(result, "connection")["status"] == "ok"


@pytest.mark.parametrize("overrides, evidence", [
    ({"password": "wrong-pw-9c1e"}, "AuthenticationError"),
    ({"password": None}, "AuthenticationError"),
    ({"port": None}, "Connection refused"),
    ({"tls": True, "validate_certs": False, "connect_timeout": 1}, "Error"),  # TLS hello to a plain-text server
])
def test_unreachable_or_refused_cache_is_a_critical_finding(redis_server, free_port_factory, overrides, evidence):
    if "port" in overrides:
        overrides = {"port": free_port_factory()}
    result = check_redis_health(redis_server.params(window_seconds=0.1, **overrides))
    assert result["status"] == "critical"
    assert [f["name"] for f in result["findings"]] == ["connection"]
    assert evidence in result["findings"][0]["evidence"]
    assert result["server"] is None and result["window"] is None
    assert "wrong-pw-9c1e" not in json.dumps(result)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def tls_redis() -> t.Iterator[dict[str, t.Any]]:
    """A TLS-only redis-server with a certificate for 127.0.0.1 from a throwaway CA."""
    trustme = pytest.importorskip("trustme")
    redis = pytest.importorskip("redis")
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not installed")
    tmp = Path(tempfile.mkdtemp(prefix="ir-unit-redis-tls-"))
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca.cert_pem.write_to_path(str(tmp / "ca.pem"))
    cert.private_key_pem.write_to_path(str(tmp / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(tmp / "cert.pem"))
    port = _free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--requirepass", "tls-pw", "--tls-cert-file", str(tmp / "cert.pem"),
         "--tls-key-file", str(tmp / "key.pem"), "--tls-ca-cert-file", str(tmp / "ca.pem"),
         "--tls-auth-clients", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    probe = redis.Redis(host="127.0.0.1", port=port, password="tls-pw", ssl=True, ssl_ca_certs=str(tmp / "ca.pem"),
                        socket_timeout=2)
    try:
        for _attempt in range(100):
            try:
                probe.ping()
                break
            except redis.RedisError:
                threading.Event().wait(0.1)
        yield {"host": "127.0.0.1", "port": port, "password": "tls-pw", "tls": True, "ca_path": str(tmp / "ca.pem"),
               "connect_timeout": 3, "window_seconds": 0}
    finally:
        probe.close()
        proc.terminate()
        proc.wait(timeout=15)
        shutil.rmtree(tmp, ignore_errors=True)


def test_tls_with_the_servers_ca(tls_redis):
    result = check_redis_health(tls_redis)
    assert by_name(result, "connection")["status"] == "ok"


def test_tls_certificate_is_verified_by_default(tls_redis):
    result = check_redis_health({**tls_redis, "ca_path": None})
    connection = by_name(result, "connection")
    assert connection["status"] == "critical" and "certificate verify failed" in connection["evidence"]


def test_tls_verification_can_be_turned_off(tls_redis):
    result = check_redis_health({**tls_redis, "ca_path": None, "validate_certs": False})
    assert by_name(result, "connection")["status"] == "ok"


def test_plain_text_to_a_tls_port_is_a_critical_finding(tls_redis):
    result = check_redis_health({**tls_redis, "tls": False, "ca_path": None, "connect_timeout": 1})
    assert by_name(result, "connection")["status"] == "critical"
