# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests for _tls and _tls_certs: pure rules with an injected clock, and real
handshakes against the lab's TLS endpoints and a few extra servers, all on 127.0.0.1."""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import socket
import ssl
import threading
import typing as t
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _tls, _tls_certs
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)
from ansible_collections.platform_eng.incident_response.tests.unit.plugins import lab_services

UTC = datetime.timezone.utc
DAY = datetime.timedelta(days=1)
SECOND = datetime.timedelta(seconds=1)
NOT_AFTER = datetime.datetime(2026, 6, 30, 12, 0, 0, tzinfo=UTC)
DEFAULT = _tls_certs.Thresholds(warn_days=30, critical_days=7)


# ---------------------------------------------------------------------------
# Days left and thresholds, with an injected clock: the 7- and 30-day edges
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("now, days, status", [
    (NOT_AFTER - 31 * DAY, 31, "ok"),
    (NOT_AFTER - 30 * DAY, 30, "ok"),  # exactly 30 days left: not yet fewer than 30
    (NOT_AFTER - 30 * DAY + SECOND, 29, "warn"),
    (NOT_AFTER - 7 * DAY, 7, "warn"),  # exactly 7 days left: warn, not critical
    (NOT_AFTER - 7 * DAY + SECOND, 6, "critical"),
    (NOT_AFTER - SECOND, 0, "critical"),
])
def test_expiry_edges_at_7_and_30_days(now: datetime.datetime, days: int, status: str) -> None:
    assert _tls_certs.days_left(NOT_AFTER, now) == days
    assert _tls_certs.expiry_status(days, DEFAULT) == status
    assert _tls_certs.is_expired(NOT_AFTER, now) is False


@pytest.mark.parametrize("now, days, expired", [
    (NOT_AFTER, 0, False),  # not_after is the last valid second
    (NOT_AFTER + SECOND, 0, True),
    (NOT_AFTER + 2 * DAY + 3 * datetime.timedelta(hours=1), -2, True),  # reads "expired 2 days ago"
])
def test_days_left_after_expiry_counts_toward_zero(now: datetime.datetime, days: int, expired: bool) -> None:
    assert _tls_certs.days_left(NOT_AFTER.isoformat(), now) == days
    assert _tls_certs.is_expired(NOT_AFTER.isoformat(), now) is expired


def test_custom_thresholds_move_the_edges() -> None:
    thresholds = _tls_certs.Thresholds(warn_days=60, critical_days=14)
    assert _tls_certs.expiry_status(59, thresholds) == "warn"
    assert _tls_certs.expiry_status(13, thresholds) == "critical"
    assert _tls_certs.expiry_status(60, thresholds) == "ok"


# ---------------------------------------------------------------------------
# Host-name matching and classification
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name, dns, ips, expected", [
    ("tls-valid.irlab.test", ["tls-valid.irlab.test"], [], True),
    ("TLS-Valid.irlab.test.", ["tls-valid.irlab.test"], [], True),
    ("api.example.com", ["*.example.com"], [], True),
    ("example.com", ["*.example.com"], [], False),  # a wildcard never covers the bare domain
    ("a.b.example.com", ["*.example.com"], [], False),  # ... nor two labels
    ("foo.com", ["*.com"], [], False),  # ... nor a whole top-level domain
    ("tls-wronghost.irlab.test", ["other.irlab.test"], [], False),
    ("127.0.0.1", ["localhost"], ["127.0.0.1"], True),
    ("127.0.0.1", ["127.0.0.1"], [], False),  # an address must be an IP SAN, not a DNS one
    ("::1", [], ["0:0:0:0:0:0:0:1"], True),
])
def test_hostname_matching(name: str, dns: list[str], ips: list[str], expected: bool) -> None:
    assert _tls_certs.hostname_matches(name, dns, ips) is expected


def _report(**overrides: t.Any) -> dict[str, t.Any]:
    report = {"days_left": 200, "expired": False, "not_yet_valid": False, "chain_valid": True,
              "hostname_match": True, "verify_code": None, "error_kind": None}
    report.update(overrides)
    return report


