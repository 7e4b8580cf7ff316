#!/usr/bin/env python3
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's backup job: pg_dump the service's database to S3 with what a restore needs to prove itself.

Run it on the bastion (the only host that reaches PostgreSQL and moto):

  backup_producer.py --endpoint-url http://10.77.1.1:5000 [--bucket backups-incident-response]
                     [--prefix latest/] [--env-file /etc/incident-response/env]

It uploads <prefix><UTC timestamp>.dump (pg_dump custom format) with user metadata:
  sha256      hex SHA-256 of the dump
  row-counts  JSON {table: rows} for every table in the public schema
  database    the database dumped

The row counts and the dump read the same snapshot (pg_export_snapshot + pg_dump --snapshot), so
a restore of this dump must show exactly these counts, however busy the service is.
Prints a JSON summary {bucket, key, size, sha256, row_counts}.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import typing as t

import boto3
import botocore.exceptions
import psycopg2
from psycopg2 import sql


def read_env_file(path: pathlib.Path) -> dict[str, str]:
    """KEY=VALUE lines, read as data (never sourced by a shell)."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def dump_key(prefix: str, now: datetime.datetime) -> str:
    return f"{prefix}{now.strftime('%Y%m%dT%H%M%SZ')}.dump"


def count_rows(cur: t.Any) -> dict[str, int]:
    cur.execute("SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name")
    tables = [row[0] for row in cur.fetchall()]
    counts = {}
    for table in tables:
        cur.execute(sql.SQL("SELECT count(*) FROM public.{}").format(sql.Identifier(table)))
        counts[table] = int(cur.fetchone()[0])
    return counts


def dump_database(env: dict[str, str], dest: pathlib.Path, pg_dump: str) -> dict[str, int]:
    """Dump into ``dest`` and return the row counts of the same snapshot."""
    conn = psycopg2.connect(host=env["DB_HOST"], port=int(env.get("DB_PORT", "5432")), dbname=env["DB_NAME"],
                            user=env["DB_USER"], password=env["DB_PASSWORD"], connect_timeout=10)
    try:
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        with conn.cursor() as cur:
            cur.execute("SELECT pg_export_snapshot()")
            snapshot = cur.fetchone()[0]
            counts = count_rows(cur)
            # The snapshot lives as long as this transaction, so pg_dump runs before we commit.
            subprocess.run([pg_dump, "--format=custom", f"--snapshot={snapshot}", "--no-owner",
                            "--host", env["DB_HOST"], "--port", env.get("DB_PORT", "5432"),
                            "--username", env["DB_USER"], "--file", str(dest), "--", env["DB_NAME"]],
                           env=dict(os.environ, PGPASSWORD=env["DB_PASSWORD"]), check=True, timeout=3600)
        conn.commit()
    finally:
        conn.close()
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint-url", required=True)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--bucket", default="backups-incident-response")
    parser.add_argument("--prefix", default="latest/")
    parser.add_argument("--env-file", type=pathlib.Path, default=pathlib.Path("/etc/incident-response/env"))
    parser.add_argument("--pg-dump", default="pg_dump")
    args = parser.parse_args(argv)
    env = read_env_file(args.env_file)
    s3 = boto3.client("s3", endpoint_url=args.endpoint_url, region_name=args.region)
    try:
        s3.head_bucket(Bucket=args.bucket)
    except botocore.exceptions.ClientError:
        s3.create_bucket(Bucket=args.bucket)  # a fresh lab has no bucket until the first backup
    with tempfile.TemporaryDirectory(prefix="backup_producer_") as workdir:
        path = pathlib.Path(workdir) / "db.dump"
        counts = dump_database(env, path, args.pg_dump)
        body = path.read_bytes()
    digest = hashlib.sha256(body).hexdigest()
    key = dump_key(args.prefix, datetime.datetime.now(datetime.timezone.utc))
    s3.put_object(Bucket=args.bucket, Key=key, Body=body,
                  Metadata={"sha256": digest, "row-counts": json.dumps(counts, sort_keys=True),
                            "database": env["DB_NAME"]})
    print(json.dumps({"bucket": args.bucket, "key": key, "size": len(body), "sha256": digest, "row_counts": counts}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
