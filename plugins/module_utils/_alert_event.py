# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""One Alertmanager alert, from the Event-Driven Ansible rulebook, turned into values the automation may use.

An alert's labels and annotations come from outside: whoever can post to the
rulebook's webhook writes them. So ``validate`` keeps only what the automation
needs, each checked against a rule, and refuses the whole alert when one of
them breaks it or when any label carries shell metacharacters or control
characters (the collection's own rules never produce those):

- the alert name must be one the collection ships (``_alert_rules`` is the
  one list) and its ``service`` label the inventory's service;
- a per-instance alert needs an ``instance`` that is ``host:port`` of an app
  host of the inventory, a service-wide one has none;
- ``severity`` P1..P4, ``status`` firing or resolved, a 16-hex-digit
  ``fingerprint``, RFC 3339 times.

Annotations are never used (the summary and title are the catalogue's own
words), nor are other labels; ``ignored`` says which were left out.

``incident_plan`` and ``rollback_plan`` decide the rest in Python: which
incident an alert joins, whether it runs a diagnosis, and whether a rollback
may follow it.
"""

from __future__ import annotations

import datetime
import re
import typing as t

from ansible_collections.platform_eng.incident_response.plugins.module_utils._alert_rules import (
    SEVERITIES,
    alert_names,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    CRITICAL,
    IncidentResponseError,
)

REFUSED = "Refused alert, nothing runs with it: "
STATUSES = ("firing", "resolved")
USED_LABELS = ("alertname", "severity", "service", "instance")
_UNSAFE = re.compile(r"[$`;|&<>\\\"'{}\x00-\x1f\x7f]")
_INSTANCE = re.compile(r"(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?):(?P<port>[0-9]{1,5})")
_FINGERPRINT = re.compile(r"[0-9a-f]{16}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")
MAX_LABEL = 256
# Alertmanager's "not ended yet".
ZERO_TIME = "0001-01-01T00:00:00Z"
# Alertmanager pages per severity; an alert-driven incident action posts to chat only, so nobody is paged twice.
CHAT_CHANNELS = ("slack",)


def _single_alert(ansible_eda: t.Any) -> dict[str, t.Any]:
    """The alert in the event: split by eda.builtin.event_splitter, or a webhook payload carrying exactly one."""
    if not isinstance(ansible_eda, t.Mapping) or not isinstance(ansible_eda.get("event"), t.Mapping):
        raise IncidentResponseError(REFUSED + "no alert event (this playbook runs from ansible-rulebook, which "
                                    "passes the alert as ansible_eda.event)")
    event = ansible_eda["event"]
    if "labels" in event:
        return dict(event)
    payload = event.get("payload")
    alerts = payload.get("alerts") if isinstance(payload, t.Mapping) else None
    if not isinstance(alerts, list):
        raise IncidentResponseError(REFUSED + "the event is not an Alertmanager alert (no labels, no payload.alerts)")
    if len(alerts) != 1 or not isinstance(alerts[0], t.Mapping):
        raise IncidentResponseError(REFUSED + f"the notification carries {len(alerts)} alerts; the rulebook splits "
                                    "them (eda.builtin.event_splitter on payload.alerts) so each is judged alone")
    return dict(alerts[0])


def _time(value: t.Any, name: str, problems: list[str], required: bool = True) -> str:
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        # AWX writes extra vars as YAML with !unsafe, and ansible's loader turns such a timestamp into a datetime.
        value = value.astimezone(datetime.timezone.utc).isoformat().replace("+00:00", "Z")
    if value in (None, "", ZERO_TIME) and not required:
        return ""
    if not isinstance(value, str) or not _TIME.fullmatch(value):
        problems.append(f"{name} is not an RFC 3339 time")
        return ""
    return value


def validate(ansible_eda: t.Any, service: str, app_hosts: t.Mapping[str, str], app_port: int,
             routes: t.Mapping[str, t.Sequence[str]] | None = None) -> dict[str, t.Any]:
    """The alert's validated values, or IncidentResponseError listing every reason it is refused."""
    alert = _single_alert(ansible_eda)
    labels = alert.get("labels")
    problems: list[str] = []
    if not isinstance(labels, t.Mapping) or not labels:
        raise IncidentResponseError(REFUSED + "the alert has no labels")
    for key, value in labels.items():
        if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", key):
            problems.append("a label name is not a Prometheus label name")
        elif not isinstance(value, str) or len(value) > MAX_LABEL:
            problems.append(f"label {key} is not a string of at most {MAX_LABEL} characters")
        elif _UNSAFE.search(value):
            problems.append(f"label {key} carries shell metacharacters, quotes, braces or control characters")
    if problems:
        raise IncidentResponseError(REFUSED + "; ".join(problems))

    catalogue = alert_names(service)
    name = labels.get("alertname", "")
    spec = catalogue.get(name)
    if spec is None:
        problems.append(f"alertname {name!r} is not an alert this collection ships "
                        f"({', '.join(sorted(catalogue))})")
    if labels.get("service") != service:
        problems.append(f"label service is {labels.get('service')!r}, not {service!r}")
    severity = labels.get("severity", "")
    if severity not in SEVERITIES:
        problems.append(f"label severity {severity!r} is not one of {', '.join(SEVERITIES)}")
    status = alert.get("status")
    if status not in STATUSES:
        problems.append(f"status {status!r} is neither firing nor resolved")
    fingerprint = alert.get("fingerprint")
    if not isinstance(fingerprint, str) or not _FINGERPRINT.fullmatch(fingerprint):
        problems.append("fingerprint is not 16 hexadecimal digits")
    starts_at = _time(alert.get("startsAt"), "startsAt", problems)
    ends_at = _time(alert.get("endsAt"), "endsAt", problems, required=False)

    instance, host = labels.get("instance", ""), ""
    if spec is not None and spec.per_instance:
        match = _INSTANCE.fullmatch(instance)
        if not match:
            problems.append(f"label instance {instance!r} is not host:port")
        else:
            host = next((name_ for name_, address in sorted(app_hosts.items())
                         if match.group("host") in (name_, address) and int(match.group("port")) == int(app_port)), "")
            if not host:
                problems.append(f"instance {instance} is not an app host of this inventory "
                                f"({', '.join(sorted(app_hosts)) or 'none'} on port {app_port})")
    elif spec is not None and instance:
        problems.append(f"{name} is service-wide and carries no instance, got {instance!r}")
    if problems:
        raise IncidentResponseError(REFUSED + "; ".join(problems))

    spec = t.cast(t.Any, spec)
    where = f"{host} ({instance})" if host else service
    table = routes or {}
    ignored = sorted(k for k in labels if k not in USED_LABELS) + (["annotations"] if alert.get("annotations") else [])
    return {
        "name": name, "key": spec.key, "title": spec.title, "status": status, "severity": severity,
        "instance": instance, "host": host, "fingerprint": fingerprint, "starts_at": starts_at,
        "ends_at": ends_at, "diagnose": spec.diagnose or "", "where": where,
        "ignored": ignored,
        # The incident's own messages for this alert: chat only, Alertmanager already paged per severity.
        "incident_routes": {sev: [c for c in table.get(sev, []) if c in CHAT_CHANNELS] for sev in SEVERITIES},
    }


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity)


