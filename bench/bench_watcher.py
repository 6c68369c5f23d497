#!/usr/bin/env python3
"""The watcher against a real control plane: how fast a ScaledObject becomes an HPA, what a
burst of 1,000 costs beside creating 1,000 HPAs directly on the same API server, the watcher's
memory with 1,000 objects mirrored, and what it asks of the API server in steady state.

It starts a throw-away cluster (tests/e2e/cluster.sh with a private CKEDA_E2E_DIR, the upstream
HPA sync period of 15 s) and `ckeda run` watching one namespace, talks to kube-apiserver
directly (Python's http.client with the admin certificate, one connection, no client-side rate
limit) and watches HPAs to timestamp their arrival. Targets are Deployments with 0 replicas
(no pods; the HPA controller leaves them alone); triggers are of the test-only type ckeda-test,
so no event source is involved. Prints figures; asserts nothing.

    python3 bench/bench_watcher.py [--build build] [--objects 1000] [--rate 10] [--paced 200]
                                   [--qps 20 --burst 30] [--steady 130]

--qps/--burst are passed to ckeda as --kube-api-qps/--kube-api-burst (KEDA's defaults 20/30).
"""
import argparse
import base64
import http.client
import json
import os
import pathlib
import re
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
CLUSTER_SH = REPO / "tests" / "e2e" / "cluster.sh"


class Api:
    """One HTTPS connection to kube-apiserver with the kubeconfig's client certificate."""

    def __init__(self, kubeconfig, tmp):
        text = pathlib.Path(kubeconfig).read_text()
        self.host, self.port = re.search(r"server:\s*\"?https://([^:/\"]+):(\d+)", text).groups()
        files = {}
        for key in ("certificate-authority-data", "client-certificate-data", "client-key-data"):
            data = re.search(rf"{key}:\s*\"?([A-Za-z0-9+/=]+)", text).group(1)
            path = pathlib.Path(tmp) / key
            path.write_bytes(base64.b64decode(data))
            path.chmod(0o600)
            files[key] = str(path)
        self.ctx = ssl.create_default_context(cafile=files["certificate-authority-data"])
        self.ctx.load_cert_chain(files["client-certificate-data"], files["client-key-data"])
        self.conn = None

    def connect(self):
        return http.client.HTTPSConnection(self.host, int(self.port), context=self.ctx, timeout=60)

    def call(self, method, path, body=None):
        for attempt in range(3):
            if self.conn is None:
                self.conn = self.connect()
            try:
                self.conn.request(method, path, body=json.dumps(body) if body is not None else None,
                                  headers={"Content-Type": "application/json"})
                r = self.conn.getresponse()
                data = r.read()
                return r.status, json.loads(data) if data else {}
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise RuntimeError("unreachable")

    def must(self, method, path, body=None):
        status, doc = self.call(method, path, body)
        if status >= 300:
            sys.exit(f"{method} {path}: {status} {doc.get('message')}")
        return doc


class HpaWatch(threading.Thread):
    """Records when each HPA of a namespace is first seen."""

    def __init__(self, api, ns):
        super().__init__(daemon=True)
        self.api, self.ns = api, ns
        self.seen = {}
        self.lock = threading.Lock()
        rv = api.must("GET", f"/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers")
        self.rv = rv["metadata"]["resourceVersion"]

    def run(self):
        while True:
            conn = http.client.HTTPSConnection(self.api.host, int(self.api.port),
                                               context=self.api.ctx, timeout=None)
            try:
                conn.request("GET", f"/apis/autoscaling/v2/namespaces/{self.ns}/"
                                    f"horizontalpodautoscalers?watch=1&allowWatchBookmarks=true"
                                    f"&resourceVersion={self.rv}&timeoutSeconds=3600")
                r = conn.getresponse()
                while line := r.readline():
                    ev = json.loads(line)
                    now = time.monotonic()
                    self.rv = ev["object"]["metadata"].get("resourceVersion", self.rv)
                    if ev["type"] == "ADDED":
                        with self.lock:
                            self.seen.setdefault(ev["object"]["metadata"]["name"], now)
            except (http.client.HTTPException, OSError, ValueError):
                time.sleep(0.5)
            finally:
                conn.close()

    def count(self):
        with self.lock:
            return len(self.seen)

    def at(self, name):
        with self.lock:
            return self.seen.get(name)


