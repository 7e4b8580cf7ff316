#!/usr/bin/env bash
# Run ansible-lint on the collection's Ansible content, with no network.
#
#   tools/lint.sh                        # everything, settings from .ansible-lint
#   tools/lint.sh playbooks/deploy.yml   # arguments go to ansible-lint
#   VENV=/path/to/venv tools/lint.sh     # another venv than <repo>/.venv
set -euo pipefail

# shellcheck source=tools/_venv.sh
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
cd "$REPO_ROOT"

# Offline, ansible-lint does not install this collection for itself; it finds
# platform_eng.incident_response.* through ansible.cfg's collections_path, via
# the link tools/setup.sh makes. Make it here too, for a checkout without setup.
link=.collections/ansible_collections/platform_eng/incident_response
if [ ! -e "$link" ]; then
  mkdir -p "$(dirname "$link")"
  ln -sfn ../../.. "$link"
fi

exec ansible-lint "$@"
