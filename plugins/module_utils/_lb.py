# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Take app hosts out of the load balancer and put them back, behind one small interface.

A deploy drains a batch before its restart and returns each host only after
its health gate. What "drain" means is the balancer's: haproxy's runtime API
(``set server <backend>/<name> state drain``) in the lab, a target-group
deregistration in AWS (``_lb_aws``). Both are a ``Pool``: list the members with
their admin state, health and open sessions, drain some, make some ready.

``set_state`` holds the rules that do not depend on the balancer:
- only members the pool knows are touched (a typo never drains "nothing");
- a drain that would leave no other member serving is refused (a batch must
  never take the whole service out of traffic) unless explicitly allowed;
- a drain is done when the drained members have no open sessions left;
- a return is done when the balancer's own health check has the member UP,
  so the next batch never drains while capacity is still coming back.
"""

from __future__ import annotations

import dataclasses
import socket
import time
import typing as t

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)

DRAINED = "drained"
READY = "ready"
PRESENT = "present"


@dataclasses.dataclass
class Member:
    name: str
    admin: str            # "ready", "drain" or "maint"
    healthy: bool         # the balancer's own health check passes
    sessions: int = 0     # requests or connections still open on it

    @property
    def serving(self) -> bool:
        return self.admin == "ready" and self.healthy

    def as_dict(self) -> dict[str, t.Any]:
        return {"name": self.name, "admin": self.admin, "healthy": self.healthy, "sessions": self.sessions,
                "serving": self.serving}


class Pool(t.Protocol):
    def members(self) -> dict[str, Member]:
        ...

    def drain(self, names: t.Sequence[str]) -> None:
        ...

    def ready(self, names: t.Sequence[str]) -> None:
        ...


def set_state(pool: Pool, names: t.Sequence[str], state: str, timeout: float = 30.0, check_mode: bool = False,
              allow_empty: bool = False, poll: float = 0.2,
              clock: t.Callable[[], float] = time.monotonic,
              sleep: t.Callable[[float], None] = time.sleep) -> dict[str, t.Any]:
    """Drain ``names`` or make them ready, and wait until the balancer agrees. Returns what changed."""
    if state not in (DRAINED, READY, PRESENT):
        raise IncidentResponseError(f"unknown load balancer state {state!r}; expected drained, ready or present")
    before = pool.members()
    unknown = [n for n in names if n not in before]
    if unknown:
        raise IncidentResponseError(
            f"{', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not in the load balancer's pool "
            f"(it has {', '.join(sorted(before)) or 'no members'})")
    result: dict[str, t.Any] = {"changed": False, "changed_members": [], "waited_seconds": 0.0,
                                "others": sorted(set(before) - set(names))}
    if state == PRESENT:
        result["members"] = {n: m.as_dict() for n, m in before.items()}
        return result
    if state == DRAINED:
        serving_after = [m.name for m in before.values() if m.serving and m.name not in names]
        if names and not serving_after and not allow_empty:
            raise IncidentResponseError(
                f"taking {', '.join(names)} out would leave no member of the pool serving "
                f"(serving now: {', '.join(sorted(m.name for m in before.values() if m.serving)) or 'none'}); "
                f"deploy in smaller batches")
        todo = [n for n in names if before[n].admin != "drain"]
    else:
        todo = [n for n in names if before[n].admin != "ready"]
    result.update(changed=bool(todo), changed_members=todo)
    if check_mode:
        result["members"] = {n: before[n].as_dict() for n in names}
        return result
    if todo:
        (pool.drain if state == DRAINED else pool.ready)(todo)
    started = clock()
    while True:
        now = pool.members()
        if state == DRAINED:
            pending = {n: f"{now[n].sessions} open session(s)" for n in names if now[n].sessions > 0}
        else:
            pending = {n: "its health check is failing" for n in names if not now[n].serving}
        waited = clock() - started
        if not pending or waited >= timeout:
            break
        sleep(poll)
    result["waited_seconds"] = round(waited, 2)
    result["members"] = {n: now[n].as_dict() for n in names}
    if pending:
        what = "drain" if state == DRAINED else "come back into service"
        detail = "; ".join(f"{n}: {why}" for n, why in pending.items())
        raise _PartialError(f"{', '.join(pending)} did not {what} within {timeout:g} s ({detail})", result)
    return result


class _PartialError(IncidentResponseError):
    """A wait that timed out; carries what was done so the module can still return it."""

    def __init__(self, message: str, result: dict[str, t.Any]):
        super().__init__(message)
        self.result = result


def partial_result(exc: IncidentResponseError) -> dict[str, t.Any]:
    return getattr(exc, "result", {})


# --------------------------------------------------------------------------- haproxy

class HaproxyPool:
    """haproxy's runtime API (``stats socket ... level admin``), over TCP ``host:port`` or a Unix socket path."""

    def __init__(self, address: str, backend: str, timeout: float = 5.0):
        self.address, self.backend, self.timeout = address, backend, timeout

    def _command(self, command: str) -> str:
        try:
            if self.address.startswith("/"):
                conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                conn.settimeout(self.timeout)
                conn.connect(self.address)
            else:
                host, _sep, port = self.address.rpartition(":")
                conn = socket.create_connection((host, int(port)), timeout=self.timeout)
            with conn:
                conn.sendall(command.encode() + b"\n")
                chunks = []
                while True:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
        except (OSError, ValueError) as exc:
            raise IncidentResponseError(f"haproxy runtime API at {self.address}: {exc}") from exc
        answer = b"".join(chunks).decode(errors="replace")
        if answer.strip() and not answer.lstrip().startswith(("#", "1")) and "\n" not in answer.strip():
            # A one-line answer to a command is an error message ("No such server.", "Unknown command").
            raise IncidentResponseError(f"haproxy runtime API at {self.address}: {command!r}: {answer.strip()}")
        return answer

    def members(self) -> dict[str, Member]:
        return parse_members(self._command(f"show servers state {self.backend}"),
                             self._command("show stat"), self.backend)

    def drain(self, names: t.Sequence[str]) -> None:
        for name in names:
            self._command(f"set server {self.backend}/{name} state drain")

    def ready(self, names: t.Sequence[str]) -> None:
        for name in names:
            self._command(f"set server {self.backend}/{name} state ready")