def deployment(name):
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 0, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c",
                                                           "image": "registry.k8s.io/pause:3.10"}]}}}}


def scaled_object(name, target):
    return {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": name},
            "spec": {"scaleTargetRef": {"name": target}, "pollingInterval": 30,
                     "triggers": [{"type": "ckeda-test", "metadata": {"value": "1", "target": "5"}}]}}


def hpa(name, target):
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                     "minReplicas": 1, "maxReplicas": 10,
                     "metrics": [{"type": "External", "external": {
                         "metric": {"name": "s0-ckeda-test",
                                    "selector": {"matchLabels": {"scaledobject.keda.sh/name": name}}},
                         "target": {"type": "AverageValue", "averageValue": "5"}}}]}}


def wait(pred, what, timeout):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            sys.exit(f"timed out waiting for {what}")
        time.sleep(0.05)


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def rss(pid):
    """VmRSS, and its anonymous and shared-memory (the table) parts, in MiB."""
    v = {}
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, rest = line.partition(":")
        if k in ("VmRSS", "RssAnon", "RssShmem"):
            v[k] = int(rest.split()[0]) / 1024
    return (f"{v.get('VmRSS', 0):.1f} MiB (anonymous {v.get('RssAnon', 0):.1f} MiB, table "
            f"{v.get('RssShmem', 0):.1f} MiB)")


def cpu_s(pid):
    """User + system CPU seconds the process has used."""
    f = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def ctl(build, name, *args):
    return json.loads(subprocess.run([str(pathlib.Path(build) / "ckedactl"), "--shm-name", name,
                                      "-o", "json", *args], capture_output=True, text=True,
                                     check=True).stdout)


def paced(api, ns, watch, n, rate):
    """n ScaledObjects at `rate` per second; latency from the create request to the HPA."""
    sent = {}
    start = time.monotonic()
    for i in range(n):
        due = start + i / rate
        while time.monotonic() < due:
            time.sleep(0.001)
        name = f"paced-{i}"
        sent[name] = time.monotonic()
        api.must("POST", f"/apis/keda.sh/v1alpha1/namespaces/{ns}/scaledobjects",
                 scaled_object(name, f"web-{i}"))
    wait(lambda: all(watch.at(f"keda-hpa-{k}") for k in sent), "the paced HPAs", 600)
    return [(watch.at(f"keda-hpa-{k}") - t) * 1000 for k, t in sent.items()]


def burst(api, ns, watch, n, offset):
    start = time.monotonic()
    for i in range(n):
        api.must("POST", f"/apis/keda.sh/v1alpha1/namespaces/{ns}/scaledobjects",
                 scaled_object(f"burst-{i}", f"web-{offset + i}"))
    posted = time.monotonic() - start
    wait(lambda: all(watch.at(f"keda-hpa-burst-{i}") for i in range(n)), "the burst's HPAs", 3600)
    done = max(watch.at(f"keda-hpa-burst-{i}") for i in range(n)) - start
    return posted, done


def direct(api, ns, n):
    start = time.monotonic()
    for i in range(n):
        api.must("POST", f"/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers",
                 hpa(f"direct-{i}", f"web-{i}"))
    return time.monotonic() - start


