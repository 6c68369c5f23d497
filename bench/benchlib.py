"""Helpers shared by the benchmarks that run a whole ckeda tree against the local control plane
(tests/e2e/cluster.sh): bench_reaction.py and bench_tree_load.py. They build on the helpers of
bench_skeleton.py (cluster, the process tree), bench_watcher.py (the API client, Deployments at 0
replicas, CPU seconds from /proc/<pid>/stat) and tree_memory.py (PSS from smaps_rollup).

    from benchlib import Tree, Watch, scaled_object, loadavg

Nothing here asserts: a benchmark prints figures.
"""
import http.client
import json
import os
import pathlib
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "bench"))
from bench_skeleton import cluster, memory_rows, wait  # noqa: E402,F401
from bench_watcher import Api, cpu_s, deployment  # noqa: E402,F401
from tree_memory import rollup  # noqa: E402,F401

__all__ = ["Api", "Tree", "Watch", "cluster", "cpu_s", "deployment", "loadavg", "ready_count",
           "rollup", "scaled_object", "wait"]


def loadavg():
    """The 1, 5 and 15 minute load averages, as /proc/loadavg gives them."""
    return " ".join(pathlib.Path("/proc/loadavg").read_text().split()[:3])


def scaled_object(name, target, triggers, **spec):
    """A keda.sh/v1alpha1 ScaledObject on the Deployment `target`; spec holds the other fields
    (pollingInterval, cooldownPeriod, minReplicaCount, ...)."""
    return {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": name},
            "spec": {"scaleTargetRef": {"name": target}, "triggers": triggers, **spec}}


def ready_count(api, ns):
    """How many ScaledObjects of ns have Ready=True, from one list request."""
    doc = api.must("GET", f"/apis/keda.sh/v1alpha1/namespaces/{ns}/scaledobjects")
    n = 0
    for so in doc.get("items", []):
        for c in so.get("status", {}).get("conditions", []):
            n += c.get("type") == "Ready" and c.get("status") == "True"
    return n


class Watch(threading.Thread):
    """Watches the Deployments of a namespace on its own connection and queues
    (monotonic time, name, spec.replicas) for each event."""

    def __init__(self, api, ns):
        super().__init__(daemon=True)
        self.api, self.ns = api, ns
        self.events = queue.Queue()
        self.rv = api.must("GET", f"/apis/apps/v1/namespaces/{ns}/deployments")["metadata"][
            "resourceVersion"]

    def run(self):
        while True:
            conn = http.client.HTTPSConnection(self.api.host, int(self.api.port),
                                               context=self.api.ctx, timeout=None)
            try:
                conn.request("GET", f"/apis/apps/v1/namespaces/{self.ns}/deployments?watch=1"
                                    f"&resourceVersion={self.rv}&timeoutSeconds=3600")
                r = conn.getresponse()
                while line := r.readline():
                    now = time.monotonic()
                    obj = json.loads(line)["object"]
                    self.rv = obj["metadata"].get("resourceVersion", self.rv)
                    if "spec" in obj:
                        self.events.put((now, obj["metadata"]["name"], obj["spec"]["replicas"]))
            except (http.client.HTTPException, OSError, ValueError):
                time.sleep(0.5)
            finally:
                conn.close()

    def until(self, name, replicas, timeout):
        """The time of the first event of `name` at `replicas` from now on."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                sys.exit(f"timed out waiting for {name} at {replicas} replicas")
            try:
                t, n, r = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if n == name and r == replicas:
                return t


class Tree:
    """`ckeda run` on the cluster of kubeconfig kc, watching ns: the adapter on the port the
    APIService points at and the webhooks on the port the cluster's webhook configuration
    calls, both with the cluster's adapter certificate. Its log goes to a temporary file."""

    def __init__(self, build, kc, env, ns, extra=()):
        self.build, self.kc, self.env, self.ns, self.extra = build, kc, env, ns, extra
        self.shm = f"ckeda-bench-{os.getpid()}"
        self.log = tempfile.NamedTemporaryFile(prefix="ckeda-bench-", suffix=".log", delete=False)
        self.proc = None

    def __enter__(self):
        port = os.environ.get("CKEDA_ADAPTER_PORT", self.env.get("ADAPTER_PORT", "7443"))
        hook = os.environ.get("CKEDA_WEBHOOK_PORT", self.env.get("WEBHOOK_PORT", "9443"))
        self.proc = subprocess.Popen(
            [f"{self.build}/ckeda", "run", "--kubeconfig", str(self.kc), "--shm-name", self.shm,
             "--watch-namespace", self.ns, "--pod-namespace", self.ns, "--secure-port", port,
             "--webhook-port", hook, "--metrics-port", "0", "--health-port", "0", "--cert-dir",
             str(self.kc.parent / "adapter-certs"), *self.extra],
            stdout=self.log, stderr=self.log, start_new_session=True)
        return self

    def __exit__(self, *exc):
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=60)
        print(f"ckeda's log: {self.log.name}")

    def ctl(self, *args):
        r = subprocess.run([f"{self.build}/ckedactl", "--shm-name", self.shm, "-o", "json", *args],
                           capture_output=True, text=True, timeout=60)
        return json.loads(r.stdout) if r.returncode == 0 else None

    def rows(self, redis):
        """(name, pid) of every process of the tree (the supervisor first), then of redis-server
        and the control plane."""
        return memory_rows(self.proc.pid, redis, self.env)
