#!/usr/bin/env bash
# Integration tests need the lab: bring it up, run pytest against it, and take
# it down whatever happened (set IRLAB_KEEP=1 to keep it for debugging).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
PY=.venv/bin/python
$PY lab/irlab.py up || { $PY lab/irlab.py down; exit 1; }
$PY -m pytest tests/integration -q -p no:cacheprovider -rfEs --durations=25 "$@"
rc=$?
# The roles' molecule scenarios on the same lab. logrotate leaves the lab up;
# deploy resets it, deploys twice (idempotence), checks, verifies, and its
# destroy takes the lab down.
for scenario in logrotate deploy; do
  PATH="$PWD/.venv/bin:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg" molecule test -s "$scenario" || rc=1
done
if [[ "${IRLAB_KEEP:-0}" != 1 ]]; then $PY lab/irlab.py down; fi
exit $rc
