# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Backup recency and integrity: the newest S3 object under a prefix, and RDS automated snapshots.

``aws s3 ls`` sorts by key, and a listing stops at 1000 keys; the newest
backup is found here by paging through everything under the prefix and
taking the latest LastModified. Its age is judged against the RPO, its size
against a minimum, and its content against the checksum the backup job
recorded (or the ETag, which is the MD5 of a single-part upload).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import fnmatch
import hashlib
import typing as t

from ansible_collections.platform_eng.incident_response.plugins.module_utils._aws import (
    NOT_FOUND,
    AwsCallError,
    AwsSession,
    AwsSettings,
    as_utc,
    aws_errors,
    call,
    classify,
    clock_from,
    format_age,
    iso,
    paginate,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    CRITICAL,
    OK,
    UNKNOWN,
    Finding,
    compare,
    summarize,
)

CHUNK = 1024 * 1024
REMEDIATION_STALE = (
    "Runbook 'Database Backup Verification': the newest backup is older than the RPO; check the "
    "backup job's last run and its log, then take a backup now."
)
REMEDIATION_MISSING = (
    "Runbook 'Database Backup Verification': no backup under this prefix; check the bucket, the "
    "prefix and the backup job's destination."
)
REMEDIATION_SMALL = "The newest backup is smaller than expected: the dump was probably cut short; read the job's log."
REMEDIATION_CORRUPT = (
    "The backup's content does not match its recorded checksum: do not restore from it; take a "
    "new backup and find what changed the object."
)
REMEDIATION_UNVERIFIED = (
    "Record a sha256 of the dump in the object's metadata (x-amz-meta-sha256) when uploading, "
    "so the content can be verified."
)
REMEDIATION_SNAPSHOT = (
    "Automated RDS snapshots are daily; none recent enough: check the backup retention and "
    "window on the instance and the RDS events for failed backups."
)


# --- evaluators (pure) ----------------------------------------------------------


def _age_finding(name: str, target: str, age_seconds: float, threshold: dict[str, t.Any], unit_seconds: float,
                 unit: str, evidence: str, remediation: str) -> Finding:
    """An age against its critical limit (threshold["critical"], in ``unit``), reported in that unit."""
    status = compare(age_seconds, None, threshold["critical"] * unit_seconds)
    return Finding(name, target, status, round(age_seconds / unit_seconds, 2), threshold, unit, evidence,
                   remediation if status != OK else None)


def backup_age_finding(
    target: str, last_modified: datetime.datetime | None, now: datetime.datetime, rpo_minutes: float
) -> Finding:
    """The newest backup's age against the RPO: 14:59 old passes, 15:01 fails (RPO 15 minutes)."""
    threshold = {"warn": None, "critical": rpo_minutes}
    if last_modified is None:
        return Finding(
            "backup_age",
            target,
            CRITICAL,
            None,
            threshold,
            "minutes",
            f"no backup object found as of {iso(now)}",
            REMEDIATION_MISSING,
        )
    age = (now - as_utc(last_modified)).total_seconds()
    return _age_finding("backup_age", target, age, threshold, 60.0, "minutes",
                        f"newest backup modified {iso(last_modified)}, {format_age(age)} before {iso(now)} "
                        f"(RPO {rpo_minutes:g} min)", REMEDIATION_STALE)


def backup_size_finding(target: str, size: int, min_size: int) -> Finding:
    status = OK if size >= min_size else CRITICAL
    return Finding(
        "backup_size",
        target,
        status,
        size,
        min_size,
        "bytes",
        f"newest backup is {size} bytes (minimum {min_size})",
        REMEDIATION_SMALL if status != OK else None,
    )


def expected_sha256(value: str | None) -> str | None:
    """A recorded SHA-256 as lowercase hex; it may be stored as hex or base64. None when unusable."""
    text = (value or "").strip()
    if len(text) == 64:
        try:
            bytes.fromhex(text)
            return text.lower()
        except ValueError:
            return None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None


def integrity_plan(head: t.Mapping[str, t.Any], metadata_key: str) -> dict[str, t.Any]:
    """What the content can be compared with: the recorded sha256, the single-part ETag, or nothing."""
    recorded = (head.get("Metadata") or {}).get(metadata_key.lower())
    if recorded is not None:
        digest = expected_sha256(recorded)
        if digest is None:
            return {
                "method": "metadata_sha256",
                "expected": None,
                "reason": f"metadata {metadata_key!r} is not a SHA-256 in hex or base64: {recorded[:80]!r}",
            }
        return {"method": "metadata_sha256", "expected": digest, "reason": None}
    etag = str(head.get("ETag", "")).strip('"')
    if "-" in etag:
        return {
            "method": None,
            "expected": None,
            "reason": f"multipart upload (ETag {etag}) and no {metadata_key!r} metadata: the ETag is not an MD5",
        }
    if head.get("ServerSideEncryption") == "aws:kms" or head.get("SSECustomerAlgorithm"):
        return {
            "method": None,
            "expected": None,
            "reason": f"KMS or customer-key encryption and no {metadata_key!r} metadata: the ETag is not an MD5",
        }
    return {"method": "etag_md5", "expected": etag.lower(), "reason": None}


