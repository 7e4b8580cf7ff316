#!/usr/bin/env python3
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local lab: production's shape on one machine, built from Debian and PyPI packages.

    irlab.py up | down | status | install-release HOST VERSION | service HOST ACTION
             | sshd HOST stop|start | data postgres|redis stop|start

Layout (see lab/README.md for the picture):
- controller (root namespace) on bridge irlab-mgmt 10.77.1.1, with moto, the
  Kubernetes emulator, the webhook receiver and the TLS endpoints;
- bastion namespace: 10.77.1.10 on the management bridge and 10.77.2.10 on
  the private bridge, no forwarding, so app hosts are reachable only by
  ProxyJump, as in production;
- app hosts 10.77.2.11.. and the data host 10.77.2.250 (PostgreSQL, Redis)
  on the private bridge, which the controller cannot reach: the whole lab
  range sits behind an ``unreachable`` route in the root namespace;
- the load balancer namespace: haproxy with the public name's TLS on
  10.77.1.20 (management bridge, where the controller plays the internet) in
  front of every app host, its runtime API on 10.77.2.2 (private bridge,
  reached from the bastion). The traffic generator sends its requests there.

The number of app hosts is IRLAB_APP_HOSTS at ``up`` (default 2, at most
24); later commands read it from the lab's facts. With more than two, ``up``
writes inventories/lab/hosts_scaled.yml for app3.. and ``down`` removes it.

Every host runs its own sshd in its own mount and UTS namespace, with its own
hostname and its own /opt, /etc, /var/log and /var/lib incident-response
directories bind-mounted from /var/lib/irlab/hosts/<name>/.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import typing as t
import urllib.request
from pathlib import Path

import loadbalancer
from services import monitoring

REPO = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("IRLAB_STATE", "/var/lib/irlab"))
RUN, LOGS, SSH = STATE / "run", STATE / "logs", STATE / "ssh"
PYTHON = sys.executable

LAB_RANGE = "10.77.0.0/16"
MGMT_BRIDGE, PRIV_BRIDGE = "irlab-mgmt", "irlab-priv"
CONTROLLER_IP = "10.77.1.1"
BASTION_MGMT_IP, BASTION_PRIV_IP = "10.77.1.10", "10.77.2.10"
DATA_IP = "10.77.2.250"
LB_PUBLIC_IP, LB_PRIVATE_IP, LB_API_PORT = "10.77.1.20", "10.77.2.2", 9999
LB_NETNS = "irlab-lb"
MAX_APP_HOSTS = 24
SCALED_INVENTORY = REPO / "inventories" / "lab" / "hosts_scaled.yml"


def app_host_count() -> int:
    """IRLAB_APP_HOSTS when given, else what the running lab was built with, else 2."""
    wanted = os.environ.get("IRLAB_APP_HOSTS")
    if wanted is None:
        try:
            wanted = str(len(json.loads((STATE / "lab.json").read_text())["app_hosts"]))
        except (OSError, ValueError, KeyError):
            wanted = "2"
    try:
        count = int(wanted)
    except ValueError:
        raise SystemExit(f"irlab: IRLAB_APP_HOSTS={wanted!r} is not a number") from None
    if not 1 <= count <= MAX_APP_HOSTS:
        raise SystemExit(f"irlab: IRLAB_APP_HOSTS={count} is outside 1..{MAX_APP_HOSTS}")
    return count


APP_HOSTS = app_host_count()

PG_PORT, REDIS_PORT, API_PORT = 5432, 6379, 8080
PG_ADMIN_PASSWORD, PG_APP_PASSWORD, REDIS_PASSWORD = "lab-admin-pw", "lab-app-pw", "lab-redis-pw"
# Everything a host keeps in /var/lib/incident-response but its own Python (the prerequisites role's virtualenv).
WIPE_STATE = "find /var/lib/incident-response -mindepth 1 -maxdepth 1 ! -name venv -exec rm -rf {} +"
HOST_DIRS = ("/opt/incident-response", "/etc/incident-response",
             "/var/log/incident-response", "/var/lib/incident-response")
ORIGIN = STATE / "origin.git"
BASE_VERSION = "v1.2.2"
PG_BIN = Path("/usr/lib/postgresql/15/bin")

SERVICES = {
    # name: (port, argv) for the controller-side services on the management bridge
    "moto": (5000, [str(Path(PYTHON).parent / "moto_server"), "-H", CONTROLLER_IP, "-p", "5000"]),
    "kube": (6443, [PYTHON, str(REPO / "lab/services/kube_emulator.py"), "--bind", CONTROLLER_IP,
                    "--port", "6443", "--state-dir", str(STATE / "kube")]),
    "webhook": (8099, [PYTHON, str(REPO / "lab/services/webhook_receiver.py"), "--bind", CONTROLLER_IP,
                       "--port", "8099", "--store", str(STATE / "webhook/requests.jsonl")]),
    # A real SMTP server that keeps what it receives (incident e-mail); its HTTP side door is port 8026.
    "smtp": (8025, [PYTHON, str(REPO / "lab/services/smtp_sink.py"), "--bind", CONTROLLER_IP, "--port", "8025",
                    "--http-port", "8026", "--store", str(STATE / "smtp/messages.jsonl")]),
    "tls": (8441, [PYTHON, str(REPO / "lab/services/tls_endpoints.py"), "--bind", CONTROLLER_IP,
                   "--state-dir", str(STATE / "tls"), "--base-port", "8441"]),
}


