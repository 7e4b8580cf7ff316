# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests for _k8s against the lab's Kubernetes API emulator (lab/services/kube_emulator.py)
on 127.0.0.1. Pod state is set through the ordinary API, as the emulator's docstring describes:
the emulator stores the status a client sends, where a real API server would let the kubelet set it."""

from __future__ import annotations

import copy
import json
import typing as t
from pathlib import Path

import pytest
from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _k8s
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)
from ansible_collections.platform_eng.incident_response.tests.unit.plugins import lab_services

NAMESPACE = "incident-response"
SELECTOR = ["app=incident-response"]


class Cluster:
    """The emulator plus a client to change what it serves, and a snapshot to undo every change."""

    def __init__(self, emulator: lab_services.KubeEmulator) -> None:
        configuration = k8s_client.Configuration()
        configuration.host = emulator.host
        self.emulator = emulator
        self.api = k8s_client.ApiClient(configuration)
        self.core = k8s_client.CoreV1Api(self.api)
        self.custom = k8s_client.CustomObjectsApi(self.api)
        self.seed = self.raw_pods()
        self.seed_metrics = {m["metadata"]["name"]: m for m in self.custom.list_namespaced_custom_object(
            "metrics.k8s.io", "v1beta1", NAMESPACE, "pods")["items"]}
        self.names = sorted(self.seed)

    def raw_pods(self) -> dict[str, dict[str, t.Any]]:
        data = json.loads(self.core.list_namespaced_pod(NAMESPACE, _preload_content=False).data)
        return {pod["metadata"]["name"]: pod for pod in data["items"]}

    def set_container_status(self, name: str, **status: t.Any) -> None:
        pod = copy.deepcopy(self.raw_pods()[name])
        pod["status"]["containerStatuses"][0].update(status)
        if status.get("ready") is False:
            pod["status"]["conditions"] = [dict(c, status="False") if c["type"] in ("Ready", "ContainersReady") else c
                                           for c in pod["status"]["conditions"]]
        self.core.replace_namespaced_pod_status(name, NAMESPACE, pod)

    def set_annotation(self, name: str, key: str, value: str) -> None:
        self.core.patch_namespaced_pod(name, NAMESPACE, {"metadata": {"annotations": {key: value}}})

    def set_memory(self, name: str, memory: str) -> None:
        metrics = copy.deepcopy(self.seed_metrics[name])
        metrics["containers"][0]["usage"]["memory"] = memory
        self.custom.replace_namespaced_custom_object("metrics.k8s.io", "v1beta1", NAMESPACE, "pods", name, metrics)

    def restore(self) -> None:
        current = self.raw_pods()
        for name in set(current) - set(self.seed):
            self.core.delete_namespaced_pod(name, NAMESPACE)
        for name, pod in self.seed.items():
            self.core.replace_namespaced_pod(name, NAMESPACE, copy.deepcopy(pod))
        for name, metrics in self.seed_metrics.items():
            self.custom.replace_namespaced_custom_object("metrics.k8s.io", "v1beta1", NAMESPACE, "pods", name,
                                                         copy.deepcopy(metrics))


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[lab_services.KubeEmulator]:
    with lab_services.kube_emulator(tmp_path_factory.mktemp("kube")) as running:
        yield running


@pytest.fixture
def cluster(emulator: lab_services.KubeEmulator) -> t.Iterator[Cluster]:
    state = Cluster(emulator)
    try:
        yield state
    finally:
        state.restore()
        state.api.close()


def check(cluster: Cluster, **params: t.Any) -> dict[str, t.Any]:
    return _k8s.check_k8s_workload_health({"host": cluster.emulator.host, "namespace": NAMESPACE,
                                           "label_selectors": SELECTOR, **params})


def statuses(result: dict[str, t.Any], name: str) -> dict[str, str]:
    return {f["target"].split("/", 1)[1]: f["status"] for f in result["findings"] if f["name"] == name}


def test_seeded_pods_are_healthy(cluster: Cluster) -> None:
    result = check(cluster)
    assert [p["name"] for p in result["pods"]] == cluster.names
    assert result["status"] == "ok" and result["counts"]["ok"] == 3 * 6
    assert result["crash_loop_backoff"] == [] and result["oom_killed"] == [] and result["not_ready"] == []
    assert result["metrics"] == {"available": True, "error": None}
    assert all(p["memory"]["containers"][0]["limit_bytes"] == 512 * 2**20 for p in result["pods"])


def test_crash_loop_and_oom_killed_pods_are_named(cluster: Cluster) -> None:
    crashing, leaking, healthy = cluster.names
    cluster.set_container_status(crashing, ready=False, restartCount=7, state={"waiting": {
        "reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}},
        lastState={"terminated": {"reason": "Error", "exitCode": 1}})
    cluster.set_container_status(leaking, restartCount=3, lastState={"terminated": {
        "reason": "OOMKilled", "exitCode": 137, "finishedAt": "2026-11-27T10:05:00Z"}})
    cluster.set_memory(leaking, "500Mi")

    result = check(cluster)
    assert result["crash_loop_backoff"] == [crashing]
    assert result["oom_killed"] == [leaking]
    assert result["not_ready"] == [crashing]
    assert statuses(result, "crash_loop_backoff") == {crashing: "critical", leaking: "ok", healthy: "ok"}
    assert statuses(result, "oom_killed") == {crashing: "ok", leaking: "critical", healthy: "ok"}
    assert statuses(result, "memory_usage")[leaking] == "critical"  # 500Mi of 512Mi: 97.7 %
    assert statuses(result, "pod_restarts") == {crashing: "critical", leaking: "warn", healthy: "ok"}
    assert result["status"] == "critical"


def test_logs_are_read_from_every_matching_pod(cluster: Cluster) -> None:
    result = check(cluster, logs={"pattern": "ERROR", "sample_lines": 2})
    logs = {p["name"]: p["logs"] for p in result["pods"]}
    assert sorted(logs) == cluster.names
    assert all(log["lines"] == 60 and log["matches"] == 2 and log["error"] is None for log in logs.values())
    # Each pod's canned log differs: the samples prove each pod's own log was read.
    assert len({tuple(log["sample"]) for log in logs.values()}) == 3
    assert all(len(log["sample"]) == 2 and all("ERROR" in line for line in log["sample"]) for log in logs.values())
    assert statuses(result, "log_pattern") == dict.fromkeys(cluster.names, "warn")


def test_log_pattern_options(cluster: Cluster) -> None:
    target = cluster.names[0]
    cluster.set_annotation(target, "irlab.test/log", "".join(
        f"2026-11-27T10:0{i}:00Z {level} heap {i}00MB\n" for i, level in enumerate(
            ["INFO", "warn", "WARN", "java.lang.OutOfMemoryError: Java heap space", "INFO"])))
    regex = check(cluster, logs={"pattern": r"Out\w+Error: Java", "regex": True, "warn_matches": 5})
    assert {p["name"]: p["logs"]["matches"] for p in regex["pods"]}[target] == 1
    caseless = check(cluster, logs={"pattern": "warn", "ignore_case": True, "tail_lines": 3})
    mine = next(p["logs"] for p in caseless["pods"] if p["name"] == target)
    assert (mine["lines"], mine["matches"]) == (3, 1)  # tail_lines cut the first "warn" line off
    plain = check(cluster, logs={"tail_lines": 2, "sample_lines": 1})
    mine = next(p["logs"] for p in plain["pods"] if p["name"] == target)
    assert mine["matches"] is None and mine["sample"] == ["2026-11-27T10:04:00Z INFO heap 400MB"]
    assert "log_pattern" not in {f["name"] for f in plain["findings"]}


def test_unreadable_log_is_unknown_for_that_pod_only(cluster: Cluster) -> None:
    result = check(cluster, logs={"pattern": "ERROR", "container": "no-such-container"})
    assert set(statuses(result, "log_pattern").values()) == {"unknown"}
    evidence = next(f["evidence"] for f in result["findings"] if f["name"] == "log_pattern")
    assert "HTTP 400" in evidence and "no-such-container" in evidence
    assert statuses(result, "pod_ready") == dict.fromkeys(cluster.names, "ok")


def test_label_selectors_choose_the_pods(cluster: Cluster) -> None:
    other = copy.deepcopy(cluster.seed[cluster.names[0]])
    other["metadata"] = {"name": "batch-job-x1", "labels": {"app": "batch"}}
    other["status"]["phase"] = "Succeeded"
    cluster.core.create_namespaced_pod(NAMESPACE, other)
    assert [p["name"] for p in check(cluster)["pods"]] == cluster.names
    assert [p["name"] for p in check(cluster, label_selectors=["app in (batch)"])["pods"]] == ["batch-job-x1"]
    assert len(check(cluster, label_selectors=[])["pods"]) == 4


def test_selector_is_applied_again_when_the_server_ignores_it(cluster: Cluster) -> None:
    class IgnoringSelectors:
        """A list call that returns every pod, as kmock itself does."""

        def list_namespaced_pod(self, namespace: str, **kwargs: t.Any) -> t.Any:
            return cluster.core.list_namespaced_pod(namespace, _preload_content=False)

    other = copy.deepcopy(cluster.seed[cluster.names[0]])
    other["metadata"] = {"name": "batch-job-x2", "labels": {"app": "batch"}}
    cluster.core.create_namespaced_pod(NAMESPACE, other)
    plan = _k8s.build_plan({"namespace": NAMESPACE, "label_selectors": ["app!=batch"]})
    assert [health_pod["metadata"]["name"] for health_pod in _k8s.list_pods(IgnoringSelectors(), plan)] == cluster.names


def test_no_matching_pod_is_critical(cluster: Cluster) -> None:
    result = check(cluster, label_selectors=["app=does-not-exist"])
    assert result["pods"] == [] and result["status"] == "critical"
    assert next((f["name"], f["status"]) for f in result["findings"]) == ("pods_found", "critical")


def test_unreachable_api_is_a_finding_not_a_crash() -> None:
    host = f"http://127.0.0.1:{lab_services.closed_port()}"
    result = _k8s.check_k8s_workload_health({"host": host, "namespace": NAMESPACE, "timeout": 2})
    assert result["status"] == "critical" and result["pods"] == []
    assert [(f["name"], f["target"]) for f in result["findings"]] == [("kube_api", host)]
    assert "Connection refused" in result["findings"][0]["evidence"]


def test_missing_metrics_api_is_unknown_not_an_error(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    class NoMetricsServer:
        def __init__(self, api: t.Any) -> None:
            pass

        def list_namespaced_custom_object(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
            raise ApiException(status=404, reason="Not Found")

    monkeypatch.setattr(_k8s.k8s_client, "CustomObjectsApi", NoMetricsServer)
    result = check(cluster)
    assert result["metrics"] == {"available": False, "error": "HTTP 404 Not Found"}
    memory = [f for f in result["findings"] if f["name"] == "memory_usage"]
    assert [(f["target"], f["status"]) for f in memory] == [(NAMESPACE, "unknown")]
    assert result["status"] == "unknown"
    assert check(cluster, metrics=False)["status"] == "ok"  # and it can be switched off


def test_kubeconfig_and_context_connect(cluster: Cluster) -> None:
    result = _k8s.check_k8s_workload_health({"kubeconfig": cluster.emulator.kubeconfig, "context": "irlab",
                                             "namespace": NAMESPACE})
    assert result["api_host"] == cluster.emulator.host and len(result["pods"]) == 3


def test_connection_options() -> None:
    configuration = _k8s.build_configuration({"host": "k8s.example.test:6443", "api_key": "s3cr3t",
                                              "validate_certs": False, "ca_cert": "/etc/ca.pem"})
    assert configuration.host == "https://k8s.example.test:6443"
    assert configuration.auth_settings()["BearerToken"]["value"] == "Bearer s3cr3t"
    assert configuration.verify_ssl is False and configuration.ssl_ca_cert == "/etc/ca.pem"
    assert _k8s.connection_argument_spec()["api_key"]["no_log"] is True


@pytest.mark.parametrize("params, message", [
    ({"namespace": ""}, "namespace must not be empty"),
    ({"namespace": "x", "label_selectors": ["app in web"]}, "label selector 'app in web' is not valid"),
    ({"namespace": "x", "logs": {"pattern": "(", "regex": True}}, "not a valid regular expression"),
    ({"namespace": "x", "logs": {"tail_lines": 0}}, "tail_lines must be between 1 and 10000"),
])
def test_bad_options_fail_before_any_request(params: dict[str, t.Any], message: str) -> None:
    with pytest.raises(IncidentResponseError, match=message):
        _k8s.build_plan(params)


def test_missing_kubeconfig_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(IncidentResponseError, match="Cannot load kubeconfig"):
        _k8s.build_configuration({"kubeconfig": str(tmp_path / "nope")})
