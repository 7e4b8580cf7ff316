#!/usr/bin/env bash
# Run `ansible-test sanity` on this collection with nothing but PyPI reachable.
#
#   tools/sanity.sh                    # every sanity test
#   tools/sanity.sh --test pylint -v   # extra arguments go to ansible-test
#   VENV=/path/to/venv tools/sanity.sh # another venv than <repo>/.venv
#
# ansible-test only accepts a collection at .../ansible_collections/<ns>/<name>
# and resolves symlinks, so the files git knows about (tracked and untracked,
# so uncommitted work is tested too) are copied into such a tree under
# tests/output/, and the tests run there. Results: <tree>/tests/output/.
set -euo pipefail

# shellcheck source=tools/_venv.sh
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
cd "$REPO_ROOT"

TREE=$REPO_ROOT/tests/output/.sanity-tree

# ansible-test bootstraps every sanity venv by running ~/.ansible/test/cache/get_pip_<version>.py,
# which it otherwise downloads from ci-files.testing.ansible.com. Put an offline stand-in
# there, next to the pip wheel it installs, fetched from PyPI once.
prime_pip_bootstrap() {
  local cache=$HOME/.ansible/test/cache version script
  # The pip version ansible-test pins for its venvs; asking it stays right after an upgrade.
  version=$("$PYTHON" -c 'import sys, types
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(types.SimpleNamespace(version="%d.%d" % sys.version_info[:2]))["pip"])')
  script=$cache/get_pip_${version//./_}.py
  mkdir -p "$cache"
  if [ ! -f "$cache/pip-$version-py3-none-any.whl" ]; then
    "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps \
      --only-binary=:all: --dest "$cache" "pip==$version"
  fi
  if ! cmp -s tools/get_pip_offline.py "$script"; then
    # Replaced by a rename, so a run going on elsewhere never reads half a file.
    cp tools/get_pip_offline.py "$script.tmp"
    mv "$script.tmp" "$script"
  fi
}

# Copy what git would commit (minus build output) into the collection directory.
build_tree() {
  local collection=$1
  rm -rf "$TREE"
  mkdir -p "$collection"
  git ls-files -z --cached --others --exclude-standard \
    | grep -zv -E '^(\.venv|\.collections|tests/output)/' \
    | while IFS= read -r -d '' path; do
        # Deleted but still tracked files are listed too; the copy skips them.
        if [ -e "$path" ] || [ -L "$path" ]; then printf '%s\0' "$path"; fi
      done \
    | tar --null --files-from=- -cf - \
    | tar -xf - -C "$collection"
  # Without a repository of its own, ansible-test would use the enclosing one, where
  # tests/output/ is ignored, and quietly skip every target. No commit is needed: it
  # lists untracked files too.
  git -C "$collection" init --quiet
}

# The import test sees only the collection root, so the collections the plugins
# import from (galaxy.yml dependencies) are linked beside this one, from
# .collections/ or else the `ansible` package in the venv.
link_dependency() {
  local namespace=$1 name=$2 candidate
  for candidate in "$REPO_ROOT/.collections/ansible_collections/$namespace/$name" \
                   "$SITE_PACKAGES/ansible_collections/$namespace/$name"; do
    if [ -f "$candidate/MANIFEST.json" ]; then
      mkdir -p "$TREE/ansible_collections/$namespace"
      ln -s "$candidate" "$TREE/ansible_collections/$namespace/$name"
      return
    fi
  done
  echo "warning: dependency $namespace.$name is not installed; the import test may fail" >&2
}

# One "<namespace> <name>" line for this collection, then one per galaxy.yml dependency.
mapfile -t collections < <("$PYTHON" -c 'import yaml
galaxy = yaml.safe_load(open("galaxy.yml"))
print(galaxy["namespace"], galaxy["name"])
for dependency in galaxy.get("dependencies") or {}:
    print(*dependency.split("."))')
read -r namespace name <<< "${collections[0]}"
collection=$TREE/ansible_collections/$namespace/$name

# Two runs at once would delete each other's tree.
mkdir -p tests/output
exec 9> tests/output/.sanity.lock
flock 9

prime_pip_bootstrap
build_tree "$collection"
SITE_PACKAGES=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
for dependency in "${collections[@]:1}"; do
  # shellcheck disable=SC2086  # "<namespace> <name>" splits into the two arguments
  link_dependency $dependency
done

python_version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
cd "$collection"
exec ansible-test sanity --python "$python_version" --local "$@"
