# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The lab check: the safety route first, then the lab's facts and its bastion; every verdict says what to do."""

from __future__ import annotations

import socket
import subprocess
import time
import typing as t
from pathlib import Path

import pytest

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import IncidentResponseError
from ansible_collections.platform_eng.incident_response.plugins.module_utils._lab_guard import (
    check_lab,
    probe,
    route_listed,
    safety_route_present,
)

RANGE = "10.77.0.0/16"


@pytest.mark.parametrize("output, listed", [
    ("unreachable 10.77.0.0/16 \n", True),
    ("10.77.0.0/16 proto static\n", True),
    ("unreachable 10.77.0.0/24\n", False),
    ("unreachable 10.78.0.0/16\n", False),
    ("", False),
    ("garbage\n", False),
])
def test_only_the_route_for_exactly_the_lab_range_counts(output: str, listed: bool) -> None:
    assert route_listed(output, RANGE) is listed


def test_the_route_is_read_with_ip_route_as_an_argv() -> None:
    calls = []

    def runner(argv: list[str], **_kwargs: t.Any) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0, "unreachable 10.77.0.0/16 \n", "")

    assert safety_route_present(RANGE, runner) is True
    assert calls == [["ip", "route", "show", "type", "unreachable", RANGE]]


def test_a_routing_table_that_cannot_be_read_is_a_clear_error() -> None:
    def runner(*_args: t.Any, **_kwargs: t.Any) -> t.NoReturn:
        raise FileNotFoundError(2, "No such file or directory", "ip")

    with pytest.raises(IncidentResponseError, match="Cannot read the routing table"):
        safety_route_present(RANGE, runner)


def lab(tmp_path: Path, up: bool) -> dict[str, t.Any]:
    if up:
        (tmp_path / "lab.json").write_text("{}")
    return {"range": RANGE, "state_dir": str(tmp_path), "bastion": "10.77.1.10"}


def test_a_missing_route_is_refused_first_and_the_bastion_is_not_even_probed(tmp_path: Path) -> None:
    probed = []

    status = check_lab(lab(tmp_path, up=True), route_check=lambda _r: False,
                       prober=lambda *a: probed.append(a) or "answers")

    assert not status.ready and not status.route and probed == []
    assert f"Restore it with `ip route replace unreachable {RANGE}`" in status.msg
    assert "Nothing was sent to the lab." in status.msg


def test_a_lab_that_is_down_says_make_lab_up(tmp_path: Path) -> None:
    status = check_lab(lab(tmp_path, up=False), route_check=lambda _r: True, prober=lambda *a: "No route to host")

    assert not status.ready and status.route
    assert "The lab is not running" in status.msg and "`make lab-up`" in status.msg
    assert "lab.json is missing" in status.msg and "10.77.1.10:22 does not answer: No route to host" in status.msg


def test_facts_without_a_bastion_are_not_a_running_lab(tmp_path: Path) -> None:
    status = check_lab(lab(tmp_path, up=True), route_check=lambda _r: True, prober=lambda *a: "Connection refused")

    assert not status.ready and "make lab-up" in status.msg and "lab.json" not in status.msg


def test_a_running_lab_with_its_route_is_ready(tmp_path: Path) -> None:
    status = check_lab(lab(tmp_path, up=True), route_check=lambda _r: True, prober=lambda *a: "answers")

    assert status.ready and status.msg.startswith("The lab is up")


@pytest.mark.parametrize("broken", [{}, {"range": "not-a-range", "state_dir": "/x", "bastion": "b"},
                                    {"range": RANGE, "state_dir": "/x"}])
def test_an_incomplete_lab_description_is_a_clear_error(broken: dict[str, t.Any]) -> None:
    with pytest.raises(IncidentResponseError, match="incident_response_lab must have"):
        check_lab(broken, route_check=lambda _r: True, prober=lambda *a: "answers")


def test_the_probe_reports_a_closed_port_at_once() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        started = time.monotonic()
        answer = probe("127.0.0.1", port, 2.0)

    assert answer == "Connection refused"
    assert time.monotonic() - started < 1


def test_the_probe_says_answers_when_something_listens() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        assert probe("127.0.0.1", server.getsockname()[1], 2.0) == "answers"
