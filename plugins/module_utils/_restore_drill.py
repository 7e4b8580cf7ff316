# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The DR drill's real restore: a backup that exists is not a backup that restores.

Downloads one pg_dump (custom format) from S3 while hashing it, compares the
hash with the SHA-256 the backup job recorded, restores it into a scratch
database, checks the tables and row counts the job recorded, times the
restore against the RTO, and drops the scratch database whatever happened.

Only a database this run created is ever dropped: a scratch name that already
exists is refused (and left alone), and the database the drill creates is
marked with the run's id, so that a later clean-up step can tell its own
database from someone else's.

Every outcome is a finding; only bad input raises IncidentResponseError.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
import time
import typing as t

from ansible_collections.platform_eng.incident_response.plugins.module_utils._aws import (
    AwsCallError,
    AwsSession,
    AwsSettings,
    call,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    CRITICAL,
    OK,
    UNKNOWN,
    Finding,
    IncidentResponseError,
    summarize,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._postgresql import connect_kwargs

try:
    import psycopg2
    from psycopg2 import sql
except ImportError:  # reported by the module through _prerequisites.missing_library
    psycopg2 = None
    sql = None

# Only names that look like a drill's scratch database may be created and
# dropped: a typo in the inventory must never drop the service's database.
SCRATCH_NAME = re.compile(r"^dr_drill_[a-z0-9_]{1,54}$")
CHUNK = 1024 * 1024
REMEDIATION_CORRUPT = ("The backup does not match the checksum its job recorded: do not rely on it. "
                       "Take a fresh backup now and find out why the stored copy differs.")
REMEDIATION_RESTORE = "The backup does not restore. Take a fresh backup now and read the backup job's log."
REMEDIATION_ROWS = "The restored data differs from what the backup job recorded: check the dump and the job."
REMEDIATION_RTO = "The restore alone exceeds the RTO: restore from a snapshot, or speed up or split the dump."
REMEDIATION_DROP = "The scratch database is still there: drop it by hand (DROP DATABASE ... WITH (FORCE))."
REMEDIATION_EXISTS = ("A database with the scratch name already exists and the drill did not create it, so it was "
                      "neither restored into nor dropped. Find out what it is; choose another scratch name "
                      "(dr_drill_scratch_database) or leave it empty for a unique one.")
MARKER = "platform_eng.incident_response dr_drill run "
DUPLICATE_DATABASE = "42P04"


def validate_scratch_name(name: str) -> str:
    if not SCRATCH_NAME.match(name or ""):
        raise IncidentResponseError(
            f"scratch_database must match {SCRATCH_NAME.pattern} (it is created and dropped), got {name!r}"
        )
    return name


def parse_row_counts(raw: str | None) -> dict[str, int] | None:
    """The ``row-counts`` metadata: a JSON object of table name -> rows; None when absent or unreadable."""
    if not raw:
        return None
    try:
        counts = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(counts, dict) or not all(isinstance(v, int) for v in counts.values()):
        return None
    return {str(k): int(v) for k, v in counts.items()}


def row_count_finding(table: str, expected: int, actual: int | None, tolerance_percent: float) -> Finding:
    """Rows restored vs rows recorded; ``tolerance_percent`` of the recorded count (at least 0 rows)."""
    allowed = expected * tolerance_percent / 100.0
    if actual is None:
        status, evidence = CRITICAL, f"table {table} is missing from the restored database"
    else:
        status = OK if abs(actual - expected) <= allowed else CRITICAL
        evidence = f"{actual} rows restored, {expected} recorded by the backup (tolerance {tolerance_percent:g} %)"
    return Finding("restore_row_count", table, status, actual, {"expected": expected, "tolerance_percent":
                   tolerance_percent}, "rows", evidence, None if status == OK else REMEDIATION_ROWS)


def rto_finding(target: str, seconds: float, rto_minutes: float) -> Finding:
    minutes = round(seconds / 60.0, 3)
    status = OK if minutes <= rto_minutes else CRITICAL
    return Finding("restore_time", target, status, minutes, {"critical": rto_minutes}, "minutes",
                   f"download and restore took {seconds:.1f} s (RTO {rto_minutes:g} min)",
                   None if status == OK else REMEDIATION_RTO)


def download(session: AwsSession, bucket: str, key: str, dest: str, checksum_key: str,
             counts_key: str) -> dict[str, t.Any]:
    """Stream the object to ``dest`` and hash it; returns its metadata and digest (raises AwsCallError)."""
    response = call(session, "s3", "get_object", "download backup", f"s3://{bucket}/{key}", "s3:GetObject",
                    Bucket=bucket, Key=key)
    digest, size = hashlib.sha256(), 0
    with open(dest, "wb") as handle:
        for chunk in response["Body"].iter_chunks(CHUNK):
            digest.update(chunk)
            handle.write(chunk)
            size += len(chunk)
    metadata = {k.lower(): v for k, v in (response.get("Metadata") or {}).items()}
    return {"sha256": digest.hexdigest(), "size": size, "expected_sha256": (metadata.get(checksum_key) or "").lower()
            or None, "row_counts": parse_row_counts(metadata.get(counts_key)), "etag": response.get("ETag")}


def integrity_finding(target: str, got: t.Mapping[str, t.Any]) -> Finding:
    expected = got["expected_sha256"]
    if expected is None:
        return Finding("restore_integrity", target, UNKNOWN, got["sha256"], None, "sha256",
                       "no recorded SHA-256 in the object's metadata: the content cannot be verified",
                       REMEDIATION_CORRUPT)
    ok = expected == got["sha256"]
    return Finding("restore_integrity", target, OK if ok else CRITICAL, got["sha256"], expected, "sha256",
                   f"downloaded {got['size']} bytes, sha256 {got['sha256']}"
                   + ("" if ok else f" but the backup recorded {expected} (checksum mismatch)"),
                   None if ok else REMEDIATION_CORRUPT)


def admin_kwargs(db: t.Mapping[str, t.Any], dbname: str) -> dict[str, t.Any]:
    kwargs = connect_kwargs(db)
    # connect_kwargs makes sessions read-only for the _info modules; this one must create and drop.
    kwargs["options"] = f"-c statement_timeout={int(db.get('statement_timeout') or 600) * 1000}"
    kwargs["dbname"] = dbname
    return kwargs


def _execute(kwargs: t.Mapping[str, t.Any], statement: t.Any) -> None:
    conn = psycopg2.connect(**kwargs)
    try:
        conn.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def table_row_counts(kwargs: t.Mapping[str, t.Any], tables: t.Iterable[str]) -> dict[str, int | None]:
    """Exact counts of the restored tables; None for a table that is not there."""
    conn = psycopg2.connect(**kwargs)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT table_schema || '.' || table_name, table_name FROM information_schema.tables "
                        "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')")
            present = {}
            for qualified, bare in cur.fetchall():
                present[qualified] = qualified
                present.setdefault(bare, qualified)  # "incidents" means public.incidents
            counts: dict[str, int | None] = {}
            for table in tables:
                if table not in present:
                    counts[table] = None
                    continue
                schema, name = present[table].split(".", 1)
                cur.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(name)))
                counts[table] = int(cur.fetchone()[0])
            return counts
    finally:
        conn.close()


