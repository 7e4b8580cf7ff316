# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Who listens on a TCP port, and is it the service named by a pid file? (Linux /proc)

/proc/net/tcp and tcp6 list the sockets of the network namespace the
reading process is in, so the answer is about the host the module runs on.
The owning pid comes from matching the socket inode against the
/proc/<pid>/fd links this user may read.
"""

from __future__ import annotations

import dataclasses
import os
import socket


@dataclasses.dataclass
class Listener:
    address: str
    port: int
    inode: int
    pid: int | None = None
    process: str | None = None


def _decode_address(hex_address: str) -> str:
    """/proc/net/tcp{,6} store addresses as 32-bit words in host (little-endian) order."""
    words = [bytes.fromhex(hex_address[i:i + 8])[::-1] for i in range(0, len(hex_address), 8)]
    raw = b"".join(words)
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, raw)


def parse_proc_net_tcp(text: str) -> list[Listener]:
    """Listening sockets (state 0A) in /proc/net/tcp or tcp6 text."""
    listeners = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != "0A":
            continue
        address, port = fields[1].split(":")
        listeners.append(Listener(_decode_address(address), int(port, 16), int(fields[9])))
    return listeners


def _socket_owners(inodes: set[int], proc_root: str) -> dict[int, int]:
    """Map socket inodes to the pid holding them, by reading every /proc/<pid>/fd link we may read."""
    wanted = {f"socket:[{inode}]": inode for inode in inodes}
    owners: dict[int, int] = {}
    try:
        pids = [name for name in os.listdir(proc_root) if name.isdigit()]
    except OSError:
        return owners
    for pid in pids:
        fd_dir = os.path.join(proc_root, pid, "fd")
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue  # gone, or not ours to read
        for fd in fds:
            try:
                link = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if link in wanted:
                owners.setdefault(wanted[link], int(pid))
        if len(owners) == len(wanted):
            break
    return owners


def _process_name(pid: int, proc_root: str) -> str | None:
    try:
        with open(os.path.join(proc_root, str(pid), "comm"), encoding="utf-8", errors="replace") as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def port_listeners(port: int, proc_root: str = "/proc") -> list[Listener]:
    """Who listens on ``port`` in this network namespace, with pid and process name where /proc tells."""
    found: list[Listener] = []
    for name in ("tcp", "tcp6"):
        try:
            with open(os.path.join(proc_root, "net", name), encoding="ascii") as handle:
                found += [entry for entry in parse_proc_net_tcp(handle.read()) if entry.port == port]
        except OSError:
            continue  # no IPv6 on this host
    owners = _socket_owners({entry.inode for entry in found}, proc_root)
    for entry in found:
        entry.pid = owners.get(entry.inode)
        entry.process = _process_name(entry.pid, proc_root) if entry.pid else None
    return found


def _live(pid: int, proc_root: str) -> bool:
    """A process that exists and is not a zombie waiting to be reaped."""
    try:
        with open(os.path.join(proc_root, str(pid), "stat"), encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _parent(pid: int, proc_root: str) -> int | None:
    try:
        with open(os.path.join(proc_root, str(pid), "stat"), encoding="ascii", errors="replace") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def service_pid(pid_file: str | None, proc_root: str = "/proc") -> tuple[int | None, str]:
    """The live pid the pid file names, or None with the reason."""
    if not pid_file:
        return None, "no pid file given"
    try:
        with open(pid_file, encoding="ascii", errors="replace") as handle:
            text = handle.read().strip()
    except FileNotFoundError:
        return None, f"no pid file {pid_file} (the service is not running)"
    except OSError as exc:
        return None, f"cannot read pid file {pid_file}: {exc.strerror or exc}"
    if not text.isdigit():
        return None, f"pid file {pid_file} does not hold a pid"
    if not _live(int(text), proc_root):
        return None, f"stale pid file {pid_file}: pid {text} is not running"
    return int(text), f"pid file {pid_file} names live pid {text}"


def belongs_to(pid: int | None, ancestor: int | None, proc_root: str = "/proc") -> bool:
    """Whether ``pid`` is ``ancestor`` or runs below it (a worker of the service's master process)."""
    seen = 0
    while pid and ancestor and seen < 64:
        if pid == ancestor:
            return True
        pid, seen = _parent(pid, proc_root), seen + 1
    return False
