# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Certificates as data: parsing, days left, host-name matching, classification, files.

Nothing here opens a socket, so every rule is tested with certificates made
in the test (trustme) and an injected clock. ``_tls`` does the handshakes.

Local files (certbot's ``live`` directory, or any PEM/DER file) are read
here too, and their chain is verified against the CA bundle with
``cryptography``'s verifier: there is no peer to hand the chain to OpenSSL.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import ipaddress
import os
import ssl
import traceback
import typing as t

try:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
except ImportError:
    x509 = Encoding = None  # type: ignore[assignment,misc]
    CRYPTOGRAPHY_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    CRYPTOGRAPHY_IMPORT_ERROR = None

try:
    from cryptography.x509 import verification
    verification.ExtensionPolicy  # noqa: B018 -- cryptography >= 45; older verifiers reject most private CAs
except (ImportError, AttributeError):
    verification = None  # type: ignore[assignment]

from ansible_collections.platform_eng.incident_response.plugins.module_utils._fanout import describe_error
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    CRITICAL,
    OK,
    WARN,
    Finding,
)

# Classifications, worst first: the first that applies names the certificate's problem.
UNREACHABLE = "unreachable"
TLS_ERROR = "tls_error"
UNREADABLE = "unreadable"
EXPIRED = "expired"
NOT_YET_VALID = "not_yet_valid"
UNTRUSTED = "untrusted"
WRONG_HOST = "wrong_host"
EXPIRING = "expiring"
VALID = "ok"
CLASSIFICATIONS = (UNREACHABLE, TLS_ERROR, UNREADABLE, EXPIRED, NOT_YET_VALID, UNTRUSTED, WRONG_HOST, EXPIRING, VALID)
# Inside the renewal threshold: what the certificates role renews.
DUE = (EXPIRING, EXPIRED)

# OpenSSL X509_V_ERR_* codes that are not about trust. Every other verify failure means the
# chain does not lead to a CA in the bundle: self-signed, unknown issuer, bad signature.
VERIFY_EXPIRED = {10}  # CERT_HAS_EXPIRED
VERIFY_NOT_YET_VALID = {9}  # CERT_NOT_YET_VALID
VERIFY_WRONG_HOST = {62, 64}  # HOSTNAME_MISMATCH, IP_ADDRESS_MISMATCH

RENEW = ("Runbook 'SSL Certificate Renewal': check the dates (openssl s_client -connect HOST:PORT -servername NAME "
         "| openssl x509 -noout -dates), then certbot renew --dry-run and certbot renew, and reload the service.")
REMEDIATION = {
    UNREACHABLE: "Nothing answered on this address: check the service is running and listening, DNS, "
                 "firewalls and security groups, and that this host may reach it (delegate to the bastion if private).",
    TLS_ERROR: "The port accepted the connection but the TLS handshake failed: check that it serves TLS (not plain "
               "HTTP), and its protocol versions and ciphers.",
    UNREADABLE: "The certificate file is missing or not PEM/DER: check the path (certbot keeps the current files in "
                "/etc/letsencrypt/live/DOMAIN/) and its permissions.",
    EXPIRED: "The certificate has expired; clients refuse it. " + RENEW,
    NOT_YET_VALID: "The certificate is not valid yet: check the clock of the host that issued it and of this host.",
    UNTRUSTED: "The chain does not lead to a CA in the bundle: serve the full chain (fullchain.pem, not cert.pem), "
               "replace a self-signed certificate, or check that ca_path holds the issuing CA.",
    WRONG_HOST: "The certificate does not cover the name clients use: reissue it with that name as a subjectAltName, "
                "or fix the server's SNI / virtual host configuration.",
    EXPIRING: "The certificate expires soon. " + RENEW,
}


@dataclasses.dataclass(frozen=True)
class Thresholds:
    warn_days: int = 30
    critical_days: int = 7


# ---------------------------------------------------------------------------
# Parsing and pure judgements
# ---------------------------------------------------------------------------

def utc(moment: datetime.datetime) -> datetime.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)


# The certificate fields of a report whose certificate could not be read.
NO_CERTIFICATE: dict[str, t.Any] = {
    "subject": None, "issuer": None, "not_before": None, "not_after": None, "serial_number": None,
    "fingerprint_sha256": None, "sans": [], "dns_names": [], "ip_addresses": [], "self_signed": None,
    "days_left": None, "expired": None, "chain_valid": None, "chain_length": 0, "not_yet_valid": None,
}


def describe_certificate(cert: t.Any) -> dict[str, t.Any]:
    """The facts a report needs from one ``cryptography`` certificate."""
    not_before = utc(getattr(cert, "not_valid_before_utc", None) or cert.not_valid_before)
    not_after = utc(getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after)
    dns_names: list[str] = []
    ip_addresses: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns_names = list(san.get_values_for_type(x509.DNSName))
        ip_addresses = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        pass
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "not_before": not_before.isoformat(),
        "not_after": not_after.isoformat(),
        "serial_number": format(cert.serial_number, "x"),
        "fingerprint_sha256": hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest(),
        "sans": dns_names + ip_addresses,
        "dns_names": dns_names,
        "ip_addresses": ip_addresses,
        "self_signed": cert.subject == cert.issuer,
    }


