#!/usr/bin/env bash
# Prepares a real Kubernetes control plane for the Kubernetes interpreter's tests:
# Debian's etcd-server, plus kube-apiserver and kubectl built from Debian
# bookworm's `kubernetes` SOURCE package (Debian ships no kube-apiserver binary,
# and the network here reaches only Debian's archive and npm, so upstream release
# binaries and the Go module proxy are out of reach; the source package vendors
# every Go dependency, so it builds offline with Debian's golang-go).
#
# The binaries land in a cache outside the work tree, keyed by the Debian version:
#   ${FLEET_KUBE_CACHE:-/var/cache/fleet-algebra}/kubernetes-<version>-<patch level>/{kube-apiserver,kubectl}
# test/support/kube-apiserver.ts looks for them there (same env var, same version).
# When they are already present the script only checks the runtime packages and
# exits within a second. Idempotent, non-interactive, run as root by .ci/run.
set -euo pipefail

# Keep in sync with KUBE_DEB_VERSION in test/support/kube-apiserver.ts.
KUBE_DEB_VERSION="${FLEET_KUBE_DEB_VERSION:-1.20.5+really1.20.2-1.1+deb12u1}"
CACHE_ROOT="${FLEET_KUBE_CACHE:-/var/cache/fleet-algebra}"
# Bump when the patches below change, so machines with an older cached build rebuild.
# Keep in sync with KUBE_PATCH_LEVEL in test/support/kube-apiserver.ts.
KUBE_PATCH_LEVEL="fleet2"
DEST="${CACHE_ROOT}/kubernetes-${KUBE_DEB_VERSION}-${KUBE_PATCH_LEVEL}"
BINARIES=(kube-apiserver kubectl)

# Needed whenever the tests run (the harness spawns etcd and calls openssl).
RUNTIME_PKGS=(etcd-server openssl ca-certificates)
# Needed only to build: Go toolchain, dpkg-source, the fixed reflect2, and the
# tools kubernetes' hack/ scripts call (make, rsync, findutils, ...).
BUILD_PKGS=(golang-go dpkg-dev golang-github-modern-go-reflect2-dev make rsync xz-utils)

export DEBIAN_FRONTEND=noninteractive

log() { printf '[kube-apiserver] %s\n' "$*"; }

# Installs the given packages that are not installed yet (no apt call at all when
# everything is there, which keeps the cached path fast). Retries after an
# `apt-get update` in case the machine's package lists were never fetched.
ensure_pkgs() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  log "apt-get install ${missing[*]}"
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

have_binaries() {
  local b
  for b in "${BINARIES[@]}"; do [[ -x "${DEST}/${b}" ]] || return 1; done
}

ensure_pkgs "${RUNTIME_PKGS[@]}"

if have_binaries; then
  log "cached: ${DEST}"
  exit 0
fi

mkdir -p "${CACHE_ROOT}"
# Two concurrent runs (e.g. two CI steps) must not build twice or race on the rename.
exec 9>"${CACHE_ROOT}/.kubernetes.lock"
flock 9
if have_binaries; then
  log "cached (built by a concurrent run): ${DEST}"
  exit 0
fi

ensure_pkgs "${BUILD_PKGS[@]}"

# Everything temporary lives in one directory that is removed on exit, success or
# not. /var/tmp rather than /tmp: source + Go build cache take ~2 GB and /tmp may
# be a small tmpfs.
WORK="$(mktemp -d "${TMPDIR:-/var/tmp}/fleet-kube-build.XXXXXX")"
STAGE="${DEST}.partial.$$"
cleanup() { rm -rf "${WORK}" "${STAGE}"; }
trap cleanup EXIT

# --- Fetch the source package --------------------------------------------------
# deb-src is not configured on the machine, and we must not change the system's
# apt configuration. So apt gets a private sources list (deb-src only, same
# mirror as the machine's own `deb` entries) and a private lists directory; the
# system's sources and package lists are left untouched.

