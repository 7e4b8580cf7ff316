#!/usr/bin/env bash
# One-command setup on a fresh Debian 12 machine (run as root): the Debian
# packages the lab and tests use, the pinned Python venv in .venv, and the
# link that lets ansible resolve platform_eng.incident_response from this
# checkout. Idempotent, and a no-op in about a second when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

# Without shellcheck, ansible-test's shellcheck sanity test only warns and passes. promtool and amtool
# (prometheus, prometheus-alertmanager) run in the unit tests; ansible-rulebook needs a Java 17 runtime.
APT_PACKAGES=(postgresql redis-server openssh-server openssh-client logrotate certbot haproxy
              iproute2 git make curl ca-certificates procps util-linux openssl python3-venv
              shellcheck prometheus prometheus-alertmanager openjdk-17-jre-headless)
PYTHON=${PYTHON:-python3}

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [[ ! -x .venv/bin/python || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  echo "setup: building .venv from requirements.txt"
  "$PYTHON" -m venv .venv
  # pip's output goes to a log, shown only when the install fails.
  { .venv/bin/pip install --disable-pip-version-check --upgrade pip==24.2 &&
    .venv/bin/pip install --disable-pip-version-check -r requirements.txt; } > .venv/pip.log 2>&1 ||
    { tail -n 40 .venv/pip.log; echo "setup: pip install failed (full log: .venv/pip.log)" >&2; exit 1; }
  echo "$want" > "$stamp"
fi

# Safety, before any lab exists and after it is gone: nothing aimed at the lab's
# range may leave this machine (lab/irlab.py up ensures it too, and down keeps it).
LAB_RANGE=10.77.0.0/16
if [[ -z "$(ip route show type unreachable "$LAB_RANGE" 2>/dev/null)" ]]; then
  ip route replace unreachable "$LAB_RANGE" ||
    { echo "setup: cannot install the route 'unreachable $LAB_RANGE' (needs root)" >&2; exit 1; }
  echo "setup: route 'unreachable $LAB_RANGE' installed"
fi

mkdir -p .collections/ansible_collections/platform_eng
ln -sfn ../../.. .collections/ansible_collections/platform_eng/incident_response
echo "setup: ready ($(.venv/bin/ansible --version | head -1))"
