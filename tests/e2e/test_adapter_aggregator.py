"""End-to-end: ckeda's adapter behind the real kube-apiserver aggregator.

`tests/e2e/cluster.sh up` gives the control plane; its APIService
v1beta1.external.metrics.k8s.io points at 127.0.0.1:$CKEDA_ADAPTER_PORT. Here a real
`ckeda run --kubeconfig <kc> --secure-port $CKEDA_ADAPTER_PORT --cert-dir <adapter-certs>`
serves it, with ScaledObjects written by the test-only shmtool. Checks: the APIService becomes
Available; `kubectl get --raw` returns the value; the HPA's service account is authorized by
the adapter's SubjectAccessReview; a user without the reader role is refused (403) by the
aggregator, and by the adapter itself when the front proxy vouches for them; a direct request
without the front proxy's certificate gets 401. Nothing is skipped; ckeda is stopped at the
end so the port is free again.

Env: CKEDA_BIN = the build directory. Run: python3 -m pytest tests/e2e/test_adapter_aggregator.py
"""

from __future__ import annotations

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

HERE = pathlib.Path(__file__).resolve().parent
BIN = pathlib.Path(os.environ.get("CKEDA_BIN", HERE.parent.parent / "build"))
PORT = int(os.environ.get("CKEDA_ADAPTER_PORT", "7443"))
API = "/apis/external.metrics.k8s.io/v1beta1"
HPA_USER = "system:serviceaccount:kube-system:horizontal-pod-autoscaler"
WAIT = 120.0


def wait_for(what, probe, timeout=WAIT, interval=0.25):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; last saw {last!r}")


@pytest.fixture(scope="module")
def cluster():
    r = subprocess.run([str(HERE / "cluster.sh"), "up"], capture_output=True, text=True,
                       timeout=float(os.environ.get("CKEDA_E2E_UP_TIMEOUT", "3600")))
    if r.returncode != 0:
        pytest.fail(f"cluster.sh up failed ({r.returncode}):\n{r.stderr[-4000:]}")
    kubeconfig = pathlib.Path(r.stdout.strip().splitlines()[-1])
    state = kubeconfig.parent
    env = dict(line.split("=", 1) for line in (state / "cluster.env").read_text().splitlines()
               if "=" in line)
    return {"kubeconfig": kubeconfig, "state": state, "kubectl": pathlib.Path(env["BIN_DIR"]) /
            "kubectl"}


def kubectl(cluster, *args, check=True):
    r = subprocess.run([str(cluster["kubectl"]), "--kubeconfig", str(cluster["kubeconfig"]),
                        *args], capture_output=True, text=True, timeout=60)
    if check and r.returncode != 0:
        pytest.fail(f"kubectl {' '.join(args)} failed: {r.stderr.strip()}")
    return r


def port_busy(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def ckeda(cluster, tmp_path_factory):
    if port_busy(PORT):
        pytest.fail(f"port {PORT} is in use: another adapter is running; stop it first")
    shm = f"ckeda-e2e-adp-{uuid.uuid4().hex[:8]}"
    log_path = tmp_path_factory.mktemp("ckeda") / "ckeda.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [str(BIN / "ckeda"), "run", "--kubeconfig", str(cluster["kubeconfig"]), "--shm-name", shm,
         "--leader-elect=false", "--secure-port", str(PORT), "--webhook-port", "0", "--metrics-port", "0",
         "--health-port", "0", "--cert-dir", str(cluster["state"] / "adapter-certs")],
        stdout=log, stderr=subprocess.STDOUT)
    wait_for("ckeda to listen", lambda: port_busy(PORT) or proc.poll() is not None, timeout=30)
    assert proc.poll() is None, log_path.read_text()
    yield {"shm": shm, "proc": proc, "log": log_path}
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()
    assert not port_busy(PORT)


def shmtool(ckeda, *args):
    return subprocess.run([str(BIN / "tests" / "shmtool"), "--shm-name", ckeda["shm"], *args],
                          capture_output=True, text=True, check=True).stdout.split()


