# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Backup recency and integrity with an injected clock.

S3 runs in-process under moto's ``mock_aws`` with moto's own clock patched, so objects really carry
LastModified times of our choosing (the lab's moto server cannot backdate anything). AWS errors go
through botocore's Stubber.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import typing as t
from unittest import mock

import pytest
from botocore.stub import Stubber

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _aws
from ansible_collections.platform_eng.incident_response.plugins.module_utils import _aws_s3_backup as backup
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import CRITICAL, OK, UNKNOWN

moto = pytest.importorskip("moto")

NOW = datetime.datetime(2025, 11, 10, 14, 23, 0, tzinfo=datetime.timezone.utc)
BUCKET = "backups-incident-response"
TARGET = f"s3://{BUCKET}/latest/"


@pytest.mark.parametrize(
    "age, status",
    [
        (datetime.timedelta(minutes=14, seconds=59), OK),
        (datetime.timedelta(minutes=15), OK),
        (datetime.timedelta(minutes=15, seconds=1), CRITICAL),
    ],
)
def test_backup_age_against_the_rpo(age: datetime.timedelta, status: str) -> None:
    finding = backup.backup_age_finding(TARGET, NOW - age, NOW, 15)
    assert finding.status == status
    assert f"{age.seconds // 60}:{age.seconds % 60:02d} before" in finding.evidence
    assert (finding.remediation is None) == (status == OK)


def test_no_backup_is_critical() -> None:
    finding = backup.backup_age_finding(TARGET, None, NOW, 15)
    assert finding.status == CRITICAL and "Database Backup Verification" in finding.remediation


@pytest.mark.parametrize(
    "age, status", [(datetime.timedelta(hours=25, minutes=59), OK), (datetime.timedelta(hours=26, minutes=1), CRITICAL)]
)
def test_automated_snapshot_age(age: datetime.timedelta, status: str) -> None:
    snapshot = {"DBSnapshotIdentifier": "rds:incident-response-prod-2025-11-09-12-22", "SnapshotCreateTime": NOW - age}
    assert backup.snapshot_finding("rds:incident-response-prod", snapshot, NOW, 26).status == status
    assert backup.snapshot_finding("rds:incident-response-prod", None, NOW, 26).status == CRITICAL


def test_recorded_checksums_may_be_hex_or_base64() -> None:
    digest = hashlib.sha256(b"dump").digest()
    assert backup.expected_sha256(digest.hex().upper()) == digest.hex()
    assert backup.expected_sha256(base64.b64encode(digest).decode()) == digest.hex()
    assert backup.expected_sha256("not-a-checksum") is None
    assert backup.expected_sha256(base64.b64encode(b"short").decode()) is None


@pytest.mark.parametrize(
    "head, method, reason",
    [
        ({"Metadata": {"sha256": "ab" * 32}, "ETag": '"x-2"'}, "metadata_sha256", None),
        ({"Metadata": {"sha256": "zz"}, "ETag": '"abc"'}, "metadata_sha256", "is not a SHA-256"),
        ({"Metadata": {}, "ETag": '"8b0be7847da5564ae08e97af63b60885-2"'}, None, "multipart upload"),
        (
            {"Metadata": {}, "ETag": '"398533d48111e9f664b1f64cb10c4b63"', "ServerSideEncryption": "aws:kms"},
            None,
            "KMS",
        ),
        ({"Metadata": {}, "ETag": '"398533d48111e9f664b1f64cb10c4b63"'}, "etag_md5", None),
    ],
)
def test_what_the_content_is_compared_with(head: dict[str, t.Any], method: str | None, reason: str | None) -> None:
    plan = backup.integrity_plan(head, "sha256")
    assert plan["method"] == method
    assert (reason is None and plan["reason"] is None) or (reason and reason in plan["reason"])


# --- S3 in-process under moto, with moto's clock patched --------------------------------


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> t.Iterator[_aws.AwsSession]:
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with moto.mock_aws():
        session = _aws.AwsSession(_aws.AwsSettings(region="us-east-1", access_key="testing", secret_key="testing"))
        session.client("s3").create_bucket(Bucket=BUCKET)
        yield session


def put(
    session: _aws.AwsSession,
    key: str,
    age: datetime.timedelta,
    body: bytes = b"PGDMP dump",
    sha256: str | None = "auto",
) -> None:
    """Put an object whose LastModified is ``age`` before NOW (moto keeps naive UTC times)."""
    metadata = {} if sha256 is None else {"sha256": hashlib.sha256(body).hexdigest() if sha256 == "auto" else sha256}
    with mock.patch("moto.s3.models.utcnow", return_value=(NOW - age).replace(tzinfo=None)):
        session.client("s3").put_object(Bucket=BUCKET, Key=key, Body=body, Metadata=metadata)


def check(session: _aws.AwsSession, **params: t.Any) -> dict[str, t.Any]:
    return backup.check_s3_backup(dict({"bucket": BUCKET, "prefix": "latest/"}, **params), session, lambda: NOW)


def statuses(result: dict[str, t.Any]) -> dict[str, str]:
    return {f["name"]: f["status"] for f in result["findings"]}


@pytest.mark.parametrize(
    "age, status",
    [(datetime.timedelta(minutes=14, seconds=59), OK), (datetime.timedelta(minutes=15, seconds=1), CRITICAL)],
)
def test_newest_backup_by_time_not_by_name(session: _aws.AwsSession, age: datetime.timedelta, status: str) -> None:
    put(session, "latest/zz-weekly.dump", datetime.timedelta(days=3))
    put(session, "latest/hourly.dump", age)
    put(session, "latest/daily.dump", datetime.timedelta(hours=20))
    result = check(session)
    assert result["newest"]["key"] == "latest/hourly.dump"
    assert result["newest"]["age_seconds"] == age.total_seconds()
    assert statuses(result) == {"backup_age": status, "backup_size": OK, "backup_integrity": OK}


def test_every_page_is_read(session: _aws.AwsSession) -> None:
    for number in range(1, 8):
        put(session, f"latest/{number:04d}.dump", datetime.timedelta(hours=2), sha256=None)
    put(session, "latest/0005.dump", datetime.timedelta(minutes=1), sha256=None)  # on the third page of two
    newest, listed, capped = backup.newest_object(session, BUCKET, "latest/", None, NOW, 100, page_size=2)
    assert (newest["Key"], listed, capped) == ("latest/0005.dump", 7, False)


def test_a_capped_listing_says_a_newer_backup_may_be_missed(session: _aws.AwsSession) -> None:
    for number in range(3):
        put(session, f"latest/{number}.dump", datetime.timedelta(minutes=1))
    assert backup.newest_object(session, BUCKET, "latest/", None, NOW, max_objects=3)[1:] == (3, False)
    assert backup.newest_object(session, BUCKET, "latest/", None, NOW, max_objects=2)[1:] == (2, True)
    result = check(session, max_objects=2)
    assert result["listing_truncated"] is True and statuses(result)["backup_listing"] == UNKNOWN


def test_as_of_ignores_what_was_written_later(session: _aws.AwsSession) -> None:
    put(session, "latest/before.dump", datetime.timedelta(minutes=40))
    put(session, "latest/after.dump", datetime.timedelta(minutes=1))
    as_of = NOW - datetime.timedelta(minutes=30)
    result = backup.check_s3_backup(
        {"bucket": BUCKET, "prefix": "latest/", "verify_integrity": False}, session, lambda: as_of
    )
    assert result["newest"]["key"] == "latest/before.dump" and result["newest"]["age_seconds"] == 600.0


def test_key_pattern_skips_manifests(session: _aws.AwsSession) -> None:
    put(session, "latest/db.dump", datetime.timedelta(minutes=20))
    put(session, "latest/manifest.json", datetime.timedelta(minutes=1))
    assert check(session)["newest"]["key"] == "latest/manifest.json"
    result = check(session, key_pattern="*.dump")
    assert result["newest"]["key"] == "latest/db.dump" and statuses(result)["backup_age"] == CRITICAL


def test_content_that_does_not_match_its_checksum_is_critical(session: _aws.AwsSession) -> None:
    put(
        session,
        "latest/hourly.dump",
        datetime.timedelta(minutes=1),
        body=b"cut short",
        sha256=hashlib.sha256(b"cut short, and then the rest").hexdigest(),
    )
    result = check(session)
    assert statuses(result)["backup_integrity"] == CRITICAL
    assert result["integrity"]["verified"] is False and "do not restore from it" in result["findings"][2]["remediation"]


def test_single_part_upload_without_a_checksum_is_verified_by_etag(session: _aws.AwsSession) -> None:
    put(session, "latest/hourly.dump", datetime.timedelta(minutes=1), sha256=None)
    result = check(session)
    assert result["integrity"]["method"] == "etag_md5" and result["integrity"]["verified"] is True


def test_empty_dump_and_oversized_download(session: _aws.AwsSession) -> None:
    put(session, "latest/hourly.dump", datetime.timedelta(minutes=1), body=b"")
    assert statuses(check(session))["backup_size"] == CRITICAL
    put(session, "latest/hourly.dump", datetime.timedelta(seconds=30), body=b"x" * 100)
    result = check(session, max_verify_bytes=10)
    assert statuses(result)["backup_integrity"] == UNKNOWN
    assert "more than max_verify_bytes=10" in result["integrity"]["reason"]


def test_an_object_replaced_between_head_and_download_is_not_mixed_up(session: _aws.AwsSession) -> None:
    put(session, "latest/hourly.dump", datetime.timedelta(minutes=1), body=b"old")
    head = session.client("s3").head_object(Bucket=BUCKET, Key="latest/hourly.dump")
    put(session, "latest/hourly.dump", datetime.timedelta(seconds=1), body=b"new")
    plan = backup.integrity_plan(head, "sha256")
    integrity = backup.verify_content(session, BUCKET, "latest/hourly.dump", head, plan, 1024)
    assert integrity["verified"] is None and "PreconditionFailed" in integrity["reason"]


def test_a_missing_bucket_is_critical(session: _aws.AwsSession) -> None:
    result = backup.check_s3_backup({"bucket": "backups-incident-respons", "prefix": "latest/"}, session, lambda: NOW)
    assert statuses(result) == {"backup_age": CRITICAL}
    assert result["error"].startswith(
        "Failed to list backups in s3://backups-incident-respons/latest/ in us-east-1: not found: NoSuchBucket"
    )


# --- errors through the Stubber ---------------------------------------------------------


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> tuple[_aws.AwsSession, Stubber, Stubber]:
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    session = _aws.AwsSession(_aws.AwsSettings(region="us-east-1", access_key="AKIDEXAMPLE", secret_key="not-secret"))
    s3, rds = Stubber(session.client("s3")), Stubber(session.client("rds"))
    s3.activate()
    rds.activate()
    return session, s3, rds


def test_listing_access_denied_is_unknown_and_names_the_permission(stubbed: t.Any) -> None:
    session, s3, _rds = stubbed
    s3.add_client_error("list_objects_v2", "AccessDenied", "Access Denied", 403)
    result = backup.check_s3_backup({"bucket": BUCKET, "prefix": "latest/"}, session, lambda: NOW)
    [finding] = result["findings"]
    assert finding["status"] == UNKNOWN and "Grant s3:ListBucket" in finding["remediation"]
    assert finding["evidence"] == (
        f"Failed to list backups in s3://{BUCKET}/latest/ in us-east-1: access denied: AccessDenied (Access Denied)"
    )


def test_head_forbidden_leaves_integrity_unknown_and_snapshots_still_checked(stubbed: t.Any) -> None:
    session, s3, rds = stubbed
    s3.add_response(
        "list_objects_v2",
        {
            "Contents": [
                {
                    "Key": "latest/hourly.dump",
                    "LastModified": NOW - datetime.timedelta(minutes=2),
                    "Size": 10,
                    "ETag": '"abc"',
                }
            ],
            "IsTruncated": False,
        },
    )
    s3.add_client_error("head_object", "403", "", 403)
    rds.add_response(
        "describe_db_snapshots",
        {
            "DBSnapshots": [
                {
                    "DBSnapshotIdentifier": "rds:incident-response-prod-2025-11-10-03-10",
                    "Status": "available",
                    "SnapshotCreateTime": NOW - datetime.timedelta(hours=11),
                },
                {
                    "DBSnapshotIdentifier": "rds:incident-response-prod-2025-11-10-14-00",
                    "Status": "creating",
                    "SnapshotCreateTime": NOW - datetime.timedelta(minutes=23),
                },
            ]
        },
        {"DBInstanceIdentifier": "incident-response-prod", "SnapshotType": "automated"},
    )
    result = backup.check_s3_backup(
        {"bucket": BUCKET, "prefix": "latest/", "db_instance_identifier": "incident-response-prod"},
        session,
        lambda: NOW,
    )
    assert statuses(result) == {
        "backup_age": OK,
        "backup_size": OK,
        "backup_integrity": UNKNOWN,
        "rds_snapshot_age": OK,
    }
    assert "access denied: 403" in result["integrity"]["reason"]
    assert result["snapshot"]["identifier"] == "rds:incident-response-prod-2025-11-10-03-10"
