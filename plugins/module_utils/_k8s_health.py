# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Verdicts on Kubernetes pods: pure functions over the API's JSON.

Every function here takes a pod exactly as the API serves it (a dict with
camelCase keys, as ``kubectl get pod -o json`` prints it) and returns plain
data or findings. Nothing here talks to a cluster, so every rule is tested
with literal pods; ``_k8s.py`` does the fetching.
"""

from __future__ import annotations

import dataclasses
import re
import typing as t

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    CRITICAL,
    OK,
    UNKNOWN,
    WARN,
    Finding,
    compare,
)

Pod = t.Mapping[str, t.Any]

# The runbook's words, so the on-call engineer reads the same advice here as there.
REMEDIATION_CRASH_LOOP = (
    "Runbook 'Service Won't Start': read the crashed container's log (kubectl logs -n NAMESPACE POD --previous); "
    "common causes: missing environment variables, database connection failure, port already in use, "
    "insufficient permissions. If it started with a deployment, roll back."
)
REMEDIATION_WAITING = (
    "The container cannot start (see the reason in evidence): check the image name and tag, registry access, "
    "and referenced ConfigMaps/Secrets (kubectl describe pod -n NAMESPACE POD)."
)
REMEDIATION_MEMORY = (
    "Runbook 'Memory Leak': review recent code for unbounded data structures; check for unclosed database "
    "connections; increase the memory limit as a temporary fix; profile the application to find the leak."
)
REMEDIATION_NOT_READY = (
    "Runbook 'Service Won't Start': the readiness probe (health check) is failing; read the pod's events "
    "(kubectl describe pod -n NAMESPACE POD) and logs, and check database and cache connectivity."
)
REMEDIATION_PHASE = (
    "Read the pod's events (kubectl describe pod -n NAMESPACE POD): Pending usually means no node has room or "
    "an image cannot be pulled; Failed means every container exited with an error."
)
REMEDIATION_RESTARTS = (
    "Containers restarted: read the previous container's log (kubectl logs -n NAMESPACE POD --previous) and its "
    "last termination reason in evidence; OOMKilled points to the runbook's 'Memory Leak' procedure."
)
REMEDIATION_LOG_PATTERN = (
    "Read the sample lines in evidence. For 5xx errors follow runbook 'High Error Rate': check for a recent "
    "deployment (roll back if so), review stack traces, check database connection pool exhaustion."
)

# Waiting reasons that mean a container will not start without intervention.
# ContainerCreating and PodInitializing are normal steps and stay out of this list.
STUCK_WAITING_REASONS = frozenset({
    "ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CreateContainerConfigError",
    "CreateContainerError", "RunContainerError", "ErrImageNeverPull",
})
CRASH_LOOP = "CrashLoopBackOff"
OOM_KILLED = "OOMKilled"

_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)([a-zA-Z]*)$")
_SUFFIX = {
    "": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}


@dataclasses.dataclass(frozen=True)
class Thresholds:
    restarts_warn: int | None = 0
    restarts_critical: int | None = 5
    memory_warn_percent: float | None = 80.0
    memory_critical_percent: float | None = 90.0
    log_matches_warn: int | None = 0
    log_matches_critical: int | None = None


def parse_quantity(text: t.Any) -> float | None:
    """A Kubernetes quantity ("512Mi", "180M", "1.5Gi", "100m") as a number; None if unreadable.

    Whole numbers come back as int, so byte counts read as bytes.
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        match = _QUANTITY.match(str(text or "").strip())
        if not match or match.group(2) not in _SUFFIX:
            return None
        value = float(match.group(1)) * _SUFFIX[match.group(2)]
    return int(value) if value.is_integer() else value


def name_of(pod: Pod) -> str:
    return str((pod.get("metadata") or {}).get("name") or "?")


def target_of(pod: Pod) -> str:
    metadata = pod.get("metadata") or {}
    return f"{metadata.get('namespace') or '?'}/{metadata.get('name') or '?'}"


def _statuses(pod: Pod) -> list[dict[str, t.Any]]:
    status = pod.get("status") or {}
    return list(status.get("initContainerStatuses") or []) + list(status.get("containerStatuses") or [])