def days_left(not_after: str | datetime.datetime, now: datetime.datetime) -> int:
    """Whole days until expiry: 9 for 9 days and 20 hours, -2 for expired 2 days and 3 hours ago.

    Truncated toward zero, so the number reads as "N days left" or "expired
    N days ago"; whether it has expired is ``is_expired``, not the sign.
    """
    end = not_after if isinstance(not_after, datetime.datetime) else datetime.datetime.fromisoformat(not_after)
    return int((utc(end) - utc(now)).total_seconds() / 86400)


def is_expired(not_after: str | datetime.datetime, now: datetime.datetime) -> bool:
    end = not_after if isinstance(not_after, datetime.datetime) else datetime.datetime.fromisoformat(not_after)
    return utc(now) > utc(end)  # not_after is the last valid second (RFC 5280), inclusive


def expiry_status(days: int, thresholds: Thresholds) -> str:
    """Fewer whole days left than a threshold breaches it: 7 days and 1 hour left is a warning, 6 days and 23
    hours critical (with the defaults). The runbook's rules are strict comparisons too."""
    if days < thresholds.critical_days:
        return CRITICAL
    if days < thresholds.warn_days:
        return WARN
    return OK


def hostname_matches(name: str, dns_names: t.Sequence[str], ip_addresses: t.Sequence[str]) -> bool:
    """RFC 6125 matching as browsers do: SANs only, one wildcard as the whole left-most label."""
    try:
        wanted_ip = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        wanted_ip = None
    if wanted_ip is not None:
        return any(ipaddress.ip_address(ip) == wanted_ip for ip in ip_addresses)
    wanted = name.lower().rstrip(".").split(".")
    for pattern in dns_names:
        labels = pattern.lower().rstrip(".").split(".")
        if len(labels) != len(wanted):
            continue
        if labels == wanted or (labels[0] == "*" and len(labels) > 2 and labels[1:] == wanted[1:]):
            return True
    return False


def classify(report: t.Mapping[str, t.Any], thresholds: Thresholds) -> tuple[str, str, list[str]]:
    """(classification, status, every problem found) for one certificate report."""
    for fatal in (UNREACHABLE, TLS_ERROR, UNREADABLE):
        if report.get("error_kind") == fatal:
            return fatal, CRITICAL, [fatal]
    problems = []
    if report.get("expired") or report.get("verify_code") in VERIFY_EXPIRED:
        problems.append(EXPIRED)
    if report.get("not_yet_valid") or report.get("verify_code") in VERIFY_NOT_YET_VALID:
        problems.append(NOT_YET_VALID)
    if report.get("chain_valid") is False:
        problems.append(UNTRUSTED)
    if report.get("hostname_match") is False:
        problems.append(WRONG_HOST)
    expiry = expiry_status(report["days_left"], thresholds)
    if expiry != OK and EXPIRED not in problems:
        problems.append(EXPIRING)
    if not problems:
        return VALID, OK, []
    primary = problems[0]
    return primary, (expiry if primary == EXPIRING else CRITICAL), problems


def finding_for(report: t.Mapping[str, t.Any], thresholds: Thresholds) -> Finding:
    """One finding per certificate: days left as the value, the classification leading the evidence."""
    kind = report["classification"]
    if report.get("error"):
        evidence = f"{kind}: {report['error']}"
    else:
        parts = [f"{kind}: not_after {report['not_after']} ({report['days_left']} day(s) left)",
                 f"subject {report['subject']}", f"issuer {report['issuer']}"]
        if report.get("server_name") and report.get("hostname_match") is False:
            parts.append(f"{report['server_name']} not in SANs {', '.join(report['sans']) or '(none)'}")
        if report.get("verify_error"):
            parts.append(f"verify: {report['verify_error']}")
        if report.get("self_signed"):
            parts.append("self-signed")
        evidence = "; ".join(parts)
    return Finding("tls_certificate", report["name"], report["status"], value=report.get("days_left"),
                   threshold={"warn_days": thresholds.warn_days, "critical_days": thresholds.critical_days},
                   unit="days", evidence=evidence, remediation=REMEDIATION.get(kind))


# ---------------------------------------------------------------------------
# Local files: certbot's live directory, or any PEM/DER certificate
# ---------------------------------------------------------------------------

CERTBOT_FILES = ("fullchain.pem", "cert.pem")  # fullchain first: it carries the intermediates clients need
MAX_FILE_BYTES = 1024 * 1024


def _certbot_file(directory: str) -> str | None:
    for name in CERTBOT_FILES:
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate):
            return candidate
    return None


