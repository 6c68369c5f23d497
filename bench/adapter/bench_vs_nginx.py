#!/usr/bin/env python3
"""The adapter against nginx serving the same JSON as a static file, in one run.

Both servers: HTTPS on loopback, the same certificate and key, TLS 1.2 minimum with the
adapter's 1.2 cipher list ("ECDHE+AESGCM:ECDHE+CHACHA20", server preference) and OpenSSL's
default 1.3 suites, no session cache and no tickets, a client certificate required and verified
against the same CA, HTTP/1.1 keep-alive, no access log. Same number of server processes
(--procs: ckeda's --adapters, nginx's worker_processes). nginx serves the exact body bytes the
adapter returned for the measured metric (fetched from the adapter first), with the same
Content-Type, Cache-Control and X-Content-Type-Options headers, open_file_cache on.

Auth path exercised on the adapter, by default: the front proxy, as the aggregator calls it.
The local control plane of tests/e2e/cluster.sh is brought up (`up` is idempotent; this script
never stops it; it inherits CKEDA_E2E_DIR, CKEDA_ADAPTER_PORT and CKEDA_WEBHOOK_PORT, so a
private cluster is used when they name one) and the adapter runs with its kubeconfig, its adapter-certs as --cert-dir,
--leader-elect=false, --authorization-allow-cache-ttl 1h and a --watch-namespace of its own
that does not exist (so that it leaves the cluster's ScaledObjects to the test bed's ckeda), on
a free port (not $CKEDA_ADAPTER_PORT, which the test bed's APIService points at). The load
client presents the certificate and key kube-apiserver's --proxy-client-cert-file and
--proxy-client-key-file name, with the aggregator's X-Remote-User/X-Remote-Group for the HPA
controller's service account (the subject of deploy/test-bed/hpa-external-metrics-rbac.yaml):
the chain to the requestheader CA (from the ConfigMap extension-apiserver-authentication) and
the CN checked once per connection, the identity read from the headers per request, the
SubjectAccessReview answered from the warm cache per request. nginx requires a client
certificate of that same requestheader CA (it checks no CN and no headers). Before measuring
the script checks that the adapter answers 200 on that path, refuses the same certificate
without the headers and an identity without the role, and that both servers refuse a
certificate of another CA; it prints the adapter's SubjectAccessReview cache counters
(ckeda_adapter_authorization_cache_hits_total / _misses_total from its /metrics) before and
after, and the load average.

--no-cluster: no cluster. The load client presents a certificate issued by a per-run CA (the
--cert-dir ca.crt) with O=system:masters: authentication by client certificate (chain and CN
checked once per connection, the identity built per request), authorization by the
system:masters rule (no SubjectAccessReview, no review-cache lookup); the X-Remote-* headers
are sent and ignored.

The table: `ckeda run` with --max-scaledobjects 10240 (--max-triggers 16384), written with the
test-only tests/shmtool: N ScaledObjects bench-00000... with one ckeda-test trigger each
(useCachedMetrics, so that the demand stamps the adapter writes do not make the workers poll).
With a cluster the table is written once the watcher has listed and reconciled it.

Measured with bench_adapter_load (loadgen.c, built with the tree), alternating servers, each
figure the median of --reps runs:
  saturation   C keep-alive connections, one request each in flight: req/s, server CPU
               (utime+stime of the nginx worker(s) / the adapter process(es)) per request
  1,000 req/s  a fixed schedule over 16 connections, latency from the due time (p50, p99)
  table size   adapter CPU per request at saturation with 100, then 10,000 ScaledObjects in
               the table, requests spread round-robin over every object (and on one object)

  python3 bench/adapter/bench_vs_nginx.py [--no-cluster] [--bin build] [-d 10] [--reps 3]
      [--procs 1] [-c 16]
"""

from __future__ import annotations

import argparse
import json
import re
import os
import pathlib
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request
import uuid

REPO = pathlib.Path(__file__).resolve().parent.parent.parent
API = "/apis/external.metrics.k8s.io/v1beta1/namespaces/default"
HPA_USER = "system:serviceaccount:kube-system:horizontal-pod-autoscaler"
PLAIN = ["Accept: application/json", "User-Agent: kube-controller-manager/v1.34.4"]
# --no-cluster: what the aggregator forwards, ignored from anyone but the front proxy
HEADERS = PLAIN + [f"X-Remote-User: {HPA_USER}", "X-Remote-Group: system:serviceaccounts"]
# the front proxy: the identity the aggregator forwards for the HPA controller (a service
# account's groups, one header each, as kube-apiserver's proxy sets them)
FP_GROUPS = ["system:serviceaccounts", "system:serviceaccounts:kube-system",
             "system:authenticated"]