def _reason(state: t.Any, key: str) -> str | None:
    return ((state or {}).get(key) or {}).get("reason")


def phase(pod: Pod) -> str:
    return str((pod.get("status") or {}).get("phase") or "Unknown")


def is_ready(pod: Pod) -> bool:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return condition.get("status") == "True"
    return False


def restart_count(pod: Pod) -> int:
    return sum(int(status.get("restartCount") or 0) for status in _statuses(pod))


def crash_looping(pod: Pod) -> list[str]:
    """Containers waiting in CrashLoopBackOff: started, crashed, and now backing off."""
    return [s.get("name", "?") for s in _statuses(pod) if _reason(s.get("state"), "waiting") == CRASH_LOOP]


def stuck_waiting(pod: Pod) -> dict[str, str]:
    """Containers that cannot start at all (image, configuration), by name."""
    found = {}
    for status in _statuses(pod):
        reason = _reason(status.get("state"), "waiting")
        if reason in STUCK_WAITING_REASONS:
            found[status.get("name", "?")] = reason
    return found


def oom_kills(pod: Pod) -> list[dict[str, t.Any]]:
    """Containers whose current or most recent termination was the kernel's OOM killer.

    ``lastState`` keeps only the latest termination, so an OOMKilled there
    means the last restart was a memory kill: the runbook's memory-leak signal.
    """
    kills = []
    for status in _statuses(pod):
        for when, state in (("current", status.get("state")), ("last", status.get("lastState"))):
            terminated = (state or {}).get("terminated") or {}
            if terminated.get("reason") == OOM_KILLED:
                kills.append({"container": status.get("name", "?"), "state": when,
                              "exit_code": terminated.get("exitCode"), "finished_at": terminated.get("finishedAt"),
                              "restart_count": int(status.get("restartCount") or 0)})
    return kills


def memory_limits(pod: Pod) -> dict[str, float | None]:
    """Memory limit in bytes per (regular) container; None when the container has no limit."""
    limits: dict[str, float | None] = {}
    for container in (pod.get("spec") or {}).get("containers") or []:
        limit = ((container.get("resources") or {}).get("limits") or {}).get("memory")
        limits[container.get("name", "?")] = parse_quantity(limit) if limit is not None else None
    return limits


def memory_usage(pod_metrics: t.Mapping[str, t.Any] | None) -> dict[str, float | None]:
    """Memory use in bytes per container from a metrics.k8s.io PodMetrics object."""
    if not pod_metrics:
        return {}
    return {c.get("name", "?"): parse_quantity((c.get("usage") or {}).get("memory"))
            for c in pod_metrics.get("containers") or []}


def memory_report(pod: Pod, pod_metrics: t.Mapping[str, t.Any] | None) -> dict[str, t.Any] | None:
    """Use against limit per container, and the fullest container's percentage (the first to be OOM-killed)."""
    if pod_metrics is None:
        return None
    usage = memory_usage(pod_metrics)
    containers = []
    worst: float | None = None
    for name, limit in memory_limits(pod).items():
        used = usage.get(name)
        percent = round(used / limit * 100.0, 1) if used is not None and limit else None
        if percent is not None and (worst is None or percent > worst):
            worst = percent
        containers.append({"container": name, "usage_bytes": used, "limit_bytes": limit, "percent_of_limit": percent})
    return {"containers": containers, "percent_of_limit": worst}


def _last_termination(pod: Pod) -> list[str]:
    parts = []
    for status in _statuses(pod):
        terminated = (status.get("lastState") or {}).get("terminated") or {}
        if terminated:
            parts.append(f"{status.get('name', '?')}: last terminated {terminated.get('reason') or '?'} "
                         f"(exit code {terminated.get('exitCode')})")
    return parts


# ---------------------------------------------------------------------------
# Findings, one per check per pod
# ---------------------------------------------------------------------------

