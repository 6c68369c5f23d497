"""End-to-end tests of the watcher (watcher/) against the real kube-apiserver and
kube-controller-manager of tests/e2e/cluster.sh: ScaledObject -> table -> HPA, as KEDA does it.

Each test module run gets its own namespace and its own `ckeda run` (started with
--watch-namespace, so concurrent runs on the shared cluster never see each other's objects).
After every step the tests check, with deadlines, the HPA (kubectl), the ScaledObject's status
and the shared-memory table (ckedactl -o json). Tests that restart things (a kube-apiserver,
the watcher) use a namespace, a ckeda, and for the API server a whole cluster, of their own.

A cluster that cannot be started or reached fails these tests; nothing is skipped.

Run: python3 -m pytest tests/e2e/test_watcher.py -v
(CKEDA_BIN names the build directory holding ckeda and ckedactl; default build/.)
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import signal
import socket
import subprocess
import time
import uuid

import pytest

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
CLUSTER_SH = HERE / "cluster.sh"
BIN = pathlib.Path(os.environ.get("CKEDA_BIN", REPO / "build"))
CKEDA = BIN / "ckeda"
CKEDACTL = BIN / "ckedactl"
UP_TIMEOUT = float(os.environ.get("CKEDA_E2E_UP_TIMEOUT", "3600"))
WAIT = 45.0  # seconds allowed for anything the watcher or the API server does
VERSION = "0.1.0"
CONFIG_ENV = ("KUBECONFIG", "WATCH_NAMESPACE", "POD_NAMESPACE", "KEDA_CLUSTER_OBJECT_NAMESPACE",
              "KEDA_HTTP_DEFAULT_TIMEOUT", "KEDA_RESTRICT_SECRET_ACCESS", "CKEDA_SHM_NAME")
PORTS_0 = ("--secure-port", "0", "--webhook-port", "0", "--metrics-port", "0",
           "--health-port", "0")
ADAPTER_PORT = int(os.environ.get("CKEDA_ADAPTER_PORT", "7443"))  # where the APIService points


# ---------------------------------------------------------------- utilities

RUNNING: list = []  # Ckeda instances alive, whose logs a failure shows


def logs():
    return "".join(f"\n--- {c.log_path.name} ---\n{c.log_tail()}" for c in RUNNING)


def wait_until(pred, what, timeout=WAIT, interval=0.2):
    """Polls pred() until it returns something truthy (returned); fails at the deadline."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = pred()
        except AssertionError as err:
            last = err
        if last and not isinstance(last, AssertionError):
            return last
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}{logs()}")
        time.sleep(interval)


