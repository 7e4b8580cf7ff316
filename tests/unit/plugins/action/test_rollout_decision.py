# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The deployment window as the preflight role asks it: inside, or outside with a reason, or refused."""

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