class Host(t.NamedTuple):
    name: str
    netns: str
    ips: tuple[str, ...]

    @property
    def ssh_ip(self) -> str:
        return self.ips[0]


def hosts() -> list[Host]:
    app = [Host(f"app{i}", f"irlab-app{i}", (f"10.77.2.{10 + i}",)) for i in range(1, APP_HOSTS + 1)]
    return [Host("bastion", "irlab-bastion", (BASTION_MGMT_IP, BASTION_PRIV_IP))] + app


def app_hosts() -> list[Host]:
    return [h for h in hosts() if h.name != "bastion"]


def host_by_name(name: str) -> Host:
    for host in hosts():
        if host.name == name:
            return host
    raise SystemExit(f"irlab: no lab host named {name!r}; hosts: {', '.join(h.name for h in hosts())}")


# --------------------------------------------------------------------------- helpers

def sh(*argv: str, check: bool = True, capture: bool = False, input_: bytes | None = None,
       netns: str | None = None) -> subprocess.CompletedProcess:
    cmd = (["ip", "netns", "exec", netns] if netns else []) + list(argv)
    result = subprocess.run(cmd, input=input_, capture_output=True, check=False)
    if check and result.returncode != 0:
        raise SystemExit(f"irlab: command failed ({result.returncode}): {shlex.join(cmd)}\n"
                         f"{result.stderr.decode(errors='replace').strip()}")
    if not capture and result.stdout:
        sys.stdout.write(result.stdout.decode(errors="replace"))
    return result


def log(message: str) -> None:
    print(f"irlab: {message}", flush=True)


def spawn(name: str, argv: list[str], netns: str | None = None, env: dict[str, str] | None = None) -> int:
    """Start a long-running lab process detached from us, remember its pid."""
    cmd = (["ip", "netns", "exec", netns] if netns else []) + argv
    with open(LOGS / f"{name}.log", "ab") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, env={**os.environ, **(env or {})})
    (RUN / f"{name}.pid").write_text(f"{proc.pid}\n")
    return proc.pid


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours still "exists"; treat it as dead.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def is_lab_process(pid: int) -> bool:
    """True only when ``pid`` runs one of the lab's own programs.

    A pid file can outlive its process (a machine whose processes were all
    ended, then reused pids); signalling whatever holds that pid now could
    end someone else's process. Every lab process names the lab in its
    command line: the state directory, a lab address, or a lab script.
    """
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    markers = (str(STATE), CONTROLLER_IP, DATA_IP, str(REPO / "lab"))
    return any(marker in cmdline for marker in markers)


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def wait_port(ip: str, port: int, netns: str | None = None, timeout: float = 20.0) -> bool:
    """Poll a TCP port, from inside ``netns`` when the address is only reachable there."""
    deadline = time.monotonic() + timeout
    probe = ["bash", "-c", f"exec 3<>/dev/tcp/{ip}/{port}"]
    while time.monotonic() < deadline:
        if netns:
            if sh(*probe, netns=netns, check=False, capture=True).returncode == 0:
                return True
        else:
            try:
                with socket.create_connection((ip, port), timeout=1):
                    return True
            except OSError:
                pass
        time.sleep(0.2)
    return False


