#!/usr/bin/env bash
# The local Kubernetes control plane for ckeda's end-to-end tests and demo:
# a real etcd, kube-apiserver and kube-controller-manager (built by
# build-k8s.sh), on 127.0.0.1 only, with no nodes.
#
#   tests/e2e/cluster.sh up      start (or reuse) the cluster; the last stdout
#                                line is the admin kubeconfig path
#   tests/e2e/cluster.sh down    stop everything and discard the cluster's data
#   tests/e2e/cluster.sh status  exit 0 if running and healthy, 1 if stopped,
#                                2 if only partly running or unhealthy
#
# State lives in $CKEDA_E2E_DIR (default $HOME/.cache/ckeda/e2e):
#   kubeconfig      admin (system:masters) kubeconfig, certificates embedded
#   cluster.env     chosen ports and the binaries' directory (KEY=value)
#   adapter-certs/  tls.crt, tls.key, ca.crt for ckeda's metrics API and
#                   webhooks (SANs: the keda Service names, 127.0.0.1, localhost)
#   pki/ logs/ run/ etcd/
# Progress goes to stderr.
#
# Environment:
#   CKEDA_ADAPTER_PORT (7443)   where the external metrics APIService points
#   CKEDA_WEBHOOK_PORT (9443)   where the keda-admission webhooks point
#   CKEDA_E2E_ETCD_PORT, CKEDA_E2E_ETCD_PEER_PORT, CKEDA_E2E_APISERVER_PORT,
#   CKEDA_E2E_KCM_PORT          fixed ports; `up` refuses to start if one is
#                               in use. Unset, free ports are chosen and kept.
#   CKEDA_E2E_TIMEOUT (240)     seconds allowed for each readiness wait
#   CKEDA_E2E_HPA_SYNC_PERIOD (1s), CKEDA_E2E_HPA_DOWNSCALE_STABILIZATION (0s)
#                               HPA controller settings (upstream: 15s, 5m)
#   CKEDA_E2E_LOG_LEVEL (2)     --v of kube-apiserver and kube-controller-manager
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"

E2E_DIR="${CKEDA_E2E_DIR:-${CKEDA_CACHE_DIR:-$HOME/.cache/ckeda}/e2e}"
ADAPTER_PORT="${CKEDA_ADAPTER_PORT:-7443}"
WEBHOOK_PORT="${CKEDA_WEBHOOK_PORT:-9443}"
TIMEOUT="${CKEDA_E2E_TIMEOUT:-240}"
HPA_SYNC_PERIOD="${CKEDA_E2E_HPA_SYNC_PERIOD:-1s}"
HPA_DOWNSCALE="${CKEDA_E2E_HPA_DOWNSCALE_STABILIZATION:-0s}"
LOG_LEVEL="${CKEDA_E2E_LOG_LEVEL:-2}"

PKI="$E2E_DIR/pki"
RUN="$E2E_DIR/run"
LOGS="$E2E_DIR/logs"
KUBECONFIG_FILE="$E2E_DIR/kubeconfig"
ENV_FILE="$E2E_DIR/cluster.env"
COMPONENTS=(etcd kube-apiserver kube-controller-manager)
KCM_CONTROLLERS=(
  horizontal-pod-autoscaler-controller deployment-controller replicaset-controller
  statefulset-controller job-controller garbage-collector-controller namespace-controller
  serviceaccount-controller serviceaccount-token-controller
  root-ca-certificate-publisher-controller
)
# Preferred ports when none are fixed or recorded; outside the ephemeral range.
DEFAULT_PORTS=(ETCD_PORT=23790 ETCD_PEER_PORT=23800 APISERVER_PORT=16443 KCM_PORT=20257)

BIN=""
STARTED=()