def hold(pred, what, seconds=3.0, interval=0.2):
    """pred() must stay truthy for the whole period."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert pred(), f"{what} stopped holding{logs()}"
        time.sleep(interval)


def cluster_up(env_extra=None) -> pathlib.Path:
    env = dict(os.environ, **(env_extra or {}))
    try:
        r = subprocess.run([str(CLUSTER_SH), "up"], capture_output=True, text=True,
                           timeout=UP_TIMEOUT, env=env)
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"cluster.sh up did not finish within {UP_TIMEOUT:.0f}s: {err.stderr}")
    if r.returncode != 0:
        pytest.fail(f"cluster.sh up failed ({r.returncode}):\n{r.stderr[-4000:]}")
    path = pathlib.Path(r.stdout.strip().splitlines()[-1])
    assert path.is_file(), f"the last line of cluster.sh up is not a file: {path}"
    return path


def read_env(path: pathlib.Path) -> dict:
    out = {}
    for line in path.read_text().splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            out[k] = v
    return out


class Kube:
    """kubectl against one cluster."""

    def __init__(self, kubeconfig: pathlib.Path):
        self.kubeconfig = kubeconfig
        env = read_env(kubeconfig.parent / "cluster.env")
        self.kubectl = pathlib.Path(env["BIN_DIR"]) / "kubectl"
        self.cache = kubeconfig.parent / "kube-cache"

    def run(self, *args, stdin=None, check=True, timeout=60):
        r = subprocess.run([str(self.kubectl), "--kubeconfig", str(self.kubeconfig),
                            "--cache-dir", str(self.cache), *args],
                           input=json.dumps(stdin) if isinstance(stdin, (dict, list)) else stdin,
                           capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} failed: {r.stderr}")
        return r

    def apply(self, ns, obj):
        return self.run("-n", ns, "apply", "-f", "-", stdin=obj)

    def create(self, ns, obj):
        return json.loads(self.run("-n", ns, "create", "-o", "json", "-f", "-", stdin=obj).stdout)

    def get(self, ns, kind, name):
        r = self.run("-n", ns, "get", kind, name, "-o", "json", check=False)
        if r.returncode != 0:
            if "NotFound" in r.stderr:
                return None
            pytest.fail(f"kubectl get {kind} {name}: {r.stderr}")
        return json.loads(r.stdout)

    def items(self, ns, kind):
        return json.loads(self.run("-n", ns, "get", kind, "-o", "json").stdout)["items"]

    def patch(self, ns, kind, name, patch, kind_of_patch="merge"):
        return self.run("-n", ns, "patch", kind, name, "--type", kind_of_patch, "-p",
                        json.dumps(patch))

    def delete(self, ns, kind, name, wait=False):
        return self.run("-n", ns, "delete", kind, name, f"--wait={str(wait).lower()}",
                        "--ignore-not-found")

    def namespace(self, prefix):
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.run("create", "namespace", name)
        return name

    def drop_namespace(self, name):
        # never waited for: deletion stalls while no adapter serves the metrics APIService
        self.run("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


def child_env():
    return {k: v for k, v in os.environ.items() if k not in CONFIG_ENV}


class Ckeda:
    """One `ckeda run` tree on a table of its own, watching one namespace."""

    def __init__(self, kubeconfig, ns, log_dir, extra=()):
        self.name = f"ckw-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.argv = [str(CKEDA), "run", "--kubeconfig", str(kubeconfig), "--shm-name", self.name,
                     "--watch-namespace", ns, "--pod-namespace", ns, *PORTS_0, *extra]
        self.log_path = pathlib.Path(log_dir) / f"{self.name}.log"
        self.proc = None

    def start(self):
        for tool in (CKEDA, CKEDACTL):
            if not (tool.is_file() and os.access(tool, os.X_OK)):
                pytest.fail(f"{tool} is not built (set CKEDA_BIN to the build directory)")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=log, start_new_session=True, env=child_env())
        RUNNING.append(self)
        wait_until(lambda: self.alive_or_fail() and self.status().get("watcher_synced"),
                   "the watcher to list everything")
        return self

    def alive_or_fail(self):
        if self.proc.poll() is not None:
            pytest.fail(f"ckeda exited {self.proc.returncode}:\n{self.log_tail()}")
        return True

    def log_tail(self, n=60):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def ctl(self, *args, check=True):
        r = subprocess.run([str(CKEDACTL), "--shm-name", self.name, "-o", "json", *args],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            if check:
                pytest.fail(f"ckedactl {' '.join(args)} failed: {r.stderr}")
            return None
        return json.loads(r.stdout)

    def status(self):
        return self.ctl("status", check=False) or {}

    def so(self, ns, name):
        return self.ctl("get", f"{ns}/{name}", check=False)

    def triggers(self, ns, name):
        doc = self.ctl("triggers")
        return sorted((t for t in doc["triggers"] if t["scaledobject"] == f"{ns}/{name}"),
                      key=lambda t: t["index"])

    def watcher(self):
        return next(p for p in self.ctl("workers")["processes"] if p["role"] == "watcher")

    def blob(self, slot, cfg_gen):
        return (pathlib.Path("/dev/shm") / f"{self.name}.blobs" / f"{slot}.{int(cfg_gen)}").read_text()

    def stop(self):
        if self in RUNNING:
            RUNNING.remove(self)
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        # In the sanitizer build a report is a failure, even from a process that was restarted.
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            assert marker not in text, f"{marker} in {self.log_path.name}:\n{self.log_tail(200)}"


# ---------------------------------------------------------------- objects

def deployments(*names, replicas=2):
    """Several Deployments in one List (one kubectl call)."""
    return {"apiVersion": "v1", "kind": "List",
            "items": [deployment(n, replicas) for n in names]}


def deployment(name, replicas=2):
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c",
                                                           "image": "registry.k8s.io/pause:3.10"}]}}}}


def redis(list_name, length="5", name=None, auth=None, cluster_auth=False):
    t = {"type": "redis", "metadata": {"address": "127.0.0.1:1", "listName": list_name,
                                       "listLength": length}}
    if name:
        t["name"] = name
    if auth:
        t["authenticationRef"] = {"name": auth}
        if cluster_auth:
            t["authenticationRef"]["kind"] = "ClusterTriggerAuthentication"
    return t


def scaled_object(name, target, triggers, **spec):
    return {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
            "metadata": {"name": name, "labels": {"team": "orders"}},
            "spec": {"scaleTargetRef": {"name": target}, "triggers": triggers, **spec}}


def trigger_auth(name, key="password", cluster=False):
    return {"apiVersion": "keda.sh/v1alpha1",
            "kind": "ClusterTriggerAuthentication" if cluster else "TriggerAuthentication",
            "metadata": {"name": name},
            "spec": {"secretTargetRef": [{"parameter": "password", "name": "redis-secret",
                                          "key": key}]}}


def port_busy(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def replicas(kube, ns, name):
    return kube.get(ns, "deployment", name)["spec"].get("replicas", 1)


@contextlib.contextmanager
def ckeda_in_namespace(tmp_path_factory, prefix, adapter=False):
    """(kube, ns, ckeda): a fresh namespace and one ckeda watching it, stopped and dropped
    after. With adapter, it serves the metrics API on ADAPTER_PORT with the test bed's
    certificate, so the aggregator and the HPA controller reach it."""
    kube = Kube(cluster_up())
    extra = ()
    if adapter:
        if port_busy(ADAPTER_PORT):
            pytest.fail(f"port {ADAPTER_PORT} is in use: another adapter serves the cluster; "
                        "stop it first")
        extra = ("--secure-port", str(ADAPTER_PORT), "--cert-dir",
                 str(kube.kubeconfig.parent / "adapter-certs"))
    ns = kube.namespace(prefix)
    c = Ckeda(kube.kubeconfig, ns, tmp_path_factory.mktemp("ckeda"), extra=extra)
    try:
        c.start()
        yield kube, ns, c
    finally:
        c.stop()
        kube.drop_namespace(ns)


def condition(so, ctype):
    for c in (so or {}).get("status", {}).get("conditions", []):
        if c["type"] == ctype:
            return c
    return None


def ready(kube, ns, name):
    """The Ready condition once it is True or False (not before)."""
    c = condition(kube.get(ns, "scaledobject", name), "Ready")
    return c if c and c["status"] in ("True", "False") else None


def metric_names(hpa):
    return [m["external"]["metric"]["name"] for m in hpa["spec"]["metrics"]]


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def kube() -> Kube:
    return Kube(cluster_up())


@pytest.fixture(scope="module")
def ns(kube):
    name = kube.namespace("ckw")
    # each ScaledObject of this module has a target of its own (web-<name>)
    kube.apply(name, deployments("web", "web-authed", "web-bounds", "web-kafka", "web-lateauth", "web-orders", "web-rename", "web-shuffle", "web-user-a", "web-user-b"))
    yield name
    kube.drop_namespace(name)


@pytest.fixture(scope="module")
def ckeda(kube, ns, tmp_path_factory):
    c = Ckeda(kube.kubeconfig, ns, tmp_path_factory.mktemp("ckeda"))
    c.start()
    yield c
    try:
        w = c.watcher()
        assert w["restarts"] == 0, f"the watcher restarted {w['restarts']} times:\n{c.log_tail()}"
    finally:
        c.stop()


# ---------------------------------------------------------------- tests

# The triggers here point at an unreachable source: once the scale loop has polled them, Ready
# is False with KEDA's TriggerError (a defined, reconciled object whose triggers fail).
READY_REASONS = ("ScaledObjectReady", "TriggerError")


def wait_ready_hpa(kube, ckeda, ns, name, nmetrics):
    """Reconciled (Ready True, or False for failing triggers), the HPA with nmetrics metrics,
    and the table with nmetrics triggers."""
    wait_until(lambda: (ready(kube, ns, name) or {}).get("reason") in READY_REASONS,
               f"{name} Ready")
    hpa = wait_until(lambda: (h := kube.get(ns, "hpa", f"keda-hpa-{name}")) and
                     len(h["spec"]["metrics"]) == nmetrics and h,
                     f"HPA keda-hpa-{name} with {nmetrics} metrics")
    wait_until(lambda: (s := ckeda.so(ns, name)) and len(s["triggers"]) == nmetrics,
               f"{name} in the table with {nmetrics} triggers")
    return hpa


def test_create_mirrors_and_builds_keda_hpa(kube, ns, ckeda):
    kube.apply(ns, scaled_object("orders", "web-orders", [redis("jobs", "7")], maxReplicaCount=7))
    hpa = wait_ready_hpa(kube, ckeda, ns, "orders", 1)
    so = kube.get(ns, "scaledobject", "orders")

    # the ScaledObject: finalizer, label, status (keda.md §1.3, §1.4)
    assert "finalizer.keda.sh" in so["metadata"]["finalizers"]
    assert so["metadata"]["labels"]["scaledobject.keda.sh/name"] == "orders"
    st = so["status"]
    assert st["scaleTargetKind"] == "apps/v1.Deployment"
    assert st["scaleTargetGVKR"] == {"group": "apps", "version": "v1", "kind": "Deployment",
                                     "resource": "deployments"}
    assert st["originalReplicaCount"] == 2
    assert st["externalMetricNames"] == ["s0-redis-jobs"]
    assert st["hpaName"] == "keda-hpa-orders"
    assert st["triggersTypes"] == "redis"
    assert st["authenticationsTypes"] == ""
    conds = {c["type"]: c for c in st["conditions"]}
    assert [c["type"] for c in st["conditions"]] == ["Ready", "Active", "Fallback", "Paused"]
    assert conds["Ready"] in (
        {"type": "Ready", "status": "True", "reason": "ScaledObjectReady",
         "message": "ScaledObject is defined correctly and is ready for scaling"},
        {"type": "Ready", "status": "False", "reason": "TriggerError",
         "message": "Triggers defined in ScaledObject are not working correctly"})
    assert conds["Active"]["status"] in ("Unknown", "False")
    assert conds["Fallback"] == {"type": "Fallback", "status": "False", "reason": "NoFallbackFound",
                                 "message": "No fallbacks are active on this scaled object"}
    assert conds["Paused"]["status"] == "False"

    # the HPA (keda.md §1.7)
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": "web-orders"}
    assert hpa["spec"]["minReplicas"] == 1 and hpa["spec"]["maxReplicas"] == 7
    assert hpa["spec"]["metrics"] == [{
        "type": "External",
        "external": {"metric": {"name": "s0-redis-jobs",
                                "selector": {"matchLabels": {"scaledobject.keda.sh/name": "orders"}}},
                     "target": {"type": "AverageValue", "averageValue": "7"}}}]
    assert "behavior" not in hpa["spec"]
    labels = hpa["metadata"]["labels"]
    assert labels == {"app.kubernetes.io/name": "keda-hpa-orders",
                      "app.kubernetes.io/version": VERSION,
                      "app.kubernetes.io/part-of": "orders",
                      "app.kubernetes.io/managed-by": "keda-operator",
                      "team": "orders", "scaledobject.keda.sh/name": "orders"}
    owner = hpa["metadata"]["ownerReferences"]
    assert owner == [{"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "name": "orders",
                      "uid": so["metadata"]["uid"], "controller": True,
                      "blockOwnerDeletion": True}]

    # the table
    t = ckeda.so(ns, "orders")
    assert (t["min_replicas"], t["max_replicas"]) == (0, 7)
    assert (t["target_kind"], t["target_name"]) == ("Deployment", "web-orders")
    # from the Deployment informer, once the Deployment controller has counted its pods
    wait_until(lambda: ckeda.so(ns, "orders")["replicas"] == 2, "replicas 2 in the table")
    [trig] = ckeda.triggers(ns, "orders")
    assert (trig["type"], trig["metric_name"]) == ("redis", "s0-redis-jobs")
    blob = json.loads(ckeda.blob(trig["slot"], trig["cfg_gen"]))
    assert blob["metadata"] == {"address": "127.0.0.1:1", "listName": "jobs", "listLength": "7"}
    assert (blob["namespace"], blob["scaledObject"], blob["index"]) == (ns, "orders", 0)
    assert blob["scaleTarget"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                   "name": "web-orders"}
    assert "authentication" not in blob

    # an HPA edited by hand is put back in place, one deleted by hand is re-created (Owns())
    kube.patch(ns, "hpa", "keda-hpa-orders", {"spec": {"maxReplicas": 50}})
    wait_until(lambda: kube.get(ns, "hpa", "keda-hpa-orders")["spec"]["maxReplicas"] == 7,
               "the HPA's spec restored")
    assert kube.get(ns, "hpa", "keda-hpa-orders")["metadata"]["uid"] == hpa["metadata"]["uid"]
    kube.delete(ns, "hpa", "keda-hpa-orders")
    wait_until(lambda: (h := kube.get(ns, "hpa", "keda-hpa-orders")) and
               h["metadata"]["uid"] != hpa["metadata"]["uid"], "the HPA re-created")


def test_trigger_added_removed_reordered(kube, ns, ckeda):
    kube.apply(ns, scaled_object("shuffle", "web-shuffle", [redis("a")]))
    wait_ready_hpa(kube, ckeda, ns, "shuffle", 1)
    [a0] = ckeda.triggers(ns, "shuffle")

    # added: the first trigger keeps its slot and its cfg_gen (workers keep its results)
    kube.apply(ns, scaled_object("shuffle", "web-shuffle", [redis("a"), redis("b")]))
    hpa = wait_ready_hpa(kube, ckeda, ns, "shuffle", 2)
    assert metric_names(hpa) == ["s0-redis-a", "s1-redis-b"]
    a1, b1 = ckeda.triggers(ns, "shuffle")
    assert (a1["slot"], a1["cfg_gen"]) == (a0["slot"], a0["cfg_gen"])
    assert b1["metric_name"] == "s1-redis-b" and b1["cfg_gen"] != a1["cfg_gen"]
    wait_until(lambda: kube.get(ns, "scaledobject", "shuffle")["status"]["externalMetricNames"] ==
               ["s0-redis-a", "s1-redis-b"], "externalMetricNames of both triggers")

    # reordered: names follow the positions, both configurations change
    kube.apply(ns, scaled_object("shuffle", "web-shuffle", [redis("b"), redis("a")]))
    hpa = wait_until(lambda: (h := kube.get(ns, "hpa", "keda-hpa-shuffle")) and
                     metric_names(h) == ["s0-redis-b", "s1-redis-a"] and h, "reordered metrics")
    b2, a2 = wait_until(lambda: (t := ckeda.triggers(ns, "shuffle")) and
                        t[0]["metric_name"] == "s0-redis-b" and t, "reordered table")
    assert a2["metric_name"] == "s1-redis-a"
    assert b2["cfg_gen"] not in (a1["cfg_gen"], b1["cfg_gen"])
    assert a2["cfg_gen"] not in (a1["cfg_gen"], b1["cfg_gen"])

    # removed: one metric, one trigger; the freed slot's blob is gone
    kube.apply(ns, scaled_object("shuffle", "web-shuffle", [redis("b")]))
    hpa = wait_ready_hpa(kube, ckeda, ns, "shuffle", 1)
    assert metric_names(hpa) == ["s0-redis-b"]
    [b3] = ckeda.triggers(ns, "shuffle")
    assert (b3["slot"], b3["cfg_gen"]) == (b2["slot"], b2["cfg_gen"])
    with pytest.raises(FileNotFoundError):
        ckeda.blob(a2["slot"], a2["cfg_gen"])


def test_bounds_and_behavior_changes_update_the_hpa_in_place(kube, ns, ckeda):
    kube.apply(ns, scaled_object("bounds", "web-bounds", [redis("q")]))
    hpa0 = wait_ready_hpa(kube, ckeda, ns, "bounds", 1)
    [t0] = ckeda.triggers(ns, "bounds")

    kube.apply(ns, scaled_object("bounds", "web-bounds", [redis("q")], minReplicaCount=2,
                                 maxReplicaCount=9))
    hpa = wait_until(lambda: (h := kube.get(ns, "hpa", "keda-hpa-bounds")) and
                     (h["spec"]["minReplicas"], h["spec"]["maxReplicas"]) == (2, 9) and h,
                     "HPA min 2 max 9")
    assert hpa["metadata"]["uid"] == hpa0["metadata"]["uid"], "updated in place, not re-created"
    wait_until(lambda: (ckeda.so(ns, "bounds")["min_replicas"],
                        ckeda.so(ns, "bounds")["max_replicas"]) == (2, 9), "table min 2 max 9")
    [t1] = ckeda.triggers(ns, "bounds")
    assert t1["cfg_gen"] == t0["cfg_gen"], "the trigger's configuration did not change"

    behavior = {"scaleDown": {"stabilizationWindowSeconds": 30,
                              "policies": [{"type": "Pods", "value": 1, "periodSeconds": 20}]}}
    kube.apply(ns, scaled_object("bounds", "web-bounds", [redis("q")], minReplicaCount=2,
                                 maxReplicaCount=9,
                                 advanced={"horizontalPodAutoscalerConfig": {"behavior": behavior}}))
    hpa = wait_until(lambda: (h := kube.get(ns, "hpa", "keda-hpa-bounds")) and
                     h["spec"].get("behavior", {}).get("scaleDown", {})
                     .get("stabilizationWindowSeconds") == 30 and h, "HPA behavior")
    assert hpa["spec"]["behavior"]["scaleDown"]["policies"] == behavior["scaleDown"]["policies"]
    assert hpa["metadata"]["uid"] == hpa0["metadata"]["uid"]

    kube.apply(ns, scaled_object("bounds", "web-bounds", [redis("q")], minReplicaCount=2,
                                 maxReplicaCount=9))
    wait_until(lambda: "behavior" not in kube.get(ns, "hpa", "keda-hpa-bounds")["spec"],
               "HPA behavior removed")
    # settled: the ScaledObject is not written again
    so_rv = kube.get(ns, "scaledobject", "bounds")["metadata"]["resourceVersion"]
    hold(lambda: kube.get(ns, "scaledobject", "bounds")["metadata"]["resourceVersion"] == so_rv,
         "a settled ScaledObject left alone", seconds=2)


def test_hpa_name_change_renames_the_hpa(kube, ns, ckeda):
    kube.apply(ns, scaled_object("rename", "web-rename", [redis("r")]))
    wait_ready_hpa(kube, ckeda, ns, "rename", 1)
    kube.apply(ns, scaled_object("rename", "web-rename", [redis("r")],
                                 advanced={"horizontalPodAutoscalerConfig": {"name": "custom-hpa"}}))
    wait_until(lambda: kube.get(ns, "hpa", "custom-hpa"), "the renamed HPA")
    wait_until(lambda: kube.get(ns, "hpa", "keda-hpa-rename") is None, "the old HPA gone")
    wait_until(lambda: kube.get(ns, "scaledobject", "rename")["status"]["hpaName"] == "custom-hpa",
               "status.hpaName")


def test_trigger_authentication_change_changes_cfg_gen(kube, ns, ckeda):
    kube.apply(ns, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "redis-secret"},
                    "stringData": {"password": "s3cr3t-value", "other": "0th3r-value"}})
    kube.apply(ns, trigger_auth("redis-auth"))
    kube.apply(ns, scaled_object("authed", "web-authed", [redis("secure", auth="redis-auth")]))
    wait_ready_hpa(kube, ckeda, ns, "authed", 1)
    st = kube.get(ns, "scaledobject", "authed")["status"]
    assert st["authenticationsTypes"] == "redis-auth"
    [t0] = ckeda.triggers(ns, "authed")
    blob = json.loads(ckeda.blob(t0["slot"], t0["cfg_gen"]))
    ta = kube.get(ns, "triggerauthentication", "redis-auth")
    assert blob["authenticationRef"] == {"name": "redis-auth", "kind": "TriggerAuthentication"}
    assert blob["authentication"] == {
        "kind": "TriggerAuthentication", "namespace": ns, "name": "redis-auth",
        "uid": ta["metadata"]["uid"], "generation": str(ta["metadata"]["generation"]),
        "spec": ta["spec"]}
    # KEDA's status list of the objects that use it
    wait_until(lambda: kube.get(ns, "triggerauthentication", "redis-auth").get(
        "status", {}).get("scaledobjects") == "authed", "TriggerAuthentication status.scaledobjects")

    # a change that does not reach the blob keeps cfg_gen
    kube.apply(ns, scaled_object("authed", "web-authed", [redis("secure", auth="redis-auth")],
                                 maxReplicaCount=5))
    wait_until(lambda: ckeda.so(ns, "authed")["max_replicas"] == 5, "table max 5")
    [t1] = ckeda.triggers(ns, "authed")
    assert t1["cfg_gen"] == t0["cfg_gen"]

    # the TriggerAuthentication changes: a new configuration for the trigger
    kube.apply(ns, trigger_auth("redis-auth", key="other"))
    t2 = wait_until(lambda: (t := ckeda.triggers(ns, "authed")[0])["cfg_gen"] != t0["cfg_gen"] and t,
                    "cfg_gen to change with the TriggerAuthentication")
    assert t2["slot"] == t0["slot"]
    text = ckeda.blob(t2["slot"], t2["cfg_gen"])
    assert json.loads(text)["authentication"]["spec"]["secretTargetRef"][0]["key"] == "other"
    assert "s3cr3t-value" not in text and "0th3r-value" not in text, "a Secret's value in a blob"
    # KEDA's Events for it (its text for an update names the cluster kind for both kinds)
    def told():
        return {(e["reason"], e.get("message")) for e in kube.items(ns, "events")
                if e["involvedObject"].get("name") == "redis-auth"}
    wait_until(lambda: {("TriggerAuthenticationAdded", "New TriggerAuthentication configured"),
                        ("TriggerAuthenticationUpdated",
                         "ClusterTriggerAuthentication redis-auth is updated")} <= told(),
               "TriggerAuthentication Events")
    with pytest.raises(FileNotFoundError):
        ckeda.blob(t0["slot"], t0["cfg_gen"])


def test_missing_and_cluster_trigger_authentication(kube, ns, ckeda):
    cta = f"ckw-cta-{uuid.uuid4().hex[:6]}"
    # KEDA goes on without a missing TriggerAuthentication ("error getting triggerAuth")
    kube.apply(ns, scaled_object("lateauth", "web-lateauth", [redis("late", auth=cta, cluster_auth=True)]))
    wait_ready_hpa(kube, ckeda, ns, "lateauth", 1)
    [t0] = ckeda.triggers(ns, "lateauth")
    blob = json.loads(ckeda.blob(t0["slot"], t0["cfg_gen"]))
    assert blob["authenticationRef"] == {"name": cta, "kind": "ClusterTriggerAuthentication"}
    assert "authentication" not in blob
    try:
        kube.run("apply", "-f", "-", stdin=trigger_auth(cta, cluster=True))
        t1 = wait_until(lambda: (t := ckeda.triggers(ns, "lateauth")[0])["cfg_gen"] != t0["cfg_gen"]
                        and t, "cfg_gen to change when the ClusterTriggerAuthentication appears")
        auth = json.loads(ckeda.blob(t1["slot"], t1["cfg_gen"]))["authentication"]
        assert (auth["kind"], auth["name"]) == ("ClusterTriggerAuthentication", cta)
        assert "namespace" not in auth
    finally:
        kube.run("delete", "clustertriggerauthentication", cta, "--wait=false",
                 "--ignore-not-found", check=False)


def test_malformed_objects_are_check_failed_never_a_crash(kube, ns, ckeda):
    cases = {
        "idle": (dict(minReplicaCount=2, idleReplicaCount=2), [redis("x")], "web",
                 "ScaledObject doesn't have correct Idle/Min/Max Replica Counts specification: "
                 "IdleReplicaCount=2 must be less than MinReplicaCount=2"),
        "dupnames": ({}, [redis("x", name="a"), redis("y", name="a")], "web",
                     "ScaledObject doesn't have correct triggers specification: triggerName \"a\" "
                     "is defined multiple times in the ScaledObject, but it must be unique"),
        "notarget": ({}, [redis("x")], "nope",
                     "ScaledObject doesn't have correct scaleTargetRef specification: "
                     "deployments.apps \"nope\" not found"),
        "nometa": ({}, [{"type": "redis", "metadata": {"address": "127.0.0.1:1"}}], "web",
                   "failed to ensure HPA is correctly created for ScaledObject: "
                   "spec.triggers[0]: metadata.listName: no list name given"),
    }
    for name, (spec, triggers, target, _) in cases.items():
        kube.apply(ns, scaled_object(name, target, triggers, **spec))
    widget = scaled_object("nokind", "w", [redis("x")])
    widget["spec"]["scaleTargetRef"].update(apiVersion="example.com/v1", kind="Widget")
    kube.apply(ns, widget)
    cases["nokind"] = (None, None, None,
                       "ScaledObject doesn't have correct scaleTargetRef specification: "
                       "no matches for kind \"Widget\" in version \"example.com/v1\"")
    for name, (_, _, _, message) in cases.items():
        c = wait_until(lambda n=name: ready(kube, ns, n), f"{name} Ready decided")
        assert (c["status"], c.get("reason"), c.get("message")) == \
            ("False", "ScaledObjectCheckFailed", message), name
        active = condition(kube.get(ns, "scaledobject", name), "Active")
        assert (active["status"], active["reason"], active["message"]) == \
            ("Unknown", "UnknownState", "ScaledObject check failed")
        assert kube.get(ns, "hpa", f"keda-hpa-{name}") is None, f"{name} got an HPA"
        assert ckeda.so(ns, name) is None, f"{name} is in the table"
    assert ckeda.watcher()["restarts"] == 0
    assert ckeda.status()["watcher_not_ready"] >= len(cases)

    # the missing target appears: the object becomes ready without being touched
    kube.apply(ns, deployment("nope", replicas=1))
    wait_ready_hpa(kube, ckeda, ns, "notarget", 1)
    assert kube.get(ns, "scaledobject", "notarget")["status"]["originalReplicaCount"] == 1


def test_unsupported_scaler_type_is_inert_and_leaves_its_hpa(kube, ns, ckeda):
    # an HPA such as KEDA made for a ScaledObject whose scaler ckeda lacks
    hpa = kube.create(ns, {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "keda-hpa-kafka", "labels": {"app.kubernetes.io/managed-by": "keda-operator",
                                                          "scaledobject.keda.sh/name": "kafka"}},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                    "name": "web-kafka"},
                 "minReplicas": 1, "maxReplicas": 4,
                 "metrics": [{"type": "External", "external": {
                     "metric": {"name": "s0-kafka-orders",
                                "selector": {"matchLabels": {"scaledobject.keda.sh/name": "kafka"}}},
                     "target": {"type": "AverageValue", "averageValue": "10"}}}]}})
    kube.apply(ns, scaled_object("kafka", "web-kafka", [{"type": "kafka", "metadata": {
        "bootstrapServers": "k:9092", "consumerGroup": "g", "topic": "orders"}}]))
    c = wait_until(lambda: ready(kube, ns, "kafka"), "kafka Ready decided")
    assert (c["status"], c["reason"], c["message"]) == \
        ("False", "ScaledObjectCheckFailed", f"scaler type kafka is not supported by ckeda {VERSION}")
    def untouched():
        now = kube.get(ns, "hpa", "keda-hpa-kafka")
        return (now["spec"] == hpa["spec"] and now["metadata"]["labels"] == hpa["metadata"]["labels"]
                and "ownerReferences" not in now["metadata"] and ckeda.so(ns, "kafka") is None)
    assert untouched(), "the HPA was changed or the object is in the table"
    hold(untouched, "the HPA left alone, nothing in the table")
    # it is deleted through the finalizer without touching its target
    kube.delete(ns, "scaledobject", "kafka")
    wait_until(lambda: kube.get(ns, "scaledobject", "kafka") is None, "kafka deleted")


def test_keda_finalizers_never_hold_deletes_and_auth_status_lists_users(kube, ns, ckeda):
    """Objects KEDA once finalized (TriggerAuthentication, ClusterTriggerAuthentication,
    ScaledJob) delete at once; a TriggerAuthentication lists the ScaledObjects using it."""
    fin = {"finalizers": ["finalizer.keda.sh"]}
    ta = trigger_auth("kept-auth")
    ta["metadata"].update(fin)
    cta = trigger_auth(f"kept-cauth-{ns}", cluster=True)
    cta["metadata"].update(fin)
    sj = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledJob",
          "metadata": {"name": "kept-job", **fin},
          "spec": {"jobTargetRef": {"template": {"spec": {"containers": [
              {"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}},
              "triggers": [redis("jobs")]}}
    for obj in (ta, cta, sj):
        kube.apply(ns, obj)
    kube.apply(ns, scaled_object("user-a", "web-user-a", [redis("a", auth="kept-auth")]))
    kube.apply(ns, scaled_object("user-b", "web-user-b", [redis("b", auth="kept-auth")]))
    wait_until(lambda: set(kube.get(ns, "triggerauthentication", "kept-auth").get(
        "status", {}).get("scaledobjects", "").split(",")) == {"user-a", "user-b"},
        "both users listed")
    kube.delete(ns, "scaledobject", "user-a")
    wait_until(lambda: kube.get(ns, "triggerauthentication", "kept-auth").get(
        "status", {}).get("scaledobjects") == "user-b", "user-a removed from the list")

    kube.run("-n", ns, "delete", "triggerauthentication", "kept-auth", "--timeout=40s")
    kube.run("delete", "clustertriggerauthentication", cta["metadata"]["name"], "--timeout=40s")
    kube.run("-n", ns, "delete", "scaledjob", "kept-job", "--timeout=40s")
    assert kube.get(ns, "triggerauthentication", "kept-auth") is None
    assert kube.get(ns, "scaledjob", "kept-job") is None
    kube.delete(ns, "scaledobject", "user-b")


def eventing_crd(kind, plural, scope):
    """A stand-in for KEDA's eventing CRDs (ckeda does not ship them): any spec goes."""
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.eventing.keda.sh"},
            "spec": {"group": "eventing.keda.sh", "scope": scope,
                     "names": {"kind": kind, "plural": plural, "singular": kind.lower(),
                               "listKind": kind + "List"},
                     "versions": [{"name": "v1alpha1", "served": True, "storage": True,
                                   "schema": {"openAPIV3Schema": {
                                       "type": "object",
                                       "x-kubernetes-preserve-unknown-fields": True}}}]}}


