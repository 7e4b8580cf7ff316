# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Metric checks and log searches: the arithmetic, the caps, and AWS errors through botocore's Stubber.

Percentiles are tested here, against the request CloudWatch would receive, because moto cannot compute
them (its GetMetricData answers a percentile statistic with HTTP 500).
"""

from __future__ import annotations

import datetime
import typing as t

import pytest
from botocore.stub import ANY, Stubber

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _aws
from ansible_collections.platform_eng.incident_response.plugins.module_utils import _aws_cloudwatch as cw
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    CRITICAL,
    OK,
    UNKNOWN,
    WARN,
    IncidentResponseError,
)

NOW = datetime.datetime(2025, 11, 10, 14, 23, 42, tzinfo=datetime.timezone.utc)
END = datetime.datetime(2025, 11, 10, 14, 23, 0, tzinfo=datetime.timezone.utc)
ALB = {"LoadBalancer": "app/incident-response-alb/50dc6c495c0c9188"}
ERROR_RATE = {
    "name": "error_rate",
    "namespace": "AWS/ApplicationELB",
    "metric_name": "HTTPCode_Target_5XX_Count",
    "divide_by": "RequestCount",
    "dimensions": ALB,
    "statistic": "Sum",
    "multiplier": 100,
    "unit": "%",
    "critical_threshold": 5,
}
LATENCY = {
    "name": "latency_p95",
    "namespace": "AWS/ApplicationELB",
    "metric_name": "TargetResponseTime",
    "dimensions": ALB,
    "statistic": "p95",
    "multiplier": 1000,
    "unit": "ms",
    "critical_threshold": 500,
}


def series(*values: float) -> cw.Series:
    return cw.Series([END - datetime.timedelta(minutes=len(values) - i) for i in range(len(values))], list(values))


@pytest.mark.parametrize(
    "statistic, expected",
    [("Sum", 6.0), ("SampleCount", 6.0), ("Average", 2.0), ("Minimum", 1.0), ("Maximum", 3.0), ("p95", 3.0)],
)
def test_periods_combine_by_statistic(statistic: str, expected: float) -> None:
    assert series(1.0, 2.0, 3.0).aggregate(statistic) == expected
    assert cw.Series().aggregate(statistic) is None


@pytest.mark.parametrize(
    "errors, requests, status",
    [(60.0, 1200.0, OK), (61.0, 1200.0, CRITICAL), (84.0, 1200.0, CRITICAL), (0.0, 1200.0, OK)],
)
def test_error_ratio_over_the_window(errors: float, requests: float, status: str) -> None:
    [check] = cw.parse_checks([ERROR_RATE])
    finding, report = cw.evaluate_check(check, series(errors), series(requests), "over 5 min")
    assert finding.status == status  # 5 % exactly passes: the runbook says "greater than 5 %"
    assert report["numerator"] == errors and report["denominator"] == requests
    assert report["value"] == pytest.approx(100.0 * errors / requests)


def test_ratio_sums_every_period_before_dividing() -> None:
    [check] = cw.parse_checks([ERROR_RATE])
    # 3 % then 9 %: the window's ratio is 6 %, not the mean of ratios or the worst minute.
    finding, _report = cw.evaluate_check(check, series(30.0, 45.0), series(1000.0, 500.0), "over 5 min")
    assert finding.value == 5.0 and finding.status == OK
    finding, _report = cw.evaluate_check(check, series(30.0, 60.0), series(1000.0, 500.0), "over 5 min")
    assert finding.value == 6.0 and finding.status == CRITICAL
    assert "HTTPCode_Target_5XX_Count Sum 90 / RequestCount Sum 1500 x 100 = 6 %" in finding.evidence


def test_no_requests_is_missing_data_not_zero_errors() -> None:
    [check] = cw.parse_checks([dict(ERROR_RATE, missing_data="ok")])
    finding, _report = cw.evaluate_check(check, series(0.0), series(0.0), "over 5 min")
    assert finding.status == OK and finding.value is None and "nothing to divide by" in finding.evidence
    [check] = cw.parse_checks([ERROR_RATE])
    finding, _report = cw.evaluate_check(check, cw.Series(), cw.Series(), "over 5 min")
    assert finding.status == UNKNOWN and "no datapoints for HTTPCode_Target_5XX_Count Sum" in finding.evidence


@pytest.mark.parametrize("seconds, status", [(0.5, OK), (0.501, CRITICAL)])
def test_p95_latency_in_milliseconds(seconds: float, status: str) -> None:
    [check] = cw.parse_checks([LATENCY])
    finding, _report = cw.evaluate_check(check, series(seconds), None, "over 5 min")
    assert finding.status == status and finding.unit == "ms"


@pytest.mark.parametrize("value, status", [(25.0, OK), (15.0, WARN), (5.0, CRITICAL)])
def test_lower_is_worse_comparison(value: float, status: str) -> None:
    [check] = cw.parse_checks(
        [
            {
                "namespace": "AWS/RDS",
                "metric_name": "FreeStorageSpace",
                "statistic": "Minimum",
                "comparison": "less_than",
                "warn_threshold": 20,
                "critical_threshold": 10,
            }
        ]
    )
    assert cw.evaluate_check(check, series(value), None, "")[0].status == status
    assert check.name == "metric_FreeStorageSpace"


@pytest.mark.parametrize("statistic", ["Avg", "p", "p101", "P95", "tm99"])
def test_unknown_statistics_are_refused(statistic: str) -> None:
    with pytest.raises(IncidentResponseError, match="statistic must be"):
        cw.parse_checks([dict(LATENCY, statistic=statistic)])


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(IncidentResponseError, match="must be unique"):
        cw.parse_checks([ERROR_RATE, dict(LATENCY, name="error_rate")])


def test_window_ends_on_a_whole_minute() -> None:
    assert cw.metric_window(NOW, 5) == (END - datetime.timedelta(minutes=5), END)


# --- with AWS stubbed ------------------------------------------------------------------


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> _aws.AwsSession:
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return _aws.AwsSession(_aws.AwsSettings(region="us-east-1", access_key="AKIDEXAMPLE", secret_key="not-secret"))


def stub(session: _aws.AwsSession, service: str) -> Stubber:
    stubber = Stubber(session.client(service))
    stubber.activate()
    return stubber


def test_a_percentile_is_asked_of_cloudwatch_over_the_whole_window(session: _aws.AwsSession) -> None:
    cloudwatch = stub(session, "cloudwatch")
    expected_query = {
        "Id": "m",
        "ReturnData": True,
        "MetricStat": {
            "Metric": {
                "Namespace": "AWS/ApplicationELB",
                "MetricName": "TargetResponseTime",
                "Dimensions": [{"Name": "LoadBalancer", "Value": ALB["LoadBalancer"]}],
            },
            "Period": 300,
            "Stat": "p95",
        },
    }
    cloudwatch.add_response(
        "get_metric_data",
        {
            "MetricDataResults": [
                {
                    "Id": "m",
                    "Label": "p95",
                    "Timestamps": [END - datetime.timedelta(minutes=5)],
                    "Values": [0.65],
                    "StatusCode": "Complete",
                }
            ]
        },
        {
            "MetricDataQueries": [expected_query],
            "StartTime": END - datetime.timedelta(minutes=5),
            "EndTime": END,
            "ScanBy": "TimestampAscending",
        },
    )
    result = cw.check_cloudwatch_metric({"metrics": [LATENCY], "window_minutes": 5}, session, lambda: NOW)
    cloudwatch.assert_no_pending_responses()
    [finding] = result["findings"]
    assert finding["status"] == CRITICAL and finding["value"] == 650.0
    assert result["window"] == {"start": "2025-11-10T14:18:00Z", "end": "2025-11-10T14:23:00Z", "period_seconds": 300}


def test_one_failing_metric_does_not_hide_the_others(session: _aws.AwsSession, monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_fetch(_session: t.Any, queries: list[dict[str, t.Any]], *_args: t.Any) -> dict[str, cw.Series]:
        name = queries[0]["MetricStat"]["Metric"]["MetricName"]
        if name == "TargetResponseTime":
            raise _aws.AwsCallError(
                _aws.AwsProblem(
                    _aws.FAILED,
                    "500",
                    "Failed to get metric data for x in us-east-1: 500 (Internal Server Error), HTTP 500",
                )
            )
        return {"m": series(84.0), "d": series(1200.0)}

    monkeypatch.setattr(cw, "fetch_series", fake_fetch)
    result = cw.check_cloudwatch_metric({"metrics": [ERROR_RATE, LATENCY]}, session, lambda: NOW)
    statuses = {f["name"]: f["status"] for f in result["findings"]}
    assert statuses == {"error_rate": CRITICAL, "latency_p95": UNKNOWN}
    assert result["metrics"][1]["error"].endswith("HTTP 500")


def test_metrics_access_denied_is_unknown(session: _aws.AwsSession) -> None:
    stub(session, "cloudwatch").add_client_error("get_metric_data", "AccessDenied", "no", 403)
    result = cw.check_cloudwatch_metric({"metrics": [LATENCY]}, session, lambda: NOW)
    assert result["status"] == UNKNOWN
    assert "access denied: AccessDenied" in result["findings"][0]["evidence"]


def event(stream: str, second: int, message: str) -> dict[str, t.Any]:
    stamp = int((NOW - datetime.timedelta(seconds=600 - second)).timestamp() * 1000)
    return {
        "logStreamName": stream,
        "timestamp": stamp,
        "message": message,
        "eventId": f"{stream}-{second}",
        "ingestionTime": stamp,
    }


LOGS = {"log_group_name": "/aws/lambda/incident-response", "filter_pattern": "5xx"}
START_MS = int((NOW - datetime.timedelta(minutes=10)).timestamp() * 1000)
END_MS = int(NOW.timestamp() * 1000)


def test_log_search_pages_counts_per_stream_and_samples_the_newest(session: _aws.AwsSession) -> None:
    logs = stub(session, "logs")
    request = {
        "logGroupName": "/aws/lambda/incident-response",
        "filterPattern": "5xx",
        "startTime": START_MS,
        "endTime": END_MS,
        "limit": 3,
    }
    logs.add_response(
        "filter_log_events",
        {
            "events": [event("a", 10, "5xx one"), event("b", 20, "5xx two"), event("a", 30, "5xx three")],
            "nextToken": "t1",
        },
        request,
    )
    logs.add_response(
        "filter_log_events", {"events": [event("a", 40, "5xx four " + "x" * 50)]}, dict(request, nextToken="t1")
    )
    result = cw.check_cloudwatch_logs_search(dict(LOGS, page_size=3, sample_size=2, max_line_length=20), session, lambda: NOW)
    logs.assert_no_pending_responses()
    assert result["total_matches"] == 4 and result["pages"] == 2 and result["truncated"] is False
    assert result["streams"] == [{"log_stream_name": "a", "matches": 3}, {"log_stream_name": "b", "matches": 1}]
    assert [s["message"] for s in result["sample"]] == ["5xx four xxxxxxxxxxx...", "5xx three"]
    assert result["findings"][0]["status"] == OK and result["findings"][0]["value"] == 4


@pytest.mark.parametrize(
    "thresholds, status",
    [
        ({}, OK),
        ({"critical_threshold": 10}, UNKNOWN),
        ({"warn_threshold": 2, "critical_threshold": 10}, WARN),
        ({"critical_threshold": 2}, CRITICAL),
    ],
)
def test_a_capped_count_is_a_lower_bound(session: _aws.AwsSession, thresholds: dict[str, int], status: str) -> None:
    logs = stub(session, "logs")
    logs.add_response("filter_log_events", {"events": [event("a", s, "5xx") for s in (1, 2, 3)], "nextToken": "more"})
    result = cw.check_cloudwatch_logs_search(dict(LOGS, max_events=3, **thresholds), session, lambda: NOW)
    assert result["truncated"] is True and result["truncated_reason"] == "max_events=3 reached"
    assert result["findings"][0]["status"] == status
    assert "at least 3 events" in result["findings"][0]["evidence"]


def test_the_page_cap_stops_empty_pages(session: _aws.AwsSession) -> None:
    logs = stub(session, "logs")
    for _page in range(2):
        logs.add_response("filter_log_events", {"events": [], "nextToken": "still-searching"})
    result = cw.check_cloudwatch_logs_search(dict(LOGS, max_pages=2), session, lambda: NOW)
    assert result["truncated_reason"] == "max_pages=2 reached" and result["total_matches"] == 0


@pytest.mark.parametrize(
    "code, words",
    [
        ("ResourceNotFoundException", "not found"),
        ("ThrottlingException", "throttled"),
        ("AccessDeniedException", "access denied"),
    ],
)
def test_log_search_errors_are_unknown_findings(session: _aws.AwsSession, code: str, words: str) -> None:
    stub(session, "logs").add_client_error("filter_log_events", code, "The specified log group does not exist.", 400)
    result = cw.check_cloudwatch_logs_search(dict(LOGS, log_group_name="/aws/lambda/nope"), session, lambda: NOW)
    assert result["status"] == UNKNOWN and result["total_matches"] is None
    assert result["error"].startswith(f"Failed to search log group /aws/lambda/nope in us-east-1: {words}: {code}")


def test_stream_names_win_over_a_prefix(session: _aws.AwsSession) -> None:
    logs = stub(session, "logs")
    logs.add_response(
        "filter_log_events",
        {"events": []},
        {
            "logGroupName": "/aws/lambda/incident-response",
            "startTime": ANY,
            "endTime": ANY,
            "limit": 10000,
            "logStreamNames": ["s1"],
        },
    )
    cw.check_cloudwatch_logs_search(
        {"log_group_name": "/aws/lambda/incident-response", "log_stream_names": ["s1"], "log_stream_prefix": "2025/"},
        session,
        lambda: NOW,
    )
    logs.assert_no_pending_responses()
