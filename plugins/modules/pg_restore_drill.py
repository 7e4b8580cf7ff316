#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_restore_drill
short_description: Restore a pg_dump backup from S3 into a scratch database, check it, time it, drop it
version_added: 0.1.0
description:
  - The DR drill's proof that a backup restores. Downloads O(key) from O(bucket) while hashing it and compares the
    SHA-256 with the one the backup job recorded in the object's metadata (C(restore_integrity)). A mismatch stops
    the drill before any database is created.
  - Creates O(scratch_database), runs C(pg_restore --exit-on-error) into it (C(restore_run)), checks that every
    expected table is there with a row count within O(row_count_tolerance_percent) of what the backup job recorded
    in the C(row-counts) metadata (C(restore_row_count), one per table), and judges download plus restore time
    against the RTO (C(restore_time)).
  - Drops O(scratch_database) whatever happened (C(DROP DATABASE ... WITH (FORCE))); a failed drop is a
    C(scratch_dropped) critical finding. The downloaded file is deleted too.
  - Only ever drops a database it created in this run. When O(scratch_database) already exists, the drill is
    refused with a C(scratch_database) critical finding and that database is neither restored into nor dropped.
    The database it creates carries O(run_id) in its comment, so that O(state=absent) can clean up after a run that
    was stopped before its own drop, and nothing else.
