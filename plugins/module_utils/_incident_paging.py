# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Who hears about an incident, and what they are sent.

``plan()`` turns (action, severity, routing table) into a list of messages;
the builders give each channel its real wire format (PagerDuty Events API
v2, a Slack incoming webhook, an e-mail, a Jira-style "create issue" call);
``send()`` delivers them. Secrets (routing key, webhook URL, SMTP password,
ticket token) are only ever read from the ``channels`` mapping at send
time: a planned message names its channel and recipient, never a secret,
and every error message is scrubbed of them.
"""

from __future__ import annotations

import email.message
import json
import smtplib
import typing as t
import urllib.error

from ansible.module_utils.urls import open_url

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)

CHANNELS = ("pagerduty", "slack", "email", "ticket")
# The runbook's "Alert Severity Levels" table: P1 page, P2 email + Slack, P3 Slack, P4 ticket.
DEFAULT_ROUTES: dict[str, list[str]] = {
    "P1": ["pagerduty", "slack"], "P2": ["email", "slack"], "P3": ["slack"], "P4": ["ticket"],
}
PD_SEVERITY = {"P1": "critical", "P2": "error", "P3": "warning", "P4": "info"}
PD_ACTION = {"open": "trigger", "ack": "acknowledge", "resolve": "resolve"}
SECRET_KEYS = ("routing_key", "url", "password", "token", "webhook_url")


class Message(t.NamedTuple):
    channel: str
    recipient: str        # a readable name: "PagerDuty service", "#incidents", an address, a project
    action: str           # trigger / acknowledge / resolve / notify / escalate
    body: dict[str, t.Any]


def _headline(action: str, record: t.Mapping[str, t.Any], note: str = "") -> str:
    verbs = {"open": "OPENED", "ack": "ACKNOWLEDGED", "mitigated": "MITIGATED", "resolve": "RESOLVED",
             "update": "UPDATE", "escalate": "ESCALATED", "reopen": "RE-OPENED"}
    text = f"[{record['severity']}] {verbs.get(action, action.upper())} {record['id']}: {record['title']}"
    return text + (f" — {note}" if note else "")


def pagerduty_event(action: str, record: t.Mapping[str, t.Any], source: str,
                    links: t.Mapping[str, str]) -> dict[str, t.Any]:
    """An Events API v2 body without its routing key (added at send time)."""
    event_action = PD_ACTION.get(action, "trigger")
    body: dict[str, t.Any] = {"event_action": event_action, "dedup_key": record["id"]}
    if event_action == "trigger":
        verdict = record.get("latest_verdict") or {}
        body["payload"] = {
            "summary": f"[{record['severity']}] {record['title']}"[:1024],
            "source": source,
            "severity": PD_SEVERITY[record["severity"]],
            "component": "incident-response",
            "class": "incident",
            "custom_details": {
                "incident_id": record["id"], "state": record["state"], "opened_at": record["opened_at"],
                "latest_verdict": verdict.get("verdict") or "no diagnosis yet",
                "diagnosis_report": verdict.get("report") or "",
                "dashboards": dict(links),
            },
        }
        body["links"] = [{"href": href, "text": name} for name, href in links.items()]
        body["client"] = "platform_eng.incident_response"
    return body


def slack_message(action: str, record: t.Mapping[str, t.Any], channel: str, note: str,
                  links: t.Mapping[str, str]) -> dict[str, t.Any]:
    text = _headline(action, record, note)
    fields = [{"title": "Severity", "value": record["severity"], "short": True},
              {"title": "State", "value": record["state"], "short": True},
              {"title": "Incident", "value": record["id"], "short": True}]
    fields += [{"title": name, "value": href, "short": False} for name, href in links.items()]
    color = "good" if action == "resolve" else ("danger" if record["severity"] in ("P1", "P2") else "warning")
    return {"channel": channel, "username": "incident-response-automation", "text": text,
            "attachments": [{"fallback": text, "color": color, "fields": fields}]}


def email_message(action: str, record: t.Mapping[str, t.Any], to: str, sender: str, note: str,
                  links: t.Mapping[str, str], reason: str = "") -> dict[str, t.Any]:
    lines = [_headline(action, record, note), "",
             f"Incident: {record['id']}", f"Severity: {record['severity']}", f"State: {record['state']}",
             f"Opened: {record['opened_at']}"]
    if reason:
        lines.append(f"Escalation: {reason}")
    lines += ["", *(f"{name}: {href}" for name, href in links.items())]
    return {"to": to, "from": sender, "subject": _headline(action, record), "text": "\n".join(lines) + "\n"}


def ticket_issue(record: t.Mapping[str, t.Any], project: str, note: str,
                 links: t.Mapping[str, str] | None = None) -> dict[str, t.Any]:
    """The body of Jira's ``POST /rest/api/2/issue``."""
    description = (f"{record['title']}\n\nIncident {record['id']}, severity {record['severity']}, opened "
                   f"{record['opened_at']} (response: next business day).\n" + (f"\n{note}\n" if note else "")
                   + "".join(f"\n{name}: {href}" for name, href in (links or {}).items()) + ("\n" if links else ""))
    return {"fields": {"project": {"key": project}, "issuetype": {"name": "Task"},
                       "summary": f"[{record['severity']}] {record['title']}"[:255],
                       "description": description, "priority": {"name": "Low"},
                       "labels": ["incident", record["id"], record["severity"]]}}


