# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deploy and rollback against the real lab, asserting what the on-call engineer would see.

Each scenario starts from `irlab reset`: v1.2.2 live and healthy on every
app host, a fresh database migrated to v1.2.2, no lock, an empty webhook log.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import REPO, ansible_env, irlab, lab_ssh, run, webhook_requests

# Short watch windows keep the suite quick; the production default is 15 minutes.
WATCH = ["-e", "deploy_watch_seconds=10", "-e", "deploy_watch_interval=5"]
LOCK = "/var/lib/incident-response/deploy.lock"


def deploy(version: str, *extra: str, timeout: float = 600):
    return run("ansible-playbook", "playbooks/deploy.yml", "-e", f"version={version}", *WATCH, *extra,
               timeout=timeout)


def live_versions(lab) -> dict[str, str]:
    """What each app host serves, asked over HTTP from the bastion (as a load balancer would)."""
    versions = {}
    for host in lab["app_hosts"]:
        body = lab_ssh("bastion", f"curl -s --max-time 5 http://{host['ip']}:8080/health").out
        versions[host["name"]] = json.loads(body)["version"]
    return versions


def history(host: str) -> list[dict]:
    return json.loads(lab_ssh(host, "cat /var/lib/incident-response/releases.json").out)["releases"]


def host_state(lab) -> dict[str, str]:
    """Everything a deploy could touch on the app hosts, as one comparable snapshot."""
    snap = {}
    for host in lab["app_hosts"]:
        snap[host["name"]] = lab_ssh(host["name"], (
            "readlink /opt/incident-response/current; ls -A /opt/incident-response/releases; "
            "md5sum /var/lib/incident-response/releases.json; ls -A /var/lib/incident-response; "
            "cat /var/lib/incident-response/service.pid")).out
    snap["bastion"] = lab_ssh("bastion", f"ls -A /var/lib/incident-response; test -e {LOCK} && echo LOCKED || true").out
    return snap


DEPLOY_CHANNEL = "/slack/deployments"  # incident_response_webhook_url in the lab inventory


def events(lab) -> list[str]:
    """The deploy notifications, in order. The lab's Alertmanager pages on other paths of the same receiver
    (a bad release really fires the error-budget alerts), so only the deploy channel is read."""
    return [r["body"]["event"] for r in webhook_requests(lab)
            if r.get("path") == DEPLOY_CHANNEL and isinstance(r.get("body"), dict)]


def recap_changed(output: str, host: str) -> int:
    match = re.search(rf"^{host}\s+: ok=\d+\s+changed=(\d+)", output, re.MULTILINE)
    assert match, f"no recap line for {host}"
    return int(match.group(1))


def migrations_applied(version: str) -> int:
    out = lab_ssh("bastion", "PGPASSWORD=lab-admin-pw psql -X -At -h 10.77.2.250 -U admin -d incident_response "
                             f"-c \"SELECT count(*) FROM schema_migrations WHERE version = '{version}'\"").out
    return int(out.strip())


class TestReleaseLifecycle:
    """One story, in order: good deploy, the same deploy again, a bad release, a rollback."""

    @pytest.fixture(scope="class", autouse=True)
    def fresh(self, lab):
        irlab("reset")

    def test_good_release_goes_live_everywhere(self, lab):
        result = deploy("v1.2.3")
        assert result.rc == 0, result.text
        assert live_versions(lab) == {h["name"]: "v1.2.3" for h in lab["app_hosts"]}
        # make migrate ran on the bastion exactly once for the run, never per host.
        assert result.out.count("TASK [platform_eng.incident_response.deploy : Run the database migrations") == 1
        assert re.search(r"Run the database migrations.*\n(changed|ok): \[bastion\]", result.out)
        assert migrations_applied("002") == 1
        assert lab_ssh("bastion", f"test -e {LOCK}", check=False).rc == 1, "the lock is still there"
        for host in lab["app_hosts"]:
            last = history(host["name"])[-1]
            assert (last["version"], last["result"]) == ("v1.2.3", "healthy")
        assert events(lab)[:1] == ["deploy_started"] and events(lab)[-1] == "deploy_succeeded"
        assert "Deploy of v1.2.3 to lab succeeded" in result.out

    def test_same_deploy_again_changes_nothing_on_the_hosts(self, lab):
        before = {h["name"]: history(h["name"]) for h in lab["app_hosts"]}
        result = deploy("v1.2.3")
        assert result.rc == 0, result.text
        for host in lab["app_hosts"]:
            assert recap_changed(result.out, host["name"]) == 0
            assert history(host["name"]) == before[host["name"]]
        assert "already live: no change" in result.out

    def test_bad_release_is_caught_by_the_watch_and_rolled_back(self, lab):
        events_before = len(events(lab))
        # A long window: the watch stops at the first sustained breach, so this costs nothing when it works.
        result = deploy("v1.2.4", "-e", "deploy_watch_seconds=120", timeout=900)
        assert result.rc != 0
        assert "Deploy of v1.2.4 to lab FAILED and was rolled back" in result.text and "BREACH" in result.text
        assert "Fleet: " + ", ".join(f"{h['name']} v1.2.3" for h in lab["app_hosts"]) in result.text
        assert re.search(r"error_rate_5xx \d+(\.\d+)?%|latency_p95 \d+(\.\d+)?ms", result.text)
        assert live_versions(lab) == {h["name"]: "v1.2.3" for h in lab["app_hosts"]}
        for host in lab["app_hosts"]:
            results = {e["version"]: e["result"] for e in history(host["name"])}
            assert results["v1.2.4"] == "rolled_back"
            assert results["v1.2.3"] == "healthy"
        new_events = events(lab)[events_before:]
        assert "deploy_rollback_started" in new_events and new_events[-1] == "deploy_rolled_back"
        assert lab_ssh("bastion", f"test -e {LOCK}", check=False).rc == 1

    def test_rollback_without_version_returns_to_previous_good_release(self, lab):
        # v1.2.4 was rolled back, so the previous GOOD release before v1.2.3 is v1.2.2.
        result = run("ansible-playbook", "playbooks/rollback.yml")
        assert result.rc == 0, result.text
        assert live_versions(lab) == {h["name"]: "v1.2.2" for h in lab["app_hosts"]}
        for host in lab["app_hosts"]:
            results = [(e["version"], e["result"]) for e in history(host["name"])]
            # The release left is marked first; the newest entry is the one now live.
            assert results[-2:] == [("v1.2.3", "rolled_back"), ("v1.2.2", "healthy")]
        assert events(lab)[-1] == "rollback_succeeded"


