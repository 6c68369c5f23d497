#!/usr/bin/env bash
# Build the real Kubernetes control plane for the end-to-end tests:
# etcd, kube-apiserver, kube-controller-manager and kubectl, from the Go
# module in tests/e2e/k8s (one `go build`, CGO_ENABLED=0, version ldflags).
#
# Binaries go to a cache outside the repository, keyed by version:
#   ${CKEDA_CACHE_DIR:-$HOME/.cache/ckeda}/k8s/<version>/bin/
# A stamp file records what they were built from; when it matches, nothing is
# rebuilt and the script returns in seconds. The last stdout line is always
# the bin directory.
#
# Environment:
#   CKEDA_CACHE_DIR        cache root (default $HOME/.cache/ckeda)
#   CKEDA_GO               Go command (default: go on PATH, else /usr/local/go/bin/go)
#   CKEDA_GO_BUILD_JOBS    go build -p (default 2)
#   CKEDA_K8S_REBUILD=1    rebuild even if the stamp matches
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MODDIR="$HERE/k8s"
PROGRAMS=(etcd kube-apiserver kube-controller-manager kubectl)
PACKAGES=(
  ./cmd/etcd
  k8s.io/kubernetes/cmd/kube-apiserver
  k8s.io/kubernetes/cmd/kube-controller-manager
  k8s.io/kubernetes/cmd/kubectl
)

log() { printf 'build-k8s: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

find_go() {
  if [[ -n "${CKEDA_GO:-}" ]]; then
    GO="$CKEDA_GO"
  elif command -v go >/dev/null 2>&1; then
    GO="$(command -v go)"
  elif [[ -x /usr/local/go/bin/go ]]; then
    GO=/usr/local/go/bin/go
  else
    die "no Go toolchain found (install Go >= 1.24 or set CKEDA_GO)"
  fi
}

# The k8s.io/kubernetes version the module requires, e.g. v1.34.4.
k8s_version() {
  (cd "$MODDIR" && "$GO" list -m -f '{{.Version}}' k8s.io/kubernetes)
}

# Version ldflags, as kubernetes' hack/lib/version.sh sets them; without them
# `kubectl version` and /version report v0.0.0-master.
ldflags() {
  local version="$1" minor flags pkg
  minor="$(cut -d. -f2 <<<"${version#v}")"
  flags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  printf '%s' "$flags"
}

# What the binaries depend on: module files, our own sources, flags, toolchain.
stamp_of() {
  local flags="$1"
  {
    (cd "$MODDIR" && find go.mod go.sum cmd -type f -print0 | sort -z | xargs -0 sha256sum)
    printf 'ldflags %s\n' "$flags"
    printf 'cgo 0\n'
    "$GO" version
  } | sha256sum | cut -d' ' -f1
}

binaries_present() {
  local bin="$1" p
  for p in "${PROGRAMS[@]}"; do
    [[ -x "$bin/$p" ]] || return 1
  done
}

build() {
  local out="$1" flags="$2" tmp start
  tmp="$out.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  start=$SECONDS
  log "building ${PROGRAMS[*]} into $out (about 6 minutes cold on 2 cores)"
  (
    cd "$MODDIR"
    CGO_ENABLED=0 "$GO" build -p "${CKEDA_GO_BUILD_JOBS:-2}" -trimpath \
      -ldflags "$flags" -o "$tmp/" "${PACKAGES[@]}"
  ) || { rm -rf "$tmp"; die "go build failed"; }
  rm -rf "$out"
  mv "$tmp" "$out"
  log "built in $((SECONDS - start))s"
}

main() {
  find_go
  export GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:-} -modcacherw"

  local version root bin flags stamp
  version="$(k8s_version)"
  root="${CKEDA_CACHE_DIR:-$HOME/.cache/ckeda}/k8s/$version"
  bin="$root/bin"
  flags="$(ldflags "$version")"
  stamp="$(stamp_of "$flags")"
  mkdir -p "$root"

  # One build at a time per version; a second caller waits, then finds it warm.
  exec 9>"$root/.lock"
  flock 9

  if [[ "${CKEDA_K8S_REBUILD:-0}" != 1 ]] && binaries_present "$bin" &&
     [[ "$(cat "$root/stamp" 2>/dev/null)" == "$stamp" ]]; then
    log "up to date: $version"
  else
    rm -f "$root/stamp"
    build "$bin" "$flags"
    printf '%s\n' "$stamp" >"$root/stamp"
    "$bin/kube-apiserver" --version >&2
    "$bin/etcd" --version >&2
    du -sh "$bin"/* >&2
  fi
  printf '%s\n' "$bin"
}

main "$@"
