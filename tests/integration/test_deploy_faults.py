# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deploy and rollback when things break for real, and what a person finds afterwards.

Each fault is caused in the lab, not simulated: a host's sshd and its
sessions are killed mid-run (`irlab sshd HOST stop`), PostgreSQL is stopped,
the git origin is moved away, two runs race, a run outlives its lock's TTL.
Afterwards each test checks what the on-call engineer would: the version
each host serves, the lock, the notifications the receiver actually got,
the release history, and the run's own message.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO, ansible_env, irlab, lab_ssh, run, webhook_requests
from test_deploy import LOCK, deploy, events, history, live_versions

ORIGIN = Path("/var/lib/irlab/origin.git")


def start(*argv: str, log: Path) -> subprocess.Popen:
    """Start a playbook in the background, its output going to ``log`` (read while it runs)."""
    handle = log.open("w")
    return subprocess.Popen(["ansible-playbook", *argv], cwd=REPO, env=ansible_env(), stdout=handle,
                            stderr=subprocess.STDOUT, text=True)


def wait_for(what: str, condition, proc: subprocess.Popen | None = None, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        assert proc is None or proc.poll() is None, f"the run ended before {what}"
        time.sleep(0.2)


def lock_on_bastion() -> dict | None:
    found = lab_ssh("bastion", f"cat {LOCK}", check=False)
    return json.loads(found.out) if found.rc == 0 else None


def module_processes(netns: str) -> list[str]:
    """Python processes in a lab namespace other than the lab's own (traffic generator): module runs."""
    pids = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True, check=False).stdout.split()
    found = []
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_text(errors="ignore").replace("\0", " ")
        except OSError:
            continue
        if "python" in cmdline and "lab/" not in cmdline:
            found.append(f"{pid} {cmdline.strip()}")
    return found


def last_results(host: str) -> dict[str, str]:
    return {e["version"]: e["result"] for e in history(host)}


@pytest.fixture()
def reset(lab):
    irlab("reset")
    yield
    # Whatever a test broke, the next one starts from a working lab.
    for host in ["bastion", *(h["name"] for h in lab["app_hosts"])]:
        irlab("sshd", host, "start")
    irlab("data", "postgres", "start")
    if not ORIGIN.exists() and ORIGIN.with_name("origin.git.away").exists():
        ORIGIN.with_name("origin.git.away").rename(ORIGIN)


def test_app_host_lost_after_another_switched_puts_the_first_back(lab, reset, tmp_path):
    first, second = (h["name"] for h in lab["app_hosts"][:2])
    proc = start("playbooks/deploy.yml", "-e", "version=v1.2.3", "-e", "deploy_serial=1",
                 "-e", "deploy_watch_seconds=10", "-e", "deploy_watch_interval=5", log=tmp_path / "run.log")
    wait_for(f"{first} to switch", lambda: "v1.2.3" in lab_ssh(first, "readlink /opt/incident-response/current").out,
             proc)
    irlab("sshd", second, "stop")
    proc.wait(timeout=600)
    out = (tmp_path / "run.log").read_text()
    irlab("sshd", second, "start")

    assert proc.returncode != 0, out
    assert f"Deploy of v1.2.3 to lab FAILED and was rolled back: the rollout failed on {second}" in out
    assert f"Fleet: {first} v1.2.2, {second} unknown (unreachable)" in out
    assert live_versions(lab)[first] == "v1.2.2", "the host that had switched was not put back"
    assert last_results(first)["v1.2.3"] == "failed"
    assert lock_on_bastion() is None, "the lock was left behind"
    assert events(lab)[0] == "deploy_started" and events(lab)[-1] == "deploy_rolled_back"


