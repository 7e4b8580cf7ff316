# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Controller half of release_step: copy the archive only when the host lacks the release.

The module runs first without an archive. A host that already has the
release on disk (every rollback, a rerun) needs no transfer at all; one that
lacks it answers ``needs_archive`` and gets the archive copied into its
state directory, then the module runs again. With ``send_archive`` (the plan
found the release missing there) the copy comes first and the module runs
once.
"""

from __future__ import annotations

import hashlib
import os

from ansible.plugins.action import ActionBase

MODULE = "platform_eng.incident_response.release_step"


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ActionModule(ActionBase):
    TRANSFERS_FILES = True
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        src = args.get("src")
        # The plan already knows the host lacks the release: ship first, and run the module once.
        send_first = bool(args.pop("send_archive", False)) and bool(src) and not self._play_context.check_mode
        if not send_first:
            answer = self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)
            if not answer.get("needs_archive"):
                result.update(answer)
                return result
        else:
            answer = {"needs_archive": True}
        if not src or not os.path.isfile(os.path.expanduser(src)):
            result.update(answer, failed=True, needs_archive=True,
                          msg=f"release {args.get('version')} is not on this host and no archive was given to copy "
                              f"({src or 'no src'})")
            return result
        local = os.path.expanduser(src)
        if args.get("archive_sha256") and _sha256(local) != args["archive_sha256"]:
            result.update(failed=True, msg=f"the controller's copy of the archive {local} does not match "
                                           f"sha256 {args['archive_sha256']}; refusing to ship it")
            return result
        state_dir = args.get("state_dir") or "/var/lib/incident-response"
        remote_dir = f"{state_dir}/artifacts"
        remote = args.get("archive") or f"{remote_dir}/{args['version']}.tar.gz"
        staged = self._transfer_file(local, self._connection._shell.join_path(
            self._make_tmp_path(), os.path.basename(remote)))
        self._fixup_perms2((self._connection._shell.tmpdir, staged))
        moved = self._low_level_execute_command(
            f"mkdir -p -m 0750 -- {self._connection._shell.quote(remote_dir)} && "
            f"mv -f -- {self._connection._shell.quote(staged)} {self._connection._shell.quote(remote)}")
        if moved.get("rc") != 0:
            result.update(failed=True, msg=f"copying the archive to {remote} failed: {moved.get('stderr', '').strip()}")
            return result
        args["archive"] = remote
        args.pop("src", None)
        answer = self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)
        self._remove_tmp_path(self._connection._shell.tmpdir)
        answer["copied_archive"] = True
        result.update(answer)
        return result
