"""Process tests of the adapter (`ckeda --role=adapter`) without a cluster.

A real `ckeda run` tree on a private table (--shm-name) with every port 0 and a certificate
directory made here with openssl; ScaledObjects and results written with the test-only
shmtool. Clients speak real HTTPS with client certificates from --cert-dir's CA: group
system:masters is authorized without a review (there is no cluster to ask), anyone else fails
closed. Covers discovery, values, error states, selectors, case-insensitive metric names,
authentication, HTTP limits, keep-alive and pipelining, slow clients, a crashed adapter, and
the health port.

Env: CKEDA_BIN = the build directory (ckeda, ckedactl, tests/shmtool).
"""

from __future__ import annotations

import datetime
import http.client
import json
import os
import pathlib
import signal
import socket
import ssl
import subprocess
import time
import uuid

import pytest

BIN = pathlib.Path(os.environ.get("CKEDA_BIN", "build"))
CKEDA = BIN / "ckeda"
CKEDACTL = BIN / "ckedactl"
SHMTOOL = BIN / "tests" / "shmtool"
API = "/apis/external.metrics.k8s.io/v1beta1"
SEL = "?labelSelector=scaledobject.keda.sh%2Fname%3D"
WAIT = 30.0


def wait_for(what, probe, timeout=WAIT, interval=0.05, diag=None):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    more = f"\n{diag()}" if diag else ""
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; last saw {last!r}{more}")


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_ca(d: pathlib.Path, name: str):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.crt"),
            "-subj", f"/CN={name}", "-days", "2")


def make_leaf(d: pathlib.Path, ca: str, name: str, subj: str, ext: str):
    (d / f"{name}.ext").write_text(ext + "\n")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.csr"), "-subj", subj)
    openssl("x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(d / f"{ca}.crt"),
            "-CAkey", str(d / f"{ca}.key"), "-CAcreateserial", "-out", str(d / f"{name}.crt"),
            "-days", "2", "-extfile", str(d / f"{name}.ext"))


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    make_ca(d, "ca")
    make_ca(d, "other-ca")
    make_leaf(d, "ca", "tls", "/CN=localhost",
              "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth")
    make_leaf(d, "ca", "admin", "/O=system:masters/CN=admin", "extendedKeyUsage=clientAuth")
    make_leaf(d, "ca", "someone", "/O=developers/CN=someone", "extendedKeyUsage=clientAuth")
    make_leaf(d, "other-ca", "stranger", "/O=system:masters/CN=stranger",
              "extendedKeyUsage=clientAuth")
    cert_dir = d / "serving"
    cert_dir.mkdir()
    for src, dst in (("tls.crt", "tls.crt"), ("tls.key", "tls.key"), ("ca.crt", "ca.crt")):
        (cert_dir / dst).write_bytes((d / src).read_bytes())
    return d