def incident_plan(alert: t.Mapping[str, t.Any], open_incidents: t.Sequence[t.Mapping[str, t.Any]]) -> dict[str, t.Any]:
    """Which incident the alert joins, what is written there, and whether a diagnosis runs.

    An alert joins the newest open incident of its severity or a higher one; a more severe alert than every
    open incident opens its own, so a P1 never hides in a P4's ticket. A resolved alert is a timeline event
    in that incident, and nothing when there is none.
    """
    joinable = sorted((i for i in open_incidents if i.get("severity") in SEVERITIES
                       and _rank(i["severity"]) <= _rank(alert["severity"])),
                      key=lambda i: str(i.get("opened_at", "")), reverse=True)
    target = joinable[0] if joinable else None
    label = f"{alert['name']} ({alert['severity']}) on {alert['where']}"
    if alert["status"] == "resolved":
        if target is None:
            return {"action": "none", "incident_id": "", "diagnose": "",
                    "reason": f"{label} resolved; no open incident of its severity or higher to record it in"}
        return {"action": "event", "incident_id": target["id"], "diagnose": "", "kind": "alert_resolved",
                "summary": f"Alert resolved: {label}" + (f" at {alert['ends_at']}" if alert["ends_at"] else ""),
                "refs": {"alert": alert["name"], "fingerprint": alert["fingerprint"], "instance": alert["instance"]}}
    note = f"Alert firing: {label} since {alert['starts_at']}"
    if target is None:
        return {"action": "open", "incident_id": "", "severity": alert["severity"],
                "title": f"{alert['title']} on {alert['where']}: {alert['name']}"[:200],
                "note": note[:500], "diagnose": alert["diagnose"]}
    return {"action": "update", "incident_id": target["id"], "severity": "", "title": "", "note": note[:500],
            "diagnose": alert["diagnose"]}


def rollback_plan(alert: t.Mapping[str, t.Any], enabled: bool, report: t.Mapping[str, t.Any] | None,
                  timeline: t.Sequence[t.Mapping[str, t.Any]], incident_id: str) -> dict[str, t.Any]:
    """Whether the alert-driven run rolls back, and the verdict line that says so.

    Only when automatic rollback is enabled, the alert still fires, the diagnosis recommends a rollback as
    critical (a recent deploy with errors above the runbook's limit and no dead database; with the cache
    down it is only a warning), and no rollback has run in this incident yet: a second one would go past
    the last good release.
    """
    report = report or {}
    verdict = (report.get("verdict") or {}).get("headline") or "no verdict (the diagnosis did not report)"
    advice = [r for r in report.get("recommendations") or [] if isinstance(r, t.Mapping)]
    rollback = next((r for r in advice if r.get("id") == "rollback"), None)
    top = advice[0].get("summary") if advice else ""

    def decided(do: bool, why: str) -> dict[str, t.Any]:
        note = f"Diagnosis of {alert['name']} on {alert['where']}: {verdict}"
        if top:
            note += f" Recommended: {top}."
        note += f" Automatic rollback: {why}."
        return {"rollback": do, "reason": why, "note": note[:500]}

    if alert["status"] != "firing":
        return decided(False, "not for a resolved alert")
    if rollback is None:
        return decided(False, "not recommended by the diagnosis")
    if rollback.get("severity") != CRITICAL:
        return decided(False, f"not now, the diagnosis recommends it only conditionally ({rollback.get('summary')})")
    done = [e for e in timeline if str(e.get("kind", "")).startswith("rollback")]
    if done:
        return decided(False, f"a rollback already ran in {incident_id} ({done[-1].get('kind')} at "
                              f"{done[-1].get('at')}); another would go past the last good release, a person decides")
    if not enabled:
        return decided(False, "off (alert_auto_rollback); a person decides: ansible-playbook playbooks/rollback.yml")
    return decided(True, "starting, as the diagnosis recommends (playbooks/rollback.yml's flow, with the deploy lock)")