def test_bastion_lost_during_the_watch_leaves_the_release_unverified(lab, reset, tmp_path):
    log = tmp_path / "run.log"
    proc = start("playbooks/deploy.yml", "-e", "version=v1.2.3", "-e", "deploy_watch_seconds=60",
                 "-e", "deploy_watch_interval=5", log=log)
    wait_for("the watch to start", lambda: "Watch every app host" in log.read_text(), proc)
    time.sleep(3)
    irlab("sshd", "bastion", "stop")
    stopped = time.monotonic()
    proc.wait(timeout=300)
    out = log.read_text()

    assert proc.returncode != 0, out
    assert "the watch did not finish" in out and "the release stays unverified" in out
    assert "The deploy lock stays on the bastion until its lease expires" in out
    # Announced from the controller although the bastion is gone.
    assert events(lab)[-1] == "deploy_failed"
    # The watch on the bastion noticed its controller was gone and stopped within one interval (5 s).
    time.sleep(max(0.0, 7 - (time.monotonic() - stopped)))
    assert module_processes("irlab-bastion") == [], "the watch outlived its run on the bastion"

    irlab("sshd", "bastion", "start")
    for host in lab["app_hosts"]:
        assert last_results(host["name"])["v1.2.3"] == "deploying", "an unverified release was recorded healthy"
    lock = lock_on_bastion()
    assert lock is not None and lock["expires_at"] > lock["renewed_at"]
    # The next run takes the dead run's lock over and finishes the job.
    rerun = deploy("v1.2.3")
    assert rerun.rc == 0, rerun.text
    assert "is gone (interrupted run)" in rerun.text
    for host in lab["app_hosts"]:
        assert last_results(host["name"])["v1.2.3"] == "healthy"


def test_rollback_needs_neither_the_origin_nor_the_bastion_checkout(lab, reset):
    assert deploy("v1.2.3").rc == 0
    checkout = lab_ssh("bastion", "git -C /opt/incident-response rev-parse HEAD").out
    ORIGIN.rename(ORIGIN.with_name("origin.git.away"))
    try:
        result = run("ansible-playbook", "playbooks/rollback.yml")
    finally:
        ORIGIN.with_name("origin.git.away").rename(ORIGIN)
    assert result.rc == 0, result.text
    assert live_versions(lab) == {h["name"]: "v1.2.2" for h in lab["app_hosts"]}
    assert lab_ssh("bastion", "git -C /opt/incident-response rev-parse HEAD").out == checkout
    assert "skipping: [bastion]" in result.out.split("Fetch the tag and build its archive")[1].split("TASK")[0]
    assert lock_on_bastion() is None
    assert events(lab)[-2:] == ["rollback_started", "rollback_succeeded"]


def test_failed_migration_is_announced_with_its_cause(lab, reset):
    irlab("data", "postgres", "stop")
    result = deploy("v1.2.3")
    irlab("data", "postgres", "start")
    assert result.rc != 0
    assert "Deploy of v1.2.3 to lab FAILED: Run the database migrations" in result.text
    assert "non-zero return code" not in result.text.split("FAILED:")[-1].split(".")[0]
    assert "10.77.2.250" in result.text or "connect" in result.text.lower(), "the cause is not in the message"
    assert live_versions(lab) == {h["name"]: "v1.2.2" for h in lab["app_hosts"]}, "a host switched"
    assert lock_on_bastion() is None
    failed = [r["body"] for r in webhook_requests(lab) if r["body"].get("event") == "deploy_failed"]
    assert failed and "Run the database migrations" in failed[0]["text"]


def test_two_rollbacks_at_once_one_runs_one_is_refused(lab, reset, tmp_path):
    assert deploy("v1.2.3").rc == 0
    procs = [start("playbooks/rollback.yml", log=tmp_path / f"r{i}.log") for i in range(2)]
    for proc in procs:
        proc.wait(timeout=600)
    outs = [(tmp_path / f"r{i}.log").read_text() for i in range(2)]
    codes = sorted(p.returncode for p in procs)
    assert codes[0] == 0 and codes[1] != 0, outs
    refused = outs[[p.returncode for p in procs].index(codes[1])]
    assert "holds the deploy lock for a rollback of v1.2.2" in refused
    assert live_versions(lab) == {h["name"]: "v1.2.2" for h in lab["app_hosts"]}
    assert lock_on_bastion() is None


