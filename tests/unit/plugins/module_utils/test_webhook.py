# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy notification's payload and delivery (the URL is a secret)."""

from __future__ import annotations

import json
import urllib.error

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _webhook as webhook

URL = "https://hooks.example.com/services/T000/B000/s3cr3t"


class Answer:
    def __init__(self, code):
        self.code = code

    def getcode(self):
        return self.code

    def read(self):
        return b"ok"


def test_payload_is_slack_shaped_and_alarming_events_are_red():
    body = webhook.payload("Deploy of v1.2.3 FAILED", "#deployments", "bot", "deploy_failed", {"version": "v1.2.3"})
    assert body["text"] == "Deploy of v1.2.3 FAILED" and body["event"] == "deploy_failed"
    assert body["attachments"][0]["color"] == "danger"
    assert body["attachments"][0]["fields"] == [{"title": "version", "value": "v1.2.3"}]
    assert webhook.payload("ok", "#d", "bot", "deploy_succeeded", {})["attachments"][0]["color"] == "good"


def test_dashboards_follow_the_facts_as_clickable_fields():
    body = webhook.payload("t", "#d", "bot", "deploy_succeeded", {"version": "v1.2.3"},
                           {"Grafana": "https://grafana.example.com/d/incident-response"})
    assert body["dashboards"] == {"Grafana": "https://grafana.example.com/d/incident-response"}
    assert body["attachments"][0]["fields"][-1] == {"title": "Grafana",
                                                    "value": "https://grafana.example.com/d/incident-response"}


def test_post_sends_json_and_reports_delivery():
    sent = {}

    def opener(url, **kwargs):
        sent.update(url=url, **kwargs)
        return Answer(200)

    assert webhook.post(URL, {"text": "hi"}, 5, opener) == (200, None)
    assert json.loads(sent["data"]) == {"text": "hi"} and sent["method"] == "POST"


def test_a_failure_never_shows_the_url():
    def refused(url, **kwargs):
        raise urllib.error.URLError(f"could not reach {url}")

    status, error = webhook.post(URL, {}, 5, refused)
    assert status is None and "s3cr3t" not in error and "URLError" in error

    def server_error(url, **kwargs):
        raise urllib.error.HTTPError(url, 500, "boom", {}, None)

    status, error = webhook.post(URL, {}, 5, server_error)
    assert status == 500 and "s3cr3t" not in error
    assert webhook.post(URL, {}, 5, lambda url, **kw: Answer(302)) == (302, "HTTP 302")
