# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet decisions of a deploy or rollback, at their boundaries."""

from __future__ import annotations

import datetime as dt

import pytest

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _rollout as rollout
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import IncidentResponseError


def ok(before="v1.2.2", after="v1.2.3", switched=True):
    return {"status": "ok", "msg": "", "switched": switched, "version_before": before, "version_after": after}


def failed(switched=False, before="v1.2.2"):
    return {"status": "failed", "msg": "health gate: not healthy", "switched": switched, "version_before": before,
            "version_after": "v1.2.3" if switched else before}


UNREACHABLE = {"status": "unreachable", "msg": "no route", "switched": None, "version_before": None,
               "version_after": None}


class TestHostOutcome:
    def test_unreachable_result(self):
        assert rollout.host_outcome({"unreachable": True, "msg": "ssh: no route"})["status"] == "unreachable"

    def test_failed_step_that_had_switched_says_so(self):
        outcome = rollout.host_outcome({"failed": True, "msg": "gate", "switched": True, "version_before": "v1"})
        assert outcome["status"] == "failed" and outcome["switched"] is True

    def test_missing_result_is_skipped(self):
        assert rollout.host_outcome(None)["status"] == "skipped"

    def test_failure_message_is_the_tail(self):
        outcome = rollout.host_outcome({"failed": True, "msg": "\n".join(f"line {i}" for i in range(20))})
        assert outcome["msg"].endswith("line 19") and "line 10" not in outcome["msg"]


class TestBatchVerdict:
    @pytest.mark.parametrize("percentage, batch_failed", [(0, True), (24, True), (25, False), (26, False)])
    def test_failure_percentage_exactly_at_the_threshold_passes(self, percentage, batch_failed):
        outcomes = {"a": failed(), "b": ok(), "c": ok(), "d": ok()}
        verdict = rollout.batch_verdict(outcomes, ["a", "b", "c", "d"], percentage)
        assert verdict["batch_failed"] is batch_failed
        assert verdict["failed"] == ["a"]

    def test_failed_batch_puts_back_every_host_this_run_switched(self):
        outcomes = {"app1": ok(), "app2": failed(switched=True)}
        verdict = rollout.batch_verdict(outcomes, ["app2"], 0)
        assert verdict["batch_failed"] and sorted(verdict["undo"]) == ["app1", "app2"]

    def test_tolerated_failure_puts_back_only_the_failed_host(self):
        outcomes = {"app1": ok(), "app2": failed(switched=True), "app3": ok()}
        verdict = rollout.batch_verdict(outcomes, ["app2", "app3"], 50)
        assert not verdict["batch_failed"] and verdict["undo"] == ["app2"]

    def test_unreachable_host_cannot_be_put_back_and_is_named(self):
        outcomes = {"app1": ok(), "app2": UNREACHABLE}
        verdict = rollout.batch_verdict(outcomes, ["app2"], 0)
        assert verdict["batch_failed"] and verdict["unreachable"] == ["app2"]
        assert verdict["undo"] == ["app1"] and verdict["cannot_undo"] == []
        assert verdict["reasons"] == {"app2": "no route"}

    def test_host_that_did_not_switch_is_not_undone(self):
        outcomes = {"app1": ok(switched=False), "app2": failed()}
        assert rollout.batch_verdict(outcomes, ["app2"], 0)["undo"] == []

    def test_host_with_nothing_live_before_is_not_undone(self):
        outcomes = {"app1": ok(before=None), "app2": failed()}
        assert rollout.batch_verdict(outcomes, ["app2"], 0)["undo"] == []

    @pytest.mark.parametrize("percentage", [-1, 101])
    def test_percentage_out_of_range_is_refused(self, percentage):
        with pytest.raises(IncidentResponseError):
            rollout.batch_verdict({"a": ok()}, ["a"], percentage)

    def test_empty_batch_is_refused(self):
        with pytest.raises(IncidentResponseError):
            rollout.batch_verdict({}, [], 0)


def hist(current, previous_good, kept=("v1.2.1", "v1.2.2", "v1.2.3")):
    return {"current": current, "previous_good": previous_good, "kept": list(kept)}


