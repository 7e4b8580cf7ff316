# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Redis health for the runbook's "check cache hit rate, warm cache if needed".

``check_redis_health`` reads INFO twice, ``window_seconds`` apart: the hit
rate over the window says what the cache does now, the counters since start
say what it did on average. The evaluators are pure functions of INFO
dictionaries and thresholds. A server that cannot be reached or refuses the
credentials is one ``critical`` finding, never an exception.
"""

from __future__ import annotations

import dataclasses
import time
import traceback
import typing as t

try:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry
except ImportError:
    redis = None  # type: ignore[assignment]
    REDIS_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    REDIS_IMPORT_ERROR = None

from ansible_collections.platform_eng.incident_response.plugins.module_utils._fanout import describe_error
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    CRITICAL,
    OK,
    UNKNOWN,
    WARN,
    Finding,
    IncidentResponseError,
    compare_low,
    rated_finding,
    summarize,
    threshold_values,
)

REMEDIATION_CONNECT = (
    "Could not talk to Redis: verify the cache is running (ElastiCache node status), that security group rules "
    "allow this host on the Redis port, and that the password, user name and TLS settings match the server; "
    "the application fails the same way (runbook 'Service Won't Start': connectivity)."
)
REMEDIATION_HIT_RATE = (
    "Runbook 'High Latency': check cache hit rate, warm cache if needed. Many misses mean keys expire too soon "
    "(TTL), were evicted (see the evictions finding), or are read but never written (a changed key name in a "
    "recent release); every miss is a database query, so also check slow_statements."
)
REMEDIATION_EVICTIONS = (
    "The cache is full and evicting keys, which lowers the hit rate: raise maxmemory or scale up the cache node, "
    "shorten TTLs or cache less; then warm the cache (runbook 'High Latency')."
)
REMEDIATION_MEMORY = (
    "Memory is close to maxmemory: expect evictions (or write errors with maxmemory-policy noeviction). "
    "Runbook 'Memory Leak': review recent code for unbounded data structures (redis-cli --bigkeys), increase "
    "the memory limit as a temporary fix."
)
REMEDIATION_CLIENTS = (
    "Clients are close to maxclients or were refused: runbook 'Memory Leak': check for unclosed connections; "
    "check the application's connection pool size per host times the number of hosts; raise maxclients."
)
REMEDIATION_BLOCKED = (
    "Clients are blocked in BLPOP/BRPOP/BLMOVE/WAIT: check that producers are running and that consumers time "
    "out; a cache-only Redis should have none."
)


def redis_argument_spec() -> dict[str, t.Any]:
    """The shared connection options; merge into a module's argument spec."""
    return dict(
        host=dict(type="str", required=True),
        port=dict(type="int", default=6379),
        username=dict(type="str"),
        password=dict(type="str", no_log=True),
        db=dict(type="int", default=0),
        tls=dict(type="bool", default=False),
        ca_path=dict(type="path"),
        validate_certs=dict(type="bool", default=True),
        connect_timeout=dict(type="float", default=5.0),
    )


@dataclasses.dataclass(frozen=True)
class RedisThresholds:
    hit_rate_warn_percent: float | None = 80.0
    hit_rate_critical_percent: float | None = 50.0
    hit_rate_min_lookups: float = 100
    evictions_warn: float | None = 0
    evictions_critical: float | None = None
    memory_warn_percent: float | None = 80.0
    memory_critical_percent: float | None = 95.0
    clients_warn_percent: float | None = 80.0
    clients_critical_percent: float | None = 95.0
    blocked_clients_warn: float | None = 0
    blocked_clients_critical: float | None = None

    @classmethod
    def from_params(cls, params: t.Mapping[str, t.Any]) -> RedisThresholds:
        # Lower is worse for a hit rate: its warning level sits above the critical one.
        return cls(**threshold_values(cls, params, low_pairs=(("hit_rate_warn_percent", "hit_rate_critical_percent"),),
                                      pairs=(("evictions_warn", "evictions_critical"),
                                             ("memory_warn_percent", "memory_critical_percent"),
                                             ("clients_warn_percent", "clients_critical_percent"),
                                             ("blocked_clients_warn", "blocked_clients_critical")),
                                      required=("hit_rate_min_lookups",)))


def client(params: t.Mapping[str, t.Any]) -> t.Any:
    """A redis-py client; it connects lazily, so errors surface on the first command."""
    if redis is None:
        raise IncidentResponseError("the redis Python library is required to inspect Redis")
    timeout = float(params.get("connect_timeout") or 5.0)
    if timeout <= 0:
        raise IncidentResponseError(f"connect_timeout must be a positive number of seconds, got {timeout:g}")
    kwargs: dict[str, t.Any] = {
        "host": params["host"],
        "port": int(params.get("port") or 6379),
        "db": int(params.get("db") or 0),
        "username": params.get("username"),
        "password": params.get("password"),
        "socket_connect_timeout": timeout,
        "socket_timeout": timeout,
        "client_name": "platform_eng.incident_response",
        # One attempt: redis-py retries connection errors (authentication failures included) three
        # times with backoff by default, which turns a dead cache into a 40 s wait.
        "retry": Retry(NoBackoff(), 0),
    }
    if params.get("tls"):
        validate = params.get("validate_certs", True)
        ca_path = params.get("ca_path")
        kwargs.update(ssl=True, ssl_cert_reqs="required" if validate else "none", ssl_check_hostname=bool(validate))
        if ca_path:
            kwargs["ssl_ca_certs"] = ca_path
    elif params.get("ca_path"):
        raise IncidentResponseError("ca_path is set but tls is false; set tls: true to connect with TLS")
    return redis.Redis(**kwargs)


