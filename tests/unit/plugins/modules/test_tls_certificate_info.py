# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""tls_certificate_info as Ansible runs it, against the lab's TLS endpoints on 127.0.0.1."""

from __future__ import annotations

import typing as t

import pytest

from ansible_collections.platform_eng.incident_response.plugins.modules import tls_certificate_info
from ansible_collections.platform_eng.incident_response.tests.unit.plugins import lab_services
from ansible_collections.platform_eng.incident_response.tests.unit.plugins.module_runner import run_module


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[lab_services.TlsEndpoints]:
    with lab_services.tls_endpoints(tmp_path_factory.mktemp("tls-lab")) as endpoints:
        yield endpoints


def lab_args(lab: lab_services.TlsEndpoints, **extra: t.Any) -> dict[str, t.Any]:
    endpoints = [{"name": e["name"], "host": e["host"], "port": e["port"], "server_name": e["server_name"]}
                 for e in lab.endpoints]
    endpoints.append({"name": "unreachable", "host": "127.0.0.1", "port": lab_services.closed_port()})
    return {"endpoints": endpoints, "ca_path": lab.ca_path, **extra}


def test_every_endpoint_gets_its_status_in_check_mode(capsys: pytest.CaptureFixture[str],
                                                      lab: lab_services.TlsEndpoints) -> None:
    result = run_module(capsys, tls_certificate_info, lab_args(lab, _ansible_check_mode=True))
    assert result["changed"] is False and "failed" not in result
    got = {c["name"]: (c["classification"], c["status"]) for c in result["certificates"]}
    assert got == {"valid": ("ok", "ok"), "expiring": ("expiring", "warn"), "expired": ("expired", "critical"),
                   "wrong_host": ("wrong_host", "critical"), "unreachable": ("unreachable", "critical")}
    assert result["by_classification"]["unreachable"] == ["unreachable"]
    assert result["status"] == "critical"


@pytest.mark.parametrize("fail_on, failed", [("critical", True), ("warn", True), ("none", False)])
def test_fail_on_names_the_certificates(capsys: pytest.CaptureFixture[str], lab: lab_services.TlsEndpoints,
                                        fail_on: str, failed: bool) -> None:
    result = run_module(capsys, tls_certificate_info, lab_args(lab, fail_on=fail_on))
    assert result.get("failed", False) is failed and result["changed"] is False
    assert len(result["certificates"]) == 5  # the data comes back with the failure
    if failed:
        assert result["msg"].startswith(f"TLS certificates are critical (fail_on={fail_on})")
        assert "expired expired" in result["msg"] and "unreachable unreachable" in result["msg"]
        assert ("expiring expiring" in result["msg"]) is (fail_on == "warn")


def test_warn_days_setting_changes_the_verdict(capsys: pytest.CaptureFixture[str],
                                               lab: lab_services.TlsEndpoints) -> None:
    result = run_module(capsys, tls_certificate_info, {"endpoints": [{"name": "expiring", "host": "127.0.0.1",
                                                                      "port": lab.by_name("expiring")["port"],
                                                                      "server_name": "tls-expiring.irlab.test"}],
                                                       "ca_path": lab.ca_path, "warn_days": 5, "critical_days": 2})
    assert result["certificates"][0]["classification"] == "ok" and result["status"] == "ok"


def test_files_alone_are_enough(capsys: pytest.CaptureFixture[str], lab: lab_services.TlsEndpoints) -> None:
    result = run_module(capsys, tls_certificate_info, {"files": [lab.by_name("expired")["cert_file"]], "ca_path": lab.ca_path})
    assert [(c["kind"], c["classification"]) for c in result["certificates"]] == [("file", "expired")]


@pytest.mark.parametrize("args, message", [
    ({}, "one of the following is required: endpoints, files"),
    ({"endpoints": [{"host": "a"}, {"host": "a"}]}, "endpoint names must be unique; repeated: a:443"),
    ({"files": ["/x"], "warn_days": 3}, "need 0 <= critical_days <= warn_days"),
])
def test_bad_arguments_fail_with_a_clear_message(capsys: pytest.CaptureFixture[str], args: dict[str, t.Any],
                                                 message: str) -> None:
    result = run_module(capsys, tls_certificate_info, args)
    assert result["failed"] is True and message in result["msg"]
