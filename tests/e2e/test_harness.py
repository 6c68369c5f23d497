"""End-to-end checks of the test control plane itself (tests/e2e/cluster.sh).

Before ckeda serves anything, these prove the chain ckeda will rely on, with
the test-only stand-in adapter from fake_metrics_server.py:
  * `cluster.sh up` gives a working kube-apiserver v1.34.4 and is idempotent;
  * the external metrics APIService becomes Available, and the aggregator
    reaches the adapter on 127.0.0.1 with the front proxy's identity;
  * the real HPA controller, as its own service account, reads an external
    metric and scales a Deployment (pods stay Pending: there are no nodes);
  * the keda-admission webhooks reach 127.0.0.1:$CKEDA_WEBHOOK_PORT with the
    adapter certificate, and admit objects while nothing listens there;
  * a second cluster is refused on a port in use and leaves nothing running.

The cluster is reused when already up and left running afterwards
(`tests/e2e/cluster.sh down` stops it). A cluster that cannot be started or
reached fails these tests; nothing is skipped.

Run: python3 -m pytest tests/e2e/test_harness.py -v
"""

from __future__ import annotations

import http.server
import json
import os
import pathlib
import ssl
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass

import pytest

from fake_metrics_server import FakeExternalMetricsServer

HERE = pathlib.Path(__file__).resolve().parent
CLUSTER_SH = HERE / "cluster.sh"
K8S_VERSION = "v1.34.4"
# A cold `up` builds the control plane first (20-30 minutes on 2 cores).
UP_TIMEOUT = float(os.environ.get("CKEDA_E2E_UP_TIMEOUT", "3600"))
WAIT = 120.0  # seconds allowed for anything the cluster does on its own
METRICS_API = "/apis/external.metrics.k8s.io/v1beta1"
HPA_USER = "system:serviceaccount:kube-system:horizontal-pod-autoscaler"


