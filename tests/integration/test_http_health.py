# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""http_health_info through playbooks/health.yml, against the real app hosts, probed from the bastion."""

from __future__ import annotations

import pytest

from conftest import irlab, run


@pytest.fixture(autouse=True)
def fresh(lab):
    irlab("reset")
    yield
    irlab("reset")


def test_healthy_hosts_are_all_clear(lab):
    result = run("ansible-playbook", "playbooks/health.yml")
    assert result.rc == 0, result.text
    assert f"Service health: OK on {len(lab['app_hosts'])} host(s)" in result.out
    assert "[critical]" not in result.out


def test_stopped_host_is_critical_with_the_error(lab):
    stopped = lab["app_hosts"][-1]["name"]
    irlab("service", stopped, "stop")
    result = run("ansible-playbook", "playbooks/health.yml")
    assert result.rc != 0
    assert "Service health: CRITICAL" in result.out
    assert f"[critical] {stopped} http_status" in result.out
    assert "Connection refused" in result.out or "ConnectionRefusedError" in result.out
    # The healthy host is not blamed.
    healthy = lab["app_hosts"][0]["name"]
    assert f"[critical] {healthy} " not in result.out


def test_bad_release_shows_its_error_rate_over_the_threshold(lab):
    bad = lab["app_hosts"][-1]["name"]
    irlab("install-release", bad, "v1.2.4")
    # /health stays green on the bad release; the lab's traffic through /metrics tells the truth.
    result = run("ansible-playbook", "playbooks/health.yml", "-e", "service_health_metrics_window=10")
    assert result.rc != 0
    assert f"[critical] {bad} metrics_5xx_ratio" in result.out
    line = next(text for text in result.out.splitlines() if f"[critical] {bad} metrics_5xx_ratio" in text)
    rate = float(line.split("= ", 1)[1].split("%", 1)[0])
    assert rate > 5.0, line
