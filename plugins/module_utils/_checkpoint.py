# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What happens on the bastion between two batches of a deploy or rollback, in one call.

In this order, each step only when the one before it worked:

1. return the hosts the last batch left healthy to the load balancer, and
   wait until the balancer's own check has them up (capacity back first);
2. renew this run's lease, which also proves the run still holds the lock
   (a run that lost it stops before it switches anything else);
3. take the next batch out of traffic and wait for its open requests to end;
4. at the very end of a run, release the lock instead of renewing it (also
   when the return failed: the run is over either way).

One call instead of three keeps a fleet's deploy close to one round trip per
batch; the result says which step failed, so the caller can stop cleanly and
put back what step 3 had already drained.
"""

from __future__ import annotations

import typing as t

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _deploy_lock as lock
from ansible_collections.platform_eng.incident_response.plugins.module_utils import _lb as lb
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)


def run(pool: lb.Pool | None, lock_path: str, run_id: str, ttl: int | None, ready: t.Sequence[str] = (),
        drain: t.Sequence[str] = (), release: bool = False, timeout: float = 30.0, check_mode: bool = False,
        **waits: t.Any) -> dict[str, t.Any]:
    """Return, renew (or release), drain. Never raises for a step that fails: ``failed_step`` names it."""
    result: dict[str, t.Any] = {"changed": False, "failed_step": None, "msg": "", "returned": [], "drained": [],
                                "lease": None, "released": False, "pool": {}}
    if (ready or drain) and pool is None:
        raise IncidentResponseError("hosts to return or drain were given, but no load balancer")
    if ready:
        try:
            done = lb.set_state(t.cast(lb.Pool, pool), list(ready), lb.READY, timeout=timeout, check_mode=check_mode, **waits)
        except IncidentResponseError as exc:
            done = lb.partial_result(exc)
            result.update(failed_step="return", msg=f"returning {', '.join(ready)} to the load balancer: {exc}",
                          changed=bool(done.get("changed")))
            result["pool"].update(done.get("members") or {})
            if not release:
                return result
        else:
            result["returned"] = list(ready)
            result["changed"] |= done["changed"]
            result["pool"].update(done["members"])
    if check_mode:
        # A run in check mode takes no lock, so it has none to renew or release.
        pass
    elif release:
        released = lock.release(lock_path, run_id, check_mode=check_mode)
        # Taken and released within one run, the lock is no change to report.
        result.update(released=released["changed"], lease=released.get("lock"),
                      warnings=released.get("warnings") or [])
        return result
    else:
        renewed = lock.renew(lock_path, run_id, ttl)
        result["lease"] = renewed.get("lock")
        if renewed.get("failed"):
            result.update(failed_step="lease", msg=renewed["msg"])
            return result
    if drain and not release:
        try:
            done = lb.set_state(t.cast(lb.Pool, pool), list(drain), lb.DRAINED, timeout=timeout, check_mode=check_mode, **waits)
        except IncidentResponseError as exc:
            done = lb.partial_result(exc)
            result.update(failed_step="drain", msg=f"taking {', '.join(drain)} out of the load balancer: {exc}",
                          drained=list(done.get("changed_members") or []), changed=bool(done.get("changed")))
            result["pool"].update(done.get("members") or {})
            return result
        result["drained"] = list(drain)
        result["changed"] |= done["changed"]
        result["pool"].update(done["members"])
    return result
