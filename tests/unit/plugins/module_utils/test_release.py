# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One host's release step: install into .partial, atomic switch, health gate, pruning."""

from __future__ import annotations

import http.server
import io
import json
import os
import socket
import ssl
import tarfile
import threading
from pathlib import Path

import pytest

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _release as release
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import IncidentResponseError

MAKEFILE = "deploy:\n\t@echo $(ENV) > .deployed-env\n"
FAILING_MAKEFILE = "deploy:\n\t@echo 'first line' >&2; echo 'ENV must be one of: lab' >&2; exit 3\n"


def archive(path, files):
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return str(path)


class TestInstall:
    def test_release_is_prepared_in_partial_then_renamed(self, tmp_path):
        app = tmp_path / "app"
        created = release.install(str(app), "v1.2.3", archive(tmp_path / "a.tgz", {"Makefile": MAKEFILE}), "run1", "lab")
        assert created
        assert (app / "releases/v1.2.3/.deployed-env").read_text().strip() == "lab"
        assert not [p for p in (app / "releases").iterdir() if ".partial" in p.name]

    def test_existing_release_is_left_alone(self, tmp_path):
        (tmp_path / "app/releases/v1.2.3").mkdir(parents=True)
        assert release.install(str(tmp_path / "app"), "v1.2.3", "/nonexistent", "run1", "lab") is False

    def test_failed_make_deploy_leaves_only_a_partial_and_says_why(self, tmp_path):
        app = tmp_path / "app"
        with pytest.raises(IncidentResponseError, match=r"make deploy ENV=x failed \(exit 2\): first line \| ENV must be one of: lab"):
            release.install(str(app), "v1.2.3", archive(tmp_path / "a.tgz", {"Makefile": FAILING_MAKEFILE}), "r", "x")
        assert not (app / "releases/v1.2.3").exists()

    def test_truncated_archive_is_refused(self, tmp_path):
        good = archive(tmp_path / "a.tgz", {"Makefile": MAKEFILE})
        data = Path(good).read_bytes()
        (tmp_path / "cut.tgz").write_bytes(data[: len(data) // 2])
        with pytest.raises(IncidentResponseError, match="unpacking"):
            release.install(str(tmp_path / "app"), "v1.2.3", str(tmp_path / "cut.tgz"), "r", "lab")
        assert not list((tmp_path / "app/releases").iterdir())

    def test_member_escaping_the_release_is_refused(self, tmp_path):
        bad = archive(tmp_path / "a.tgz", {"../../evil": "x"})
        with pytest.raises(IncidentResponseError, match="outside"):
            release.install(str(tmp_path / "app"), "v1.2.3", bad, "r", "lab")
        assert not (tmp_path / "evil").exists()


class TestPointCurrent:
    def test_switch_is_atomic_and_reports_a_move(self, tmp_path):
        for version in ("v1", "v2"):
            (tmp_path / "releases" / version).mkdir(parents=True)
        assert release.point_current(str(tmp_path), "v1")
        assert release.point_current(str(tmp_path), "v2")
        assert not release.point_current(str(tmp_path), "v2")
        assert os.readlink(tmp_path / "current") == str(tmp_path / "releases/v2")
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith("current.")] == []

    def test_missing_release_is_refused_and_current_untouched(self, tmp_path):
        (tmp_path / "releases/v1").mkdir(parents=True)
        release.point_current(str(tmp_path), "v1")
        with pytest.raises(IncidentResponseError, match="not on this host"):
            release.point_current(str(tmp_path), "v9")
        assert os.readlink(tmp_path / "current").endswith("v1")


@pytest.fixture()
def health_server():
    answers = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            status, body = answers.pop(0) if len(answers) > 1 else answers[0]
            self.send_response(status)
            self.end_headers()
            self.wfile.write(body if isinstance(body, bytes) else json.dumps(body).encode())

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], answers
    server.shutdown()


