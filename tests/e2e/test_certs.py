"""Cert rotation (--enable-cert-rotation, watcher/certs.h) on the real API server and
aggregator of tests/e2e/cluster.sh:

- started with an empty --cert-dir and no Secret, the leader creates the Secret (ca.crt,
  ca.key, tls.crt, tls.key, KEDA's keys) in --pod-namespace, every replica's cert directory
  gets ca.crt, tls.crt and tls.key (never ca.key), and the CA is written into the caBundle of
  the APIService and of every keda-admission webhook;
- the aggregator then verifies the adapter's new certificate for
  keda-operator-metrics-apiserver.keda.svc: the APIService turns Available through it;
- a serving certificate for the wrong names is renewed under the same CA, and a deleted
  Secret is made again with a new CA, by a watcher restarted with kill -9; the adapter reloads
  each without a restart and the APIService follows.

The test bed's own certificate and caBundles are put back at the end (cluster.sh up).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import uuid

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from test_watcher import (ADAPTER_PORT, Ckeda, Kube, cluster_up, port_busy,  # noqa: E402
                          wait_until)

SLOW = 120.0  # the aggregator's availability checks: generous


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    kube = Kube(cluster_up())
    if port_busy(ADAPTER_PORT):
        pytest.fail(f"port {ADAPTER_PORT} is in use: another adapter serves the cluster")
    ns = kube.namespace("ckt")
    secret = f"ckeda-certs-{uuid.uuid4().hex[:8]}"
    certs = tmp_path_factory.mktemp("certs")
    c = Ckeda(kube.kubeconfig, ns, tmp_path_factory.mktemp("ckeda"),
              extra=("--secure-port", str(ADAPTER_PORT), "--cert-dir", str(certs),
                     "--pod-namespace", "keda", "--leader-election-id", secret,
                     "--enable-cert-rotation", "--cert-secret-name", secret))
    try:
        c.start()
        yield kube, c, secret, certs
    finally:
        c.stop()
        kube.run("-n", "keda", "delete", "secret", secret, "lease", secret,
                 "--ignore-not-found", check=False)
        kube.drop_namespace(ns)
        cluster_up()  # the test bed's caBundles again


def secret_data(kube, name):
    s = kube.get("keda", "secret", name)
    return {k: base64.b64decode(v).decode() for k, v in (s or {}).get("data", {}).items()}


def ca_bundles(kube):
    api = json.loads(kube.run("get", "apiservice", "v1beta1.external.metrics.k8s.io",
                              "-o", "json").stdout)
    vwc = json.loads(kube.run("get", "validatingwebhookconfiguration", "keda-admission",
                              "-o", "json").stdout)
    return ([api["spec"].get("caBundle")] +
            [w["clientConfig"].get("caBundle") for w in vwc["webhooks"]])


def available(kube):
    api = json.loads(kube.run("get", "apiservice", "v1beta1.external.metrics.k8s.io",
                              "-o", "json").stdout)
    cond = [x for x in api.get("status", {}).get("conditions", []) if x["type"] == "Available"]
    return cond and cond[0]["status"] == "True"


def x509_text(pem, *args):
    return subprocess.run(["openssl", "x509", "-noout", *args], input=pem, text=True,
                          capture_output=True, check=True).stdout


def in_sync(kube, certs, name):
    """The Secret, the cert directory and every caBundle agree; returns the Secret's data."""
    d = secret_data(kube, name)
    if set(d) != {"ca.crt", "ca.key", "tls.crt", "tls.key"}:
        return None
    files = {f: (certs / f).read_text() for f in ("ca.crt", "tls.crt", "tls.key")
             if (certs / f).exists()}
    b64 = base64.b64encode(d["ca.crt"].encode()).decode()
    if files != {k: d[k] for k in files} or len(files) != 3 or set(ca_bundles(kube)) != {b64}:
        return None
    return d


def restart_watcher(c):
    os.kill(c.watcher()["pid"], signal.SIGKILL)


def test_the_leader_issues_publishes_and_rotates_the_certificate(env):
    kube, c, name, certs = env
    d = wait_until(lambda: in_sync(kube, certs, name), "the Secret, files and caBundles")
    assert not (certs / "ca.key").exists()
    assert oct((certs / "tls.key").stat().st_mode & 0o777) == "0o600"
    sans = x509_text(d["tls.crt"], "-ext", "subjectAltName")
    assert "DNS:keda-operator-metrics-apiserver.keda.svc" in sans, sans
    assert "DNS:keda-admission-webhooks.keda.svc.cluster.local" in sans, sans
    wait_until(lambda: available(kube), "the APIService Available on the new certificate",
               timeout=SLOW)

    # a serving certificate for other names: renewed under the same CA by a fresh watcher
    patch = {"data": {"tls.crt": base64.b64encode(subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", "/dev/null", "-subj", "/CN=elsewhere", "-days", "1"],
        capture_output=True, text=True, check=True).stdout.encode()).decode()}}
    kube.run("-n", "keda", "patch", "secret", name, "--type=merge", "-p", json.dumps(patch))
    restart_watcher(c)
    d2 = wait_until(lambda: (x := in_sync(kube, certs, name)) and x["tls.crt"] != d["tls.crt"]
                    and "elsewhere" not in x509_text(x["tls.crt"], "-subject") and x,
                    "a renewed serving certificate", timeout=SLOW)
    assert d2["ca.crt"] == d["ca.crt"] and d2["ca.key"] == d["ca.key"]

    # the Secret gone: a new CA, new caBundles, and the aggregator follows
    kube.run("-n", "keda", "delete", "secret", name)
    restart_watcher(c)
    d3 = wait_until(lambda: (x := in_sync(kube, certs, name)) and x["ca.crt"] != d["ca.crt"]
                    and x, "a new CA everywhere", timeout=SLOW)
    assert d3["tls.crt"] != d2["tls.crt"]
    # each request through the aggregator is verified against the caBundle of now: it
    # succeeds only once the adapter has reloaded the certificate of the new CA
    wait_until(lambda: kube.run("get", "--raw", "/apis/external.metrics.k8s.io/v1beta1",
                                check=False).returncode == 0,
               "the aggregator reaching the adapter on the new CA", timeout=SLOW)