def _num(info: t.Mapping[str, t.Any], key: str) -> float:
    return float(info.get(key) or 0)


def hit_rate(hits: float, misses: float) -> float | None:
    lookups = hits + misses
    return round(100.0 * hits / lookups, 2) if lookups else None


def window_stats(first: t.Mapping[str, t.Any], second: t.Mapping[str, t.Any], seconds: float) -> dict[str, t.Any]:
    """Counter increases between two INFO samples; a restart in between makes them meaningless."""
    restarted = (_num(second, "uptime_in_seconds") < _num(first, "uptime_in_seconds")
                 or second.get("run_id") != first.get("run_id")
                 or any(_num(second, k) < _num(first, k) for k in ("keyspace_hits", "keyspace_misses")))
    hits = _num(second, "keyspace_hits") - _num(first, "keyspace_hits")
    misses = _num(second, "keyspace_misses") - _num(first, "keyspace_misses")
    return {
        "seconds": round(seconds, 3),
        "restarted": restarted,
        "hits": None if restarted else int(hits),
        "misses": None if restarted else int(misses),
        "hit_rate": None if restarted else hit_rate(hits, misses),
        "evicted_keys": None if restarted else int(_num(second, "evicted_keys") - _num(first, "evicted_keys")),
        "rejected_connections": None if restarted else int(
            _num(second, "rejected_connections") - _num(first, "rejected_connections")),
    }


def evaluate_hit_rate(name: str, hits: int | None, misses: int | None, scope: str, thresholds: RedisThresholds,
                      target: str) -> Finding:
    limits = {"warn": thresholds.hit_rate_warn_percent, "critical": thresholds.hit_rate_critical_percent}
    if hits is None or misses is None:
        return Finding(name, target, UNKNOWN, None, limits, "%", f"Redis restarted {scope}; run the check again")
    lookups = hits + misses
    rate = hit_rate(hits, misses)
    evidence = f"{hits} hits and {misses} misses {scope}"
    if lookups < thresholds.hit_rate_min_lookups:
        # Two misses out of three lookups say nothing about a cache.
        return Finding(name, target, OK, rate, limits, "%",
                       f"{evidence}: fewer than {thresholds.hit_rate_min_lookups:g} lookups, too few to judge")
    status = compare_low(rate, thresholds.hit_rate_warn_percent, thresholds.hit_rate_critical_percent)
    return Finding(name, target, status, rate, limits, "%", f"{evidence}: hit rate {rate:g} %",
                   REMEDIATION_HIT_RATE if status in (WARN, CRITICAL) else None)


def evaluate_evictions(info: t.Mapping[str, t.Any], window: dict[str, t.Any] | None, thresholds: RedisThresholds,
                       target: str) -> Finding:
    total = int(_num(info, "evicted_keys"))
    policy = info.get("maxmemory_policy", "unknown")
    if window is not None:
        if window["restarted"]:
            return Finding("evictions", target, UNKNOWN, None, None, "keys", "Redis restarted during the window")
        value, scope = window["evicted_keys"], f"in the last {window['seconds']:g} s"
    else:
        value, scope = total, "since start"
    evidence = f"{value} keys evicted {scope} ({total} since start, maxmemory-policy {policy})"
    return rated_finding("evictions", target, value, thresholds.evictions_warn, thresholds.evictions_critical, "keys",
                         evidence, REMEDIATION_EVICTIONS)


def evaluate_memory(info: t.Mapping[str, t.Any], thresholds: RedisThresholds, target: str) -> Finding:
    used, limit = _num(info, "used_memory"), _num(info, "maxmemory")
    limits = {"warn": thresholds.memory_warn_percent, "critical": thresholds.memory_critical_percent}
    if not limit:
        return Finding("memory", target, OK, None, limits, "%",
                       f"{info.get('used_memory_human', int(used))} used; no maxmemory set, so Redis grows until "
                       "the host runs out of memory instead of evicting")
    percent = round(100.0 * used / limit, 2)
    evidence = (f"{info.get('used_memory_human', int(used))} used of maxmemory "
                f"{info.get('maxmemory_human', int(limit))} ({percent:g} %), policy {info.get('maxmemory_policy')}")
    return rated_finding("memory", target, percent, thresholds.memory_warn_percent, thresholds.memory_critical_percent,
                         "%", evidence, REMEDIATION_MEMORY)


