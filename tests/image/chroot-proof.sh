#!/usr/bin/env bash
# Proves the runtime stage of deploy/image/Dockerfile without a container runtime: a minimal
# Debian bookworm (debootstrap --variant=minbase, what bookworm-slim is made from) plus exactly
# the packages of deploy/image/runtime.apt, installed the way the Dockerfile installs them, with
# ckeda and ckedactl copied in. Inside that root, as the image's user 65532, it runs:
#   ldd (no library missing), ckeda --version, ckedactl --help, ckeda validate on the example,
#   and a short `ckeda run` (ports 0, a kubeconfig whose API server does not answer) whose
#   process tree `ckedactl workers` shows, stopped with SIGTERM (exit 0 expected).
#
#   tests/image/chroot-proof.sh [BUILD_DIR]      (default: build)
#
# Needs root (chroot, mounts in a private mount namespace), debootstrap and the Debian mirror:
# the first run downloads the base (about 2 minutes), later runs reuse it from
# ${CKEDA_CACHE_DIR:-$HOME/.cache/ckeda}/image-proof/. Not part of `make test` (network, root).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
BUILD="$(cd "${1:-$REPO/build}" && pwd)"
CACHE="${CKEDA_CACHE_DIR:-$HOME/.cache/ckeda}/image-proof"
MIRROR="${CKEDA_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
BASE="$CACHE/bookworm-minbase"
ROOT="$CACHE/root"

log() { printf 'image-proof: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $(id -u) == 0 ]] || die "needs root (chroot and mounts)"
command -v debootstrap >/dev/null || die "debootstrap is missing (apt-get install debootstrap)"
for b in ckeda ckedactl; do [[ -x "$BUILD/$b" ]] || die "$BUILD/$b is not built"; done
mapfile -t PKGS < <(grep -v '^\s*#' "$REPO/deploy/image/runtime.apt" | grep -v '^\s*$')

if [[ ! -f "$BASE/.complete" ]]; then
  log "debootstrap --variant=minbase bookworm into $BASE"
  rm -rf "$BASE"
  mkdir -p "$CACHE"
  debootstrap --variant=minbase bookworm "$BASE" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 ||
    { tail -n 20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed"; }
  touch "$BASE/.complete"
fi

log "fresh root from the base"
rm -rf "$ROOT"
cp -a "$BASE" "$ROOT"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
dpkg-query --admindir="$ROOT/var/lib/dpkg" -W -f '${Package}\n' | sort >"$CACHE/base.pkgs"

# chroot_run [--user] CMD...: in a private mount namespace with /proc and a /dev/shm of its own
chroot_run() {
  local spec=()
  if [[ "$1" == --user ]]; then spec=(--userspec=65532:65532); shift; fi
  unshare -m --propagation private sh -c '
    root="$1"; shift
    mount -t proc proc "$root/proc" && mount -t tmpfs -o size=64m tmpfs "$root/dev/shm" &&
      exec chroot "$@"' sh "$ROOT" "${spec[@]}" "$ROOT" "$@"
}

log "installing exactly: ${PKGS[*]}"
chroot_run sh -c 'apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -q --no-install-recommends "$@" >/dev/null && rm -rf /var/lib/apt/lists/*' \
  sh "${PKGS[@]}"
dpkg-query --admindir="$ROOT/var/lib/dpkg" -W -f '${Package}\n' | sort >"$CACHE/root.pkgs"
log "packages added to the base (the runtime packages and their dependencies):"
comm -13 "$CACHE/base.pkgs" "$CACHE/root.pkgs" | sed 's/^/  /' >&2

install -m 755 "$BUILD/ckeda" "$BUILD/ckedactl" "$ROOT/usr/bin/"
install -m 644 "$REPO/deploy/examples/redis-scaledobject.yaml" "$ROOT/tmp/so.yaml"
cat >"$ROOT/tmp/kubeconfig" <<'KC'
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: not-a-secret}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
KC
chmod 644 "$ROOT/tmp/kubeconfig"

for b in ckeda ckedactl; do
  out="$(chroot_run ldd "/usr/bin/$b")"
  ! grep -q 'not found' <<<"$out" || { echo "$out" >&2; die "$b: a shared library is missing"; }
done
log "ldd: every library of ckeda and ckedactl is present"

chroot_run --user /usr/bin/ckeda --version
# ckedactl --help prints its usage and exits 2, as for any usage request
out="$(chroot_run --user /usr/bin/ckedactl --help 2>&1)" || true
grep -q '^usage: ckedactl' <<<"$out" || { echo "$out" >&2; die "ckedactl --help printed no usage"; }
log "ckedactl --help: $(head -n 1 <<<"$out")"
chroot_run --user /usr/bin/ckeda validate /tmp/so.yaml

# ckeda run, inspected from inside the same root while it runs
chroot_run --user sh -c '
  /usr/bin/ckeda run --kubeconfig /tmp/kubeconfig --secure-port 0 --webhook-port 0 \
    --metrics-port 0 --health-port 0 --leader-elect=false >/tmp/run.log 2>&1 &
  pid=$!
  i=0
  until /usr/bin/ckedactl -o json workers 2>/dev/null | grep -q "\"role\":[[:space:]]*\"adapter\""; do
    i=$((i + 1)); [ $i -lt 100 ] || { tail -n 20 /tmp/run.log; /usr/bin/ckedactl -o json workers; exit 1; }
    kill -0 $pid 2>/dev/null || { cat /tmp/run.log; exit 1; }
    sleep 0.1
  done
  /usr/bin/ckedactl workers
  kill -TERM $pid
  wait $pid
  rc=$?
  echo "ckeda run exited $rc after SIGTERM"
  [ $rc -eq 0 ]'
log "ok: the runtime packages suffice"
