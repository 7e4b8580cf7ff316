# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""rollout_decision as the roles ask it: the deployment window (inside, outside with a reason, or refused),
and the batch verdict that also returns the run's next state."""

from __future__ import annotations

import pytest

from ansible_collections.platform_eng.incident_response.plugins.action.rollout_decision import DECISIONS

WINDOW = {"days": ["Mon", "Tue", "Wed", "Thu"], "start": "09:00", "end": "17:00"}
MONDAY_NOON = "2026-11-30T12:00:00Z"
MONDAY_EVENING = "2026-11-30T17:00:00+00:00"  # the end is outside


def window(now: str, reason: str | None = None) -> dict:
    args = {"window": WINDOW, "now": now}
    if reason is not None:
        args["override_reason"] = reason
    return DECISIONS["window"](args)


@pytest.mark.parametrize("reason", [None, "", "incident fix"])
def test_inside_the_window_nothing_is_refused_or_overridden(reason) -> None:
    decision = window(MONDAY_NOON, reason)
    assert decision["inside"] is True and decision["refused"] is None and decision["overridden"] is False


@pytest.mark.parametrize("reason", [None, "", "   \t"])
def test_outside_without_a_reason_is_refused_saying_when_and_how_to_override(reason) -> None:
    decision = window(MONDAY_EVENING, reason)
    assert decision["inside"] is False and decision["overridden"] is False
    assert decision["refused"] == ("Mon 17:00 UTC is outside the deployment window (Mon, Tue, Wed, Thu 09:00-17:00 "
                                   "UTC). To deploy anyway, state why: -e deploy_window_override_reason='...'")


def test_outside_with_a_reason_is_overridden() -> None:
    decision = window(MONDAY_EVENING, "customer outage fix approved by the IC")
    assert decision["inside"] is False and decision["refused"] is None and decision["overridden"] is True


def test_the_batch_decision_returns_the_runs_next_state_when_given_the_current_one() -> None:
    state = {"outcomes": {}, "switched": [], "to_return": [], "out_of_pool": {}, "aborted": False}
    results = {"app1": {"changed": True, "version_before": "v1.2.2", "version_after": "v1.2.3", "switched": True,
                        "restarted": True},
               "app2": {"failed": True, "msg": "gate: 500", "version_before": "v1.2.2", "switched": True,
                        "restarted": True}}
    ok = DECISIONS["batch"]({"outcomes": {}, "results": {"app1": results["app1"]}, "batch": ["app1"],
                             "max_fail_percentage": 0, "state": state, "pool": True})
    assert ok["pooled"] is True and ok["state"]["to_return"] == ["app1"]
    assert ok["state"]["outcomes"] == ok["outcomes"] and ok["state"]["switched"] == ["app1"]
    bad = DECISIONS["batch"]({"outcomes": ok["outcomes"], "results": {"app2": results["app2"]}, "batch": ["app2"],
                              "max_fail_percentage": 0, "state": ok["state"], "pool": True})
    assert bad["pooled"] is False and bad["batch_failed"] is True and bad["state"]["to_return"] == ["app1"]
    # Without a state (any other caller) the decision is what it always was.
    assert "state" not in DECISIONS["batch"]({"results": {"app1": results["app1"]}, "batch": ["app1"]})
