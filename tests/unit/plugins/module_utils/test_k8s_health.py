# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests for the pod evaluators in _k8s_health: literal pods, as the API serves them."""

from __future__ import annotations

import copy
import typing as t

import pytest

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _k8s_health as health

MI = 2**20
DEFAULT = health.Thresholds()


def make_pod(name: str = "web-1", *, phase: str = "Running", ready: bool = True, restarts: int = 0,
             state: dict[str, t.Any] | None = None, last_state: dict[str, t.Any] | None = None,
             limit: str | None = "512Mi", labels: dict[str, str] | None = None,
             init_statuses: list[dict[str, t.Any]] | None = None) -> dict[str, t.Any]:
    resources = {"limits": {"memory": limit}} if limit else {}
    pod: dict[str, t.Any] = {
        "metadata": {"name": name, "namespace": "incident-response", "labels": labels or {"app": "incident-response"}},
        "spec": {"nodeName": "node-1", "containers": [{"name": "app", "resources": resources}]},
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"name": "app", "ready": ready, "restartCount": restarts,
                                   "state": state or {"running": {"startedAt": "2026-11-27T10:00:00Z"}},
                                   "lastState": last_state or {}}],
        },
    }
    if init_statuses:
        pod["status"]["initContainerStatuses"] = init_statuses
    return pod


CRASH_LOOP = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container=app"}}
OOM = {"terminated": {"reason": "OOMKilled", "exitCode": 137, "finishedAt": "2026-11-27T10:05:00Z"}}


def metrics_for(usage: dict[str, str]) -> dict[str, t.Any]:
    return {"containers": [{"name": name, "usage": {"cpu": "10m", "memory": memory}} for name, memory in usage.items()]}


# ---------------------------------------------------------------------------
# Quantities
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("512Mi", 512 * MI), ("1Gi", 2**30), ("1.5Gi", 3 * 2**29), ("180M", 180_000_000), ("123456Ki", 123456 * 1024),
    ("100m", 0.1), ("1e3", 1000), ("2k", 2000), (1024, 1024), ("", None), ("lots", None), ("5Zi", None),
])
def test_parse_quantity(text: t.Any, expected: float | None) -> None:
    assert health.parse_quantity(text) == expected


# ---------------------------------------------------------------------------
# CrashLoopBackOff, OOMKilled, stuck containers
# ---------------------------------------------------------------------------

def test_crash_loop_is_critical_and_says_why() -> None:
    pod = make_pod(state=CRASH_LOOP, restarts=7, ready=False,
                   last_state={"terminated": {"reason": "Error", "exitCode": 1}})
    finding = health.crash_loop_finding(pod)
    assert (finding.status, finding.value, finding.target) == ("critical", True, "incident-response/web-1")
    assert "CrashLoopBackOff: app; 7 restart(s)" in finding.evidence
    assert "last terminated Error (exit code 1)" in finding.evidence
    assert "Service Won't Start" in finding.remediation


def test_crash_looping_init_container_counts_too() -> None:
    pod = make_pod(phase="Pending", ready=False, init_statuses=[
        {"name": "migrate", "ready": False, "restartCount": 4, "state": CRASH_LOOP, "lastState": {}}])
    assert health.crash_looping(pod) == ["migrate"]
    assert health.restart_count(pod) == 4


def test_healthy_pod_is_not_crash_looping() -> None:
    assert health.crash_loop_finding(make_pod()).status == "ok"


@pytest.mark.parametrize("state, last_state, expected", [
    (None, OOM, [("app", "last")]),  # restarted after the kill: the memory-leak signal
    (OOM, None, [("app", "current")]),
    (None, {"terminated": {"reason": "Error", "exitCode": 1}}, []),
    (None, None, []),
])
def test_oom_kills_current_or_last(state: t.Any, last_state: t.Any, expected: list[tuple[str, str]]) -> None:
    pod = make_pod(state=state, last_state=last_state, restarts=3)
    assert [(k["container"], k["state"]) for k in health.oom_kills(pod)] == expected
    finding = health.oom_finding(pod)
    assert finding.status == ("critical" if expected else "ok")
    if expected:
        assert "OOMKilled (exit code 137" in finding.evidence and "Memory Leak" in finding.remediation


@pytest.mark.parametrize("reason, stuck", [("ImagePullBackOff", True), ("CreateContainerConfigError", True),
                                           ("ContainerCreating", False), ("CrashLoopBackOff", False)])
def test_containers_stuck_before_first_start(reason: str, stuck: bool) -> None:
    finding = health.waiting_finding(make_pod(phase="Pending", ready=False, state={"waiting": {"reason": reason}}))
    assert (finding is not None) is stuck
    if finding is not None:
        assert finding.status == "critical" and finding.value == [reason]


# ---------------------------------------------------------------------------
# Phase, readiness, restarts
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("phase, status", [("Running", "ok"), ("Succeeded", "ok"), ("Pending", "warn"),
                                           ("Failed", "critical"), ("Unknown", "unknown")])
def test_phase(phase: str, status: str) -> None:
    assert health.phase_finding(make_pod(phase=phase)).status == status