def expand_paths(paths: t.Sequence[str]) -> list[str]:
    """Files as given; a certbot domain directory as its fullchain.pem; certbot's live/ as every domain in it.

    A directory with no certificate stays in the list, so the report says so
    instead of silently checking nothing.
    """
    found: list[str] = []
    for path in paths:
        if not os.path.isdir(path):
            found.append(path)
            continue
        own = _certbot_file(path)
        if own:
            found.append(own)
            continue
        try:
            entries = sorted(os.listdir(path))
        except OSError:
            entries = []
        domains = [_certbot_file(os.path.join(path, entry)) for entry in entries]
        found.extend([d for d in domains if d] or [path])
    return found


def read_chain(path: str) -> list[t.Any]:
    """The certificates in a PEM file (leaf first, as in fullchain.pem) or the one in a DER file."""
    if os.path.isdir(path):
        raise ValueError(f"no {' or '.join(CERTBOT_FILES)} in directory {path}")
    with open(path, "rb") as handle:
        data = handle.read(MAX_FILE_BYTES)
    if b"-----BEGIN CERTIFICATE-----" in data:
        return list(x509.load_pem_x509_certificates(data))
    return [x509.load_der_x509_certificate(data)]


def load_trust_anchors(ca_path: str | None) -> list[t.Any]:
    """CA certificates from ``ca_path`` (a bundle or a directory), else from the system's default bundle."""
    if ca_path:
        files = [ca_path]
        if os.path.isdir(ca_path):
            files = [os.path.join(ca_path, name) for name in sorted(os.listdir(ca_path))]
    else:
        defaults = ssl.get_default_verify_paths()
        files = [path for path in (defaults.cafile, defaults.openssl_cafile) if path and os.path.isfile(path)][:1]
        if not files and defaults.capath and os.path.isdir(defaults.capath):
            files = [os.path.join(defaults.capath, name) for name in sorted(os.listdir(defaults.capath))]
    anchors = []
    for path in files:
        try:
            anchors.extend(read_chain(path))
        except (OSError, ValueError):
            continue  # directories hold other files too (hash links to CRLs, READMEs)
    return anchors


def verify_chain(chain: t.Sequence[t.Any], anchors: t.Sequence[t.Any],
                 now: datetime.datetime) -> tuple[bool | None, str | None]:
    """Whether the chain leads to one of ``anchors``; (None, why) when this cryptography cannot tell."""
    if verification is None:
        return None, "chain not verified: needs cryptography 45 or later"
    if not anchors:
        return False, "no CA certificates to verify against"
    leaf = chain[0]
    not_before = utc(getattr(leaf, "not_valid_before_utc", None) or leaf.not_valid_before)
    not_after = utc(getattr(leaf, "not_valid_after_utc", None) or leaf.not_valid_after)
    # Verify at a moment inside the leaf's validity: dates are judged on their own, so an
    # expired certificate from a trusted CA reads "expired", not "untrusted".
    moment = min(max(utc(now), not_before), not_after)
    policies = verification.ExtensionPolicy
    # The web PKI rules for CAs, none for the leaf: private CAs (trustme, step-ca) mark SANs critical,
    # which the strict leaf policy rejects although every TLS client accepts it.
    builder = (verification.PolicyBuilder().store(verification.Store(list(anchors))).time(moment)
               .extension_policies(ca_policy=policies.webpki_defaults_ca(), ee_policy=policies.permit_all()))
    try:
        builder.build_client_verifier().verify(leaf, list(chain[1:]))
    except verification.VerificationError as exc:
        return False, str(exc)
    return True, None


def _file_fields(path: str) -> dict[str, t.Any]:
    return {"name": path, "kind": "file", "host": None, "port": None, "server_name": None, "path": path,
            "error": None, "error_kind": None, "verify_code": None, "verify_error": None, "hostname_match": None}


def unreadable_report(path: str, error: str, thresholds: Thresholds) -> dict[str, t.Any]:
    """The report for a file we could not read, built without touching the file again."""
    report = dict(_file_fields(path), **NO_CERTIFICATE, error_kind=UNREADABLE, error=error)
    report["classification"], report["status"], report["problems"] = classify(report, thresholds)
    return report


def file_report(path: str, anchors: t.Sequence[t.Any], now: datetime.datetime,
                thresholds: Thresholds) -> dict[str, t.Any]:
    report = _file_fields(path)
    try:
        chain = read_chain(path)
    except (OSError, ValueError) as exc:
        return unreadable_report(path, describe_error(exc), thresholds)
    info = describe_certificate(chain[0])
    report.update(info)
    report["days_left"] = days_left(info["not_after"], now)
    report["expired"] = is_expired(info["not_after"], now)
    report["not_yet_valid"] = utc(now) < datetime.datetime.fromisoformat(info["not_before"])
    report["chain_length"] = len(chain)
    report["chain_valid"], report["verify_error"] = verify_chain(chain, anchors, now)
    report["classification"], report["status"], report["problems"] = classify(report, thresholds)
    return report