@pytest.fixture(scope="module")
def metric(ckeda):
    """default/e2e-so with one trigger whose value is 3.25; returns the value path."""
    slot = shmtool(ckeda, "add", "default/e2e-so", "--polling-interval", "3600", "--trigger",
                   "ckeda-test,value=3.25,usecached=1")[0]
    time.sleep(0.5)  # the worker's own first poll publishes the same value
    shmtool(ckeda, "result", slot, "3.25")
    return f"{API}/namespaces/default/s0-ckeda-test-e2e-so?labelSelector=" \
           "scaledobject.keda.sh%2Fname%3De2e-so"


def available(cluster):
    r = kubectl(cluster, "get", "apiservice", "v1beta1.external.metrics.k8s.io", "-o", "json")
    conds = json.loads(r.stdout).get("status", {}).get("conditions", [])
    return any(c["type"] == "Available" and c["status"] == "True" for c in conds)


def test_apiservice_becomes_available(cluster, ckeda):
    wait_for("the APIService to be Available", lambda: available(cluster))


def test_value_through_the_aggregator(cluster, ckeda, metric):
    wait_for("the APIService to be Available", lambda: available(cluster))
    doc = json.loads(wait_for("the value", lambda: kubectl(cluster, "get", "--raw", metric,
                                                           check=False).stdout))
    assert doc["kind"] == "ExternalMetricValueList"
    assert doc["items"][0]["value"] == "3250m"
    assert doc["items"][0]["metricName"] == "s0-ckeda-test-e2e-so"
    r = kubectl(cluster, "get", "--raw", API)
    assert json.loads(r.stdout)["resources"][0]["name"] == "externalmetrics"


def test_hpa_identity_is_authorized_by_review(cluster, ckeda, metric):
    wait_for("the APIService to be Available", lambda: available(cluster))
    r = kubectl(cluster, "get", "--raw", metric, "--as", HPA_USER, "--as-group",
                "system:serviceaccounts")
    assert json.loads(r.stdout)["items"][0]["value"] == "3250m"


def test_user_without_reader_role_is_forbidden(cluster, ckeda, metric):
    wait_for("the APIService to be Available", lambda: available(cluster))
    r = kubectl(cluster, "get", "--raw", metric, "--as", "someone", check=False)
    assert r.returncode != 0
    assert "Forbidden" in r.stderr and 'User "someone" cannot list resource' in r.stderr


def front_proxy_context(cluster, with_cert=True):
    ctx = ssl.create_default_context(cafile=str(cluster["state"] / "adapter-certs" / "ca.crt"))
    if with_cert:
        pki = cluster["state"] / "pki"
        ctx.load_cert_chain(str(pki / "front-proxy-client.crt"),
                            str(pki / "front-proxy-client.key"))
    return ctx


def direct(cluster, path, headers, with_cert=True):
    conn = http.client.HTTPSConnection("127.0.0.1", PORT, timeout=15,
                                       context=front_proxy_context(cluster, with_cert))
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def test_adapter_reviews_what_the_front_proxy_asserts(cluster, ckeda, metric):
    """The adapter's own delegated authorization, without the aggregator's check in front."""
    wait_for("the front-proxy configuration", lambda: direct(
        cluster, API, {"X-Remote-User": "someone"})[0] == 200)
    status, doc = direct(cluster, metric, {"X-Remote-User": "someone",
                                           "X-Remote-Group": "system:authenticated"})
    assert (status, doc["reason"]) == (403, "Forbidden")
    assert 'User "someone" cannot list resource "s0-ckeda-test-e2e-so"' in doc["message"]
    status, doc = direct(cluster, metric, {"X-Remote-User": HPA_USER,
                                           "X-Remote-Group": "system:serviceaccounts"})
    assert status == 200 and doc["items"][0]["value"] == "3250m"


def test_direct_request_without_front_proxy_certificate_is_401(cluster, ckeda, metric):
    for path in (metric, API):
        status, doc = direct(cluster, path, {"X-Remote-User": "admin",
                                             "X-Remote-Group": "system:masters"},
                             with_cert=False)
        assert (status, doc["reason"], doc["code"]) == (401, "Unauthorized", 401)


