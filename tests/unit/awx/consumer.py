# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An installed copy of the collection and the environment that sees only it (fixtures in conftest.py)."""

from __future__ import annotations

import subprocess
import typing as t
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
BIN = REPO / ".venv" / "bin"


class Installed(t.NamedTuple):
    """An installed collection and the environment that sees it, and no other copy of it, from an empty directory."""

    path: Path  # the collections path (holds ansible_collections/platform_eng/incident_response)
    workdir: Path  # an empty directory with an empty ansible.cfg: no project settings, no .collections link
    env: dict[str, str]

    @property
    def collection(self) -> Path:
        return self.path / "ansible_collections" / "platform_eng" / "incident_response"

    def run(self, *argv: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / argv[0]), *argv[1:]], cwd=self.workdir, env=self.env, capture_output=True,
                              text=True, timeout=timeout, check=False)
