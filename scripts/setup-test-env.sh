#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine (run as root):
# each scripts/ci/NN-*.sh installs and prepares one real server the tests start
# (nats-server, podman with runc, etcd + a kube-apiserver built from Debian source).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
for step in scripts/ci/*.sh; do
  echo "== ${step}"
  bash "${step}"
done