def test_readiness() -> None:
    assert health.readiness_finding(make_pod()).status == "ok"
    not_ready = health.readiness_finding(make_pod(ready=False))
    assert not_ready.status == "critical" and "containers not ready: app" in not_ready.evidence
    completed = make_pod(phase="Succeeded", ready=False)
    assert health.readiness_finding(completed).status == "ok"
    no_conditions = make_pod()
    no_conditions["status"]["conditions"] = []
    assert health.readiness_finding(no_conditions).status == "critical"


@pytest.mark.parametrize("restarts, status", [(0, "ok"), (1, "warn"), (5, "warn"), (6, "critical")])
def test_restart_thresholds_are_strict(restarts: int, status: str) -> None:
    finding = health.restarts_finding(make_pod(restarts=restarts), DEFAULT)
    assert (finding.status, finding.value, finding.unit) == (status, restarts, "restarts")


def test_restart_warning_can_be_turned_off() -> None:
    thresholds = health.Thresholds(restarts_warn=None, restarts_critical=10)
    assert health.restarts_finding(make_pod(restarts=3), thresholds).status == "ok"


# ---------------------------------------------------------------------------
# Memory against limits
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("usage, percent, status", [
    ("180Mi", 35.2, "ok"),
    ("409.6Mi", 80.0, "ok"),  # exactly the threshold passes, as the runbook's "> 80 %" reads
    ("460Mi", 89.8, "warn"),
    ("470Mi", 91.8, "critical"),
])
def test_memory_against_limit(usage: str, percent: float, status: str) -> None:
    finding = health.memory_finding(make_pod(), metrics_for({"app": usage}), DEFAULT)
    assert (finding.status, finding.value, finding.unit) == (status, percent, "%")
    assert "of 512Mi" in finding.evidence


def test_the_fullest_container_decides() -> None:
    pod = make_pod()
    pod["spec"]["containers"].append({"name": "sidecar", "resources": {"limits": {"memory": "64Mi"}}})
    report = health.memory_report(pod, metrics_for({"app": "100Mi", "sidecar": "63Mi"}))
    assert report is not None and report["percent_of_limit"] == 98.4
    assert health.memory_finding(pod, metrics_for({"app": "100Mi", "sidecar": "63Mi"}), DEFAULT).status == "critical"


def test_memory_without_limit_or_sample() -> None:
    no_limit = health.memory_finding(make_pod(limit=None), metrics_for({"app": "900Mi"}), DEFAULT)
    assert no_limit.status == "ok" and no_limit.value is None and "no memory limit" in no_limit.evidence
    no_sample = health.memory_finding(make_pod(), None, DEFAULT)
    assert no_sample.status == "unknown" and "no metrics.k8s.io sample" in no_sample.evidence


# ---------------------------------------------------------------------------
# Log pattern counts and the per-pod bundle
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("matches, thresholds, status", [
    (0, DEFAULT, "ok"), (2, DEFAULT, "warn"),
    (2, health.Thresholds(log_matches_warn=None), "ok"),
    (11, health.Thresholds(log_matches_warn=0, log_matches_critical=10), "critical"),
])
def test_log_pattern_counts(matches: int, thresholds: health.Thresholds, status: str) -> None:
    logs = {"container": "app", "pattern": "ERROR", "lines": 60, "matches": matches, "sample": ["x ERROR y"],
            "error": None}
    finding = health.log_finding(make_pod(), logs, thresholds)
    assert (finding.status, finding.value) == (status, matches)
    assert finding.evidence["sample"] == ["x ERROR y"] and finding.evidence["lines_read"] == 60


def test_unreadable_log_is_unknown() -> None:
    logs = {"container": "app", "pattern": "ERROR", "error": "HTTP 400 Bad Request: container app is waiting"}
    finding = health.log_finding(make_pod(), logs, DEFAULT)
    assert finding.status == "unknown" and "waiting" in finding.evidence


def test_pod_findings_cover_every_check_once() -> None:
    pod = make_pod()
    names = [f.name for f in health.pod_findings(pod, metrics_for({"app": "10Mi"}), True, DEFAULT)]
    assert names == ["pod_phase", "pod_ready", "pod_restarts", "crash_loop_backoff", "oom_killed", "memory_usage"]
    assert "memory_usage" not in [f.name for f in health.pod_findings(pod, None, False, DEFAULT)]


def test_pod_summary() -> None:
    pod = make_pod(state=CRASH_LOOP, last_state=OOM, restarts=2, ready=False)
    summary = health.pod_summary(pod, metrics_for({"app": "256Mi"}))
    assert summary["crash_loop_backoff"] is True and summary["oom_killed"] is True
    assert summary["containers"] == [{"name": "app", "ready": False, "restart_count": 2, "state": "waiting",
                                      "reason": "CrashLoopBackOff", "last_termination_reason": "OOMKilled"}]
    assert summary["memory"]["containers"][0] == {"container": "app", "usage_bytes": 256 * MI,
                                                  "limit_bytes": 512 * MI, "percent_of_limit": 50.0}
    assert health.pod_summary(pod, None)["memory"] is None


def test_evaluators_do_not_modify_the_pod() -> None:
    pod = make_pod(state=CRASH_LOOP, last_state=OOM)
    before = copy.deepcopy(pod)
    health.pod_findings(pod, metrics_for({"app": "500Mi"}), True, DEFAULT)
    health.pod_summary(pod, None)
    assert pod == before
