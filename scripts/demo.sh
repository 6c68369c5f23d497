#!/usr/bin/env bash
# make demo: the walking skeleton, for a person. Starts (or reuses) the local control plane,
# starts a Redis, creates a namespace with a Deployment at 0 replicas and a ScaledObject on the
# Redis list "jobs" (deploy/examples/redis-scaledobject.yaml), runs ckeda with the adapter
# certificate so the real HPA controller reads its metrics, then pushes and drains items while
# showing the replica count: 0 -> 1 (ckeda's scale loop) -> 4 (the HPA) -> 0 (after the
# cooldown). At the end it prints the timeline and stops everything it started (the control
# plane stays up, as tests/e2e/cluster.sh leaves it).
#
#   scripts/demo.sh            the demo, then clean up
#   scripts/demo.sh --keep     leave Redis, ckeda and the namespace running to play with, and
#                              print how to use and stop them (make demo DEMO_FLAGS=--keep)
#
# Env: CKEDA_BIN (build directory, default build), CKEDA_ADAPTER_PORT (from cluster.env).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${CKEDA_BIN:-$ROOT/build}
KEEP=0
for arg in "$@"; do
    case $arg in
    --keep) KEEP=1 ;;
    -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo: unknown argument $arg (try --keep)" >&2; exit 2 ;;
    esac
done

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { echo "demo: $*" >&2; exit 1; }
T0=$(date +%s.%N)
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%6.1f", b - a }'; }

# ---- the control plane ----
say "control plane (tests/e2e/cluster.sh up; the first time builds Kubernetes, several minutes)"
KUBECONFIG=$("$ROOT/tests/e2e/cluster.sh" up | tail -1)
export KUBECONFIG
STATE=$(dirname "$KUBECONFIG")
# shellcheck disable=SC1091
. "$STATE/cluster.env"
export PATH="$BIN_DIR:$PATH"
PORT=${CKEDA_ADAPTER_PORT:-$ADAPTER_PORT}
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    die "port $PORT (the metrics APIService's adapter port) is in use: another ckeda is serving \
the cluster; stop it first"
fi

WORK=$(mktemp -d -t ckeda-demo.XXXXXX)
NS=ckeda-demo-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
SHM=ckeda-demo-$$
REDIS_PID= CKEDA_PID=