log() { printf 'cluster: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- helpers

# wait_until SECONDS WHAT COMMAND...: poll COMMAND until it succeeds.
wait_until() {
  local limit="$1" what="$2" deadline=$((SECONDS + $1))
  shift 2
  until "$@"; do
    ((SECONDS < deadline)) || { log "timed out after ${limit}s waiting for $what"; return 1; }
    sleep 0.25
  done
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

kc() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE" --cache-dir "$E2E_DIR/kube-cache" "$@"; }

prepare_dir() {
  mkdir -p "$E2E_DIR"
  [[ -O "$E2E_DIR" ]] || die "$E2E_DIR is not owned by $(id -un)"
  chmod 700 "$E2E_DIR"
  mkdir -p "$PKI" "$RUN" "$LOGS"
}

take_lock() {
  exec 9>"$E2E_DIR/.lock"
  flock 9
}

find_binaries() {
  BIN="$("$HERE/build-k8s.sh" | tail -n 1)"
  [[ -x "$BIN/kube-apiserver" ]] || die "build-k8s.sh gave no binaries"
}

# The ports recorded by the last start (the other keys are informational).
load_env() {
  local key value
  ETCD_PORT="" ETCD_PEER_PORT="" APISERVER_PORT="" KCM_PORT=""
  [[ -f "$ENV_FILE" ]] || return 0
  while IFS='=' read -r key value; do
    case "$key" in
      ETCD_PORT | ETCD_PEER_PORT | APISERVER_PORT | KCM_PORT) printf -v "$key" '%s' "$value" ;;
    esac
  done <"$ENV_FILE"
}

write_env() {
  cat >"$ENV_FILE.tmp" <<EOF
ETCD_PORT=$ETCD_PORT
ETCD_PEER_PORT=$ETCD_PEER_PORT
APISERVER_PORT=$APISERVER_PORT
KCM_PORT=$KCM_PORT
ADAPTER_PORT=$ADAPTER_PORT
WEBHOOK_PORT=$WEBHOOK_PORT
BIN_DIR=$BIN
KUBECONFIG=$KUBECONFIG_FILE
EOF
  mv "$ENV_FILE.tmp" "$ENV_FILE"
}

# ---------------------------------------------------------------- ports

# choose_port VAR: a fixed port from CKEDA_E2E_<VAR> (refused if in use), else
# the recorded one, the preferred default or the next free one above it.
choose_port() {
  local var="$1" fixed_var="CKEDA_E2E_${1}" recorded="${!1:-}" preferred="" p taken
  taken=" $ADAPTER_PORT $WEBHOOK_PORT ${CHOSEN:-} "
  for p in "${DEFAULT_PORTS[@]}"; do [[ "${p%%=*}" == "$var" ]] && preferred="${p#*=}"; done
  if [[ -n "${!fixed_var:-}" ]]; then
    p="${!fixed_var}"
    [[ "$taken" != *" $p "* ]] || die "$fixed_var=$p clashes with another port"
    ! port_busy "$p" || die "port $p ($fixed_var) is already in use; not starting"
  else
    for p in $recorded $(seq "$preferred" $((preferred + 200))) none; do
      [[ "$p" != none ]] || die "no free port found near $preferred for $var"
      [[ "$taken" == *" $p "* ]] || port_busy "$p" || break
    done
  fi
  printf -v "$var" '%s' "$p"
  CHOSEN="${CHOSEN:-} $p"
}

choose_ports() {
  CHOSEN=""
  [[ "$ADAPTER_PORT" != "$WEBHOOK_PORT" ]] || die "CKEDA_ADAPTER_PORT and CKEDA_WEBHOOK_PORT are both $ADAPTER_PORT"
  choose_port ETCD_PORT
  choose_port ETCD_PEER_PORT
  choose_port APISERVER_PORT
  choose_port KCM_PORT
}

# ---------------------------------------------------------------- PKI

pki_config() {
  cat >"$PKI/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
}

pki_key() {
  (umask 077 && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null)
}

# pki_ca NAME CN
pki_ca() {
  pki_key "$PKI/$1.key"
  openssl req -x509 -new -config "$PKI/openssl.cnf" -extensions ca -key "$PKI/$1.key" \
    -sha256 -days 3650 -subj "/CN=$2" -out "$PKI/$1.crt"
}

# pki_leaf NAME SUBJECT CA EXTENDED-KEY-USAGE [SUBJECT-ALT-NAMES]
pki_leaf() {
  local name="$1" subject="$2" ca="$3" eku="$4" sans="${5:-}"
  pki_key "$PKI/$name.key"
  {
    echo "basicConstraints = critical, CA:FALSE"
    echo "keyUsage = critical, digitalSignature, keyEncipherment"
    echo "extendedKeyUsage = $eku"
    echo "subjectKeyIdentifier = hash"
    echo "authorityKeyIdentifier = keyid"
    [[ -z "$sans" ]] || echo "subjectAltName = $sans"
  } >"$PKI/$name.ext"
  openssl req -new -config "$PKI/openssl.cnf" -key "$PKI/$name.key" -subj "$subject" \
    -out "$PKI/$name.csr"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/$ca.crt" -CAkey "$PKI/$ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -sha256 -days 3650 -extfile "$PKI/$name.ext" \
    -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr"
}

# Created once; kept by `down` so kubeconfigs and adapter certificates stay valid.
ensure_pki() {
  [[ -f "$PKI/.complete" ]] && return 0
  log "creating PKI in $PKI"
  pki_config
  pki_ca ca kubernetes-ca
  pki_ca front-proxy-ca front-proxy-ca
  pki_ca adapter-ca ckeda-test-adapter-ca
  pki_leaf apiserver /CN=kube-apiserver ca serverAuth \
    "IP:127.0.0.1, IP:10.0.0.1, DNS:localhost, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local"
  pki_leaf kcm-serving /CN=kube-controller-manager ca serverAuth "IP:127.0.0.1, DNS:localhost"
  pki_leaf admin "/O=system:masters/CN=kubernetes-admin" ca clientAuth
  pki_leaf kcm-client /CN=system:kube-controller-manager ca clientAuth
  pki_leaf front-proxy-client /CN=front-proxy-client front-proxy-ca clientAuth
  pki_leaf adapter /CN=keda-operator-metrics-apiserver adapter-ca serverAuth \
    "DNS:keda-operator-metrics-apiserver.keda.svc, DNS:keda-operator-metrics-apiserver.keda.svc.cluster.local, DNS:keda-admission-webhooks.keda.svc, DNS:keda-admission-webhooks.keda.svc.cluster.local, IP:127.0.0.1, DNS:localhost"
  pki_key "$PKI/sa.key"
  openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub"
  touch "$PKI/.complete"
}

ensure_adapter_certs() {
  local dir="$E2E_DIR/adapter-certs"
  mkdir -p "$dir"
  install -m 644 "$PKI/adapter.crt" "$dir/tls.crt"
  install -m 600 "$PKI/adapter.key" "$dir/tls.key"
  install -m 644 "$PKI/adapter-ca.crt" "$dir/ca.crt"
}

# write_kubeconfig FILE CLIENT-CERT-NAME
write_kubeconfig() {
  local file="$1" user="$2"
  (umask 077 && cat >"$file.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: ckeda-e2e
    cluster:
      server: https://127.0.0.1:$APISERVER_PORT
      certificate-authority-data: $(base64 -w0 <"$PKI/ca.crt")
users:
  - name: $user
    user:
      client-certificate-data: $(base64 -w0 <"$PKI/$user.crt")
      client-key-data: $(base64 -w0 <"$PKI/$user.key")
contexts:
  - name: ckeda-e2e
    context:
      cluster: ckeda-e2e
      user: $user
current-context: ckeda-e2e
EOF
  )
  mv "$file.tmp" "$file"
}

# ---------------------------------------------------------------- processes

# pid_of NAME: the pid recorded for NAME if that process is still our NAME.
pid_of() {
  local pid
  pid="$(cat "$RUN/$1.pid" 2>/dev/null)" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  ours "$pid" "$1" || return 1
  printf '%s\n' "$pid"
}

# ours PID [NAME]: PID runs one of our components (NAME, if given) for $E2E_DIR.
ours() {
  local argv0=""
  IFS= read -r -d '' argv0 2>/dev/null <"/proc/$1/cmdline" || [[ -n "$argv0" ]] || return 1
  argv0="${argv0##*/}"
  case "$argv0" in etcd | kube-apiserver | kube-controller-manager) ;; *) return 1 ;; esac
  [[ -z "${2:-}" || "$argv0" == "$2" ]] || return 1
  grep -qzF -- "$E2E_DIR/" "/proc/$1/cmdline" 2>/dev/null
}

