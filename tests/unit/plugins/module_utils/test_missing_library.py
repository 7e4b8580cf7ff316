# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A missing library names itself, the Python and host it was looked for in, and the role that installs it."""

from __future__ import annotations

import sys

import pytest

from ansible_collections.platform_eng.incident_response.plugins.module_utils import (
    _aws,
    _http_health,
    _k8s,
    _prometheus_window,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import IncidentResponseError
from ansible_collections.platform_eng.incident_response.plugins.module_utils._prerequisites import (
    PREREQUISITES_ROLE,
    missing_library,
)

ROLE = "platform_eng.incident_response.prerequisites"


def test_the_message_names_the_library_the_python_the_host_and_the_role() -> None:
    message = missing_library("redis", python="/usr/bin/python3", host="bastion-1")
    assert message.startswith("The Python library redis is not installed for /usr/bin/python3 on bastion-1. ")
    assert f"Run the {ROLE} role on this host first" in message
    assert f"ansible-playbook {ROLE} -i <inventory> --limit <host>" in message
    assert "ansible_python_interpreter" in message
    assert PREREQUISITES_ROLE == ROLE


def test_what_the_library_was_needed_for_is_said() -> None:
    message = missing_library("prometheus_client", needed_for="to read /metrics", python="/p", host="h")
    assert message.startswith("The Python library prometheus_client is not installed for /p on h, needed to read /metrics.")


def test_by_default_it_names_the_python_that_runs_the_module() -> None:
    assert f"for {sys.executable} on " in missing_library("boto3")


def test_the_aws_session_refuses_without_boto3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_aws, "HAS_BOTO3", False)
    with pytest.raises(IncidentResponseError, match=r"library boto3 is not installed .*prerequisites role"):
        _aws.AwsSession(_aws.AwsSettings(region="us-east-1"))


def test_the_kubernetes_configuration_refuses_without_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_k8s, "KUBERNETES_IMPORT_ERROR", "ModuleNotFoundError: No module named 'kubernetes'")
    with pytest.raises(IncidentResponseError, match=r"library kubernetes is not installed .*prerequisites role"):
        _k8s.build_configuration({"host": "http://127.0.0.1:1"})


def test_reading_metrics_refuses_without_prometheus_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_prometheus_window, "text_string_to_metric_families", None)
    with pytest.raises(IncidentResponseError, match=r"prometheus_client is not installed .*needed to read /metrics"):
        _prometheus_window.parse_metrics("", _prometheus_window.MetricsSettings())
    monkeypatch.setattr(_http_health, "PROMETHEUS_IMPORT_ERROR", "ModuleNotFoundError")
    plan = _http_health.build_plan({"endpoints": [{"name": "a", "url": "http://127.0.0.1:1/health"}],
                                    "metrics_window": 1})
    with pytest.raises(IncidentResponseError, match=r"prometheus_client is not installed .*prerequisites role"):
        _http_health.check_http_health(plan)