@pytest.mark.parametrize("overrides, classification, status, problems", [
    ({}, "ok", "ok", []),
    ({"days_left": 10}, "expiring", "warn", ["expiring"]),
    ({"days_left": 3}, "expiring", "critical", ["expiring"]),
    ({"days_left": -2, "expired": True, "verify_code": 10}, "expired", "critical", ["expired"]),
    ({"days_left": 0, "expired": True}, "expired", "critical", ["expired"]),
    ({"hostname_match": False, "verify_code": 62}, "wrong_host", "critical", ["wrong_host"]),
    ({"chain_valid": False, "verify_code": 18}, "untrusted", "critical", ["untrusted"]),
    ({"chain_valid": False, "hostname_match": False, "days_left": 5}, "untrusted", "critical",
     ["untrusted", "wrong_host", "expiring"]),
    ({"not_yet_valid": True, "verify_code": 9}, "not_yet_valid", "critical", ["not_yet_valid"]),
    ({"error_kind": "unreachable", "days_left": None}, "unreachable", "critical", ["unreachable"]),
    ({"error_kind": "tls_error", "days_left": None}, "tls_error", "critical", ["tls_error"]),
])
def test_classification_names_the_main_problem_first(
        overrides: dict[str, t.Any], classification: str, status: str, problems: list[str]) -> None:
    assert _tls_certs.classify(_report(**overrides), DEFAULT) == (classification, status, problems)


def test_finding_carries_days_thresholds_and_runbook_remediation() -> None:
    report = _report(name="expired", classification="expired", status="critical", days_left=-2, error=None,
                     not_after="2026-06-30T12:00:00+00:00", subject="CN=x", issuer="CN=ca", sans=["x"],
                     server_name="x", verify_error="certificate has expired", self_signed=False)
    finding = _tls_certs.finding_for(report, DEFAULT)
    assert (finding.name, finding.target, finding.status, finding.value, finding.unit) == (
        "tls_certificate", "expired", "critical", -2, "days")
    assert finding.threshold == {"warn_days": 30, "critical_days": 7}
    assert finding.evidence.startswith("expired: not_after 2026-06-30T12:00:00+00:00")
    assert "certbot renew" in finding.remediation


# ---------------------------------------------------------------------------
# Certificates and files
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA(organization_name="unit CA")


def _write_chain(path: Path, cert: trustme.LeafCert) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    return path


def test_describe_certificate_reads_names_dates_and_issuer(ca: trustme.CA) -> None:
    leaf = ca.issue_cert("app.irlab.test", "10.77.1.1", not_after=NOT_AFTER)
    info = _tls_certs.describe_certificate(x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()))
    assert info["dns_names"] == ["app.irlab.test"] and info["ip_addresses"] == ["10.77.1.1"]
    assert info["sans"] == ["app.irlab.test", "10.77.1.1"]
    assert info["not_after"] == "2026-06-30T12:00:00+00:00"
    assert "O=unit CA" in info["issuer"] and info["self_signed"] is False
    assert len(info["fingerprint_sha256"]) == 64


def test_certbot_live_directory_expands_to_each_domains_fullchain(tmp_path: Path, ca: trustme.CA) -> None:
    live = tmp_path / "live"
    for domain in ("a.example", "b.example"):
        _write_chain(live / domain / "fullchain.pem", ca.issue_cert(domain))
        _write_chain(live / domain / "cert.pem", ca.issue_cert(domain))
    (live / "README").write_text("certbot's own note\n")
    (tmp_path / "empty").mkdir()
    paths = [str(live), str(live / "b.example"), str(tmp_path / "x.pem"), str(tmp_path / "empty")]
    assert _tls_certs.expand_paths(paths) == [
        str(live / "a.example" / "fullchain.pem"), str(live / "b.example" / "fullchain.pem"),
        str(live / "b.example" / "fullchain.pem"), str(tmp_path / "x.pem"), str(tmp_path / "empty"),
    ]