def wait_for(what: str, probe, timeout: float = WAIT, interval: float = 0.25):
    """Poll PROBE until it returns a truthy value; fail after TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; last saw {last!r}")
        time.sleep(interval)


def run_cluster_sh(command: str, env: dict | None = None, timeout: float = UP_TIMEOUT):
    return subprocess.run(
        [str(CLUSTER_SH), command],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def read_env_file(path: pathlib.Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs}


def our_processes(state_dir: pathlib.Path) -> list[int]:
    """Pids of control-plane processes whose command line names STATE_DIR."""
    found = []
    for proc in pathlib.Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        name = os.path.basename(argv[0].decode(errors="replace"))
        if name in ("etcd", "kube-apiserver", "kube-controller-manager") and any(
            str(state_dir).encode() in arg for arg in argv
        ):
            found.append(int(proc.name))
    return found


@dataclass
class Cluster:
    kubeconfig: pathlib.Path
    state_dir: pathlib.Path
    env: dict[str, str]

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 60):
        result = subprocess.run(
            [os.path.join(self.env["BIN_DIR"], "kubectl"), "--kubeconfig", str(self.kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
        return result

    def get_json(self, *args: str) -> dict:
        return json.loads(self.kubectl("get", "-o", "json", *args).stdout)

    def apply(self, obj: dict) -> None:
        self.kubectl("apply", "-f", "-", stdin=json.dumps(obj))


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    try:
        result = run_cluster_sh("up")
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"cluster.sh up did not finish within {UP_TIMEOUT:.0f}s: {err.stderr}")
    if result.returncode != 0:
        pytest.fail(f"cluster.sh up failed ({result.returncode}):\n{result.stderr[-4000:]}")
    lines = result.stdout.strip().splitlines()
    assert lines, "cluster.sh up printed nothing on stdout"
    kubeconfig = pathlib.Path(lines[-1])
    assert kubeconfig.is_file(), f"the last line of cluster.sh up is not a file: {lines[-1]!r}"
    state_dir = kubeconfig.parent
    return Cluster(kubeconfig, state_dir, read_env_file(state_dir / "cluster.env"))


@pytest.fixture(scope="session")
def adapter(cluster: Cluster, tmp_path_factory) -> FakeExternalMetricsServer:
    """The stand-in adapter, trusting the front proxy exactly as a real
    aggregated API server does: from kube-system/extension-apiserver-authentication."""
    auth = cluster.get_json("-n", "kube-system", "configmap", "extension-apiserver-authentication")
    ca_file = tmp_path_factory.mktemp("requestheader") / "ca.crt"
    ca_file.write_text(auth["data"]["requestheader-client-ca-file"])
    allowed = tuple(json.loads(auth["data"]["requestheader-allowed-names"]))
    port = int(cluster.env["ADAPTER_PORT"])
    try:
        server = FakeExternalMetricsServer(port, cluster.state_dir / "adapter-certs", ca_file, allowed)
    except OSError as err:
        pytest.fail(f"cannot listen on 127.0.0.1:{port} (CKEDA_ADAPTER_PORT) for the fake adapter: {err}")
    with server:
        yield server


@pytest.fixture
def namespace(cluster: Cluster, adapter: FakeExternalMetricsServer):
    """A fresh namespace, deleted without waiting (deletion stalls while an
    APIService is unavailable). It depends on `adapter` so that it is deleted
    while the adapter still answers."""
    name = f"ckeda-e2e-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    wait_for(
        f"service account default in {name}",
        lambda: cluster.kubectl("-n", name, "get", "serviceaccount", "default", check=False).returncode == 0,
    )
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_cluster_runs_kubernetes_1_34(cluster: Cluster):
    versions = json.loads(cluster.kubectl("version", "-o", "json").stdout)
    assert versions["serverVersion"]["gitVersion"] == K8S_VERSION
    assert versions["clientVersion"]["gitVersion"] == K8S_VERSION
    assert run_cluster_sh("status", timeout=60).returncode == 0


def test_up_reuses_a_running_cluster(cluster: Cluster):
    pid_file = cluster.state_dir / "run" / "kube-apiserver.pid"
    pid_before = pid_file.read_text().strip()
    result = run_cluster_sh("up", timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(cluster.kubeconfig)
    assert pid_file.read_text().strip() == pid_before, "up restarted a healthy cluster"


def test_apiservice_becomes_available(cluster: Cluster, adapter: FakeExternalMetricsServer):
    cluster.kubectl(
        "wait", "--for=condition=Available", f"--timeout={WAIT:.0f}s",
        "apiservice/v1beta1.external.metrics.k8s.io", timeout=WAIT + 30,
    )


def test_metrics_api_reaches_adapter_as_front_proxy(
    cluster: Cluster, adapter: FakeExternalMetricsServer, namespace: str
):
    adapter.set_metric(namespace, "s0-fake-queue", "1500m")
    path = f"{METRICS_API}/namespaces/{namespace}/s0-fake-queue"
    cluster.kubectl("wait", "--for=condition=Available", f"--timeout={WAIT:.0f}s",
                    "apiservice/v1beta1.external.metrics.k8s.io", timeout=WAIT + 30)

    body = json.loads(cluster.kubectl("get", "--raw", f"{path}?labelSelector=scaledobject.keda.sh%2Fname%3Dweb").stdout)

    assert body["kind"] == "ExternalMetricValueList"
    assert [item["value"] for item in body["items"]] == ["1500m"]
    seen = [r for r in adapter.requests() if r.path == path]
    assert seen, "the request did not reach the adapter"
    assert seen[-1].client_cn == "front-proxy-client"
    assert seen[-1].user == "kubernetes-admin"
    assert "system:masters" in seen[-1].groups
    assert seen[-1].query.get("labelSelector") == ["scaledobject.keda.sh/name=web"]


def deployment(name: str, namespace: str) -> dict:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                # Never pulled: there are no nodes, the pods stay Pending.
                "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]},
            },
        },
    }


def external_metric_hpa(name: str, namespace: str, metric: str, average_value: str) -> dict:
    """The shape of the HPA KEDA creates for a ScaledObject (AverageValue target)."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": f"keda-hpa-{name}", "namespace": namespace},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": 1,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "External",
                    "external": {
                        "metric": {
                            "name": metric,
                            "selector": {"matchLabels": {"scaledobject.keda.sh/name": name}},
                        },
                        "target": {"type": "AverageValue", "averageValue": average_value},
                    },
                }
            ],
            # Independent of the controller manager's default window (5m upstream).
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 0}},
        },
    }


def test_hpa_controller_scales_deployment_on_external_metric(
    cluster: Cluster, adapter: FakeExternalMetricsServer, namespace: str
):
    metric = "s0-fake-queue-web"
    adapter.set_metric(namespace, metric, "30")
    cluster.apply(deployment("web", namespace))
    cluster.apply(external_metric_hpa("web", namespace, metric, "10"))

    def replicas():
        spec = cluster.get_json("-n", namespace, "deployment", "web")
        return spec["spec"]["replicas"], spec["status"].get("replicas", 0)

    # 30 / AverageValue 10 -> 3 replicas, counted although the pods are Pending.
    wait_for("3 replicas (metric 30, target 10 per pod)", lambda: replicas() == (3, 3))
    hpa = cluster.get_json("-n", namespace, "hpa", "keda-hpa-web")
    conditions = {c["type"]: c for c in hpa["status"]["conditions"]}
    assert conditions["ScalingActive"]["status"] == "True", conditions["ScalingActive"]

    # The HPA controller called the metrics API as its own service account.
    path = f"{METRICS_API}/namespaces/{namespace}/{metric}"
    calls = [r for r in adapter.requests() if r.path == path]
    assert calls and all(r.user == HPA_USER for r in calls), {r.user for r in calls}
    assert calls[-1].client_cn == "front-proxy-client"
    assert calls[-1].query.get("labelSelector") == ["scaledobject.keda.sh/name=web"]

    adapter.set_metric(namespace, metric, "10")
    wait_for("1 replica (metric 10, target 10 per pod)", lambda: replicas() == (1, 1))


