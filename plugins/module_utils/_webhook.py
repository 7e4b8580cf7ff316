# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""One Slack-compatible webhook event: the payload, and its delivery.

The payload is a Slack incoming-webhook message (``text``, ``channel``,
``username``, ``attachments``) plus the machine-readable ``event`` and
``fields`` that receivers which are not Slack (the lab's, a chat bridge) use.
"""

from __future__ import annotations

import json
import re
import typing as t

OK_STATUSES = (200, 201, 202, 204)
_ALARMING = re.compile(r"fail|roll", re.IGNORECASE)


def payload(text: str, channel: str, username: str, event: str, fields: t.Mapping[str, t.Any],
            dashboards: t.Mapping[str, str] | None = None) -> dict[str, t.Any]:
    """The message; the runbook's dashboards follow the facts as fields a person can click."""
    dashboards = dict(dashboards or {})
    return {
        "text": text,
        "channel": channel,
        "username": username,
        "event": event,
        "fields": dict(fields),
        "dashboards": dashboards,
        "attachments": [{
            "fallback": text,
            "color": "danger" if _ALARMING.search(event) else "good",
            "fields": [{"title": key, "value": value} for key, value in {**fields, **dashboards}.items()],
        }],
    }


def post(url: str, body: t.Mapping[str, t.Any], timeout: float,
         opener: t.Callable[..., t.Any]) -> tuple[int | None, str | None]:
    """POST the event; returns (status, error). The URL is a secret and never appears in the error."""
    data = json.dumps(body).encode("utf-8")
    try:
        response = opener(url, data=data, method="POST", headers={"Content-Type": "application/json"},
                          timeout=timeout)
        status = response.getcode()
        response.read()
    except Exception as exc:  # noqa: BLE001 - every failure becomes "not delivered", never a crash
        status = getattr(exc, "code", None)
        reason = getattr(exc, "reason", None) or type(exc).__name__
        return status, f"{type(exc).__name__}: {reason}".replace(url, "<webhook url>")
    if status not in OK_STATUSES:
        return status, f"HTTP {status}"
    return status, None