def test_a_live_run_keeps_its_lock_past_the_ttl(lab, reset, tmp_path):
    log = tmp_path / "run.log"
    proc = start("playbooks/deploy.yml", "-e", "version=v1.2.3", "-e", "deploy_lock_ttl=30",
                 "-e", "deploy_watch_seconds=45", "-e", "deploy_watch_interval=5", log=log)
    wait_for("the lock", lambda: lock_on_bastion() is not None, proc)
    taken = json.loads(lab_ssh("bastion", f"cat {LOCK}").out)
    wait_for("the TTL to pass", lambda: time.time() > time.mktime(time.strptime(taken["started_at"],
                                                                                "%Y-%m-%dT%H:%M:%SZ")) - time.timezone + 35,
             proc, timeout=120)
    second = deploy("v1.2.3")
    proc.wait(timeout=600)
    assert second.rc != 0 and "holds the deploy lock" in second.text, "a live run's lock was taken over"
    assert proc.returncode == 0, log.read_text()


def test_a_moved_tag_is_refused_naming_both_commits(lab, reset, tmp_path):
    assert deploy("v1.2.3").rc == 0
    original = subprocess.run(["git", "-C", str(ORIGIN), "rev-parse", "v1.2.3^{commit}"], capture_output=True,
                              text=True, check=True).stdout.strip()
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(ORIGIN), str(work)], check=True)
    subprocess.run(["git", "-C", str(work), "checkout", "-q", "v1.2.3"], check=True)
    (work / "MOVED").write_text("someone re-tagged a release\n")
    subprocess.run(["git", "-C", str(work), "add", "MOVED"], check=True)
    subprocess.run(["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm",
                    "moved"], check=True)
    moved = subprocess.run(["git", "-C", str(work), "rev-parse", "HEAD"], capture_output=True, text=True,
                           check=True).stdout.strip()
    subprocess.run(["git", "-C", str(ORIGIN), "fetch", "-q", str(work), f"+{moved}:refs/tags/v1.2.3"], check=True)
    try:
        result = deploy("v1.2.3")
    finally:
        subprocess.run(["git", "-C", str(ORIGIN), "tag", "-f", "v1.2.3", original], check=True, capture_output=True)
    assert result.rc != 0
    assert f"tag v1.2.3 moved: it pointed at {original}" in result.text and f"now points at {moved}" in result.text
    assert live_versions(lab) == {h["name"]: "v1.2.3" for h in lab["app_hosts"]}
    for host in lab["app_hosts"]:
        assert lab_ssh(host["name"], "test -e /opt/incident-response/current/MOVED", check=False).rc == 1
    assert lock_on_bastion() is None


def test_ticket_and_override_reason_are_recorded_where_people_look(lab, reset):
    result = deploy("v1.2.3", "-e", "change_ticket=CHG-4321", "-e",
                    json.dumps({"deploy_window_override_reason": "customer outage fix approved by the IC"}))
    assert result.rc == 0, result.text
    for host in lab["app_hosts"]:
        entry = [e for e in history(host["name"]) if e["version"] == "v1.2.3"][-1]
        assert entry["change_ticket"] == "CHG-4321"
        assert entry["override_reason"] == "customer outage fix approved by the IC"
    done = [r["body"] for r in webhook_requests(lab) if r["body"].get("event") == "deploy_succeeded"][-1]
    assert done["fields"]["change_ticket"] == "CHG-4321"
    assert done["fields"]["override_reason"] == "customer outage fix approved by the IC"


def test_rollback_works_with_the_bastion_checkout_gone_too(lab, reset):
    assert deploy("v1.2.3").rc == 0
    # /opt/incident-response is a mount point on the lab host: empty it rather than move it.
    away = "/var/tmp/irlab-bastion-checkout"
    lab_ssh("bastion", f"rm -rf {away} && mkdir {away} && mv /opt/incident-response/* /opt/incident-response/.git {away}/")
    ORIGIN.rename(ORIGIN.with_name("origin.git.away"))
    try:
        result = run("ansible-playbook", "playbooks/rollback.yml")
    finally:
        ORIGIN.with_name("origin.git.away").rename(ORIGIN)
        lab_ssh("bastion", f"mv {away}/* {away}/.git /opt/incident-response/ && rmdir {away}")
    assert result.rc == 0, result.text
    assert live_versions(lab) == {h["name"]: "v1.2.2" for h in lab["app_hosts"]}