def test_cloudeventsource_finalizers_never_hold_deletes(kube, tmp_path):
    """Where KEDA's eventing CRDs are installed, KEDA's finalizer on a CloudEventSource or a
    ClusterCloudEventSource comes off when it is deleted."""
    for kind, plural, scope in (("CloudEventSource", "cloudeventsources", "Namespaced"),
                                ("ClusterCloudEventSource", "clustercloudeventsources",
                                 "Cluster")):
        kube.apply("default", eventing_crd(kind, plural, scope))
        kube.run("wait", "--for=condition=Established", "--timeout=60s",
                 f"crd/{plural}.eventing.keda.sh")
    ns = kube.namespace("ckw-ces")
    c = Ckeda(kube.kubeconfig, ns, tmp_path).start()
    try:
        meta = {"finalizers": ["finalizer.keda.sh"]}
        kube.apply(ns, {"apiVersion": "eventing.keda.sh/v1alpha1", "kind": "CloudEventSource",
                        "metadata": {"name": "ces", **meta}, "spec": {}})
        cname = f"cces-{ns}"
        kube.apply(ns, {"apiVersion": "eventing.keda.sh/v1alpha1",
                        "kind": "ClusterCloudEventSource",
                        "metadata": {"name": cname, **meta}, "spec": {}})
        kube.run("-n", ns, "delete", "cloudeventsource", "ces", "--timeout=40s")
        kube.run("delete", "clustercloudeventsource", cname, "--timeout=40s")
        assert kube.get(ns, "cloudeventsource", "ces") is None
    finally:
        c.stop()
        kube.drop_namespace(ns)