HOSTILE_VERSIONS = [
    "v1;rm -rf /",
    "$(id)",
    "--upload-pack=x",
    "{{ lookup('pipe','id') }}",
    "../x",
    "",
    "v" + "1" * 299,
    "v9.9.9",  # well-formed, but no such tag
]


@pytest.mark.parametrize("version", HOSTILE_VERSIONS, ids=["semicolon", "subshell", "git-option", "jinja",
                                                           "traversal", "empty", "300-chars", "missing-tag"])
def test_bad_version_is_refused_before_any_change(lab, version, tmp_path):
    before = host_state(lab)
    result = run("ansible-playbook", "playbooks/deploy.yml", "-e", f"version={version}")
    assert result.rc != 0
    assert "Refused before changing anything" in result.text
    assert "PLAY [Plan on every app host" not in result.out, "the run went past validation"
    assert host_state(lab) == before


def test_jinja_in_version_is_never_rendered(lab, tmp_path):
    canary = tmp_path / "canary"
    result = run("ansible-playbook", "playbooks/deploy.yml", "-e", f"version={{{{ lookup('pipe','touch {canary}') }}}}")
    assert result.rc != 0
    assert "looks like a Jinja template" in result.text
    assert not canary.exists(), "the version was rendered: a lookup ran on the controller"


def test_second_deploy_fails_fast_naming_the_lock_holder(lab):
    irlab("reset")
    env = ansible_env()
    first = subprocess.Popen(["ansible-playbook", "playbooks/deploy.yml", "-e", "version=v1.2.3",
                              "-e", "deploy_watch_seconds=20", "-e", "deploy_watch_interval=5"],
                             cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # Start the second one once the first holds the lock.
        deadline = time.monotonic() + 120
        while lab_ssh("bastion", f"test -e {LOCK}", check=False).rc != 0:
            assert time.monotonic() < deadline and first.poll() is None, "the first deploy never took the lock"
            time.sleep(0.5)
        time.sleep(1)
        started = time.monotonic()
        second = deploy("v1.2.3")
        took = time.monotonic() - started
        assert second.rc != 0
        assert "holds the deploy lock" in second.text and "deploy of v1.2.3" in second.text
        holder = json.loads(lab_ssh("bastion", f"cat {LOCK}").out)
        assert holder["run_id"] in second.text
        assert took < 60, f"the second deploy took {took:.0f} s to refuse"
    finally:
        out, _stderr = first.communicate(timeout=900)
    assert first.returncode == 0, out
    assert live_versions(lab) == {h["name"]: "v1.2.3" for h in lab["app_hosts"]}


def test_killed_deploy_converges_on_rerun(lab):
    irlab("reset")
    env = ansible_env()
    proc = subprocess.Popen(["ansible-playbook", "playbooks/deploy.yml", "-e", "version=v1.2.3", *WATCH,
                             "-e", "deploy_serial=1"],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    first = lab["app_hosts"][0]["name"]
    deadline = time.monotonic() + 300
    while "v1.2.3" not in lab_ssh(first, "readlink /opt/incident-response/current").out:
        assert time.monotonic() < deadline and proc.poll() is None, "the deploy never switched the first host"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    # Whatever was interrupted, `current` only ever points at a complete release.
    for host in lab["app_hosts"]:
        target = lab_ssh(host["name"], "readlink /opt/incident-response/current").out.strip()
        assert re.fullmatch(r"/opt/incident-response/releases/v\d+\.\d+\.\d+", target), target
        assert lab_ssh(host["name"], f"test -f {target}/.deployed-env").rc == 0
    assert lab_ssh("bastion", f"test -e {LOCK}", check=False).rc == 0, "the killed run should have left its lock"

    rerun = deploy("v1.2.3")
    assert rerun.rc == 0, rerun.text
    assert "is gone (interrupted run)" in rerun.text
    assert live_versions(lab) == {h["name"]: "v1.2.3" for h in lab["app_hosts"]}
    for host in lab["app_hosts"]:
        assert ".partial" not in lab_ssh(host["name"], "readlink -f /opt/incident-response/current").out


def test_check_mode_changes_nothing_and_prints_the_plan(lab):
    irlab("reset")
    before = host_state(lab)
    result = run("ansible-playbook", "playbooks/deploy.yml", "-e", "version=v1.2.3", "--check", "--diff")
    assert result.rc == 0, result.text
    for host in lab["app_hosts"]:
        assert f"{host['name']}: v1.2.2 -> v1.2.3" in result.out
    assert host_state(lab) == before
    assert events(lab) == []
    assert live_versions(lab) == {h["name"]: "v1.2.2" for h in lab["app_hosts"]}
