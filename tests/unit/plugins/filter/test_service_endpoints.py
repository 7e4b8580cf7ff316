# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The runbook's three endpoints, from one list, as http_health_info endpoints for every app host."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.platform_eng.incident_response.plugins.filter.service_endpoints import service_endpoints
from ansible_collections.platform_eng.incident_response.plugins.module_utils import _http_health

PATHS = {"health": "/health", "metrics": "/metrics", "docs": "/docs"}
HOSTVARS = {"app1": {"ansible_host": "10.77.2.11"}, "app2": {}}


def test_every_path_of_every_host_with_only_health_judged_in_full():
    endpoints = service_endpoints(["app1", "app2"], HOSTVARS, "8080", PATHS, metrics=True)
    assert [(e["name"], e["url"], e.get("required", True)) for e in endpoints] == [
        ("app1", "http://10.77.2.11:8080/health", True),
        ("app1 /metrics", "http://10.77.2.11:8080/metrics", False),
        ("app1 /docs", "http://10.77.2.11:8080/docs", False),
        ("app2", "http://app2:8080/health", True),
        ("app2 /metrics", "http://app2:8080/metrics", False),
        ("app2 /docs", "http://app2:8080/docs", False),
    ]
    assert endpoints[0]["metrics_url"] == "http://10.77.2.11:8080/metrics"
    assert endpoints[0]["json_assertions"] == ['status == "ok"']
    assert all(e["samples"] == 1 and e["json_assertions"] == [] for e in endpoints if e["name"].endswith("s"))


def test_without_a_metrics_window_the_health_endpoint_is_not_scraped():
    endpoints = service_endpoints(["app1"], HOSTVARS, 8080, PATHS)
    assert "metrics_url" not in endpoints[0] and len(endpoints) == 3


def test_the_paths_come_from_the_one_list():
    endpoints = service_endpoints(["app1"], HOSTVARS, 8080, {"health": "/healthz", "docs": "/api/docs"})
    assert [e["url"] for e in endpoints] == ["http://10.77.2.11:8080/healthz", "http://10.77.2.11:8080/api/docs"]


def test_the_endpoints_are_what_http_health_info_accepts():
    plan = _http_health.build_plan({"endpoints": service_endpoints(["app1"], HOSTVARS, 8080, PATHS, metrics=True),
                                    "metrics_window": 10})
    health, metrics, docs = plan.endpoints
    assert health.required and health.metrics_url == "http://10.77.2.11:8080/metrics"
    assert not metrics.required and metrics.metrics_url is None and not docs.required and docs.metrics_url is None


@pytest.mark.parametrize(("paths", "metrics", "message"), [
    ({"docs": "/docs"}, False, "needs a health path"),
    ({"health": "/health"}, True, "metrics=true needs a metrics path"),
    ({"health": "health"}, False, "must start with '/'"),
])
def test_a_broken_list_is_refused(paths, metrics, message):
    with pytest.raises(AnsibleFilterError, match=message):
        service_endpoints(["app1"], HOSTVARS, 8080, paths, metrics=metrics)