class Tree:
    def __init__(self, certs: pathlib.Path, home: pathlib.Path, args=()):
        self.certs = certs
        self.shm = f"ckeda-adp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        env = {k: v for k, v in os.environ.items()
               if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")}
        env["HOME"] = str(home)  # no ~/.kube/config: the adapter runs without a cluster
        self.log = open(home / "ckeda.log", "w+")
        self.proc = subprocess.Popen(
            [str(CKEDA), "run", "--shm-name", self.shm, "--secure-port", "0", "--webhook-port",
             "0", "--metrics-port", "0", "--health-port", "0", "--cert-dir",
             str(certs / "serving"), *args],
            env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.ports = wait_for("the bound ports", self._ports)
        wait_for("the adapter to answer", lambda: self.try_status("/livez") == 200)

    def _ports(self):
        r = subprocess.run([str(CKEDACTL), "--shm-name", self.shm, "-o", "json", "status"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            return None
        ports = json.loads(r.stdout)["ports"]
        return ports if ports["secure"] else None

    def context(self, who="admin"):
        ctx = ssl.create_default_context(cafile=str(self.certs / "ca.crt"))
        if who:
            ctx.load_cert_chain(str(self.certs / f"{who}.crt"), str(self.certs / f"{who}.key"))
        return ctx

    def connect(self, who="admin", timeout=10):
        return http.client.HTTPSConnection("127.0.0.1", self.ports["secure"], timeout=timeout,
                                           context=self.context(who))

    def get(self, path, who="admin", method="GET", headers=None, body=None):
        conn = self.connect(who)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def try_status(self, path):
        try:
            return self.get(path)[0]
        except OSError:
            return None

    def tls_socket(self, who="admin"):
        raw = socket.create_connection(("127.0.0.1", self.ports["secure"]), timeout=10)
        return self.context(who).wrap_socket(raw, server_hostname="127.0.0.1")

    def shmtool(self, *args):
        r = subprocess.run([str(SHMTOOL), "--shm-name", self.shm, *args], capture_output=True,
                           text=True, check=True)
        return r.stdout.split()

    def adapter_pids(self):
        r = subprocess.run([str(CKEDACTL), "--shm-name", self.shm, "-o", "json", "workers"],
                           capture_output=True, text=True, check=True)
        return [p["pid"] for p in json.loads(r.stdout)["processes"]
                if p["role"] == "adapter" and p["state"] == "running" and p["pid"] > 0]

    def adapter_pid(self):
        r = subprocess.run([str(CKEDACTL), "--shm-name", self.shm, "-o", "json", "workers"],
                           capture_output=True, text=True, check=True)
        for p in json.loads(r.stdout)["processes"]:
            if p["role"] == "adapter" and p["state"] == "running" and p["pid"] > 0:
                return p["pid"]
        return None

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture(scope="module")
def tree(certs, tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    t = Tree(certs, home)
    yield t
    t.stop()
    # The adapter stopped cleanly when asked (under ASan: with no leak or error report).
    log = (home / "ckeda.log").read_text()
    assert "adapter/0: stopping -> empty: exited 0" in log, log[-3000:]


def value_path(ns, metric, so):
    return f"{API}/namespaces/{ns}/{metric}{SEL}{so}"


def add_object(tree, ns, name, trigger="ckeda-test,value=2,usecached=1", extra=()):
    """A ScaledObject with one trigger whose value is 2, as its worker publishes it. The
    worker polls once at once, then hourly; its first poll is awaited (briefly) so that it
    cannot land after, and overwrite, a result the test writes itself. extra: more shmtool
    add options (--fallback ...)."""
    slot = tree.shmtool("add", f"{ns}/{name}", "--polling-interval", "3600", *extra,
                        "--trigger", trigger)[0]

    def polled():
        r = subprocess.run([str(CKEDACTL), "--shm-name", tree.shm, "-o", "json", "get",
                            f"{ns}/{name}"], capture_output=True, text=True)
        return r.returncode == 0 and json.loads(r.stdout)["triggers"][0]["value"] is not None

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not polled():
        time.sleep(0.05)
    tree.shmtool("result", slot, "2")  # what the worker publishes, should it not have yet
    return slot, f"s0-ckeda-test-{name}"


def served(tree, path):
    status, body = tree.get(path)
    return status, json.loads(body)


def wait_served(tree, path, status=200):
    """Waits until path answers status (a worker's first result takes a moment)."""
    def diag():
        r = subprocess.run([str(CKEDACTL), "--shm-name", tree.shm, "triggers"],
                           capture_output=True, text=True)
        return f"{served(tree, path)}\n{r.stdout}"
    wait_for(f"{path} to answer {status}", lambda: served(tree, path)[0] == status, diag=diag)


def test_discovery_documents(tree):
    status, doc = served(tree, API)
    assert status == 200
    assert doc["kind"] == "APIResourceList"
    assert doc["groupVersion"] == "external.metrics.k8s.io/v1beta1"
    assert doc["resources"][0]["name"] == "externalmetrics"
    assert doc["resources"][0]["namespaced"] is True
    status, doc = served(tree, "/apis")
    assert status == 200 and doc["kind"] == "APIGroupList"
    assert doc["groups"][0]["preferredVersion"]["groupVersion"] == "external.metrics.k8s.io/v1beta1"
    status, doc = served(tree, "/apis/external.metrics.k8s.io")
    assert status == 200 and doc["kind"] == "APIGroup"


def test_value_comes_from_the_table(tree):
    slot, metric = add_object(tree, "apps", "orders")
    path = value_path("apps", metric, "orders")
    wait_served(tree, path)
    tree.shmtool("result", slot, "1.5")  # as a worker would publish it
    status, doc = served(tree, path)
    assert status == 200, doc
    assert doc["kind"] == "ExternalMetricValueList"
    assert doc["apiVersion"] == "external.metrics.k8s.io/v1beta1"
    item = doc["items"][0]
    assert item == {"metricName": metric, "metricLabels": None,
                    "timestamp": item["timestamp"], "value": "1500m"}
    measured = datetime.datetime.strptime(item["timestamp"], "%Y-%m-%dT%H:%M:%SZ")
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    assert abs((now - measured).total_seconds()) < 10
    tree.shmtool("result", slot, "2000000")
    assert served(tree, path)[1]["items"][0]["value"] == "2M"


def test_metric_name_is_case_insensitive(tree):
    slot, metric = add_object(tree, "apps", "Mixed")
    wait_served(tree, value_path("apps", metric, "Mixed"))
    status, doc = served(tree, value_path("apps", metric.upper(), "Mixed"))
    assert status == 200
    assert doc["items"][0]["metricName"] == metric.upper()  # named as asked, like KEDA
    assert doc["items"][0]["value"] == "2"


def test_error_state_is_an_error_status_never_the_old_value(tree):
    slot, metric = add_object(tree, "apps", "flaky")
    path = value_path("apps", metric, "flaky")
    wait_served(tree, path)
    tree.shmtool("result", slot, "--error", "connection refused")
    status, doc = served(tree, path)
    assert status == 500
    assert doc["kind"] == "Status" and doc["status"] == "Failure" and doc["code"] == 500
    assert doc["reason"] == "InternalError"
    assert f"metric:{metric} encountered error" in doc["message"]
    assert "connection refused" in doc["message"]
    assert "items" not in doc
    # back to a value once the source answers again
    tree.shmtool("result", slot, "7")
    assert served(tree, path)[1]["items"][0]["value"] == "7"



def fail(tree, slot, times):
    for _ in range(times):
        tree.shmtool("result", slot, "--error", "connection refused")


def test_fallback_replaces_the_error_after_the_threshold(tree):
    """KEDA's fallback (keda.md 1.11): more than failureThreshold source failures in a row
    answer target x fallback.replicas, timestamped now; a success answers the value again."""
    slot, metric = add_object(tree, "apps", "fb-static",
                              "ckeda-test,value=2,usecached=1,target=3",
                              extra=("--fallback", "2:5"))
    path = value_path("apps", metric, "fb-static")
    wait_served(tree, path)
    fail(tree, slot, 2)  # two failures: not more than the threshold yet
    status, doc = served(tree, path)
    assert status == 500 and f"metric:{metric} encountered error" in doc["message"], doc
    fail(tree, slot, 1)
    status, doc = served(tree, path)
    assert status == 200, doc
    item = doc["items"][0]
    assert item["metricName"] == metric and item["value"] == "15"  # 3 x 5
    stamp = datetime.datetime.strptime(item["timestamp"], "%Y-%m-%dT%H:%M:%SZ")
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    assert abs((now - stamp).total_seconds()) < 10
    fail(tree, slot, 3)
    assert served(tree, path)[1]["items"][0]["value"] == "15"
    tree.shmtool("result", slot, "7")  # the source answers again
    assert served(tree, path)[1]["items"][0]["value"] == "7"
    fail(tree, slot, 1)  # the count starts again after a success
    assert served(tree, path)[0] == 500


def test_fallback_current_replicas_uses_the_observed_count(tree):
    slot, metric = add_object(tree, "apps", "fb-current",
                              "ckeda-test,value=2,usecached=1,target=4",
                              extra=("--fallback", "0:2:currentReplicasIfHigher"))
    path = value_path("apps", metric, "fb-current")
    wait_served(tree, path)
    fail(tree, slot, 1)
    status, doc = served(tree, path)  # the current count is unknown: the error, as KEDA
    assert status == 500 and "connection refused" in doc["message"], doc
    tree.shmtool("observed", "apps/fb-current", "6", "6", "6")
    assert served(tree, path)[1]["items"][0]["value"] == "24"  # 4 x max(6, 2)
    tree.shmtool("observed", "apps/fb-current", "1", "1", "1")
    assert served(tree, path)[1]["items"][0]["value"] == "8"  # 4 x max(1, 2)


def test_fallback_value_target_divides_by_ready_replicas(tree):
    slot, metric = add_object(tree, "apps", "fb-value",
                              "ckeda-test,value=2,usecached=1,target=10,metrictype=Value",
                              extra=("--fallback", "0:6"))
    path = value_path("apps", metric, "fb-value")
    wait_served(tree, path)
    tree.shmtool("observed", "apps/fb-value", "4", "4", "3")
    fail(tree, slot, 1)
    assert served(tree, path)[1]["items"][0]["value"] == "20"  # 10 x 6 / 3 ready
    tree.shmtool("observed", "apps/fb-value", "4", "4", "0")
    assert served(tree, path)[0] == 500  # no ready pod: KEDA cannot fall back either


def test_selector_and_lookup_errors(tree):
    _, metric = add_object(tree, "apps", "sel")
    status, doc = served(tree, f"{API}/namespaces/apps/{metric}")
    assert (status, doc["reason"]) == (400, "BadRequest")
    assert doc["message"] == "scaledObject name is not specified"
    status, doc = served(tree, f"{API}/namespaces/apps/{metric}?labelSelector=a%20in%20(b")
    assert status == 400 and "labelSelector" in doc["message"]
    status, doc = served(tree, f"{API}/namespaces/apps/{metric}?labelSelector=other%3Dx")
    assert status == 400
    status, doc = served(tree, value_path("apps", metric, "missing"))
    assert (status, doc["reason"]) == (404, "NotFound")
    assert doc["details"] == {"name": "missing", "group": "keda.sh", "kind": "scaledobjects"}
    status, doc = served(tree, value_path("apps", "s9-nothing", "sel"))
    assert status == 404 and doc["message"] == "no matching metrics found for s9-nothing"
    status, doc = served(tree, value_path("other-ns", metric, "sel"))
    assert status == 404
    # set-based selectors are understood too
    status, _ = served(tree, f"{API}/namespaces/apps/{metric}?labelSelector="
                             "scaledobject.keda.sh%2Fname%20in%20(sel),x!%3Dy")
    assert status in (200, 503)  # 503 until the worker's first result


def test_authentication_and_authorization(tree):
    _, metric = add_object(tree, "apps", "authz")
    path = value_path("apps", metric, "authz")
    for who in (None, "stranger"):  # no certificate; a certificate of another CA
        status, body = tree.get(path, who=who)
        doc = json.loads(body)
        assert (status, doc["reason"], doc["code"]) == (401, "Unauthorized", 401)
        assert tree.get(API, who=who)[0] == 401
    # headers of a front proxy are ignored from anyone who is not the front proxy
    status, _ = tree.get(path, who=None, headers={"X-Remote-User": "admin",
                                                   "X-Remote-Group": "system:masters"})
    assert status == 401
    # authenticated but not system:masters: no cluster to ask, so it fails closed
    status, body = tree.get(path, who="someone")
    doc = json.loads(body)
    assert (status, doc["reason"]) == (403, "Forbidden")
    assert 'User "someone" cannot list resource' in doc["message"]
    assert tree.get(API, who="someone")[0] == 200  # discovery needs authentication only
    assert tree.get("/healthz", who=None)[0] == 200  # health needs nothing


def test_http_errors(tree):
    assert tree.get(API, method="POST", body=b"")[0] == 405
    assert tree.get("/nope")[0] == 404
    assert tree.get(f"{API}/namespaces/a")[0] == 404
    assert tree.get(API, headers={"X-Big": "a" * 20000})[0] == 431
    status, _ = tree.get(API, method="GET", body=b"hello")
    assert status == 413
    for raw in (b"GET /apis HTTP/1.1\r\n\r\n",  # no Host
                b"GET  /apis HTTP/1.1\r\nHost: x\r\n\r\n",
                b"GET /apis HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n"):
        s = tree.tls_socket()
        s.sendall(raw)
        head = s.recv(4096)
        assert head.startswith(b"HTTP/1.1 400 "), head
        assert b"Connection: close" in head
        s.close()
    s = tree.tls_socket()
    s.sendall(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n")
    assert s.recv(4096).startswith(b"HTTP/1.1 414 ")
    s.close()


def test_keep_alive_and_pipelining(tree):
    _, metric = add_object(tree, "apps", "keepalive")
    path = value_path("apps", metric, "keepalive")
    wait_served(tree, path)
    conn = tree.connect()
    conn.request("GET", path)
    conn.getresponse().read()
    first = conn.sock
    for _ in range(20):
        conn.request("GET", path)
        resp = conn.getresponse()
        assert resp.status == 200
        assert json.loads(resp.read())["items"][0]["value"] == "2"
        assert conn.sock is first  # the same connection every time
    conn.close()
    # two requests in one write: two responses, in order
    s = tree.tls_socket()
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"
               f"GET {API} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").encode())
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    assert data.count(b"HTTP/1.1 200 OK") == 2
    assert data.index(b"ExternalMetricValueList") < data.index(b"APIResourceList")


def test_slow_clients_do_not_block_others(tree):
    slow = []
    for _ in range(5):  # half a request head, then silence
        s = tree.tls_socket()
        s.sendall(b"GET /apis HTTP/1.1\r\nHost:")
        slow.append(s)
    silent = socket.create_connection(("127.0.0.1", tree.ports["secure"]))  # no handshake
    start = time.monotonic()
    for _ in range(10):
        assert tree.get(API)[0] == 200
    assert time.monotonic() - start < 5
    # the slow ones are cut off after the head timeout (10 s), not served forever
    for s in slow:
        s.settimeout(20)
        assert s.recv(4096) == b""
    silent.settimeout(20)
    assert silent.recv(4096) == b""
    for s in slow + [silent]:
        s.close()


def test_adapter_crash_next_connection_is_served(tree):
    conn = tree.connect()
    conn.request("GET", API)
    assert conn.getresponse().status == 200
    old = tree.adapter_pid()
    assert old
    os.kill(old, signal.SIGKILL)
    # a connection opened while no adapter runs waits in the listen queue for the restart
    fresh = tree.connect()
    fresh.request("GET", API)
    resp = fresh.getresponse()
    assert resp.status == 200
    assert json.loads(resp.read())["kind"] == "APIResourceList"
    fresh.close()
    new = wait_for("the restarted adapter", lambda: (p := tree.adapter_pid()) != old and p)
    assert new != old
    # the kept-alive connection of the dead adapter is gone; clients reconnect
    with pytest.raises((OSError, http.client.HTTPException)):
        conn.request("GET", API)
        conn.getresponse().read()
    conn.close()


def test_two_adapters_one_killed_loses_no_queued_connection(certs, tmp_path):
    """Two adapters on the inherited socket (EPOLLEXCLUSIVE): connections queued in the listen
    backlog while both are stopped are all served after one of them is killed."""
    t = Tree(certs, tmp_path, args=("--adapters", "2"))
    pids = []
    try:
        pids = wait_for("two adapters", lambda: len(p := t.adapter_pids()) == 2 and p)
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        queued = [socket.create_connection(("127.0.0.1", t.ports["secure"]), timeout=20)
                  for _ in range(16)]  # the kernel completes the TCP handshakes: queued
        os.kill(pids[0], signal.SIGKILL)
        os.kill(pids[1], signal.SIGCONT)
        for raw in queued:
            tls = t.context().wrap_socket(raw, server_hostname="127.0.0.1")
            tls.sendall(f"GET {API} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                        .encode())
            head = tls.recv(64)
            assert head.startswith(b"HTTP/1.1 200"), head
            tls.close()
    finally:
        for pid in pids[1:]:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        t.stop()


def test_health_and_metrics_ports(tree):
    def plain(port, path):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.read().decode()
        finally:
            c.close()

    health = tree.ports["health"]
    assert plain(health, "/healthz") == (200, "ok")
    assert plain(health, "/livez") == (200, "ok")
    status, body = plain(health, "/readyz")  # no watcher has synced in this tree
    assert status == 500
    assert "[-]watcher-synced failed" in body
    assert "[+]supervisor-heartbeat ok" in body and "[+]shm-table ok" in body
    assert plain(health, "/apis")[0] == 404  # the API is not on the health port
    assert plain(tree.ports["metrics"], "/metrics")[0] == 200  # test_adapter_metrics.py
    assert plain(tree.ports["metrics"], "/healthz")[0] == 404
    status, _ = tree.get("/readyz", who=None)  # also on the secure port, unauthenticated
    assert status == 500


def test_bearer_token_without_a_cluster_is_401(tree):
    """Bearer tokens are checked with TokenReviews; with no cluster to ask, none is valid.
    Authentication comes first: a valid certificate wins over a token, as in k8s.io/apiserver."""
    _, metric = add_object(tree, "apps", "bearer")
    path = value_path("apps", metric, "bearer")
    for p in (path, API):
        status, body = tree.get(p, who=None, headers={"Authorization": "Bearer abc.def.ghi"})
        doc = json.loads(body)
        assert (status, doc["reason"], doc["code"]) == (401, "Unauthorized", 401)
    status, _ = tree.get(API, who="admin", headers={"Authorization": "Bearer abc.def.ghi"})
    assert status == 200
    assert "abc.def.ghi" not in pathlib.Path(tree.log.name).read_text()  # never logged


def test_forged_front_proxy_headers_from_a_client_certificate_are_ignored(tree):
    """Only the front proxy's certificate makes X-Remote-* headers count: a client certificate
    that claims to be someone else in them is still itself."""
    _, metric = add_object(tree, "apps", "forged")
    path = value_path("apps", metric, "forged")
    status, body = tree.get(path, who="someone", headers={"X-Remote-User": "admin",
                                                           "X-Remote-Group": "system:masters"})
    doc = json.loads(body)
    assert (status, doc["reason"]) == (403, "Forbidden")
    assert 'User "someone" cannot list resource' in doc["message"]


def test_old_tls_versions_are_refused(tree):
    for version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        try:
            ctx.minimum_version = version
            ctx.maximum_version = version
            ctx.set_ciphers("ALL:@SECLEVEL=0")
        except (ValueError, ssl.SSLError):
            continue  # this OpenSSL cannot even offer it: nothing to test
        with socket.create_connection(("127.0.0.1", tree.ports["secure"]), timeout=10) as raw:
            with pytest.raises(ssl.SSLError) as e:
                ctx.wrap_socket(raw, server_hostname="127.0.0.1").close()
            assert "PROTOCOL_VERSION" in str(e.value), e.value  # the server's alert
    # and TLS 1.2 is enough
    ctx = tree.context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", tree.ports["secure"]), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            assert s.version() == "TLSv1.2"


def test_no_path_is_redirected(tree):
    """Go's ServeMux would answer 301 for an unclean path; the adapter never redirects: a path
    it does not serve exactly is 404."""
    _, metric = add_object(tree, "apps", "paths")
    for path in (API + "/", "/apis/", "/apis/external.metrics.k8s.io/", "//apis",
                 "/apis/./external.metrics.k8s.io/v1beta1",
                 "/apis/x/../external.metrics.k8s.io/v1beta1",
                 "/apis/%2e%2e/apis/external.metrics.k8s.io/v1beta1",
                 f"{API}/namespaces/apps/{metric}/" + SEL + "paths",
                 f"{API}/namespaces/apps/../apps/{metric}" + SEL + "paths",
                 "/healthz/", "/metrics"):
        s = tree.tls_socket()
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        head = s.recv(4096)
        s.close()
        assert head.startswith(b"HTTP/1.1 404 "), (path, head)
        assert b"\r\nLocation:" not in head, (path, head)


def test_insecure_skip_authorizes_every_authenticated_client(certs, tmp_path):
    t = Tree(certs, tmp_path, args=("--authorization-insecure-skip",))
    try:
        _, metric = add_object(t, "apps", "open")
        path = value_path("apps", metric, "open")
        wait_served(t, path)
        status, body = t.get(path, who="someone")  # not system:masters, no review
        assert status == 200 and json.loads(body)["items"][0]["value"] == "2"
        # authentication is never skipped
        assert t.get(path, who=None)[0] == 401
        assert t.get(path, who="stranger")[0] == 401
        assert t.get(path, who=None, headers={"Authorization": "Bearer x"})[0] == 401
        log = (tmp_path / "ckeda.log").read_text()
        assert "INSECURE: authorization is disabled" in log
        assert "open to every authenticated client" in log
    finally:
        t.stop()


def test_max_connections_pauses_accepting(certs, tmp_path):
    """Past --max-connections the adapter stops accepting (the kernel queues the rest) and
    takes the next one as soon as one closes."""
    t = Tree(certs, tmp_path, args=("--max-connections", "2"))
    try:
        held = [t.tls_socket(), t.tls_socket()]
        for s in held:  # both accepted and served
            s.sendall(f"GET {API} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert s.recv(64).startswith(b"HTTP/1.1 200")
        raw = socket.create_connection(("127.0.0.1", t.ports["secure"]), timeout=1.5)
        queued = t.context().wrap_socket(raw, server_hostname="127.0.0.1",
                                         do_handshake_on_connect=False)
        with pytest.raises((socket.timeout, TimeoutError)):  # queued in the kernel only
            queued.do_handshake()
        held[0].close()
        queued.settimeout(10)
        queued.do_handshake()  # accepted once one closed
        queued.sendall(f"GET {API} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        assert queued.recv(64).startswith(b"HTTP/1.1 200")
        queued.close()
        held[1].close()
        log = (tmp_path / "ckeda.log").read_text()
        assert "2 connections: not accepting more until some close" in log
        wait_for("a new connection served", lambda: t.try_status(API) == 200)
    finally:
        t.stop()
