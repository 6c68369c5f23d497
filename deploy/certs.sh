#!/usr/bin/env bash
# Issues ckeda's serving certificate for installs that turn the leader's cert rotation off
# (--enable-cert-rotation=false; by default the leader issues and renews it): a CA and a serving
# certificate for the keda-operator-metrics-apiserver and keda-admission-webhooks Services,
# stored in the Secret keda/ckeda-certs (tls.crt, tls.key, ca.crt: the files --cert-dir reads),
# and the CA written into the caBundle of the APIService and of the four webhooks.
# ckeda reloads a changed certificate by itself; rerun this before it expires (DAYS, 365).
#
#   deploy/certs.sh [--dry-run]        (kubectl's current context; --dry-run: server-side)
#
# With cert-manager, use deploy/cert-manager/ instead.
set -euo pipefail

NS="${CKEDA_NAMESPACE:-keda}"
DAYS="${DAYS:-365}"
DRY=()
[[ "${1:-}" != --dry-run ]] || DRY=(--dry-run=server)
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT

sans="DNS:keda-operator-metrics-apiserver.$NS.svc,DNS:keda-operator-metrics-apiserver.$NS.svc.cluster.local"
sans="$sans,DNS:keda-admission-webhooks.$NS.svc,DNS:keda-admission-webhooks.$NS.svc.cluster.local"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/ca.key" -out "$dir/ca.crt" \
  -days "$((DAYS + 30))" -subj "/CN=ckeda-ca" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$dir/tls.key" -out "$dir/tls.csr" \
  -subj "/CN=keda-operator-metrics-apiserver.$NS.svc" 2>/dev/null
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n' \
  "$sans" >"$dir/ext"
openssl x509 -req -in "$dir/tls.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
  -days "$DAYS" -sha256 -extfile "$dir/ext" -out "$dir/tls.crt" 2>/dev/null

kubectl -n "$NS" create secret generic ckeda-certs --from-file="$dir/tls.crt" \
  --from-file="$dir/tls.key" --from-file="$dir/ca.crt" --dry-run=client -o yaml |
  kubectl apply "${DRY[@]}" -f -
ca="$(base64 -w0 <"$dir/ca.crt")"
kubectl patch "${DRY[@]}" apiservice v1beta1.external.metrics.k8s.io --type=merge \
  -p "{\"spec\":{\"caBundle\":\"$ca\"}}"
patch="["
for i in 0 1 2 3; do
  patch="$patch{\"op\":\"add\",\"path\":\"/webhooks/$i/clientConfig/caBundle\",\"value\":\"$ca\"},"
done
kubectl patch "${DRY[@]}" validatingwebhookconfiguration keda-admission --type=json \
  -p "${patch%,}]"
