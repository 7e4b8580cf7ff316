#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: tls_certificate_info
short_description: Check the TLS certificates of many endpoints and local files at once
version_added: 0.1.0
description:
  - Connects to every endpoint in O(endpoints) concurrently (at most O(max_workers) at a time), with the SNI name
    O(endpoints[].server_name), and reads every certificate file in O(files), for example certbot's
    C(/etc/letsencrypt/live) directory.
  - Reports for each certificate the days left, C(not_after), subject, issuer, subjectAltNames, whether the name
    clients use matches, and whether the chain leads to a CA in O(ca_path), and classifies it as one of V(ok),
    V(expiring), V(expired), V(not_yet_valid), V(wrong_host), V(untrusted) (self-signed or unknown CA),
    V(unreachable), V(tls_error) (the port answers but the TLS handshake fails) or V(unreadable) (a file).
  - Each certificate becomes a finding (name V(tls_certificate), target the endpoint or file name, status, days left
    as the value, evidence, remediation from the runbook's 'SSL Certificate Renewal'). V(expiring) is V(warn) below
    O(warn_days) and V(critical) below O(critical_days); every other problem is V(critical).
  - An endpoint that cannot be reached is a V(critical) finding, not a module failure. Only O(fail_on) turns a verdict
    into a task failure.
  - Trust and host name are verified by OpenSSL in a handshake with the CA bundle; only when that fails is the
    certificate fetched again without verification, for the report. Files are verified with C(cryptography).
author:
  - Platform Engineering Team (@platform-eng)
requirements:
  - cryptography (45 or later to verify the chain of local files)
extends_documentation_fragment:
  - platform_eng.incident_response.attributes
  - platform_eng.incident_response.attributes.info_module
  - platform_eng.incident_response.attributes.idempotent_not_modify_state
  - platform_eng.incident_response.fail_on
options:
  endpoints:
    description:
      - The TLS endpoints to check. At least one of O(endpoints) and O(files) is required.
    type: list
    elements: dict
    suboptions:
      host:
        description:
          - Host name or IP address to connect to.
        type: str
        required: true
      port:
        description:
          - TCP port.
        type: int
        default: 443
      server_name:
        description:
          - The name clients use. Sent as SNI and checked against the certificate's subjectAltNames.
          - Defaults to O(endpoints[].host).
        type: str
      name:
        description:
          - The name the report and the findings use. Must be unique.
          - Defaults to V(HOST:PORT), or V(SERVER_NAME@HOST:PORT) when O(endpoints[].server_name) differs from the host.
        type: str
  files:
    description:
      - Certificate files to check, PEM (leaf first, as in C(fullchain.pem)) or DER, read on the host the module runs
        on.
      - A certbot domain directory (C(/etc/letsencrypt/live/DOMAIN)) means its C(fullchain.pem); certbot's
        C(live) directory itself means every domain in it.
      - Files have no host name to check, so RV(certificates[].hostname_match) is V(null) for them.
    type: list
    elements: path
  ca_path:
    description:
      - A PEM bundle, or a directory of CA certificates, to verify chains against, for example the lab's
        C(/var/lib/irlab/tls/ca.pem). Defaults to the system's trust store.
    type: path
  warn_days:
    description:
      - Warn when fewer than this many whole days are left.
    type: int
    default: 30
  critical_days:
    description:
      - Critical when fewer than this many whole days are left. Must not exceed O(warn_days).
    type: int
    default: 7
  timeout:
    description:
      - Socket timeout for connecting and for each handshake, in seconds.
    type: float
    default: 5
  max_workers:
    description:
      - How many endpoints and files to check at the same time.
    type: int
    default: 32
notes:
  - Days left are whole days, truncated toward zero; thresholds are strict, as in the runbook. With the defaults a
    certificate with 7 days and 1 hour left warns, one with 6 days and 23 hours left is critical.
  - A chain that fails both trust and host name is V(untrusted); RV(certificates[].problems) lists every problem found.
  - Only the certificate the server presents for O(endpoints[].server_name) is checked; no HTTP request is sent.
seealso:
  - module: community.crypto.get_certificate
    description: Fetch one endpoint's certificate.
  - module: community.crypto.x509_certificate_info
    description: Read every field of one certificate file.
"""

EXAMPLES = r"""
- name: Check the lab's TLS endpoints against the lab CA
  platform_eng.incident_response.tls_certificate_info:
    endpoints:
      - {host: 10.77.1.1, port: 8441, server_name: tls-valid.irlab.test}
      - {host: 10.77.1.1, port: 8442, server_name: tls-expiring.irlab.test}
      - {host: 10.77.1.1, port: 8443, server_name: tls-expired.irlab.test}
      - {host: 10.77.1.1, port: 8444, server_name: tls-wronghost.irlab.test}
    ca_path: "{{ incident_response_tls_ca_path }}"
  register: incident_response__certs

- name: Name the certificates that need renewal
  ansible.builtin.debug:
    msg: "{{ incident_response__certs.by_classification.expiring + incident_response__certs.by_classification.expired }}"

- name: Check certbot's certificates on the bastion, failing below 7 days
  platform_eng.incident_response.tls_certificate_info:
    files:
      - /etc/letsencrypt/live
    critical_days: 7
    fail_on: critical
  delegate_to: bastion
"""

RETURN = r"""
status:
  description: The worst status among the findings.
  returned: always
  type: str
  sample: critical
counts:
  description: How many findings have each status.
  returned: always
  type: dict
  sample: {"ok": 1, "unknown": 0, "warn": 1, "critical": 3}
findings:
  description: One V(tls_certificate) finding per endpoint and file.
  returned: always
  type: list
  elements: dict
  sample:
    - name: tls_certificate
      target: expired
      status: critical
      value: -2
      threshold: {warn_days: 30, critical_days: 7}
      unit: days
      evidence: "expired: not_after 2026-11-25T10:48:01+00:00 (-2 day(s) left); subject CN=tls-expired.irlab.test; ..."
      remediation: "The certificate has expired; clients refuse it. Runbook 'SSL Certificate Renewal': ..."
by_classification:
  description: Names of the certificates in each classification (every classification is a key).
  returned: always
  type: dict
  sample: {"ok": ["valid"], "expiring": ["expiring"], "expired": ["expired"], "wrong_host": ["wrong_host"],
           "untrusted": [], "unreachable": ["10.77.1.1:8449"], "tls_error": [], "unreadable": [], "not_yet_valid": []}
certificates:
  description: One report per endpoint and file, in the order given (directories expanded in place).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The endpoint's name, or the file's path.
      type: str
      sample: expiring
    kind:
      description: V(endpoint) or V(file).
      type: str
      sample: endpoint
    host:
      description: The host connected to (endpoints).
      type: str
      sample: 10.77.1.1
    port:
      description: The port connected to (endpoints).
      type: int
      sample: 8442
    server_name:
      description: The SNI name sent and checked (endpoints).
      type: str
      sample: tls-expiring.irlab.test
    path:
      description: The file read (files).
      type: str
      sample: /etc/letsencrypt/live/example.com/fullchain.pem
    classification:
      description: The certificate's main problem, or V(ok).
      type: str
      sample: expiring
    problems:
      description: Every problem found, main one first.
      type: list
      elements: str
      sample: ["expiring"]
    status:
      description: The finding's status.
      type: str
      sample: warn
    days_left:
      description: Whole days until C(not_after), negative once expired; V(null) without a certificate.
      type: int
      sample: 9
    expired:
      description: Whether C(not_after) has passed.
      type: bool
      sample: false
    not_yet_valid:
      description: Whether C(not_before) is still in the future.
      type: bool
      sample: false
    not_after:
      description: End of validity, ISO 8601 UTC.
      type: str
      sample: "2026-12-07T10:48:01+00:00"
    not_before:
      description: Start of validity, ISO 8601 UTC.
      type: str
      sample: "2026-11-26T10:48:01+00:00"
    subject:
      description: Subject, RFC 4514.
      type: str
      sample: CN=tls-expiring.irlab.test
    issuer:
      description: Issuer, RFC 4514.
      type: str
      sample: OU=irlab test CA,O=irlab
    sans:
      description: subjectAltNames, DNS names then IP addresses.
      type: list
      elements: str
      sample: ["tls-expiring.irlab.test", "10.77.1.1"]
    dns_names:
      description: DNS subjectAltNames.
      type: list
      elements: str
      sample: ["tls-expiring.irlab.test"]
    ip_addresses:
      description: IP address subjectAltNames.
      type: list
      elements: str
      sample: ["10.77.1.1"]
    self_signed:
      description: Whether subject and issuer are the same.
      type: bool
      sample: false
    serial_number:
      description: Serial number, hexadecimal.
      type: str
      sample: 5c1f0e9a3b
    fingerprint_sha256:
      description: SHA-256 of the DER certificate, hexadecimal.
      type: str
      sample: 3f7a0c...e1
    hostname_match:
      description: Whether O(endpoints[].server_name) is covered by the subjectAltNames; V(null) for files.
      type: bool
      sample: true
    chain_valid:
      description: Whether the chain leads to a CA in O(ca_path); V(null) when it could not be checked.
      type: bool
      sample: true
    chain_length:
      description: How many certificates the server presented (or the file holds).
      type: int
      sample: 1
    verify_code:
      description: OpenSSL's verify error code when verification failed (endpoints).
      type: int
      sample: 10
    verify_error:
      description: Why verification failed.
      type: str
      sample: certificate has expired
    error:
      description: Why there is no certificate (unreachable, TLS error, unreadable file).
      type: str
      sample: "ConnectionRefusedError: [Errno 111] Connection refused"
    elapsed_ms:
      description: Time the endpoint took, in milliseconds (endpoints).
      type: float
      sample: 12.4
elapsed_ms:
  description: Time the whole check took, in milliseconds.
  returned: always
  type: float
  sample: 95.3
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._prerequisites import require
from ansible_collections.platform_eng.incident_response.plugins.module_utils._tls import (
    build_plan,
    check_tls_certificate,
    failure_summary,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._tls_certs import (
    CRYPTOGRAPHY_IMPORT_ERROR,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._verdict import (
    fail_on_argument_spec,
    reaches,
)

ARGUMENT_SPEC = dict(
    endpoints={
        "type": "list",
        "elements": "dict",
        "options": {
            "host": {"type": "str", "required": True},
            "port": {"type": "int", "default": 443},
            "server_name": {"type": "str"},
            "name": {"type": "str"},
        },
    },
    files={"type": "list", "elements": "path"},
    ca_path={"type": "path"},
    warn_days={"type": "int", "default": 30},
    critical_days={"type": "int", "default": 7},
    timeout={"type": "float", "default": 5.0},
    max_workers={"type": "int", "default": 32},
    **fail_on_argument_spec(),
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True,
                           required_one_of=[("endpoints", "files")])
    require(module, [("cryptography", CRYPTOGRAPHY_IMPORT_ERROR)])
    try:
        result = check_tls_certificate(build_plan(module.params))
    except IncidentResponseError as exc:
        module.fail_json(msg=str(exc))
    fail_on = module.params["fail_on"]
    if reaches(result["status"], fail_on):
        module.fail_json(msg=failure_summary(result, fail_on), changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