def test_files_are_judged_on_dates_and_chain(tmp_path: Path, ca: trustme.CA) -> None:
    now = datetime.datetime.now(UTC)
    intermediate = ca.create_child_ca()
    issued = intermediate.issue_cert("valid.example")
    valid = _write_chain(tmp_path / "valid" / "fullchain.pem", issued)  # leaf + intermediate, as certbot writes it
    leaf_only = tmp_path / "valid" / "cert.pem"
    leaf_only.write_bytes(issued.cert_chain_pems[0].bytes())
    soon = _write_chain(tmp_path / "soon.pem", ca.issue_cert("soon.example", not_after=now + 5 * DAY))
    old = _write_chain(tmp_path / "old.pem", ca.issue_cert("old.example", not_before=now - 90 * DAY,
                                                           not_after=now - 2 * DAY))
    stranger = _write_chain(tmp_path / "stranger.pem", trustme.CA().issue_cert("stranger.example"))
    der = tmp_path / "leaf.der"
    der.write_bytes(x509.load_pem_x509_certificate(ca.issue_cert("der.example").cert_chain_pems[0].bytes())
                    .public_bytes(serialization.Encoding.DER))
    broken = tmp_path / "broken.pem"
    broken.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    anchors = _tls_certs.load_trust_anchors(str(bundle))

    def judge(path: Path) -> dict[str, t.Any]:
        return _tls_certs.file_report(str(path), anchors, now, DEFAULT)

    assert (judge(valid)["classification"], judge(valid)["chain_valid"], judge(valid)["chain_length"]) == ("ok", True, 2)
    # Without the intermediate nothing leads to the CA: the reason fullchain.pem is preferred.
    assert (judge(leaf_only)["classification"], judge(leaf_only)["chain_valid"]) == ("untrusted", False)
    assert (judge(soon)["classification"], judge(soon)["status"], judge(soon)["days_left"]) == ("expiring", "critical", 4)
    # An expired certificate from the trusted CA is "expired", and its chain still checks out.
    assert (judge(old)["classification"], judge(old)["chain_valid"]) == ("expired", True)
    assert (judge(stranger)["classification"], judge(stranger)["chain_valid"]) == ("untrusted", False)
    assert judge(der)["classification"] == "ok"
    for path in (broken, tmp_path / "missing.pem"):
        report = judge(path)
        assert (report["classification"], report["status"], report["days_left"]) == ("unreadable", "critical", None)
    assert "FileNotFoundError" in judge(tmp_path / "missing.pem")["error"]
    assert judge(valid)["hostname_match"] is None  # a file has no name to check


# ---------------------------------------------------------------------------
# Real handshakes: the lab's endpoints, plus servers the lab does not have
# ---------------------------------------------------------------------------