def plan(action: str, record: t.Mapping[str, t.Any], routes: t.Mapping[str, t.Sequence[str]],
         channels: t.Mapping[str, t.Mapping[str, t.Any]], links: t.Mapping[str, str], source: str,
         note: str = "", escalation: t.Mapping[str, str] | None = None) -> list[Message]:
    """The messages an action sends, per the routing table. Secrets are not part of a message."""
    routed = list((routes or DEFAULT_ROUTES).get(record["severity"], []))
    unknown = [name for name in routed if name not in CHANNELS]
    if unknown:
        raise IncidentResponseError(f"routing for {record['severity']} names unknown channels {unknown}; "
                                    f"known: {', '.join(CHANNELS)}")
    if action in ("ack", "resolve"):
        # Only the channels that carry a lifecycle: the pager's incident and the chat thread.
        routed = [name for name in routed if name in ("pagerduty", "slack")]
    elif action in ("update", "mitigated"):
        routed = [name for name in routed if name == "slack"]
    elif action == "assign":
        routed = []
    messages: list[Message] = []
    email_conf = channels.get("email", {})
    for name in routed:
        if name == "pagerduty":
            messages.append(Message(name, channels.get(name, {}).get("service", "PagerDuty on-call rotation"),
                                    PD_ACTION.get(action, "trigger"),
                                    pagerduty_event(action, record, source, links)))
        elif name == "slack":
            room = channels.get(name, {}).get("channel", "#incidents")
            messages.append(Message(name, room, action, slack_message(action, record, room, note, links)))
        elif name == "email":
            to = email_conf.get("to", "")
            if escalation and escalation["to"] == to:
                continue  # the escalation mail below goes to the same address
            messages.append(Message(name, to, action,
                                    email_message(action, record, to, email_conf.get("from", ""), note, links)))
        elif name == "ticket" and action in ("open", "escalate"):
            project = channels.get(name, {}).get("project", "OPS")
            messages.append(Message(name, project, "create", ticket_issue(record, project, note, links)))
    if escalation:
        to = escalation["to"]
        messages.append(Message("email", to, "escalate",
                                email_message("escalate", record, to, email_conf.get("from", ""), note, links,
                                              escalation.get("reason", ""))))
    return messages


def plan_escalation(record: t.Mapping[str, t.Any], kind: str, reason: str,
                    routes: t.Mapping[str, t.Sequence[str]], channels: t.Mapping[str, t.Mapping[str, t.Any]],
                    links: t.Mapping[str, str], source: str, contacts: t.Mapping[str, str]) -> list[Message]:
    """A response breach re-notifies the severity's channels and mails the secondary contact; a P1 past the
    executive limit mails the CTO contact and tells the chat channel."""
    if kind == "executive":
        routes = {record["severity"]: [c for c in (routes or DEFAULT_ROUTES).get(record["severity"], [])
                                       if c == "slack"]}
        to = contacts.get("executive", "")
    elif kind == "response_breach":
        to = contacts.get("secondary", "")
    else:
        raise IncidentResponseError(f"unknown escalation {kind!r}")
    if not to:
        raise IncidentResponseError(f"no contact configured for the {kind} escalation")
    return plan("escalate", record, routes, channels, links, source, reason,
                escalation={"to": to, "reason": reason})