class TestRollbackTarget:
    def test_no_hosts(self):
        assert rollback_target({})["refused"]

    def test_zero_releases_to_return_to(self):
        decision = rollout.rollback_target({"app1": hist("v1.2.3", None), "app2": hist("v1.2.3", None)})
        assert decision["target"] is None and "no host has a previous good release" in decision["refused"]

    def test_one_release_every_host_agrees(self):
        decision = rollout.rollback_target({"app1": hist("v1.2.3", "v1.2.2"), "app2": hist("v1.2.3", "v1.2.2")})
        assert decision == {"target": "v1.2.2", "missing_on": [], "refused": None}

    def test_n_releases_the_newest_good_one_per_host(self):
        decision = rollout.rollback_target({"app1": hist("v1.2.3", "v1.2.2", kept=("v1.2.0", "v1.2.1", "v1.2.2"))})
        assert decision["target"] == "v1.2.2"

    def test_hosts_that_disagree_are_refused_and_named(self):
        decision = rollout.rollback_target({"app1": hist("v1.2.3", "v1.2.2"), "app2": hist("v1.2.3", "v1.2.1")})
        assert decision["target"] is None
        assert "app1=v1.2.2, app2=v1.2.1" in decision["refused"]

    def test_a_host_already_on_the_target_agrees(self):
        # app2 was rolled back already (a partial earlier rollback): its own previous good is older.
        decision = rollout.rollback_target({"app1": hist("v1.2.3", "v1.2.2"), "app2": hist("v1.2.2", "v1.2.1")})
        assert decision["target"] == "v1.2.2"

    def test_requested_version_missing_on_a_host_is_named(self):
        decision = rollout.rollback_target({"app1": hist("v1.2.3", "v1.2.2", kept=("v1.2.3",)),
                                            "app2": hist("v1.2.3", "v1.2.2")}, requested="v1.2.2")
        assert decision == {"target": "v1.2.2", "missing_on": ["app1"], "refused": None}


def rollback_target(histories):
    return rollout.rollback_target(histories)


class TestFleetState:
    def test_split_fleet_is_said_in_one_line(self):
        state = rollout.fleet_state(["app1", "app2"], {"app1": ok(), "app2": UNREACHABLE}, {"app2": "v1.2.2"})
        assert state["line"] == "Fleet: app1 v1.2.3, app2 unknown (unreachable) (SPLIT: not every host runs the same release)"
        assert state["split"]

    def test_hosts_the_run_never_reached_keep_their_planned_release(self):
        state = rollout.fleet_state(["app1", "app2"], {"app1": ok()}, {"app1": "v1.2.2", "app2": "v1.2.2"})
        assert state["hosts"] == {"app1": "v1.2.3", "app2": "v1.2.2"}


@pytest.mark.parametrize("aborted, rolled_back, skipped, tolerated, expected", [
    (False, False, [], [], "succeeded"),
    (False, False, ["app3"], [], "partial"),
    (False, False, [], ["app2"], "partial"),
    (True, False, [], [], "failed"),
    (True, True, [], [], "rolled_back"),
])
def test_run_result(aborted, rolled_back, skipped, tolerated, expected):
    assert rollout.run_result(aborted, rolled_back, skipped, tolerated) == expected


def at(day: int, hhmm: str) -> dt.datetime:
    # 2026-11-30 is a Monday.
    hour, minute = map(int, hhmm.split(":"))
    return dt.datetime(2026, 11, 30, hour, minute, tzinfo=dt.timezone.utc) + dt.timedelta(days=day)


class TestWindow:
    WEEKDAYS = {"days": ["Mon", "Tue", "Wed", "Thu"], "start": "09:00", "end": "16:00"}
    OVERNIGHT = {"days": ["Mon"], "start": "22:00", "end": "06:00"}

    @pytest.mark.parametrize("moment, inside", [
        (at(0, "08:59"), False), (at(0, "09:00"), True), (at(0, "15:59"), True), (at(0, "16:00"), False),
        (at(4, "10:00"), False),  # Friday
    ])
    def test_day_window(self, moment, inside):
        assert rollout.in_window(self.WEEKDAYS, moment)["inside"] is inside

    @pytest.mark.parametrize("moment, inside", [
        (at(0, "21:59"), False), (at(0, "22:00"), True), (at(0, "23:59"), True),
        (at(1, "00:00"), True), (at(1, "05:59"), True), (at(1, "06:00"), False),
        (at(1, "22:30"), False),  # Tuesday night: the window starts on Mondays only
        (at(0, "03:00"), False),  # Monday early morning belongs to Sunday's window, which does not exist
    ])
    def test_overnight_window_runs_into_the_next_day(self, moment, inside):
        decision = rollout.in_window(self.OVERNIGHT, moment)
        assert decision["inside"] is inside and decision["overnight"]

    def test_until_midnight(self):
        assert rollout.in_window({"start": "20:00", "end": "24:00"}, at(2, "23:59"))["inside"]

    @pytest.mark.parametrize("window", [{"start": "9:00"}, {"start": "24:30"}, {"start": "10:00", "end": "10:00"},
                                        {"days": ["Monday"]}])
    def test_malformed_windows_are_refused(self, window):
        with pytest.raises(IncidentResponseError):
            rollout.in_window(window, at(0, "10:00"))


