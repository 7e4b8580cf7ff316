#!/usr/bin/env bash
# The lint gate, with no network: ansible-lint on the Ansible content, then
# ruff and mypy on the Python (settings in pyproject.toml), then
# antsibull-changelog lint on changelogs/. Every check runs; the exit status is
# non-zero if any of them failed.
#
#   tools/lint.sh                        # everything, settings from .ansible-lint and pyproject.toml
#   tools/lint.sh playbooks/deploy.yml   # arguments go to ansible-lint, and only ansible-lint runs
#   VENV=/path/to/venv tools/lint.sh     # another venv than <repo>/.venv
set -euo pipefail

# shellcheck source=tools/_venv.sh
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
cd "$REPO_ROOT"

# Offline, ansible-lint does not install this collection for itself; it finds
# platform_eng.incident_response.* through ansible.cfg's collections_path, via
# the link tools/setup.sh makes. Make it here too, for a checkout without setup.
# mypy resolves the collection's imports through the same link (mypy_path).
link=.collections/ansible_collections/platform_eng/incident_response
if [ ! -e "$link" ]; then
  mkdir -p "$(dirname "$link")"
  ln -sfn ../../.. "$link"
fi

if [ "$#" -gt 0 ]; then
  exec ansible-lint "$@"
fi

failed=()
check() {
  local name=$1
  shift
  echo "== $name" >&2
  if ! "$@"; then
    failed+=("$name")
  fi
}

check ansible-lint ansible-lint
check ruff ruff check
check mypy mypy
check antsibull-changelog antsibull-changelog lint

if [ "${#failed[@]}" -gt 0 ]; then
  echo "lint failed: ${failed[*]}" >&2
  exit 1
fi
