# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Shared AWS plumbing: one connection spec, one client factory, one way to read an AWS error.

Every AWS module in this collection takes the same connection options (see
the ``platform_eng.incident_response.aws`` doc fragment), builds clients
through :class:`AwsSession`, and turns a failed call into an
:class:`AwsProblem` whose message says what failed, on which resource, in
which region, and never carries a credential.

Retries are botocore's own ``standard`` or ``adaptive`` modes: they back off
with jitter on throttling and transient errors for every call, paginated
ones included, so no call site needs a retry decorator.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import traceback
import typing as t

try:
    import boto3
    import botocore.config
    import botocore.exceptions
except ImportError:
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    HAS_BOTO3 = True
    BOTO3_IMPORT_ERROR = None

from ansible.module_utils.basic import env_fallback

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    CRITICAL,
    UNKNOWN,
    Finding,
    IncidentResponseError,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._prerequisites import missing_library

COLLECTION_AGENT = "platform_eng.incident_response/0.1.0"

ACCESS_DENIED = "access denied"
CREDENTIALS = "credentials rejected"
NOT_FOUND = "not found"
THROTTLED = "throttled"
UNREACHABLE = "unreachable"
FAILED = "failed"

# Error codes by family. AWS services spell the same idea differently
# (EC2 "UnauthorizedOperation", S3 "AccessDenied", Logs "AccessDeniedException").
_ACCESS_DENIED_CODES = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "AuthorizationError",
    "Forbidden",
    "403",
}
_CREDENTIAL_CODES = {
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "AuthFailure",
    "InvalidToken",
    "IncompleteSignature",
}
_NOT_FOUND_CODES = {
    "NoSuchBucket",
    "NoSuchKey",
    "404",
    "NotFound",
    # SQS: the query protocol's code, and the JSON protocol's.
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
}
_THROTTLED_CODES = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
    "ProvisionedThroughputExceededException",
    "EC2ThrottledException",
    "LimitExceededException",
}

REMEDIATION = {
    ACCESS_DENIED: "Grant {action} to the role or user this check runs as (read-only), then run it again.",
    NOT_FOUND: "Check the name and the region: {resource} does not exist in {region}.",
    THROTTLED: "The API kept throttling after every retry: raise retries, use retry_mode=adaptive, "
    "or run fewer concurrent checks.",
    UNREACHABLE: "Check endpoint_url, proxy settings and network access to the AWS API from this host.",
    FAILED: "Read the error in evidence; run the check again if it looks transient.",
}


def aws_argument_spec() -> dict[str, t.Any]:
    """The connection options every AWS module merges into its own spec.

    Names and aliases follow amazon.aws, so a task reads the same with either
    collection. An option left unset is left to boto3, which reads the
    environment, the shared config files and the instance or task role.
    """
    return dict(
        region=dict(type="str", aliases=["aws_region"], fallback=(env_fallback, ["AWS_REGION", "AWS_DEFAULT_REGION"])),
        profile=dict(type="str", aliases=["aws_profile"]),
        endpoint_url=dict(type="str", aliases=["aws_endpoint_url"]),
        access_key=dict(type="str", aliases=["aws_access_key_id", "aws_access_key"], no_log=True),
        secret_key=dict(type="str", aliases=["aws_secret_access_key", "aws_secret_key"], no_log=True),
        session_token=dict(type="str", aliases=["aws_session_token"], no_log=True),
        validate_certs=dict(type="bool", default=True),
        retries=dict(type="int", default=5),
        retry_mode=dict(type="str", default="standard", choices=["standard", "adaptive"]),
        connect_timeout=dict(type="float", default=10.0),
        read_timeout=dict(type="float", default=60.0),
    )


@dataclasses.dataclass(frozen=True)
class AwsSettings:
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    access_key: str | None = None
    # Secrets stay out of repr(), so a settings object in a log line leaks nothing.
    secret_key: str | None = dataclasses.field(default=None, repr=False)
    session_token: str | None = dataclasses.field(default=None, repr=False)
    validate_certs: bool = True
    retries: int = 5
    retry_mode: str = "standard"
    connect_timeout: float = 10.0
    read_timeout: float = 60.0

    @classmethod
    def from_params(cls, params: t.Mapping[str, t.Any]) -> AwsSettings:
        names = [field.name for field in dataclasses.fields(cls)]
        # Empty strings mean "not set", as in amazon.aws: they let a task
        # blank out a value that module_defaults or the environment supplies.
        values = {name: params[name] for name in names if params.get(name) not in (None, "")}
        return cls(**values)

    def secrets(self) -> list[str]:
        return [value for value in (self.access_key, self.secret_key, self.session_token) if value]


