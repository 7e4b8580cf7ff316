# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The shared AWS plumbing: settings, the client factory, retries, and how errors read."""

from __future__ import annotations

import http.server
import json
import threading
import typing as t

import botocore.exceptions
import pytest

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _aws
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    CRITICAL,
    UNKNOWN,
    IncidentResponseError,
)

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.fixture(autouse=True)
def isolated_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: t.Any) -> None:
    """No real credentials, config files or instance metadata: only what a test sets."""
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def client_error(
    code: str, message: str = "", status: int = 400, operation: str = "DescribeDBInstances"
) -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, operation
    )


def test_settings_treat_empty_strings_as_unset() -> None:
    settings = _aws.AwsSettings.from_params(
        {"region": "", "profile": None, "endpoint_url": "http://127.0.0.1:1", "retries": 2, "unrelated": "x"}
    )
    assert settings.region is None and settings.profile is None
    assert settings.endpoint_url == "http://127.0.0.1:1" and settings.retries == 2


def test_settings_repr_never_shows_the_secret() -> None:
    settings = _aws.AwsSettings(region="us-east-1", access_key="AKIDEXAMPLE", secret_key=SECRET, session_token="tok")
    assert SECRET not in repr(settings) and "tok" not in repr(settings)


def test_clients_carry_retries_timeouts_and_endpoint() -> None:
    session = _aws.AwsSession(
        _aws.AwsSettings(
            region="eu-west-1",
            access_key="a",
            secret_key="b",
            endpoint_url="http://127.0.0.1:9",
            retries=3,
            retry_mode="adaptive",
            connect_timeout=2.5,
            read_timeout=7,
        )
    )
    client = session.client("rds")
    assert session.client("rds") is client  # built once per module run
    assert client.meta.config.retries == {"total_max_attempts": 4, "mode": "adaptive"}
    assert (client.meta.config.connect_timeout, client.meta.config.read_timeout) == (2.5, 7)
    assert client.meta.endpoint_url == "http://127.0.0.1:9"
    assert client.meta.region_name == "eu-west-1"
    assert _aws.COLLECTION_AGENT in client.meta.config.user_agent_extra


def test_region_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-southeast-2")
    assert _aws.AwsSession(_aws.AwsSettings(access_key="a", secret_key="b")).region == "ap-southeast-2"


def test_no_region_is_a_clear_configuration_error() -> None:
    with pytest.raises(IncidentResponseError, match="No AWS region: set the region option"):
        _aws.AwsSession(_aws.AwsSettings(access_key="a", secret_key="b"))


def test_profile_and_keys_together_are_refused() -> None:
    with pytest.raises(IncidentResponseError, match="either profile or access_key"):
        _aws.AwsSession(_aws.AwsSettings(region="us-east-1", profile="ops", access_key="a", secret_key=SECRET))


def test_unknown_profile_is_named() -> None:
    with pytest.raises(IncidentResponseError, match="AWS profile 'nope' is not defined"):
        _aws.AwsSession(_aws.AwsSettings(region="us-east-1", profile="nope"))


@pytest.mark.parametrize(
    "code, kind",
    [
        ("AccessDenied", _aws.ACCESS_DENIED),
        ("AccessDeniedException", _aws.ACCESS_DENIED),
        ("UnauthorizedOperation", _aws.ACCESS_DENIED),
        ("403", _aws.ACCESS_DENIED),
        ("DBInstanceNotFound", _aws.NOT_FOUND),
        ("InvalidGroup.NotFound", _aws.NOT_FOUND),
        ("ResourceNotFoundException", _aws.NOT_FOUND),
        ("NoSuchBucket", _aws.NOT_FOUND),
        ("404", _aws.NOT_FOUND),
        ("Throttling", _aws.THROTTLED),
        ("ThrottlingException", _aws.THROTTLED),
        ("RequestLimitExceeded", _aws.THROTTLED),
        ("SlowDown", _aws.THROTTLED),
        ("InternalError", _aws.FAILED),
    ],
)
def test_error_codes_are_classified_and_the_message_says_what_where_and_why(code: str, kind: str) -> None:
    problem = _aws.classify(
        client_error(code, "detail from AWS"),
        "describe DB instance",
        "incident-response-prod",
        "us-east-1",
        "rds:DescribeDBInstances",
    )
    assert problem.kind == kind and problem.code == code
    assert problem.message.startswith("Failed to describe DB instance incident-response-prod in us-east-1: ")
    assert code in problem.message and "detail from AWS" in problem.message


@pytest.mark.parametrize("code", ["InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken"])
def test_rejected_credentials_fail_the_task_without_echoing_the_secret(code: str) -> None:
    error = client_error(code, f"The request signature we calculated does not match (key {SECRET})")
    with pytest.raises(IncidentResponseError) as caught:
        _aws.classify(error, "list backups in", "s3://b/latest/", "us-east-1", secrets=[SECRET])
    assert "rejected the credentials" in str(caught.value) and SECRET not in str(caught.value)


