# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""k8s_workload_health_info as Ansible runs it, against the lab's Kubernetes API emulator on 127.0.0.1."""

from __future__ import annotations

import copy
import json
import typing as t

import pytest
from kubernetes import client as k8s_client

from ansible_collections.platform_eng.incident_response.plugins.modules import k8s_workload_health_info
from ansible_collections.platform_eng.incident_response.tests.unit.plugins import lab_services
from ansible_collections.platform_eng.incident_response.tests.unit.plugins.module_runner import run_module

NAMESPACE = "incident-response"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[lab_services.KubeEmulator]:
    with lab_services.kube_emulator(tmp_path_factory.mktemp("kube")) as running:
        yield running


@pytest.fixture
def core(emulator: lab_services.KubeEmulator) -> t.Iterator[t.Any]:
    configuration = k8s_client.Configuration()
    configuration.host = emulator.host
    with k8s_client.ApiClient(configuration) as api:
        core = k8s_client.CoreV1Api(api)
        seed = json.loads(core.list_namespaced_pod(NAMESPACE, _preload_content=False).data)["items"]
        yield core
        for pod in seed:  # undo whatever the test changed
            core.replace_namespaced_pod(pod["metadata"]["name"], NAMESPACE, pod)


def crash_loop(core: t.Any) -> str:
    pod = json.loads(core.list_namespaced_pod(NAMESPACE, _preload_content=False).data)["items"][0]
    changed = copy.deepcopy(pod)
    changed["status"]["containerStatuses"][0].update(
        ready=False, restartCount=6, state={"waiting": {"reason": "CrashLoopBackOff"}})
    core.replace_namespaced_pod_status(pod["metadata"]["name"], NAMESPACE, changed)
    return pod["metadata"]["name"]


def test_healthy_workload_in_check_mode(capsys: pytest.CaptureFixture[str], emulator: lab_services.KubeEmulator,
                                        core: t.Any) -> None:
    result = run_module(capsys, k8s_workload_health_info, {"host": emulator.host, "namespace": NAMESPACE,
                                                           "label_selectors": ["app=incident-response"], "_ansible_check_mode": True})
    assert result["changed"] is False and "failed" not in result
    assert result["status"] == "ok" and len(result["pods"]) == 3


def test_fail_on_critical_names_the_crash_looping_pod(capsys: pytest.CaptureFixture[str],
                                                      emulator: lab_services.KubeEmulator, core: t.Any) -> None:
    name = crash_loop(core)
    result = run_module(capsys, k8s_workload_health_info, {"host": emulator.host, "namespace": NAMESPACE, "fail_on": "critical"})
    assert result["failed"] is True and result["crash_loop_backoff"] == [name]
    assert result["msg"].startswith(f"Workload health in namespace {NAMESPACE} is critical (fail_on=critical)")
    assert f"{NAMESPACE}/{name} crash_loop_backoff critical" in result["msg"]


def test_unreachable_api_reports_without_failing(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_module(capsys, k8s_workload_health_info, {"host": f"http://127.0.0.1:{lab_services.closed_port()}", "namespace": NAMESPACE,
                                                           "api_key": "t0p-s3cret-t0ken"})
    assert "failed" not in result and result["status"] == "critical"
    assert result["findings"][0]["name"] == "kube_api"
    assert "t0p-s3cret-t0ken" not in json.dumps(result)


def test_bad_selector_fails_with_a_clear_message(capsys: pytest.CaptureFixture[str],
                                                 emulator: lab_services.KubeEmulator) -> None:
    result = run_module(capsys, k8s_workload_health_info, {"host": emulator.host, "namespace": NAMESPACE, "label_selectors": ["app in web"]})
    assert result["failed"] is True
    assert result["msg"].startswith("label selector 'app in web' is not valid")


def test_log_options_reach_the_helper(capsys: pytest.CaptureFixture[str], emulator: lab_services.KubeEmulator,
                                      core: t.Any) -> None:
    result = run_module(capsys, k8s_workload_health_info, {"host": emulator.host, "namespace": NAMESPACE,
                                                           "logs": {"pattern": "status=5\\d\\d", "regex": True, "critical_matches": 1}})
    assert {p["logs"]["matches"] for p in result["pods"]} == {2}
    assert {f["status"] for f in result["findings"] if f["name"] == "log_pattern"} == {"critical"}
