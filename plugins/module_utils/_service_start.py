# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The runbook's "Service Won't Start", checked on the app host itself.

One finding per common cause: missing environment variables (names only,
values are never returned), the service port already in use (with the pid
and name of the process holding it), the database and cache not reachable
over TCP from this host, and insufficient permissions on the paths the
service needs. Port owners come from /proc (Linux), so the module must run
in the host's own network namespace, which it does when run on the host.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
import typing as t

from ansible_collections.platform_eng.incident_response.plugins.module_utils._fanout import fan_out
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    CRITICAL,
    OK,
    UNKNOWN,
    WARN,
    Finding,
    IncidentResponseError,
    summarize,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._listeners import (
    Listener,
    belongs_to,
    port_listeners,
    service_pid,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._service_paths import (
    Account,
    account_for,
    check_path,
)

DEFAULT_ENV_FILE = "/etc/incident-response/env"
DEFAULT_PID_FILE = "/var/lib/incident-response/service.pid"
# The names the runbook greps for: env | grep -E '(DB_|REDIS_|API_)'.
DEFAULT_REQUIRED_ENV = ("API_PORT", "DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD",
                        "REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD")
DEFAULT_LOG_DIR = "/var/log/incident-response"
DEFAULT_SERVICE_SCRIPT = "/opt/incident-response/current/bin/service"
# Ports the service falls back to when DB_PORT / REDIS_PORT are not set (app/server.py).
DEPENDENCY_VARS = (("database", "DB_HOST", "DB_PORT", 5432), ("cache", "REDIS_HOST", "REDIS_PORT", 6379))

_COMMON = "Runbook 'Service Won't Start', common cause"
REMEDIATION_ENV = (f"{_COMMON} 'Missing environment variables': add the missing names to the env file "
                   "(KEY=VALUE lines, values from the vault), then start the service.")
REMEDIATION_ENV_FILE = (f"{_COMMON} 'Missing environment variables': the service reads its settings from this "
                        "file and refuses to start when it is missing or has a line that is not KEY=VALUE.")
REMEDIATION_PORT = (f"{_COMMON} 'Port already in use': stop the process holding the port (pid in evidence) or "
                    "move it, then start the service.")
REMEDIATION_PORT_OWN = ("The service is already running and holds the port: a second start would fail to bind. "
                        "Use restart, or stop it first.")
REMEDIATION_NOT_LISTENING = (f"{_COMMON}s: missing environment variables, database connection failure, "
                             "port already in use, insufficient permissions; read the service log, then start it.")
REMEDIATION_DEPENDENCY = (f"{_COMMON} 'Database connection failure' (runbook 'Database Connection Errors'): verify "
                          "the database/cache is running, check security group rules, test the connection from "
                          "the application host (nc -zv <host> <port>).")
REMEDIATION_PATH = (f"{_COMMON} 'Insufficient permissions': give the service user the access shown (chown/chmod "
                    "the path, or fix the user the service runs as), then start the service.")


# --------------------------------------------------------------------------
# Environment variables: names only
# --------------------------------------------------------------------------


@dataclasses.dataclass
class EnvSource:
    values: dict[str, str]
    bad_lines: list[int]
    error: str | None = None


def parse_env_file(text: str) -> EnvSource:
    """KEY=VALUE lines as bin/service reads them; bad lines are kept as line numbers only (they may hold a secret)."""
    values: dict[str, str] = {}
    bad: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key or key[0].isdigit() or not all(c.isalnum() or c == "_" for c in key):
            bad.append(number)
            continue
        values[key] = value
    return EnvSource(values, bad)


def read_env(env_file: str | None, sources: t.Sequence[str], environ: t.Mapping[str, str]) -> EnvSource:
    """The environment the service would see: the process environment, overridden by the file (as bin/service does)."""
    merged = EnvSource({}, [])
    if "process" in sources:
        merged.values.update(environ)
    if "file" in sources and env_file:
        try:
            with open(env_file, encoding="utf-8", errors="replace") as handle:
                parsed = parse_env_file(handle.read())
        except OSError as exc:
            merged.error = f"{type(exc).__name__}: {exc.strerror or exc} ({env_file})"
        else:
            merged.values.update(parsed.values)
            merged.bad_lines = parsed.bad_lines
    return merged


def evaluate_env(env: EnvSource, required: t.Sequence[str], env_file: str | None,
                 sources: t.Sequence[str], target: str) -> tuple[list[Finding], dict[str, t.Any]]:
    missing = [name for name in required if name not in env.values]
    empty = [name for name in required if name in env.values and not env.values[name].strip()]
    report: dict[str, t.Any]
    report = {"sources": list(sources), "env_file": env_file if "file" in sources else None,
              "required": list(required), "present": sorted(n for n in required if n not in missing + empty),
              "missing": missing, "empty": empty, "bad_lines": env.bad_lines}
    findings = []
    if "file" in sources:
        if env.error:
            findings.append(Finding("env_file", target, CRITICAL, env_file, None, None,
                                    f"cannot read the env file: {env.error}", REMEDIATION_ENV_FILE))
        elif env.bad_lines:
            findings.append(Finding("env_file", target, CRITICAL, env_file, None, None,
                                    f"line(s) {', '.join(map(str, env.bad_lines))} of {env_file} not KEY=VALUE "
                                    "(line content not shown: it may hold a secret)", REMEDIATION_ENV_FILE))
        else:
            findings.append(Finding("env_file", target, OK, env_file, None, None, f"{env_file} is readable"))
    if env.error and sources == ["file"]:
        findings.append(Finding("required_env", target, UNKNOWN, None, list(required), None,
                                "the env file could not be read (see env_file)"))
        return findings, report
    problems = missing + empty
    where = " and ".join(s if s != "file" else str(env_file) for s in sources)
    if problems:
        parts = [f"missing: {', '.join(missing)}"] if missing else []
        parts += [f"empty: {', '.join(empty)}"] if empty else []
        evidence = f"{'; '.join(parts)} (in {where}; {len(report['present'])} of {len(required)} present)"
        findings.append(Finding("required_env", target, CRITICAL, problems, list(required), None, evidence,
                                REMEDIATION_ENV))
    else:
        findings.append(Finding("required_env", target, OK, [], list(required), None,
                                f"all {len(required)} required variables are set in {where}"))
    return findings, report


# --------------------------------------------------------------------------
# The service port
# --------------------------------------------------------------------------


def evaluate_port(port: int | None, listeners: list[Listener], own_pid: int | None, pid_note: str,
                  expect_running: bool, target: str, proc_root: str = "/proc") -> Finding:
    if port is None:
        return Finding("service_port", target, UNKNOWN, None, None, None,
                       "no port to check: set the port option or API_PORT (see required_env)")
    if not listeners:
        if expect_running:
            return Finding("service_port", target, CRITICAL, port, None, None,
                           f"nothing listens on port {port}: the service is not running ({pid_note})",
                           REMEDIATION_NOT_LISTENING)
        return Finding("service_port", target, OK, port, None, None, f"port {port} is free; {pid_note}")
    holders = "; ".join(f"{entry.address}:{entry.port} held by "
                        + (f"pid {entry.pid} ({entry.process})" if entry.pid else "an unknown process "
                           "(its /proc entry is not readable by this user)")
                        for entry in listeners)
    if own_pid and all(belongs_to(entry.pid, own_pid, proc_root) for entry in listeners):
        if expect_running:
            return Finding("service_port", target, OK, port, None, None, f"{holders}: the service itself ({pid_note})")
        return Finding("service_port", target, WARN, port, None, None,
                       f"{holders}: the service itself is already running ({pid_note})", REMEDIATION_PORT_OWN)
    return Finding("service_port", target, CRITICAL, port, None, None,
                   f"port {port} is already in use: {holders}, not by the service ({pid_note})", REMEDIATION_PORT)


# --------------------------------------------------------------------------
# Database and cache reachability
# --------------------------------------------------------------------------


@dataclasses.dataclass
class Dependency:
    name: str
    host: str | None
    port: int | None
    problem: str | None = None


def dependencies_from_env(values: t.Mapping[str, str]) -> list[Dependency]:
    deps = []
    for name, host_var, port_var, default_port in DEPENDENCY_VARS:
        host = (values.get(host_var) or "").strip() or None
        raw_port = (values.get(port_var) or "").strip()
        if host is None:
            deps.append(Dependency(name, None, None, f"{host_var} is not set (see required_env)"))
        elif raw_port and not (raw_port.isdigit() and 0 < int(raw_port) < 65536):
            deps.append(Dependency(name, host, None, f"{port_var} is not a port number"))
        else:
            deps.append(Dependency(name, host, int(raw_port) if raw_port else default_port))
    return deps


def tcp_connect(host: str, port: int, timeout: float) -> float:
    """Milliseconds to complete a TCP handshake; raises OSError when it cannot."""
    started = time.monotonic()
    with socket.create_connection((host, port), timeout=timeout):
        return round((time.monotonic() - started) * 1000.0, 3)


def check_dependencies(deps: list[Dependency], timeout: float, target: str) -> tuple[list[Finding], list[dict[str, t.Any]]]:
    """All dependencies at once, each with its own connect timeout."""
    probe = [d for d in deps if d.problem is None]
    outcomes = {id(o.item): o for o in fan_out(
        lambda d: tcp_connect(t.cast(str, d.host), t.cast(int, d.port), timeout), probe,
        max_workers=8, timeout=timeout + 1.0)}
    findings: list[Finding] = []
    report: list[dict[str, t.Any]] = []
    for dep in deps:
        where = f"{dep.name} {dep.host}:{dep.port}" if dep.host and dep.port else dep.name
        if dep.problem:
            findings.append(Finding("dependency_reachable", f"{target} -> {dep.name}", UNKNOWN, None, None, None,
                                    dep.problem))
            report.append({"name": dep.name, "host": dep.host, "port": dep.port, "reachable": None,
                           "connect_ms": None, "error": dep.problem})
            continue
        outcome = outcomes[id(dep)]
        if outcome.ok:
            findings.append(Finding("dependency_reachable", f"{target} -> {where}", OK, outcome.result, None, "ms",
                                    f"TCP connect to {dep.host}:{dep.port} took {outcome.result} ms"))
        else:
            findings.append(Finding("dependency_reachable", f"{target} -> {where}", CRITICAL, None, None, "ms",
                                    f"TCP connect to {dep.host}:{dep.port} failed: {outcome.error}",
                                    REMEDIATION_DEPENDENCY))
        report.append({"name": dep.name, "host": dep.host, "port": dep.port, "reachable": outcome.ok,
                       "connect_ms": outcome.result, "error": outcome.error})
    return findings, report


# --------------------------------------------------------------------------
# The whole check
# --------------------------------------------------------------------------


def default_paths(env_file: str | None, pid_file: str | None) -> list[dict[str, t.Any]]:
    """What the sample service touches: its env file, pid and log directories, its control script."""
    paths = [{"path": env_file, "mode": "r"}] if env_file else []
    if pid_file:
        paths.append({"path": os.path.dirname(pid_file) or ".", "mode": "w"})
    return paths + [{"path": DEFAULT_LOG_DIR, "mode": "w"}, {"path": DEFAULT_SERVICE_SCRIPT, "mode": "x"}]


def _port_option(params: t.Mapping[str, t.Any], env: EnvSource) -> int | None:
    port = params.get("port")
    if port is None:
        raw = (env.values.get("API_PORT") or "").strip()
        port = int(raw) if raw.isdigit() else None
    if port is not None and not 0 < int(port) < 65536:
        raise IncidentResponseError(f"port must be between 1 and 65535, got {port}")
    return port


def check_service_start(
    params: t.Mapping[str, t.Any],
    environ: t.Mapping[str, str] | None = None,
    proc_root: str = "/proc",
    hostname: str | None = None,
) -> dict[str, t.Any]:
    started = time.monotonic()
    target = hostname or socket.gethostname()
    sources = list(params.get("env_sources") or ["file"])
    unknown = sorted(set(sources) - {"file", "process"})
    if unknown:
        raise IncidentResponseError(f"env_sources: unknown source(s) {', '.join(unknown)}; use file and/or process")
    env_file = params.get("env_file", DEFAULT_ENV_FILE)
    required = list(params.get("required_env") or DEFAULT_REQUIRED_ENV)
    timeout = float(3.0 if params.get("connect_timeout") is None else params["connect_timeout"])
    if timeout <= 0:
        raise IncidentResponseError(f"connect_timeout must be a positive number of seconds, got {timeout:g}")
    pid_file = params.get("pid_file", DEFAULT_PID_FILE)
    account: Account = account_for(params.get("service_user"))

    env = read_env(env_file, sources, os.environ if environ is None else environ)
    findings, env_report = evaluate_env(env, required, env_file, sources, target)

    port = _port_option(params, env)
    listeners = port_listeners(port, proc_root) if port else []
    own_pid, pid_note = service_pid(pid_file, proc_root)
    findings.append(evaluate_port(port, listeners, own_pid, pid_note, bool(params.get("expect_running")), target,
                                  proc_root))
    port_report = {"port": port, "in_use": bool(listeners), "service_pid": own_pid,
                   "listeners": [dataclasses.asdict(entry) for entry in listeners],
                   "held_by_service": bool(listeners) and bool(own_pid) and all(
                       belongs_to(entry.pid, own_pid, proc_root) for entry in listeners)}

    deps = params.get("dependencies")
    dependencies = ([Dependency(d["name"], d["host"], int(d["port"])) for d in deps] if deps is not None
                    else dependencies_from_env(env.values))
    dep_findings, dep_report = check_dependencies(dependencies, timeout, target)
    findings += dep_findings

    paths = params.get("paths")
    path_reports = [check_path(spec, account) for spec in (paths if paths is not None else default_paths(env_file, pid_file))]
    for report in path_reports:
        status = report.pop("status")
        findings.append(Finding("path_access", f"{target}:{report['path']}", status, report["mode"], report["want"],
                                None, report["evidence"], REMEDIATION_PATH if status in (WARN, CRITICAL) else None))

    return {**summarize(findings), "env": env_report, "port": port_report, "dependencies": dep_report,
            "paths": path_reports, "service_user": account.name,
            "elapsed_ms": round((time.monotonic() - started) * 1000.0, 3)}