def steady_requests(log_path, after_ts):
    """The watcher's own counts of its API requests (its once-a-minute log line), summed over the
    lines printed after after_ts."""
    total = [0, 0, 0, 0]
    for line in pathlib.Path(log_path).read_text().splitlines():
        m = re.search(r"last (\d+) s: (\d+) \((\d+) reads and writes, (\d+) lists and watches\)",
                      line)
        if not m or line[:19] <= after_ts:
            continue
        total = [a + int(b) for a, b in zip(total, m.groups())]
    return total if total[0] else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("CKEDA_BIN", str(REPO / "build")))
    ap.add_argument("--objects", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=10.0)
    ap.add_argument("--paced", type=int, default=200)
    ap.add_argument("--qps", type=float, default=20.0)
    ap.add_argument("--burst", type=int, default=30)
    ap.add_argument("--steady", type=int, default=300, help="seconds of steady state (>= 125)")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="ckeda-bench-watcher-")
    env = dict(os.environ, CKEDA_E2E_DIR=f"{tmp}/cluster", CKEDA_E2E_HPA_SYNC_PERIOD="15s")
    t0 = time.monotonic()
    kc = subprocess.run([str(CLUSTER_SH), "up"], env=env, capture_output=True, text=True,
                        check=True).stdout.strip().splitlines()[-1]
    print(f"cluster up in {time.monotonic() - t0:.1f} s", flush=True)
    api = Api(kc, tmp)
    ns, ns_direct = "bench-watcher", "bench-direct"
    ckeda = None
    try:
        for n in (ns, ns_direct):
            api.must("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                     "metadata": {"name": n}})
        total = args.paced + args.objects
        for i in range(total):
            api.must("POST", f"/apis/apps/v1/namespaces/{ns}/deployments", deployment(f"web-{i}"))
        for i in range(args.objects):
            api.must("POST", f"/apis/apps/v1/namespaces/{ns_direct}/deployments",
                     deployment(f"web-{i}"))
        name = f"ckeda-bench-{os.getpid()}"
        log_path = f"{tmp}/ckeda.log"
        log = open(log_path, "wb")
        ckeda = subprocess.Popen([str(pathlib.Path(args.build) / "ckeda"), "run", "--kubeconfig", kc,
                                  "--shm-name", name, "--watch-namespace", ns, "--pod-namespace", ns,
                                  "--kube-api-qps", str(args.qps), "--kube-api-burst",
                                  str(args.burst), "--secure-port", "0", "--webhook-port", "0",
                                  "--metrics-port", "0", "--health-port", "0"],
                                 stdout=log, stderr=log, start_new_session=True)
        wait(lambda: (pathlib.Path("/dev/shm") / name).exists() and
             ctl(args.build, name, "status").get("watcher_synced"), "the watcher", 60)
        watch = HpaWatch(api, ns)
        watch.start()

        lat = paced(api, ns, watch, args.paced, args.rate)
        print(f"created -> HPA at {args.rate:g}/s ({args.paced} objects, qps {args.qps:g} burst "
              f"{args.burst}): p50 {statistics.median(lat):.0f} ms, p99 {pct(lat, 99):.0f} ms, "
              f"max {max(lat):.0f} ms", flush=True)

        posted, done = burst(api, ns, watch, args.objects, args.paced)
        d = direct(api, ns_direct, args.objects)
        print(f"burst of {args.objects} (qps {args.qps:g} burst {args.burst}): posted in "
              f"{posted:.1f} s, last HPA after {done:.1f} s; the same API server creates "
              f"{args.objects} HPAs directly in {d:.1f} s (ratio {done / d:.1f}x)", flush=True)

        wait(lambda: ctl(args.build, name, "status").get("watcher_scaledobjects") == total,
             "every object mirrored", 600)
        pid = ctl(args.build, name, "status")["watcher_pid"]
        print(f"watcher RSS with {total} ScaledObjects mirrored: {rss(pid)}", flush=True)

        # count only the once-a-minute lines whose minute began after this point
        mark = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 60))
        cpu0 = cpu_s(pid)
        time.sleep(args.steady)
        print(f"watcher CPU in {args.steady} s of steady state: {cpu_s(pid) - cpu0:.2f} s")
        s = steady_requests(log_path, mark)
        if s:
            secs, req, rw, lw = s
            print(f"steady state: {req} API requests in {secs} s ({rw} reads/writes, {lw} lists/"
                  f"watches) for {total} ScaledObjects = "
                  f"{req / total / (secs / 60):.4f} requests per ScaledObject per minute")
        print(f"watcher RSS after {args.steady} s steady: {rss(pid)}")
    finally:
        if ckeda:
            os.killpg(ckeda.pid, signal.SIGTERM)
            ckeda.wait(timeout=60)
        subprocess.run([str(CLUSTER_SH), "down"], env=env, capture_output=True)


if __name__ == "__main__":
    main()
