#!/usr/bin/env bash
# Runs a command against the local control plane: builds the Kubernetes binaries if needed
# (cached outside the repo), brings the cluster up (idempotent), then execs the command with
# KUBECONFIG set and the built kubectl first on PATH.
#   tests/e2e/with-cluster.sh python3 -m pytest tests/crds -m cluster
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$("$here/build-k8s.sh" | tail -n 1)
kubeconfig=$("$here/cluster.sh" up | tail -n 1)
export KUBECONFIG="$kubeconfig" PATH="$bin:$PATH"
exec "$@"
