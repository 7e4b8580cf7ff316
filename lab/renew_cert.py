#!/usr/bin/env python3
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's stand-in for `certbot renew` and for the reload that follows it.

No ACME server is reachable in the lab, so renewal issues a fresh certificate for an endpoint of
lab/services/tls_endpoints.py from the lab CA, with the same names, into the endpoint's own
cert/key files (from endpoints.json). Like certbot, it leaves a certificate alone that is not
due, and --dry-run proves it could renew without writing anything.

  renew_cert.py renew --state-dir /var/lib/irlab/tls --name expiring [--days 90] [--due-days 30] [--dry-run]
  renew_cert.py reload --pidfile /var/lib/irlab/run/tls.pid     # SIGHUP: the service reloads its files
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import signal
import sys
import typing as t

import trustme
from cryptography import x509


def find_endpoint(state_dir: pathlib.Path, name: str) -> dict[str, t.Any]:
    for endpoint in json.loads((state_dir / "endpoints.json").read_text(encoding="utf-8")):
        if endpoint["name"] == name:
            return endpoint
    raise SystemExit(f"no endpoint named {name!r} in {state_dir / 'endpoints.json'}")


def names_of(cert: x509.Certificate) -> list[str]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [*san.get_values_for_type(x509.DNSName), *(str(ip) for ip in san.get_values_for_type(x509.IPAddress))]


def write_atomic(path: pathlib.Path, data: bytes, mode: int) -> None:
    """Replace in one rename, so a reload never reads a half-written file."""
    tmp = path.with_name(path.name + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    tmp.replace(path)


def renew(args: argparse.Namespace) -> int:
    endpoint = find_endpoint(args.state_dir, args.name)
    cert_file, key_file = pathlib.Path(endpoint["cert_file"]), pathlib.Path(endpoint["key_file"])
    current = x509.load_pem_x509_certificate(cert_file.read_bytes())
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    days_left = (current.not_valid_after_utc - now).days
    if days_left >= args.due_days and not args.force:
        print(f"{args.name}: not due ({days_left} days left, renewing below {args.due_days}); nothing to do")
        return 0
    ca = trustme.CA.from_pem((args.state_dir / "ca.pem").read_bytes(), (args.state_dir / "ca.key").read_bytes())
    names = names_of(current)
    leaf = ca.issue_cert(*names, common_name=names[0], not_before=now - datetime.timedelta(minutes=5),
                         not_after=now + datetime.timedelta(days=args.days))
    if args.dry_run:
        print(f"{args.name}: dry run: would renew ({days_left} days left) for {args.days} days; wrote nothing")
        return 0
    write_atomic(key_file, leaf.private_key_pem.bytes(), 0o600)
    write_atomic(cert_file, b"".join(blob.bytes() for blob in leaf.cert_chain_pems), 0o644)
    print(f"{args.name}: renewed ({days_left} days left) until {(now + datetime.timedelta(days=args.days)).isoformat()}")
    return 0


def reload(args: argparse.Namespace) -> int:
    pid = int(args.pidfile.read_text(encoding="utf-8").strip())
    os.kill(pid, signal.SIGHUP)
    print(f"sent SIGHUP to {pid}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    issue = sub.add_parser("renew")
    issue.add_argument("--state-dir", type=pathlib.Path, default=pathlib.Path("/var/lib/irlab/tls"))
    issue.add_argument("--name", required=True)
    issue.add_argument("--days", type=int, default=90)
    issue.add_argument("--due-days", type=int, default=30)
    issue.add_argument("--force", action="store_true")
    issue.add_argument("--dry-run", action="store_true")
    hup = sub.add_parser("reload")
    hup.add_argument("--pidfile", type=pathlib.Path, required=True)
    args = parser.parse_args(argv)
    return renew(args) if args.command == "renew" else reload(args)


if __name__ == "__main__":
    sys.exit(main())