def test_delete_frees_the_table_and_restores_replicas(kube, ns, ckeda):
    kube.apply(ns, deployment("restore", replicas=3))
    kube.apply(ns, scaled_object("gone", "restore", [redis("g")],
                                 advanced={"restoreToOriginalReplicaCount": True}))
    wait_ready_hpa(kube, ckeda, ns, "gone", 1)
    assert kube.get(ns, "scaledobject", "gone")["status"]["originalReplicaCount"] == 3
    [t] = ckeda.triggers(ns, "gone")
    kube.run("-n", ns, "scale", "deployment", "restore", "--replicas=6")
    wait_until(lambda: ckeda.so(ns, "gone")["replicas"] is not None, "replicas observed")
    kube.delete(ns, "scaledobject", "gone")
    wait_until(lambda: kube.get(ns, "scaledobject", "gone") is None, "the finalizer removed")
    assert ckeda.so(ns, "gone") is None
    assert all(x["scaledobject"] != f"{ns}/gone" for x in ckeda.ctl("triggers")["triggers"])
    with pytest.raises(FileNotFoundError):
        ckeda.blob(t["slot"], t["cfg_gen"])
    wait_until(lambda: kube.get(ns, "deployment", "restore")["spec"]["replicas"] == 3,
               "the target restored to its original 3 replicas")
    wait_until(lambda: kube.get(ns, "hpa", "keda-hpa-gone") is None,
               "the HPA garbage-collected with its owner")