class TestGates:
    GATES = {"deployment window": {"start": "09:00"}, "notification webhook": "", "change ticket": "required"}

    def test_strict_environment_refuses_an_unconfigured_gate(self):
        assert rollout.gate_problems("production", ["production"], self.GATES, []) == [
            "the notification webhook gate is not configured for production"]

    def test_an_explicit_waiver_lets_it_pass(self):
        assert rollout.gate_problems("production", ["production"], self.GATES, ["notification webhook"]) == []

    def test_unknown_waiver_is_named(self):
        problems = rollout.gate_problems("production", ["production"], self.GATES, ["notification webhook", "ci"])
        assert problems == ["unknown gate waiver 'ci' (known: change ticket, deployment window, notification webhook)"]

    def test_other_environments_are_not_strict(self):
        assert rollout.gate_problems("lab", ["production"], self.GATES, []) == []


@pytest.mark.parametrize("text, expected", [
    (None, ""),
    ("one", "one"),
    ("a\n\n b \nc", "a |  b | c"),
    (["x", "y"], "x | y"),
])
def test_tail(text, expected):
    assert rollout.tail(text) == expected


def test_tail_is_bounded():
    assert len(rollout.tail("x" * 5000)) == 603


# --------------------------------------------------------------------------- load balancer decisions

def _out(status, **extra):
    return dict({"status": status, "switched": False, "restarted": False, "version_before": "v1.2.2",
                 "version_after": "v1.2.3"}, **extra)


@pytest.mark.parametrize("outcome, goes_back, why", [
    (_out("ok", switched=True, restarted=True), True, None),
    # Failed its gate after the switch, then put back on its old release (which gates too): healthy again.
    (_out("failed", switched=True, restarted=True, undone=True), True, None),
    # Failed before touching the running service (preparing the release failed): still healthy on the old one.
    (_out("failed"), True, None),
    (_out("failed", restarted=True), False, "it failed its health gate"),
    (_out("failed", switched=True, restarted=True), False, "it failed its health gate"),
    (_out("failed", switched=True, undone=True, undo_failed=True), False, "could not be put back"),
    (_out("unreachable", switched=None, restarted=None), False, "unreachable"),
], ids=["ok", "undone", "failed-before-touching", "failed-gate-after-restart", "failed-gate-after-switch",
        "undo-failed", "unreachable"])
def test_back_into_pool_only_returns_hosts_that_passed_a_gate(outcome, goes_back, why):
    decision = rollout.back_into_pool({"app1": outcome}, ["app1"])
    assert (decision["back"] == ["app1"]) is goes_back
    if why:
        assert why in decision["stay_out"]["app1"]
    else:
        assert decision["stay_out"] == {}


def test_back_into_pool_keeps_the_batch_order_and_ignores_other_batches():
    outcomes = {"app1": _out("ok"), "app2": _out("failed", restarted=True), "app3": _out("ok")}
    decision = rollout.back_into_pool(outcomes, ["app3", "app2"])
    assert decision == {"back": ["app3"], "stay_out": {"app2": "it failed its health gate"}}


