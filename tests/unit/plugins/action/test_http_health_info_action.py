# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""http_health_info on the controller, in a real ansible-playbook run against a real HTTP server.

On a local connection the action plugin runs the checks in-process instead of starting the module. What a
user sees must not change: the same verdict and findings as the module's own main(), the same fail_on
failure, the same refusal of bad arguments, the same warning, and a secret header masked in the output.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import textwrap
import threading
import typing as t
from pathlib import Path

import pytest

from ansible_collections.platform_eng.incident_response.plugins.modules import http_health_info

# tests/unit/plugins/conftest.py puts the collection on sys.path for plain pytest.
from ansible_collections.platform_eng.incident_response.tests.unit.plugins.module_runner import run_module

REPO = Path(__file__).resolve().parents[4]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
SECRET = "Bearer s3cr3t-value-0451"

pytestmark = pytest.mark.skipif(not ANSIBLE_PLAYBOOK.exists(), reason=f"{ANSIBLE_PLAYBOOK} not installed")


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: t.Any) -> None:
        pass

    def do_GET(self) -> None:
        # /health answers ok, /broken answers 500; both echo the Authorization header back.
        status = 200 if self.path == "/health" else 500
        body = json.dumps({"status": "ok" if status == 200 else "error", "version": "v1.2.3",
                           "seen": self.headers.get("Authorization", "")}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def base_url() -> t.Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def run_task(tmp_path: Path, args: dict[str, t.Any], *flags: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    """One http_health_info task on localhost; the process and the task's registered result."""
    out = tmp_path / "result.json"
    playbook = tmp_path / "playbook.yml"
    playbook.write_text(textwrap.dedent(f"""
        - name: Ask one endpoint from the controller
          hosts: localhost
          gather_facts: false
          tasks:
            - name: Check it
              platform_eng.incident_response.http_health_info: {json.dumps(args)}
              register: checked
              ignore_errors: true
            - name: Keep the result
              ansible.builtin.copy:
                content: "{{{{ checked | to_json }}}}"
                dest: {out}
                mode: "0600"
        """), encoding="utf-8")
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "local"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    proc = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}",
                           str(playbook), *flags],
                          cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc, json.loads(out.read_text(encoding="utf-8"))


def comparable(result: dict) -> dict:
    """What a user reads in the result, without the latencies that differ from run to run."""
    return {"status": result["status"], "failed": bool(result.get("failed")),
            "findings": [(f["name"], f["target"], f["status"]) for f in result["findings"]]}


def test_same_verdict_as_the_module_without_starting_it(
        tmp_path: Path, base_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = {"endpoints": [{"url": f"{base_url}/health", "name": "public endpoint"}], "samples": 3,
            "json_assertions": ['status == "ok"', 'version == "v1.2.3"'], "secret_headers": {"Authorization": SECRET}}
    proc, result = run_task(tmp_path, args, "-vvv")
    module_result = run_module(capsys, http_health_info, args, secrets=[SECRET])
    assert comparable(result) == comparable(module_result)
    assert result["status"] == "ok" and result["changed"] is False
    # In-process: no Python was started for the check (the copy task after it does start one).
    check_output = proc.stdout.split("TASK [Check it]")[1].split("TASK [Keep the result]")[0]
    assert "EXEC" not in check_output and "AnsiballZ" not in check_output
    assert SECRET not in proc.stdout and SECRET not in json.dumps(result)


def test_fail_on_fails_the_task_with_the_modules_message(
        tmp_path: Path, base_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = {"endpoints": [{"url": f"{base_url}/broken", "name": "public endpoint"}], "samples": 2,
            "fail_on": "critical"}
    _proc, result = run_task(tmp_path, args)
    module_result = run_module(capsys, http_health_info, args)
    assert result["failed"] is True and module_result["failed"] is True
    assert result["msg"] == module_result["msg"]
    assert result["msg"].startswith("HTTP health is critical (fail_on=critical)")
    assert comparable(result) == comparable(module_result)


def test_bad_arguments_are_refused_before_any_request(tmp_path: Path, base_url: str) -> None:
    _proc, result = run_task(tmp_path, {"endpoints": [{"url": f"{base_url}/health"}], "samples": "many"})
    assert result["failed"] is True
    assert "samples" in result["msg"] and "findings" not in result
    _proc, result = run_task(tmp_path, {"endpoints": [{"url": f"{base_url}/health"}], "sampels": 2})
    assert result["failed"] is True and "sampels" in result["msg"]


def test_a_credential_in_plain_headers_is_warned_about(tmp_path: Path, base_url: str) -> None:
    proc, result = run_task(tmp_path, {"endpoints": [{"url": f"{base_url}/health"}], "samples": 1,
                                       "headers": {"Authorization": "Bearer visible"}})
    assert result["status"] == "ok"
    assert "Header Authorization looks like a credential" in proc.stdout + proc.stderr