def integrity_finding(target: str, integrity: t.Mapping[str, t.Any]) -> Finding:
    verified = integrity.get("verified")
    method = integrity.get("method")
    if verified is True:
        return Finding(
            "backup_integrity", target, OK, True, method, None, f"content {method} {integrity['actual']} matches"
        )
    if verified is False:
        return Finding(
            "backup_integrity",
            target,
            CRITICAL,
            False,
            method,
            None,
            f"content {method} {integrity['actual']} does not match the recorded {integrity['expected']}",
            REMEDIATION_CORRUPT,
        )
    return Finding(
        "backup_integrity",
        target,
        UNKNOWN,
        None,
        method,
        None,
        f"not verified: {integrity.get('reason')}",
        REMEDIATION_UNVERIFIED,
    )


def snapshot_finding(
    target: str, snapshot: t.Mapping[str, t.Any] | None, now: datetime.datetime, max_age_hours: float
) -> Finding:
    threshold = {"warn": None, "critical": max_age_hours}
    if snapshot is None:
        return Finding(
            "rds_snapshot_age",
            target,
            CRITICAL,
            None,
            threshold,
            "hours",
            f"no available automated snapshot as of {iso(now)}",
            REMEDIATION_SNAPSHOT,
        )
    created = snapshot["SnapshotCreateTime"]
    age = (now - as_utc(created)).total_seconds()
    return _age_finding("rds_snapshot_age", target, age, threshold, 3600.0, "hours",
                        f"newest automated snapshot {snapshot['DBSnapshotIdentifier']} created {iso(created)}, "
                        f"{format_age(age)} before {iso(now)}", REMEDIATION_SNAPSHOT)


# --- AWS side ---------------------------------------------------------------------


def newest_object(
    session: AwsSession,
    bucket: str,
    prefix: str,
    key_pattern: str | None,
    as_of: datetime.datetime,
    max_objects: int,
    page_size: int = 1000,
) -> tuple[dict[str, t.Any] | None, int, bool]:
    """The object with the latest LastModified (ties: the greater key); objects listed; whether capped."""
    newest: dict[str, t.Any] | None = None
    listed = 0
    for page in paginate(
        session,
        "s3",
        "list_objects_v2",
        "list backups in",
        f"s3://{bucket}/{prefix}",
        "s3:ListBucket",
        Bucket=bucket,
        Prefix=prefix,
        PaginationConfig={"PageSize": min(page_size, max_objects)},
    ):
        for obj in page.get("Contents", []):
            listed += 1
            key = obj["Key"]
            if key.endswith("/") or (key_pattern and not fnmatch.fnmatchcase(key[len(prefix) :], key_pattern)):
                continue
            if as_utc(obj["LastModified"]) > as_of:
                continue  # written after the moment we judge: it did not exist then
            if newest is None or (as_utc(obj["LastModified"]), key) > (as_utc(newest["LastModified"]), newest["Key"]):
                newest = obj
        if listed >= max_objects and page.get("IsTruncated"):
            return newest, listed, True
    return newest, listed, False


def verify_content(
    session: AwsSession, bucket: str, key: str, head: t.Mapping[str, t.Any], plan: t.Mapping[str, t.Any], max_bytes: int
) -> dict[str, t.Any]:
    """Download the object (the version HEAD described) and hash it the way ``plan`` says."""
    integrity = dict(plan, actual=None, verified=None)
    if plan["expected"] is None:
        return integrity
    size = int(head.get("ContentLength", 0))
    if size > max_bytes:
        integrity["reason"] = f"object is {size} bytes, more than max_verify_bytes={max_bytes}"
        return integrity
    digest = hashlib.sha256() if plan["method"] == "metadata_sha256" else hashlib.md5()
    resource = f"s3://{bucket}/{key}"
    try:
        body = call(
            session,
            "s3",
            "get_object",
            "download backup",
            resource,
            "s3:GetObject",
            Bucket=bucket,
            Key=key,
            IfMatch=head["ETag"],
        )["Body"]
        for chunk in body.iter_chunks(CHUNK):
            digest.update(chunk)
    except AwsCallError as exc:
        integrity["reason"] = exc.problem.message
        return integrity
    except aws_errors() as exc:  # the stream broke after the call succeeded
        integrity["reason"] = classify(exc, "download backup", resource, session.region).message
        return integrity
    integrity["actual"] = digest.hexdigest()
    integrity["verified"] = integrity["actual"] == plan["expected"]
    return integrity