def test_keda_hpa_adopted_and_watcher_restart_keeps_the_table(kube, tmp_path):
    """A ScaledObject and the HPA KEDA made for it exist before ckeda starts: the HPA is updated
    in place (same uid). Then the watcher is killed: its successor keeps every slot and cfg_gen."""
    ns = kube.namespace("ckw-adopt")
    c = None
    try:
        kube.apply(ns, deployment("web", replicas=1))
        kube.apply(ns, scaled_object("legacy", "web", [redis("old")]))
        so = kube.get(ns, "scaledobject", "legacy")
        keda_hpa = kube.create(ns, {
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "keda-hpa-legacy",
                         "labels": {"app.kubernetes.io/name": "keda-hpa-legacy",
                                    "app.kubernetes.io/version": "2.17.0",
                                    "app.kubernetes.io/part-of": "legacy",
                                    "app.kubernetes.io/managed-by": "keda-operator",
                                    "scaledobject.keda.sh/name": "legacy", "team": "orders"},
                         "ownerReferences": [{"apiVersion": "keda.sh/v1alpha1",
                                              "kind": "ScaledObject", "name": "legacy",
                                              "uid": so["metadata"]["uid"], "controller": True,
                                              "blockOwnerDeletion": True}]},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                        "name": "web"},
                     "minReplicas": 1, "maxReplicas": 100,
                     "metrics": [{"type": "External", "external": {
                         "metric": {"name": "s0-redis-old", "selector": {
                             "matchLabels": {"scaledobject.keda.sh/name": "legacy"}}},
                         "target": {"type": "AverageValue", "averageValue": "5"}}}]}})
        c = Ckeda(kube.kubeconfig, ns, tmp_path).start()
        wait_ready_hpa(kube, c, ns, "legacy", 1)
        hpa = wait_until(lambda: (h := kube.get(ns, "hpa", "keda-hpa-legacy")) and
                         h["metadata"]["labels"]["app.kubernetes.io/version"] == VERSION and h,
                         "the KEDA HPA updated to ckeda's labels")
        assert hpa["metadata"]["uid"] == keda_hpa["metadata"]["uid"], "re-created, not adopted"
        assert [h["metadata"]["name"] for h in kube.items(ns, "hpa")] == ["keda-hpa-legacy"]

        before = c.triggers(ns, "legacy")
        pid = c.watcher()["pid"]
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: (w := c.watcher())["pid"] not in (None, pid) and
                   w["state"] == "running" and c.status().get("watcher_pid") == w["pid"] and
                   c.status().get("watcher_synced"), "a new watcher, synced")
        wait_until(lambda: c.status()["watcher_scaledobjects"] == 1, "the object kept")
        after = c.triggers(ns, "legacy")
        assert [(t["slot"], t["cfg_gen"]) for t in after] == \
            [(t["slot"], t["cfg_gen"]) for t in before], "slots and configurations kept"
        hold(lambda: kube.get(ns, "hpa", "keda-hpa-legacy")["metadata"]["uid"] ==
             keda_hpa["metadata"]["uid"] and len(kube.items(ns, "hpa")) == 1, "one HPA, same uid")
        # the successor serves changes as the first did
        kube.apply(ns, scaled_object("legacy", "web", [redis("old"), redis("new")]))
        wait_ready_hpa(kube, c, ns, "legacy", 2)
        assert c.triggers(ns, "legacy")[0]["cfg_gen"] == before[0]["cfg_gen"]
        assert c.watcher()["restarts"] == 1
    finally:
        if c:
            c.stop()
        kube.drop_namespace(ns)