class TlsServer:
    """A TLS server on 127.0.0.1 with a given context; mode 'silent' accepts and never handshakes,
    'plain' answers like an HTTP server, not TLS."""

    def __init__(self, context: ssl.SSLContext | None, mode: str = "tls") -> None:
        self.context, self.mode = context, mode
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _peer = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        if self.mode == "silent":
            self.held.append(conn)
            return
        if self.mode == "plain":
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            conn.close()
            return
        assert self.context is not None
        try:
            with self.context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except (OSError, ssl.SSLError):
            pass

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def _server_context(cert_pem: bytes, key_pem: bytes, tmp: Path) -> ssl.SSLContext:
    (tmp / "cert.pem").write_bytes(cert_pem)
    (tmp / "key.pem").write_bytes(key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
    return context


def _self_signed(name: str, not_after: datetime.datetime) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(not_after - 400 * DAY)
            .not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[lab_services.TlsEndpoints]:
    with lab_services.tls_endpoints(tmp_path_factory.mktemp("tls-lab")) as endpoints:
        yield endpoints


@pytest.fixture(scope="module")
def extra_servers(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[dict[str, TlsServer]]:
    tmp = tmp_path_factory.mktemp("tls-extra")
    now = datetime.datetime.now(UTC)
    stranger = trustme.CA(organization_name="stranger CA")
    servers: dict[str, TlsServer] = {}
    made = {
        "self_signed": _self_signed("selfsigned.irlab.test", now + 300 * DAY),
        "self_signed_expired": _self_signed("selfsigned.irlab.test", now - 3 * DAY),
    }
    for name, (cert, key) in made.items():
        (tmp / name).mkdir()
        servers[name] = TlsServer(_server_context(cert, key, tmp / name))
    unknown_ca = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    stranger.issue_cert("unknown.irlab.test", "127.0.0.1").configure_cert(unknown_ca)
    servers["unknown_ca"] = TlsServer(unknown_ca)
    servers["silent"] = TlsServer(None, mode="silent")
    servers["plain"] = TlsServer(None, mode="plain")
    try:
        yield servers
    finally:
        for server in servers.values():
            server.close()


def _params(lab: lab_services.TlsEndpoints, **extra: t.Any) -> dict[str, t.Any]:
    endpoints = [{"name": e["name"], "host": e["host"], "port": e["port"], "server_name": e["server_name"]}
                 for e in lab.endpoints]
    return {"endpoints": endpoints + extra.pop("more", []), "ca_path": lab.ca_path, **extra}


def test_each_lab_endpoint_gets_the_status_it_was_built_for(lab: lab_services.TlsEndpoints) -> None:
    closed = lab_services.closed_port()
    result = _tls.check_tls_certificate(_tls.build_plan(_params(
        lab, more=[{"name": "unreachable", "host": "127.0.0.1", "port": closed}])))
    got = {r["name"]: (r["classification"], r["status"]) for r in result["certificates"]}
    assert got == {
        "valid": ("ok", "ok"),
        "expiring": ("expiring", "warn"),  # 10 days: under 30, not under 7
        "expired": ("expired", "critical"),
        "wrong_host": ("wrong_host", "critical"),
        "unreachable": ("unreachable", "critical"),
    }
    # The lab's own manifest says what each endpoint should be; ours must agree.
    for endpoint in lab.endpoints:
        assert got[endpoint["name"]][0] == endpoint["expected"]
    reports = {r["name"]: r for r in result["certificates"]}
    assert reports["expiring"]["days_left"] in (9, 10)
    assert reports["expired"]["verify_error"] == "certificate has expired"
    assert reports["wrong_host"]["hostname_match"] is False and reports["wrong_host"]["chain_valid"] is True
    assert reports["wrong_host"]["sans"] == ["other.irlab.test"]
    assert "ConnectionRefusedError" in reports["unreachable"]["error"]
    assert reports["valid"]["issuer"] == "OU=irlab test CA,O=irlab"
    assert result["by_classification"]["expired"] == ["expired"]
    assert result["status"] == "critical"
    assert result["counts"] == {"ok": 1, "unknown": 0, "warn": 1, "critical": 3}
    assert [f["target"] for f in result["findings"]] == ["valid", "expiring", "expired", "wrong_host", "unreachable"]


def test_injected_clock_moves_the_lab_certificates_over_the_edges(lab: lab_services.TlsEndpoints) -> None:
    not_after = datetime.datetime.fromisoformat(lab.by_name("valid")["not_after"])
    plan = _tls.build_plan(_params(lab))
    for now, status in ((not_after - 30 * DAY, "ok"), (not_after - 30 * DAY + SECOND, "warn"),
                        (not_after - 7 * DAY, "warn"), (not_after - 7 * DAY + SECOND, "critical")):
        result = _tls.check_tls_certificate(plan, clock=lambda now=now: now)
        valid = next(r for r in result["certificates"] if r["name"] == "valid")
        assert (valid["status"], valid["classification"]) == (status, "ok" if status == "ok" else "expiring")


def test_self_signed_and_unknown_ca_are_untrusted(
        lab: lab_services.TlsEndpoints, extra_servers: dict[str, TlsServer]) -> None:
    more = [{"name": name, "host": "127.0.0.1", "port": extra_servers[name].port,
             "server_name": "selfsigned.irlab.test" if name.startswith("self") else "unknown.irlab.test"}
            for name in ("self_signed", "self_signed_expired", "unknown_ca")]
    result = _tls.check_tls_certificate(_tls.build_plan({"endpoints": more, "ca_path": lab.ca_path}))
    reports = {r["name"]: r for r in result["certificates"]}
    assert reports["self_signed"]["classification"] == "untrusted"
    assert reports["self_signed"]["self_signed"] is True and reports["self_signed"]["chain_valid"] is False
    assert reports["self_signed"]["verify_code"] == 18  # X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
    assert reports["unknown_ca"]["classification"] == "untrusted"
    assert reports["unknown_ca"]["self_signed"] is False and reports["unknown_ca"]["hostname_match"] is True
    # Both problems are listed; the date, which needs no trust to judge, leads.
    assert reports["self_signed_expired"]["problems"] == ["expired", "untrusted"]
    assert "self-signed" in result["findings"][0]["evidence"]


def test_handshake_failures_are_tls_errors_not_unreachable(extra_servers: dict[str, TlsServer]) -> None:
    endpoints = [{"name": name, "host": "127.0.0.1", "port": extra_servers[name].port} for name in ("silent", "plain")]
    result = _tls.check_tls_certificate(_tls.build_plan({"endpoints": endpoints, "timeout": 0.5}))
    reports = {r["name"]: r for r in result["certificates"]}
    assert reports["silent"]["classification"] == "tls_error" and "timed out" in reports["silent"]["error"]
    assert reports["plain"]["classification"] == "tls_error" and "SSL" in reports["plain"]["error"]
    assert result["elapsed_ms"] < 3000  # the two run side by side, each bounded by the timeout


def test_without_a_bundle_the_system_store_does_not_trust_the_lab(lab: lab_services.TlsEndpoints) -> None:
    params = _params(lab)
    params.pop("ca_path")
    result = _tls.check_tls_certificate(_tls.build_plan(params))
    assert {r["classification"] for r in result["certificates"]} == {"untrusted", "expired"}


def test_many_endpoints_run_concurrently(tmp_path: Path) -> None:
    with lab_services.tls_endpoints(tmp_path, extra=40) as many:
        result = _tls.check_tls_certificate(_tls.build_plan(_params(many, max_workers=32)))
    assert len(result["certificates"]) == 44
    assert result["counts"]["ok"] == 41
    # Run one after the other, the probes' times would add up to the total; overlapping, they exceed it.
    assert result["elapsed_ms"] * 2 < sum(r["elapsed_ms"] for r in result["certificates"])


@pytest.mark.parametrize("params, message", [
    ({}, "nothing to check"),
    ({"endpoints": [{"host": "a", "port": 1}, {"host": "a", "port": 1}]}, "repeated: a:1"),
    ({"endpoints": [{"host": "a", "port": 70000}]}, "port must be 1-65535"),
    ({"endpoints": [{"host": "", "port": 443}]}, "host is required"),
    ({"files": ["/x"], "warn_days": 5, "critical_days": 7}, "critical_days <= warn_days"),
    ({"files": ["/x"], "ca_path": "/nonexistent/ca.pem"}, "ca_path /nonexistent/ca.pem does not exist"),
])
def test_bad_options_fail_before_any_connection(params: dict[str, t.Any], message: str) -> None:
    with pytest.raises(IncidentResponseError, match=message):
        _tls.build_plan(params)


def test_default_endpoint_names_say_where_and_which_name() -> None:
    plan = _tls.build_plan({"endpoints": [{"host": "10.77.1.1", "port": 8444, "server_name": "tls.irlab.test"},
                                          {"host": "example.com"}]})
    assert [e.name for e in plan.endpoints] == ["tls.irlab.test@10.77.1.1:8444", "example.com:443"]


def test_certbot_files_and_endpoints_in_one_call(tmp_path: Path, lab: lab_services.TlsEndpoints) -> None:
    live = tmp_path / "letsencrypt" / "live" / "tls-valid.irlab.test"
    live.mkdir(parents=True)
    shutil.copy(lab.by_name("valid")["cert_file"], live / "fullchain.pem")
    result = _tls.check_tls_certificate(_tls.build_plan({
        "endpoints": [{"name": "expiring", "host": "127.0.0.1", "port": lab.by_name("expiring")["port"],
                       "server_name": "tls-expiring.irlab.test"}],
        "files": [str(live.parent)], "ca_path": lab.ca_path}))
    assert [(r["kind"], r["classification"]) for r in result["certificates"]] == [("endpoint", "expiring"),
                                                                                  ("file", "ok")]
    assert result["certificates"][1]["path"] == str(live / "fullchain.pem")
