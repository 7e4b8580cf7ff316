# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests for _k8s_selector: label selectors as kubectl -l reads them."""

from __future__ import annotations

import pytest

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _k8s_selector


@pytest.mark.parametrize("text, labels, matches", [
    ("app=incident-response", {"app": "incident-response"}, True),
    ("app==incident-response", {"app": "incident-response"}, True),
    ("app=incident-response", {"app": "other"}, False),
    ("app!=other", {"app": "incident-response"}, True),
    ("app!=other", {}, True),  # != matches objects without the label, as the API server does
    ("tier in (web, api)", {"tier": "api"}, True),
    ("tier in (web,api)", {"tier": "db"}, False),
    ("tier notin (web,api)", {}, True),
    ("app,tier in (web,api)", {"app": "x", "tier": "web"}, True),
    ("app,!canary", {"app": "x", "canary": "true"}, False),
    ("app.kubernetes.io/name=api", {"app.kubernetes.io/name": "api"}, True),
    ("", {"app": "x"}, True),
])
def test_selector_semantics(text: str, labels: dict[str, str], matches: bool) -> None:
    pod = {"metadata": {"name": "web-1", "labels": labels}}
    assert _k8s_selector.selector_matches(_k8s_selector.parse_selector(text), pod) is matches


def test_pod_without_labels_matches_only_negative_terms() -> None:
    pod = {"metadata": {"name": "bare"}}
    assert _k8s_selector.selector_matches(_k8s_selector.parse_selector("!app"), pod) is True
    assert _k8s_selector.selector_matches(_k8s_selector.parse_selector("app"), pod) is False


@pytest.mark.parametrize("text", ["app=a,,b=c", "app in web", "=x", "app=x y", "app in (a b)"])
def test_bad_selectors_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="term"):
        _k8s_selector.parse_selector(text)


def test_empty_label_value_is_a_valid_selector() -> None:
    assert _k8s_selector.parse_selector("app=") == [_k8s_selector.Requirement("app", "=", ("",))]