def test_missing_credentials_fail_the_task_with_the_places_to_set_them() -> None:
    with pytest.raises(IncidentResponseError, match="no AWS credentials found"):
        _aws.classify(botocore.exceptions.NoCredentialsError(), "describe DB instance", "db", "us-east-1")


def test_an_unreachable_endpoint_is_reported_not_raised() -> None:
    error = botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:9/")
    problem = _aws.classify(error, "search log group", "/aws/lambda/x", "us-east-1")
    assert problem.kind == _aws.UNREACHABLE and "AWS API unreachable" in problem.message


def test_an_html_error_page_becomes_one_short_line() -> None:
    page = "<!doctype html>\n<title>500 Internal Server Error</title>\n<h1>Internal Server Error</h1>" + "x" * 500
    problem = _aws.classify(client_error("500", page, 500), "get metric data for", "m", "us-east-1")
    assert "<" not in problem.message and "\n" not in problem.message and len(problem.message) < 420
    assert "HTTP 500" in problem.message


@pytest.mark.parametrize(
    "kind, status",
    [(_aws.NOT_FOUND, CRITICAL), (_aws.ACCESS_DENIED, UNKNOWN), (_aws.THROTTLED, UNKNOWN), (_aws.UNREACHABLE, UNKNOWN)],
)
def test_problems_become_findings(kind: str, status: str) -> None:
    problem = _aws.AwsProblem(
        kind, "X", "Failed to ...", "rds:DescribeDBInstances", "incident-response-prod", "us-east-1"
    )
    finding = problem.finding("rds_instance", "rds:incident-response-prod")
    assert finding.status == status and finding.evidence == "Failed to ..."
    if kind == _aws.ACCESS_DENIED:
        assert "rds:DescribeDBInstances" in finding.remediation


class _ThrottlingLogs(http.server.BaseHTTPRequestHandler):
    """A CloudWatch Logs stand-in that throttles the first ``throttle`` calls."""

    throttle = 0
    calls = 0

    def log_message(self, *args: t.Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        cls = type(self)
        cls.calls += 1
        if cls.calls <= cls.throttle:
            status, body = 400, {"__type": "ThrottlingException", "message": "Rate exceeded"}
        else:
            status, body = 200, {"events": [], "searchedLogStreams": []}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def throttling_endpoint() -> t.Iterator[type[_ThrottlingLogs]]:
    handler = type("Handler", (_ThrottlingLogs,), {"throttle": 0, "calls": 0})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    handler.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    yield handler
    server.shutdown()
    server.server_close()


def _logs_session(url: str, retries: int) -> _aws.AwsSession:
    return _aws.AwsSession(
        _aws.AwsSettings(region="us-east-1", access_key="a", secret_key="b", endpoint_url=url, retries=retries)
    )


def test_throttling_is_retried_with_backoff_until_it_passes(throttling_endpoint: t.Any) -> None:
    throttling_endpoint.throttle = 2
    page = _aws.call(
        _logs_session(throttling_endpoint.url, retries=2),
        "logs",
        "filter_log_events",
        "search log group",
        "/aws/lambda/incident-response",
        "logs:FilterLogEvents",
        logGroupName="/aws/lambda/incident-response",
    )
    assert page["events"] == [] and throttling_endpoint.calls == 3


def test_throttling_past_the_retries_is_a_clear_problem(throttling_endpoint: t.Any) -> None:
    throttling_endpoint.throttle = 10
    with pytest.raises(_aws.AwsCallError) as caught:
        _aws.call(
            _logs_session(throttling_endpoint.url, retries=1),
            "logs",
            "filter_log_events",
            "search log group",
            "/aws/lambda/incident-response",
            "logs:FilterLogEvents",
            logGroupName="/aws/lambda/incident-response",
        )
    assert throttling_endpoint.calls == 2
    problem = caught.value.problem
    assert problem.kind == _aws.THROTTLED
    assert problem.message.startswith(
        "Failed to search log group /aws/lambda/incident-response in us-east-1: throttled: ThrottlingException"
    )
    assert "retry_mode=adaptive" in problem.remediation()


@pytest.mark.parametrize("seconds, text", [(899, "14:59"), (901, "15:01"), (3600, "1:00:00"), (-5, "-0:05")])
def test_ages_read_like_a_clock(seconds: float, text: str) -> None:
    assert _aws.format_age(seconds) == text


def test_times_parse_with_or_without_zone() -> None:
    assert _aws.iso(_aws.parse_time("2025-11-10T14:23:00Z", "as_of")) == "2025-11-10T14:23:00Z"
    assert _aws.iso(_aws.parse_time("2025-11-10T15:23:00+01:00", "as_of")) == "2025-11-10T14:23:00Z"
    assert _aws.iso(_aws.parse_time("2025-11-10T14:23:00", "as_of")) == "2025-11-10T14:23:00Z"
    with pytest.raises(IncidentResponseError, match="as_of must be an ISO 8601 time"):
        _aws.parse_time("yesterday", "as_of")
