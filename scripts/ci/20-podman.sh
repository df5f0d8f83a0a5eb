#!/usr/bin/env bash
# Installs rootful podman for the podman interpreter's tests (test/podman/):
# Debian bookworm's podman 4.3 with runc (the tests' containers.conf selects runc:
# crun fails on hosts with hybrid cgroups and no CAP_SYS_RESOURCE), conmon,
# netavark + aardvark-dns + iptables for bridge networking and published ports,
# catatonit for --init, and busybox-static, whose single static binary becomes
# the tests' image (no registry is reachable; test/support/podman.ts imports a
# tiny root filesystem built from it).
# Not needed: uidmap, slirp4netns and fuse-overlayfs serve rootless podman; the
# tests run rootful, with the kernel's overlayfs and netavark's bridge.
# Idempotent and non-interactive; run as root by scripts/setup-test-env.sh.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

PKGS=(podman runc conmon netavark aardvark-dns iptables catatonit busybox-static)

log() { printf '[podman] %s\n' "$*"; }

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
  log "apt-get install ${missing[*]}"
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

command -v podman >/dev/null
command -v runc >/dev/null
[[ -x /bin/busybox ]] || { log "busybox-static did not install /bin/busybox" >&2; exit 1; }
log "ready: $(podman --version), runc $(runc --version | head -n1 | awk '{print $3}')"
