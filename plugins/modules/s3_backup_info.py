#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: s3_backup_info
short_description: Judge the newest backup in S3 (age, size, integrity) and RDS snapshot recency
version_added: 0.1.0
description:
  - The runbook's C(aws s3 ls s3://backups-incident-response/latest/) as a verdict. Lists every object under
    O(bucket) and O(prefix) (all pages) and takes the one with the latest C(LastModified); C(aws s3 ls)
    sorts by key and an S3 listing stops at 1000 keys, so neither finds the newest backup reliably.
  - Judges its age against the RPO (C(backup_age)), its size against a minimum (C(backup_size)), and its
    content (C(backup_integrity)). The content is downloaded and hashed, then compared with the SHA-256 the
    backup job recorded in the object's metadata, or, without one, with the ETag, which is the MD5 of a
    single-part upload.
  - With O(db_instance_identifier), also judges the age of the newest available automated RDS snapshot
    (C(rds_snapshot_age)).
options:
  bucket:
    description:
      - The bucket, for example V(backups-incident-response).
    type: str
    required: true
  prefix:
    description:
      - Only objects whose key starts with this; keys ending in C(/) (folder markers) are ignored.
    type: str
    default: latest/
  key_pattern:
    description:
      - A shell pattern the rest of the key (after O(prefix)) must match, for example V(*.dump), to skip
        manifests and logs written next to the backups.
    type: str
  rpo_minutes:
    description:
      - The recovery point objective. A newest backup older than this is C(critical); exactly this old passes.
    type: float
    default: 15
  min_size_bytes:
    description:
      - A newest backup smaller than this is C(critical). The default catches an empty dump.
    type: int
    default: 1
  verify_integrity:
    description:
      - Download the newest backup and compare its hash with the recorded one.
    type: bool
    default: true
  checksum_metadata_key:
    description:
      - The user metadata key (without C(x-amz-meta-)) holding the SHA-256 of the content, in hex or base64.
    type: str
    default: sha256
  max_verify_bytes:
    description:
      - Objects larger than this are not downloaded; their integrity is C(unknown).
    type: int
    default: 1073741824
  max_objects:
    description:
      - Stop listing after this many objects; a capped listing adds an C(unknown) C(backup_listing) finding.
    type: int
    default: 100000
  db_instance_identifier:
    description:
      - Also judge the newest automated snapshot of this RDS instance.
    type: str
  snapshot_max_age_hours:
    description:
      - An automated snapshot older than this is C(critical). RDS takes one a day in the backup window, so
        the default allows a day plus the window and the time a snapshot takes. Point-in-time recovery,
        which the RPO relies on, is judged by M(platform_eng.incident_response.rds_instance_health_info).
    type: float
    default: 26
  as_of:
    description:
      - Judge as if it were this time (ISO 8601, for example V(2025-11-10T14:23:00Z)), ignoring objects and
        snapshots created after it. For post-incident reviews ("was the backup within the RPO when the
        incident started?").
    type: str
extends_documentation_fragment:
  - platform_eng.incident_response.attributes
  - platform_eng.incident_response.attributes.info_module
  - platform_eng.incident_response.attributes.idempotent_not_modify_state
  - platform_eng.incident_response.aws
  - platform_eng.incident_response.fail_on
notes:
  - Needs C(s3:ListBucket), C(s3:GetObject) and, with O(db_instance_identifier), C(rds:DescribeDBSnapshots).
  - A multipart upload's ETag is not an MD5 of the content, nor is the ETag of a KMS-encrypted object; without
    a recorded SHA-256 their integrity is C(unknown).
  - The download reads the exact version the listing found (C(If-Match) on its ETag), so a backup replaced
    meanwhile is reported, not mixed up.
seealso:
  - module: amazon.aws.s3_object_info
    description: Object metadata, without the newest-object search or a verdict.
  - module: platform_eng.incident_response.rds_instance_health_info
author:
  - Platform Engineering Team (@platform-eng)
"""

EXAMPLES = r"""
- name: Verify backup exists and is recent (runbook 'Database Backup Verification')
  platform_eng.incident_response.s3_backup_info:
    bucket: backups-incident-response
    prefix: latest/
    key_pattern: "*.dump"
    rpo_minutes: "{{ incident_response_rpo_minutes }}"
    db_instance_identifier: incident-response-prod
    region: us-east-1
  register: backup

- name: Fail the DR drill when the newest backup breaks the RPO or does not match its checksum
  platform_eng.incident_response.s3_backup_info:
    bucket: backups-incident-response
    fail_on: critical

- name: Was the backup within the RPO when the incident started?
  platform_eng.incident_response.s3_backup_info:
    bucket: backups-incident-response
    as_of: "2025-11-10T14:23:00Z"
    verify_integrity: false
"""

RETURN = r"""
status:
  description: The worst status among the findings.
  returned: always
  type: str
  sample: ok
counts:
  description: How many findings have each status.
  returned: always
  type: dict
  sample: {ok: 4, warn: 0, critical: 0, unknown: 0}
findings:
  description:
    - C(backup_age), then C(backup_size) and C(backup_integrity) for the newest object, C(rds_snapshot_age)
      with O(db_instance_identifier), and C(backup_listing) when the listing was capped.
  returned: always
  type: list
  elements: dict
  sample:
    - name: backup_age
      target: s3://backups-incident-response/latest/
      status: ok
      value: 14.98
      threshold: {warn: null, critical: 15.0}
      unit: minutes
      evidence: "newest backup modified 2025-11-10T14:08:01Z, 14:59 before 2025-11-10T14:23:00Z (RPO 15 min)"
      remediation: null
newest:
  description: The newest object as of RV(as_of); V(null) when there is none.
  returned: always
  type: dict
  sample:
    key: latest/incident_response-hourly.dump
    last_modified: "2025-11-10T14:08:01Z"
    size: 32768
    etag: 494e9ab459ea629dcf29e328eeab612b
    storage_class: STANDARD
    age_seconds: 899.0
objects_listed:
  description: How many objects the listing returned (before O(key_pattern) and RV(as_of) filtering).
  returned: always
  type: int
  sample: 3
listing_truncated:
  description: Whether the listing stopped at O(max_objects).
  returned: always
  type: bool
  sample: false
integrity:
  description: How the content of the newest backup was checked.
  returned: when verify_integrity is true and there is a newest object
  type: dict
  sample:
    method: metadata_sha256
    expected: 70d5563658cf61ed85b0ad8df08aad47a67f214406aaf1a8d140479a467fdc3b
    actual: 70d5563658cf61ed85b0ad8df08aad47a67f214406aaf1a8d140479a467fdc3b
    verified: true
    reason: null
  contains:
    method:
      description:
        - V(metadata_sha256) (the recorded checksum), V(etag_md5) (single-part upload), or V(null) when the
          content cannot be compared with anything.
      returned: always
      type: str
      sample: metadata_sha256
    expected:
      description: The checksum the content should have, in hex.
      returned: always
      type: str
      sample: 70d5563658cf61ed85b0ad8df08aad47a67f214406aaf1a8d140479a467fdc3b
    actual:
      description: The checksum of the downloaded content, in hex; V(null) when not downloaded.
      returned: always
      type: str
      sample: 70d5563658cf61ed85b0ad8df08aad47a67f214406aaf1a8d140479a467fdc3b
    verified:
      description: V(true) when they match, V(false) when they do not, V(null) when it could not be checked.
      returned: always
      type: bool
      sample: true
    reason:
      description: Why the content could not be checked.
      returned: always
      type: str
      sample: "multipart upload (ETag 8b0be7847da5564ae08e97af63b60885-2) and no 'sha256' metadata: the ETag is not an MD5"
snapshot:
  description:
    - The newest available automated snapshot of O(db_instance_identifier); V(null) without
      O(db_instance_identifier) or when there is none.
  returned: always
  type: dict
  sample:
    identifier: rds:incident-response-prod-2025-11-10-03-10
    status: available
    created: "2025-11-10T03:10:22Z"
    age_seconds: 40358.0
bucket:
  description: The bucket listed.
  returned: always
  type: str
  sample: backups-incident-response
prefix:
  description: The prefix listed.
  returned: always
  type: str
  sample: latest/
as_of:
  description: The moment the ages were measured at (now, or O(as_of)).
  returned: always
  type: str
  sample: "2025-11-10T14:23:00Z"
region:
  description: The region used.
  returned: always
  type: str
  sample: us-east-1
error:
  description: The AWS error that stopped the listing, with operation, resource and region.
  returned: when the listing failed
  type: str
  sample: >-
    Failed to list backups in s3://backups-incident-respons/latest/ in us-east-1: not found:
    NoSuchBucket (The specified bucket does not exist)
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.platform_eng.incident_response.plugins.module_utils._aws import (
    BOTO3_IMPORT_ERROR,
    aws_argument_spec,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._aws_s3_backup import check_s3_backup
from ansible_collections.platform_eng.incident_response.plugins.module_utils._verdict import (
    fail_on_argument_spec,
    run_check,
)


def main() -> None:
    argument_spec = aws_argument_spec()
    argument_spec.update(
        bucket=dict(type="str", required=True),
        prefix=dict(type="str", default="latest/"),
        key_pattern=dict(type="str", no_log=False),
        rpo_minutes=dict(type="float", default=15),
        min_size_bytes=dict(type="int", default=1),
        verify_integrity=dict(type="bool", default=True),
        checksum_metadata_key=dict(type="str", default="sha256", no_log=False),
        max_verify_bytes=dict(type="int", default=1024**3),
        max_objects=dict(type="int", default=100000),
        db_instance_identifier=dict(type="str"),
        snapshot_max_age_hours=dict(type="float", default=26),
        as_of=dict(type="str"),
        **fail_on_argument_spec(),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    run_check(module, check_s3_backup, "S3 backup", libraries=[("boto3", BOTO3_IMPORT_ERROR)])


if __name__ == "__main__":
    main()
