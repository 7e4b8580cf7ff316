# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The DR drill's restore: a real pg_dump, S3 under moto in-process, a throwaway PostgreSQL on 127.0.0.1.

What a user would notice: the drill passes only when the dump restores with the recorded tables and
row counts; a corrupted or truncated dump fails it; the scratch database is gone afterwards, every time.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import typing as t

import pytest

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _restore_drill as drill
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    CRITICAL,
    OK,
    UNKNOWN,
    IncidentResponseError,
)

moto = pytest.importorskip("moto")
boto3 = pytest.importorskip("boto3")

BUCKET = "backups-incident-response"
KEY = "latest/20261127T000000Z.dump"


@pytest.mark.parametrize("name", ["incident_response", "postgres", "dr_drill_", "dr_drill_X", "dr_drill_a;drop", ""])
def test_only_scratch_names_can_be_created_and_dropped(name: str) -> None:
    with pytest.raises(IncidentResponseError, match="must match"):
        drill.validate_scratch_name(name)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ('{"incidents": 5}', {"incidents": 5}),
        (None, None),
        ("not json", None),
        ('{"incidents": "5"}', None),
        ("[1, 2]", None),
    ],
)
def test_recorded_row_counts(raw: str | None, expected: dict[str, int] | None) -> None:
    assert drill.parse_row_counts(raw) == expected


@pytest.mark.parametrize(
    "expected, actual, tolerance, status",
    [
        (100, 100, 0, OK),
        (100, 101, 1, OK),
        (100, 102, 1, CRITICAL),
        (100, 98, 1, CRITICAL),
        (0, 0, 5, OK),
        (5, None, 5, CRITICAL),
    ],
)
def test_row_counts_within_tolerance(expected: int, actual: int | None, tolerance: float, status: str) -> None:
    assert drill.row_count_finding("incidents", expected, actual, tolerance).status == status


@pytest.mark.parametrize("seconds, status", [(3599.0, OK), (3600.0, OK), (3601.0, CRITICAL)])
def test_restore_time_against_the_rto(seconds: float, status: str) -> None:
    finding = drill.rto_finding("dr_drill_x", seconds, 60)
    assert finding.status == status and finding.unit == "minutes"


def test_a_dump_without_a_recorded_checksum_is_unverified() -> None:
    got = {"sha256": "ab", "size": 3, "expected_sha256": None}
    assert drill.integrity_finding("s3://b/k", got).status == UNKNOWN


# --- the real restore ----------------------------------------------------------------


@pytest.fixture(scope="module")
def dump(pg_server: t.Any) -> bytes:
    """A custom-format dump of a small database with two tables."""
    pg_server.sql("DROP DATABASE IF EXISTS drill_source")
    pg_server.sql("CREATE DATABASE drill_source")
    pg_server.sql("CREATE TABLE incidents (id int PRIMARY KEY, title text); "
                  "INSERT INTO incidents SELECT g, 'incident ' || g FROM generate_series(1, 40) g; "
                  "CREATE TABLE schema_migrations (version text); INSERT INTO schema_migrations VALUES ('001')",
                  "drill_source")
    proc = subprocess.run(["pg_dump", "--format=custom", "--host", "127.0.0.1", "--port", str(pg_server.port),
                           "--username", "admin", "drill_source"], capture_output=True, check=True,
                          env={"PGPASSWORD": pg_server.params()["password"], "PATH": "/usr/bin:/bin"})
    return proc.stdout


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> t.Iterator[t.Any]:
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with moto.mock_aws():
        client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="testing",
                              aws_secret_access_key="testing")
        client.create_bucket(Bucket=BUCKET)
        yield client


def upload(s3: t.Any, body: bytes, counts: dict[str, int], sha256: str | None = None) -> None:
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=body, Metadata={
        "sha256": sha256 or hashlib.sha256(body).hexdigest(), "row-counts": json.dumps(counts)})


