# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""pg_restore_drill as Ansible runs it: check mode only describes, a bad scratch name is refused, no secrets leak."""

from __future__ import annotations

import json

from ansible_collections.platform_eng.incident_response.plugins.modules import pg_restore_drill
from ansible_collections.platform_eng.incident_response.tests.unit.plugins.module_runner import run_module

ARGS = {"bucket": "backups-incident-response", "key": "latest/x.dump", "region": "us-east-1",
        "postgres": {"host": "127.0.0.1", "user": "admin", "password": "no-log-pw-7"}}


def test_check_mode_describes_the_restore_and_changes_nothing(capsys):
    result = run_module(capsys, pg_restore_drill, {**ARGS, "scratch_database": "dr_drill_check", "_ansible_check_mode": True})
    assert result["changed"] is False and "failed" not in result
    assert result["would_run"][0] == "download s3://backups-incident-response/latest/x.dump"
    assert "DROP DATABASE dr_drill_check" in result["would_run"]
    # Nothing was restored, so nothing is verified: never an all-clear.
    assert result["status"] == "unknown"
    assert any(f["name"] == "restore_run" and "no restore ran" in f["evidence"] for f in result["findings"])
    assert "no-log-pw-7" not in json.dumps(result)


def test_the_clean_up_step_needs_the_run_id_that_marked_the_database(capsys):
    result = run_module(capsys, pg_restore_drill, {"state": "absent", "scratch_database": "dr_drill_x",
                                                   "postgres": {"host": "127.0.0.1", "user": "admin"}})
    assert result["failed"] is True and "run_id" in result["msg"]


def test_a_restore_needs_bucket_and_key(capsys):
    result = run_module(capsys, pg_restore_drill, {"scratch_database": "dr_drill_x", "postgres": {"host": "127.0.0.1"}})
    assert result["failed"] is True and "bucket" in result["msg"] and "key" in result["msg"]


def test_a_name_that_could_be_a_real_database_is_refused(capsys):
    result = run_module(capsys, pg_restore_drill, {**ARGS, "scratch_database": "incident_response"})
    assert result["failed"] is True and "scratch_database must match" in result["msg"]
