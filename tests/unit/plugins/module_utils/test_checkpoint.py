# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A batch boundary on the bastion: return, renew (or release), drain, in that order, with a real lock file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _checkpoint as checkpoint
from ansible_collections.platform_eng.incident_response.plugins.module_utils import _deploy_lock as lock
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)
from test_lb import FakePool, member


@pytest.fixture
def held(tmp_path):
    path = str(tmp_path / "deploy.lock")
    taken = lock.acquire(path, {"run_id": "r1", "owner": "alice", "action": "deploy", "version": "v1.2.3"}, 900)
    assert not taken.get("failed")
    return path


def test_return_renew_drain_in_that_order(held):
    pool = FakePool(app1=member("app1", "drain"), app2=member("app2"), app3=member("app3"))
    before = json.loads(Path(held).read_text())["expires_at"]
    result = checkpoint.run(pool, held, "r1", 1200, ready=["app1"], drain=["app2"])
    assert result["failed_step"] is None
    assert pool.calls == [("ready", ("app1",)), ("drain", ("app2",))]
    assert result["returned"] == ["app1"] and result["drained"] == ["app2"]
    assert result["lease"]["ttl"] == 1200 and result["lease"]["expires_at"] >= before


def test_a_lost_lease_drains_nothing(held):
    lock.acquire(held, {"run_id": "r2", "owner": "bob"}, 900, break_lock=True, break_reason="test")
    pool = FakePool(app1=member("app1"), app2=member("app2"))
    result = checkpoint.run(pool, held, "r1", 900, drain=["app1"])
    assert result["failed_step"] == "lease" and "no longer holds the deploy lock" in result["msg"]
    assert pool.calls == []


def test_a_failed_return_stops_before_the_lease_and_the_drain(held):
    pool = FakePool(app1=member("app1", "drain", healthy=False), app2=member("app2"), app3=member("app3"))
    result = checkpoint.run(pool, held, "r1", 900, ready=["app1"], drain=["app2"], timeout=0.01, poll=0.005)
    assert result["failed_step"] == "return" and "app1 did not come back into service" in result["msg"]
    assert pool.calls == [("ready", ("app1",))]


def test_a_refused_drain_says_so_and_names_what_it_had_drained(held):
    pool = FakePool(app1=member("app1"), app2=member("app2", healthy=False))
    result = checkpoint.run(pool, held, "r1", 900, drain=["app1"])
    assert result["failed_step"] == "drain" and "no member of the pool serving" in result["msg"]
    assert result["drained"] == [] and pool.calls == []


def test_release_at_the_end_also_after_a_failed_return(held):
    pool = FakePool(app1=member("app1", "drain", healthy=False), app2=member("app2"))
    result = checkpoint.run(pool, held, "r1", None, ready=["app1"], release=True, timeout=0.01, poll=0.005)
    assert result["failed_step"] == "return" and result["released"] is True
    assert lock.read_lock(held) is None


def test_check_mode_touches_neither_the_lock_nor_the_pool(held):
    pool = FakePool(app1=member("app1"), app2=member("app2"))
    before = Path(held).read_text()
    result = checkpoint.run(pool, held, "other-run", 900, drain=["app1"], check_mode=True)
    assert result["failed_step"] is None and pool.calls == [] and Path(held).read_text() == before


def test_hosts_without_a_load_balancer_are_refused(held):
    with pytest.raises(IncidentResponseError, match="no load balancer"):
        checkpoint.run(None, held, "r1", 900, drain=["app1"])
    assert checkpoint.run(None, held, "r1", 900)["failed_step"] is None
