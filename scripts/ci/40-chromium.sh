#!/usr/bin/env bash
# Installs Debian's chromium for the dashboard's browser test (test/ui/): the
# test drives /usr/bin/chromium headless with playwright-core, which never
# downloads a browser of its own. Idempotent and non-interactive; run as root
# by scripts/setup-test-env.sh.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

log() { printf '[chromium] %s\n' "$*"; }

if ! dpkg-query -W -f='${db:Status-Status}' chromium 2>/dev/null | grep -qx installed; then
  log "apt-get install chromium"
  if ! apt-get install -y -qq --no-install-recommends chromium >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium >/dev/null
  fi
fi

test -x /usr/bin/chromium
log "$(/usr/bin/chromium --version 2>/dev/null || echo 'chromium installed')"
