"""Migration from KEDA on the real control plane: objects shaped as KEDA leaves them (its
finalizer, its status, its keda-hpa-* HPAs with the ScaledObject as controller, a ScaledObject
of a scaler type ckeda does not serve) exist before ckeda starts. Then:

- nothing is re-created: both HPAs keep their uid, and no other HPA appears;
- no replica moves that should not: the redis target stays at the 3 replicas its 15 items ask
  for (target 5), the unsupported object's target stays at 2;
- the served object is Ready, with KEDA's status fields kept (originalReplicaCount); the
  unsupported one is Ready=False saying so, and its HPA is left alone;
- deletes complete: KEDA's finalizer never holds either object, and their HPAs go with them.
"""

from __future__ import annotations

import datetime
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

from sources import RedisServer  # noqa: E402
from test_watcher import (Ckeda, Kube, cluster_up, condition, deployment, hold,  # noqa: E402
                          port_busy, ready, replicas, scaled_object, wait_until, ADAPTER_PORT)

SLOW = 120.0


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    kube = Kube(cluster_up())
    if port_busy(ADAPTER_PORT):
        pytest.fail(f"port {ADAPTER_PORT} is in use: another adapter serves the cluster")
    ns = kube.namespace("ckg")
    with RedisServer() as r:
        try:
            yield kube, ns, r, tmp_path_factory.mktemp("ckeda")
        finally:
            kube.drop_namespace(ns)


def keda_hpa(so, target, metric, min_replicas=1):
    """The HPA KEDA 2.x creates for a ScaledObject."""
    name = f"keda-hpa-{so['metadata']['name']}"
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name,
                         "labels": {"app.kubernetes.io/name": name,
                                    "app.kubernetes.io/version": "2.17.0",
                                    "app.kubernetes.io/part-of": so["metadata"]["name"],
                                    "app.kubernetes.io/managed-by": "keda-operator",
                                    "scaledobject.keda.sh/name": so["metadata"]["name"]},
                         "ownerReferences": [{"apiVersion": "keda.sh/v1alpha1",
                                              "kind": "ScaledObject",
                                              "name": so["metadata"]["name"],
                                              "uid": so["metadata"]["uid"], "controller": True,
                                              "blockOwnerDeletion": True}]},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                        "name": target},
                     "minReplicas": min_replicas, "maxReplicas": 10,
                     "metrics": [{"type": "External", "external": {
                         "metric": {"name": metric, "selector": {"matchLabels": {
                             "scaledobject.keda.sh/name": so["metadata"]["name"]}}},
                         "target": {"type": "AverageValue", "averageValue": "5"}}}]}}


def keda_status(hpa_name, metric, original):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"status": {
        "hpaName": hpa_name, "originalReplicaCount": original, "lastActiveTime": now,
        "externalMetricNames": [metric],
        "scaleTargetKind": "apps/v1.Deployment",
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "ScaledObjectReady",
             "message": "ScaledObject is defined correctly and is ready for scaling"},
            {"type": "Active", "status": "True", "reason": "ScalerActive",
             "message": "Scaling is performed because triggers are active"},
            {"type": "Fallback", "status": "False", "reason": "NoFallbackFound",
             "message": "No fallbacks are active on this scaled object"},
            {"type": "Paused", "status": "False"}]}}


def as_keda_left_it(kube, ns, name, target, trigger, metric, original):
    """A ScaledObject with KEDA's finalizer and status, and KEDA's HPA for it."""
    doc = scaled_object(name, target, [trigger], pollingInterval=1, cooldownPeriod=5)
    doc["metadata"]["finalizers"] = ["finalizer.keda.sh"]
    so = kube.create(ns, doc)
    kube.run("-n", ns, "patch", "scaledobject", name, "--subresource=status", "--type=merge",
             "-p", json.dumps(keda_status(f"keda-hpa-{name}", metric, original)))
    return kube.create(ns, keda_hpa(so, target, metric))


def test_ckeda_takes_over_what_keda_left(env):
    kube, ns, r, logs = env
    r.command("RPUSH", "jobs", *[f"i{i}" for i in range(15)])
    kube.apply(ns, deployment("orders", replicas=3))
    kube.apply(ns, deployment("events", replicas=2))
    hpas = {
        "orders": as_keda_left_it(kube, ns, "orders", "orders",
                                  {"type": "redis", "metadata": {"address": r.address,
                                                                 "listName": "jobs",
                                                                 "listLength": "5"}},
                                  "s0-redis-jobs", 3),
        "events": as_keda_left_it(kube, ns, "events", "events",
                                  {"type": "kafka", "metadata": {"topic": "t",
                                                                 "bootstrapServers": "k:9092",
                                                                 "consumerGroup": "g"}},
                                  "s0-kafka-t", 2),
    }
    c = Ckeda(kube.kubeconfig, ns, logs,
              extra=("--secure-port", str(ADAPTER_PORT), "--cert-dir",
                     str(kube.kubeconfig.parent / "adapter-certs")))
    try:
        c.start()
        wait_until(lambda: (c.so(ns, "orders") or {}).get("triggers") and
                   c.so(ns, "orders")["triggers"][0]["value"] == 15, "the redis trigger's value")
        rd = wait_until(lambda: ready(kube, ns, "events"), "events' Ready condition")
        assert rd["status"] == "False" and "not supported" in rd["message"], rd

        def unchanged():
            for name, h in hpas.items():
                now = kube.get(ns, "hpa", h["metadata"]["name"])
                assert now and now["metadata"]["uid"] == h["metadata"]["uid"], (name, now)
            assert len(kube.items(ns, "hpa")) == 2
            return replicas(kube, ns, "orders") == 3 and replicas(kube, ns, "events") == 2

        hold(unchanged, "HPAs kept and replicas unmoved", seconds=10)
        so = kube.get(ns, "scaledobject", "orders")
        assert condition(so, "Ready")["status"] == "True", so["status"]
        assert so["status"]["originalReplicaCount"] == 3, so["status"]

        for name in ("orders", "events"):
            kube.run("-n", ns, "delete", "scaledobject", name, "--wait=false")
        wait_until(lambda: not kube.items(ns, "scaledobjects"), "both deletes to complete",
                   timeout=SLOW)
        wait_until(lambda: not kube.items(ns, "hpa"), "their HPAs gone", timeout=SLOW)
        assert replicas(kube, ns, "orders") == 3 and replicas(kube, ns, "events") == 2
    finally:
        c.stop()