# The first URI of the machine's configured Debian archive (deb822 or one-line
# format) whose path ends in the given suffix; falls back to deb.debian.org.
mirror_for() {
  local suffix="$1" fallback="$2" uri
  uri="$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list /etc/apt/sources.list 2>/dev/null |
    grep -vE '^[[:space:]]*#' | grep -oE '(https?|file)://[^ ]+' | sed 's:/*$::' | grep -E "/${suffix}\$" | head -n1 || true)"
  printf '%s' "${uri:-$fallback}"
}
DEBIAN_MIRROR="${FLEET_DEBIAN_MIRROR:-$(mirror_for debian http://deb.debian.org/debian)}"
SECURITY_MIRROR="${FLEET_DEBIAN_SECURITY_MIRROR:-$(mirror_for debian-security http://deb.debian.org/debian-security)}"

mkdir -p "${WORK}/apt/sources.list.d" "${WORK}/apt/lists/partial"
cat >"${WORK}/apt/sources.list.d/fleet-kube-src.sources" <<EOF
Types: deb-src
URIs: ${DEBIAN_MIRROR}
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: ${SECURITY_MIRROR}
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
APT_PRIVATE=(
  -o "Dir::Etc::SourceList=/dev/null"
  -o "Dir::Etc::SourceParts=${WORK}/apt/sources.list.d"
  -o "Dir::State::Lists=${WORK}/apt/lists"
  # apt normally drops to the _apt user to download, which cannot write into our
  # root-owned temp dir; we are root already, so download as root, no warning.
  -o "APT::Sandbox::User=root"
)

log "fetching source kubernetes=${KUBE_DEB_VERSION} from ${DEBIAN_MIRROR}"
apt-get "${APT_PRIVATE[@]}" update -qq
if ! apt-cache "${APT_PRIVATE[@]}" showsrc kubernetes 2>/dev/null | grep -qx "Version: ${KUBE_DEB_VERSION}"; then
  log "source version ${KUBE_DEB_VERSION} is not in the archive; available:" >&2
  apt-cache "${APT_PRIVATE[@]}" showsrc kubernetes 2>/dev/null | grep '^Version:' >&2 || true
  log "set FLEET_KUBE_DEB_VERSION (and KUBE_DEB_VERSION in test/support/kube-apiserver.ts)" >&2
  exit 1
fi
# apt verifies the downloaded files against the signed Sources index.
(cd "${WORK}" && apt-get "${APT_PRIVATE[@]}" source -qq --download-only "kubernetes=${KUBE_DEB_VERSION}" >/dev/null)
# Unpacks the orig tarball and applies Debian's patches (CVE fixes among them).
dpkg-source -x "${WORK}"/kubernetes_*.dsc "${WORK}/src" >"${WORK}/dpkg-source.log" 2>&1 ||
  { log "dpkg-source -x failed:" >&2; tail -n 20 "${WORK}/dpkg-source.log" >&2; exit 1; }
SRC="${WORK}/src"

# --- Replace the vendored reflect2 ----------------------------------------------
# Kubernetes 1.20 vendors github.com/modern-go/reflect2 v1.0.1, which reads Go
# runtime map internals through go:linkname; their layout changed in Go 1.18, so
# under Debian's Go 1.19 kube-apiserver dies with SIGSEGV on the first custom
# resource create (json-iterator iterating a map). reflect2 v1.0.2 carries the
# Go >= 1.18 variant; Debian packages it, so copy it over the vendored one and
# record the new version in go.mod / vendor/modules.txt so `go -mod=vendor`'s
# consistency check passes and `go version -m` tells the truth.
REFLECT2_SRC=/usr/share/gocode/src/github.com/modern-go/reflect2
REFLECT2_VENDOR="${SRC}/vendor/github.com/modern-go/reflect2"
grep -q '^module github.com/modern-go/reflect2' "${REFLECT2_SRC}/go.mod"
[[ -f "${REFLECT2_SRC}/go_above_118.go" ]] || { log "${REFLECT2_SRC} is not reflect2 >= 1.0.2" >&2; exit 1; }
rm -rf "${REFLECT2_VENDOR}"
mkdir -p "${REFLECT2_VENDOR}"
find "${REFLECT2_SRC}" -maxdepth 1 -type f \( -name '*.go' -o -name '*.s' \) ! -name '*_test.go' \
  -exec cp -t "${REFLECT2_VENDOR}" {} +