PROVIDERS = ("haproxy",)


def pool_from_config(config: t.Mapping[str, t.Any]) -> Pool:
    """The pool an inventory's load balancer settings describe (``provider``, ``api``, ``backend``)."""
    provider = config.get("provider") or "haproxy"
    if provider not in PROVIDERS:
        raise IncidentResponseError(f"load balancer provider {provider!r} is not supported; use one of "
                                    f"{', '.join(PROVIDERS)}")
    missing = [key for key in ("api", "backend") if not config.get(key)]
    if missing:
        raise IncidentResponseError(f"the load balancer settings lack {', '.join(missing)}")
    return HaproxyPool(str(config["api"]), str(config["backend"]))


# srv_admin_state bits (haproxy's SRV_ADMF_*): forced, inherited, config and resolver maintenance; drain.
_MAINT_BITS = 0x01 | 0x02 | 0x04 | 0x20
_DRAIN_BITS = 0x08 | 0x10
_RUNNING = 2  # srv_op_state SRV_ST_RUNNING


def parse_members(servers_state: str, stat_csv: str, backend: str) -> dict[str, Member]:
    """Members from ``show servers state <backend>`` (admin and operational state) and ``show stat`` (sessions)."""
    lines = [line for line in servers_state.splitlines() if line.strip()]
    header = next((line[2:].split() for line in lines if line.startswith("# ")), None)
    if header is None:
        raise IncidentResponseError(f"haproxy has no backend {backend!r} (show servers state said: "
                                    f"{servers_state.strip()[:200] or 'nothing'})")
    sessions = {}
    stat_lines = stat_csv.splitlines()
    if stat_lines and stat_lines[0].startswith("# "):
        stat_header = stat_lines[0][2:].split(",")
        for line in stat_lines[1:]:
            row = dict(zip(stat_header, line.split(",")))
            if row.get("pxname") == backend and row.get("svname") not in ("FRONTEND", "BACKEND"):
                sessions[row["svname"]] = int(row.get("scur") or 0) + int(row.get("qcur") or 0)
    members = {}
    for line in lines:
        if line.startswith("#") or len(line.split()) < len(header):
            continue
        row = dict(zip(header, line.split()))
        if row.get("be_name") != backend:
            continue
        admin_bits = int(row["srv_admin_state"])
        admin = "maint" if admin_bits & _MAINT_BITS else "drain" if admin_bits & _DRAIN_BITS else "ready"
        name = row["srv_name"]
        members[name] = Member(name, admin, int(row["srv_op_state"]) == _RUNNING, sessions.get(name, 0))
    return members