class AwsSession:
    """One boto3 session and its clients, built once per module run."""

    def __init__(self, settings: AwsSettings):
        if not HAS_BOTO3:
            raise IncidentResponseError(missing_library("boto3"))
        if settings.retries < 0:
            raise IncidentResponseError(f"retries must be 0 or more, got {settings.retries}")
        if settings.profile and (settings.access_key or settings.secret_key or settings.session_token):
            raise IncidentResponseError("Use either profile or access_key/secret_key/session_token, not both.")
        self.settings = settings
        try:
            self._session = boto3.session.Session(
                aws_access_key_id=settings.access_key,
                aws_secret_access_key=settings.secret_key,
                aws_session_token=settings.session_token,
                region_name=settings.region,
                profile_name=settings.profile,
            )
        except botocore.exceptions.ProfileNotFound:
            raise IncidentResponseError(
                f"AWS profile {settings.profile!r} is not defined in the shared config or credentials files."
            ) from None
        self.region: str = self._session.region_name or ""
        if not self.region:
            raise IncidentResponseError(
                "No AWS region: set the region option (or module_defaults for the group), "
                "AWS_REGION, or a region in the profile."
            )
        self._config = botocore.config.Config(
            retries={"total_max_attempts": settings.retries + 1, "mode": settings.retry_mode},
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            user_agent_extra=COLLECTION_AGENT,
        )
        self._clients: dict[str, t.Any] = {}

    def client(self, service: str) -> t.Any:
        if service not in self._clients:
            self._clients[service] = self._session.client(
                service,
                config=self._config,
                endpoint_url=self.settings.endpoint_url,
                verify=self.settings.validate_certs,
            )
        return self._clients[service]

    def secrets(self) -> list[str]:
        return self.settings.secrets()


@dataclasses.dataclass
class AwsProblem:
    """A failed AWS call, classified: what an on-call engineer needs to act on it."""

    kind: str
    code: str
    message: str
    action: str = ""
    resource: str = ""
    region: str = ""

    def remediation(self) -> str:
        return REMEDIATION.get(self.kind, REMEDIATION[FAILED]).format(
            action=self.action or "the read permission for this call", resource=self.resource, region=self.region
        )

    def finding(
        self, name: str, target: str, not_found_status: str = CRITICAL, remediation: str | None = None
    ) -> Finding:
        """A finding for a check this problem stopped.

        A missing resource is a verdict in itself (critical by default: the
        database or the backup the runbook relies on is not there); anything
        else means we could not measure, which is ``unknown``.
        """
        status = not_found_status if self.kind == NOT_FOUND else UNKNOWN
        return Finding(
            name=name,
            target=target,
            status=status,
            evidence=self.message,
            remediation=remediation or self.remediation(),
        )


class AwsCallError(Exception):
    """Carries an :class:`AwsProblem` out of a helper to the check that called it."""

    def __init__(self, problem: AwsProblem):
        super().__init__(problem.message)
        self.problem = problem


def redact(text: str, secrets: t.Iterable[str]) -> str:
    """Mask credentials an AWS error message might echo (real keys are 16 characters or more)."""
    for secret in secrets:
        if secret and len(secret) >= 8:
            text = text.replace(secret, "********")
    return text


