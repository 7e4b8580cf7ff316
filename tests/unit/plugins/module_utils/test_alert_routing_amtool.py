# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Alertmanager's routing, proven with ``amtool check-config`` and ``amtool config routes test``.

Each severity must reach exactly the channels of the runbook's table (incident_response_paging_routes) plus
the rulebook, and no secret may appear in the configuration file. amtool comes with Debian's
``prometheus-alertmanager`` (tools/setup.sh); without it these tests fail.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ansible_collections.platform_eng.incident_response.plugins.filter.alertmanager_config import (
    alertmanager_config,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils import _alert_routing as routing
from ansible_collections.platform_eng.incident_response.plugins.module_utils._alert_rules import alert_names

REPO = Path(__file__).resolve().parents[4]
RUNBOOK = yaml.safe_load((REPO / "roles/incident_response/defaults/main.yml").read_text(encoding="utf-8"))
ROUTES = RUNBOOK["incident_response_paging_routes"]
LAB_PAGING = yaml.safe_load((REPO / "inventories/lab/group_vars/all/incident.yml").read_text(
    encoding="utf-8"))["incident_response_paging"]
# Production's secrets come from a vault; stand-ins of the same shape.
PROD_PAGING = dict(yaml.safe_load((REPO / "inventories/production/group_vars/all/incident.yml").read_text(
    encoding="utf-8"))["incident_response_paging"], pagerduty_routing_key="R0UTINGKEYprod",
    slack_webhook_url="https://hooks.slack.com/services/T000/B000/SECRETPATHprod", smtp_username="mailer",
    smtp_password="smtp-SECRET-prod", ticket_token="ticket-SECRET-prod")
EDA_TOKEN = "eda-SECRET-token"
SECRETS = {"lab": ["lab-pagerduty-routing-key", "http://10.77.1.1:8099/slack/incidents", "lab-ticket-token",
                   EDA_TOKEN],
           "production": ["R0UTINGKEYprod", "SECRETPATHprod", "smtp-SECRET-prod", "ticket-SECRET-prod", EDA_TOKEN]}
CHANNEL_CONFIGS = {"pagerduty": "pagerduty_configs", "slack": "slack_configs", "email": "email_configs",
                   "ticket": "webhook_configs"}


def amtool() -> str:
    found = shutil.which("amtool")
    if not found:
        pytest.fail("amtool is not installed: apt-get install prometheus-alertmanager (tools/setup.sh installs it)")
    return found


@pytest.fixture(scope="module", params=["lab", "production"])
def rendered(request, tmp_path_factory):
    paging = LAB_PAGING if request.param == "lab" else PROD_PAGING
    directory = tmp_path_factory.mktemp(f"alertmanager-{request.param}")
    result = alertmanager_config(paging, str(directory / "secrets"), routes=ROUTES,
                                 email_to=RUNBOOK["incident_response_escalation"]["secondary"],
                                 eda_url="http://127.0.0.1:5050/alerts", eda_token=EDA_TOKEN)
    path = directory / "alertmanager.yml"
    path.write_text(result["config"], encoding="utf-8")
    return request.param, path, result


def routes_test(config: Path, *labels: str, verify: str | None = None) -> subprocess.CompletedProcess:
    argv = [amtool(), "config", "routes", "test", f"--config.file={config}"]
    if verify is not None:
        argv.append(f"--verify.receivers={verify}")
    return subprocess.run([*argv, *labels], capture_output=True, text=True, check=False)


def test_amtool_accepts_the_configuration(rendered):
    _env, path, _result = rendered
    done = subprocess.run([amtool(), "check-config", str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 inhibit rules" in done.stdout and "5 receivers" in done.stdout


@pytest.mark.parametrize("severity", ["P1", "P2", "P3", "P4"])
def test_each_severity_reaches_exactly_its_channels_and_the_rulebook(rendered, severity):
    _env, path, _result = rendered
    expected = routing.expected_receivers(ROUTES, severity)
    labels = (f"severity={severity}", "service=incident-response", "alertname=incident-response_high_error_rate",
              "instance=app1:8080", "job=incident-response")

    done = routes_test(path, *labels, verify=",".join(expected))

    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == ",".join(expected)
    receiver = next(r for r in yaml.safe_load(path.read_text())["receivers"] if r["name"] == expected[-1])
    assert sorted(k for k in receiver if k != "name") == sorted(CHANNEL_CONFIGS[c] for c in ROUTES[severity])


def test_the_runbooks_table_is_what_the_receivers_say():
    assert [routing.receiver_name(s, ROUTES[s]) for s in ("P1", "P2", "P3", "P4")] == [
        "P1-pagerduty-slack", "P2-email-slack", "P3-slack", "P4-ticket"]


def test_an_alert_without_a_known_severity_still_reaches_people(rendered):
    _env, path, _result = rendered
    done = routes_test(path, "severity=P9", "service=incident-response")
    assert done.stdout.strip() == "eda-rulebook,P3-slack"


def test_another_services_alert_never_reaches_the_rulebook(rendered):
    _env, path, _result = rendered
    done = routes_test(path, "severity=P1", "service=billing")
    assert done.stdout.strip() == "P1-pagerduty-slack"


def test_no_secret_is_in_the_configuration_and_each_has_its_file(rendered):
    env, path, result = rendered
    text = path.read_text()
    for secret in SECRETS[env]:
        assert secret not in text
    contents = "".join(f["content"] for f in result["secret_files"])
    for secret in SECRETS[env]:
        assert secret in contents
    names = {Path(f["path"]).name for f in result["secret_files"]}
    # SMTP credentials only over TLS: production's relay has STARTTLS, the lab's SMTP server has none.
    assert names == {"pagerduty_routing_key", "slack_api_url", "ticket_token", "eda_token"} | (
        {"smtp_password"} if env == "production" else set())
    referenced = {Path(v).name for v in _values(yaml.safe_load(text)) if isinstance(v, str) and "/secrets/" in v}
    assert referenced == names


def _values(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from _values(value)
    elif isinstance(node, list):
        for value in node:
            yield from _values(value)
    else:
        yield node


def test_the_rulebook_gets_every_alert_on_its_own_and_the_inhibitions_follow_the_catalogue(rendered):
    _env, path, _result = rendered
    config = yaml.safe_load(path.read_text())
    eda = config["route"]["routes"][0]
    assert eda["receiver"] == "eda-rulebook" and eda["group_by"] == ["..."] and eda["continue"] is True
    down = config["inhibit_rules"][0]
    assert down["source_matchers"] == ['alertname="incident-response_service_down"']
    assert down["equal"] == ["instance"]
    targets = down["target_matchers"][0].split('"')[1].split("|")
    assert set(targets) <= set(alert_names())
    assert "incident-response_high_error_rate" in targets and "incident-response_high_latency" in targets


def test_routing_refuses_a_missing_credential_without_echoing_secrets(tmp_path):
    paging = dict(LAB_PAGING, pagerduty_routing_key="")
    with pytest.raises(Exception, match="pagerduty_routing_key"):
        routing.alertmanager_config(ROUTES, paging, "x@example.com", "", str(tmp_path))
    broken = dict(LAB_PAGING, slack_webhook_url="hooks.slack.com/services/SECRET")
    with pytest.raises(Exception) as caught:
        routing.alertmanager_config(ROUTES, broken, "x@example.com", "", str(tmp_path))
    assert "SECRET" not in str(caught.value)


@pytest.mark.parametrize("routes, problem", [
    ({"P1": ["pager"], "P2": [], "P3": [], "P4": []}, "unknown channels"),
    ({"P1": ["slack"]}, "no channels for P2"),
    ({"P0": ["slack"], "P1": [], "P2": [], "P3": [], "P4": []}, "not one of"),
])
def test_a_bad_routing_table_is_refused(routes, problem, tmp_path):
    with pytest.raises(Exception, match=problem):
        routing.alertmanager_config(routes, LAB_PAGING, "x@example.com", "", str(tmp_path))


def test_timing_is_validated(tmp_path):
    with pytest.raises(Exception, match="group_wiat"):
        routing.alertmanager_config(ROUTES, LAB_PAGING, "x@example.com", "", str(tmp_path), timing={"group_wiat": "1s"})
    with pytest.raises(Exception, match="duration"):
        routing.alertmanager_config(ROUTES, LAB_PAGING, "x@example.com", "", str(tmp_path), timing={"group_wait": "soon"})


def test_smtp_credentials_are_only_sent_over_tls(tmp_path):
    config, secrets = routing.alertmanager_config(ROUTES, LAB_PAGING, "x@example.com", "", str(tmp_path))
    (mail,) = next(r for r in config["receivers"] if r["name"] == "P2-email-slack")["email_configs"]
    assert mail["require_tls"] is False and "auth_username" not in mail
    assert "lab-smtp-pw" not in "".join(s.content for s in secrets)
    config, _secrets = routing.alertmanager_config(ROUTES, PROD_PAGING, "x@example.com", "", str(tmp_path))
    (mail,) = next(r for r in config["receivers"] if r["name"] == "P2-email-slack")["email_configs"]
    assert mail["require_tls"] is True and mail["auth_username"] == "mailer" and mail["auth_password_file"]