class DenyingWebhook:
    """A test-only admission webhook on 127.0.0.1:port that denies everything
    and records the paths it was called on (server TLS only, like KEDA's)."""

    MESSAGE = "denied by the e2e test webhook"

    def __init__(self, port: int, cert_dir: pathlib.Path):
        self.paths: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 (stdlib name)
                review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.paths.append(self.path)
                body = json.dumps({
                    "apiVersion": "admission.k8s.io/v1",
                    "kind": "AdmissionReview",
                    "response": {
                        "uid": review["request"]["uid"],
                        "allowed": False,
                        "status": {"code": 403, "message": DenyingWebhook.MESSAGE},
                    },
                }).encode()
                self.close_connection = True  # no kept-alive call outlives the server
                self.send_response(200)
                self.send_header("Connection", "close")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_dir / "tls.crt", cert_dir / "tls.key")
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "DenyingWebhook":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


def scaled_object(name: str, namespace: str) -> dict:
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "scaleTargetRef": {"name": "web"},
            "triggers": [{"type": "cron", "metadata": {
                "timezone": "UTC", "start": "0 * * * *", "end": "30 * * * *", "desiredReplicas": "2"}}],
        },
    }


def test_admission_webhooks_reach_the_webhook_port(cluster: Cluster, namespace: str):
    cluster.kubectl("wait", "--for=condition=Established", f"--timeout={WAIT:.0f}s",
                    "crd/scaledobjects.keda.sh", timeout=WAIT + 30)
    port = int(cluster.env["WEBHOOK_PORT"])
    try:
        webhook = DenyingWebhook(port, cluster.state_dir / "adapter-certs")
    except OSError as err:
        pytest.fail(f"cannot listen on 127.0.0.1:{port} (CKEDA_WEBHOOK_PORT) for the test webhook: {err}")
    with webhook:
        denied = cluster.kubectl("apply", "-f", "-", stdin=json.dumps(scaled_object("so", namespace)), check=False)
    assert denied.returncode != 0 and DenyingWebhook.MESSAGE in denied.stderr, denied.stderr
    assert webhook.paths and webhook.paths[-1].startswith("/validate-keda-sh-v1alpha1-scaledobject")

    # Nothing listens now: failurePolicy Ignore admits the object.
    cluster.apply(scaled_object("so", namespace))
    assert cluster.get_json("-n", namespace, "scaledobject", "so")["metadata"]["name"] == "so"


def test_second_cluster_on_a_port_in_use_is_refused(cluster: Cluster, tmp_path: pathlib.Path):
    state_dir = tmp_path / "second"
    result = run_cluster_sh(
        "up",
        env={"CKEDA_E2E_DIR": str(state_dir), "CKEDA_E2E_APISERVER_PORT": cluster.env["APISERVER_PORT"]},
        timeout=300,
    )
    assert result.returncode != 0
    assert f"port {cluster.env['APISERVER_PORT']}" in result.stderr and "in use" in result.stderr
    assert our_processes(state_dir) == []
    assert run_cluster_sh("status", env={"CKEDA_E2E_DIR": str(state_dir)}, timeout=60).returncode == 1


def test_second_cluster_picks_free_ports_and_down_stops_everything(cluster: Cluster, tmp_path: pathlib.Path):
    env = {"CKEDA_E2E_DIR": str(tmp_path / "second")}
    try:
        up = run_cluster_sh("up", env=env, timeout=600)
        assert up.returncode == 0, up.stderr[-4000:]
        second = read_env_file(tmp_path / "second" / "cluster.env")
        ports = ("ETCD_PORT", "ETCD_PEER_PORT", "APISERVER_PORT", "KCM_PORT")
        assert {second[p] for p in ports}.isdisjoint({cluster.env[p] for p in ports})
        assert run_cluster_sh("status", env=env, timeout=60).returncode == 0
    finally:
        down = run_cluster_sh("down", env=env, timeout=300)
    assert down.returncode == 0, down.stderr
    assert our_processes(tmp_path / "second") == []
    assert run_cluster_sh("status", env=env, timeout=60).returncode == 1
    # The first cluster is untouched.
    assert run_cluster_sh("status", timeout=60).returncode == 0