alive() { pid_of "$1" >/dev/null; }

# spawn NAME ARGS...: start $BIN/NAME in its own session (immune to the
# terminal's ^C), log to logs/NAME.log, record its pid.
spawn() {
  local name="$1" log_file="$LOGS/$1.log" pid
  shift
  [[ -f "$log_file" ]] && mv "$log_file" "$log_file.1"
  setsid "$BIN/$name" "$@" >"$log_file" 2>&1 </dev/null 9>&- &
  pid=$!
  printf '%s\n' "$pid" >"$RUN/$name.pid"
  STARTED+=("$name")
  # Until setsid has exec'd the binary, /proc/$pid shows this shell.
  wait_until 30 "$name to start" eval "ours $pid $name || ! kill -0 $pid 2>/dev/null"
  log "started $name (pid $pid), log $log_file"
}

# stop NAME: SIGTERM, then SIGKILL after 30s; returns once it is gone.
stop() {
  local name="$1" pid deadline
  pid="$(pid_of "$name")" || { rm -f "$RUN/$name.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name (pid $pid) ignored SIGTERM; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    wait_until 10 "$name to exit" eval "! kill -0 $pid 2>/dev/null"
  fi
  rm -f "$RUN/$name.pid"
  log "stopped $name (pid $pid)"
}

stop_all() {
  local i
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do stop "${COMPONENTS[i]}"; done
}

# Processes started by this `up` are stopped again if it fails.
rollback() {
  local i
  ((${#STARTED[@]})) || return 0
  log "start-up failed; stopping what was started (logs are in $LOGS)"
  for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do stop "${STARTED[i]}" || true; done
}

# running NAME: alive, or die showing the end of its log.
running() {
  alive "$1" && return 0
  log "$1 exited; last lines of $LOGS/$1.log:"
  tail -n 25 "$LOGS/$1.log" >&2 || true
  die "$1 did not start"
}

# ---------------------------------------------------------------- health

etcd_healthy() {
  curl -fsS --max-time 3 "http://127.0.0.1:$ETCD_PORT/health" 2>/dev/null | grep -q '"health":"true"'
}

apiserver_healthy() {
  [[ "$(curl -fsS --max-time 5 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" \
    --key "$PKI/admin.key" "https://127.0.0.1:$APISERVER_PORT/readyz" 2>/dev/null)" == ok ]]
}

kcm_healthy() {
  [[ "$(curl -fsS --max-time 5 --cacert "$PKI/ca.crt" \
    "https://127.0.0.1:$KCM_PORT/healthz" 2>/dev/null)" == ok ]]
}

# The controllers that tests rely on have started and created their service accounts.
kcm_controllers_ready() {
  kc -n kube-system get serviceaccount horizontal-pod-autoscaler >/dev/null 2>&1 &&
    kc -n default get serviceaccount default >/dev/null 2>&1
}

cluster_healthy() {
  alive etcd && alive kube-apiserver && alive kube-controller-manager &&
    etcd_healthy && apiserver_healthy && kcm_healthy
}

# ---------------------------------------------------------------- components

start_etcd() {
  spawn etcd --name=ckeda-e2e --data-dir="$E2E_DIR/etcd" \
    --listen-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster="ckeda-e2e=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync=true --log-level=warn
  wait_until "$TIMEOUT" etcd eval 'running etcd && etcd_healthy'
}

# ConfigMaps are watched straight from etcd (no watch cache), so that a test can make a watch's
# resourceVersion expire on demand by compacting etcd: a watch cache younger than its window
# would replay from its own snapshot instead of answering 410 Gone.
start_apiserver() {
  spawn kube-apiserver \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 \
    --secure-port="$APISERVER_PORT" --cert-dir="$RUN/apiserver-certs" \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" \
    --authorization-mode=RBAC \
    --endpoint-reconciler-type=none \
    --service-cluster-ip-range=10.0.0.0/24 \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$PKI/sa.pub" \
    --service-account-signing-key-file="$PKI/sa.key" \
    --requestheader-client-ca-file="$PKI/front-proxy-ca.crt" \
    --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User \
    --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="$PKI/front-proxy-client.crt" \
    --proxy-client-key-file="$PKI/front-proxy-client.key" \
    --enable-aggregator-routing=false \
    --watch-cache-sizes=configmaps#0 \
    --v="$LOG_LEVEL"
  wait_until "$TIMEOUT" kube-apiserver eval 'running kube-apiserver && apiserver_healthy'
}

kcm_args() {
  local controllers
  controllers="$(
    IFS=,
    echo "${KCM_CONTROLLERS[*]}"
  )"
  printf '%s\n' \
    --kubeconfig="$E2E_DIR/kcm.kubeconfig" \
    --authentication-kubeconfig="$E2E_DIR/kcm.kubeconfig" \
    --authorization-kubeconfig="$E2E_DIR/kcm.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$KCM_PORT" \
    --tls-cert-file="$PKI/kcm-serving.crt" --tls-private-key-file="$PKI/kcm-serving.key" \
    --leader-elect=false \
    --use-service-account-credentials=true \
    --service-account-private-key-file="$PKI/sa.key" \
    --root-ca-file="$PKI/ca.crt" \
    --controllers="$controllers" \
    --horizontal-pod-autoscaler-sync-period="$HPA_SYNC_PERIOD" \
    --horizontal-pod-autoscaler-downscale-stabilization="$HPA_DOWNSCALE" \
    --v="$LOG_LEVEL"
}

start_kcm() {
  local args=()
  mapfile -t args < <(kcm_args)
  kcm_args >"$RUN/kube-controller-manager.args"
  spawn kube-controller-manager "${args[@]}"
  wait_until "$TIMEOUT" kube-controller-manager \
    eval 'running kube-controller-manager && kcm_healthy'
  wait_until "$TIMEOUT" "the controllers' service accounts" kcm_controllers_ready
}

# ---------------------------------------------------------------- test bed

# Render deploy/test-bed/*.yaml (@ADAPTER_PORT@, @WEBHOOK_PORT@,
# @ADAPTER_CA_BUNDLE@) and apply them.
apply_test_bed() {
  local out="$RUN/test-bed" ca f
  ca="$(base64 -w0 <"$PKI/adapter-ca.crt")"
  rm -rf "$out"
  mkdir -p "$out"
  for f in "$REPO"/deploy/test-bed/*.yaml; do
    sed -e "s|@ADAPTER_PORT@|$ADAPTER_PORT|g" -e "s|@WEBHOOK_PORT@|$WEBHOOK_PORT|g" \
      -e "s|@ADAPTER_CA_BUNDLE@|$ca|g" "$f" >"$out/${f##*/}"
  done
  kc apply --server-side --force-conflicts --field-manager=ckeda-test-bed -f "$out" >&2
}

apply_crds() {
  local crds=()
  shopt -s nullglob
  crds=("$REPO"/deploy/crds/*.yaml)
  shopt -u nullglob
  if ((${#crds[@]} == 0)); then
    log "no CRDs in deploy/crds yet; skipping the keda.sh CRDs"
    return 0
  fi
  kc apply --server-side --force-conflicts --field-manager=ckeda-test-bed \
    -f "$REPO/deploy/crds" >&2
  kc wait --for=condition=Established --timeout="${TIMEOUT}s" -f "$REPO/deploy/crds" >&2
}

# A running cluster whose controller-manager settings changed restarts only it.
refresh_kcm() {
  if ! kcm_args | cmp -s - "$RUN/kube-controller-manager.args"; then
    log "kube-controller-manager settings changed; restarting it"
    stop kube-controller-manager
    start_kcm
  fi
}

# ---------------------------------------------------------------- commands

# A running cluster keeps its ports; asking for others needs a `down` first.
check_fixed_ports() {
  local var fixed
  for var in ETCD_PORT ETCD_PEER_PORT APISERVER_PORT KCM_PORT; do
    fixed="CKEDA_E2E_$var"
    [[ -z "${!fixed:-}" || "${!fixed}" == "${!var}" ]] ||
      die "the cluster in $E2E_DIR runs with $var=${!var}, not $fixed=${!fixed}; run '$0 down' first"
  done
}

start_cluster() {
  local c
  for c in "${COMPONENTS[@]}"; do
    ! alive "$c" || { log "cluster is unhealthy; restarting it"; break; }
  done
  stop_all
  choose_ports
  write_env
  write_kubeconfig "$KUBECONFIG_FILE" admin
  write_kubeconfig "$E2E_DIR/kcm.kubeconfig" kcm-client
  start_etcd
  start_apiserver
  start_kcm
}

cmd_up() {
  local start=$SECONDS
  prepare_dir
  take_lock
  find_binaries
  load_env
  ensure_pki
  ensure_adapter_certs
  trap rollback EXIT
  if [[ -n "$APISERVER_PORT" ]] && cluster_healthy; then
    log "reusing the running cluster"
    check_fixed_ports
    refresh_kcm
  else
    start_cluster
  fi
  # The control plane is up; a bad manifest below fails `up` but leaves it running.
  trap - EXIT
  write_env
  apply_test_bed
  apply_crds
  log "ready in $((SECONDS - start))s: kube-apiserver https://127.0.0.1:$APISERVER_PORT," \
    "metrics APIService -> 127.0.0.1:$ADAPTER_PORT, webhooks -> 127.0.0.1:$WEBHOOK_PORT"
  printf '%s\n' "$KUBECONFIG_FILE"
}

# Our processes that are still running, recorded or not (e.g. a lost pid file).
strays() {
  local f pid
  for f in /proc/[0-9]*/cmdline; do
    pid="${f#/proc/}"
    pid="${pid%/cmdline}"
    if ours "$pid"; then printf '%s ' "$pid"; fi
  done
  return 0
}

cmd_down() {
  local left
  [[ -d "$E2E_DIR" ]] || { log "not running (no $E2E_DIR)"; return 0; }
  take_lock
  stop_all
  left="$(strays)"
  [[ -z "$left" ]] || die "processes of this cluster are still running: pids $left"
  rm -rf "$E2E_DIR/etcd" "$RUN/test-bed" "$E2E_DIR/kube-cache"
  log "stopped; cluster data removed (PKI and logs kept in $E2E_DIR)"
}

cmd_status() {
  local c up=0 pid
  load_env
  for c in "${COMPONENTS[@]}"; do
    if pid="$(pid_of "$c")"; then
      up=$((up + 1))
      log "$c: running (pid $pid)"
    else
      log "$c: not running"
    fi
  done
  if ((up == 0)); then
    echo "not running"
    return 1
  fi
  if ((up == ${#COMPONENTS[@]})) && etcd_healthy && apiserver_healthy && kcm_healthy; then
    echo "running: kube-apiserver https://127.0.0.1:$APISERVER_PORT, kubeconfig $KUBECONFIG_FILE"
    return 0
  fi
  echo "unhealthy: $up of ${#COMPONENTS[@]} components running; see $LOGS"
  return 2
}

main() {
  case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    *)
      echo "usage: $0 up|down|status" >&2
      exit 64
      ;;
  esac
}

main "$@"