def classify(
    exc: BaseException, what: str, resource: str, region: str, action: str = "", secrets: t.Iterable[str] = ()
) -> AwsProblem:
    """Turn a botocore exception into an :class:`AwsProblem`.

    ``what`` is the human name of the operation ("describe DB instance"),
    ``action`` the IAM action it needs. Credential problems raise
    :class:`IncidentResponseError` instead: nothing can be checked until the
    configuration is fixed, so the task should fail, not report.
    """
    where = f"{resource} in {region}" if resource else f"in {region}"
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "Unknown")
        detail = _short(str(error.get("Message") or ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        kind = _kind_of(code)
        if kind == CREDENTIALS:
            raise IncidentResponseError(
                redact(f"Failed to {what} {where}: AWS rejected the credentials: {code} ({detail})", secrets)
            ) from None
        label = f"{code} ({detail})" if detail else code
        if kind == FAILED and status:
            label = f"{label}, HTTP {status}"
        message = (
            f"Failed to {what} {where}: {kind}: {label}" if kind != FAILED else f"Failed to {what} {where}: {label}"
        )
        return AwsProblem(kind, code, redact(message, secrets), action, resource, region)
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        raise IncidentResponseError(
            f"Failed to {what} {where}: no AWS credentials found; set access_key/secret_key or profile, "
            "the AWS_* environment variables, or run where an instance or task role is available."
        ) from None
    if isinstance(exc, (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)):
        message = f"Failed to {what} {where}: AWS API unreachable: {exc}"
        return AwsProblem(UNREACHABLE, type(exc).__name__, redact(message, secrets), action, resource, region)
    message = f"Failed to {what} {where}: {type(exc).__name__}: {exc}"
    return AwsProblem(FAILED, type(exc).__name__, redact(message, secrets), action, resource, region)


def _short(detail: str, limit: int = 300) -> str:
    """An error message on one line; an HTML error page from a proxy or emulator loses its tags."""
    text = re.sub(r"<[^>]+>", " ", detail) if "<" in detail else detail
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def _kind_of(code: str) -> str:
    if code in _ACCESS_DENIED_CODES or code.startswith("AccessDenied"):
        return ACCESS_DENIED
    if code in _CREDENTIAL_CODES:
        return CREDENTIALS
    if code in _THROTTLED_CODES or code.startswith("Throttl"):
        return THROTTLED
    if code in _NOT_FOUND_CODES or "NotFound" in code:
        return NOT_FOUND
    return FAILED


def aws_errors() -> tuple[type[BaseException], ...]:
    """The exceptions a boto3 call raises for AWS-side problems (what classify() understands)."""
    return (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)


def call(
    session: AwsSession, service: str, method: str, what: str, resource: str, action: str, **kwargs: t.Any
) -> dict[str, t.Any]:
    """Call one AWS API method; an AWS-side failure raises :class:`AwsCallError`."""
    try:
        return getattr(session.client(service), method)(**kwargs)
    except aws_errors() as exc:
        raise AwsCallError(classify(exc, what, resource, session.region, action, session.secrets())) from None


def paginate(
    session: AwsSession, service: str, method: str, what: str, resource: str, action: str, **kwargs: t.Any
) -> t.Iterator[dict[str, t.Any]]:
    """Yield every page of a paginated AWS call; a failure raises :class:`AwsCallError`."""
    try:
        yield from session.client(service).get_paginator(method).paginate(**kwargs)
    except aws_errors() as exc:
        raise AwsCallError(classify(exc, what, resource, session.region, action, session.secrets())) from None


# --- time -------------------------------------------------------------------


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def as_utc(value: datetime.datetime) -> datetime.datetime:
    """botocore returns aware datetimes in local time; compare everything in UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=datetime.timezone.utc)
    return value.astimezone(datetime.timezone.utc)


def iso(value: datetime.datetime | None) -> str | None:
    return None if value is None else as_utc(value).isoformat().replace("+00:00", "Z")


def parse_time(text: str, option: str) -> datetime.datetime:
    """Parse an ISO 8601 time from a module option (``Z`` or an offset; no zone means UTC)."""
    try:
        return as_utc(datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00")))
    except ValueError:
        raise IncidentResponseError(
            f"{option} must be an ISO 8601 time such as 2025-11-10T14:23:00Z, got {text!r}"
        ) from None


def clock_from(params: t.Mapping[str, t.Any], option: str = "as_of") -> t.Callable[[], datetime.datetime]:
    """The clock a check judges ages with: ``as_of`` when given, otherwise the real time."""
    text = params.get(option)
    if not text:
        return utcnow
    fixed = parse_time(text, option)
    return lambda: fixed


def format_age(seconds: float) -> str:
    seconds = round(seconds)
    sign = "-" if seconds < 0 else ""
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours}:{minutes:02d}:{secs:02d}" if hours else f"{sign}{minutes}:{secs:02d}"
