# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Controller half of deploy_lock: stamps who holds the lock, and spots dead holders.

The lock lives on the bastion, but only the controller can tell whether the
``ansible-playbook`` process that took it still exists. A run that was
interrupted (Ctrl-C, SIGKILL, a closed laptop) leaves its lock behind; when
the holder ran on this controller and its process is gone, the lock is
taken over at once instead of blocking every deploy for the whole TTL.
"""

from __future__ import annotations

import os
import socket

from ansible.plugins.action import ActionBase


def _identity(pid: int) -> str | None:
    """Boot, pid namespace and start time of ``pid``: equal only for the very same process."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            boot = handle.read().strip()
        pidns = os.stat(f"/proc/{pid}/ns/pid").st_ino
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            started = handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None
    return f"boot {boot}; pidns {pidns}; started {started}"


def _same_namespace(identity: str | None) -> bool:
    """Whether a recorded identity comes from this boot and pid namespace, where its pid can be checked."""
    mine = _identity(os.getpid())
    if not identity or not mine:
        return False
    return identity.rsplit("; started", 1)[0] == mine.rsplit("; started", 1)[0]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ActionModule(ActionBase):
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        controller = socket.gethostname()
        # Tasks run in a worker forked from ansible-playbook: our parent is the run.
        args.setdefault("controller", controller)
        args.setdefault("controller_pid", os.getppid())
        if args.get("state", "present") == "present":
            args.setdefault("controller_identity", _identity(os.getppid()))
        module = "platform_eng.incident_response.deploy_lock"
        answer = self._execute_module(module_name=module, module_args=args, task_vars=task_vars)
        holder = answer.get("held_by") or {}
        pid = holder.get("controller_pid")
        # A pid means something only in the holder's own boot and pid namespace: on another machine or in
        # another AWX container the lease's expiry decides instead.
        if (answer.get("failed") and args.get("state", "present") == "present"
                and holder.get("controller") == controller and isinstance(pid, int)
                and _same_namespace(holder.get("controller_identity"))
                and (not _alive(pid) or _identity(pid) != holder.get("controller_identity"))):
            args["stale_run_id"] = holder.get("run_id")
            answer = self._execute_module(module_name=module, module_args=args, task_vars=task_vars)
        result.update(answer)
        return result