FP_HEADERS = PLAIN + [f"X-Remote-User: {HPA_USER}"] + [f"X-Remote-Group: {g}" for g in FP_GROUPS]
MAX_SO, MAX_TRIG = 10240, 16384


def obj(i):
    return f"bench-{i:05d}"


def value_path(i):
    return f"{API}/s0-ckeda-test-{obj(i)}?labelSelector=scaledobject.keda.sh%2Fname%3D{obj(i)}"


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_certs(d: pathlib.Path):
    def key_req(name, subj):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.csr"), "-subj", subj)

    def sign(name, ext):
        (d / f"{name}.ext").write_text(ext + "\n")
        openssl("x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(d / "ca.crt"),
                "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-out", str(d / f"{name}.crt"),
                "-days", "2", "-extfile", str(d / f"{name}.ext"))

    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(d / "ca.key"), "-out", str(d / "ca.crt"), "-subj", "/CN=bench-ca",
            "-days", "2")
    key_req("tls", "/CN=localhost")
    sign("tls", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth")
    key_req("client", "/O=system:masters/CN=bench")
    sign("client", "extendedKeyUsage=clientAuth")
    serving = d / "serving"
    serving.mkdir()
    for f in ("tls.crt", "tls.key", "ca.crt"):
        shutil.copy(d / f, serving / f)
    return serving


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, probe, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = probe()
        if r:
            return r
        time.sleep(0.1)
    raise SystemExit(f"timed out waiting for {what}")


class Cluster:
    """The local control plane of tests/e2e/cluster.sh, and what the front proxy presents."""

    def __init__(self, tmp):
        r = subprocess.run([str(REPO / "tests/e2e/cluster.sh"), "up"], capture_output=True,
                           text=True)
        if r.returncode != 0:
            raise SystemExit(f"tests/e2e/cluster.sh up failed (run with --no-cluster to "
                             f"measure without one):\n{r.stderr[-2000:]}")
        self.kubeconfig = pathlib.Path(r.stdout.strip().splitlines()[-1])
        self.state = self.kubeconfig.parent
        env = dict(line.split("=", 1) for line in
                   (self.state / "cluster.env").read_text().split() if "=" in line)
        self.kubectl = str(pathlib.Path(env["BIN_DIR"]) / "kubectl")
        self.adapter_port = int(env.get("ADAPTER_PORT", "7443"))
        self.serving = self.state / "adapter-certs"
        # the front proxy's client certificate: what kube-apiserver presents to the adapter
        flags = self.apiserver_flags()
        pki = self.state / "pki"
        self.cert = pathlib.Path(flags.get("proxy-client-cert-file",
                                           pki / "front-proxy-client.crt"))
        self.key = pathlib.Path(flags.get("proxy-client-key-file",
                                          pki / "front-proxy-client.key"))
        # the CA and names the adapter trusts for it: the ConfigMap it reads
        cm = json.loads(subprocess.run(
            [self.kubectl, "--kubeconfig", str(self.kubeconfig), "-n", "kube-system", "get",
             "configmap", "extension-apiserver-authentication", "-o", "json"],
            capture_output=True, text=True, check=True).stdout)["data"]
        self.client_ca = tmp / "requestheader-ca.crt"
        self.client_ca.write_text(cm["requestheader-client-ca-file"])
        subprocess.run(["openssl", "verify", "-CAfile", str(self.client_ca), str(self.cert)],
                       check=True, capture_output=True)
        cn = subprocess.run(["openssl", "x509", "-in", str(self.cert), "-noout", "-subject",
                             "-nameopt", "multiline"], capture_output=True, text=True,
                            check=True).stdout
        cn = re.search(r"commonName\s*=\s*(\S+)", cn).group(1)
        allowed = json.loads(cm.get("requestheader-allowed-names", "[]"))
        if allowed and cn not in allowed:
            raise SystemExit(f"the front-proxy certificate's CN {cn} is not in {allowed}")
        for key, want in (("requestheader-username-headers", "X-Remote-User"),
                          ("requestheader-group-headers", "X-Remote-Group")):
            if want not in json.loads(cm.get(key, "[]")):
                raise SystemExit(f"the cluster's {key} does not name {want}")
        self.cn = cn

    def apiserver_flags(self):
        try:
            pid = int((self.state / "run" / "kube-apiserver.pid").read_text())
            argv = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return {}
        return dict(a.decode()[2:].split("=", 1) for a in argv if a.startswith(b"--") and b"=" in a)


class Ckeda:
    def __init__(self, bindir, tmp, serving, procs, cluster=None):
        self.bindir, self.shm = bindir, f"ckeda-bench-{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self.metrics_port = free_port() if cluster else 0
        while cluster and self.port == cluster.adapter_port:
            self.port = free_port()
        env = {k: v for k, v in os.environ.items()
               if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")}
        env["HOME"] = str(tmp)  # no ~/.kube/config: no cluster unless --kubeconfig
        kube = []
        if cluster:
            # a namespace of its own (it need not exist): the watcher lists nothing of the
            # shared cluster's and so writes nothing there; the adapter answers every namespace
            kube = ["--kubeconfig", str(cluster.kubeconfig), "--leader-elect=false",
                    "--watch-namespace", self.shm, "--authorization-allow-cache-ttl", "1h"]
        self.log = open(tmp / "ckeda.log", "w")
        self.proc = subprocess.Popen(
            [str(bindir / "ckeda"), "run", *kube, "--shm-name", self.shm, "--secure-port",
             str(self.port), "--webhook-port", "0", "--metrics-port", str(self.metrics_port),
             "--health-port", "0", "--cert-dir", str(serving), "--adapters", str(procs),
             "--max-scaledobjects", str(MAX_SO), "--max-triggers", str(MAX_TRIG),
             "--log-level", "warn"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.count = 0
        wait_for("the adapters", lambda: len(self.pids()) == procs)
        if cluster:  # the watcher frees the slots it does not know when it first syncs
            wait_for("the watcher's first sync", self.watcher_synced, timeout=120)

    def watcher_synced(self):
        r = subprocess.run([str(self.bindir / "ckedactl"), "--shm-name", self.shm, "-o", "json",
                            "status"], capture_output=True, text=True)
        return r.returncode == 0 and json.loads(r.stdout).get("watcher_synced")

    def metrics(self):
        """The adapter's SubjectAccessReview cache counters and response codes."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics",
                                    timeout=10) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            m = re.match(r"(ckeda_adapter_(?:authorization_cache_\w+_total|requests_total)"
                         r"(?:\{[^}]*\})?) (\S+)$", line)
            if m:
                out[m.group(1)] = float(m.group(2))
        return out

    def pids(self):
        r = subprocess.run([str(self.bindir / "ckedactl"), "--shm-name", self.shm, "-o", "json",
                            "workers"], capture_output=True, text=True)
        if r.returncode != 0:
            return []
        return [p["pid"] for p in json.loads(r.stdout)["processes"]
                if p["role"] == "adapter" and p["state"] == "running" and p["pid"] > 0]

    def populate(self, n):
        tool = self.bindir / "tests" / "shmtool"
        for i in range(self.count, n):
            slot = subprocess.run([str(tool), "--shm-name", self.shm, "add", f"default/{obj(i)}",
                                   "--polling-interval", "3600", "--trigger",
                                   "ckeda-test,value=42.5,usecached=1"],
                                  check=True, capture_output=True, text=True).stdout.split()[0]
            subprocess.run([str(tool), "--shm-name", self.shm, "result", slot, "42.5"],
                           check=True, capture_output=True)
        self.count = n

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


NGINX_CONF = """
worker_processes {procs};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    server_tokens off;
    client_body_temp_path {prefix}/tmp; proxy_temp_path {prefix}/tmp;
    fastcgi_temp_path {prefix}/tmp; uwsgi_temp_path {prefix}/tmp; scgi_temp_path {prefix}/tmp;
    keepalive_timeout 120s;
    keepalive_requests 100000000;
    open_file_cache max=16384 inactive=300s;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ciphers ECDHE+AESGCM:ECDHE+CHACHA20;
        ssl_prefer_server_ciphers on;
        ssl_session_cache off;
        ssl_session_tickets off;
        ssl_verify_client on;
        ssl_client_certificate {client_ca};
        root {prefix}/www;
        etag off;
        location / {{
            types {{ }}
            default_type application/json;
            add_header Cache-Control "no-cache, private" always;
            add_header X-Content-Type-Options nosniff always;
            add_header Last-Modified "";
        }}
    }}
}}
"""


class Nginx:
    def __init__(self, tmp, serving, client_ca, procs, body: bytes):
        self.prefix = tmp / "nginx"
        (self.prefix / "tmp").mkdir(parents=True)
        f = self.prefix / "www" / API.lstrip("/") / "s0-ckeda-test-bench-00000"
        f.parent.mkdir(parents=True)
        f.write_bytes(body)
        for p in [tmp, *self.prefix.rglob("*"), self.prefix]:  # the worker may run as nobody
            p.chmod(0o755 if p.is_dir() else 0o644)
        self.port = free_port()
        conf = self.prefix / "nginx.conf"
        conf.write_text(NGINX_CONF.format(procs=procs, prefix=self.prefix, port=self.port,
                                          cert=serving / "tls.crt", key=serving / "tls.key",
                                          client_ca=client_ca))
        self.proc = subprocess.Popen(["nginx", "-p", str(self.prefix), "-c", str(conf), "-e",
                                      str(self.prefix / "error.log"), "-g", "daemon off;"])
        wait_for("nginx's workers", lambda: len(self.pids()) == procs)

    def pids(self):
        try:
            kids = pathlib.Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
            return [int(p) for p in kids.read_text().split()]
        except OSError:
            return []

    def stop(self):
        self.proc.send_signal(signal.SIGQUIT)
        self.proc.wait(timeout=30)


class Load:
    def __init__(self, bindir, cert, key, headers):
        self.exe = bindir / "bench" / "bench_adapter_load"
        self.base = ["--cert", str(cert), "--key", str(key)]
        for h in headers:
            self.base += ["--header", h]

    def dump(self, port, path):
        r = subprocess.run([str(self.exe), "--port", str(port), "--path", path, "--dump",
                            *self.base], capture_output=True)
        return r.stdout if r.returncode == 0 else None

    def status(self, port, path, cert, key, headers):
        """One request with other credentials: the status code, or what failed."""
        args = ["--cert", str(cert), "--key", str(key)]
        for h in headers:
            args += ["--header", h]
        r = subprocess.run([str(self.exe), "--port", str(port), "--path", path, "--dump", *args],
                           capture_output=True, text=True, errors="replace")
        if r.stdout.startswith("HTTP/1.1 "):
            return r.stdout[9:12]
        return (r.stderr.strip().splitlines() or ["no answer"])[-1].removeprefix(
            "bench_adapter_load: ")

    def run(self, port, pids, target, conns, secs, rate=0.0):
        where = ["--paths", str(target)] if isinstance(target, pathlib.Path) else ["--path", target]
        r = subprocess.run([str(self.exe), "--port", str(port), *where, "-c", str(conns), "-d",
                            str(secs), "-w", "2", "--rate", str(rate), "--pids",
                            ",".join(map(str, pids)), *self.base],
                           capture_output=True, text=True, check=True)
        res = json.loads(r.stdout)
        if res["errors"] or res["unfinished"]:
            raise SystemExit(f"errors in a run: {res}")
        return res


def split(resp: bytes):
    head, _, body = resp.partition(b"\r\n\r\n")
    return head, body


def med(runs, key):
    return statistics.median(r[key] for r in runs)


HITS = "ckeda_adapter_authorization_cache_hits_total"
MISSES = "ckeda_adapter_authorization_cache_misses_total"


def cache_line(m):
    return f"{m.get(HITS, 0):,.0f} hits, {m.get(MISSES, 0):,.0f} misses (SubjectAccessReviews)"


def delta(a, b, what):
    key = {"hits": HITS, "misses": MISSES, "code": 'ckeda_adapter_requests_total{code="200"}'}[what]
    return b.get(key, 0) - a.get(key, 0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.environ.get("CKEDA_BIN", REPO / "build"), type=pathlib.Path)
    ap.add_argument("-d", type=float, default=10, help="seconds per measurement (after 2 s warm-up)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--procs", type=int, default=1, help="adapter processes = nginx workers")
    ap.add_argument("-c", type=int, default=16, help="connections at saturation")
    ap.add_argument("--rate", type=float, default=1000)
    ap.add_argument("--objects", type=int, default=10000, help="the large table")
    ap.add_argument("--no-cluster", action="store_true",
                    help="no cluster: an O=system:masters client certificate, no review cache")
    args = ap.parse_args()

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="ckeda-vs-nginx-"))
    own = make_certs(tmp)  # --no-cluster's certificates; otherwise a CA both must refuse
    loadavg = [os.getloadavg()]
    cluster = None if args.no_cluster else Cluster(tmp)
    if cluster:
        serving, client_ca = cluster.serving, cluster.client_ca
        load = Load(args.bin, cluster.cert, cluster.key, FP_HEADERS)
        print(f"cluster: {cluster.state} (its APIService port {cluster.adapter_port})")
        print(f"front proxy: {cluster.cert.name} (CN {cluster.cn}), X-Remote-User {HPA_USER}, "
              f"X-Remote-Group {', '.join(FP_GROUPS)}; nginx requires the requestheader CA")
    else:
        serving, client_ca = own, own / "ca.crt"
        load = Load(args.bin, tmp / "client.crt", tmp / "client.key", HEADERS)
        print("no cluster: O=system:masters client certificate, no SubjectAccessReview")
    ck = nx = None
    try:
        ck = Ckeda(args.bin, tmp, serving, args.procs, cluster)
        ck.populate(100)
        hot = value_path(0)
        resp = wait_for("the adapter's answer", lambda: (lambda r: r if r and r.startswith(
            b"HTTP/1.1 200") else None)(load.dump(ck.port, hot)))
        ck_head, body = split(resp)
        nx = Nginx(tmp, serving, client_ca, args.procs, body)
        nx_head, nx_body = split(wait_for("nginx's answer", lambda: load.dump(nx.port, hot)))
        assert nx_body == body, (nx_body, body)
        if cluster:
            checks = [
                ("adapter, front-proxy certificate + HPA headers", ck.port,
                 cluster.cert, cluster.key, FP_HEADERS, "200"),
                ("adapter, front-proxy certificate without X-Remote-*", ck.port,
                 cluster.cert, cluster.key, PLAIN, "401"),
                ("adapter, front-proxy certificate, a user without the role", ck.port,
                 cluster.cert, cluster.key, PLAIN + ["X-Remote-User: ckeda-bench-nobody"], "403"),
                ("adapter, O=system:masters certificate of another CA + HPA headers", ck.port,
                 tmp / "client.crt", tmp / "client.key", FP_HEADERS, None),
                ("nginx, front-proxy certificate + HPA headers", nx.port,
                 cluster.cert, cluster.key, FP_HEADERS, "200"),
                ("nginx, O=system:masters certificate of another CA + HPA headers", nx.port,
                 tmp / "client.crt", tmp / "client.key", FP_HEADERS, None),
            ]
            for what, port, cert, key, hdrs, want in checks:
                got = load.status(port, hot, cert, key, hdrs)
                ok = got == want if want else got != "200"
                print(f"  check: {what}: {got}{'' if ok else '  <- UNEXPECTED'}")
                if not ok:
                    raise SystemExit("the auth path is not what this benchmark measures")
            # warm: the review for the HPA's identity is made by now; count from here
            load.run(ck.port, ck.pids(), hot, 2, 1)
            counters = [ck.metrics()]
            print("  adapter SubjectAccessReview cache before measuring:", cache_line(counters[0]))
        print(f"response body: {len(body)} bytes, identical; headers: ckeda {len(ck_head) + 4} "
              f"bytes, nginx {len(nx_head) + 4} bytes")
        print("ckeda:", ck_head.decode().replace("\r\n", " | "))
        print("nginx:", nx_head.decode().replace("\r\n", " | "))
        servers = {"ckeda": (ck.port, ck.pids()), "nginx": (nx.port, nx.pids())}

        sat = {k: [] for k in servers}
        fixed = {k: [] for k in servers}
        for rep in range(args.reps):
            for name, (port, pids) in servers.items():
                sat[name].append(load.run(port, pids, hot, args.c, args.d))
                fixed[name].append(load.run(port, pids, hot, 16, args.d, args.rate))
                s, f = sat[name][-1], fixed[name][-1]
                print(f"  rep {rep} {name}: {s['rps']:.0f} req/s, {s['cpu_us_per_req']:.1f} "
                      f"us CPU/req ({s['server_cores']:.2f} cores); at {args.rate:.0f}/s p50 "
                      f"{f['p50_us']:.0f} us p99 {f['p99_us']:.0f} us, "
                      f"{f['cpu_us_per_req']:.1f} us CPU/req", flush=True)

        paths100 = tmp / "paths100"
        paths100.write_text("".join(value_path(i) + "\n" for i in range(100)))
        pids = ck.pids()
        small = [load.run(ck.port, pids, paths100, args.c, args.d) for _ in range(args.reps)]
        small_hot = [load.run(ck.port, pids, hot, args.c, args.d) for _ in range(args.reps)]
        t0 = time.monotonic()
        ck.populate(args.objects)
        print(f"  table filled to {args.objects} objects in {time.monotonic() - t0:.0f} s")
        time.sleep(5)  # let the workers of the new objects finish their first polls
        pathsN = tmp / "pathsN"
        pathsN.write_text("".join(value_path(i) + "\n" for i in range(args.objects)))
        large = [load.run(ck.port, pids, pathsN, args.c, args.d) for _ in range(args.reps)]
        large_hot = [load.run(ck.port, pids, hot, args.c, args.d) for _ in range(args.reps)]
        nginx_after = [load.run(nx.port, nx.pids(), hot, args.c, args.d)]

        def row(what, a, b, fmt="{:.1f}", ratio=None):
            print(f"| {what} | {fmt.format(a)} | {fmt.format(b)} | {ratio or a / b:.2f}x |")

        loadavg.append(os.getloadavg())
        print(f"\n{args.procs} adapter process(es) vs {args.procs} nginx worker(s); median of "
              f"{args.reps}; {args.c} connections at saturation, 16 at {args.rate:.0f} req/s; "
              f"auth path: {'front proxy, warm review cache' if cluster else 'no cluster'}; "
              f"load average (1 min) {loadavg[0][0]:.2f} at start, {loadavg[-1][0]:.2f} at end\n")
        if cluster:
            counters.append(ck.metrics())
            a, b = counters
            print("adapter SubjectAccessReview cache after measuring:", cache_line(b))
            print(f"  during the measurements: {delta(a, b, 'hits'):,.0f} hits, "
                  f"{delta(a, b, 'misses'):,.0f} misses (reviews); 200 answers "
                  f"{delta(a, b, 'code'):,.0f}\n")
        print("| measure | ckeda | nginx | ckeda/nginx |\n|---|---:|---:|---:|")
        row("throughput at saturation (req/s)", med(sat["ckeda"], "rps"), med(sat["nginx"], "rps"),
            "{:,.0f}")
        row("server cores busy at saturation", med(sat["ckeda"], "server_cores"),
            med(sat["nginx"], "server_cores"), "{:.2f}")
        row("load client cores at saturation (same machine)", med(sat["ckeda"], "client_cores"),
            med(sat["nginx"], "client_cores"), "{:.2f}")
        row("server CPU per request at saturation (µs)", med(sat["ckeda"], "cpu_us_per_req"),
            med(sat["nginx"], "cpu_us_per_req"))
        row(f"server CPU per request at {args.rate:,.0f} req/s (µs)",
            med(fixed["ckeda"], "cpu_us_per_req"), med(fixed["nginx"], "cpu_us_per_req"))
        row(f"p50 at {args.rate:,.0f} req/s (µs)", med(fixed["ckeda"], "p50_us"),
            med(fixed["nginx"], "p50_us"), "{:.0f}")
        row(f"p99 at {args.rate:,.0f} req/s (µs)", med(fixed["ckeda"], "p99_us"),
            med(fixed["nginx"], "p99_us"), "{:.0f}")
        print(f"\n| adapter at saturation | 100 objects | {args.objects:,} objects | "
              f"{args.objects:,}/100 |\n"
              "|---|---:|---:|---:|")
        for what, a, b in (("CPU per request, round-robin over every object (µs)", small, large),
                           ("CPU per request, one object (µs)", small_hot, large_hot)):
            a, b = med(a, "cpu_us_per_req"), med(b, "cpu_us_per_req")
            row(what, a, b, ratio=b / a)
        a, b = med(small, "rps"), med(large, "rps")
        row("throughput, round-robin over every object (req/s)", a, b, "{:,.0f}", b / a)
        print(f"\nnginx again at the end (noise check): {nginx_after[0]['rps']:,.0f} req/s, "
              f"{nginx_after[0]['cpu_us_per_req']:.1f} µs CPU/req")
        (tmp / "raw.json").write_text(json.dumps({
            "mode": "front-proxy" if cluster else "no-cluster", "loadavg": loadavg,
            "auth_counters": counters if cluster else None, "saturation": sat,
            "fixed": fixed, "small": small, "small_hot": small_hot,
            "large": large, "large_hot": large_hot, "nginx_after": nginx_after}))
        print(f"raw runs: {tmp / 'raw.json'}")
    finally:
        if nx:
            nx.stop()
        if ck:
            ck.stop()


if __name__ == "__main__":
    main()
