# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's alert path: Prometheus and Alertmanager in the bastion's network namespace, ansible-rulebook on
the controller, as plain processes with pid files like every lab service.

    Prometheus    10.77.1.10:9090  (namespace irlab-bastion) scrapes every app host's :8080/metrics every 2 s,
                                   evaluates the collection's rules every 2 s, alerts Alertmanager
    Alertmanager  10.77.1.10:9093  (namespace irlab-bastion) posts to the controller's receivers
                                   (10.77.1.1:8099 PagerDuty / Slack / ticket, SMTP 10.77.1.1:8025) and to
    the rulebook  10.77.1.1:5050   (root namespace) extensions/eda/rulebooks/incident_response.yml

The bastion's namespace is the only one that reaches the app hosts' private network and the controller's
management address both. The files live under <state>/monitoring on the shared file system (outside the
bastion's bind-mounted directories), where playbooks/monitoring.yml (the role monitoring, run against the
bastion) installs the rules and Alertmanager's configuration; until then Alertmanager runs with a
configuration that routes nowhere.

lab/irlab.py passes itself in, so the processes start, wait and stop exactly as its other services do:

    from services import monitoring
    monitoring.up(irlab, [host.ssh_ip for host in app_hosts()])   # after the app hosts serve
    monitoring.install(irlab)                                      # playbooks/monitoring.yml, checked, reloaded
    monitoring.rulebook(irlab, auto_rollback=False)                # (re)start; a restart forgets its throttles
    monitoring.down(irlab)                                         # before the namespaces go
