"""The kubernetes-workload scaler end to end: pods created in the ScaledObject's namespace drive
a Deployment through ckeda's scale loop and the real HPA.

Everything is real: kube-apiserver with its aggregator and the HPA controller of
kube-controller-manager calling ckeda's metrics API. There is no kubelet, so pods stay Pending
unless a test writes their status (the admin may patch /status, as a kubelet would); pods bound
to a node by name stay Terminating when deleted until they are deleted with --force.

- A ScaledObject with `podSelector: job=batch,tier in (a,b)`, `value: 2`, `activationValue: 1`
  over a Deployment at 0 replicas. The value in the table (ckedactl) follows matching pods as
  they are created, finish (phase Succeeded/Failed, not counted, as KEDA) and are deleted, and
  ignores pods that do not match; 1 pod is not above the activation value (0 replicas), 2 are
  (1 replica); 10 let the HPA scale to 5 (10 / 2); all gone, the target goes back to 0.
- groupByNode counts the distinct nodes of matching pods; a terminating pod still counts, as
  in KEDA.
- A ckeda whose kubeconfig holds a ServiceAccount's bearer token lists pods with it; without
  the RBAC rule it shows the API server's Forbidden in the table, never the token.

Run: python3 -m pytest tests/e2e/test_workload_scaler.py -v   (CKEDA_BIN: the build directory)
"""

from __future__ import annotations

import json
import os
import pathlib
import sys

import pytest
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from test_skeleton import apiservice_available, port_busy, replicas  # noqa: E402
from test_watcher import (Ckeda, Kube, cluster_up, condition, deployment, hold,  # noqa: E402
                          scaled_object, wait_until)

PORT = int(os.environ.get("CKEDA_ADAPTER_PORT", "7443"))
SLOW = 120.0  # the HPA and the aggregator: generous
SELECTOR = "job=batch,tier in (a,b)"


@pytest.fixture(scope="module")
def kube():
    return Kube(cluster_up())


@pytest.fixture(scope="module")
def env(kube, tmp_path_factory):
    if port_busy(PORT):
        pytest.fail(f"port {PORT} is in use: another adapter serves the cluster; stop it first")
    ns = kube.namespace("ckwl")
    certs = kube.kubeconfig.parent / "adapter-certs"
    c = Ckeda(kube.kubeconfig, ns, tmp_path_factory.mktemp("ckeda"),
              extra=("--secure-port", str(PORT), "--cert-dir", str(certs)))
    try:
        c.start()
        yield kube, ns, c
    finally:
        c.stop()
        force_delete_pods(kube, ns)
        kube.drop_namespace(ns)