def metrics_port(ckeda):
    r = subprocess.run([str(BIN / "ckedactl"), "--shm-name", ckeda["shm"], "-o", "json",
                        "status"], capture_output=True, text=True, check=True)
    return json.loads(r.stdout)["ports"]["metrics"]


def adapter_counters(ckeda):
    conn = http.client.HTTPConnection("127.0.0.1", metrics_port(ckeda), timeout=10)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    out = {}
    for line in text.splitlines():
        if line.startswith(("ckeda_adapter_token_reviews_total", "ckeda_adapter_authorization")):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


@pytest.fixture(scope="module")
def service_accounts(cluster):
    """Two service accounts in default: one bound to the metrics reader role KEDA ships
    (deploy/test-bed/hpa-external-metrics-rbac.yaml), one not. Removed at the end."""
    suffix = uuid.uuid4().hex[:6]
    reader, nobody = f"ckeda-e2e-reader-{suffix}", f"ckeda-e2e-nobody-{suffix}"
    binding = f"ckeda-e2e-reader-{suffix}"
    for sa in (reader, nobody):
        kubectl(cluster, "create", "serviceaccount", sa, "-n", "default")
    kubectl(cluster, "create", "clusterrolebinding", binding,
            "--clusterrole=keda-external-metrics-reader", f"--serviceaccount=default:{reader}")
    tokens = {sa: kubectl(cluster, "create", "token", sa, "-n", "default",
                          "--duration=10m").stdout.strip() for sa in (reader, nobody)}
    yield {"reader": tokens[reader], "nobody": tokens[nobody],
           "reader_user": f"system:serviceaccount:default:{reader}",
           "nobody_user": f"system:serviceaccount:default:{nobody}"}
    kubectl(cluster, "delete", "clusterrolebinding", binding, "--ignore-not-found", check=False)
    kubectl(cluster, "delete", "serviceaccount", reader, nobody, "-n", "default",
            "--ignore-not-found", check=False)


def test_bearer_tokens_are_checked_with_token_reviews(cluster, ckeda, metric, service_accounts):
    """A client with a service-account token calls the adapter directly (no front proxy, no
    client certificate): the adapter asks the API server who it is (TokenReview), then whether
    it may read the metric (SubjectAccessReview)."""
    sa = service_accounts
    wait_for("the APIService to be Available", lambda: available(cluster))
    before = adapter_counters(ckeda)

    def bearer(token, path=metric):
        return direct(cluster, path, {"Authorization": f"Bearer {token}"}, with_cert=False)

    status, doc = bearer(sa["reader"])
    assert status == 200, doc
    assert doc["items"][0]["value"] == "3250m"
    status, doc = bearer(sa["reader"])  # the token's and the decision's answers are cached
    assert status == 200, doc
    status, doc = bearer(sa["nobody"])  # a valid token without the reader role
    assert (status, doc["reason"]) == (403, "Forbidden"), doc
    assert f'User "{sa["nobody_user"]}" cannot list resource' in doc["message"]
    assert bearer(sa["nobody"], API)[0] == 200  # discovery needs authentication only
    for garbage in ("not-a-token", sa["reader"][:-4] + "AAAA"):
        status, doc = bearer(garbage)
        assert (status, doc["reason"], doc["code"]) == (401, "Unauthorized", 401), doc

    after = adapter_counters(ckeda)

    def grew(name, by):
        return after.get(name, 0) - before.get(name, 0) >= by
    assert grew('ckeda_adapter_token_reviews_total{result="authenticated"}', 2), after
    assert grew('ckeda_adapter_token_reviews_total{result="unauthenticated"}', 2), after
    assert grew("ckeda_adapter_authorization_cache_misses_total", 2), after
    assert grew("ckeda_adapter_authorization_cache_hits_total", 1), after
    # the tokens are never written to the log
    log = ckeda["log"].read_text()
    assert sa["reader"] not in log and sa["nobody"] not in log
