# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Can the service user read, write or execute a path? ("Insufficient permissions")

The answer is worked out from the mode bits and ownership for the service's
user, not with os.access(): the module usually runs as root, for whom
os.access() says yes to almost everything, while the service may not. Every
directory on the way must be searchable too. POSIX ACLs and SELinux are not
evaluated.
"""

from __future__ import annotations

import dataclasses
import grp
import os
import pwd
import stat
import typing as t

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    CRITICAL,
    OK,
    WARN,
    IncidentResponseError,
)

_BITS = {"r": 4, "w": 2, "x": 1}
_WORDS = {"r": "read", "w": "write", "x": "execute"}


@dataclasses.dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gids: frozenset[int]


def account_for(user: str | None) -> Account:
    """The named user, or the user this module runs as."""
    if user is None:
        uid = os.geteuid()
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:
            name = str(uid)
        return Account(name, uid, frozenset([os.getegid(), *os.getgroups()]))
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise IncidentResponseError(f"service_user {user!r} does not exist on this host") from None
    return Account(user, entry.pw_uid, frozenset(os.getgrouplist(user, entry.pw_gid)))


def allowed(st: os.stat_result, account: Account, letter: str) -> bool:
    """The kernel's rule: the owner, group or other bits apply (exactly one class); root skips r and w."""
    if account.uid == 0:
        return letter in "rw" or stat.S_ISDIR(st.st_mode) or bool(st.st_mode & 0o111)
    if st.st_uid == account.uid:
        shift = 6
    elif st.st_gid in account.gids:
        shift = 3
    else:
        shift = 0
    return bool((st.st_mode >> shift) & _BITS[letter])


def _describe(path: str, st: os.stat_result) -> str:
    return f"{path} (mode {stat.S_IMODE(st.st_mode):04o}, owner {_user(st.st_uid)}:{_group(st.st_gid)})"


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _untraversable(path: str, account: Account, stat_fn: t.Callable[[str], os.stat_result]) -> str | None:
    """The first directory above ``path`` the account cannot search, described; None when all can be."""
    parts = os.path.dirname(path).split(os.sep)
    for depth in range(1, len(parts) + 1):
        directory = os.sep.join(parts[:depth]) or os.sep
        st = stat_fn(directory)
        if not allowed(st, account, "x"):
            return _describe(directory, st)
    return None


def _read_only_fs(path: str) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _spec(raw: t.Mapping[str, t.Any]) -> tuple[str, str, str | None]:
    path = raw.get("path")
    want = (raw.get("mode") or "r").lower()
    if not path or not os.path.isabs(path):
        raise IncidentResponseError(f"paths: {path!r} is not an absolute path")
    if not want or set(want) - set(_BITS):
        raise IncidentResponseError(f"paths: mode {raw.get('mode')!r} of {path} must be letters from r, w and x")
    return path, "".join(sorted(set(want), key="rwx".index)), raw.get("owner")


def check_path(raw: t.Mapping[str, t.Any], account: Account,
               stat_fn: t.Callable[[str], os.stat_result] = os.stat) -> dict[str, t.Any]:
    """One path's report, with the verdict in ``status`` and ``evidence``."""
    path, want, owner = _spec(raw)
    report: dict[str, t.Any] = {"path": path, "want": want, "owner_expected": owner, "exists": False,
                                "owner": None, "group": None, "mode": None}
    real = os.path.realpath(path)
    try:
        st = stat_fn(real)
    except FileNotFoundError:
        return {**report, **_missing(real, want, account, stat_fn)}
    except OSError as exc:
        return {**report, "status": CRITICAL, "evidence": f"cannot stat {path}: {exc.strerror or exc}"}
    report.update(exists=True, owner=_user(st.st_uid), group=_group(st.st_gid), mode=f"{stat.S_IMODE(st.st_mode):04o}")
    blocked = _untraversable(real, account, stat_fn)
    if blocked:
        return {**report, "status": CRITICAL, "evidence": f"{account.name} cannot reach {path}: no search (x) "
                                                          f"permission on {blocked}"}
    denied = [letter for letter in want if not allowed(st, account, letter)]
    if "w" in want and "w" not in denied and _read_only_fs(real):
        denied.append("w")
    if denied:
        words = ", ".join(_WORDS[letter] for letter in denied)
        return {**report, "status": CRITICAL, "evidence": f"{account.name} cannot {words} {_describe(path, st)}"
                + (" (read-only file system)" if "w" in denied and allowed(st, account, "w") else "")}
    if owner and report["owner"] != owner:
        return {**report, "status": WARN, "evidence": f"{_describe(path, st)} is owned by {report['owner']}, "
                                                      f"expected {owner}"}
    words = ", ".join(_WORDS[letter] for letter in want)
    return {**report, "status": OK, "evidence": f"{account.name} can {words} {_describe(path, st)}"}


def _missing(real: str, want: str, account: Account, stat_fn: t.Callable[[str], os.stat_result]) -> dict[str, t.Any]:
    """A missing path is fatal, unless it is a directory to write that the service user can create."""
    parent = os.path.dirname(real)
    while parent != os.sep and not os.path.exists(parent):
        parent = os.path.dirname(parent)
    try:
        st = stat_fn(parent)
    except OSError:
        return {"status": CRITICAL, "evidence": f"{real} does not exist"}
    # Creating an entry in ``parent`` needs search on it and every directory above, and write on it.
    reachable = _untraversable(os.path.join(parent, "entry"), account, stat_fn) is None
    creatable = ("w" in want and reachable and allowed(st, account, "w") and not _read_only_fs(parent))
    if creatable:
        return {"status": WARN, "evidence": f"{real} does not exist; {account.name} may create it in {_describe(parent, st)}"}
    return {"status": CRITICAL, "evidence": f"{real} does not exist"}