def params(pg_server: t.Any, scratch: str, **overrides: t.Any) -> dict[str, t.Any]:
    return {"bucket": BUCKET, "key": KEY, "scratch_database": scratch, "region": "us-east-1",
            "access_key": "testing", "secret_key": "testing",
            "postgres": pg_server.params(database="postgres", statement_timeout=60),
            "checksum_metadata_key": "sha256", "row_counts_metadata_key": "row-counts", "expected_tables": [],
            "row_count_tolerance_percent": 0, "rto_minutes": 60, "restore_timeout": 120,
            "pg_restore_path": "pg_restore", "work_dir": None, **overrides}


def scratch_exists(pg_server: t.Any, name: str) -> bool:
    return bool(pg_server.sql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'"))


def by_name(result: dict[str, t.Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for finding in result["findings"]:
        out.setdefault(finding["name"], []).append(finding["status"])
    return out


def test_a_good_backup_restores_with_the_recorded_counts_and_is_dropped(pg_server: t.Any, dump: bytes, s3: t.Any) -> None:
    upload(s3, dump, {"incidents": 40, "schema_migrations": 1})
    result = drill.restore_drill(params(pg_server, "dr_drill_good"))
    assert result["status"] == OK, result["findings"]
    assert result["row_counts"]["restored"] == {"incidents": 40, "schema_migrations": 1}
    assert result["created"] is True and result["dropped"] is True
    assert result["timings"]["restore_seconds"] is not None and by_name(result)["restore_time"] == [OK]
    assert not scratch_exists(pg_server, "dr_drill_good")


def test_rows_missing_from_the_dump_fail_the_drill(pg_server: t.Any, dump: bytes, s3: t.Any) -> None:
    upload(s3, dump, {"incidents": 50, "schema_migrations": 1})
    result = drill.restore_drill(params(pg_server, "dr_drill_rows", expected_tables=["incidents", "audit_log"]))
    assert by_name(result)["restore_row_count"] == [CRITICAL, CRITICAL]  # 40 of 50 rows; audit_log missing
    assert not scratch_exists(pg_server, "dr_drill_rows")


def test_a_truncated_dump_fails_and_the_scratch_database_is_gone(pg_server: t.Any, dump: bytes, s3: t.Any) -> None:
    upload(s3, dump[: len(dump) // 2], {"incidents": 40})  # the job hashed what it uploaded: the checksum matches
    result = drill.restore_drill(params(pg_server, "dr_drill_truncated"))
    assert by_name(result)["restore_run"] == [CRITICAL]
    assert "pg_restore exited" in next(f["evidence"] for f in result["findings"] if f["name"] == "restore_run")
    assert result["created"] is True and result["dropped"] is True
    assert not scratch_exists(pg_server, "dr_drill_truncated")


def test_a_checksum_mismatch_never_reaches_the_database(pg_server: t.Any, dump: bytes, s3: t.Any) -> None:
    upload(s3, dump, {"incidents": 40}, sha256="0" * 64)
    result = drill.restore_drill(params(pg_server, "dr_drill_mismatch"))
    assert by_name(result)["restore_integrity"] == [CRITICAL] and "checksum mismatch" in result["findings"][0]["evidence"]
    assert result["created"] is False and result["dropped"] is None
    assert not scratch_exists(pg_server, "dr_drill_mismatch")


def test_a_missing_object_is_a_finding(pg_server: t.Any, s3: t.Any) -> None:
    result = drill.restore_drill(params(pg_server, "dr_drill_missing"))
    assert by_name(result) == {"restore_download": [CRITICAL]}


def test_check_mode_only_describes_the_restore(pg_server: t.Any, s3: t.Any) -> None:
    result = drill.restore_drill(params(pg_server, "dr_drill_check"), check_mode=True)
    assert result["created"] is False and "CREATE DATABASE dr_drill_check" in result["would_run"]
    assert not scratch_exists(pg_server, "dr_drill_check")


# --- only a database this run created is ever dropped -----------------------------------------------


def test_a_scratch_name_that_already_exists_is_refused_and_that_database_survives(pg_server: t.Any, dump: bytes,
                                                                                  s3: t.Any) -> None:
    upload(s3, dump, {"incidents": 40, "schema_migrations": 1})
    pg_server.sql("DROP DATABASE IF EXISTS dr_drill_taken")
    pg_server.sql("CREATE DATABASE dr_drill_taken")
    pg_server.sql("CREATE TABLE precious (id int); INSERT INTO precious VALUES (1)", "dr_drill_taken")
    try:
        result = drill.restore_drill(params(pg_server, "dr_drill_taken"))
        assert result["status"] == CRITICAL and result["created"] is False and result["dropped"] is None
        refusal = next(f for f in result["findings"] if f["name"] == "scratch_database")
        assert "refused: a database named dr_drill_taken already exists" in refusal["evidence"]
        assert "restore_run" not in by_name(result)
        assert scratch_exists(pg_server, "dr_drill_taken")
        assert pg_server.sql("SELECT count(*) FROM precious", "dr_drill_taken") == [(1,)]
        # The clean-up step of the same run leaves it alone too.
        cleanup = drill.restore_drill(params(pg_server, "dr_drill_taken", state="absent", run_id="run-1"))
        assert cleanup["dropped"] is False and "did not create it" in cleanup["left_alone"]
        assert scratch_exists(pg_server, "dr_drill_taken")
    finally:
        pg_server.sql("DROP DATABASE IF EXISTS dr_drill_taken")


def test_the_clean_up_drops_only_the_database_carrying_its_own_run_id(pg_server: t.Any) -> None:
    db = pg_server.params(database="postgres", statement_timeout=60)
    # A drill stopped between its CREATE and its own DROP leaves its marked database behind.
    assert drill.create_scratch(db, "dr_drill_orphan") is True
    drill.mark_scratch(db, "dr_drill_orphan", "run-a")
    assert drill.create_scratch(db, "dr_drill_orphan") is False  # the name is taken: nothing created
    other = drill.drop_if_ours(db, "dr_drill_orphan", "run-b")
    assert other["dropped"] is False and "this run (run-b) did not create it" in other["left_alone"]
    assert scratch_exists(pg_server, "dr_drill_orphan")
    checked = drill.drop_if_ours(db, "dr_drill_orphan", "run-a", check_mode=True)
    assert checked["dropped"] is True and scratch_exists(pg_server, "dr_drill_orphan")
    own = drill.drop_if_ours(db, "dr_drill_orphan", "run-a")
    assert own["dropped"] is True and not scratch_exists(pg_server, "dr_drill_orphan")
    assert drill.drop_if_ours(db, "dr_drill_orphan", "run-a")["dropped"] is False  # nothing left to drop


def test_the_clean_up_needs_a_run_id(pg_server: t.Any) -> None:
    with pytest.raises(IncidentResponseError, match="run_id is required"):
        drill.drop_if_ours(pg_server.params(database="postgres"), "dr_drill_x", "")


def test_check_mode_is_never_an_all_clear(pg_server: t.Any, s3: t.Any) -> None:
    result = drill.restore_drill(params(pg_server, "dr_drill_check"), check_mode=True)
    assert result["status"] == UNKNOWN
    assert by_name(result) == {"restore_run": [UNKNOWN]}
    assert "check mode: no restore ran" in result["findings"][0]["evidence"]


def test_check_mode_refuses_an_existing_scratch_name_as_a_real_run_would(pg_server: t.Any, s3: t.Any) -> None:
    pg_server.sql("DROP DATABASE IF EXISTS dr_drill_taken_check")
    pg_server.sql("CREATE DATABASE dr_drill_taken_check")
    try:
        result = drill.restore_drill(params(pg_server, "dr_drill_taken_check"), check_mode=True)
        assert result["status"] == CRITICAL and by_name(result)["scratch_database"] == [CRITICAL]
        assert scratch_exists(pg_server, "dr_drill_taken_check")
    finally:
        pg_server.sql("DROP DATABASE IF EXISTS dr_drill_taken_check")
