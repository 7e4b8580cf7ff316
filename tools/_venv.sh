# shellcheck shell=bash
# Sourced by the tools/*.sh gates: pick the Python environment they run in.
#
# VENV=/path/to/venv selects a venv; otherwise the repo's .venv (what CI
# creates from requirements.txt) is used, and without one the tools on PATH.
# Sets REPO_ROOT and PYTHON; a venv's bin/ goes first on PATH so that
# ansible-test, ansible-lint and the ansible-* commands they start all come
# from the same environment.

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-$REPO_ROOT/.venv}

if [ -x "$VENV/bin/python" ]; then
  PYTHON=$VENV/bin/python
  export PATH="$VENV/bin:$PATH"
elif PYTHON=$(command -v python3); then
  echo "note: no venv at $VENV; using $PYTHON and the tools on PATH" >&2
else
  echo "error: no venv at $VENV and no python3 on PATH" >&2
  exit 2
fi
