# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Controller-side fleet decisions of a deploy or rollback, made in Python (module_utils/_rollout.py)."""

from __future__ import annotations

import datetime as dt

from ansible.plugins.action import ActionBase

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _rollout as rollout
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)


def _plain(value):
    """Registered results arrive as ansible-core's tagged containers; decide on plain data."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _batch(args):
    outcomes = dict(_plain(args.get("outcomes") or {}))
    for host, raw in _plain(args.get("results") or {}).items():
        outcomes[host] = rollout.host_outcome(raw)
    verdict = rollout.batch_verdict(outcomes, list(args.get("batch") or []),
                                    float(args.get("max_fail_percentage", 0)))
    switched = [h for h, o in outcomes.items() if o.get("switched") and o.get("version_before")]
    decision = dict(verdict, outcomes=outcomes, switched=switched)
    if args.get("state") is not None:
        # The run's whole state after the batch, so one set_fact keeps it (and, behind a balancer, who goes back).
        decision["state"] = rollout.state_after_batch(_plain(args["state"]), outcomes, switched, verdict["failed"],
                                                      list(args.get("batch") or []), bool(args.get("pool")))
        decision["pooled"] = bool(args.get("pool")) and not verdict["failed"]
    return decision


def _undone(args):
    outcomes = dict(_plain(args.get("outcomes") or {}))
    for host, raw in _plain(args.get("results") or {}).items():
        result = rollout.host_outcome(raw)
        previous = outcomes.get(host, {})
        if result["status"] == rollout.OK:
            outcomes[host] = dict(previous, version_after=result["version_after"], undone=True)
        else:
            outcomes[host] = dict(previous, status=result["status"], msg=result["msg"], undo_failed=True)
    return {"outcomes": outcomes}


def _pool(args):
    return rollout.back_into_pool(_plain(args.get("outcomes") or {}), list(args.get("batch") or []))


def _checkpoint(args):
    return rollout.after_checkpoint(_plain(args.get("result") or {}), list(args.get("batch") or []),
                                    list(args.get("to_return") or []))


def _rollback_target(args):
    return rollout.rollback_target(_plain(args.get("histories") or {}), args.get("requested") or None)


def _fleet(args):
    outcomes = _plain(args.get("outcomes") or {})
    state = rollout.fleet_state(list(args.get("hosts") or []), outcomes, _plain(args.get("planned") or {}))
    skipped = [h for h in args.get("hosts") or [] if h not in outcomes]
    tolerated = [h for h, o in outcomes.items() if o.get("status") in (rollout.FAILED, rollout.UNREACHABLE)]
    result = rollout.run_result(bool(args.get("aborted")), bool(args.get("rolled_back")),
                                skipped if not args.get("aborted") else [], tolerated)
    return dict(state, result=result, skipped=skipped, tolerated=tolerated)


def _window(args):
    now = args.get("now")
    moment = (dt.datetime.fromisoformat(str(now).replace("Z", "+00:00")) if now
              else dt.datetime.now(dt.timezone.utc))
    if moment.tzinfo is None:
        raise IncidentResponseError(f"now must carry a time zone, got {now!r}")
    decision = rollout.in_window(_plain(args.get("window") or {}), moment)
    # Outside the window a deploy needs a stated reason (visible text); the reason is recorded, not judged.
    reason = str(args.get("override_reason") or "").strip()
    decision["overridden"] = not decision["inside"] and bool(reason)
    decision["refused"] = None if decision["inside"] or reason else (
        f"{decision['now']} UTC is outside the deployment window ({decision['window']}). To deploy anyway, "
        "state why: -e deploy_window_override_reason='...'")
    return decision


def _gates(args):
    problems = rollout.gate_problems(str(args.get("environment") or ""), list(args.get("strict_environments") or []),
                                     _plain(args.get("gates") or {}), list(args.get("waived") or []))
    return {"problems": problems}


DECISIONS = {"batch": _batch, "undone": _undone, "rollback_target": _rollback_target, "fleet": _fleet,
             "window": _window, "gates": _gates, "pool": _pool, "checkpoint": _checkpoint}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        decide = args.pop("decide", None)
        if decide not in DECISIONS:
            return dict(result, failed=True, msg=f"decide must be one of {', '.join(sorted(DECISIONS))}, got {decide!r}")
        try:
            decision = DECISIONS[decide](args)
        except (IncidentResponseError, ValueError, TypeError) as exc:
            return dict(result, failed=True, msg=f"rollout decision {decide}: {exc}")
        return dict(result, changed=False, decision=decision)