class TestHealthGate:
    def test_needs_samples_in_a_row_on_the_target_version(self, health_server):
        port, answers = health_server
        answers += [(200, {"status": "ok", "version": "v1"}), (503, {"status": "down", "version": "v2"}),
                    (200, {"status": "ok", "version": "v2"})]
        took = release.wait_healthy(port, "v2", samples=3, timeout=5, delay=0.01)
        assert took < 5

    def test_times_out_naming_what_it_last_saw(self, health_server):
        port, answers = health_server
        answers.append((200, {"status": "ok", "version": "v1"}))
        with pytest.raises(IncidentResponseError, match="last: status 'ok', version 'v1'"):
            release.wait_healthy(port, "v2", samples=1, timeout=0.2, delay=0.05)

    def test_a_503_is_read_for_what_the_service_says(self, health_server):
        port, answers = health_server
        answers.append((503, {"status": "degraded", "version": "v2"}))
        assert release.read_health(port) == ({"status": "degraded", "version": "v2"}, None)
        with pytest.raises(IncidentResponseError, match="last: status 'degraded', version 'v2'"):
            release.wait_healthy(port, "v2", samples=1, timeout=0.1, delay=0.02)

    def test_nothing_listening_is_named_with_the_url(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        data, error = release.read_health(port, timeout=1)
        assert data is None and error.startswith(f"http://127.0.0.1:{port}/health: ") and "refused" in error

    def test_an_answer_that_is_not_json_is_named(self, health_server):
        port, answers = health_server
        answers.append((200, b"<html>maintenance</html>"))
        assert release.read_health(port) == (None, f"http://127.0.0.1:{port}/health did not answer JSON")
        with pytest.raises(IncidentResponseError, match="did not answer JSON"):
            release.wait_healthy(port, "v2", samples=1, timeout=0.1, delay=0.02)

    def test_the_gate_needs_no_tls_context(self, health_server, monkeypatch):
        # The loopback probe is plain HTTP: building a TLS context per sample cost 55 ms on a lab host.
        port, answers = health_server
        answers.append((200, {"status": "ok", "version": "v2"}))
        monkeypatch.setattr(ssl, "create_default_context", lambda *a, **k: pytest.fail("a TLS context was built"))
        assert release.wait_healthy(port, "v2", samples=2, timeout=5, delay=0.01) < 5


class TestPrune:
    def make(self, tmp_path, names):
        for i, name in enumerate(names):
            path = tmp_path / "releases" / name
            path.mkdir(parents=True)
            os.utime(path, (1000 + i, 1000 + i))

    def test_keeps_the_newest_and_never_the_live_or_last_good(self, tmp_path):
        self.make(tmp_path, ["v1.0.0", "v1.1.0", "v1.2.0", "v1.3.0", "v1.4.0"])
        doomed = release.prune(str(tmp_path), 2, protect=["v1.4.0", "v1.0.0"], run_id="r")
        # Two kept in all: the protected ones count towards keep_releases, and are never removed.
        assert sorted(os.path.basename(p) for p in doomed) == ["v1.1.0", "v1.2.0", "v1.3.0"]
        assert sorted(p.name for p in (tmp_path / "releases").iterdir()) == ["v1.0.0", "v1.4.0"]

    def test_removes_partials_of_other_runs_only(self, tmp_path):
        self.make(tmp_path, ["v1.0.0", "v1.1.0.partial-dead", "v1.1.0.partial-live"])
        release.prune(str(tmp_path), 5, protect=["v1.0.0"], run_id="live")
        assert sorted(p.name for p in (tmp_path / "releases").iterdir()) == ["v1.0.0", "v1.1.0.partial-live"]

    def test_removes_archives_of_releases_no_longer_kept(self, tmp_path):
        self.make(tmp_path, ["v1.0.0", "v1.1.0", "v1.2.0"])
        artifacts = tmp_path / "artifacts"
        artifacts.mkdir()
        for name in ("v1.0.0.tar.gz", "v1.1.0-0123abcd.tar.gz", "v1.2.0.tar.gz"):
            (artifacts / name).write_text("x")
        release.prune(str(tmp_path), 2, protect=["v1.2.0"], run_id="r", artifacts_dir=str(artifacts))
        assert sorted(p.name for p in artifacts.iterdir()) == ["v1.1.0-0123abcd.tar.gz", "v1.2.0.tar.gz"]

    def test_check_mode_removes_nothing(self, tmp_path):
        self.make(tmp_path, ["v1.0.0", "v1.1.0", "v1.2.0"])
        assert release.prune(str(tmp_path), 1, protect=["v1.2.0"], run_id="r", check_mode=True)
        assert len(list((tmp_path / "releases").iterdir())) == 3
