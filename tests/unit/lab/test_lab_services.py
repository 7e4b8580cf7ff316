# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Behaviour of the lab's stand-in services, run as real processes on 127.0.0.1.

Each test starts the service the way the lab manager does (a script with
--bind and its ports/dirs), uses it as a client would, and stops it with
SIGTERM by pid, expecting a clean exit.

The Kubernetes tests run against kmock's KubernetesEmulator (see
lab/services/kube_emulator.py for what it emulates and what it does not).
"""
from __future__ import annotations

import concurrent.futures
import datetime
import json
import os
import pathlib
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

SERVICES = pathlib.Path(__file__).resolve().parents[3] / "lab" / "services"
HOST = "127.0.0.1"
READY = re.compile(r"^ready \S+ on (\S+):(\d+)", re.MULTILINE)
# Talk to the local services directly, whatever *_proxy variables the environment sets.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Service:
    """One service process; its stderr goes to a file so a chatty log never blocks it."""

    def __init__(self, script: str, args: list[str], workdir: pathlib.Path) -> None:
        self.log = workdir / f"{script}.stderr"
        with self.log.open("wb") as stderr:
            self.process = subprocess.Popen([sys.executable, str(SERVICES / script), *args],
                                            stdout=subprocess.DEVNULL, stderr=stderr)
        self.port = self._wait_ready()

    def _wait_ready(self, timeout: float = 15.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = READY.search(self.log.read_text(errors="replace"))
            if match:
                return int(match.group(2))
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"service never became ready:\n{self.log.read_text(errors='replace')}")

    def stop(self) -> int | None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode


def free_port_range(count: int) -> int:
    """First port of `count` consecutive ports that are free on HOST right now."""
    for _attempt in range(50):
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            base = probe.getsockname()[1]
        if base + count > 65000:
            continue
        try:
            held = []
            for port in range(base, base + count):
                sock = socket.socket()
                held.append(sock)
                sock.bind((HOST, port))
            return base
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
    raise RuntimeError("no free port range")


def http(method: str, url: str, body: bytes | None = None,
         content_type: str = "application/json") -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": content_type})
    with DIRECT.open(request, timeout=10) as response:
        return response.status, response.read()


# ---------------------------------------------------------------- webhook receiver

@pytest.fixture
def webhook(tmp_path: pathlib.Path) -> Iterator[tuple[str, pathlib.Path]]:
    store = tmp_path / "webhook" / "requests.jsonl"
    service = Service("webhook_receiver.py", ["--bind", HOST, "--port", "0", "--store", str(store)], tmp_path)
    yield f"http://{HOST}:{service.port}", store
    assert service.stop() == 0


def test_webhook_records_slack_and_pagerduty_posts(webhook: tuple[str, pathlib.Path]) -> None:
    url, store = webhook
    slack = {"text": "Deploy v1.2.3 finished", "channel": "#deployments"}
    assert http("POST", f"{url}/services/T000/B000/XXXX", json.dumps(slack).encode()) == (200, b"ok")
    status, answer = http("POST", f"{url}/v2/enqueue", json.dumps({"event_action": "trigger"}).encode())
    assert status == 202 and json.loads(answer)["status"] == "success"
    assert http("POST", f"{url}/hook", b"plain words", "text/plain") == (200, b"ok")

    status, listing = http("GET", f"{url}/_requests")
    records = json.loads(listing)
    assert status == 200
    assert [r["path"] for r in records] == ["/services/T000/B000/XXXX", "/v2/enqueue", "/hook"]
    assert records[0]["body"] == slack and records[0]["content_type"] == "application/json"
    assert records[2]["body"] == "plain words"
    # Who sent it: the integration tests tell the lab's Alertmanager (User-Agent Alertmanager/<version>) apart.
    assert records[0]["user_agent"].startswith("Python-urllib/")
    request = urllib.request.Request(f"{url}/slack/incidents", data=b"{}", headers={"User-Agent": "Alertmanager/0.25.0"})
    DIRECT.open(request, timeout=10).read()
    assert json.loads(http("GET", f"{url}/_requests")[1])[-1]["user_agent"] == "Alertmanager/0.25.0"
    received = datetime.datetime.fromisoformat(records[0]["received_at"])
    assert abs((datetime.datetime.now(datetime.timezone.utc) - received).total_seconds()) < 60
    assert len(store.read_text().splitlines()) == 4


def test_webhook_delete_clears_the_store(webhook: tuple[str, pathlib.Path]) -> None:
    url, store = webhook
    http("POST", f"{url}/x", b"{}")
    assert http("DELETE", f"{url}/_requests") == (200, b"ok")
    assert json.loads(http("GET", f"{url}/_requests")[1]) == []
    assert store.read_text() == ""


# ---------------------------------------------------------------- TLS endpoints

def start_tls(state_dir: pathlib.Path, workdir: pathlib.Path, extra: int = 0) -> Service:
    base = free_port_range(4 + extra)
    return Service("tls_endpoints.py", ["--bind", HOST, "--state-dir", str(state_dir), "--base-port", str(base),
                                        "--extra-endpoints", str(extra)], workdir)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[pathlib.Path, dict[str, dict[str, Any]]]]:
    workdir = tmp_path_factory.mktemp("tls")
    service = start_tls(workdir / "state", workdir, extra=2)
    manifest = json.loads((workdir / "state" / "endpoints.json").read_text())
    yield workdir / "state", {entry["name"]: entry for entry in manifest}
    assert service.stop() == 0


def handshake(state_dir: pathlib.Path, endpoint: dict[str, Any]) -> dict[str, Any]:
    """Connect as a careful client would: lab CA, hostname check on server_name."""
    context = ssl.create_default_context(cafile=str(state_dir / "ca.pem"))
    with socket.create_connection((endpoint["host"], endpoint["port"]), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=endpoint["server_name"]) as tls_socket:
        tls_socket.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert tls_socket.recv(100).startswith(b"HTTP/1.1 200 OK")
        return tls_socket.getpeercert()


def days_left(cert: dict[str, Any]) -> float:
    return (ssl.cert_time_to_seconds(cert["notAfter"]) - time.time()) / 86400


def test_tls_manifest_describes_every_endpoint(tls: tuple[pathlib.Path, dict[str, dict[str, Any]]]) -> None:
    state_dir, endpoints = tls
    assert list(endpoints) == ["valid", "expiring", "expired", "wrong_host", "valid-001", "valid-002"]
    assert {e["expected"] for e in endpoints.values()} == {"ok", "expiring", "expired", "wrong_host"}
    assert endpoints["wrong_host"]["server_name"] == "tls-wronghost.irlab.test"
    ports = [e["port"] for e in endpoints.values()]
    assert ports == list(range(ports[0], ports[0] + 6))
    assert all(pathlib.Path(e["cert_file"]).exists() for e in endpoints.values())
    assert (state_dir / "ca.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")


@pytest.mark.parametrize("name", ["valid", "valid-001"])
def test_tls_valid_endpoint_verifies(tls: tuple[pathlib.Path, dict[str, dict[str, Any]]], name: str) -> None:
    state_dir, endpoints = tls
    assert days_left(handshake(state_dir, endpoints[name])) > 360


def test_tls_expiring_endpoint_verifies_but_ends_in_ten_days(
        tls: tuple[pathlib.Path, dict[str, dict[str, Any]]]) -> None:
    state_dir, endpoints = tls
    assert 9.9 < days_left(handshake(state_dir, endpoints["expiring"])) <= 10.0
    listed = datetime.datetime.fromisoformat(endpoints["expiring"]["not_after"])
    assert 9.9 < (listed - datetime.datetime.now(datetime.timezone.utc)).total_seconds() / 86400 <= 10.0


@pytest.mark.parametrize(("name", "reason"), [
    ("expired", "certificate has expired"),
    ("wrong_host", "Hostname mismatch"),
])
def test_tls_broken_endpoints_fail_verification(
        tls: tuple[pathlib.Path, dict[str, dict[str, Any]]], name: str, reason: str) -> None:
    state_dir, endpoints = tls
    with pytest.raises(ssl.SSLCertVerificationError) as failure:
        handshake(state_dir, endpoints[name])
    assert reason in failure.value.verify_message


def test_tls_handles_a_hundred_parallel_handshakes(tls: tuple[pathlib.Path, dict[str, dict[str, Any]]]) -> None:
    state_dir, endpoints = tls
    targets = [endpoints[name] for name in ("valid", "expiring", "valid-001", "valid-002")] * 30
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(targets)) as pool:
        certs = list(pool.map(lambda endpoint: handshake(state_dir, endpoint), targets))
    assert len(certs) == 120
    assert time.monotonic() - started < 10


def test_tls_sighup_reloads_a_replaced_certificate_and_keeps_the_ca(tmp_path: pathlib.Path) -> None:
    trustme = pytest.importorskip("trustme")
    state_dir = tmp_path / "state"
    service = start_tls(state_dir, tmp_path)
    ca_pem = (state_dir / "ca.pem").read_bytes()
    endpoint = {e["name"]: e for e in json.loads((state_dir / "endpoints.json").read_text())}["expiring"]
    assert days_left(handshake(state_dir, endpoint)) < 11

    # What a renewal job does: a new certificate from the same CA in place of the old file, then HUP.
    ca = trustme.CA.from_pem(ca_pem, (state_dir / "ca.key").read_bytes())
    renewed = ca.issue_cert(endpoint["server_name"], HOST, not_after=datetime.datetime.now(
        datetime.timezone.utc) + datetime.timedelta(days=90))
    pathlib.Path(endpoint["key_file"]).write_bytes(renewed.private_key_pem.bytes())
    pathlib.Path(endpoint["cert_file"]).write_bytes(renewed.cert_chain_pems[0].bytes())
    os.kill(service.process.pid, signal.SIGHUP)
    deadline = time.monotonic() + 5
    while days_left(handshake(state_dir, endpoint)) < 11 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert days_left(handshake(state_dir, endpoint)) > 89
    assert service.stop() == 0

    restarted = start_tls(state_dir, tmp_path)  # a restart reuses the CA clients already trust
    assert (state_dir / "ca.pem").read_bytes() == ca_pem
    assert restarted.stop() == 0


# ---------------------------------------------------------------- Kubernetes API emulator

NAMESPACE = "incident-response"


@pytest.fixture(scope="module")
def kube_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, pathlib.Path]]:
    """One emulator for the module: every test leaves the seeded state as it found it."""
    pytest.importorskip("kubernetes.client")
    workdir = tmp_path_factory.mktemp("kube")
    service = Service("kube_emulator.py", ["--bind", HOST, "--port", "0", "--state-dir", str(workdir)], workdir)
    yield service.port, workdir
    assert service.stop() == 0


@pytest.fixture
def kube(kube_service: tuple[int, pathlib.Path]) -> Iterator[Any]:
    """A typed client for the emulator, configured the way a module would do it."""
    from kubernetes import client
    configuration = client.Configuration()
    configuration.host = f"http://{HOST}:{kube_service[0]}"
    with client.ApiClient(configuration) as api_client:
        yield api_client


def test_kube_lists_the_seeded_running_pods(kube: Any) -> None:
    from kubernetes import client
    pods = client.CoreV1Api(kube).list_namespaced_pod(NAMESPACE, label_selector="app=incident-response").items
    assert len(pods) == 3
    for pod in pods:
        assert pod.metadata.name.startswith("incident-response-")
        assert pod.status.phase == "Running"
        assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "True"
        assert pod.status.container_statuses[0].restart_count == 0
        assert pod.spec.containers[0].resources.limits["memory"] == "512Mi"
    assert client.CoreV1Api(kube).list_namespaced_pod(NAMESPACE, label_selector="app=other").items == []


def test_kube_pod_log_is_plain_text_with_errors(kube: Any) -> None:
    from kubernetes import client
    core = client.CoreV1Api(kube)
    name = core.list_namespaced_pod(NAMESPACE).items[0].metadata.name
    log = core.read_namespaced_pod_log(name, NAMESPACE)
    assert isinstance(log, str) and len(log.splitlines()) > 10
    assert any("5xx" in line and "ERROR" in line for line in log.splitlines())
    assert len(core.read_namespaced_pod_log(name, NAMESPACE, tail_lines=5).splitlines()) == 5


def test_kube_pod_status_set_through_the_api_reads_back(kube: Any) -> None:
    from kubernetes import client
    core = client.CoreV1Api(kube)
    name = core.list_namespaced_pod(NAMESPACE).items[0].metadata.name
    healthy = kube.sanitize_for_serialization(core.read_namespaced_pod(name, NAMESPACE))
    pod = core.read_namespaced_pod(name, NAMESPACE)
    status = pod.status.container_statuses[0]
    status.ready, status.restart_count = False, 6
    status.state = client.V1ContainerState(waiting=client.V1ContainerStateWaiting(reason="CrashLoopBackOff"))
    status.last_state = client.V1ContainerState(
        terminated=client.V1ContainerStateTerminated(reason="OOMKilled", exit_code=137))
    pod.metadata.annotations = {"irlab.test/log": "fatal: out of memory\n"}
    core.replace_namespaced_pod(name, NAMESPACE, pod)
    try:
        again = core.read_namespaced_pod(name, NAMESPACE).status.container_statuses[0]
        assert again.state.waiting.reason == "CrashLoopBackOff"
        assert again.last_state.terminated.reason == "OOMKilled" and again.restart_count == 6
        assert core.read_namespaced_pod_log(name, NAMESPACE) == "fatal: out of memory\n"
        listed = {p.metadata.name: p for p in core.list_namespaced_pod(NAMESPACE).items}
        assert listed[name].status.container_statuses[0].state.waiting.reason == "CrashLoopBackOff"
    finally:
        core.replace_namespaced_pod(name, NAMESPACE, healthy)  # back to Running/Ready for other tests
    assert core.read_namespaced_pod(name, NAMESPACE).status.container_statuses[0].restart_count == 0


def test_kube_create_and_delete_a_pod(kube: Any) -> None:
    from kubernetes import client
    core = client.CoreV1Api(kube)
    crashing = client.V1Pod(
        metadata=client.V1ObjectMeta(name="incident-response-crash", labels={"app": "incident-response"}),
        spec=client.V1PodSpec(containers=[client.V1Container(name="incident-response", image="x")]),
        status=client.V1PodStatus(phase="Running", container_statuses=[client.V1ContainerStatus(
            name="incident-response", image="x", image_id="", ready=False, restart_count=3,
            state=client.V1ContainerState(waiting=client.V1ContainerStateWaiting(reason="CrashLoopBackOff")))]))
    created = core.create_namespaced_pod(NAMESPACE, crashing)
    assert created.metadata.namespace == NAMESPACE and created.metadata.uid
    assert len(core.list_namespaced_pod(NAMESPACE, label_selector="app=incident-response").items) == 4

    core.delete_namespaced_pod("incident-response-crash", NAMESPACE)
    with pytest.raises(client.ApiException) as missing:
        core.read_namespaced_pod("incident-response-crash", NAMESPACE)
    assert missing.value.status == 404
    assert len(core.list_namespaced_pod(NAMESPACE).items) == 3


def test_kube_discovery_serves_the_dynamic_client_and_kubeconfig(
        kube: Any, kube_service: tuple[int, pathlib.Path], tmp_path: pathlib.Path) -> None:
    from kubernetes import client, config
    from kubernetes.dynamic import DynamicClient
    assert client.VersionApi(kube).get_code().major == "1"
    dynamic = DynamicClient(kube, cache_file=str(tmp_path / "discovery.json"))
    pods = dynamic.resources.get(api_version="v1", kind="Pod").get(namespace=NAMESPACE)
    assert pods.kind == "PodList" and len(pods.items) == 3
    deployment = dynamic.resources.get(api_version="apps/v1", kind="Deployment").get(
        namespace=NAMESPACE, name="incident-response")
    assert deployment.status.readyReplicas == 3

    with config.new_client_from_config(config_file=str(kube_service[1] / "kubeconfig")) as from_file:
        assert len(client.CoreV1Api(from_file).list_namespaced_pod(NAMESPACE).items) == 3
        assert NAMESPACE in [n.metadata.name for n in client.CoreV1Api(from_file).list_namespace().items]


def test_kube_server_side_table_shows_what_kubectl_get_pods_prints(
        kube: Any, kube_service: tuple[int, pathlib.Path]) -> None:
    from kubernetes import client
    core = client.CoreV1Api(kube)
    name = core.list_namespaced_pod(NAMESPACE).items[-1].metadata.name
    healthy = kube.sanitize_for_serialization(core.read_namespaced_pod(name, NAMESPACE))
    crashing = {"name": "incident-response", "image": "x", "imageID": "", "ready": False, "restartCount": 7,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
    core.patch_namespaced_pod_status(name, NAMESPACE, {"status": {"containerStatuses": [crashing]}})
    try:
        request = urllib.request.Request(
            f"http://{HOST}:{kube_service[0]}/api/v1/namespaces/{NAMESPACE}/pods",
            headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"})
        with DIRECT.open(request, timeout=10) as response:
            table = json.loads(response.read())
    finally:
        core.replace_namespaced_pod(name, NAMESPACE, healthy)
    columns = [column["name"] for column in table["columnDefinitions"]]
    rows = {row["cells"][0]: dict(zip(columns, row["cells"])) for row in table["rows"]}
    assert table["kind"] == "Table" and len(rows) == 3
    assert rows[name]["Status"] == "CrashLoopBackOff" and rows[name]["Ready"] == "0/1"
    assert rows[name]["Restarts"] == "7"
    assert {row["Status"] for pod, row in rows.items() if pod != name} == {"Running"}
