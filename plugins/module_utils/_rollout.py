# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The fleet-level decisions of a deploy or rollback, in plain Python.

The playbooks say the steps; everything that judges (did this batch fail,
which hosts go back, which release is the rollback target, is now inside
the deployment window, what does the fleet look like after a failure)
is decided here, where the boundaries have unit tests.
"""

from __future__ import annotations

import datetime as dt
import re
import typing as t

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)

OK, FAILED, UNREACHABLE = "ok", "failed", "unreachable"
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$", re.ASCII)


def host_outcome(result: t.Mapping[str, t.Any] | None) -> dict[str, t.Any]:
    """Turn one registered per-host task result into {status, msg, version_before, version_after, switched}."""
    result = result or {}
    if result.get("unreachable"):
        return {"status": UNREACHABLE, "msg": tail(result.get("msg") or "unreachable"), "switched": None,
                "restarted": None, "version_before": None, "version_after": None}
    if result.get("skipped") or not result:
        return {"status": "skipped", "msg": "", "switched": False, "restarted": False, "version_before": None,
                "version_after": None}
    failed = bool(result.get("failed"))
    return {
        "status": FAILED if failed else OK,
        "msg": tail(result.get("msg") or "") if failed else "",
        # A host whose step failed may still have switched before failing (for
        # example a failed health gate after the restart): the module says so.
        "switched": bool(result.get("switched")),
        "restarted": bool(result.get("restarted")),
        "version_before": result.get("version_before"),
        "version_after": result.get("version_after"),
    }


def after_checkpoint(result: t.Mapping[str, t.Any] | None, batch: t.Sequence[str],
                     to_return: t.Sequence[str]) -> dict[str, t.Any]:
    """What a batch boundary (rollout_checkpoint on the bastion) means for the run.

    Returns ``aborted``, ``cause`` and ``to_return``: the hosts still out of
    traffic that the finish play must put back. A failed return keeps its
    hosts to retry; a lost lease has returned them already; a failed drain
    leaves the hosts it took out untouched and healthy, so they go back.
    """
    result = result or {}
    where = f"before switching {', '.join(batch)}"
    if result.get("unreachable"):
        return {"aborted": True, "to_return": list(to_return),
                "cause": f"{where}: the bastion cannot be reached ({tail(result.get('msg') or 'unreachable')})"}
    if result.get("failed"):
        return {"aborted": True, "to_return": list(to_return), "cause": f"{where}: {tail(result.get('msg'))}"}
    step = result.get("failed_step")
    if step == "return":
        return {"aborted": True, "to_return": list(to_return), "cause": f"{where}: {tail(result.get('msg'))}"}
    if step == "lease":
        return {"aborted": True, "to_return": [], "cause": f"{where}: {tail(result.get('msg'))}"}
    if step == "drain":
        return {"aborted": True, "to_return": list(result.get("drained") or []),
                "cause": f"{where}: {tail(result.get('msg'))}"}
    return {"aborted": False, "to_return": []}


def back_into_pool(outcomes: t.Mapping[str, t.Mapping[str, t.Any]], batch: t.Sequence[str]) -> dict[str, t.Any]:
    """Which hosts of a drained batch go back into the load balancer, and which stay out (and why).

    A host goes back when it passed its health gate: its step succeeded, or it
    was put back on its previous release (which gates too), or its step failed
    before touching the running service (nothing switched or restarted). A host
    that failed its gate, could not be put back, or cannot be reached stays out.
    """
    back, out = [], {}
    for host in batch:
        outcome = outcomes.get(host) or {}
        status = outcome.get("status")
        if outcome.get("undo_failed"):
            out[host] = "it could not be put back on its previous release"
        elif status == OK or outcome.get("undone"):
            back.append(host)
        elif status == UNREACHABLE:
            out[host] = "it is unreachable, so its health is unknown"
        elif status == FAILED and not outcome.get("switched") and not outcome.get("restarted"):  # noqa: SIM114 - two reasons
            back.append(host)
        elif status == "skipped":
            back.append(host)
        else:
            out[host] = "it failed its health gate"
    return {"back": back, "stay_out": out}


def state_after_batch(state: t.Mapping[str, t.Any], outcomes: t.Mapping[str, t.Mapping[str, t.Any]],
                      switched: t.Sequence[str], failed: t.Sequence[str], batch: t.Sequence[str],
                      pool: bool) -> dict[str, t.Any]:
    """The run's state after a judged batch: every host's outcome, what is switched, and who goes back to traffic.

    Behind a load balancer (``pool``) a batch where nothing failed has its
    hosts queued for the next boundary's return (:func:`back_into_pool`) here,
    in the same decision. After a failure the undo comes first, and the pool
    is decided on the outcomes it leaves.
    """
    new = dict(state, outcomes=dict(outcomes), switched=list(switched))
    if pool and not failed:
        pooled = back_into_pool(outcomes, batch)
        new["to_return"] = [*state.get("to_return", []), *pooled["back"]]
        new["out_of_pool"] = {**state.get("out_of_pool", {}), **pooled["stay_out"]}
    return new


def batch_verdict(outcomes: t.Mapping[str, t.Mapping[str, t.Any]], batch: t.Sequence[str],
                  max_fail_percentage: float) -> dict[str, t.Any]:
    """Judge one batch the way Ansible's max_fail_percentage does: it fails when failures exceed the percentage.

    ``outcomes`` maps every host of the run handled so far to its
    :func:`host_outcome`. Returns the failed and unreachable hosts of the
    batch, whether the batch failed, and the hosts to put back: every host
    this run switched when the batch failed, only the failed ones otherwise.
    """
    if not 0 <= float(max_fail_percentage) <= 100:
        raise IncidentResponseError(f"max_fail_percentage must be within 0-100, got {max_fail_percentage}")
    if not batch:
        raise IncidentResponseError("a batch needs at least one host")
    bad = [h for h in batch if outcomes.get(h, {}).get("status") in (FAILED, UNREACHABLE)]
    batch_failed = len(bad) * 100 > float(max_fail_percentage) * len(batch)
    switched = [h for h, o in outcomes.items() if o.get("switched") and o.get("version_before")]
    undo = switched if batch_failed else [h for h in switched if h in bad]
    reachable = [h for h in undo if outcomes[h].get("status") != UNREACHABLE]
    return {
        "failed": bad,
        "unreachable": [h for h in bad if outcomes[h]["status"] == UNREACHABLE],
        "batch_failed": batch_failed,
        # An unreachable host cannot be put back now; it is named in the fleet state instead.
        "undo": reachable,
        # This batch's hosts are out of traffic already and go back at once; hosts of earlier batches serve
        # users, so they go back afterwards in halves, each half out of traffic while it restarts.
        "undo_now": [h for h in reachable if h in batch],
        "put_back_later": [h for h in reachable if h not in batch],
        "cannot_undo": [h for h in undo if outcomes[h].get("status") == UNREACHABLE],
        "reasons": {h: outcomes[h].get("msg") or outcomes[h]["status"] for h in bad},
    }


def rollback_target(histories: t.Mapping[str, t.Mapping[str, t.Any]], requested: str | None = None) -> dict[str, t.Any]:
    """Choose the release every host returns to, from each host's release history.

    ``histories`` maps host to ``release_history_info`` output (``current``,
    ``previous_good``, ``kept``). With ``requested``, that release is the
    target. Otherwise the hosts' previous good releases must agree; a host
    already running the agreed release agrees with it. Returns the target
    (or None with ``refused`` saying why), and the hosts that lack it on disk.
    """
    if not histories:
        return {"target": None, "missing_on": [], "refused": "there are no app hosts to roll back"}
    target = requested or None
    if not target:
        candidates = {h: d.get("previous_good") for h, d in histories.items()}
        values = sorted({v for v in candidates.values() if v})
        if not values:
            return {"target": None, "missing_on": [],
                    "refused": "no host has a previous good release in its history; choose one with -e version=vX.Y.Z"}
        agreeing = [v for v in values
                    if all(candidates[h] == v or histories[h].get("current") == v for h in histories)]
        if len(agreeing) != 1:
            detail = ", ".join(f"{h}={candidates[h] or 'none'}" for h in sorted(histories))
            return {"target": None, "missing_on": [],
                    "refused": f"the app hosts disagree on the previous good release ({detail}); "
                               "choose one with -e version=vX.Y.Z"}
        target = agreeing[0]
    missing = sorted(h for h, d in histories.items()
                     if target not in (d.get("kept") or []) and d.get("current") != target)
    return {"target": target, "missing_on": missing, "refused": None}


def fleet_state(hosts: t.Sequence[str], outcomes: t.Mapping[str, t.Mapping[str, t.Any]],
                planned: t.Mapping[str, str | None]) -> dict[str, t.Any]:
    """Which host runs which release after the run, in one line a person can read in ten seconds."""
    state: dict[str, str] = {}
    for host in hosts:
        outcome = outcomes.get(host) or {}
        if outcome.get("status") == UNREACHABLE:
            state[host] = "unknown (unreachable)"
        elif outcome.get("version_after"):
            state[host] = str(outcome["version_after"])
        else:
            state[host] = str(planned.get(host) or "nothing live")
    versions = sorted(set(state.values()))
    line = "Fleet: " + ", ".join(f"{h} {state[h]}" for h in hosts)
    if len(versions) > 1:
        line += " (SPLIT: not every host runs the same release)"
    return {"hosts": state, "line": line, "split": len(versions) > 1}


def run_result(aborted: bool, rolled_back: bool, skipped_hosts: t.Sequence[str],
               tolerated: t.Sequence[str]) -> str:
    """succeeded, partial (tolerated failures or hosts left out), rolled_back or failed."""
    if rolled_back:
        return "rolled_back"
    if aborted:
        return "failed"
    if skipped_hosts or tolerated:
        return "partial"
    return "succeeded"


def _minutes(text: str, what: str) -> int:
    match = _HHMM.match(str(text))
    if not match or (match.group(1) == "24" and match.group(2) != "00"):
        raise IncidentResponseError(f"deployment window {what} must be HH:MM (00:00-24:00), got {text!r}")
    return int(match.group(1)) * 60 + int(match.group(2))


def in_window(window: t.Mapping[str, t.Any], now: dt.datetime) -> dict[str, t.Any]:
    """Is ``now`` (UTC) inside the deployment window {days, start, end}?

    A window whose end is earlier than its start runs overnight: Mon 22:00-06:00
    is Monday 22:00 to Tuesday 06:00, and ``days`` names the day it starts.
    """
    days = list(window.get("days") or DAYS)
    unknown = [d for d in days if d not in DAYS]
    if unknown:
        raise IncidentResponseError(f"deployment window days must be among {', '.join(DAYS)}, got {unknown}")
    start = _minutes(window.get("start", "00:00"), "start")
    end = _minutes(window.get("end", "24:00"), "end")
    if start == end:
        raise IncidentResponseError(f"deployment window start and end are both {window.get('start')}: it is empty")
    now = now.astimezone(dt.timezone.utc)
    minute = now.hour * 60 + now.minute
    today, yesterday = DAYS[now.weekday()], DAYS[(now.weekday() - 1) % 7]
    if start < end:
        inside = today in days and start <= minute < end
    else:  # overnight
        inside = (today in days and minute >= start) or (yesterday in days and minute < end)
    span = f"{', '.join(days)} {window.get('start', '00:00')}-{window.get('end', '24:00')} UTC"
    return {"inside": inside, "now": now.strftime("%a %H:%M"), "window": span,
            "overnight": start > end}


def gate_problems(environment: str, strict_environments: t.Collection[str], gates: t.Mapping[str, t.Any],
                  waived: t.Collection[str]) -> list[str]:
    """Gates fail closed where it matters: in a strict environment, every gate must be configured or waived.

    ``gates`` maps a gate name (window, webhook, change_ticket_check...) to
    its configuration (empty means not configured). Returns one problem per
    gate that is neither configured nor explicitly waived.
    """
    if environment not in strict_environments:
        return []
    unknown = sorted(set(waived) - set(gates))
    problems = [f"unknown gate waiver {name!r} (known: {', '.join(sorted(gates))})" for name in unknown]
    for name, config in gates.items():
        if config in (None, "", [], {}) and name not in waived:
            problems.append(f"the {name} gate is not configured for {environment}")
    return problems


def tail(text: t.Any, lines: int = 6, width: int = 600) -> str:
    """The last lines of a command's output: where the cause of a failure usually is."""
    if text is None:
        return ""
    if isinstance(text, (list, tuple)):
        text = "\n".join(str(x) for x in text)
    kept = [line.rstrip() for line in str(text).strip().splitlines() if line.strip()][-lines:]
    joined = " | ".join(kept)
    return joined if len(joined) <= width else "..." + joined[-width:]