def test_full_table_is_a_clear_not_ready_until_room_appears(kube, tmp_path):
    ns = kube.namespace("ckw-full")
    c = None
    try:
        kube.apply(ns, deployments("web-first", "web-second", replicas=1))
        c = Ckeda(kube.kubeconfig, ns, tmp_path, extra=("--max-scaledobjects", "1")).start()
        kube.apply(ns, scaled_object("first", "web-first", [redis("f")]))
        wait_ready_hpa(kube, c, ns, "first", 1)
        kube.apply(ns, scaled_object("second", "web-second", [redis("s")]))
        cond_ = wait_until(lambda: ready(kube, ns, "second"), "second Ready decided")
        assert (cond_["status"], cond_["reason"]) == ("False", "ScaledObjectCheckFailed")
        assert "ckeda's table is full" in cond_["message"] and "max-scaledobjects" in \
            cond_["message"]
        assert kube.get(ns, "hpa", "keda-hpa-second") is None, "nothing else is touched"
        kube.delete(ns, "scaledobject", "first")
        wait_ready_hpa(kube, c, ns, "second", 1)
        assert c.watcher()["restarts"] == 0
    finally:
        if c:
            c.stop()
        kube.drop_namespace(ns)


# ---------------------------------------------------------------- API server restart

def apiserver_restart(state_dir: pathlib.Path):
    """Stops kube-apiserver and starts it again with the same command line, as cluster.sh's
    spawn does (own session, log in logs/, pid in run/)."""
    pid_file = state_dir / "run" / "kube-apiserver.pid"
    pid = int(pid_file.read_text())
    argv = (pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0"))
    def gone():
        try:
            return pathlib.Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] in "ZX"
        except (OSError, IndexError):
            return True

    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10  # its graceful drain waits out open watches: cut it short
    while not gone() and time.monotonic() < deadline:
        time.sleep(0.1)
    if not gone():
        os.kill(pid, signal.SIGKILL)
        wait_until(gone, "kube-apiserver to stop", timeout=30)
    new = spawn_detached([a.decode() for a in argv], state_dir / "logs" / "kube-apiserver.log")
    pid_file.write_text(f"{new}\n")


