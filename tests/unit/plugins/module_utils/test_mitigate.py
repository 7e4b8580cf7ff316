# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The database scale-up guard: one step up an allowed ladder, never down, more than one step only with a reason."""

from __future__ import annotations

import pytest

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import IncidentResponseError
from ansible_collections.platform_eng.incident_response.plugins.module_utils._mitigate import plan_memory_limit, plan_scale_up


def test_next_step_in_the_same_family():
    assert plan_scale_up("db.t3.medium") == ("db.t3.medium", "db.t3.large", 1)
    assert plan_scale_up("db.r5.large").target == "db.r5.xlarge"


@pytest.mark.parametrize("current, target, reason, message", [
    ("db.t3.large", "db.t3.medium", "", "never scales down"),
    ("db.t3.large", "db.t3.large", "", "never scales down"),
    ("db.t3.medium", "db.t3.xlarge", "", "2 steps; more than one step needs a reason"),
    ("db.t3.medium", "db.m5.large", "", "not an allowed class"),
    ("db.x1.huge", "", "", "not on any allowed ladder"),
    ("db.t3.2xlarge", "", "", "largest allowed class"),
])
def test_refusals(current, target, reason, message):
    with pytest.raises(IncidentResponseError, match=message):
        plan_scale_up(current, target, reason)


def test_two_steps_with_a_reason():
    assert plan_scale_up("db.t3.medium", "db.t3.xlarge", "CPU 100 % after one step").steps == 2


def test_the_ladder_is_data():
    assert plan_scale_up("db.t3.small", ladders={"small": ["db.t3.small", "db.t3.medium"]}).target == "db.t3.medium"


@pytest.mark.parametrize("current, factor, expected", [
    ("512Mi", 1.5, "768Mi"), ("1Gi", 2.0, "2048Mi"), ("1G", 1.1, "1050Mi"), ("100Mi", 1.01, "101Mi"),
])
def test_memory_limit_is_raised_by_the_factor_rounded_up(current, factor, expected):
    assert plan_memory_limit(current, factor) == (current, expected)


@pytest.mark.parametrize("current, factor, message", [
    ("512Mi", 1.0, "outside"), ("512Mi", 0.5, "outside"), ("512Mi", 2.01, "outside"),
    (None, 1.5, "no memory limit"), ("lots", 1.5, "not a memory quantity"),
])
def test_memory_limit_refusals(current, factor, message):
    with pytest.raises(IncidentResponseError, match=message):
        plan_memory_limit(current, factor)