def pod(name, labels, node=None):
    spec = {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": spec}


def create_pods(kube, ns, *pods):
    kube.run("-n", ns, "create", "-f", "-", stdin={"apiVersion": "v1", "kind": "List",
                                                    "items": list(pods)})


def set_phase(kube, ns, name, phase):
    """What a kubelet would write: the pod's phase, through /status."""
    kube.run("-n", ns, "patch", "pod", name, "--subresource=status", "--type=merge", "-p",
             json.dumps({"status": {"phase": phase}}))


def delete_pods(kube, ns, *names, force=True):
    extra = ("--grace-period=0", "--force") if force else ()
    kube.run("-n", ns, "delete", "pod", *names, "--wait=false", "--ignore-not-found", *extra)


def force_delete_pods(kube, ns):
    kube.run("-n", ns, "delete", "pods", "--all", "--grace-period=0", "--force", "--wait=false",
             check=False)


def workload(selector=SELECTOR, value="2", activation="1", **extra):
    md = {"podSelector": selector, "value": value, "activationValue": activation, **extra}
    return {"type": "kubernetes-workload", "metadata": md}


def trigger(c, ns, name):
    doc = c.so(ns, name)
    return doc["triggers"][0] if doc and doc.get("triggers") else None


def value_is(c, ns, name, v, state=None):
    t = trigger(c, ns, name)
    return t and t["value"] == v and (state is None or t["state"] == state) and t


def matching(i, tier="a"):
    return pod(f"m{i}", {"job": "batch", "tier": tier})


def test_pods_drive_the_value_activation_and_the_hpa(env):
    kube, ns, c = env
    kube.apply(ns, deployment("worker", replicas=0))
    kube.apply(ns, scaled_object("worker-so", "worker", [workload()], maxReplicaCount=5,
                                 pollingInterval=1, cooldownPeriod=5))
    wait_until(lambda: (condition(kube.get(ns, "scaledobject", "worker-so"), "Ready") or {})
               .get("status") == "True", "the ScaledObject to be Ready")
    t = wait_until(lambda: value_is(c, ns, "worker-so", 0, "INACTIVE"), "the first poll: 0 pods")
    # KEDA's metric name, learnt from the worker, in the table, the HPA and the status
    metric = f"s0-workload-{ns}"
    assert t["metric_name"] == metric, t
    hpa = wait_until(lambda: (h := kube.get(ns, "hpa", "keda-hpa-worker-so")) and
                     h["spec"]["metrics"][0]["external"]["metric"]["name"] == metric and h,
                     "the HPA on KEDA's metric name")
    assert hpa["spec"]["metrics"][0]["external"]["target"] == {"type": "AverageValue",
                                                               "averageValue": "2"}
    assert kube.get(ns, "scaledobject", "worker-so")["status"]["externalMetricNames"] == [metric]
    wait_until(lambda: apiservice_available(kube), "the metrics APIService", timeout=SLOW)
    assert replicas(kube, ns) == 0

    # one matching pod and three that do not match: 1 is not above the activation value 1
    create_pods(kube, ns, matching(1), pod("other-tier", {"job": "batch", "tier": "c"}),
                pod("other-job", {"job": "web", "tier": "a"}), pod("no-labels", {}))
    wait_until(lambda: value_is(c, ns, "worker-so", 1, "INACTIVE"), "the value 1, inactive")
    hold(lambda: replicas(kube, ns) == 0 and value_is(c, ns, "worker-so", 1),
         "0 replicas at the activation value", 4)

    # a second one (the other tier of the set): above the activation value, scaled to 1
    create_pods(kube, ns, matching(2, tier="b"))
    wait_until(lambda: value_is(c, ns, "worker-so", 2, "ACTIVE"), "the value 2, active")
    wait_until(lambda: replicas(kube, ns) >= 1, "activation to 1 replica", timeout=SLOW)

    # ten: the HPA wants 10 / 2 = 5; the Deployment's own pods (app=worker) never count
    create_pods(kube, ns, *[matching(i) for i in range(3, 11)])
    wait_until(lambda: value_is(c, ns, "worker-so", 10, "ACTIVE"), "the value 10")
    wait_until(lambda: replicas(kube, ns) == 5, "the HPA to scale to 5", timeout=SLOW)
    assert value_is(c, ns, "worker-so", 10), "the Deployment's pods were counted"

    # finished pods do not count (KEDA's phasesCountedAsTerminated); running ones do
    set_phase(kube, ns, "m3", "Succeeded")
    set_phase(kube, ns, "m4", "Failed")
    set_phase(kube, ns, "m5", "Running")
    wait_until(lambda: value_is(c, ns, "worker-so", 8, "ACTIVE"), "the value 8 (2 finished)")
    wait_until(lambda: replicas(kube, ns) == 4, "the HPA to scale to 4", timeout=SLOW)

    # deleted: back to 0 and, after the cooldown, to 0 replicas
    delete_pods(kube, ns, *[f"m{i}" for i in range(1, 11)])
    wait_until(lambda: value_is(c, ns, "worker-so", 0, "INACTIVE"), "the value 0")
    wait_until(lambda: replicas(kube, ns) == 0, "scale to zero after the cooldown", timeout=SLOW)
    so = kube.get(ns, "scaledobject", "worker-so")
    assert condition(so, "Active")["status"] == "False"
    assert condition(so, "Ready")["status"] == "True", so["status"]


def test_group_by_node_counts_nodes_and_terminating_pods(env):
    kube, ns, c = env
    kube.apply(ns, deployment("nodes", replicas=0))
    kube.apply(ns, scaled_object("nodes-so", "nodes", [workload("pinned=yes", "1", "0",
                                                                groupByNode="true")],
                                 pollingInterval=1))
    wait_until(lambda: value_is(c, ns, "nodes-so", 0), "the first poll: no nodes")
    lab = {"pinned": "yes"}
    create_pods(kube, ns, pod("p1", lab, "node-a"), pod("p2", lab, "node-a"),
                pod("p3", lab, "node-b"), pod("p4", lab), pod("p5", lab, "node-c"))
    set_phase(kube, ns, "p5", "Failed")
    # node-a and node-b: an unscheduled pod has no node, a Failed pod's node does not count
    wait_until(lambda: value_is(c, ns, "nodes-so", 2, "ACTIVE"), "2 distinct nodes")
    # a bound pod deleted gracefully stays Terminating (no kubelet): KEDA still counts it
    delete_pods(kube, ns, "p3", force=False)
    wait_until(lambda: (kube.get(ns, "pod", "p3") or {}).get("metadata", {})
               .get("deletionTimestamp"), "p3 terminating")
    hold(lambda: value_is(c, ns, "nodes-so", 2), "node-b counted while p3 terminates", 3)
    delete_pods(kube, ns, "p3")
    wait_until(lambda: value_is(c, ns, "nodes-so", 1), "1 node once p3 is gone")


def token_kubeconfig(kube, ns, sa, path):
    """A kubeconfig holding only the cluster's CA and a TokenRequest token of ns/sa."""
    cfg = yaml.safe_load(kube.kubeconfig.read_text())
    cluster = cfg["clusters"][0]["cluster"]
    token = kube.run("-n", ns, "create", "token", sa, "--duration=1h").stdout.strip()
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "sa",
           "clusters": [{"name": "c", "cluster": cluster}],
           "users": [{"name": "sa", "user": {"token": token}}],
           "contexts": [{"name": "sa", "context": {"cluster": "c", "user": "sa"}}]}
    path.write_text(yaml.safe_dump(doc))
    return token