def terminate(pid: int, grace: float = 5.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return
            time.sleep(0.1)


# --------------------------------------------------------------------------- network

def link_exists(name: str, netns: str | None = None) -> bool:
    return sh("ip", "link", "show", name, netns=netns, check=False, capture=True).returncode == 0


def net_up() -> None:
    # Safety first: nothing aimed at the lab range may leave this machine.
    ensure_safety_route()
    for bridge in (MGMT_BRIDGE, PRIV_BRIDGE):
        sh("ip", "link", "add", bridge, "type", "bridge")
        sh("ip", "link", "set", bridge, "up")
    sh("ip", "addr", "add", f"{CONTROLLER_IP}/24", "dev", MGMT_BRIDGE)

    def attach(netns: str, outside: str, inside: str, bridge: str, ip: str) -> None:
        sh("ip", "link", "add", outside, "type", "veth", "peer", "name", inside, "netns", netns)
        sh("ip", "link", "set", outside, "master", bridge, "up")
        sh("ip", "addr", "add", f"{ip}/24", "dev", inside, netns=netns)
        sh("ip", "link", "set", inside, "up", netns=netns)

    for host in hosts() + [Host("data", "irlab-data", (DATA_IP,)), Host("lb", LB_NETNS, (LB_PUBLIC_IP,))]:
        sh("ip", "netns", "add", host.netns)
        sh("ip", "link", "set", "lo", "up", netns=host.netns)
        sh("sysctl", "-q", "-w", "net.ipv4.ip_forward=0", netns=host.netns)
    attach("irlab-bastion", "irl-bmgmt", "eth0", MGMT_BRIDGE, BASTION_MGMT_IP)
    attach("irlab-bastion", "irl-bpriv", "eth1", PRIV_BRIDGE, BASTION_PRIV_IP)
    for host in app_hosts():
        attach(host.netns, f"irl-{host.name}", "eth0", PRIV_BRIDGE, host.ssh_ip)
    attach("irlab-data", "irl-data", "eth0", PRIV_BRIDGE, DATA_IP)
    # The load balancer forwards nothing at the IP level either: it proxies, as a real one does.
    attach(LB_NETNS, "irl-lbpub", "eth0", MGMT_BRIDGE, LB_PUBLIC_IP)
    attach(LB_NETNS, "irl-lbpriv", "eth1", PRIV_BRIDGE, LB_PRIVATE_IP)


def net_down() -> None:
    for netns in lab_namespaces():
        sh("ip", "netns", "del", netns, check=False, capture=True)
    # Namespace deletion is asynchronous; a veth left behind blocks the next up.
    links = sh("ip", "-o", "link", "show", check=False, capture=True).stdout.decode()
    for line in links.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name.startswith("irl-") or name in (MGMT_BRIDGE, PRIV_BRIDGE):
            sh("ip", "link", "del", name, check=False, capture=True)
    # The safety route stays: with the lab down, a request to a lab address must still fail here
    # (EHOSTUNREACH at once) instead of leaving through the default gateway.
    ensure_safety_route()


def ensure_safety_route() -> None:
    """Nothing aimed at the lab range may leave this machine, whether the lab is up or down."""
    sh("ip", "route", "replace", "unreachable", LAB_RANGE)


def lab_namespaces() -> list[str]:
    out = sh("ip", "netns", "list", check=False, capture=True).stdout.decode()
    return [line.split()[0] for line in out.splitlines() if line.startswith("irlab-")]


# --------------------------------------------------------------------------- ssh hosts

def ssh_up() -> None:
    (SSH / "hostkeys").mkdir(parents=True, exist_ok=True)
    Path("/run/sshd").mkdir(exist_ok=True)
    key = SSH / "id_ed25519"
    if not key.exists():
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "irlab-controller", "-f", str(key))
    shutil.copy(f"{key}.pub", SSH / "authorized_keys")
    known: list[str] = []
    for host in hosts():
        hostkey = SSH / "hostkeys" / f"{host.name}_ed25519"
        if not hostkey.exists():
            sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", host.name, "-f", str(hostkey))
        pub = Path(f"{hostkey}.pub").read_text().split()
        known.append(f"{','.join(host.ips)} {pub[0]} {pub[1]}")
        config = SSH / f"sshd_{host.name}.conf"
        config.write_text("\n".join([
            *(f"ListenAddress {ip}:22" for ip in host.ips),
            f"HostKey {hostkey}",
            f"PidFile {RUN}/sshd-{host.name}.pid",
            f"AuthorizedKeysFile {SSH}/authorized_keys",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            # ProxyJump through the bastion needs TCP forwarding there.
            f"AllowTcpForwarding {'yes' if host.name == 'bastion' else 'no'}",
            "X11Forwarding no",
            "PrintMotd no",
            "MaxSessions 50",
            "MaxStartups 50:30:100",
            "Subsystem sftp /usr/lib/openssh/sftp-server",
            "",
        ]))
        start_sshd(host)
    (SSH / "known_hosts").write_text("\n".join(known) + "\n")
    common = [
        "  User root",
        f"  IdentityFile {key}",
        "  IdentitiesOnly yes",
        f"  UserKnownHostsFile {SSH}/known_hosts",
        "  StrictHostKeyChecking yes",
        "  BatchMode yes",
        "  ConnectTimeout 10",
    ]
    lines = [f"Host bastion {BASTION_MGMT_IP}", f"  HostName {BASTION_MGMT_IP}", *common]
    for host in app_hosts():
        lines += [f"Host {host.name} {host.ssh_ip}", f"  HostName {host.ssh_ip}",
                  f"  ProxyJump {BASTION_MGMT_IP}", *common]
    (SSH / "config").write_text("\n".join(lines) + "\n")
    for host in hosts():
        if not wait_port(host.ssh_ip, 22, netns=host.netns):
            raise SystemExit(f"irlab: sshd on {host.name} did not start; see {LOGS}/sshd-{host.name}.log")


def start_sshd(host: Host) -> None:
    """The host's sshd in its own mount and UTS namespace, its directories bind-mounted (config from ssh_up)."""
    mounts = []
    for directory in HOST_DIRS:
        backing = STATE / "hosts" / host.name / directory.strip("/").replace("/", "_")
        backing.mkdir(parents=True, exist_ok=True)
        Path(directory).mkdir(parents=True, exist_ok=True)  # the (empty) mount point
        mounts.append(f"mount --bind {shlex.quote(str(backing))} {shlex.quote(directory)}")
    config = SSH / f"sshd_{host.name}.conf"
    boot = " && ".join(mounts + [f"hostname {host.name}",
                                 f"exec /usr/sbin/sshd -D -e -f {shlex.quote(str(config))}"])
    spawn(f"sshd-{host.name}", ["unshare", "--mount", "--uts", "--propagation", "private",
                                "sh", "-c", boot], netns=host.netns)


