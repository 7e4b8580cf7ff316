# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The automation as scribe: deploy, watch breach, diagnose and rollback write the open incident's timeline.

A bad release goes out during an open incident; its watch breaches and
rolls back, diagnose runs, a person rolls back further, resolves, and asks
for the review. The timeline on the bastion and the review rendered from it
must tell that story in order, with the runs' own words.
"""

from __future__ import annotations

import re

from conftest import REPO, irlab, run
from test_deploy import WATCH
from test_incident import STORE, incident, lab_ssh, opened_id, timeline


def test_deploy_breach_diagnose_and_rollback_land_in_the_review_in_order(lab):
    irlab("reset")
    lab_ssh("bastion", f"rm -rf {STORE}")
    # Outside an incident a deploy writes nothing anywhere.
    quiet = run("ansible-playbook", "playbooks/deploy.yml", "-e", "version=v1.2.3", *WATCH)
    assert quiet.rc == 0, quiet.text[-3000:]
    assert "no open incident, nothing recorded" in quiet.out
    assert lab_ssh("bastion", f"ls -A {STORE} 2>/dev/null || true").out.strip() == ""

    inc = opened_id(incident("action=open", "severity=P1", '{"title": "Checkout 5xx above 5 %"}'))
    bad = run("ansible-playbook", "playbooks/deploy.yml", "-e", "version=v1.2.4", *WATCH)
    assert bad.rc != 0 and "FAILED and was rolled back" in bad.text
    diagnose = run("ansible-playbook", "playbooks/diagnose.yml", "-e", "alert=high_error_rate")
    assert diagnose.rc == 0, diagnose.text[-3000:]
    back = run("ansible-playbook", "playbooks/rollback.yml", "-e", f"incident_id={inc}")
    assert back.rc == 0, back.text[-3000:]
    incident("action=resolve", f"incident_id={inc}")
    incident("action=report", f"incident_id={inc}")

    events = timeline(inc)
    kinds = [e["kind"] for e in events]
    assert kinds[:2] == ["opened", "paged"]
    assert kinds[2:6] == ["deploy_started", "watch_breach", "rollback_done", "diagnosis"]
    assert kinds[6:8] == ["rollback_started", "rollback_done"]
    assert "resolved" in kinds[8:]
    breach, undone = events[3], events[4]
    assert breach["summary"].startswith("BREACH after") and breach["refs"]["version"] == "v1.2.4"
    assert "Deploy of v1.2.4 to lab FAILED and was rolled back" in undone["summary"]
    assert events[7]["summary"].startswith("Rollback to v1.2.2 in lab succeeded")
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)

    review = REPO / "reports" / f"{inc}-review.md"
    lines = [line for line in review.read_text().splitlines() if re.match(r"- \d\d:\d\d UTC: ", line)]
    assert [line[2:7] for line in lines] == [e["at"][11:16] for e in events]
    assert any("BREACH after" in line for line in lines)
    for path in (REPO / "reports").glob(f"{inc}-review.*"):
        path.unlink()
    lab_ssh("bastion", f"rm -rf {STORE}")
