"""The walking skeleton, end to end: a real Redis list scales a Deployment 0 -> 1 -> N -> 0.

Everything is real: redis-server (tests/integration/sources.py), kube-apiserver with its
aggregator, and the HPA controller of kube-controller-manager calling ckeda's metrics API as its
own service account. ckeda runs with the adapter certificate `cluster.sh up` issued, on
$CKEDA_ADAPTER_PORT, so the APIService reaches it.

A Deployment starts at 0 replicas (no kubelet: pods stay Pending, which is fine for an
AverageValue metric) with a ScaledObject on a Redis list (activationListLength 2, listLength 5,
maxReplicaCount 4, pollingInterval 1, cooldownPeriod 5):
- 2 items: not above the activation value, the target stays at 0;
- 3 items: ckeda's scale loop activates it to 1;
- 20 items: the HPA scales it to 4 (20 / 5) on the metric ckeda serves;
- drained: back to 0 after the cooldown;
- scaled out again, the redis worker is killed with SIGKILL: while it restarts the replicas do
  not move (a missing result is never "inactive"); drained, the target goes to 0 again.

Each run uses a namespace of its own (deleted without waiting) and a table of its own.
Run: python3 -m pytest tests/e2e/test_skeleton.py -v   (CKEDA_BIN: the build directory)
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

from sources import RedisServer  # noqa: E402
from test_watcher import (ckeda_in_namespace, condition, deployment,  # noqa: E402,F401
                          port_busy, scaled_object, wait_until)
from test_watcher import replicas as watcher_replicas  # noqa: E402

LIST = "jobs"
SLOW = 120.0  # the HPA and the aggregator: generous
TIMELINE: list = []


def replicas(kube, ns, name="worker"):
    return watcher_replicas(kube, ns, name)


def mark(what, start=[None]):
    now = time.monotonic()
    start[0] = start[0] or now
    TIMELINE.append((now - start[0], what))


def hold(pred, what, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = pred()
        assert got, f"{what} stopped holding"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def redis_server():
    with RedisServer() as r:
        yield r


@pytest.fixture(scope="module")
def env(redis_server, tmp_path_factory):
    try:
        with ckeda_in_namespace(tmp_path_factory, "cks", adapter=True) as e:
            yield e
    finally:
        print("\ntimeline (s):\n" + "\n".join(f"{t:7.2f}  {w}" for t, w in TIMELINE))


def so_doc(redis_server):
    trig = {"type": "redis", "metadata": {"address": redis_server.address, "listName": LIST,
                                          "listLength": "5", "activationListLength": "2"}}
    return scaled_object("worker-so", "worker", [trig], maxReplicaCount=4, pollingInterval=1,
                         cooldownPeriod=5)


def trigger(c, ns):
    doc = c.so(ns, "worker-so")
    return doc["triggers"][0] if doc and doc.get("triggers") else None


def value_is(c, ns, v, state):
    t = trigger(c, ns)
    return t and t["value"] == v and t["state"] == state and t


def apiservice_available(kube):
    doc = json.loads(kube.run("get", "apiservice", "v1beta1.external.metrics.k8s.io", "-o",
                              "json").stdout)
    return any(x["type"] == "Available" and x["status"] == "True"
               for x in doc.get("status", {}).get("conditions", []))


def push(r, n):
    r.command("RPUSH", LIST, *[f"item-{i}" for i in range(n)])


def scale_out(kube, ns, c, r):
    """From 0 with an empty list: 2 items hold 0; 3 activate to 1; 20 let the HPA go to 4."""
    push(r, 2)
    wait_until(lambda: value_is(c, ns, 2, "INACTIVE"), "the trigger to read 2 items")
    hold(lambda: replicas(kube, ns) == 0, "0 replicas below the activation value", 4)
    active = condition(kube.get(ns, "scaledobject", "worker-so"), "Active")
    assert active and (active["status"], active.get("reason")) == ("False", "ScalerNotActive"), active
    push(r, 1)
    mark("3 items pushed")
    wait_until(lambda: replicas(kube, ns) >= 1, "activation to 1 replica")
    mark(f"replicas {replicas(kube, ns)}")
    so = kube.get(ns, "scaledobject", "worker-so")
    assert (condition(so, "Active")["status"], condition(so, "Active")["reason"]) == \
        ("True", "ScalerActive")
    assert so["status"].get("lastActiveTime"), so["status"]
    push(r, 17)
    mark("20 items in the list")
    wait_until(lambda: replicas(kube, ns) == 4, "the HPA to scale to 4", timeout=SLOW)
    mark("replicas 4 (HPA)")


def drain(kube, ns, c, r):
    r.command("DEL", LIST)
    mark("list drained")
    wait_until(lambda: value_is(c, ns, 0, "INACTIVE"), "the trigger to read 0")
    wait_until(lambda: replicas(kube, ns) == 0, "scale to zero after the cooldown", timeout=SLOW)
    mark("replicas 0")
    so = kube.get(ns, "scaledobject", "worker-so")
    assert condition(so, "Active")["status"] == "False"
    assert condition(so, "Ready")["status"] == "True", so["status"]


def redis_worker(c):
    return next(p for p in c.ctl("workers")["processes"]
                if p["role"] in ("scaleworker", "worker") and p.get("type") == "redis")


def test_redis_list_scales_0_1_n_0_and_survives_a_worker_kill(env, redis_server):
    kube, ns, c = env
    r = redis_server
    kube.apply(ns, deployment("worker", replicas=0))
    kube.apply(ns, so_doc(r))
    wait_until(lambda: (condition(kube.get(ns, "scaledobject", "worker-so"), "Ready") or {})
               .get("status") == "True", "the ScaledObject to be Ready")
    wait_until(lambda: kube.get(ns, "hpa", "keda-hpa-worker-so"), "the HPA")
    wait_until(lambda: apiservice_available(kube), "the metrics APIService", timeout=SLOW)
    wait_until(lambda: value_is(c, ns, 0, "INACTIVE"), "the first poll of the empty list")
    assert replicas(kube, ns) == 0
    mark("start: 0 replicas, empty list")

    scale_out(kube, ns, c, r)
    drain(kube, ns, c, r)

    # scaled out again; then the worker dies while the target is at 4 and the list is full
    scale_out(kube, ns, c, r)
    victim = redis_worker(c)
    os.kill(victim["pid"], signal.SIGKILL)
    mark(f"redis worker {victim['pid']} killed")

    def restarted_and_polling():
        w = redis_worker(c)
        t = trigger(c, ns)
        assert replicas(kube, ns) == 4, "the replicas moved while the worker restarted"
        return w["pid"] != victim["pid"] and t and t["state"] == "ACTIVE" and \
            t["worker_pid"] == w["pid"] and w
    w = wait_until(restarted_and_polling, "the worker to restart and poll again")
    mark(f"worker restarted as {w['pid']}")
    hold(lambda: replicas(kube, ns) == 4, "4 replicas after the restart", 3)
    drain(kube, ns, c, r)
    assert redis_worker(c)["restarts"] >= 1
