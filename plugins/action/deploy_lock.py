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
        module = "platform_eng.incident_response.deploy_lock"
        answer = self._execute_module(module_name=module, module_args=args, task_vars=task_vars)
        holder = answer.get("held_by") or {}
        if (answer.get("failed") and holder.get("controller") == controller
                and isinstance(holder.get("controller_pid"), int) and not _alive(holder["controller_pid"])):
            args["stale_run_id"] = holder.get("run_id")
            answer = self._execute_module(module_name=module, module_args=args, task_vars=task_vars)
        result.update(answer)
        return result