options:
  state:
    description:
      - V(restored) runs the drill.
      - V(absent) is the clean-up step for O(run_id) only; drops O(scratch_database) when it exists and carries this
        O(run_id) in its comment (the drill created it and was stopped before dropping it), and leaves any other
        database alone (RV(left_alone) says why).
    type: str
    choices: [restored, absent]
    default: restored
  run_id:
    description:
      - Identifies this run. The drill writes it into the comment of the database it creates; O(state=absent)
        requires it and drops only a database carrying it.
      - Defaults to a value unique to the module call when O(state=restored).
    type: str
  bucket:
    description:
      - The bucket, for example V(backups-incident-response).
      - Required when O(state=restored).
    type: str
  key:
    description:
      - The object to restore, usually C(newest.key) from M(platform_eng.incident_response.s3_backup_info).
      - Required when O(state=restored).
    type: str
  scratch_database:
    description:
      - The database to restore into. Must start with C(dr_drill_) (lower case, digits, C(_)), so that no
        other database can ever be dropped by mistake. Use a name unique to the run.
    type: str
    required: true
  postgres:
    description: How to reach PostgreSQL as a role allowed to create databases (the runbook's C(admin)).
    type: dict
    required: true
    suboptions:
      host: {description: Server host name or address., type: str, required: true, aliases: [login_host]}
      port: {description: TCP port., type: int, default: 5432, aliases: [login_port]}
      user: {description: Role to log in as., type: str, default: postgres, aliases: [login_user]}
      password: {description: Password of O(postgres.user). Never logged., type: str, aliases: [login_password]}
      database: {description: Database to connect to for CREATE and DROP., type: str, default: postgres, aliases: [db]}
      ssl_mode:
        description: libpq C(sslmode).
        type: str
        default: prefer
        choices: [disable, allow, prefer, require, verify-ca, verify-full]
        aliases: [sslmode]
      ca_path: {description: CA bundle for O(postgres.ssl_mode=verify-full)., type: path, aliases: [ssl_rootcert]}
      connect_timeout: {description: Seconds to wait for a connection., type: int, default: 5}
      statement_timeout: {description: Seconds any one statement may take (counting rows included)., type: int, default: 600}
  checksum_metadata_key:
    description: The user metadata key (without C(x-amz-meta-)) holding the SHA-256 of the dump, in hex.
    type: str
    default: sha256
  row_counts_metadata_key:
    description: The user metadata key holding a JSON object of table name to row count at dump time.
    type: str
    default: row-counts
  expected_tables:
    description:
      - Tables that must be in the restored database (C(table) means C(public.table) or the only schema that has
        it). Defaults to the tables in the recorded row counts.
    type: list
    elements: str
    default: []
  row_count_tolerance_percent:
    description: How far a restored row count may differ from the recorded one, in percent of the recorded count.
    type: float
    default: 1
  rto_minutes:
    description: The recovery time objective; download plus restore longer than this is C(critical).
    type: float
    default: 60
  restore_timeout:
    description: Seconds after which C(pg_restore) is stopped and the drill fails.
    type: int
    default: 3600
  pg_restore_path:
    description: The C(pg_restore) to run; its major version must be at least the dump's.
    type: str
    default: pg_restore
  work_dir:
    description: Directory for the downloaded dump (deleted afterwards). Defaults to the system's temporary directory.
    type: path
  fail_on:
    description: Fail the task when the worst finding is at least this severe.
    type: str
    default: critical
    choices: [none, warn, critical]
extends_documentation_fragment:
  - platform_eng.incident_response.attributes
  - platform_eng.incident_response.aws
attributes:
  check_mode:
    support: full
    details:
      - In check mode nothing is downloaded, created or dropped; RV(would_run) lists the steps, and a
        C(restore_run) finding with status V(unknown) says that no restore ran, so a check run is never an
        all-clear. It does look whether O(scratch_database) already exists, and refuses it as a real run would.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: The scratch database is created and dropped in the same run, so nothing is left to change.
notes:
  - Needs C(s3:GetObject), the C(pg_restore) client, psycopg2 and boto3 on the host it runs on (the bastion).
  - The password reaches C(pg_restore) through C(PGPASSWORD), never the command line.
  - Reports C(changed=true) when a scratch database was created (and dropped), or dropped by O(state=absent).
seealso:
  - module: platform_eng.incident_response.s3_backup_info
author:
  - Platform Engineering Team (@platform-eng)
"""

EXAMPLES = r"""
- name: Restore the newest backup into a scratch database on the bastion
  platform_eng.incident_response.pg_restore_drill:
    bucket: backups-incident-response
    key: "{{ backup.newest.key }}"
    scratch_database: "dr_drill_{{ ansible_date_time.epoch }}"
    postgres:
      host: 10.77.2.250
      user: admin
      password: "{{ dr_drill_postgres_password }}"
    expected_tables: [incidents, schema_migrations]
    rto_minutes: "{{ incident_response_rto_minutes }}"
    endpoint_url: http://10.77.1.1:5000
    region: us-east-1
  delegate_to: bastion
  register: restore

- name: Make sure this run's scratch database is gone, and nobody else's was touched
  platform_eng.incident_response.pg_restore_drill:
    state: absent
    run_id: "{{ drill_run_id }}"
    scratch_database: "{{ restore.scratch_database }}"
    postgres:
      host: 10.77.2.250
      user: admin
      password: "{{ dr_drill_postgres_password }}"
  delegate_to: bastion
"""

RETURN = r"""
status: {description: The worst status among the findings., returned: always, type: str, sample: ok}
counts:
  description: How many findings have each status.
  returned: always
  type: dict
  sample: {ok: 5, warn: 0, critical: 0, unknown: 0}
findings:
  description: C(restore_integrity), C(restore_run), one C(restore_row_count) per table, C(restore_time); also
    C(restore_download) when the object could not be read, C(scratch_dropped) when the drop failed, and
    C(scratch_database) when a database with the scratch name already existed (refused).
  returned: always
  type: list
  elements: dict
  sample: [{name: restore_time, target: dr_drill_1732700000, status: ok, value: 0.02, threshold: {critical: 60},
            unit: minutes, evidence: download and restore took 1.2 s (RTO 60 min), remediation: null}]
bucket: {description: The bucket., returned: when O(state=restored), type: str, sample: backups-incident-response}
key: {description: The object restored., returned: when O(state=restored), type: str, sample: latest/20261127T112233Z.dump}
left_alone:
  description: Why O(state=absent) did not drop an existing O(scratch_database) (another run's, or not a drill's).
  returned: when O(state=absent)
  type: str
  sample: dr_drill_x exists but this run (r1) did not create it; not dropped
size: {description: Bytes downloaded., returned: when downloaded, type: int, sample: 8311}
scratch_database: {description: The scratch database used., returned: always, type: str, sample: dr_drill_1732700000}
created: {description: Whether the scratch database was created., returned: always, type: bool, sample: true}
dropped:
  description: Whether the scratch database was dropped afterwards; C(null) when no restore was attempted.
  returned: always
  type: bool
  sample: true
row_counts:
  description: Restored (C(null) for a missing table) and recorded row counts per table.
  returned: when O(state=restored)
  type: dict
  sample: {restored: {incidents: 42}, recorded: {incidents: 42}}
timings:
  description: Seconds per phase; C(null) for a phase that did not run.
  returned: when O(state=restored)
  type: dict
  sample: {download_seconds: 0.05, restore_seconds: 0.9, checks_seconds: 0.01, total_seconds: 1.2}
would_run:
  description: The steps a real run would take.
  returned: in check mode
  type: list
  elements: str
  sample: [download s3://backups-incident-response/latest/x.dump, CREATE DATABASE dr_drill_1, pg_restore into dr_drill_1]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.platform_eng.incident_response.plugins.module_utils._aws import (
    BOTO3_IMPORT_ERROR,
    aws_argument_spec,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import IncidentResponseError
from ansible_collections.platform_eng.incident_response.plugins.module_utils._postgresql import (
    PSYCOPG2_IMPORT_ERROR,
    postgresql_argument_spec,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._prerequisites import require
from ansible_collections.platform_eng.incident_response.plugins.module_utils._restore_drill import restore_drill
from ansible_collections.platform_eng.incident_response.plugins.module_utils._verdict import (
    FAIL_ON_CHOICES,
    failure_summary,
    reaches,
)


def main() -> None:
    postgres = postgresql_argument_spec()
    postgres["statement_timeout"]["default"] = 600  # counting a large table takes longer than a health query
    argument_spec = aws_argument_spec()
    argument_spec.update(
        state=dict(type="str", default="restored", choices=["restored", "absent"]),
        run_id=dict(type="str"),
        bucket=dict(type="str"),
        key=dict(type="str", no_log=False),
        scratch_database=dict(type="str", required=True),
        postgres=dict(type="dict", required=True, options=postgres),
        checksum_metadata_key=dict(type="str", default="sha256", no_log=False),
        row_counts_metadata_key=dict(type="str", default="row-counts", no_log=False),
        expected_tables=dict(type="list", elements="str", default=[]),
        row_count_tolerance_percent=dict(type="float", default=1),
        rto_minutes=dict(type="float", default=60),
        restore_timeout=dict(type="int", default=3600),
        pg_restore_path=dict(type="str", default="pg_restore"),
        work_dir=dict(type="path"),
        fail_on=dict(type="str", default="critical", choices=list(FAIL_ON_CHOICES)),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_if=[("state", "restored", ["bucket", "key"]), ("state", "absent", ["run_id"])])
    require(module, [("boto3", BOTO3_IMPORT_ERROR), ("psycopg2", PSYCOPG2_IMPORT_ERROR)])
    try:
        result = restore_drill(module.params, check_mode=module.check_mode)
    except IncidentResponseError as exc:
        module.fail_json(msg=str(exc))
    changed = bool(result["created"] or (result["dropped"] and module.params["state"] == "absent"))
    if reaches(result["status"], module.params["fail_on"]):
        module.fail_json(msg=failure_summary(result, module.params["fail_on"], "Restore drill"), changed=changed,
                         **result)
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
