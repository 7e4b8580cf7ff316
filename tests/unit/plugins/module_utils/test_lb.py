# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Draining and returning pool members: the rules with a fake pool, haproxy's API with a real haproxy."""

from __future__ import annotations

import http.server
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _lb as lb
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)


class FakePool:
    def __init__(self, **members: lb.Member):
        self.state = dict(members)
        self.calls: list[tuple[str, tuple[str, ...]]] = []
        self.on_poll: list[dict[str, lb.Member]] = []

    def members(self) -> dict[str, lb.Member]:
        if self.on_poll:
            self.state.update(self.on_poll.pop(0))
        return {n: lb.Member(m.name, m.admin, m.healthy, m.sessions) for n, m in self.state.items()}

    def drain(self, names):
        self.calls.append(("drain", tuple(names)))
        for n in names:
            self.state[n].admin = "drain"

    def ready(self, names):
        self.calls.append(("ready", tuple(names)))
        for n in names:
            self.state[n].admin = "ready"


def member(name: str, admin: str = "ready", healthy: bool = True, sessions: int = 0) -> lb.Member:
    return lb.Member(name, admin, healthy, sessions)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_drain_waits_for_open_sessions_to_end():
    pool = FakePool(app1=member("app1", sessions=2), app2=member("app2"))
    pool.on_poll = [{}, {"app1": member("app1", "drain", sessions=1)}, {"app1": member("app1", "drain", sessions=0)}]
    clock = Clock()
    result = lb.set_state(pool, ["app1"], lb.DRAINED, clock=clock, sleep=clock.sleep)
    assert pool.calls == [("drain", ("app1",))]
    assert result["changed_members"] == ["app1"] and result["members"]["app1"]["sessions"] == 0
    assert result["others"] == ["app2"]


def test_a_drain_that_would_leave_nobody_serving_is_refused_before_anything_is_sent():
    pool = FakePool(app1=member("app1"), app2=member("app2", healthy=False))
    with pytest.raises(IncidentResponseError, match="would leave no member of the pool serving"):
        lb.set_state(pool, ["app1"], lb.DRAINED)
    assert pool.calls == []
    assert lb.set_state(pool, ["app1"], lb.DRAINED, allow_empty=True)["changed"]


def test_the_last_serving_member_of_two_may_go_once_the_other_serves():
    pool = FakePool(app1=member("app1"), app2=member("app2"))
    assert lb.set_state(pool, ["app1"], lb.DRAINED)["changed"]
    with pytest.raises(IncidentResponseError, match="no member of the pool serving"):
        lb.set_state(pool, ["app2"], lb.DRAINED)


def test_unknown_members_are_refused_naming_the_pool():
    pool = FakePool(app1=member("app1"), app2=member("app2"))
    with pytest.raises(IncidentResponseError, match=r"app9 is not in the load balancer's pool \(it has app1, app2\)"):
        lb.set_state(pool, ["app9"], lb.DRAINED)


def test_ready_waits_for_the_health_check_and_times_out_naming_the_member():
    pool = FakePool(app1=member("app1", "drain", healthy=False), app2=member("app2"))
    clock = Clock()
    with pytest.raises(IncidentResponseError, match=r"app1 did not come back into service within 1 s") as caught:
        lb.set_state(pool, ["app1"], lb.READY, timeout=1, clock=clock, sleep=clock.sleep)
    assert pool.calls == [("ready", ("app1",))]
    assert lb.partial_result(caught.value)["changed_members"] == ["app1"]
    pool.state["app1"].healthy = True
    again = lb.set_state(pool, ["app1"], lb.READY)
    assert again["changed"] is False and again["members"]["app1"]["serving"] is True


def test_check_mode_reads_but_sends_nothing():
    pool = FakePool(app1=member("app1"), app2=member("app2"))
    result = lb.set_state(pool, ["app1"], lb.DRAINED, check_mode=True)
    assert result["changed"] is True and pool.calls == []


def test_an_already_drained_member_is_not_drained_again():
    pool = FakePool(app1=member("app1", "drain"), app2=member("app2"))
    assert lb.set_state(pool, ["app1"], lb.DRAINED)["changed"] is False and pool.calls == []