def newest_snapshot(session: AwsSession, identifier: str, as_of: datetime.datetime) -> dict[str, t.Any] | None:
    newest = None
    for page in paginate(
        session,
        "rds",
        "describe_db_snapshots",
        "describe automated snapshots of",
        identifier,
        "rds:DescribeDBSnapshots",
        DBInstanceIdentifier=identifier,
        SnapshotType="automated",
    ):
        for snap in page.get("DBSnapshots", []):
            created = snap.get("SnapshotCreateTime")
            if snap.get("Status") != "available" or created is None or as_utc(created) > as_of:
                continue
            if newest is None or as_utc(created) > as_utc(newest["SnapshotCreateTime"]):
                newest = snap
    return newest


def _object_report(obj: t.Mapping[str, t.Any], now: datetime.datetime) -> dict[str, t.Any]:
    return {
        "key": obj["Key"],
        "last_modified": iso(obj["LastModified"]),
        "size": obj.get("Size"),
        "etag": str(obj.get("ETag", "")).strip('"'),
        "storage_class": obj.get("StorageClass"),
        "age_seconds": round((now - as_utc(obj["LastModified"])).total_seconds(), 1),
    }


def check_s3_backup(
    params: t.Mapping[str, t.Any],
    session: AwsSession | None = None,
    now: t.Callable[[], datetime.datetime] | None = None,
) -> dict[str, t.Any]:
    clock = now or clock_from(params)
    moment = clock()
    session = session or AwsSession(AwsSettings.from_params(params))
    bucket, prefix = params["bucket"], params.get("prefix") or ""
    target = f"s3://{bucket}/{prefix}"
    rpo = float(params.get("rpo_minutes") or 15)
    result: dict[str, t.Any] = {
        "bucket": bucket,
        "prefix": prefix,
        "as_of": iso(moment),
        "newest": None,
        "objects_listed": 0,
        "listing_truncated": False,
        "integrity": None,
        "snapshot": None,
        "region": session.region,
    }
    findings: list[Finding] = []
    try:
        obj, listed, capped = newest_object(
            session, bucket, prefix, params.get("key_pattern"), moment, int(params.get("max_objects") or 100000)
        )
    except AwsCallError as exc:
        missing = exc.problem.kind == NOT_FOUND
        findings.append(exc.problem.finding("backup_age", target, remediation=REMEDIATION_MISSING if missing else None))
        obj, listed, capped = None, 0, False
        result["error"] = exc.problem.message
    else:
        result.update(objects_listed=listed, listing_truncated=capped)
        findings.append(backup_age_finding(target, obj["LastModified"] if obj else None, moment, rpo))
        if capped:
            findings.append(
                Finding(
                    "backup_listing",
                    target,
                    UNKNOWN,
                    listed,
                    params.get("max_objects"),
                    "objects",
                    f"stopped listing at {listed} objects: a newer backup may lie beyond",
                    "Narrow the prefix or raise max_objects.",
                )
            )
    if obj is not None:
        key_target = f"s3://{bucket}/{obj['Key']}"
        result["newest"] = _object_report(obj, moment)
        findings.append(
            backup_size_finding(key_target, int(obj.get("Size", 0)), int(params.get("min_size_bytes") or 1))
        )
        if params.get("verify_integrity", True):
            try:
                head = call(
                    session,
                    "s3",
                    "head_object",
                    "read backup metadata",
                    key_target,
                    "s3:GetObject",
                    Bucket=bucket,
                    Key=obj["Key"],
                )
                plan = integrity_plan(head, params.get("checksum_metadata_key") or "sha256")
                integrity = verify_content(
                    session, bucket, obj["Key"], head, plan, int(params.get("max_verify_bytes") or 1024**3)
                )
            except AwsCallError as exc:
                integrity = {
                    "method": None,
                    "expected": None,
                    "actual": None,
                    "verified": None,
                    "reason": exc.problem.message,
                }
            result["integrity"] = integrity
            findings.append(integrity_finding(key_target, integrity))

    identifier = params.get("db_instance_identifier")
    if identifier:
        snap_target = f"rds:{identifier}"
        try:
            snap = newest_snapshot(session, identifier, moment)
            findings.append(
                snapshot_finding(snap_target, snap, moment, float(params.get("snapshot_max_age_hours") or 26))
            )
            if snap:
                result["snapshot"] = {
                    "identifier": snap["DBSnapshotIdentifier"],
                    "status": snap.get("Status"),
                    "created": iso(snap["SnapshotCreateTime"]),
                    "age_seconds": round((moment - as_utc(snap["SnapshotCreateTime"])).total_seconds(), 1),
                }
        except AwsCallError as exc:
            findings.append(exc.problem.finding("rds_snapshot_age", snap_target))
    result.update(summarize(findings))
    return result