def sshd(name: str, action: str) -> None:
    """Make a host unreachable over SSH (stop) and reachable again (start), for fault tests.

    Stopping ends the listener and every SSH session into the host, so that a multiplexed connection
    (ControlPersist) cannot keep it reachable; the host's other processes (the service) keep running.
    """
    host = host_by_name(name)
    pidfile = RUN / f"sshd-{name}.pid"
    pid = read_pid(pidfile)
    running = bool(pid and pid_alive(pid) and is_lab_process(pid))
    if action == "stop":
        if running:
            terminate(t.cast(int, pid))
        for other in sh("ip", "netns", "pids", host.netns, check=False, capture=True).stdout.decode().split():
            try:
                comm = Path(f"/proc/{other}/comm").read_text().strip()
            except OSError:
                continue
            if comm == "sshd":
                terminate(int(other), grace=2.0)
        log(f"sshd on {name} stopped")
    elif action == "start":
        if not running:
            start_sshd(host)
        if not wait_port(host.ssh_ip, 22, netns=host.netns):
            raise SystemExit(f"irlab: sshd on {name} did not start; see {LOGS}/sshd-{name}.log")
        log(f"sshd on {name} up")
    else:
        raise SystemExit(f"irlab: unknown sshd action {action!r}")


def data_service(name: str, action: str) -> None:
    """Stop or start PostgreSQL or Redis on the data host, keeping their data (fault tests)."""
    if name == "postgres":
        pg_ctl = ["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(STATE / "pgdata")]
        if action == "stop" and postgres_pid():
            sh(*pg_ctl, "-m", "fast", "-w", "stop", capture=True)
        elif action == "start" and not wait_port(DATA_IP, PG_PORT, netns="irlab-data", timeout=0.5):
            sh(*pg_ctl, "-l", str(LOGS / "postgres.log"), "-w", "-t", "30", "start", netns="irlab-data",
               capture=True)
    elif name == "redis":
        pid = read_pid(RUN / "redis.pid")
        if action == "stop" and pid and pid_alive(pid) and is_lab_process(pid):
            terminate(pid)
        elif action == "start" and not wait_port(DATA_IP, REDIS_PORT, netns="irlab-data", timeout=0.5):
            redis_up()
    else:
        raise SystemExit(f"irlab: unknown data service {name!r}; postgres or redis")
    log(f"{name} {'stopped' if action == 'stop' else 'up'}")


def ssh(host: str, command: str, input_: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return sh("ssh", "-F", str(SSH / "config"), host, command, input_=input_, check=check, capture=True)


# --------------------------------------------------------------------------- data host

def pg_env() -> dict[str, str]:
    return {"PGPASSWORD": PG_ADMIN_PASSWORD}


def psql(sql: str, db: str = "postgres") -> None:
    cmd = ["env", f"PGPASSWORD={PG_ADMIN_PASSWORD}", "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
           "-h", DATA_IP, "-U", "postgres", "-d", db, "-c", sql]
    sh(*cmd, netns="irlab-data", capture=True)


def postgres_up() -> None:
    data = STATE / "pgdata"
    pwfile = STATE / "pg.pw"
    data.mkdir(mode=0o700)
    pwfile.write_text(PG_ADMIN_PASSWORD + "\n")
    for path in (data, pwfile):
        shutil.chown(path, "postgres", "postgres")
    sh("runuser", "-u", "postgres", "--", str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres",
       f"--pwfile={pwfile}", "--auth-host=scram-sha-256", "--auth-local=peer", "-E", "UTF8",
       "--locale=C.UTF-8", capture=True)
    pwfile.unlink()
    with open(data / "postgresql.conf", "a") as conf:
        conf.write("\n".join([
            "", "# irlab",
            f"listen_addresses = '{DATA_IP}'",
            f"port = {PG_PORT}",
            # No Unix socket: the controller must not have a side door the
            # production network does not have.
            "unix_socket_directories = ''",
            "shared_preload_libraries = 'pg_stat_statements'",
            "pg_stat_statements.track = all",
            "max_connections = 50",
            "logging_collector = off",
            "",
        ]))
    (data / "pg_hba.conf").write_text("host all all 10.77.2.0/24 scram-sha-256\n")
    logfile = LOGS / "postgres.log"
    logfile.touch()
    shutil.chown(logfile, "postgres", "postgres")
    sh("runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(logfile),
       "-w", "-t", "30", "start", netns="irlab-data", capture=True)
    psql("CREATE ROLE admin LOGIN SUPERUSER PASSWORD 'lab-admin-pw'")
    psql("CREATE ROLE incident_response LOGIN PASSWORD 'lab-app-pw'")
    psql("CREATE DATABASE incident_response OWNER incident_response")
    psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", db="incident_response")
    psql("GRANT pg_read_all_stats TO incident_response", db="incident_response")


def postgres_pid() -> int | None:
    return read_pid(STATE / "pgdata" / "postmaster.pid")


def redis_up() -> None:
    (STATE / "redis").mkdir(exist_ok=True)
    sh("redis-server", "--port", str(REDIS_PORT), "--bind", DATA_IP, "--daemonize", "yes",
       "--pidfile", str(RUN / "redis.pid"), "--logfile", str(LOGS / "redis.log"), "--dir",
       str(STATE / "redis"), "--save", "", "--appendonly", "no", "--requirepass", REDIS_PASSWORD,
       "--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru", netns="irlab-data")
    if not wait_port(DATA_IP, REDIS_PORT, netns="irlab-data"):
        raise SystemExit(f"irlab: redis did not start; see {LOGS}/redis.log")


# --------------------------------------------------------------------------- the service

def env_file() -> str:
    return "".join(f"{k}={v}\n" for k, v in {
        "APP_ENV": "lab",
        "APP_PYTHON": PYTHON,
        "API_PORT": API_PORT,
        "DB_HOST": DATA_IP, "DB_PORT": PG_PORT, "DB_NAME": "incident_response",
        "DB_USER": "incident_response", "DB_PASSWORD": PG_APP_PASSWORD,
        "REDIS_HOST": DATA_IP, "REDIS_PORT": REDIS_PORT, "REDIS_PASSWORD": REDIS_PASSWORD,
    }.items())


def write_env_files() -> None:
    for host in hosts():
        path = STATE / "hosts" / host.name / "etc_incident-response" / "env"
        path.write_text(env_file())
        path.chmod(0o600)


def bastion_checkout(version: str) -> None:
    """The runbook's steps 2-3 on the bastion: check out the tag, run the migrations."""
    ssh("bastion", " && ".join([
        "set -e",
        "test -d /opt/incident-response/.git || git clone -q file://"
        f"{ORIGIN} /opt/incident-response",
        "cd /opt/incident-response",
        "git fetch -q --tags origin",
        f"git -c advice.detachedHead=false checkout -q tags/{shlex.quote(version)}",
        "make -s migrate",
    ]))


def install_release(name: str, version: str) -> None:
    """Put a tag live on an app host directly, bypassing the collection (lab bootstrap and test setup)."""
    host_by_name(name)
    archive = sh("git", "--git-dir", str(ORIGIN), "archive", "--format=tar", version, capture=True).stdout
    release = f"/opt/incident-response/releases/{version}"
    ssh(name, " && ".join([
        "set -e",
        f"rm -rf {release}.tmp && mkdir -p {release}.tmp",
        f"tar -x -C {release}.tmp",
        f"rm -rf {release} && mv {release}.tmp {release}",
        f"make -s -C {release} deploy ENV=lab",
        f"ln -sfn {release} /opt/incident-response/current.tmp",
        "mv -T /opt/incident-response/current.tmp /opt/incident-response/current",
        "/opt/incident-response/current/bin/service restart",
    ]), input_=archive)


def record_bootstrap(name: str, version: str) -> None:
    """The lab starts as if a deploy had left ``version`` live and healthy (the release history's format)."""
    history = {"schema": 1, "releases": [{
        "version": version, "result": "healthy", "run_id": "irlab-bootstrap", "by": "irlab",
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "note": "lab bootstrap"}]}
    path = STATE / "hosts" / name / "var_lib_incident-response" / "releases.json"
    path.write_text(json.dumps(history, indent=2) + "\n")


def service(name: str, action: str) -> subprocess.CompletedProcess:
    if action not in ("start", "stop", "restart", "status"):
        raise SystemExit(f"irlab: unknown service action {action!r}")
    host_by_name(name)
    return ssh(name, f"/opt/incident-response/current/bin/service {action}", check=action != "status")


# --------------------------------------------------------------------------- load balancer

def lb_up() -> None:
    """haproxy in front of every app host, TLS on the public name (lab/loadbalancer.py)."""
    lb_dir = STATE / "lb"
    lb_dir.mkdir(exist_ok=True)
    pem = lb_dir / "public.pem"
    loadbalancer.issue_certificate(STATE / "tls", LB_PUBLIC_IP, pem)
    config = lb_dir / "haproxy.cfg"
    members = [(h.name, h.ssh_ip, API_PORT) for h in app_hosts()]
    config.write_text(loadbalancer.render_config(members, LB_PUBLIC_IP, LB_PRIVATE_IP, LB_API_PORT, pem,
                                                 RUN / "haproxy.real.pid", RUN / "haproxy.sock"))
    sh("haproxy", "-c", "-q", "-f", str(config), capture=True)
    spawn("haproxy", ["haproxy", "-db", "-f", str(config)], netns=LB_NETNS)
    if not wait_port(LB_PUBLIC_IP, 443, timeout=20):
        raise SystemExit(f"irlab: haproxy did not start on {LB_PUBLIC_IP}:443; see {LOGS}/haproxy.log")


def lb_ready_all(timeout: float = 20.0) -> None:
    """Every app host back in the pool and UP (reset; a test may have left one drained)."""
    pool = loadbalancer.pool(RUN / "haproxy.sock")
    names = [h.name for h in app_hosts()]
    pool.ready(names)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        members = pool.members()
        if all(members[name].serving for name in names if name in members) and set(names) <= set(members):
            return
        time.sleep(0.2)
    raise SystemExit(f"irlab: not every app host is serving in the load balancer: {pool.members()}")


def write_scaled_inventory() -> None:
    """app3.. for a lab of more than two app hosts; inventories/lab/hosts.yml lists app1 and app2."""
    extra = [h for h in app_hosts() if h.name not in ("app1", "app2")]
    if not extra:
        SCALED_INVENTORY.unlink(missing_ok=True)
        return
    lines = ["---", "# Written by `make lab-up` with IRLAB_APP_HOSTS > 2; removed by `make lab-down`.",
             "all:", "  children:", "    app_servers:", "      hosts:"]
    for host in extra:
        lines += [f"        {host.name}:", f"          ansible_host: {host.ssh_ip}"]
    lines += ["      vars:", f"        ansible_ssh_common_args: -F {SSH}/config -o ProxyJump=root@{BASTION_MGMT_IP}",
              ""]
    SCALED_INVENTORY.write_text("\n".join(lines))


def prepare_hosts() -> None:
    """Each host's own Python for the collection's modules, made by the prerequisites role as a user would."""
    started = time.monotonic()
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=f"{Path(PYTHON).parent}:{os.environ.get('PATH', '')}")
    env.pop("ANSIBLE_INVENTORY", None)
    done = subprocess.run([str(Path(PYTHON).parent / "ansible-playbook"), "playbooks/prerequisites.yml"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=1800, check=False)
    if done.returncode != 0:
        raise SystemExit(f"irlab: playbooks/prerequisites.yml failed ({done.returncode}):\n{done.stdout[-3000:]}"
                         f"{done.stderr[-2000:]}")
    log(f"each host has its own Python for the collection's modules ({time.monotonic() - started:.1f} s)")


def start_traffic() -> None:
    """Steady traffic at the public name, as users would send it; its tally goes to traffic.json."""
    spawn("traffic", [PYTHON, str(REPO / "lab/traffic.py"), "--target", f"https://{LB_PUBLIC_IP}",
                      "--cafile", str(STATE / "tls" / "ca.pem"), "--stats", str(STATE / "traffic.json"),
                      "--rps", str(min(40, 5 * APP_HOSTS)), "--duration", str(6 * 3600)])


# --------------------------------------------------------------------------- up / down / status

def up(args: argparse.Namespace) -> None:
    started = time.monotonic()
    if lab_namespaces() or (STATE / "run").exists():
        log("leftovers from an earlier lab found; taking them down first")
        down(args)
    for directory in (RUN, LOGS, SSH, STATE / "webhook", STATE / "tls", STATE / "kube"):
        directory.mkdir(parents=True, exist_ok=True)
    STATE.chmod(0o755)
    net_up()
    log(f"network up: controller {CONTROLLER_IP}, bastion {BASTION_MGMT_IP}, "
        f"{APP_HOSTS} app hosts, data {DATA_IP}; {LAB_RANGE} unreachable from outside")
    for name, (_port, argv) in SERVICES.items():
        spawn(name, argv)
    postgres_up()
    redis_up()
    log("PostgreSQL (pg_stat_statements) and Redis up on the private network")
    ssh_up()
    log("sshd up on " + ", ".join(h.name for h in hosts()))
    sh(PYTHON, str(REPO / "lab/build_origin.py"), str(ORIGIN), capture=True)
    write_env_files()
    bastion_checkout(BASE_VERSION)
    for host in app_hosts():
        install_release(host.name, BASE_VERSION)
        record_bootstrap(host.name, BASE_VERSION)
    log(f"sample service {BASE_VERSION} live on " + ", ".join(h.name for h in app_hosts()))
    for name, (port, _argv) in SERVICES.items():
        if not wait_port(CONTROLLER_IP, port, timeout=30):
            raise SystemExit(f"irlab: {name} did not start on {CONTROLLER_IP}:{port}; see {LOGS}/{name}.log")
    lb_up()
    lb_ready_all()
    log(f"load balancer up: https://{loadbalancer.PUBLIC_NAME} on {LB_PUBLIC_IP} in front of {APP_HOSTS} app hosts")
    start_traffic()
    write_scaled_inventory()
    write_facts()
    # From here on the lab is up as far as the playbooks' lab_guard is concerned (lab.json exists).
    prepare_hosts()
    lab = sys.modules[__name__]
    monitoring.up(lab, [h.ssh_ip for h in app_hosts()], API_PORT)
    monitoring.install(lab)
    monitoring.rulebook(lab, auto_rollback=False)
    log("Prometheus and Alertmanager up on the bastion, the alert rulebook on the controller")
    log(f"lab up in {time.monotonic() - started:.1f} s; `make lab-status` shows it")


def reset(_args: argparse.Namespace | None = None) -> None:
    """Back to the state lab-up leaves: v1.2.2 live and healthy, a fresh database, no lock, no webhook records.

    Much faster than down + up; the integration tests call it between scenarios.
    """
    psql("DROP DATABASE IF EXISTS incident_response WITH (FORCE)")
    psql("CREATE DATABASE incident_response OWNER incident_response")
    psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", db="incident_response")
    ssh("bastion", f"{WIPE_STATE} && rm -rf /opt/incident-response/* /opt/incident-response/.git")
    bastion_checkout(BASE_VERSION)
    for host in app_hosts():
        ssh(host.name, "/opt/incident-response/current/bin/service stop || true; "
                       f"rm -rf /opt/incident-response/* && {WIPE_STATE}")
        install_release(host.name, BASE_VERSION)
        record_bootstrap(host.name, BASE_VERSION)
    lb_ready_all()
    store = STATE / "webhook" / "requests.jsonl"
    urllib.request.urlopen(urllib.request.Request(f"http://{CONTROLLER_IP}:8099/_requests", method="DELETE"),
                           timeout=5).close()
    if store.exists():
        store.write_text("")
    smtp_clear()
    log(f"lab reset: {BASE_VERSION} live on " + ", ".join(h.name for h in app_hosts()))


def smtp_clear() -> None:
    """Forget every e-mail the lab's SMTP server kept."""
    urllib.request.urlopen(urllib.request.Request(f"http://{CONTROLLER_IP}:8026/_messages", method="DELETE"),
                           timeout=5).close()


def write_facts() -> None:
    """What tests and benchmarks need to find their way around the lab."""
    facts = {
        "state_dir": str(STATE),
        "controller_ip": CONTROLLER_IP,
        "bastion": {"name": "bastion", "ips": [BASTION_MGMT_IP, BASTION_PRIV_IP]},
        "app_hosts": [{"name": h.name, "ip": h.ssh_ip, "netns": h.netns} for h in app_hosts()],
        "data": {"ip": DATA_IP, "postgres_port": PG_PORT, "redis_port": REDIS_PORT, "netns": "irlab-data"},
        "services": {name: f"{CONTROLLER_IP}:{port}" for name, (port, _argv) in SERVICES.items()},
        "origin": f"file://{ORIGIN}",
        "ssh_config": str(SSH / "config"),
        "load_balancer": {"public_url": f"https://{LB_PUBLIC_IP}", "public_name": loadbalancer.PUBLIC_NAME,
                          "api": f"{LB_PRIVATE_IP}:{LB_API_PORT}", "admin_socket": str(RUN / "haproxy.sock"),
                          "backend": loadbalancer.BACKEND, "netns": LB_NETNS,
                          "ca": str(STATE / "tls" / "ca.pem")},
        "traffic_stats": str(STATE / "traffic.json"),
    }
    (STATE / "lab.json").write_text(json.dumps(facts, indent=2) + "\n")


def down(_args: argparse.Namespace | None = None) -> None:
    # Close SSH ControlPersist masters that point into the lab before its hosts vanish.
    control_dir = STATE / "ssh" / "cp"
    for sock in control_dir.glob("*") if control_dir.exists() else []:
        subprocess.run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "lab"], capture_output=True, check=False)
    monitoring.down(sys.modules[__name__])
    if postgres_pid():
        sh("runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(STATE / "pgdata"),
           "-m", "fast", "-w", "stop", check=False, capture=True)
    for pidfile in sorted(RUN.glob("*.pid")) if RUN.exists() else []:
        pid = read_pid(pidfile)
        if pid and pid_alive(pid) and is_lab_process(pid):
            terminate(pid)
    for netns in lab_namespaces():
        pids = sh("ip", "netns", "pids", netns, check=False, capture=True).stdout.decode().split()
        for pid in pids:
            terminate(int(pid), grace=3.0)
    net_down()
    SCALED_INVENTORY.unlink(missing_ok=True)
    if STATE.exists():
        shutil.rmtree(STATE)
    for directory in HOST_DIRS:
        try:
            Path(directory).rmdir()
        except OSError:
            pass
    log("lab down")