SERVERS_STATE = """1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight \
srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state \
bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr \
srv_agent_addr srv_agent_port
3 app 1 app1 10.77.2.11 2 8 1 1 0 15 3 3 6 0 0 0 - 8080 - 0 0 - - 0
3 app 2 app2 10.77.2.12 0 0 1 1 4 8 2 0 6 0 0 0 - 8080 - 0 0 - - 0
3 app 3 app3 10.77.2.13 2 1 1 1 4 15 3 3 6 0 0 0 - 8080 - 0 0 - - 0
"""
STAT = """# pxname,svname,qcur,qmax,scur
public,FRONTEND,,,3
app,app1,0,0,2
app,app2,1,0,0
app,BACKEND,0,0,2
"""


def test_parse_members_reads_admin_state_health_and_sessions():
    members = lb.parse_members(SERVERS_STATE, STAT, "app")
    assert members["app1"] == lb.Member("app1", "drain", True, 2)
    assert members["app2"] == lb.Member("app2", "ready", False, 1)
    assert members["app3"].admin == "maint" and not members["app3"].serving


def test_parse_members_without_the_backend_says_so():
    with pytest.raises(IncidentResponseError, match="haproxy has no backend 'app'"):
        lb.parse_members("Can't find backend.\n", "", "app")


# --------------------------------------------------------------------------- a real haproxy

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Slow(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/slow":
            time.sleep(1.5)
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def haproxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(binary).exists():
        pytest.fail("haproxy is not installed: run make setup (tools/setup.sh installs it)")
    servers = []
    for _server in range(2):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    work = tmp_path_factory.mktemp("haproxy")
    api, front = free_port(), free_port()
    sock = work / "admin.sock"
    config = work / "haproxy.cfg"
    config.write_text("\n".join([
        "global", f"    stats socket ipv4@127.0.0.1:{api} level admin", f"    stats socket {sock} mode 600 level admin",
        "defaults", "    mode http", "    timeout connect 2s", "    timeout client 10s", "    timeout server 10s",
        "frontend public", f"    bind 127.0.0.1:{front}", "    default_backend app",
        "backend app", "    option http-server-close", "    option httpchk GET /health",
        "    default-server inter 200ms fall 2 rise 1",
        *(f"    server web{i} 127.0.0.1:{s.server_address[1]} check" for i, s in enumerate(servers, 1)), ""]))
    proc = subprocess.Popen([binary, "-db", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    pool = lb.HaproxyPool(f"127.0.0.1:{api}", "app")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if all(m.serving for m in pool.members().values()) and len(pool.members()) == 2:
                break
        except IncidentResponseError:
            pass
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail(f"haproxy did not come up: {proc.stderr.read() if proc.stderr else ''}")
    yield {"api": f"127.0.0.1:{api}", "socket": str(sock), "front": f"http://127.0.0.1:{front}", "pool": pool}
    proc.terminate()
    proc.wait(timeout=10)
    for server in servers:
        server.shutdown()


def test_haproxy_drain_waits_for_the_request_in_flight_then_returns(haproxy):
    pool = haproxy["pool"]
    # Keep a slow request open on whichever server gets it, then drain both one at a time.
    slow = threading.Thread(target=lambda: urllib.request.urlopen(haproxy["front"] + "/slow", timeout=10).read())
    slow.start()
    time.sleep(0.3)
    busy = [n for n, m in pool.members().items() if m.sessions > 0]
    assert len(busy) == 1, pool.members()
    result = lb.set_state(pool, busy, lb.DRAINED, timeout=10)
    slow.join()
    assert result["waited_seconds"] >= 0.5, "the drain did not wait for the open request"
    assert result["members"][busy[0]] == {"name": busy[0], "admin": "drain", "healthy": True, "sessions": 0,
                                          "serving": False}
    # Traffic now only reaches the other server.
    for _request in range(4):
        urllib.request.urlopen(haproxy["front"] + "/", timeout=5).read()
    back = lb.set_state(pool, busy, lb.READY, timeout=10)
    assert back["members"][busy[0]]["serving"] is True


def test_haproxy_over_the_unix_socket_and_an_unknown_server(haproxy):
    pool = lb.HaproxyPool(haproxy["socket"], "app")
    assert set(pool.members()) == {"web1", "web2"}
    with pytest.raises(IncidentResponseError, match="not in the load balancer's pool"):
        lb.set_state(pool, ["web3"], lb.DRAINED)
    with pytest.raises(IncidentResponseError, match=r"haproxy runtime API at 127\.0\.0\.1:1"):
        lb.HaproxyPool("127.0.0.1:1", "app").members()
