# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Alertmanager's configuration from the runbook's severity table, the same data the incident pages use.

``incident_response_paging_routes`` says which channels each severity
reaches (P1 PagerDuty + Slack, P2 e-mail + Slack, P3 Slack, P4 a ticket) and
``incident_response_paging`` holds their endpoints. ``alertmanager_config``
makes one receiver per severity with exactly those channels, routes every
alert of the service to the Event-Driven Ansible rulebook as well (one
notification per alert, so the rulebook judges each alert and instance), and
adds the catalogue's inhibitions.

Secrets never enter the configuration file: the PagerDuty routing key, the
Slack webhook URL, the SMTP password and the bearer tokens of the ticket and
rulebook webhooks are written to files of their own (``secret_files``) that
the configuration names (``routing_key_file``, ``api_url_file``,
``auth_password_file``, ``credentials_file``). So the configuration can be
shown as a diff, and only the secret files need ``no_log``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import typing as t
import urllib.parse

from ansible_collections.platform_eng.incident_response.plugins.module_utils._alert_rules import (
    DEFAULTS as RULE_DEFAULTS,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._alert_rules import (
    SEVERITIES,
    duration_seconds,
    inhibitions,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._incident_paging import (
    CHANNELS,
    DEFAULT_ROUTES,
    PD_SEVERITY,
)

EDA_RECEIVER = "eda-rulebook"
PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
TIMING_DEFAULTS = {
    # People: one notification per alert name across its instances, re-sent while it fires.
    "group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h",
    # The rulebook: each alert on its own and quickly; repeats are throttled there (once_within).
    "eda_group_wait": "10s", "eda_group_interval": "1m", "eda_repeat_interval": "1h",
    "resolve_timeout": "5m",
}
# Where an alert without a known severity goes: a chat message rather than nowhere.
FALLBACK_SEVERITY = "P3"
SECRET_NAMES = {"pagerduty": "pagerduty_routing_key", "slack": "slack_api_url", "email": "smtp_password",
                "ticket": "ticket_token", "eda": "eda_token"}
SLACK_TITLE = '[{{ .CommonLabels.severity }}] {{ .CommonLabels.alertname }} ({{ .Status }})'
SLACK_TEXT = ('{{ range .Alerts }}{{ .Annotations.summary }}\n'
              'Runbook: {{ .Annotations.runbook_url }}\n{{ end }}')
PD_DESCRIPTION = '[{{ .CommonLabels.severity }}] {{ .CommonLabels.alertname }}: {{ .CommonAnnotations.summary }}'


@dataclasses.dataclass(frozen=True)
class SecretFile:
    path: str
    content: str


def _text(value: t.Any) -> str:
    return "" if value is None else str(value)


def _check_url(value: str, where: str) -> str:
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # Never echo it: the Slack URL is itself a credential.
        raise IncidentResponseError(f"{where} must be an http(s) URL")
    return value


def receiver_name(severity: str, channels: t.Sequence[str]) -> str:
    """``P1-pagerduty-slack``: the receiver says what it reaches."""
    return "-".join([severity, *channels]) if channels else f"{severity}-none"


def _routes(routes: t.Mapping[str, t.Sequence[str]] | None) -> dict[str, list[str]]:
    table = {severity: list(channels) for severity, channels in (routes or DEFAULT_ROUTES).items()}
    for severity, channels in table.items():
        if severity not in SEVERITIES:
            raise IncidentResponseError(f"routes: {severity!r} is not one of {', '.join(SEVERITIES)}")
        unknown = [c for c in channels if c not in CHANNELS]
        if unknown:
            raise IncidentResponseError(f"routes: {severity} names unknown channels {unknown}; known: "
                                        f"{', '.join(CHANNELS)}")
    missing = [s for s in SEVERITIES if s not in table]
    if missing:
        raise IncidentResponseError(f"routes: no channels for {', '.join(missing)}")
    return table


def _timing(timing: t.Mapping[str, t.Any] | None) -> dict[str, str]:
    values = dict(TIMING_DEFAULTS)
    for key, value in (timing or {}).items():
        if key not in TIMING_DEFAULTS:
            raise IncidentResponseError(f"timing: {key} is not one of {', '.join(TIMING_DEFAULTS)}")
        if value:
            values[key] = str(value)
    for key, value in values.items():
        duration_seconds(value, f"timing.{key}")
    return values


def _secret(secrets: dict[str, SecretFile], secrets_dir: str, channel: str, value: str) -> str:
    path = os.path.join(secrets_dir, SECRET_NAMES[channel])
    secrets[channel] = SecretFile(path, value.strip() + "\n")
    return path


def _bearer(secrets: dict[str, SecretFile], secrets_dir: str, channel: str, token: str) -> dict[str, t.Any]:
    if not token:
        return {}
    path = _secret(secrets, secrets_dir, channel, token)
    return {"http_config": {"authorization": {"type": "Bearer", "credentials_file": path}}}


def _channel_config(channel: str, severity: str, paging: t.Mapping[str, t.Any], email_to: str,
                    secrets: dict[str, SecretFile], secrets_dir: str) -> tuple[str, dict[str, t.Any]]:
    """One channel of a receiver, as Alertmanager's ``<channel>_configs`` entry."""
    if channel == "pagerduty":
        key = _text(paging.get("pagerduty_routing_key"))
        if not key:
            raise IncidentResponseError(f"{severity} pages PagerDuty but incident_response_paging has no "
                                        f"pagerduty_routing_key")
        url = _check_url(_text(paging.get("pagerduty_url")) or PAGERDUTY_EVENTS_URL, "pagerduty_url")
        return "pagerduty_configs", {
            "routing_key_file": _secret(secrets, secrets_dir, channel, key), "url": url,
            "severity": PD_SEVERITY[severity], "client": "platform_eng.incident_response",
            "description": PD_DESCRIPTION, "send_resolved": True}
    if channel == "slack":
        url = _text(paging.get("slack_webhook_url"))
        if not url:
            raise IncidentResponseError(f"{severity} posts to Slack but incident_response_paging has no "
                                        f"slack_webhook_url")
        _check_url(url, "slack_webhook_url")
        return "slack_configs", {
            "api_url_file": _secret(secrets, secrets_dir, channel, url),
            "channel": _text(paging.get("slack_channel")) or "#incidents",
            "title": SLACK_TITLE, "text": SLACK_TEXT, "send_resolved": True}
    if channel == "email":
        host = _text(paging.get("smtp_host"))
        if not host or not email_to:
            raise IncidentResponseError(f"{severity} sends e-mail but smtp_host or the recipient is not set")
        config: dict[str, t.Any] = {
            "to": email_to, "from": _text(paging.get("email_from")) or f"alertmanager@{host}",
            "smarthost": f"{host}:{int(paging.get('smtp_port') or 25)}",
            "require_tls": bool(paging.get("smtp_starttls", False)), "send_resolved": True}
        # Credentials only over TLS: Alertmanager (Go's PLAIN auth) refuses to send them in the clear anyway.
        if paging.get("smtp_username") and config["require_tls"]:
            config["auth_username"] = _text(paging["smtp_username"])
            if paging.get("smtp_password"):
                config["auth_password_file"] = _secret(secrets, secrets_dir, channel, _text(paging["smtp_password"]))
        return "email_configs", config
    if channel == "ticket":
        url = _text(paging.get("ticket_url"))
        if not url:
            raise IncidentResponseError(f"{severity} files a ticket but incident_response_paging has no ticket_url")
        # One ticket per alert group; its resolution is not a new ticket.
        return "webhook_configs", {"url": _check_url(url, "ticket_url"), "send_resolved": False,
                                   **_bearer(secrets, secrets_dir, channel, _text(paging.get("ticket_token")))}
    raise IncidentResponseError(f"unknown channel {channel!r}")


def alertmanager_config(routes: t.Mapping[str, t.Sequence[str]] | None, paging: t.Mapping[str, t.Any],
                        email_to: str, eda_url: str, secrets_dir: str, eda_token: str = "",
                        timing: t.Mapping[str, t.Any] | None = None,
                        service: str = RULE_DEFAULTS["service"]) -> tuple[dict[str, t.Any], list[SecretFile]]:
    """The configuration (no secret in it) and the secret files it names."""
    if not os.path.isabs(secrets_dir or ""):
        raise IncidentResponseError(f"secrets_dir must be an absolute path, got {secrets_dir!r}")
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,62}", service or ""):
        raise IncidentResponseError(f"service must be lower-case letters, digits and dashes, got {service!r}")
    table = _routes(routes)
    times = _timing(timing)
    paging = dict(paging or {})
    secrets: dict[str, SecretFile] = {}
    receivers: list[dict[str, t.Any]] = []
    child_routes: list[dict[str, t.Any]] = []
    if eda_url:
        webhook = {"url": _check_url(eda_url, "eda_url"), "send_resolved": True, "max_alerts": 0,
                   **_bearer(secrets, secrets_dir, "eda", eda_token)}
        receivers.append({"name": EDA_RECEIVER, "webhook_configs": [webhook]})
        child_routes.append({
            "receiver": EDA_RECEIVER, "matchers": [f'service="{service}"'], "group_by": ["..."],
            "group_wait": times["eda_group_wait"], "group_interval": times["eda_group_interval"],
            "repeat_interval": times["eda_repeat_interval"], "continue": True})
    names = {}
    for severity in SEVERITIES:
        channels = table[severity]
        name = names[severity] = receiver_name(severity, channels)
        receiver: dict[str, t.Any] = {"name": name}
        for channel in channels:
            key, config = _channel_config(channel, severity, paging, email_to, secrets, secrets_dir)
            receiver.setdefault(key, []).append(config)
        receivers.append(receiver)
        child_routes.append({"receiver": name, "matchers": [f'severity="{severity}"']})
    # Matching the rulebook's route alone would end there: an alert without a known severity still reaches people.
    child_routes.append({"receiver": names[FALLBACK_SEVERITY]})
    config = {
        "global": {"resolve_timeout": times["resolve_timeout"]},
        "route": {"receiver": names[FALLBACK_SEVERITY], "group_by": ["alertname", "job"],
                  "group_wait": times["group_wait"], "group_interval": times["group_interval"],
                  "repeat_interval": times["repeat_interval"], "routes": child_routes},
        "inhibit_rules": inhibitions(service),
        "receivers": receivers,
    }
    return config, sorted(secrets.values(), key=lambda s: s.path)


def expected_receivers(routes: t.Mapping[str, t.Sequence[str]] | None, severity: str,
                       with_eda: bool = True) -> list[str]:
    """What ``amtool config routes test severity=<P>`` must answer, in Alertmanager's order."""
    table = _routes(routes)
    return ([EDA_RECEIVER] if with_eda else []) + [receiver_name(severity, table[severity])]
