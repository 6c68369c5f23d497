"""Leader election on the real API server: two ckeda trees on one cluster share the Lease
operator.keda.sh (here in the test's namespace, as --pod-namespace).

- exactly one leads; both mirror the ScaledObject into their own tables; only the leader writes
  (the follower's log never tells of a write);
- SIGKILL of the leader's whole tree: the follower takes over within the lease duration and
  keeps the HPA in step with the ScaledObject;
- SIGKILL of the new leader's watcher alone: the supervisor restarts it under the same
  identity, and it leads again at once (the Lease never changes hands);
- SIGTERM: the leader releases the Lease (holder "") on its way out.

Run: python3 -m pytest tests/e2e/test_leader.py -v   (CKEDA_BIN: the build directory)
"""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from test_watcher import kube  # noqa: E402,F401
from test_watcher import (Ckeda, deployment, redis, scaled_object,  # noqa: E402
                          wait_until)

LEASE = "operator.keda.sh"
LEASE_S = 15  # KEDA's default lease duration


@pytest.fixture(scope="module")
def ns(kube):
    name = kube.namespace("ckl")
    kube.apply(name, deployment("web", replicas=1))
    yield name
    kube.drop_namespace(name)


@pytest.fixture
def pair(kube, ns, tmp_path):
    trees = [Ckeda(kube.kubeconfig, ns, tmp_path) for _ in range(2)]
    for c in trees:
        c.start()
    yield trees
    for c in trees:
        c.stop()


def lease(kube, ns):
    return (kube.get(ns, "lease", LEASE) or {}).get("spec", {})


def leading(c):
    return c.proc.poll() is None and c.status().get("leader")


def test_one_leader_writes_the_other_mirrors_and_takes_over(kube, ns, pair):
    a, b = pair
    leader = wait_until(lambda: next((c for c in pair if leading(c)), None), "a leader")
    follower = b if leader is a else a
    holder = lease(kube, ns)["holderIdentity"]
    assert holder == leader.status()["lease_holder"]
    assert follower.status()["lease_holder"] == holder, "the follower sees who holds it"
    assert not leading(follower)

    kube.apply(ns, scaled_object("orders", "web", [redis("jobs")], maxReplicaCount=3))
    wait_until(lambda: (h := kube.get(ns, "hpa", "keda-hpa-orders")) and
               h["spec"]["maxReplicas"] == 3, "the leader's HPA")
    for c in pair:  # every replica serves metrics: both tables hold the object
        wait_until(lambda c=c: c.so(ns, "orders"), f"orders in {c.name}'s table")
    assert "created HPA" not in follower.log_path.read_text(), "the follower wrote"

    # the leader's whole tree dies: the follower takes over within the lease duration
    os.killpg(leader.proc.pid, signal.SIGKILL)
    leader.proc.wait()
    start = time.monotonic()
    wait_until(lambda: leading(follower), "the follower to take over", timeout=3 * LEASE_S)
    took = time.monotonic() - start
    assert took < LEASE_S + 10, f"takeover took {took:.1f} s"
    spec = lease(kube, ns)
    assert spec["holderIdentity"] == follower.status()["lease_holder"] != holder
    assert spec.get("leaseTransitions", 0) >= 1
    kube.apply(ns, scaled_object("orders", "web", [redis("jobs")], maxReplicaCount=5))
    wait_until(lambda: kube.get(ns, "hpa", "keda-hpa-orders")["spec"]["maxReplicas"] == 5,
               "the new leader updates the HPA")

    # its watcher alone is killed: restarted under the same identity, it leads at once
    before = lease(kube, ns)
    pid = next(p["pid"] for p in follower.ctl("workers")["processes"] if p["role"] == "watcher")
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: (w := follower.watcher())["pid"] != pid and w["restarts"] >= 1,
               "the watcher restarted")
    wait_until(lambda: leading(follower), "the restarted watcher to lead", timeout=LEASE_S - 5)
    after = lease(kube, ns)
    assert after["holderIdentity"] == before["holderIdentity"]
    assert after.get("leaseTransitions") == before.get("leaseTransitions")
    assert after["acquireTime"] == before["acquireTime"]

    # SIGTERM: released on the way out
    follower.stop()
    assert lease(kube, ns).get("holderIdentity", "") == "", \
        f"the Lease was not released:\n{follower.log_tail()}"
