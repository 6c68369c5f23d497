#!/usr/bin/env python3
"""Latency of ckeda's external metrics API, with authentication and authorization on.

Starts `ckeda run` against the local control plane (tests/e2e/cluster.sh up must work) on
$CKEDA_ADAPTER_PORT, writes one ScaledObject with the test-only shmtool, then measures:

  direct      HTTPS keep-alive to the adapter with the front proxy's client certificate and
              the HPA's identity in X-Remote-User/-Group: certificate chain + CN check on the
              connection, header identity per request, SubjectAccessReview answered from the
              (warm) cache. Sequential on one connection, then C connections in parallel.
  aggregator  the same GET through kube-apiserver (admin certificate, impersonating the HPA's
              service account), keep-alive: the path the HPA controller takes.

Prints p50/p90/p99/max in milliseconds and requests per second. Figures, not assertions.

  CKEDA_BIN=build python3 bench/bench_adapter.py [-n 5000] [-c 8]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import pathlib
import signal
import socket
import ssl
import statistics
import subprocess
import tempfile
import threading
import time
import uuid

REPO = pathlib.Path(__file__).resolve().parent.parent
BIN = pathlib.Path(os.environ.get("CKEDA_BIN", REPO / "build"))
PORT = int(os.environ.get("CKEDA_ADAPTER_PORT", "7443"))
HPA_USER = "system:serviceaccount:kube-system:horizontal-pod-autoscaler"
HPA_HEADERS = {"X-Remote-User": HPA_USER, "X-Remote-Group": "system:serviceaccounts"}


def percentiles(samples_ms):
    s = sorted(samples_ms)
    pick = lambda q: s[min(len(s) - 1, int(q * len(s)))]  # noqa: E731
    return (f"p50 {pick(0.50):.3f}  p90 {pick(0.90):.3f}  p99 {pick(0.99):.3f}  "
            f"max {s[-1]:.3f} ms  (mean {statistics.fmean(s):.3f}, n={len(s)})")


def run_sequential(make_conn, path, headers, n):
    conn = make_conn()
    for _ in range(50):  # warm: handshake, review cache
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        body = r.read()
        assert r.status == 200, body
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        r.read()
        samples.append((time.perf_counter() - t0) * 1e3)
        assert r.status == 200
    conn.close()
    return samples


def run_parallel(make_conn, path, headers, n, c):
    results, lock = [], threading.Lock()

    def worker():
        mine = run_sequential(make_conn, path, headers, n // c)
        with lock:
            results.extend(mine)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(c)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, time.perf_counter() - t0


def cluster_up():
    r = subprocess.run([str(REPO / "tests/e2e/cluster.sh"), "up"], capture_output=True,
                       text=True, check=True)
    kc = pathlib.Path(r.stdout.strip().splitlines()[-1])
    env = dict(line.split("=", 1) for line in (kc.parent / "cluster.env").read_text().split()
               if "=" in line)
    return kc, env


def admin_files(kubectl, kc, tmp):
    """The admin kubeconfig's server, CA, certificate and key as files."""
    cfg = json.loads(subprocess.run([kubectl, "--kubeconfig", str(kc), "config", "view",
                                     "--raw", "--minify", "-o", "json"], capture_output=True,
                                    text=True, check=True).stdout)
    cluster, user = cfg["clusters"][0]["cluster"], cfg["users"][0]["user"]
    files = {}
    for name, data in (("ca", cluster["certificate-authority-data"]),
                       ("crt", user["client-certificate-data"]),
                       ("key", user["client-key-data"])):
        files[name] = tmp / f"admin.{name}"
        files[name].write_bytes(base64.b64decode(data))
    return cluster["server"], files


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=5000, help="requests per measurement")
    ap.add_argument("-c", type=int, default=8, help="parallel connections")
    args = ap.parse_args()

    kc, env = cluster_up()
    state, kubectl = kc.parent, str(pathlib.Path(env["BIN_DIR"]) / "kubectl")
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", PORT)) == 0:
            raise SystemExit(f"port {PORT} is in use")
    shm = f"ckeda-bench-{uuid.uuid4().hex[:8]}"
    tmp = pathlib.Path(tempfile.mkdtemp())
    log = open(tmp / "ckeda.log", "w")
    proc = subprocess.Popen([str(BIN / "ckeda"), "run", "--kubeconfig", str(kc), "--shm-name",
                             shm, "--leader-elect=false", "--secure-port", str(PORT), "--webhook-port", "0",
                             "--metrics-port", "0", "--health-port", "0", "--cert-dir",
                             str(state / "adapter-certs"),
                             # the figures are for a warm review cache: one that does not
                             # expire (10 s by default) in the middle of a run
                             "--authorization-allow-cache-ttl", "1h"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        time.sleep(1.0)
        subprocess.run([str(BIN / "tests/shmtool"), "--shm-name", shm, "add", "default/bench",
                        "--polling-interval", "3600", "--trigger", "ckeda-test,value=42.5"],
                       check=True, capture_output=True)
        path = ("/apis/external.metrics.k8s.io/v1beta1/namespaces/default/s0-ckeda-test-bench"
                "?labelSelector=scaledobject.keda.sh%2Fname%3Dbench")
        direct_ctx = ssl.create_default_context(cafile=str(state / "adapter-certs/ca.crt"))
        direct_ctx.load_cert_chain(str(state / "pki/front-proxy-client.crt"),
                                   str(state / "pki/front-proxy-client.key"))
        direct = lambda: http.client.HTTPSConnection(  # noqa: E731
            "127.0.0.1", PORT, context=direct_ctx, timeout=10)
        deadline = time.monotonic() + 60
        while True:  # until the front-proxy configuration is read and the value published
            try:
                c = direct()
                c.request("GET", path, headers=HPA_HEADERS)
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the adapter did not serve the value within 60 s")
            time.sleep(0.2)

        print(f"direct (front-proxy cert + X-Remote-User {HPA_USER}, warm review cache)")
        print("  sequential, 1 keep-alive connection:",
              percentiles(run_sequential(direct, path, HPA_HEADERS, args.n)))
        samples, secs = run_parallel(direct, path, HPA_HEADERS, args.n, args.c)
        print(f"  {args.c} connections in parallel:      ", percentiles(samples),
              f" {len(samples) / secs:.0f} req/s")

        server, files = admin_files(kubectl, kc, tmp)
        agg_ctx = ssl.create_default_context(cafile=str(files["ca"]))
        agg_ctx.load_cert_chain(str(files["crt"]), str(files["key"]))
        host, port = server.removeprefix("https://").rsplit(":", 1)
        agg = lambda: http.client.HTTPSConnection(  # noqa: E731
            host, int(port), context=agg_ctx, timeout=10)
        imp = {"Impersonate-User": HPA_USER, "Impersonate-Group": "system:serviceaccounts"}
        n_agg = max(200, args.n // 5)
        print("aggregator (kube-apiserver -> adapter, impersonating the HPA, keep-alive)")
        print("  sequential, 1 keep-alive connection:",
              percentiles(run_sequential(agg, path, imp, n_agg)))
        samples, secs = run_parallel(agg, path, imp, n_agg, args.c)
        print(f"  {args.c} connections in parallel:      ", percentiles(samples),
              f" {len(samples) / secs:.0f} req/s")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


if __name__ == "__main__":
    main()