def phase_finding(pod: Pod) -> Finding:
    current = phase(pod)
    status = {"Running": OK, "Succeeded": OK, "Pending": WARN, "Failed": CRITICAL}.get(current, UNKNOWN)
    reason = (pod.get("status") or {}).get("reason")
    evidence = f"phase {current}" + (f" ({reason})" if reason else "")
    return Finding("pod_phase", target_of(pod), status, value=current, evidence=evidence,
                   remediation=None if status == OK else REMEDIATION_PHASE)


def readiness_finding(pod: Pod) -> Finding:
    current = phase(pod)
    if current == "Succeeded":
        # A finished job pod is never Ready and should not be.
        return Finding("pod_ready", target_of(pod), OK, value=False, evidence="pod completed (phase Succeeded)")
    ready = is_ready(pod)
    not_ready = [s.get("name", "?") for s in (pod.get("status") or {}).get("containerStatuses") or []
                 if not s.get("ready")]
    evidence = "Ready" if ready else f"not Ready (phase {current}); containers not ready: {', '.join(not_ready) or 'none reported'}"
    return Finding("pod_ready", target_of(pod), OK if ready else CRITICAL, value=ready, evidence=evidence,
                   remediation=None if ready else REMEDIATION_NOT_READY)


def restarts_finding(pod: Pod, thresholds: Thresholds) -> Finding:
    restarts = restart_count(pod)
    status = compare(restarts, thresholds.restarts_warn, thresholds.restarts_critical)
    details = _last_termination(pod)
    evidence = f"{restarts} restart(s)" + (f"; {'; '.join(details)}" if details else "")
    return Finding("pod_restarts", target_of(pod), status, value=restarts,
                   threshold={"warn": thresholds.restarts_warn, "critical": thresholds.restarts_critical},
                   unit="restarts", evidence=evidence, remediation=None if status == OK else REMEDIATION_RESTARTS)


def crash_loop_finding(pod: Pod) -> Finding:
    looping = crash_looping(pod)
    if not looping:
        return Finding("crash_loop_backoff", target_of(pod), OK, value=False, evidence="no container in CrashLoopBackOff")
    messages = [f"{s.get('name', '?')}: {((s.get('state') or {}).get('waiting') or {}).get('message') or CRASH_LOOP}"
                for s in _statuses(pod) if s.get("name") in looping]
    evidence = f"{CRASH_LOOP}: {', '.join(looping)}; {restart_count(pod)} restart(s); " + "; ".join(
        messages + _last_termination(pod))
    return Finding("crash_loop_backoff", target_of(pod), CRITICAL, value=True, evidence=evidence,
                   remediation=REMEDIATION_CRASH_LOOP)


def waiting_finding(pod: Pod) -> Finding | None:
    """Only for pods with a container stuck before its first start (CrashLoopBackOff has its own finding)."""
    stuck = stuck_waiting(pod)
    if not stuck:
        return None
    evidence = "; ".join(f"{name}: waiting, {reason}" for name, reason in stuck.items())
    return Finding("container_waiting", target_of(pod), CRITICAL, value=sorted(set(stuck.values())),
                   evidence=evidence, remediation=REMEDIATION_WAITING)


def oom_finding(pod: Pod) -> Finding:
    kills = oom_kills(pod)
    if not kills:
        return Finding("oom_killed", target_of(pod), OK, value=False, evidence="no OOMKilled termination recorded")
    evidence = "; ".join(f"{k['container']}: {k['state']} state terminated OOMKilled (exit code {k['exit_code']}, "
                         f"finished {k['finished_at'] or '?'}, {k['restart_count']} restart(s))" for k in kills)
    return Finding("oom_killed", target_of(pod), CRITICAL, value=True, evidence=evidence,
                   remediation=REMEDIATION_MEMORY)


def _mib(value: float | None) -> str:
    return "?" if value is None else f"{value / 2**20:.0f}Mi"


