# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The 5xx ratio and P95 of a window, asked of Prometheus instead of measured by two scrapes.

Prometheus already holds the runbook's window ("5xx > 5 % over 5 minutes"),
so a diagnosis or a deploy watch asks it once instead of sleeping through a
window of its own: ``increase()`` of the request counter (all codes, and
5xx) and of the histogram's ``+Inf`` bucket, and ``histogram_quantile(0.95,
...)`` over the bucket rates, each grouped by ``instance``. Counter resets
(restarts) are Prometheus's to correct. The answer is a ``MetricsWindow``
per instance, the shape the ``/metrics`` scrapes give, so the findings are
the same either way.

Instances are matched in Python, never pasted into PromQL: a target's
address is data, not query text.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import ssl
import typing as t
import urllib.error
import urllib.parse
import urllib.request

from ansible_collections.platform_eng.incident_response.plugins.module_utils._alert_rules import (
    duration_seconds,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._fanout import describe_error
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._prometheus_window import (
    MetricsSettings,
    MetricsWindow,
)

MAX_ANSWER_BYTES = 8 * 1024 * 1024
_MATCHERS = re.compile(r'(\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(=|!=|=~|!~)\s*"(?:[^"\\\n]|\\.)*"\s*,?)*')
ORIGIN = "Prometheus"


@dataclasses.dataclass(frozen=True)
class PrometheusSource:
    url: str
    window: str = "5m"
    selector: str = ""
    timeout: float = 5.0

    def __post_init__(self) -> None:
        parts = urllib.parse.urlsplit(self.url or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise IncidentResponseError(f"prometheus_url: {self.url!r} is not an http:// or https:// URL")
        if parts.username or parts.password:
            raise IncidentResponseError("prometheus_url: credentials in the URL are not supported")
        duration_seconds(self.window, "prometheus_window")
        if not _MATCHERS.fullmatch(self.selector or ""):
            raise IncidentResponseError(f"prometheus_selector must be PromQL label matchers such as "
                                        f'job="incident-response", got {self.selector!r}')

    @property
    def window_seconds(self) -> float:
        return duration_seconds(self.window, "prometheus_window")


def instance_of(url: str) -> str:
    """The ``instance`` label Prometheus gives a target scraped at this URL's host and port."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}" if parts.hostname else ""


def _open(url: str, timeout: float, tls: ssl.SSLContext | None) -> t.Any:
    # No proxy from the environment: a health check must see Prometheus itself, as it sees the endpoints.
    handlers: list[t.Any] = [urllib.request.ProxyHandler({})]
    if tls is not None:
        handlers.append(urllib.request.HTTPSHandler(context=tls))
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    return urllib.request.build_opener(*handlers).open(request, timeout=timeout)


def query(source: PrometheusSource, promql: str, tls: ssl.SSLContext | None = None) -> list[tuple[dict[str, str], float]]:
    """One instant query: ``[(labels, value), ...]``. Raises IncidentResponseError saying where and why."""
    url = source.url.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    try:
        response = _open(url, source.timeout, tls)
        try:
            body = response.read(MAX_ANSWER_BYTES + 1)
        finally:
            response.close()
    except urllib.error.HTTPError as exc:  # 400 and 422 carry Prometheus's own error document
        body = exc.read(MAX_ANSWER_BYTES + 1)
        exc.close()
    except Exception as exc:  # noqa: BLE001 - any failure becomes one error message  # pylint: disable=broad-except
        raise IncidentResponseError(f"Prometheus at {source.url} did not answer the query: "
                                    f"{describe_error(exc)}") from None
    try:
        answer = json.loads(body) if len(body) <= MAX_ANSWER_BYTES else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise IncidentResponseError(f"Prometheus at {source.url} answered something that is not its JSON API")
    if answer.get("status") != "success":
        raise IncidentResponseError(f"Prometheus at {source.url} refused the query: "
                                    f"{answer.get('errorType')}: {answer.get('error')}")
    data = answer.get("data") or {}
    if data.get("resultType") != "vector":
        raise IncidentResponseError(f"Prometheus at {source.url} answered a {data.get('resultType')}, not a vector")
    rows = []
    for item in data.get("result") or []:
        try:
            rows.append((dict(item.get("metric") or {}), float(item["value"][1])))
        except (KeyError, IndexError, TypeError, ValueError):
            continue
    return rows


def _selector(source: PrometheusSource, *extra: str) -> str:
    matchers = [m.strip().rstrip(",") for m in (source.selector, *extra) if m and m.strip()]
    return "{" + ",".join(matchers) + "}"


def queries(source: PrometheusSource, settings: MetricsSettings) -> dict[str, str]:
    """The PromQL for a window, by what it measures."""
    window = source.window
    requests, buckets = settings.requests_metric, settings.duration_metric + "_bucket"
    errors = _selector(source, settings.code_label + '=~"5.."')
    everything = _selector(source, 'le="+Inf"')
    return {
        "requests": f"sum by (instance) (increase({requests}{_selector(source)}[{window}]))",
        "errors": f"sum by (instance) (increase({requests}{errors}[{window}]))",
        "observations": f"sum by (instance) (increase({buckets}{everything}[{window}]))",
        "p95": f"histogram_quantile(0.95, sum by (instance, le) (rate({buckets}{_selector(source)}[{window}])))",
        "up": f"max by (instance) (up{_selector(source)})",
    }


def _by_instance(rows: list[tuple[dict[str, str], float]]) -> dict[str, float]:
    return {labels.get("instance", ""): value for labels, value in rows}


def windows(source: PrometheusSource, instances: t.Sequence[str], settings: MetricsSettings = MetricsSettings(),
            tls: ssl.SSLContext | None = None) -> dict[str, MetricsWindow]:
    """A ``MetricsWindow`` per instance asked for. Raises IncidentResponseError when Prometheus cannot answer."""
    answers = {name: _by_instance(query(source, promql, tls))
               for name, promql in queries(source, settings).items()}
    seconds = source.window_seconds
    result = {}
    for instance in instances:
        window = MetricsWindow(window_seconds=seconds, origin=ORIGIN)
        up = answers["up"].get(instance)
        if instance not in answers["requests"]:
            why = ("Prometheus has no target with this instance (is it scraped?)" if up is None else
                   "its scrapes fail (up == 0)" if up == 0 else f"no {settings.requests_metric} series")
            window.error_rate_reason = f"no request data for {instance} in the last {source.window}: {why}"
        else:
            window.requests = round(answers["requests"][instance], 3)
            window.requests_5xx = round(answers["errors"].get(instance, 0.0), 3)
            if window.requests <= 0:
                window.error_rate_reason = f"no requests in the {seconds:g} s window"
            else:
                window.error_rate_5xx = round(100.0 * window.requests_5xx / window.requests, 4)
        observations = answers["observations"].get(instance)
        p95 = answers["p95"].get(instance)
        window.observations = None if observations is None else round(observations, 3)
        if p95 is None or math.isnan(p95) or math.isinf(p95):
            window.latency_reason = (f"no observations in the {seconds:g} s window" if observations is not None
                                     else f"histogram {settings.duration_metric} not found for {instance} in the "
                                          f"last {source.window}")
        else:
            window.latency_p95_ms = round(p95 * 1000.0, 3)
        result[instance] = window
    return result
