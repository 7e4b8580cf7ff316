# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""CloudWatch metrics over a window, judged against thresholds, and log searches that count.

Ratios ("5xx > 5 % of requests") are computed here from two plain
statistics fetched in the same call, not with CloudWatch metric math: the
arithmetic is then the same everywhere, and the numerator and denominator
are returned as evidence.
"""

from __future__ import annotations

import dataclasses
import datetime
import heapq
import math
import re
import typing as t

from ansible_collections.platform_eng.incident_response.plugins.module_utils._aws import (
    AwsCallError,
    AwsSession,
    AwsSettings,
    call,
    iso,
    paginate,
    utcnow,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._fanout import fan_out
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    CRITICAL,
    OK,
    UNKNOWN,
    WARN,
    Finding,
    IncidentResponseError,
    compare,
    summarize,
)

_STATISTIC = re.compile(r"^(SampleCount|Average|Sum|Minimum|Maximum|p(100|\d{1,2}(\.\d{1,2})?))$")
_COUNTING = ("Sum", "SampleCount")
MAX_QUERIES_PER_CALL = 500
REMEDIATION_METRIC = (
    "The metric is past its threshold: follow the runbook alert it belongs to "
    "('High Error Rate' for 5xx, 'High Latency' for P95)."
)
REMEDIATION_NO_DATA = (
    "No datapoints in the window: check the namespace, metric name and dimensions "
    "(they are case-sensitive) and that the resource is sending metrics."
)
REMEDIATION_LOGS = (
    "Read the sample lines and the busiest streams for the cause; runbook 'High Error Rate': "
    "check for recent deployments and roll back a bad release."
)


# --- metric plumbing (also used by the RDS check) -----------------------------


@dataclasses.dataclass
class Series:
    """One statistic per period over a window, oldest first."""

    timestamps: list[datetime.datetime] = dataclasses.field(default_factory=list)
    values: list[float] = dataclasses.field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.values)

    def mean(self) -> float | None:
        return sum(self.values) / len(self.values) if self.values else None

    def maximum(self) -> float | None:
        return max(self.values) if self.values else None

    def minimum(self) -> float | None:
        return min(self.values) if self.values else None

    def latest(self) -> float | None:
        return self.values[-1] if self.values else None

    def aggregate(self, statistic: str) -> float | None:
        """Combine per-period values into one value for the whole window.

        Counts add up; averages average; extremes take the extreme. A
        percentile cannot be rebuilt from per-period percentiles, so the
        worst period stands in for it (use one period per window to get the
        real one, which is the default).
        """
        if not self.values:
            return None
        if statistic in _COUNTING:
            return sum(self.values)
        if statistic == "Average":
            return self.mean()
        if statistic == "Minimum":
            return self.minimum()
        return self.maximum()


def metric_window(now: datetime.datetime, minutes: float) -> tuple[datetime.datetime, datetime.datetime]:
    """``[end - minutes, end)`` with ``end`` on a whole minute, as CloudWatch aligns datapoints."""
    if minutes <= 0:
        raise IncidentResponseError(f"window_minutes must be more than 0, got {minutes:g}")
    end = now.replace(second=0, microsecond=0)
    return end - datetime.timedelta(minutes=minutes), end


def metric_query(
    query_id: str, namespace: str, metric_name: str, dimensions: t.Mapping[str, t.Any], statistic: str, period: int
) -> dict[str, t.Any]:
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {
                "Namespace": namespace,
                "MetricName": metric_name,
                "Dimensions": [{"Name": str(k), "Value": str(v)} for k, v in sorted(dimensions.items())],
            },
            "Period": period,
            "Stat": statistic,
        },
        "ReturnData": True,
    }


def fetch_series(
    session: AwsSession,
    queries: list[dict[str, t.Any]],
    start: datetime.datetime,
    end: datetime.datetime,
    resource: str,
) -> dict[str, Series]:
    """Run GetMetricData for ``queries`` (paginated, 500 queries a call); a series per query id."""
    found: dict[str, Series] = {q["Id"]: Series() for q in queries}
    for offset in range(0, len(queries), MAX_QUERIES_PER_CALL):
        chunk = queries[offset : offset + MAX_QUERIES_PER_CALL]
        for page in paginate(
            session,
            "cloudwatch",
            "get_metric_data",
            "get metric data for",
            resource,
            "cloudwatch:GetMetricData",
            MetricDataQueries=chunk,
            StartTime=start,
            EndTime=end,
            ScanBy="TimestampAscending",
        ):
            for result in page.get("MetricDataResults", []):
                series = found[result["Id"]]
                for stamp, value in zip(result.get("Timestamps", []), result.get("Values", [])):
                    if value is not None and not math.isnan(value):
                        series.timestamps.append(stamp)
                        series.values.append(float(value))
    for series in found.values():
        pairs = sorted(zip(series.timestamps, series.values), key=lambda pair: pair[0])
        series.timestamps = [p[0] for p in pairs]
        series.values = [p[1] for p in pairs]
    return found


def judge(value: float | None, warn: float | None, critical: float | None, comparison: str) -> str:
    """``compare`` for either direction: greater_than (higher is worse) or less_than."""
    if comparison == "less_than":
        return compare(
            None if value is None else -value, None if warn is None else -warn, None if critical is None else -critical
        )
    return compare(value, warn, critical)


# --- cloudwatch_metric_info ---------------------------------------------------


@dataclasses.dataclass
class MetricCheck:
    name: str
    namespace: str
    metric_name: str
    dimensions: dict[str, str]
    statistic: str
    divide_by: str | None = None
    multiplier: float = 1.0
    unit: str | None = None
    warn_threshold: float | None = None
    critical_threshold: float | None = None
    comparison: str = "greater_than"
    missing_data: str = UNKNOWN

    @property
    def target(self) -> str:
        dims = ",".join(f"{k}={v}" for k, v in sorted(self.dimensions.items()))
        metric = f"{self.metric_name}/{self.divide_by}" if self.divide_by else self.metric_name
        return f"{self.namespace}:{metric}" + (f"{{{dims}}}" if dims else "")


def parse_checks(raw_checks: t.Sequence[t.Mapping[str, t.Any]]) -> list[MetricCheck]:
    if not raw_checks:
        raise IncidentResponseError("metrics must list at least one metric to check")
    checks = []
    for index, raw in enumerate(raw_checks):
        statistic = str(raw.get("statistic") or "Average")
        if not _STATISTIC.match(statistic):
            raise IncidentResponseError(
                f"metrics[{index}].statistic must be SampleCount, Average, Sum, Minimum, Maximum "
                f"or a percentile such as p95 or p99.9, got {statistic!r}"
            )
        name = raw.get("name") or f"metric_{raw['metric_name']}"
        checks.append(
            MetricCheck(
                name=str(name),
                namespace=str(raw["namespace"]),
                metric_name=str(raw["metric_name"]),
                dimensions={str(k): str(v) for k, v in (raw.get("dimensions") or {}).items()},
                statistic=statistic,
                divide_by=raw.get("divide_by") or None,
                multiplier=float(given if (given := raw.get("multiplier")) is not None else 1.0),
                unit=raw.get("unit"),
                warn_threshold=raw.get("warn_threshold"),
                critical_threshold=raw.get("critical_threshold"),
                comparison=str(raw.get("comparison") or "greater_than"),
                missing_data=str(raw.get("missing_data") or UNKNOWN),
            )
        )
    if len({c.name for c in checks}) != len(checks):
        raise IncidentResponseError("metrics[].name must be unique: each name becomes one finding")
    return checks


def evaluate_check(
    check: MetricCheck, numerator: Series, denominator: Series | None, window_text: str
) -> tuple[Finding, dict[str, t.Any]]:
    """Judge one check from the series fetched for it (pure: no AWS calls)."""
    top = numerator.aggregate(check.statistic)
    bottom = denominator.aggregate(check.statistic) if denominator is not None else None
    report: dict[str, t.Any] = {
        "name": check.name,
        "namespace": check.namespace,
        "metric_name": check.metric_name,
        "dimensions": check.dimensions,
        "statistic": check.statistic,
        "divide_by": check.divide_by,
        "unit": check.unit,
        "datapoints": len(numerator.values),
        "numerator": top,
        "denominator": bottom,
        "value": None,
    }
    threshold = {"warn": check.warn_threshold, "critical": check.critical_threshold, "comparison": check.comparison}
    stat = f"{check.metric_name} {check.statistic}"
    if top is None or (check.divide_by and bottom is None):
        missing = check.metric_name if top is None else check.divide_by
        return (
            Finding(
                check.name,
                check.target,
                check.missing_data,
                None,
                threshold,
                check.unit,
                f"no datapoints for {missing} {check.statistic} {window_text} "
                f"(missing data treated as {check.missing_data})",
                REMEDIATION_NO_DATA if check.missing_data != OK else None,
            ),
            report,
        )
    if check.divide_by:
        if bottom == 0:
            # No requests: there is no ratio to judge, and no error either.
            evidence = f"{stat} {top:g} / {check.divide_by} {check.statistic} 0 {window_text}: nothing to divide by"
            return (
                Finding(check.name, check.target, check.missing_data, None, threshold, check.unit, evidence, None),
                report,
            )
        value = check.multiplier * top / t.cast(float, bottom)
        evidence = (
            f"{stat} {top:g} / {check.divide_by} {check.statistic} {bottom:g}"
            f"{f' x {check.multiplier:g}' if check.multiplier != 1 else ''} = {value:.4g}"
            f"{f' {check.unit}' if check.unit else ''} {window_text}"
        )
    else:
        value = check.multiplier * top
        evidence = (
            f"{stat} = {value:.4g}{f' {check.unit}' if check.unit else ''} {window_text} "
            f"({len(numerator.values)} datapoint(s))"
        )
    status = judge(value, check.warn_threshold, check.critical_threshold, check.comparison)
    report["value"] = value
    return (
        Finding(
            check.name,
            check.target,
            status,
            round(value, 6),
            threshold,
            check.unit,
            evidence,
            REMEDIATION_METRIC if status in (WARN, CRITICAL) else None,
        ),
        report,
    )


def check_cloudwatch_metric(
    params: t.Mapping[str, t.Any], session: AwsSession | None = None, now: t.Callable[[], datetime.datetime] = utcnow
) -> dict[str, t.Any]:
    """cloudwatch_metric_info: every check in ``params['metrics']``, one GetMetricData call each."""
    checks = parse_checks(params.get("metrics") or [])
    minutes = float(params.get("window_minutes") or 5)
    start, end = metric_window(now(), minutes)
    period = int(params.get("period_seconds") or round(minutes * 60))
    if period < 60 or period % 60:
        raise IncidentResponseError(f"period_seconds must be a multiple of 60, got {period}")
    session = session or AwsSession(AwsSettings.from_params(params))
    session.client("cloudwatch")  # built once, before the threads share it
    window_text = f"over {minutes:g} min ending {iso(end)}"

    def run(check: MetricCheck) -> tuple[Finding, dict[str, t.Any]]:
        queries = [metric_query("m", check.namespace, check.metric_name, check.dimensions, check.statistic, period)]
        if check.divide_by:
            queries.append(
                metric_query("d", check.namespace, check.divide_by, check.dimensions, check.statistic, period)
            )
        try:
            series = fetch_series(session, queries, start, end, check.target)
        except AwsCallError as exc:
            finding = exc.problem.finding(check.name, check.target, not_found_status=check.missing_data)
            return finding, {"name": check.name, "value": None, "error": exc.problem.message}
        return evaluate_check(check, series["m"], series.get("d"), window_text)

    findings, reports = [], []
    for outcome in fan_out(run, checks, max_workers=8, timeout=None):
        if outcome.result is None:  # a bug, not an AWS answer: still report, never hide the others
            findings.append(Finding(outcome.item.name, outcome.item.target, UNKNOWN, evidence=outcome.error))
            reports.append({"name": outcome.item.name, "value": None, "error": outcome.error})
            continue
        findings.append(outcome.result[0])
        reports.append(outcome.result[1])
    result = summarize(findings)
    result.update(
        metrics=reports, window={"start": iso(start), "end": iso(end), "period_seconds": period}, region=session.region
    )
    return result


# --- cloudwatch_logs_search_info ----------------------------------------------


def _ms(value: datetime.datetime) -> int:
    return int(value.timestamp() * 1000)


def _from_ms(value: int) -> str | None:
    return iso(datetime.datetime.fromtimestamp(value / 1000.0, tz=datetime.timezone.utc))


@dataclasses.dataclass
class LogTally:
    """Counts and a bounded newest-first sample, filled page by page."""

    sample_size: int
    max_line_length: int
    total: int = 0
    per_stream: dict[str, int] = dataclasses.field(default_factory=dict)
    newest: list[tuple[int, str, dict[str, t.Any]]] = dataclasses.field(default_factory=list)

    def add(self, event: t.Mapping[str, t.Any]) -> None:
        self.total += 1
        stream = str(event.get("logStreamName", ""))
        self.per_stream[stream] = self.per_stream.get(stream, 0) + 1
        if self.sample_size <= 0:
            return
        key = (int(event.get("timestamp", 0)), str(event.get("eventId", "")))
        line = str(event.get("message", "")).rstrip("\n")
        if len(line) > self.max_line_length:
            line = line[: self.max_line_length] + "..."
        row = {"timestamp": _from_ms(key[0]), "log_stream_name": stream, "message": line}
        if len(self.newest) < self.sample_size:
            heapq.heappush(self.newest, (key[0], key[1], row))
        elif key > self.newest[0][:2]:
            heapq.heapreplace(self.newest, (key[0], key[1], row))

    def sample(self) -> list[dict[str, t.Any]]:
        return [row for _ts, _id, row in sorted(self.newest, key=lambda item: item[:2], reverse=True)]

    def streams(self, limit: int = 50) -> list[dict[str, t.Any]]:
        ranked = sorted(self.per_stream.items(), key=lambda item: (-item[1], item[0]))
        return [{"log_stream_name": name, "matches": count} for name, count in ranked[:limit]]


def log_matches_finding(
    group: str,
    pattern: str,
    tally: LogTally,
    truncated: str | None,
    warn: int | None,
    critical: int | None,
    window_text: str,
) -> Finding:
    """Judge the match count; a capped count is only a lower bound, so it cannot prove "below"."""
    shown = f"'{pattern}'" if pattern else "(every event)"
    count = f"at least {tally.total}" if truncated else str(tally.total)
    evidence = f"{count} events matched {shown} in {group} {window_text} across {len(tally.per_stream)} stream(s)"
    if truncated:
        evidence += f"; stopped early: {truncated}"
    status = compare(tally.total, warn, critical)
    if truncated and status == OK and (warn is not None or critical is not None):
        status = UNKNOWN
    return Finding(
        "log_matches",
        f"logs:{group}",
        status,
        tally.total,
        {"warn": warn, "critical": critical},
        "events",
        evidence,
        REMEDIATION_LOGS if status in (WARN, CRITICAL) else None,
    )


def check_cloudwatch_logs_search(
    params: t.Mapping[str, t.Any], session: AwsSession | None = None, now: t.Callable[[], datetime.datetime] = utcnow
) -> dict[str, t.Any]:
    """cloudwatch_logs_search_info: FilterLogEvents over the window, paginated up to the caps."""
    group = params["log_group_name"]
    pattern = params.get("filter_pattern") or ""
    minutes = float(params.get("window_minutes") or 10)
    max_events = int(params.get("max_events") or 10000)
    max_pages = int(params.get("max_pages") or 100)
    page_size = int(params.get("page_size") or 10000)
    if minutes <= 0 or max_events < 1 or max_pages < 1 or not 1 <= page_size <= 10000:
        raise IncidentResponseError(
            "window_minutes, max_events and max_pages must be positive and page_size between 1 and 10000"
        )
    session = session or AwsSession(AwsSettings.from_params(params))
    end = now()
    start = end - datetime.timedelta(minutes=minutes)
    window_text = f"over the last {minutes:g} min (to {iso(end)})"
    request: dict[str, t.Any] = {"logGroupName": group, "startTime": _ms(start), "endTime": _ms(end)}
    if pattern:
        request["filterPattern"] = pattern
    if params.get("log_stream_names"):
        request["logStreamNames"] = list(params["log_stream_names"])
    elif params.get("log_stream_prefix"):
        request["logStreamNamePrefix"] = params["log_stream_prefix"]

    tally = LogTally(
        int(given if (given := params.get("sample_size")) is not None else 20),
        int(params.get("max_line_length") or 1000),
    )
    pages, truncated, token = 0, None, None
    result: dict[str, t.Any] = {
        "log_group_name": group,
        "filter_pattern": pattern,
        "region": session.region,
        "window": {"start": iso(start), "end": iso(end)},
    }
    try:
        while True:
            extra: dict[str, t.Any] = {"nextToken": token} if token else {}
            page = call(
                session,
                "logs",
                "filter_log_events",
                "search log group",
                group,
                "logs:FilterLogEvents",
                limit=min(page_size, max_events - tally.total),
                **request,
                **extra,
            )
            pages += 1
            for event in page.get("events", []):
                tally.add(event)
            token = page.get("nextToken")
            if not token:
                break
            if tally.total >= max_events:
                truncated = f"max_events={max_events} reached"
                break
            if pages >= max_pages:
                truncated = f"max_pages={max_pages} reached"
                break
    except AwsCallError as exc:
        # A missing log group means we cannot count, not that there is nothing to count.
        finding = exc.problem.finding("log_matches", f"logs:{group}", not_found_status=UNKNOWN)
        result.update(
            summarize([finding]),
            total_matches=None,
            truncated=False,
            pages=pages,
            streams=[],
            sample=[],
            error=exc.problem.message,
        )
        return result
    finding = log_matches_finding(
        group, pattern, tally, truncated, params.get("warn_threshold"), params.get("critical_threshold"), window_text
    )
    result.update(
        summarize([finding]),
        total_matches=tally.total,
        truncated=truncated is not None,
        truncated_reason=truncated,
        pages=pages,
        streams=tally.streams(),
        stream_count=len(tally.per_stream),
        sample=tally.sample(),
    )
    return result