@pytest.mark.parametrize("result, aborted, to_return, cause", [
    ({"failed_step": None, "returned": ["app1"], "drained": ["app2"]}, False, [], None),
    ({"failed_step": "return", "msg": "returning app1 to the load balancer: app1 did not come back"}, True,
     ["app1"], "before switching app2: returning app1"),
    ({"failed_step": "lease", "msg": "This run (r1) no longer holds the deploy lock"}, True, [],
     "before switching app2: This run (r1) no longer holds"),
    ({"failed_step": "drain", "msg": "taking app2 out of the load balancer: timeout", "drained": ["app2"]}, True,
     ["app2"], "before switching app2: taking app2 out"),
    ({"unreachable": True, "msg": "ssh: connect to host 10.77.1.10 port 22: Connection refused"}, True, ["app1"],
     "before switching app2: the bastion cannot be reached (ssh: connect"),
    ({"failed": True, "msg": "rollout checkpoint on this host: bad"}, True, ["app1"], "before switching app2: rollout"),
], ids=["ok", "return-failed", "lease-lost", "drain-failed", "bastion-unreachable", "module-failed"])
def test_after_checkpoint(result, aborted, to_return, cause):
    decision = rollout.after_checkpoint(result, ["app2"], ["app1"])
    assert decision["aborted"] is aborted
    assert decision["to_return"] == to_return
    if cause:
        assert decision["cause"].startswith(cause)
    else:
        assert "cause" not in decision


def test_a_failed_batch_puts_its_own_hosts_back_now_and_earlier_batches_later():
    outcomes = {
        "app1": {"status": "ok", "switched": True, "version_before": "v1.2.2"},      # canary, serving v1.2.3
        "app2": {"status": "failed", "switched": True, "version_before": "v1.2.2", "msg": "gate"},
        "app3": {"status": "ok", "switched": True, "version_before": "v1.2.2"},
        "app4": {"status": "unreachable", "switched": None, "version_before": None},
    }
    verdict = rollout.batch_verdict(outcomes, ["app2", "app3", "app4"], 0)
    assert verdict["batch_failed"] is True
    assert verdict["undo_now"] == ["app2", "app3"]  # drained already, with their batch
    assert verdict["put_back_later"] == ["app1"]  # serving users: in halves, out of traffic while it restarts
    assert set(verdict["undo"]) == {"app1", "app2", "app3"}


def test_a_tolerated_failure_puts_back_only_the_failed_host():
    outcomes = {"app1": {"status": "ok", "switched": True, "version_before": "v1.2.2"},
                "app2": {"status": "failed", "switched": True, "version_before": "v1.2.2", "msg": "gate"}}
    verdict = rollout.batch_verdict(outcomes, ["app2"], 100)
    assert verdict["batch_failed"] is False
    assert verdict["undo_now"] == ["app2"] and verdict["put_back_later"] == []


STATE = {"aborted": False, "outcomes": {"app1": {"status": "ok", "switched": True, "version_before": "v1.2.2"}},
         "switched": ["app1"], "to_return": ["app1"], "out_of_pool": {"app9": "it failed its health gate"},
         "lock_taken": True, "archive": "/cache/a.tar.gz"}


def test_a_batch_where_nothing_failed_is_queued_for_traffic_in_its_own_state():
    outcomes = dict(STATE["outcomes"], app2=_out("ok", switched=True), app3=_out("ok"))
    state = rollout.state_after_batch(STATE, outcomes, ["app1", "app2"], [], ["app2", "app3"], pool=True)
    # The same answer the separate pool decision gives, added to what earlier batches queued.
    assert state["to_return"] == ["app1", *rollout.back_into_pool(outcomes, ["app2", "app3"])["back"]]
    assert state["to_return"] == ["app1", "app2", "app3"]
    assert state["out_of_pool"] == {"app9": "it failed its health gate"}
    assert state["outcomes"] == outcomes and state["switched"] == ["app1", "app2"]
    # Everything else the run keeps is carried over untouched, and the input is not changed.
    assert {k: state[k] for k in ("aborted", "lock_taken", "archive")} == {
        "aborted": False, "lock_taken": True, "archive": "/cache/a.tar.gz"}
    assert STATE["to_return"] == ["app1"]


def test_a_batch_with_a_failure_leaves_the_pool_to_be_decided_after_its_undo():
    outcomes = dict(STATE["outcomes"], app2=_out("failed", switched=True, restarted=True))
    state = rollout.state_after_batch(STATE, outcomes, ["app1", "app2"], ["app2"], ["app2"], pool=True)
    assert state["to_return"] == ["app1"] and state["out_of_pool"] == STATE["out_of_pool"]
    assert state["outcomes"]["app2"]["status"] == "failed"


def test_without_a_load_balancer_nothing_is_queued():
    outcomes = dict(STATE["outcomes"], app2=_out("ok", switched=True))
    state = rollout.state_after_batch(STATE, outcomes, ["app1", "app2"], [], ["app2"], pool=False)
    assert state["to_return"] == ["app1"]