def pg_restore(params: t.Mapping[str, t.Any], dump_path: str, dbname: str) -> subprocess.CompletedProcess:
    db = params["postgres"]
    argv = [params["pg_restore_path"], "--no-owner", "--no-privileges", "--exit-on-error",
            "--host", db["host"], "--port", str(db.get("port") or 5432), "--username", db.get("user") or "postgres",
            "--dbname", dbname, "--", dump_path]
    env = dict(os.environ, PGCONNECT_TIMEOUT=str(db.get("connect_timeout") or 5), PGSSLMODE=db.get("ssl_mode") or "prefer")
    if db.get("ca_path"):
        env["PGSSLROOTCERT"] = db["ca_path"]
    if db.get("password"):
        env["PGPASSWORD"] = db["password"]  # in the environment, never on the command line
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=params["restore_timeout"], check=False)


def scratch_owner(db: t.Mapping[str, t.Any], scratch: str) -> str | None:
    """None when no database has the name; else its comment ("" without one): whose it is."""
    conn = psycopg2.connect(**admin_kwargs(db, db.get("database") or "postgres"))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database "
                        "WHERE datname = %s", (scratch,))
            row = cur.fetchone()
    finally:
        conn.close()
    return None if row is None else str(row[0])


def exists_finding(scratch: str, owner: str) -> Finding:
    return Finding("scratch_database", scratch, CRITICAL, "exists", "absent", None,
                   f"refused: a database named {scratch} already exists"
                   + (f" ({owner})" if owner else "") + "; the drill only ever drops a database it created",
                   REMEDIATION_EXISTS)