def evaluate_clients(info: t.Mapping[str, t.Any], window: dict[str, t.Any] | None, thresholds: RedisThresholds,
                     target: str) -> Finding:
    connected, maxclients = int(_num(info, "connected_clients")), int(_num(info, "maxclients"))
    percent = round(100.0 * connected / maxclients, 2) if maxclients else None
    evidence = f"{connected} clients connected" + (f" of maxclients {maxclients}" if maxclients else "")
    finding = rated_finding("connected_clients", target, percent, thresholds.clients_warn_percent,
                            thresholds.clients_critical_percent, "%", evidence, REMEDIATION_CLIENTS)
    if percent is None:
        finding.status, finding.value = OK, None
    rejected = window.get("rejected_connections") if window else None
    if rejected:
        # Refused clients are failed requests right now, whatever the ratio says.
        finding.status, finding.remediation = CRITICAL, REMEDIATION_CLIENTS
        finding.evidence += f"; {rejected} connections rejected in the last {window['seconds']:g} s"  # type: ignore[index]
    return finding


def evaluate_blocked(info: t.Mapping[str, t.Any], thresholds: RedisThresholds, target: str) -> Finding:
    blocked = int(_num(info, "blocked_clients"))
    return rated_finding("blocked_clients", target, blocked, thresholds.blocked_clients_warn,
                         thresholds.blocked_clients_critical, "clients",
                         f"{blocked} clients blocked in a blocking command", REMEDIATION_BLOCKED)


def _summary(info: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    used, limit = int(_num(info, "used_memory")), int(_num(info, "maxmemory"))
    connected, maxclients = int(_num(info, "connected_clients")), int(_num(info, "maxclients"))
    return {
        "server": {"version": info.get("redis_version"), "mode": info.get("redis_mode"),
                   "role": info.get("role"), "uptime_seconds": int(_num(info, "uptime_in_seconds"))},
        "since_start": {
            "hits": int(_num(info, "keyspace_hits")), "misses": int(_num(info, "keyspace_misses")),
            "hit_rate": hit_rate(_num(info, "keyspace_hits"), _num(info, "keyspace_misses")),
            "evicted_keys": int(_num(info, "evicted_keys")), "expired_keys": int(_num(info, "expired_keys")),
            "rejected_connections": int(_num(info, "rejected_connections")),
        },
        "memory": {"used_bytes": used, "maxmemory_bytes": limit, "policy": info.get("maxmemory_policy"),
                   "percent": round(100.0 * used / limit, 2) if limit else None},
        "clients": {"connected": connected, "blocked": int(_num(info, "blocked_clients")), "maxclients": maxclients,
                    "percent": round(100.0 * connected / maxclients, 2) if maxclients else None},
        "keyspace": {k: v for k, v in info.items() if k.startswith("db") and isinstance(v, dict)},
    }


def check_redis_health(
    params: t.Mapping[str, t.Any],
    sleep: t.Callable[[float], None] = time.sleep,
    clock: t.Callable[[], float] = time.monotonic,
) -> dict[str, t.Any]:
    """Sample INFO (twice with a window), judge it, and return the module's result."""
    started = clock()
    thresholds = RedisThresholds.from_params(params)
    window_seconds = float(params.get("window_seconds") or 0)
    if window_seconds < 0:
        raise IncidentResponseError(f"window_seconds must not be negative, got {window_seconds:g}")
    target = f"{params['host']}:{params.get('port') or 6379}"
    conn = client(params)
    empty: dict[str, t.Any] = {"server": None, "window": None, "since_start": None, "memory": None,
                               "clients": None, "keyspace": {}}
    try:
        first = conn.info()
        first_at = clock()
        window = None
        if window_seconds > 0:
            sleep(window_seconds)
            second = conn.info()
            window = window_stats(first, second, clock() - first_at)
        else:
            second = first
    except Exception as exc:  # noqa: BLE001 - see below  # pylint: disable=broad-except
        # Refused, timed out, TLS or authentication failure: what the on-call engineer must read.
        finding = Finding("connection", target, CRITICAL, None, None, None,
                          _scrub(describe_error(exc), params.get("password")), REMEDIATION_CONNECT)
        return {**summarize([finding]), **empty, "elapsed_ms": round((clock() - started) * 1000.0, 3)}
    finally:
        conn.close()

    findings = [Finding("connection", target, OK, second.get("redis_version"), None, None,
                        f"connected to Redis {second.get('redis_version')} ({second.get('role')})")]
    if window is not None:
        findings.append(evaluate_hit_rate("cache_hit_rate", window["hits"], window["misses"],
                                          f"in the last {window['seconds']:g} s", thresholds, target))
    findings.append(evaluate_hit_rate("cache_hit_rate_since_start", int(_num(second, "keyspace_hits")),
                                      int(_num(second, "keyspace_misses")), "since start (or CONFIG RESETSTAT)",
                                      thresholds, target))
    findings += [
        evaluate_evictions(second, window, thresholds, target),
        evaluate_memory(second, thresholds, target),
        evaluate_clients(second, window, thresholds, target),
        evaluate_blocked(second, thresholds, target),
    ]
    return {**summarize(findings), **_summary(second), "window": window,
            "elapsed_ms": round((clock() - started) * 1000.0, 3)}


def _scrub(text: str, secret: str | None) -> str:
    return text.replace(secret, "********") if secret else text
