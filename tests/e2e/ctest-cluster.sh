#!/usr/bin/env bash
# The e2e suite's ctest fixture: `up` brings the local control plane up and, only when it was
# not already running, notes that this run started it; `down` stops it only then. So a ctest
# run beside a cluster someone is using leaves that cluster alone.
#   tests/e2e/ctest-cluster.sh up|down
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir="${CKEDA_E2E_DIR:-${CKEDA_CACHE_DIR:-$HOME/.cache/ckeda}/e2e}"
mark="$dir/started-by-ctest"
case "${1:-}" in
up)
    if "$here/cluster.sh" status >/dev/null 2>&1; then
        echo "ctest-cluster: using the running cluster in $dir (left running afterwards)" >&2
    else
        mkdir -p "$dir"
        touch "$mark"
    fi
    exec "$here/with-cluster.sh" true
    ;;
down)
    if [ -e "$mark" ]; then
        rm -f "$mark"
        exec "$here/cluster.sh" down
    fi
    echo "ctest-cluster: not started by this run: left running" >&2
    ;;
*)
    echo "usage: $0 up|down" >&2
    exit 2
    ;;
esac
