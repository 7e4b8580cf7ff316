# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deploy and rollback behind the load balancer, under the steady traffic users send to the public name.

The lab's traffic generator sends every request through haproxy (https://api.irlab.test on 10.77.1.20) and
keeps a running tally; each test takes its difference across a run. The balancer's own view comes from its
runtime API (the lab's Unix socket), and the version users get from the public endpoint itself.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from ansible.plugins.connection.ssh import Connection

from conftest import irlab, run
from test_deploy import deploy, live_versions

ENV_FILE = "/var/lib/irlab/hosts/{host}/etc_incident-response/env"


def tally(lab) -> dict:
    time.sleep(0.6)  # rewritten twice a second: read a fresh one
    return json.loads(Path(lab["traffic_stats"]).read_text())


def failures_during(lab, action) -> tuple[dict, list[dict], int]:
    before = tally(lab)
    result = action()
    after = tally(lab)
    new = [f for f in after["recent_failures"] if f["at"] > before["at"] - 0.6]
    return result, new, after["requests"] - before["requests"]


def admin(lab, command: str) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(5)
        conn.connect(lab["load_balancer"]["admin_socket"])
        conn.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def pool(lab) -> dict[str, dict[str, str]]:
    """Server name -> {admin: ready|drain|maint, up: bool} in the balancer's backend."""
    lines = [line for line in admin(lab, f"show servers state {lab['load_balancer']['backend']}").splitlines()
             if line and not line.startswith("#") and len(line.split()) > 6]
    found = {}
    for line in lines:
        fields = line.split()
        bits = int(fields[6])
        found[fields[3]] = {"admin": "maint" if bits & 0x27 else "drain" if bits & 0x18 else "ready",
                            "up": fields[5] == "2"}
    return found


def public_versions(lab, count: int = 8) -> list[str]:
    context = ssl.create_default_context(cafile=lab["load_balancer"]["ca"])
    versions = []
    for _attempt in range(count):
        with urllib.request.urlopen(lab["load_balancer"]["public_url"] + "/health", timeout=5,
                                    context=context) as resp:
            versions.append(json.load(resp)["version"])
    return versions


def test_deploy_and_rollback_under_traffic_lose_no_request(lab):
    irlab("reset")
    result, failed, sent = failures_during(lab, lambda: deploy("v1.2.3"))
    assert result.rc == 0, result.text
    assert sent > 20, f"only {sent} requests reached the balancer during the deploy: is the traffic generator up?"
    assert failed == [], f"{len(failed)} of {sent} requests failed during the deploy: {failed[:5]}"
    assert set(live_versions(lab).values()) == {"v1.2.3"}
    assert set(public_versions(lab)) == {"v1.2.3"}

    result, failed, sent = failures_during(lab, lambda: run("ansible-playbook", "playbooks/rollback.yml"))
    assert result.rc == 0, result.text
    assert sent > 10
    assert failed == [], f"{len(failed)} of {sent} requests failed during the rollback: {failed[:5]}"
    assert set(public_versions(lab)) == {"v1.2.2"}
    assert all(member["admin"] == "ready" and member["up"] for member in pool(lab).values()), pool(lab)


def test_a_host_that_fails_its_health_gate_stays_out_of_the_pool(lab):
    irlab("reset")
    env_file = Path(ENV_FILE.format(host="app2"))
    original = env_file.read_text()
    # app2's cache becomes unreachable for the next process it starts: its /health answers 503 from then on.
    env_file.write_text(original.replace("REDIS_PORT=6379", "REDIS_PORT=1"))
    try:
        result, failed, sent = failures_during(lab, lambda: deploy(
            "v1.2.3", "-e", "deploy_serial=1", "-e", "deploy_max_fail_percentage=100"))
        assert result.rc != 0, result.text
        assert "PARTIAL" in result.out and "Out of the load balancer: app2" in result.out, result.out[-3000:]
        members = pool(lab)
        assert members["app2"]["admin"] == "drain", members
        assert members["app1"]["admin"] == "ready" and members["app1"]["up"], members
        # Users only ever reached the healthy host: nothing failed, and the public name serves app1's release.
        assert failed == [], f"{len(failed)} of {sent} requests failed: {failed[:5]}"
        assert set(public_versions(lab)) == {"v1.2.3"}
    finally:
        env_file.write_text(original)
        irlab("reset")
    assert pool(lab)["app2"]["admin"] == "ready"


@pytest.fixture()
def stale_member(lab):
    """A forgotten server in the balancer's pool that still serves v1.2.2, as a stale target-group entry would."""
    netns, backend = lab["load_balancer"]["netns"], lab["load_balancer"]["backend"]
    address = lab["load_balancer"]["api"].split(":")[0]
    server = subprocess.Popen(
        ["ip", "netns", "exec", netns, "python3", "-c",
         "import http.server, json\n"
         "class H(http.server.BaseHTTPRequestHandler):\n"
         "    def do_GET(self):\n"
         "        body = json.dumps({'status': 'ok', 'version': 'v1.2.2'}).encode()\n"
         "        self.send_response(200); self.send_header('Content-Length', str(len(body))); self.end_headers()\n"
         "        self.wfile.write(body)\n"
         "    def log_message(self, *a): pass\n"
         f"http.server.ThreadingHTTPServer(('{address}', 8090), H).serve_forever()\n"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1)
        assert "New server registered" in admin(lab, f"add server {backend}/stale {address}:8090")
        admin(lab, f"enable server {backend}/stale")
        yield
    finally:
        admin(lab, f"disable server {backend}/stale")
        admin(lab, f"del server {backend}/stale")
        server.terminate()
        server.wait(timeout=10)


def test_the_public_check_fails_the_deploy_when_the_balancer_serves_another_release(lab, stale_member):
    irlab("reset")
    result = deploy("v1.2.3")
    assert result.rc != 0, result.text
    assert "FAILED" in result.out and "the public endpoint https://10.77.1.20 does not serve v1.2.3" in result.out, \
        result.out[-3000:]
    assert 'version == "v1.2.3"' in result.out and "v1.2.2" in result.out
    # The hosts themselves are on the release; it is the balancer that is wrong, and the run says so.
    assert set(live_versions(lab).values()) == {"v1.2.3"}


def test_connections_to_every_host_are_reused_through_the_bastion(lab):
    """ControlPersist masters exist for the bastion and each app host (through ProxyJump), and pipelining means
    no module is copied to any host: the only file a deploy transfers is the release archive."""
    irlab("reset")
    result = run("ansible-playbook", "-vvv", "playbooks/deploy.yml", "-e", "version=v1.2.3",
                 "-e", "deploy_watch_seconds=0")
    assert result.rc == 0, result.text[-3000:]
    transfers = [line for line in result.out.splitlines() if "PUT " in line]
    assert transfers and all(".tar.gz" in line for line in transfers), transfers[:5]
    control_dir = Path("/var/lib/irlab/ssh/cp")  # ansible_control_path_dir in the lab inventory
    for host in ["10.77.1.10", *(h["ip"] for h in lab["app_hosts"])]:
        # The name ansible's ssh plugin gives the master for this host, port and user.
        path = Connection._create_control_path(host, None, "root") % {"directory": control_dir}
        check = subprocess.run(["ssh", "-o", f"ControlPath={path}", "-O", "check", host], capture_output=True,
                               text=True, check=False)
        assert check.returncode == 0 and "Master running" in check.stderr, \
            f"no live ControlPersist master for {host} at {path}: {check.stderr.strip()}"