def checks() -> list[tuple[str, bool, str]]:
    rows: list[tuple[str, bool, str]] = []
    route = sh("ip", "route", "show", "type", "unreachable", LAB_RANGE, check=False, capture=True)
    rows.append(("safety route", bool(route.stdout.strip()), f"unreachable {LAB_RANGE}"))
    for name, (port, _argv) in SERVICES.items():
        pid = read_pid(RUN / f"{name}.pid")
        ok = bool(pid and pid_alive(pid)) and wait_port(CONTROLLER_IP, port, timeout=1)
        rows.append((name, ok, f"{CONTROLLER_IP}:{port}"))
    rows.append(("postgres", wait_port(DATA_IP, PG_PORT, netns="irlab-data", timeout=1), f"{DATA_IP}:{PG_PORT}"))
    rows.append(("redis", wait_port(DATA_IP, REDIS_PORT, netns="irlab-data", timeout=1),
                 f"{DATA_IP}:{REDIS_PORT}"))
    for host in hosts():
        ok = wait_port(host.ssh_ip, 22, netns=host.netns, timeout=1)
        rows.append((f"sshd {host.name}", ok, f"{host.ssh_ip}:22"))
    for host in app_hosts():
        ok = wait_port(host.ssh_ip, API_PORT, netns=host.netns, timeout=1)
        rows.append((f"service {host.name}", ok, f"{host.ssh_ip}:{API_PORT}"))
    pid = read_pid(RUN / "haproxy.pid")
    up_in_pool: list[str] = []
    if pid and pid_alive(pid):
        try:
            up_in_pool = [m.name for m in loadbalancer.pool(RUN / "haproxy.sock").members().values() if m.serving]
        except Exception:  # noqa: BLE001, S110 - status reports, it never crashes
            pass
    rows.append(("load balancer", bool(pid and pid_alive(pid)) and wait_port(LB_PUBLIC_IP, 443, timeout=1),
                 f"https://{LB_PUBLIC_IP} ({len(up_in_pool)}/{APP_HOSTS} app hosts serving)"))
    pid = read_pid(RUN / "traffic.pid")
    rows.append(("traffic", bool(pid and pid_alive(pid)), f"controller -> https://{LB_PUBLIC_IP}"))
    rows += monitoring.status(sys.modules[__name__])
    return rows