def create_scratch(db: t.Mapping[str, t.Any], scratch: str) -> bool:
    """CREATE DATABASE; False when the name was taken meanwhile (then nothing was created)."""
    try:
        _execute(admin_kwargs(db, db.get("database") or "postgres"),
                 sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
    except psycopg2.Error as exc:
        if exc.pgcode == DUPLICATE_DATABASE:
            return False
        raise
    return True


def mark_scratch(db: t.Mapping[str, t.Any], scratch: str, run_id: str) -> None:
    """Put this run's mark on the database it created, for the clean-up step (drop_if_ours)."""
    _execute(admin_kwargs(db, db.get("database") or "postgres"),
             sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(scratch), sql.Literal(MARKER + run_id)))


def restore_and_check(params: t.Mapping[str, t.Any], dump_path: str, got: t.Mapping[str, t.Any],
                      findings: list[Finding], result: dict[str, t.Any]) -> None:
    """Restore into the scratch database the caller created, count; the caller drops it."""
    scratch, db = params["scratch_database"], params["postgres"]
    started = time.monotonic()
    proc = pg_restore(params, dump_path, scratch)
    result["timings"]["restore_seconds"] = round(time.monotonic() - started, 3)
    if proc.returncode != 0:
        tail = " | ".join(line for line in proc.stderr.strip().splitlines()[-3:])
        findings.append(Finding("restore_run", scratch, CRITICAL, proc.returncode, 0, "exit code",
                                f"pg_restore exited {proc.returncode}: {tail}", REMEDIATION_RESTORE))
        return
    findings.append(Finding("restore_run", scratch, OK, 0, 0, "exit code",
                            f"pg_restore restored {got['size']} bytes into {scratch}", None))
    recorded = got["row_counts"] or {}
    tables = list(params.get("expected_tables") or []) or sorted(recorded)
    started = time.monotonic()
    counts = table_row_counts(admin_kwargs(db, scratch), tables)
    result["timings"]["checks_seconds"] = round(time.monotonic() - started, 3)
    result["row_counts"] = {"restored": counts, "recorded": recorded}
    if not tables:
        findings.append(Finding("restore_row_count", scratch, UNKNOWN, None, None, "rows",
                                "the backup recorded no row counts and no expected_tables were given",
                                REMEDIATION_ROWS))
    for table in tables:
        if table in recorded:
            findings.append(row_count_finding(table, recorded[table], counts[table], params["row_count_tolerance_percent"]))
        elif counts[table] is None:
            findings.append(row_count_finding(table, 0, None, 0))
        else:
            findings.append(Finding("restore_row_count", table, UNKNOWN, counts[table], None, "rows",
                                    f"{counts[table]} rows restored; the backup recorded no count for it", None))


def drop_scratch(db: t.Mapping[str, t.Any], scratch: str) -> str | None:
    """Drop the scratch database even with sessions still attached; the error text, or None."""
    try:
        _execute(admin_kwargs(db, db.get("database") or "postgres"),
                 sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch)))
    except psycopg2.Error as exc:
        return str(exc).strip().splitlines()[0]
    return None


def drop_if_ours(db: t.Mapping[str, t.Any], scratch: str, run_id: str, check_mode: bool = False) -> dict[str, t.Any]:
    """The clean-up step: drop the scratch database only when this run's mark is on it.

    A database without the mark (someone else's, or one whose creator was stopped before it could mark it)
    is left alone and said so.
    """
    validate_scratch_name(scratch)
    if not run_id:
        raise IncidentResponseError("run_id is required to clean up: only the run that created a database drops it")
    result: dict[str, t.Any] = {"scratch_database": scratch, "created": False, "dropped": False, "left_alone": None,
                                **summarize([])}
    try:
        owner = scratch_owner(db, scratch)
    except psycopg2.Error as exc:
        raise IncidentResponseError(f"Cannot tell whether {scratch} exists on {db.get('host')}: "
                                    f"{str(exc).strip().splitlines()[0]}") from None
    if owner is None:
        return result
    if owner != MARKER + run_id:
        result["left_alone"] = (f"{scratch} exists but this run ({run_id}) did not create it"
                                + (f": {owner}" if owner else "") + "; not dropped")
        return result
    if not check_mode:
        error = drop_scratch(db, scratch)
        if error:
            raise IncidentResponseError(f"Cannot drop {scratch} on {db.get('host')}: {error}")
    result["dropped"] = True
    return result