def memory_finding(pod: Pod, pod_metrics: t.Mapping[str, t.Any] | None, thresholds: Thresholds) -> Finding:
    """Memory use against the limit; ``pod_metrics`` None means the metrics API had no sample for this pod."""
    threshold = {"warn": thresholds.memory_warn_percent, "critical": thresholds.memory_critical_percent}
    report = memory_report(pod, pod_metrics)
    if report is None:
        return Finding("memory_usage", target_of(pod), UNKNOWN, threshold=threshold, unit="%",
                       evidence="no metrics.k8s.io sample for this pod (not running yet, or not scraped yet)")
    parts = [f"{c['container']}: {_mib(c['usage_bytes'])} of "
             f"{'no limit' if c['limit_bytes'] is None else _mib(c['limit_bytes'])}"
             + (f" ({c['percent_of_limit']}%)" if c["percent_of_limit"] is not None else "")
             for c in report["containers"]]
    percent = report["percent_of_limit"]
    if percent is None:
        # No limit means no container-level OOM kill to predict; say so rather than guess.
        return Finding("memory_usage", target_of(pod), OK, threshold=threshold, unit="%",
                       evidence="; ".join(parts) + "; no memory limit to compare with")
    status = compare(percent, thresholds.memory_warn_percent, thresholds.memory_critical_percent)
    return Finding("memory_usage", target_of(pod), status, value=percent, threshold=threshold, unit="%",
                   evidence="; ".join(parts), remediation=None if status == OK else REMEDIATION_MEMORY)


def log_finding(pod: Pod, logs: t.Mapping[str, t.Any], thresholds: Thresholds) -> Finding:
    """Matches of the log pattern in the pod's recent log; a log we could not read is unknown."""
    threshold = {"warn": thresholds.log_matches_warn, "critical": thresholds.log_matches_critical}
    if logs.get("error"):
        return Finding("log_pattern", target_of(pod), UNKNOWN, threshold=threshold, unit="lines",
                       evidence=f"could not read the log of container {logs.get('container')}: {logs['error']}")
    matches = int(logs.get("matches") or 0)
    status = compare(matches, thresholds.log_matches_warn, thresholds.log_matches_critical)
    evidence = {"pattern": logs.get("pattern"), "lines_read": logs.get("lines"), "container": logs.get("container"),
                "sample": list(logs.get("sample") or [])}
    return Finding("log_pattern", target_of(pod), status, value=matches, threshold=threshold, unit="lines",
                   evidence=evidence, remediation=None if status == OK else REMEDIATION_LOG_PATTERN)


def pod_findings(pod: Pod, pod_metrics: t.Mapping[str, t.Any] | None, metrics_available: bool,
                 thresholds: Thresholds) -> list[Finding]:
    """Every check for one pod. Without a metrics API there is no memory finding (reported once, elsewhere)."""
    findings = [phase_finding(pod), readiness_finding(pod), restarts_finding(pod, thresholds),
                crash_loop_finding(pod), oom_finding(pod)]
    waiting = waiting_finding(pod)
    if waiting is not None:
        findings.append(waiting)
    if metrics_available:
        findings.append(memory_finding(pod, pod_metrics, thresholds))
    return findings


def pod_summary(pod: Pod, pod_metrics: t.Mapping[str, t.Any] | None) -> dict[str, t.Any]:
    """The per-pod facts the module returns: what ``kubectl get pods`` and ``kubectl top pods`` show, and why."""
    metadata = pod.get("metadata") or {}
    containers = []
    for status in _statuses(pod):
        state = status.get("state") or {}
        current = next(iter(state), None)
        containers.append({
            "name": status.get("name"),
            "ready": bool(status.get("ready")),
            "restart_count": int(status.get("restartCount") or 0),
            "state": current,
            "reason": _reason(state, current) if current else None,
            "last_termination_reason": _reason(status.get("lastState"), "terminated"),
        })
    return {
        "name": metadata.get("name"),
        "namespace": metadata.get("namespace"),
        "node": (pod.get("spec") or {}).get("nodeName"),
        "phase": phase(pod),
        "ready": is_ready(pod),
        "restarts": restart_count(pod),
        "crash_loop_backoff": bool(crash_looping(pod)),
        "oom_killed": bool(oom_kills(pod)),
        "containers": containers,
        "memory": memory_report(pod, pod_metrics),
    }
