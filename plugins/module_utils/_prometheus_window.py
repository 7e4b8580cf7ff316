# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Prometheus ``/metrics`` text and what changed between two scrapes of it.

``parse_metrics`` keeps the request counter, the duration histogram buckets
and the process start time; ``metrics_window`` turns two scrapes into the
request count, the 5xx share and the P95 latency of the time between them,
or a reason why it cannot (a restart, no traffic, a missing metric).

``prometheus_client`` parses the text format; it is optional, so the HTTP
probes still run on a bare bastion when metrics are not requested.
"""

from __future__ import annotations

import dataclasses
import math
import traceback
import typing as t

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    text_string_to_metric_families = None  # type: ignore[assignment]
    PROMETHEUS_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    PROMETHEUS_IMPORT_ERROR = None

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import IncidentResponseError
from ansible_collections.platform_eng.incident_response.plugins.module_utils._prerequisites import missing_library

SeriesKey = t.Tuple[t.Tuple[str, str], ...]


@dataclasses.dataclass(frozen=True)
class MetricsSettings:
    window: float = 0.0
    requests_metric: str = "http_requests_total"
    code_label: str = "code"
    duration_metric: str = "http_request_duration_seconds"


@dataclasses.dataclass
class Scrape:
    """The counters one ``/metrics`` answer held, keyed by their label set."""

    taken_at: float
    requests: dict[SeriesKey, float]
    buckets: dict[SeriesKey, float]
    start_time: float | None = None


@dataclasses.dataclass
class MetricsWindow:
    """What happened between two scrapes; ``None`` values carry a reason."""

    window_seconds: float
    requests: float | None = None
    requests_5xx: float | None = None
    error_rate_5xx: float | None = None
    error_rate_reason: str | None = None
    observations: float | None = None
    latency_p95_ms: float | None = None
    latency_reason: str | None = None
    restarted: bool = False
    origin: str | None = None  # where the numbers come from when not two scrapes ("Prometheus")


def parse_metrics(text: str, settings: MetricsSettings, taken_at: float = 0.0) -> Scrape:
    """Keep the request counter, the duration buckets and the process start time."""
    if text_string_to_metric_families is None:
        raise IncidentResponseError(missing_library("prometheus_client", needed_for="to read /metrics"))
    request_names = {settings.requests_metric, settings.requests_metric + "_total"}
    bucket_name = settings.duration_metric + "_bucket"
    scrape = Scrape(taken_at, {}, {})
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                key = tuple(sorted(sample.labels.items()))
                if sample.name in request_names:
                    scrape.requests[key] = float(sample.value)
                elif sample.name == bucket_name and "le" in sample.labels:
                    scrape.buckets[key] = float(sample.value)
                elif sample.name == "process_start_time_seconds":
                    scrape.start_time = float(sample.value)
    except ValueError as exc:
        raise IncidentResponseError(f"unparsable Prometheus text: {exc}") from None
    return scrape


def _render(key: SeriesKey) -> str:
    return "{" + ",".join(f'{name}="{value}"' for name, value in key) + "}"


def _deltas(
    metric: str, before: dict[SeriesKey, float], after: dict[SeriesKey, float]
) -> tuple[dict[SeriesKey, float], list[str]]:
    """Per-series increase, and evidence of any counter reset.

    A series that appears only in the second scrape started from zero inside
    the window (labelled counters appear on first use). A counter that went
    down or disappeared means the process restarted: a rate computed across
    that would be garbage, so it is reported instead.
    """
    deltas: dict[SeriesKey, float] = {}
    resets: list[str] = []
    for key, value in after.items():
        previous = before.get(key, 0.0)
        if value < previous:
            resets.append(f"{metric}{_render(key)} went from {previous:g} to {value:g}")
        deltas[key] = value - previous
    for key in before.keys() - after.keys():
        resets.append(f"{metric}{_render(key)} disappeared")
    return deltas, resets


def metrics_window(first: Scrape, second: Scrape, settings: MetricsSettings) -> MetricsWindow:
    """The request count, 5xx share (percent) and P95 (ms) between two scrapes."""
    result = MetricsWindow(window_seconds=round(second.taken_at - first.taken_at, 3))
    requests, resets = _deltas(settings.requests_metric, first.requests, second.requests)
    buckets, bucket_resets = _deltas(settings.duration_metric + "_bucket", first.buckets, second.buckets)
    resets += bucket_resets
    if first.start_time is not None and second.start_time is not None and first.start_time != second.start_time:
        resets.insert(0, f"process_start_time_seconds changed from {first.start_time:g} to {second.start_time:g}")
    if resets:
        reason = "counter reset between scrapes (restart?): " + "; ".join(resets[:3])
        result.restarted = True
        result.error_rate_reason = result.latency_reason = reason
        return result

    if not first.requests and not second.requests:
        result.error_rate_reason = f"metric {settings.requests_metric} not found"
    else:
        result.requests = sum(requests.values(), 0.0)
        result.requests_5xx = sum(
            (delta for key, delta in requests.items() if dict(key).get(settings.code_label, "").startswith("5")), 0.0
        )
        if result.requests <= 0:
            result.error_rate_reason = f"no requests in the {result.window_seconds:g} s window"
        else:
            result.error_rate_5xx = round(100.0 * result.requests_5xx / result.requests, 4)

    if not first.buckets and not second.buckets:
        result.latency_reason = f"histogram {settings.duration_metric} not found"
        return result
    by_bound: dict[float, float] = {}
    for key, delta in buckets.items():
        bound = float(dict(key)["le"])
        by_bound[bound] = by_bound.get(bound, 0.0) + delta
    result.observations = by_bound.get(math.inf)
    quantile = histogram_quantile(0.95, by_bound.items())
    if quantile is None:
        result.latency_reason = (
            f"no observations in the {result.window_seconds:g} s window"
            if result.observations is not None
            else f"histogram {settings.duration_metric} has no +Inf bucket"
        )
    else:
        result.latency_p95_ms = round(quantile * 1000.0, 3)
    return result


def histogram_quantile(q: float, buckets: t.Iterable[tuple[float, float]]) -> float | None:
    """Prometheus ``histogram_quantile`` over cumulative ``(le, count)`` buckets.

    As in Prometheus: find the bucket where the rank ``q * total`` falls and
    interpolate linearly inside it, assuming observations spread evenly
    between its lower and upper bound (the first bucket starts at 0). A rank
    in the +Inf bucket returns the highest finite bound. No observations,
    or no +Inf bucket, gives None: there is nothing to estimate from.
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile {q} outside [0, 1]")
    ordered = sorted(buckets)
    if len(ordered) < 2 or not math.isinf(ordered[-1][0]):
        return None
    # Scrapes are not atomic; like Prometheus, force cumulative counts to be monotonic.
    monotonic: list[tuple[float, float]] = []
    highest = 0.0
    for upper, count in ordered:
        highest = max(highest, count)
        monotonic.append((upper, highest))
    total = monotonic[-1][1]
    if total <= 0:
        return None
    wanted = q * total
    last = len(monotonic) - 1
    index = next(i for i, (_bound, count) in enumerate(monotonic) if count >= wanted or i == last)
    if index == len(monotonic) - 1:
        return monotonic[-2][0]
    upper, count = monotonic[index]
    if index == 0 and upper <= 0:
        return upper
    lower, below = (0.0, 0.0) if index == 0 else monotonic[index - 1]
    in_bucket = count - below
    if in_bucket <= 0:
        return lower
    return lower + (upper - lower) * (wanted - below) / in_bucket