def restore_drill(params: t.Mapping[str, t.Any], check_mode: bool = False) -> dict[str, t.Any]:
    scratch = validate_scratch_name(params["scratch_database"])
    if params.get("state") == "absent":
        return drop_if_ours(params["postgres"], scratch, params.get("run_id") or "", check_mode)
    if not params.get("bucket") or not params.get("key"):
        raise IncidentResponseError("bucket and key are required to restore")
    run_id = params.get("run_id") or f"{os.getpid()}-{time.time():.0f}"
    target = f"s3://{params['bucket']}/{params['key']}"
    result: dict[str, t.Any] = {"key": params["key"], "bucket": params["bucket"], "scratch_database": scratch,
                                "created": False, "dropped": None, "row_counts": None,
                                "timings": {"download_seconds": None, "restore_seconds": None,
                                            "checks_seconds": None, "total_seconds": None}}
    if check_mode:
        # Say what did not happen: a drill that restored nothing has verified nothing.
        result["would_run"] = [f"download {target}", f"CREATE DATABASE {scratch}",
                               f"pg_restore into {scratch}", "count rows", f"DROP DATABASE {scratch}"]
        findings = [Finding("restore_run", scratch, UNKNOWN, None, None, None,
                            "check mode: no restore ran, so the backup is not proven to restore; a real run would "
                            + "; ".join(result["would_run"]),
                            "Run the drill without --check to verify the backup.")]
        try:
            owner = scratch_owner(params["postgres"], scratch)
        except psycopg2.Error as exc:
            findings.append(Finding("scratch_database", scratch, UNKNOWN, None, "absent", None,
                                    f"could not check {params['postgres'].get('host')}: "
                                    f"{str(exc).strip().splitlines()[0]}", None))
        else:
            if owner is not None:
                findings.append(exists_finding(scratch, owner))
        return dict(result, **summarize(findings))
    findings = []
    attempted = False  # once this run created the scratch database, it drops it
    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="dr_drill_", dir=params.get("work_dir"))
    dump_path = os.path.join(workdir, "backup.dump")
    try:
        try:
            got = download(AwsSession(AwsSettings.from_params(params)), params["bucket"], params["key"], dump_path,
                           params["checksum_metadata_key"].lower(), params["row_counts_metadata_key"].lower())
        except AwsCallError as exc:
            findings.append(Finding("restore_download", target, CRITICAL, None, None, None, exc.problem.message,
                                    REMEDIATION_RESTORE))
            return result
        result["timings"]["download_seconds"] = round(time.monotonic() - started, 3)
        result["size"] = got["size"]
        findings.append(integrity_finding(target, got))
        if findings[-1].status == CRITICAL:
            return result  # never restore content that is known to be wrong
        try:
            owner = scratch_owner(params["postgres"], scratch)
            if owner is not None or not create_scratch(params["postgres"], scratch):
                findings.append(exists_finding(scratch, owner or ""))
                return result  # never restore into, nor drop, a database this run did not create
            attempted = result["created"] = True
            mark_scratch(params["postgres"], scratch, run_id)
            restore_and_check(params, dump_path, got, findings, result)
        except (psycopg2.Error, subprocess.TimeoutExpired) as exc:
            findings.append(Finding("restore_run", scratch, CRITICAL, None, None, None,
                                    f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}", REMEDIATION_RESTORE))
        elapsed = (result["timings"]["download_seconds"] or 0) + (result["timings"]["restore_seconds"] or 0)
        findings.append(rto_finding(scratch, elapsed, params["rto_minutes"]))
        return result
    finally:
        if attempted:
            error = drop_scratch(params["postgres"], scratch)
            result["dropped"] = error is None
            if error:
                findings.append(Finding("scratch_dropped", scratch, CRITICAL, False, True, None, error,
                                        REMEDIATION_DROP))
        for name in os.listdir(workdir):
            os.unlink(os.path.join(workdir, name))
        os.rmdir(workdir)
        result["timings"]["total_seconds"] = round(time.monotonic() - started, 3)
        result.update(summarize(findings))