cp /usr/share/doc/golang-github-modern-go-reflect2-dev/copyright "${REFLECT2_VENDOR}/LICENSE.debian-copyright" 2>/dev/null || true
sed -i 's|\(github.com/modern-go/reflect2 =>\) github.com/modern-go/reflect2 v1.0.1|\1 github.com/modern-go/reflect2 v1.0.2|' \
  "${SRC}/go.mod"
sed -i 's|=> github.com/modern-go/reflect2 v1.0.1$|=> github.com/modern-go/reflect2 v1.0.2|' \
  "${SRC}/vendor/modules.txt"
grep -q 'reflect2 v1.0.2' "${SRC}/go.mod" || { log "could not patch go.mod for reflect2" >&2; exit 1; }

# --- Accept zero values in custom resources ----------------------------------------
# The vendored OpenAPI validators (go-openapi/validate and kube-openapi's copy)
# treat any zero value as null: `reflect.DeepEqual(reflect.Zero(...), ...)`.
# Built with Go >= 1.16 this rejects every empty string, 0 and false in a custom
# resource ("must be of type string: null"; kubernetes/kubernetes#99804, fixed
# upstream in 1.21). Devices may carry empty label values, so restore the
# upstream fix: only a real nil is null.
mapfile -t ZERO_NULL < <(grep -rl 'reflect.DeepEqual(reflect.Zero(reflect.TypeOf(data)), reflect.ValueOf(data))' "${SRC}/vendor" || true)
[[ ${#ZERO_NULL[@]} -gt 0 ]] || { log "zero-value validator not found in vendor/ (source changed?)" >&2; exit 1; }
sed -i 's/if data == nil || reflect.DeepEqual(reflect.Zero(reflect.TypeOf(data)), reflect.ValueOf(data)) {/if data == nil {/' "${ZERO_NULL[@]}"
if grep -q 'reflect.DeepEqual(reflect.Zero(reflect.TypeOf(data)), reflect.ValueOf(data))' "${ZERO_NULL[@]}"; then
  log "could not patch the zero-value validator in: ${ZERO_NULL[*]}" >&2
  exit 1
fi
log "patched zero-value validation in ${#ZERO_NULL[@]} vendored file(s)"

# --- Build ------------------------------------------------------------------------
# Same environment as debian/rules: static binaries (no cgo, so no C compiler),
# everything offline (GOPROXY=off; go uses vendor/ by itself since go.mod says
# go 1.15; GOFLAGS must stay empty because hack/lib/golang.sh parses build tags
# out of it), HOME and the Go build cache (hack/ puts it in _output/) inside WORK
# so nothing leaks into the machine.
log "building kube-apiserver and kubectl with $(go version | cut -d' ' -f3) (several minutes; log: ${WORK}/build.log)"
start=${SECONDS}
if ! (
  cd "${SRC}" &&
    env -u GOFLAGS HOME="${WORK}/home" GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=0 \
      make WHAT="cmd/kube-apiserver cmd/kubectl"
) >"${WORK}/build.log" 2>&1; then
  log "build failed; last lines of the log:" >&2
  tail -n 60 "${WORK}/build.log" >&2
  exit 1
fi
log "built in $((SECONDS - start)) s"

# --- Install into the cache ----------------------------------------------------------
# Stage next to the destination, then rename: a half-copied directory never looks
# like a valid cache entry.
rm -rf "${DEST}" "${STAGE}"
mkdir -p "${STAGE}"
for b in "${BINARIES[@]}"; do
  install -m 0755 "${SRC}/_output/bin/${b}" "${STAGE}/${b}"
done
printf 'Debian source package kubernetes=%s, patch level %s: reflect2 replaced by %s; zero-value validation fixed\n' \
  "${KUBE_DEB_VERSION}" "${KUBE_PATCH_LEVEL}" "$(dpkg-query -W -f='${Version}' golang-github-modern-go-reflect2-dev)" >"${STAGE}/BUILD-INFO"
mv "${STAGE}" "${DEST}"
log "installed: ${DEST} ($("${DEST}/kube-apiserver" --version))"