cleanup() {
    local rc=$?
    [[ $KEEP == 1 && $rc == 0 ]] && return 0
    [[ -n $CKEDA_PID ]] && kill -TERM "$CKEDA_PID" 2>/dev/null && wait "$CKEDA_PID" 2>/dev/null
    [[ -n $REDIS_PID ]] && kill -TERM "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null
    kubectl delete namespace "$NS" --wait=false --ignore-not-found >/dev/null 2>&1 || true
    if [[ $rc != 0 ]]; then
        echo "demo: failed; the end of ckeda's log:" >&2
        tail -n 30 "$WORK/ckeda.log" >&2 2>/dev/null || true
    fi
    rm -rf "$WORK"
    return "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- Redis ----
say "Redis (tests/integration/sources.py redis)"
python3 "$ROOT/tests/integration/sources.py" redis >"$WORK/redis.json" 2>"$WORK/redis.err" &
REDIS_PID=$!
for _ in $(seq 300); do [[ -s $WORK/redis.json ]] && break; sleep 0.1; done
[[ -s $WORK/redis.json ]] || die "Redis did not start: $(cat "$WORK/redis.err")"
REDIS_PORT=$(python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["port"])' \
    <"$WORK/redis.json")
REDIS="redis-cli -h 127.0.0.1 -p $REDIS_PORT"
echo "redis-server on 127.0.0.1:$REDIS_PORT"

# ---- the objects ----
say "namespace $NS: Deployment worker (0 replicas) and ScaledObject worker"
kubectl create namespace "$NS" >/dev/null
sed "s/REDIS_ADDRESS/127.0.0.1:$REDIS_PORT/" "$ROOT/deploy/examples/redis-scaledobject.yaml" |
    kubectl apply -n "$NS" -f -

# ---- ckeda ----
say "ckeda run (metrics API on 127.0.0.1:$PORT, table $SHM)"
"$BIN/ckeda" run --kubeconfig "$KUBECONFIG" --shm-name "$SHM" --watch-namespace "$NS" --pod-namespace "$NS" \
    --secure-port "$PORT" --webhook-port 0 --metrics-port 0 --health-port 0 \
    --cert-dir "$STATE/adapter-certs" >"$WORK/ckeda.log" 2>&1 &
CKEDA_PID=$!
CTL=("$BIN/ckedactl" --shm-name "$SHM")

# wait_for SECONDS WHAT COMMAND...: polls COMMAND every 0.5 s
wait_for() {
    local secs=$1 what=$2 deadline
    shift 2
    deadline=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        kill -0 "$CKEDA_PID" 2>/dev/null || die "ckeda exited"
        ((SECONDS < deadline)) || die "timed out after ${secs}s waiting for $what"
        sleep 0.5
    done
}
so_ready() { kubectl get so worker -n "$NS" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' | grep -qx True; }
wait_for 60 "the ScaledObject to be Ready" so_ready
wait_for 60 "the HPA" kubectl get hpa keda-hpa-worker -n "$NS"
wait_for 120 "the metrics APIService" kubectl wait --for=condition=Available --timeout=2s \
    apiservice/v1beta1.external.metrics.k8s.io
kubectl get so,hpa -n "$NS"

# ---- watching ----
replicas() { kubectl get deploy worker -n "$NS" -o jsonpath='{.spec.replicas}'; }
LAST=""
SUMMARY=()
# watch_until SECONDS [WANT]: one line a second (list length, trigger state, replicas, HPA) until
# the Deployment has WANT replicas (fails after SECONDS), or for SECONDS without WANT; every
# change of the replica count goes into the summary.
watch_until() {
    local want=${2:-} deadline=$((SECONDS + $1)) n len state
    while :; do
        n=$(replicas)
        len=$($REDIS llen jobs)
        state=$("${CTL[@]}" -o json get "$NS/worker" 2>/dev/null |
            python3 -c 'import json,sys; t=json.load(sys.stdin)["triggers"][0]; print(t["state"], t["value"])' 2>/dev/null || echo "-")
        printf '  +%ss  list %-3s trigger %-14s replicas %s   %s\n' "$(elapsed)" "$len" "$state" "$n" \
            "$(kubectl get hpa keda-hpa-worker -n "$NS" --no-headers 2>/dev/null | awk '{print "hpa", $3, "->", $6}')"
        if [[ $n != "$LAST" ]]; then
            SUMMARY+=("$(date -u +%H:%M:%S) +$(elapsed)s  replicas ${LAST:-start} -> $n")
            LAST=$n
        fi
        [[ -n $want && $n == "$want" ]] && return 0
        if ((SECONDS >= deadline)); then
            [[ -z $want ]] && return 0
            die "timed out waiting for $want replicas"
        fi
        sleep 1
    done
}
show() {
    echo
    kubectl get deploy,hpa -n "$NS"
    "${CTL[@]}" top -n 1 2>/dev/null | sed 's/^/  /' || true
}

say "2 items: not above activationListLength 2, so the Deployment stays at 0"
$REDIS rpush jobs a b >/dev/null
watch_until 4
[[ $(replicas) == 0 ]] || die "scaled below the activation value"

say "3 items: active, ckeda's scale loop scales 0 -> 1"
$REDIS rpush jobs c >/dev/null
watch_until 60 1
show

say "20 items: the HPA scales on the metric ckeda serves (20 / listLength 5 = 4)"
$REDIS rpush jobs $(seq 4 20) >/dev/null
watch_until 120 4
show

say "drain the list: the HPA goes to its minimum, ckeda to 0 after cooldownPeriod 5 s"
$REDIS del jobs >/dev/null
watch_until 120 0
show

say "summary"
printf '  %s\n' "${SUMMARY[@]}"

if [[ $KEEP == 1 ]]; then
    cat <<EOF

Everything is still running. Try:
  export KUBECONFIG=$KUBECONFIG PATH=$BIN_DIR:\$PATH
  $REDIS rpush jobs \$(seq 1 12)             # add work
  $REDIS del jobs                            # drain it
  kubectl get deploy,hpa,so -n $NS -w
  ${CTL[*]} top                              # live values, workers
Stop it:
  kill $CKEDA_PID $REDIS_PID; kubectl delete namespace $NS --wait=false
(ckeda's log: $WORK/ckeda.log)
EOF
fi
