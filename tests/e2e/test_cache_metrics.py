"""KEDA's cache_metrics scenario (tests/internals/cache_metrics) on the real API server,
aggregator and HPA controller of tests/e2e/cluster.sh: a kubernetes-workload trigger counting
the pods of a monitored Deployment (they stay Pending here, and Pending pods count), value 2,
pollingInterval 1000 s, so after the first poll only the HPA's reads can bring a new value:

- useCachedMetrics false: each HPA read stamps the trigger's demand in the table and the worker
  polls once more (at most once a second), so when the monitored Deployment goes from 8 to 4
  pods the target follows from 8 / 2 = 4 to 4 / 2 = 2 replicas;
- useCachedMetrics true: the adapter serves the value of the interval's poll; the target stays
  at 4 replicas through many HPA reads (every second here) although the source says 4 pods.
"""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from test_watcher import (ckeda_in_namespace, deployment, hold, replicas,  # noqa: E402
                          scaled_object, wait_until)

SLOW = 120.0  # the HPA and the aggregator: generous


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with ckeda_in_namespace(tmp_path_factory, "ckc", adapter=True) as e:
        yield e


def cache_so(name, target, cached):
    return scaled_object(name, target,
                         [{"type": "kubernetes-workload", "useCachedMetrics": cached,
                           "metadata": {"podSelector": f"app={name}-monitored", "value": "2"}}],
                         pollingInterval=1000, minReplicaCount=0, maxReplicaCount=10,
                         cooldownPeriod=0,
                         advanced={"horizontalPodAutoscalerConfig": {"behavior": {
                             "scaleDown": {"stabilizationWindowSeconds": 1}}}})


def pods(kube, ns, app):
    out = kube.run("-n", ns, "get", "pods", "-l", f"app={app}", "-o", "name").stdout
    return len(out.split())


def start(kube, ns, c, name, cached):
    kube.apply(ns, deployment(name, replicas=1))
    kube.apply(ns, deployment(f"{name}-monitored", replicas=8))
    wait_until(lambda: pods(kube, ns, f"{name}-monitored") == 8, "8 monitored pods")
    kube.apply(ns, cache_so(name, name, cached))
    wait_until(lambda: replicas(kube, ns, name) == 4, "8 pods / 2 = 4 replicas", timeout=SLOW)
    kube.apply(ns, deployment(f"{name}-monitored", replicas=4))
    wait_until(lambda: pods(kube, ns, f"{name}-monitored") == 4, "4 monitored pods")


def test_direct_query_follows_the_source_between_intervals(env):
    kube, ns, c = env
    start(kube, ns, c, "direct", cached=False)
    wait_until(lambda: replicas(kube, ns, "direct") == 2, "4 pods / 2 = 2 replicas", timeout=SLOW)
    t = c.so(ns, "direct")["triggers"][0]
    assert t["value"] == 4, t


def test_cached_metrics_wait_for_the_polling_interval(env):
    kube, ns, c = env
    start(kube, ns, c, "cached", cached=True)
    # the HPA reads every second here; twenty reads find the interval's value, 8
    hold(lambda: replicas(kube, ns, "cached") == 4, "4 replicas on the cached value", seconds=20)
    t = c.so(ns, "cached")["triggers"][0]
    assert t["value"] == 8, t