def spawn_detached(argv, log_path) -> int:
    """Starts argv in its own session, orphaned (so cluster.sh can stop it and see it gone:
    a child of this process would linger as a zombie); returns its pid."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.setsid()
            with open(log_path, "ab") as log:
                p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            os.write(w, str(p.pid).encode())
        finally:
            os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    with os.fdopen(r) as f:
        return int(f.read())


@pytest.fixture(scope="module")
def own_cluster(tmp_path_factory):
    """A throw-away cluster: restarting the shared cluster's API server would disturb others."""
    state = tmp_path_factory.mktemp("cluster")
    env = {"CKEDA_E2E_DIR": str(state)}
    kc = cluster_up(env)
    yield Kube(kc), state
    r = subprocess.run([str(CLUSTER_SH), "down"], env=dict(os.environ, **env), capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, f"cluster.sh down failed: {r.stderr}"


def test_apiserver_restart_resumes_without_duplicates(own_cluster, tmp_path):
    kube, state = own_cluster
    ns = kube.namespace("ckw-restart")
    kube.apply(ns, deployments(*(f"web-so{i}" for i in range(4)), replicas=1))
    for i in range(3):
        kube.apply(ns, scaled_object(f"so{i}", f"web-so{i}", [redis(f"l{i}")]))
    c = Ckeda(kube.kubeconfig, ns, tmp_path).start()
    try:
        for i in range(3):
            wait_ready_hpa(kube, c, ns, f"so{i}", 1)
        uids = {h["metadata"]["name"]: h["metadata"]["uid"] for h in kube.items(ns, "hpa")}
        relist0 = c.status()["watcher_last_relist_real_ms"]

        apiserver_restart(state)
        wait_until(lambda: kube.run("get", "--raw", "/readyz", check=False).stdout == "ok",
                   "kube-apiserver ready again", timeout=120)
        # changes made after the restart converge
        kube.apply(ns, scaled_object("so0", "web-so0", [redis("l0"), redis("m0")]))
        kube.apply(ns, scaled_object("so3", "web-so3", [redis("l3")]))
        wait_ready_hpa(kube, c, ns, "so0", 2)
        wait_ready_hpa(kube, c, ns, "so3", 1)
        # the resumed watches were refused as too old (410) and the watcher relisted
        wait_until(lambda: (c.status()["watcher_last_relist_real_ms"] or 0) > relist0,
                   "a relist after the restart", timeout=90)
        hpas = kube.items(ns, "hpa")
        assert sorted(h["metadata"]["name"] for h in hpas) == \
            [f"keda-hpa-so{i}" for i in range(4)], "one HPA per ScaledObject"
        for h in hpas:
            if h["metadata"]["name"] in uids:
                assert h["metadata"]["uid"] == uids[h["metadata"]["name"]]
        assert c.status()["watcher_scaledobjects"] == 4
        assert c.watcher()["restarts"] == 0, c.log_tail()
    finally:
        c.stop()
