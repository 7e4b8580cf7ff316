# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""TLS certificates of many endpoints and local files, judged in one call.

For an endpoint, one handshake with a verifying context (the CA bundle,
hostname check on) decides trust; only when it fails does a second
handshake with an unverified context fetch the certificate, so the report
still shows what the server presents. OpenSSL's verify code tells the
failure kinds apart: expired, wrong host, untrusted (self-signed or
unknown CA). A connect error is ``unreachable``; a connection whose
handshake fails is ``tls_error``. Endpoints and files are checked
concurrently in a bounded pool.

The rules (days left, thresholds, host-name match, classification) and
the file handling live in ``_tls_certs``, free of sockets.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import socket
import ssl
import time
import typing as t

from ansible_collections.platform_eng.incident_response.plugins.module_utils._fanout import (
    describe_error,
    fan_out,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
    summarize,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._tls_certs import (
    CLASSIFICATIONS,
    NO_CERTIFICATE,
    TLS_ERROR,
    UNREACHABLE,
    VERIFY_EXPIRED,
    VERIFY_NOT_YET_VALID,
    VERIFY_WRONG_HOST,
    Thresholds,
    classify,
    days_left,
    describe_certificate,
    expand_paths,
    file_report,
    finding_for,
    hostname_matches,
    is_expired,
    load_trust_anchors,
    unreadable_report,
    utc,
    x509,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._verdict import reaches


@dataclasses.dataclass(frozen=True)
class EndpointTarget:
    name: str
    host: str
    port: int
    server_name: str


@dataclasses.dataclass
class Fetched:
    """What the handshakes yielded: the presented chain (DER, leaf first) and what went wrong."""

    chain: list[bytes] = dataclasses.field(default_factory=list)
    verify_code: int | None = None
    verify_message: str | None = None
    connect_error: str | None = None
    tls_error: str | None = None


# ---------------------------------------------------------------------------
# Endpoints: handshakes
# ---------------------------------------------------------------------------

def verifying_context(ca_path: str | None) -> ssl.SSLContext:
    """Chain and hostname verification against ``ca_path`` (a PEM bundle or a hashed directory), else the system's."""
    try:
        if ca_path and os.path.isdir(ca_path):
            context = ssl.create_default_context(capath=ca_path)
        else:
            context = ssl.create_default_context(cafile=ca_path or None)
    except (OSError, ssl.SSLError) as exc:
        raise IncidentResponseError(f"ca_path {ca_path}: cannot load CA certificates: {describe_error(exc)}") from None
    return context


def unverified_context() -> ssl.SSLContext:
    # Used only to read what the server presents after verification has already failed.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _presented_chain(tls: ssl.SSLSocket) -> list[bytes]:
    getter = getattr(tls, "get_unverified_chain", None)  # public from Python 3.13
    if getter is None:
        getter = getattr(getattr(tls, "_sslobj", None), "get_unverified_chain", None)  # private in 3.10-3.12
    chain = getter() if getter is not None else None
    if chain:
        der = ssl._ssl.ENCODING_DER  # type: ignore[attr-defined]  # pylint: disable=protected-access
        return [c if isinstance(c, bytes) else c.public_bytes(der) for c in chain]
    leaf = tls.getpeercert(binary_form=True)
    return [leaf] if leaf else []


def _handshake(target: EndpointTarget, context: ssl.SSLContext, timeout: float) -> list[bytes]:
    """Connect and handshake. OSError before the handshake means unreachable: raised as ConnectionError."""
    try:
        sock = socket.create_connection((target.host, target.port), timeout=timeout)
    except OSError as exc:
        raise ConnectionError(describe_error(exc)) from exc
    with sock:
        sock.settimeout(timeout)
        with context.wrap_socket(sock, server_hostname=target.server_name) as tls:
            return _presented_chain(tls)


def fetch_endpoint(target: EndpointTarget, verifying: ssl.SSLContext, unverified: ssl.SSLContext,
                   timeout: float) -> Fetched:
    fetched = Fetched()
    try:
        fetched.chain = _handshake(target, verifying, timeout)
        return fetched
    except ConnectionError as exc:
        fetched.connect_error = str(exc)
        return fetched
    except ssl.SSLCertVerificationError as exc:
        fetched.verify_code, fetched.verify_message = exc.verify_code, exc.verify_message
    except OSError as exc:  # ssl.SSLError, a reset or a timeout in the middle of the handshake
        fetched.tls_error = describe_error(exc)
        return fetched
    try:
        fetched.chain = _handshake(target, unverified, timeout)
    except ConnectionError as exc:
        fetched.connect_error = str(exc)
    except OSError as exc:
        fetched.tls_error = describe_error(exc)
    return fetched


def endpoint_report(target: EndpointTarget, fetched: Fetched, now: datetime.datetime,
                    thresholds: Thresholds) -> dict[str, t.Any]:
    report: dict[str, t.Any] = {
        "name": target.name, "kind": "endpoint", "host": target.host, "port": target.port,
        "server_name": target.server_name, "path": None, "error": None, "error_kind": None,
        "verify_code": fetched.verify_code, "verify_error": fetched.verify_message,
    }
    if fetched.connect_error or fetched.tls_error or not fetched.chain:
        report["error_kind"] = UNREACHABLE if fetched.connect_error else TLS_ERROR
        report["error"] = fetched.connect_error or fetched.tls_error or "the server presented no certificate"
        report.update(NO_CERTIFICATE, hostname_match=None)
    else:
        info = describe_certificate(x509.load_der_x509_certificate(fetched.chain[0]))
        report.update(info)
        report["days_left"] = days_left(info["not_after"], now)
        report["expired"] = is_expired(info["not_after"], now)
        report["not_yet_valid"] = utc(now) < datetime.datetime.fromisoformat(info["not_before"])
        report["chain_length"] = len(fetched.chain)
        code = fetched.verify_code
        # OpenSSL checks trust before dates and names, so a date or name error means the chain is trusted.
        report["chain_valid"] = code is None or code in (VERIFY_EXPIRED | VERIFY_NOT_YET_VALID | VERIFY_WRONG_HOST)
        report["hostname_match"] = (False if code in VERIFY_WRONG_HOST
                                    else hostname_matches(target.server_name, info["dns_names"], info["ip_addresses"]))
    report["classification"], report["status"], report["problems"] = classify(report, thresholds)
    return report


def probe_endpoint(target: EndpointTarget, verifying: ssl.SSLContext, unverified: ssl.SSLContext, timeout: float,
                   clock: t.Callable[[], datetime.datetime], thresholds: Thresholds) -> dict[str, t.Any]:
    started = time.monotonic()
    report = endpoint_report(target, fetch_endpoint(target, verifying, unverified, timeout), clock(), thresholds)
    report["elapsed_ms"] = round((time.monotonic() - started) * 1000.0, 3)
    return report


# ---------------------------------------------------------------------------
# The plan (options validated before the first handshake) and the check
# ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Plan:
    endpoints: tuple[EndpointTarget, ...]
    files: tuple[str, ...]
    ca_path: str | None
    thresholds: Thresholds
    timeout: float
    max_workers: int


def _endpoint(raw: t.Any, index: int) -> EndpointTarget:
    if not isinstance(raw, t.Mapping):
        raise IncidentResponseError(f"endpoints[{index}] must be a dictionary with host and port")
    host = str(raw.get("host") or "").strip()
    if not host:
        raise IncidentResponseError(f"endpoints[{index}]: host is required")
    try:
        port = int(given if (given := raw.get("port")) is not None else 443)
    except (TypeError, ValueError):
        port = -1
    if not 1 <= port <= 65535:
        raise IncidentResponseError(f"endpoints[{index}] ({host}): port must be 1-65535, got {raw.get('port')!r}")
    server_name = str(raw.get("server_name") or host).strip()
    default_name = f"{host}:{port}" if server_name == host else f"{server_name}@{host}:{port}"
    return EndpointTarget(str(raw.get("name") or default_name), host, port, server_name)


def build_plan(params: t.Mapping[str, t.Any]) -> Plan:
    endpoints = tuple(_endpoint(raw, i) for i, raw in enumerate(params.get("endpoints") or []))
    files = tuple(str(path) for path in params.get("files") or [] if path)
    if not endpoints and not files:
        raise IncidentResponseError("nothing to check: give endpoints, files, or both")
    names = [endpoint.name for endpoint in endpoints]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise IncidentResponseError(f"endpoint names must be unique; repeated: {', '.join(duplicates)}")
    ca_path = params.get("ca_path") or None
    if ca_path and not os.path.exists(ca_path):
        raise IncidentResponseError(f"ca_path {ca_path} does not exist")
    warn_days = int(given if (given := params.get("warn_days")) is not None else 30)
    critical_days = int(given if (given := params.get("critical_days")) is not None else 7)
    if critical_days < 0 or warn_days < critical_days:
        raise IncidentResponseError(
            f"need 0 <= critical_days <= warn_days, got critical_days={critical_days} warn_days={warn_days}")
    timeout = float(params.get("timeout") or 5.0)
    max_workers = int(params.get("max_workers") or 32)
    if timeout <= 0 or max_workers < 1:
        raise IncidentResponseError("timeout must be above 0 and max_workers at least 1")
    return Plan(endpoints, files, ca_path, Thresholds(warn_days, critical_days), timeout, max_workers)


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _overrun_report(job: tuple[str, t.Any], error: str | None, plan: Plan) -> dict[str, t.Any]:
    """A probe that passed its deadline: unreachable (endpoint) or unreadable (a file on a hung mount)."""
    kind, item = job
    if kind == "endpoint":
        return endpoint_report(item, Fetched(connect_error=error), _utc_now(), plan.thresholds)
    return unreadable_report(item, error or "no answer", plan.thresholds)


def check_tls_certificate(plan: Plan, clock: t.Callable[[], datetime.datetime] = _utc_now) -> dict[str, t.Any]:
    """Every endpoint and file at once; the module's whole result as a plain dict."""
    started = time.monotonic()
    verifying = verifying_context(plan.ca_path) if plan.endpoints else None
    unverified = unverified_context()
    files = expand_paths(plan.files)
    anchors = load_trust_anchors(plan.ca_path) if files else []
    jobs: list[tuple[str, t.Any]] = [("endpoint", e) for e in plan.endpoints] + [("file", f) for f in files]

    def run(job: tuple[str, t.Any]) -> dict[str, t.Any]:
        kind, item = job
        if kind == "endpoint":
            return probe_endpoint(item, t.cast(ssl.SSLContext, verifying), unverified, plan.timeout, clock, plan.thresholds)
        return file_report(item, anchors, clock(), plan.thresholds)

    # Two handshakes at most per endpoint, each bounded by the socket timeout; the deadline is a backstop.
    outcomes = fan_out(run, jobs, max_workers=plan.max_workers, timeout=2 * plan.timeout + 2.0)
    reports = []
    for outcome in outcomes:
        report = outcome.result if outcome.result is not None else _overrun_report(outcome.item, outcome.error, plan)
        report.pop("error_kind", None)  # the classification says the same
        reports.append(report)
    result = summarize(finding_for(report, plan.thresholds) for report in reports)
    result["certificates"] = reports
    result["by_classification"] = {kind: [r["name"] for r in reports if r["classification"] == kind]
                                   for kind in CLASSIFICATIONS}
    result["elapsed_ms"] = round((time.monotonic() - started) * 1000.0, 3)
    return result


def failure_summary(result: t.Mapping[str, t.Any], fail_on: str) -> str:
    """One line for fail_json that says what is wrong with each certificate, not only that it is critical."""
    breaches = [r for r in result["certificates"] if reaches(r["status"], fail_on)]
    parts = [f"{r['name']} {r['classification']}" + (f" ({r['days_left']} days left)" if r.get("days_left") is not None
                                                     else "") for r in breaches[:5]]
    more = f" and {len(breaches) - 5} more" if len(breaches) > 5 else ""
    return (f"TLS certificates are {result['status']} (fail_on={fail_on}): {len(breaches)} certificate(s) at or above "
            f"{fail_on}: {'; '.join(parts)}{more}")