"""

from __future__ import annotations

import os
import shutil
import subprocess
import types
import typing as t
from pathlib import Path

import yaml

BASTION_NETNS = "irlab-bastion"
PROMETHEUS = ("10.77.1.10", 9090)
ALERTMANAGER = ("10.77.1.10", 9093)
RULEBOOK = ("10.77.1.1", 5050)
SCRAPE_INTERVAL = "2s"
NAMES = ("prometheus", "alertmanager", "rulebook")
QUIET_ALERTMANAGER = {"route": {"receiver": "nowhere"}, "receivers": [{"name": "nowhere"}]}


def directory(lab: types.ModuleType) -> Path:
    return Path(lab.STATE) / "monitoring"


def prometheus_config(lab: types.ModuleType, app_ips: t.Sequence[str], app_port: int = 8080) -> dict[str, t.Any]:
    """Scrape every app host (job incident-response, as the rules' selector expects), read the role's rules."""
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "rule_files": [str(directory(lab) / "rules" / "*.yml")],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": ["%s:%d" % ALERTMANAGER]}]}]},
        "scrape_configs": [{"job_name": "incident-response",
                            "static_configs": [{"targets": [f"{ip}:{app_port}" for ip in app_ips]}]}],
    }


def _wait(lab: types.ModuleType, name: str, address: tuple[str, int]) -> None:
    if not lab.wait_port(*address, timeout=30):
        raise SystemExit(f"irlab: {name} did not start on {address[0]}:{address[1]}; see {lab.LOGS}/{name}.log")


def up(lab: types.ModuleType, app_ips: t.Sequence[str], app_port: int = 8080) -> None:
    """Start Prometheus and Alertmanager in the bastion's namespace and wait until both answer."""
    base = directory(lab)
    (base / "rules").mkdir(parents=True, exist_ok=True)
    (base / "prometheus.yml").write_text(yaml.safe_dump(prometheus_config(lab, app_ips, app_port), sort_keys=False))
    alertmanager_yml = base / "alertmanager.yml"
    if not alertmanager_yml.exists():
        alertmanager_yml.write_text(yaml.safe_dump(QUIET_ALERTMANAGER))
    lab.spawn("prometheus", ["prometheus", f"--config.file={base / 'prometheus.yml'}",
                             f"--storage.tsdb.path={base / 'prometheus-data'}", "--storage.tsdb.retention.time=12h",
                             "--web.listen-address=%s:%d" % PROMETHEUS, "--web.enable-lifecycle"],
              netns=BASTION_NETNS)
    lab.spawn("alertmanager", ["prometheus-alertmanager", f"--config.file={alertmanager_yml}",
                               f"--storage.path={base / 'alertmanager-data'}",
                               "--web.listen-address=%s:%d" % ALERTMANAGER, "--cluster.listen-address="],
              netns=BASTION_NETNS)
    _wait(lab, "prometheus", PROMETHEUS)
    _wait(lab, "alertmanager", ALERTMANAGER)


def _ansible_env(lab: types.ModuleType) -> dict[str, str]:
    repo = Path(lab.REPO)
    env = dict(os.environ, ANSIBLE_CONFIG=str(repo / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=f"{Path(lab.PYTHON).parent}:{os.environ.get('PATH', '')}",
               # ansible-rulebook runs a copy of playbooks/ in a temporary directory: reports must land elsewhere.
               INCIDENT_RESPONSE_REPORTS_ROOT=str(repo / "reports"))
    env.pop("ANSIBLE_INVENTORY", None)
    return env


def install(lab: types.ModuleType) -> None:
    """Install the rules and Alertmanager's routing with the role, as a user would (playbooks/monitoring.yml)."""
    repo = Path(lab.REPO)
    done = subprocess.run([str(Path(lab.PYTHON).parent / "ansible-playbook"), "playbooks/monitoring.yml"],
                          cwd=repo, env=_ansible_env(lab), capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise SystemExit(f"irlab: playbooks/monitoring.yml failed ({done.returncode}):\n{done.stdout[-3000:]}")


def _stop(lab: types.ModuleType, name: str) -> None:
    pidfile = Path(lab.RUN) / f"{name}.pid"
    pid = lab.read_pid(pidfile)
    try:
        ours = str(directory(lab)) in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (OSError, TypeError):
        ours = False  # gone already, or no pid file
    if pid and ours and lab.pid_alive(pid):
        lab.terminate(pid)  # only a process started with this directory in its arguments: ours
    pidfile.unlink(missing_ok=True)


def rulebook(lab: types.ModuleType, auto_rollback: bool = False) -> None:
    """(Re)start ansible-rulebook; the token is the lab inventory's incident_response_eda.token."""
    _stop(lab, "rulebook")
    _switched_off(lab).unlink(missing_ok=True)
    repo = Path(lab.REPO)
    lab_vars = yaml.safe_load((repo / "inventories/lab/group_vars/all/monitoring.yml").read_text())
    variables = directory(lab) / "rulebook-vars.yml"
    variables.parent.mkdir(parents=True, exist_ok=True)
    variables.touch(mode=0o600)
    variables.write_text(yaml.safe_dump({
        "alert_webhook_host": RULEBOOK[0], "alert_webhook_port": RULEBOOK[1],
        "alert_webhook_token": lab_vars["incident_response_eda"]["token"], "alert_auto_rollback": bool(auto_rollback),
        # Absolute: the rulebook resolves a relative playbook against its working directory, whatever that is.
        "alert_playbook": str(repo / "playbooks" / "alert.yml")}))
    # The inventory as a directory, so ansible-rulebook's copy of it keeps group_vars.
    lab.spawn("rulebook", [str(Path(lab.PYTHON).parent / "ansible-rulebook"),
                           "--rulebook", str(repo / "extensions/eda/rulebooks/incident_response.yml"),
                           "--vars", str(variables), "--inventory", str(repo / "inventories/lab")],
              env=_ansible_env(lab))
    _wait(lab, "rulebook", RULEBOOK)


def rulebook_stop(lab: types.ModuleType) -> None:
    """Stop ansible-rulebook (Prometheus and Alertmanager keep running; Alertmanager's posts to it then fail).

    The integration tests break the service on purpose; with the rulebook running, each firing alert would start
    alert.yml in the background (an incident opened, a diagnosis run) racing the test for the lab and the incident
    store. They stop it for their session, and the alert scenarios start it with rulebook().
    """
    _stop(lab, "rulebook")
    _switched_off(lab).touch()


def _switched_off(lab: types.ModuleType) -> Path:
    """Present while the rulebook is stopped on purpose, so `irlab status` does not call the lab broken."""
    return Path(lab.RUN) / "rulebook.off"


def forget(lab: types.ModuleType, app_ips: t.Sequence[str], app_port: int = 8080) -> None:
    """Prometheus and Alertmanager again with no history (their rules and routing kept), for a test scenario.

    A bad release's error-budget burn keeps firing for the length of its windows after a rollback; a scenario
    that must start from a quiet service starts both afresh.
    """
    for name in ("alertmanager", "prometheus"):
        _stop(lab, name)
    base = directory(lab)
    for data in ("prometheus-data", "alertmanager-data"):
        shutil.rmtree(base / data, ignore_errors=True)
    up(lab, app_ips, app_port)


def down(lab: types.ModuleType) -> None:
    for name in reversed(NAMES):
        _stop(lab, name)
    _switched_off(lab).unlink(missing_ok=True)


def status(lab: types.ModuleType) -> list[tuple[str, bool, str]]:
    """One row per process for `irlab status`: name, up, where."""
    rows = []
    for name, address in zip(NAMES, (PROMETHEUS, ALERTMANAGER, RULEBOOK)):
        pidfile = Path(lab.RUN) / f"{name}.pid"
        if name == "rulebook" and _switched_off(lab).exists():
            rows.append((name, True, "off on purpose (alert-driven runs: irlab.py rulebook start)"))
            continue
        pid = lab.read_pid(pidfile)
        up_ = bool(pid and lab.pid_alive(pid)) and lab.wait_port(*address, timeout=1)
        rows.append((name, up_, "%s:%d" % address))
    return rows