def status(_args: argparse.Namespace) -> None:
    if not lab_namespaces():
        log("lab is down")
        raise SystemExit(3)
    rows = checks()
    width = max(len(name) for name, _ok, _where in rows)
    for name, ok, where in rows:
        print(f"{name:<{width}}  {'up  ' if ok else 'DOWN'}  {where}")
    if not all(ok for _name, ok, _where in rows):
        raise SystemExit(1)


def rulebook_ctl(args: argparse.Namespace) -> None:
    """Alert-driven runs on or off: a test or a scenario that breaks the service on purpose turns them off."""
    lab = sys.modules[__name__]
    if args.action == "stop":
        monitoring.rulebook_stop(lab)
    else:
        monitoring.rulebook(lab, auto_rollback=args.auto_rollback)
    log(f"rulebook {'stopped' if args.action == 'stop' else 'started'}")


def main(argv: list[str] | None = None) -> None:
    if os.geteuid() != 0:
        raise SystemExit("irlab: the lab needs root (network namespaces, sshd, bind mounts)")
    parser = argparse.ArgumentParser(prog="irlab", description=__doc__.split("\n", maxsplit=1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="build and start the lab (tears down leftovers first)").set_defaults(func=up)
    sub.add_parser("down", help="stop everything and remove every trace").set_defaults(func=down)
    sub.add_parser("status", help="one line per component; exit 1 if any is down").set_defaults(func=status)
    sub.add_parser("reset", help="back to v1.2.2 everywhere with a fresh database (fast)").set_defaults(func=reset)
    rel = sub.add_parser("install-release", help="put a tag live on an app host, bypassing the collection")
    rel.add_argument("host")
    rel.add_argument("version")
    rel.set_defaults(func=lambda a: install_release(a.host, a.version))
    svc = sub.add_parser("service", help="start/stop/restart/status the sample service on a host")
    svc.add_argument("host")
    svc.add_argument("action", choices=["start", "stop", "restart", "status"])
    svc.set_defaults(func=lambda a: sys.stdout.write(service(a.host, a.action).stdout.decode()))
    ssh_ctl = sub.add_parser("sshd", help="stop/start a host's sshd and its sessions (the host becomes unreachable)")
    ssh_ctl.add_argument("host")
    ssh_ctl.add_argument("action", choices=["start", "stop"])
    ssh_ctl.set_defaults(func=lambda a: sshd(a.host, a.action))
    data = sub.add_parser("data", help="stop/start PostgreSQL or Redis on the data host, keeping their data")
    data.add_argument("service", choices=["postgres", "redis"])
    data.add_argument("action", choices=["start", "stop"])
    data.set_defaults(func=lambda a: data_service(a.service, a.action))
    eda = sub.add_parser(
        "rulebook", help="start/stop ansible-rulebook, the alert-driven runs (Prometheus and Alertmanager keep running)")
    eda.add_argument("action", choices=["start", "stop"])
    eda.add_argument("--auto-rollback", action="store_true", help="let a firing alert roll a bad release back")
    eda.set_defaults(func=rulebook_ctl)
    args = parser.parse_args(argv)
    if args.command == "up":
        # A new lab has the size asked for now, never the size of the one it replaces.
        global APP_HOSTS
        os.environ.setdefault("IRLAB_APP_HOSTS", "2")
        APP_HOSTS = app_host_count()
    args.func(args)


if __name__ == "__main__":
    main()
