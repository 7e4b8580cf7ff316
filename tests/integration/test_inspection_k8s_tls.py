# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""k8s_workload_health_info and tls_certificate_info against the lab.

Both services sit on the controller side (10.77.1.1), so the modules run on
the controller. Pod faults are made through the Kubernetes API, as the lab's
emulator documents (it stores the status a client sends, where a real
cluster's kubelet would set it), and every pod and PodMetrics object is put
back as it was before the test ends.
"""

from __future__ import annotations

import copy
import errno
import json
import shutil
import socket
import typing as t
from pathlib import Path

import pytest
from kubernetes import client as k8s_client

from conftest import Run, run

NAMESPACE = "incident-response"
SELECTOR = "app=incident-response"


def module(name: str, args: dict[str, t.Any]) -> tuple[dict[str, t.Any], Run]:
    """Run one module ad hoc on the controller and return its result (ansible.posix.json callback)."""
    result = run("ansible", "localhost", "-m", f"platform_eng.incident_response.{name}", "-a", json.dumps(args),
                 env={"ANSIBLE_LOAD_CALLBACK_PLUGINS": "1", "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"})
    try:
        return json.loads(result.out)["plays"][0]["tasks"][0]["hosts"]["localhost"], result
    except (ValueError, KeyError, IndexError):
        raise AssertionError(f"no module result: {result.text}") from None


def closed_port(ip: str) -> int:
    """A port on a lab address that refuses connections (nothing listens there)."""
    for port in (8440, 8449, 8450, 8451, 8439):
        with socket.socket() as sock:
            sock.settimeout(2)
            if sock.connect_ex((ip, port)) == errno.ECONNREFUSED:
                return port
    raise AssertionError(f"no closed port found on {ip}")


# --------------------------------------------------------------------------
# Kubernetes
# --------------------------------------------------------------------------


class Cluster:
    """A client for the lab's API emulator that remembers the seed and puts it back."""

    def __init__(self, host: str) -> None:
        configuration = k8s_client.Configuration()
        configuration.host = host
        self.api = k8s_client.ApiClient(configuration)
        self.core = k8s_client.CoreV1Api(self.api)
        self.custom = k8s_client.CustomObjectsApi(self.api)
        self.pods = self.read_pods()
        self.metrics = {m["metadata"]["name"]: m for m in self.custom.list_namespaced_custom_object(
            "metrics.k8s.io", "v1beta1", NAMESPACE, "pods", label_selector=SELECTOR)["items"]}

    def read_pods(self) -> dict[str, dict[str, t.Any]]:
        answer = self.core.list_namespaced_pod(NAMESPACE, label_selector=SELECTOR, _preload_content=False)
        return {pod["metadata"]["name"]: pod for pod in json.loads(answer.data)["items"]}

    def set_status(self, name: str, ready: bool = True, **container: t.Any) -> None:
        pod = copy.deepcopy(self.pods[name])
        pod["status"]["containerStatuses"][0].update(container, ready=ready)
        if not ready:
            pod["status"]["conditions"] = [dict(c, status="False") if c["type"] in ("Ready", "ContainersReady")
                                           else c for c in pod["status"]["conditions"]]
        self.core.replace_namespaced_pod_status(name, NAMESPACE, pod)

    def set_memory(self, name: str, memory: str) -> None:
        metrics = copy.deepcopy(self.metrics[name])
        metrics["containers"][0]["usage"]["memory"] = memory
        self.custom.replace_namespaced_custom_object("metrics.k8s.io", "v1beta1", NAMESPACE, "pods", name, metrics)

    def restore(self) -> None:
        for name, pod in self.pods.items():
            self.core.replace_namespaced_pod(name, NAMESPACE, copy.deepcopy(pod))
        for name, metrics in self.metrics.items():
            self.custom.replace_namespaced_custom_object("metrics.k8s.io", "v1beta1", NAMESPACE, "pods", name,
                                                         copy.deepcopy(metrics))
        self.api.close()


@pytest.fixture
def kube_host(lab: dict[str, t.Any]) -> str:
    return f"http://{lab['services']['kube']}"


@pytest.fixture
def cluster(kube_host: str) -> t.Iterator[Cluster]:
    state = Cluster(kube_host)
    assert len(state.pods) >= 2, f"the lab should seed at least two {SELECTOR} pods: {sorted(state.pods)}"
    try:
        yield state
    finally:
        state.restore()


def statuses(result: dict[str, t.Any], check: str) -> dict[str, str]:
    return {f["target"].split("/", 1)[1]: f["status"] for f in result["findings"] if f["name"] == check}


def test_crash_looping_and_oom_killed_pods_are_named(kube_host: str, cluster: Cluster) -> None:
    crashing, leaking, *healthy = sorted(cluster.pods)
    cluster.set_status(crashing, ready=False, restartCount=6,
                       state={"waiting": {"reason": "CrashLoopBackOff",
                                          "message": "back-off 2m40s restarting failed container"}},
                       lastState={"terminated": {"reason": "Error", "exitCode": 1}})
    cluster.set_status(leaking, restartCount=2,
                       lastState={"terminated": {"reason": "OOMKilled", "exitCode": 137,
                                                 "finishedAt": "2026-11-27T10:05:00Z"}})
    cluster.set_memory(leaking, "500Mi")

    result, raw = module("k8s_workload_health_info", {
        "host": kube_host, "namespace": NAMESPACE, "label_selectors": [SELECTOR],
        "logs": {"pattern": "status=5\\d\\d", "regex": True, "tail_lines": 200}})

    assert raw.rc == 0, raw.text
    assert result["changed"] is False and result["status"] == "critical"
    assert result["crash_loop_backoff"] == [crashing]
    assert result["oom_killed"] == [leaking]
    assert statuses(result, "crash_loop_backoff")[crashing] == "critical"
    assert statuses(result, "oom_killed")[leaking] == "critical"
    assert statuses(result, "memory_usage")[leaking] == "critical"  # 500Mi of the 512Mi limit
    assert all(statuses(result, check)[name] == "ok" for name in healthy
               for check in ("crash_loop_backoff", "oom_killed", "pod_ready"))
    # The log of every matching pod was read, not only the first one's.
    logs = {pod["name"]: pod["logs"] for pod in result["pods"]}
    assert sorted(logs) == sorted(cluster.pods)
    assert all(log["error"] is None and log["lines"] > 0 for log in logs.values())


def test_fail_on_critical_fails_the_task_and_names_the_pod(kube_host: str, cluster: Cluster) -> None:
    crashing = sorted(cluster.pods)[0]
    cluster.set_status(crashing, ready=False, restartCount=6, state={"waiting": {"reason": "CrashLoopBackOff"}})
    args = {"host": kube_host, "namespace": NAMESPACE, "label_selectors": [SELECTOR], "fail_on": "critical"}
    _result, raw = module("k8s_workload_health_info", args)
    assert raw.rc != 0
    assert f"Workload health in namespace {NAMESPACE} is critical (fail_on=critical)" in raw.text
    assert f"{NAMESPACE}/{crashing} crash_loop_backoff critical" in raw.text


def test_restored_pods_are_healthy_again(kube_host: str, cluster: Cluster) -> None:
    result, raw = module("k8s_workload_health_info", {"host": kube_host, "namespace": NAMESPACE,
                                                      "label_selectors": [SELECTOR]})
    assert raw.rc == 0, raw.text
    assert result["crash_loop_backoff"] == [] and result["oom_killed"] == [] and result["not_ready"] == []
    assert result["metrics"]["available"] is True


def test_unreachable_api_is_a_critical_finding(lab: dict[str, t.Any]) -> None:
    host = f"http://{lab['controller_ip']}:{closed_port(lab['controller_ip'])}"
    result, raw = module("k8s_workload_health_info", {"host": host, "namespace": NAMESPACE, "timeout": 5})
    assert raw.rc == 0, raw.text
    assert [(f["name"], f["status"]) for f in result["findings"]] == [("kube_api", "critical")]
    assert "Connection refused" in result["findings"][0]["evidence"]


# --------------------------------------------------------------------------
# TLS
# --------------------------------------------------------------------------


@pytest.fixture
def tls_lab(lab: dict[str, t.Any]) -> dict[str, t.Any]:
    state = Path(lab["state_dir"]) / "tls"
    manifest = json.loads((state / "endpoints.json").read_text())
    return {"endpoints": manifest, "ca_path": str(state / "ca.pem")}


def tls_args(lab: dict[str, t.Any], tls_lab: dict[str, t.Any], **extra: t.Any) -> dict[str, t.Any]:
    endpoints = [{"name": e["name"], "host": e["host"], "port": e["port"], "server_name": e["server_name"]}
                 for e in tls_lab["endpoints"]]
    endpoints.append({"name": "unreachable", "host": lab["controller_ip"], "port": closed_port(lab["controller_ip"])})
    return {"endpoints": endpoints, "ca_path": tls_lab["ca_path"], **extra}


EXPECTED_STATUS = {"ok": "ok", "expiring": "warn", "expired": "critical", "wrong_host": "critical",
                   "unreachable": "critical"}


def test_each_lab_endpoint_gets_the_right_status(lab: dict[str, t.Any], tls_lab: dict[str, t.Any]) -> None:
    result, raw = module("tls_certificate_info", tls_args(lab, tls_lab))
    assert raw.rc == 0, raw.text
    got = {c["name"]: (c["classification"], c["status"]) for c in result["certificates"]}
    expected = {e["name"]: e["expected"] for e in tls_lab["endpoints"]}
    expected["unreachable"] = "unreachable"
    assert got == {name: (kind, EXPECTED_STATUS[kind]) for name, kind in expected.items()}
    assert {"ok", "expiring", "expired", "wrong_host"} <= set(expected.values())
    reports = {c["name"]: c for c in result["certificates"]}
    expiring = next(name for name, kind in expected.items() if kind == "expiring")
    assert 8 <= reports[expiring]["days_left"] <= 10
    assert result["status"] == "critical"


def test_fail_on_critical_lists_the_broken_certificates(lab: dict[str, t.Any], tls_lab: dict[str, t.Any]) -> None:
    _result, raw = module("tls_certificate_info", tls_args(lab, tls_lab, fail_on="critical"))
    assert raw.rc != 0
    assert "TLS certificates are critical (fail_on=critical)" in raw.text
    for kind in ("expired", "wrong_host", "unreachable"):
        assert kind in raw.text


def test_certbot_style_directory_on_the_controller(tls_lab: dict[str, t.Any], tmp_path: Path) -> None:
    live = tmp_path / "letsencrypt" / "live"
    for endpoint in tls_lab["endpoints"]:
        if endpoint["expected"] in ("ok", "expired"):
            domain = live / endpoint["server_name"]
            domain.mkdir(parents=True, exist_ok=True)
            shutil.copy(endpoint["cert_file"], domain / "fullchain.pem")
    result, raw = module("tls_certificate_info", {"files": [str(live)], "ca_path": tls_lab["ca_path"]})
    assert raw.rc == 0, raw.text
    by_domain = {Path(c["path"]).parent.name: c["classification"] for c in result["certificates"]}
    assert by_domain == {e["server_name"]: e["expected"] for e in tls_lab["endpoints"]
                         if e["expected"] in ("ok", "expired")}