def deploy_cluster_role(name):
    """deploy/rbac.yaml's ClusterRole without its pods rule, under another name."""
    docs = yaml.safe_load_all((pathlib.Path(__file__).resolve().parents[2] / "deploy" /
                               "rbac.yaml").read_text())
    role = next(d for d in docs if d and d["kind"] == "ClusterRole" and
                d["metadata"]["name"] == "ckeda")
    rules = [r for r in role["rules"] if "pods" not in r["resources"]]
    assert len(rules) == len(role["rules"]) - 1, "deploy/rbac.yaml has no rule for pods"
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": name}, "rules": rules}


def test_bearer_token_credentials_and_forbidden(kube, tmp_path_factory):
    ns = kube.namespace("ckwt")
    sa = "lister"
    tmp = tmp_path_factory.mktemp("token")
    kube.run("-n", ns, "create", "serviceaccount", sa)
    kube.run("apply", "-f", "-", stdin=deploy_cluster_role(ns))
    kube.run("create", "clusterrolebinding", ns, f"--clusterrole={ns}",
             f"--serviceaccount={ns}:{sa}")
    # the Lease of leader election, in the pod namespace (the test's)
    kube.run("-n", ns, "create", "role", "lease", "--verb=get,create,update",
             "--resource=leases.coordination.k8s.io")
    kube.run("-n", ns, "create", "rolebinding", "lease", "--role=lease",
             f"--serviceaccount={ns}:{sa}")
    kcfg = tmp / "kubeconfig"
    token = token_kubeconfig(kube, ns, sa, kcfg)
    c = Ckeda(kcfg, ns, tmp)
    try:
        c.start()
        kube.apply(ns, deployment("w", replicas=0))
        create_pods(kube, ns, matching(1), matching(2))
        kube.apply(ns, scaled_object("tok-so", "w", [workload()], pollingInterval=1))
        t = wait_until(lambda: (t := trigger(c, ns, "tok-so")) and t["state"] == "ERROR" and
                       "forbidden" in (t["error"] or "") and t, "Forbidden without the rule")
        assert 'cannot list resource "pods"' in t["error"], t
        kube.run("-n", ns, "create", "role", "pods", "--verb=list", "--resource=pods")
        kube.run("-n", ns, "create", "rolebinding", "pods", "--role=pods",
                 f"--serviceaccount={ns}:{sa}")
        wait_until(lambda: value_is(c, ns, "tok-so", 2, "ACTIVE"), "2 pods with the token")
        log = c.log_path.read_text(errors="replace")
        assert token not in json.dumps(c.ctl("get", f"{ns}/tok-so")) and token not in log
    finally:
        c.stop()
        for kind in ("clusterrolebinding", "clusterrole"):
            kube.run("delete", kind, ns, "--ignore-not-found", check=False)
        force_delete_pods(kube, ns)
        kube.drop_namespace(ns)