def secrets_of(channels: t.Mapping[str, t.Mapping[str, t.Any]]) -> list[str]:
    found = []
    for conf in channels.values():
        for key, value in (conf or {}).items():
            if key in SECRET_KEYS and value and len(str(value)) >= 4:
                found.append(str(value))
    return found


def scrub(text: str, secret_values: t.Iterable[str]) -> str:
    for value in sorted(secret_values, key=len, reverse=True):
        text = text.replace(value, "********")
    return text


def _post_json(url: str, body: t.Mapping[str, t.Any], timeout: float,
               headers: t.Mapping[str, str] | None = None) -> int:
    response = open_url(url, data=json.dumps(body).encode(), method="POST", timeout=timeout,
                        headers={"Content-Type": "application/json", **(headers or {})})
    try:
        return response.status
    finally:
        response.close()


def deliver(message: Message, channels: t.Mapping[str, t.Mapping[str, t.Any]], timeout: float = 10) -> str:
    """Send one message; return a short outcome. Raises on failure (with secrets in the text)."""
    conf = channels.get(message.channel) or {}
    if message.channel == "pagerduty":
        if not conf.get("routing_key") or not conf.get("url"):
            raise IncidentResponseError("PagerDuty needs url and routing_key")
        status = _post_json(conf["url"], {"routing_key": conf["routing_key"], **message.body}, timeout)
        return f"HTTP {status}"
    if message.channel == "slack":
        if not conf.get("webhook_url"):
            raise IncidentResponseError("Slack needs webhook_url")
        return f"HTTP {_post_json(conf['webhook_url'], message.body, timeout)}"
    if message.channel == "ticket":
        if not conf.get("url"):
            raise IncidentResponseError("the ticket channel needs url")
        headers = {"Authorization": f"Bearer {conf['token']}"} if conf.get("token") else {}
        return f"HTTP {_post_json(conf['url'], message.body, timeout, headers)}"
    if message.channel == "email":
        if not conf.get("host") or not message.body["to"]:
            raise IncidentResponseError("e-mail needs host and a recipient")
        mail = email.message.EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = message.body["from"], message.body["to"], message.body["subject"]
        mail.set_content(message.body["text"])
        with smtplib.SMTP(conf["host"], int(conf.get("port", 25)), timeout=timeout) as smtp:
            if conf.get("starttls"):
                smtp.starttls()
            if conf.get("username"):
                smtp.login(conf["username"], conf.get("password", ""))
            refused = smtp.send_message(mail)
        return "accepted" if not refused else f"refused for {sorted(refused)}"
    raise IncidentResponseError(f"unknown channel {message.channel}")


def send(messages: t.Sequence[Message], channels: t.Mapping[str, t.Mapping[str, t.Any]],
         timeout: float = 10) -> list[dict[str, t.Any]]:
    """Deliver every message, each on its own; a failed channel does not stop the others."""
    hidden = secrets_of(channels)
    results = []
    for message in messages:
        outcome: dict[str, t.Any] = {"channel": message.channel, "to": message.recipient, "action": message.action}
        try:
            outcome.update(delivered=True, detail=deliver(message, channels, timeout))
        except (IncidentResponseError, OSError, smtplib.SMTPException, urllib.error.URLError, ValueError) as exc:
            outcome.update(delivered=False, detail=scrub(f"{type(exc).__name__}: {exc}", hidden))
        results.append(outcome)
    return results


def describe(messages: t.Sequence[Message]) -> list[dict[str, t.Any]]:
    """What would be sent to whom, for check mode and the run's output; no secrets in here."""
    return [{"channel": m.channel, "to": m.recipient, "action": m.action, "body": m.body} for m in messages]


def summary_lines(messages: t.Sequence[Message], sent: t.Sequence[t.Mapping[str, t.Any]],
                  check_mode: bool) -> list[str]:
    """One line per message for the run's output: channel, recipient, action, outcome."""
    if check_mode:
        return [f"would send {m.channel} {m.action} to {m.recipient}" for m in messages] or ["would send nothing"]
    return [f"{o['channel']} {o['action']} to {o['to']}: "
            + ("delivered (" + str(o["detail"]) + ")" if o["delivered"] else "NOT delivered: " + str(o["detail"]))
            for o in sent] or ["nothing to send for this action"]
