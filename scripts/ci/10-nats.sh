#!/usr/bin/env bash
# Installs Debian's nats-server (bookworm: 2.9.x, JetStream included) for the
# NATS interpreter's tests and benchmarks (test/nats/, bench/nats-*.ts). The
# tests start their own server from /usr/sbin/nats-server on a free loopback
# port; the package's systemd unit (port 4222) is neither needed nor used.
# Idempotent and non-interactive; run as root by scripts/setup-test-env.sh.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

log() { printf '[nats] %s\n' "$*"; }

if ! dpkg-query -W -f='${db:Status-Status}' nats-server 2>/dev/null | grep -qx installed; then
  log "apt-get install nats-server"
  if ! apt-get install -y -qq --no-install-recommends nats-server >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends nats-server >/dev/null
  fi
fi

test -x /usr/sbin/nats-server
log "$(/usr/sbin/nats-server --version)"
