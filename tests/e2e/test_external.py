"""External scalers (reference keda.md §5) end to end, on the real API server, aggregator and
HPA controller of tests/e2e/cluster.sh, against a real gRPC server implementing KEDA's
externalscaler.proto (grpcio, tests/integration/external_scaler_server.py):

- `external`: the HPA is built from what the source's GetMetricSpec says (metric `s0-<name>`,
  its target), which the worker learns and publishes; status.externalMetricNames says the same;
  the value activates the target and the HPA scales it to value / target through the
  aggregator; when the source answers a new spec (here after a failed poll, when the worker asks
  again), the HPA follows it;
- `external-push`: a StreamIsActive `true` activates the target at once, long before the
  pollingInterval (300 s) would poll again.

ckeda runs with the adapter certificate on $CKEDA_ADAPTER_PORT (the APIService points there).
Run: python3 -m pytest tests/e2e/test_external.py -v   (CKEDA_BIN: the build directory)
"""

from __future__ import annotations

import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

from external_scaler_server import ExternalScalerServer  # noqa: E402
from test_watcher import (ckeda_in_namespace, condition, deployment, replicas,  # noqa: E402
                          scaled_object, wait_until)

SLOW = 120.0  # the HPA and the aggregator: generous


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with ExternalScalerServer() as srv, \
            ckeda_in_namespace(tmp_path_factory, "ckx", adapter=True) as (kube, ns, c):
        yield kube, ns, c, srv


def hpa_external(kube, ns, name):
    hpa = kube.get(ns, "hpa", f"keda-hpa-{name}")
    metrics = (hpa or {}).get("spec", {}).get("metrics") or []
    return metrics[0]["external"] if len(metrics) == 1 and "external" in metrics[0] else None


def test_external_hpa_follows_the_sources_metric_spec(env):
    kube, ns, c, srv = env
    srv.set(ns, "ext", metric="queue", target=2, value=0, active=False)
    kube.apply(ns, deployment("ext-work", replicas=0))
    kube.apply(ns, scaled_object("ext", "ext-work",
                                 [{"type": "external",
                                   "metadata": {"scalerAddress": srv.address, "queue": "q1"}}],
                                 minReplicaCount=0, maxReplicaCount=6, pollingInterval=1,
                                 cooldownPeriod=5))
    ext = wait_until(lambda: hpa_external(kube, ns, "ext"), "the HPA with the source's metric")
    assert ext["metric"]["name"] == "s0-queue"
    assert ext["metric"]["selector"] == {"matchLabels": {"scaledobject.keda.sh/name": "ext"}}
    assert ext["target"] == {"type": "AverageValue", "averageValue": "2"}
    st = wait_until(lambda: kube.get(ns, "scaledobject", "ext").get("status", {})
                    .get("externalMetricNames"), "status.externalMetricNames")
    assert st == ["s0-queue"]
    # the scaler's own metadata reaches the source with the ScaledObject's reference
    spec_calls = [x for x in srv.calls if x.method == "GetMetricSpec" and x.name == "ext"]
    assert spec_calls and spec_calls[0].namespace == ns
    assert spec_calls[0].metadata.get("queue") == "q1"

    srv.set(ns, "ext", value=8, active=True)
    wait_until(lambda: replicas(kube, ns, "ext-work") >= 1, "activation by IsActive")
    wait_until(lambda: replicas(kube, ns, "ext-work") == 4, "the HPA at 8 / 2 = 4", timeout=SLOW)
    # the HPA's ScalingActive mirrored (checkHPAHealth)
    h = wait_until(lambda: condition(kube.get(ns, "scaledobject", "ext"), "HPAActive"),
                   "the HPAActive condition")
    assert (h["status"], h["reason"], h["message"]) == ("True", "HPAActive",
                                                        "HPA is actively scaling"), h

    # a new spec is learnt when the worker asks again after a failed poll
    srv.set(ns, "ext", metric="backlog", target=4)
    srv.objects[(ns, "ext")].hang.set()
    wait_until(lambda: any(t["state"] == "ERROR" for t in c.triggers(ns, "ext")),
               "a poll that times out")
    srv.objects[(ns, "ext")].hang.clear()
    ext = wait_until(lambda: (e := hpa_external(kube, ns, "ext")) and
                     e["metric"]["name"] == "s0-backlog" and e, "the HPA on the new spec")
    assert ext["target"] == {"type": "AverageValue", "averageValue": "4"}
    wait_until(lambda: kube.get(ns, "scaledobject", "ext")["status"]
               .get("externalMetricNames") == ["s0-backlog"], "status on the new spec")
    wait_until(lambda: replicas(kube, ns, "ext-work") == 2, "the HPA at 8 / 4 = 2", timeout=SLOW)
    assert condition(kube.get(ns, "scaledobject", "ext"), "Ready")["status"] == "True"

    srv.set(ns, "ext", value=0, active=False)
    wait_until(lambda: replicas(kube, ns, "ext-work") == 0, "back to 0 after the cooldown",
               timeout=SLOW)
    # at 0 replicas the HPA idles on purpose: still healthy
    wait_until(lambda: (condition(kube.get(ns, "scaledobject", "ext"), "HPAActive") or {})
               .get("reason") == "ScalingDisabled", "HPAActive True, ScalingDisabled",
               timeout=SLOW)
    assert condition(kube.get(ns, "scaledobject", "ext"), "HPAActive")["status"] == "True"


def test_external_push_activates_without_waiting_for_the_interval(env):
    kube, ns, c, srv = env
    srv.set(ns, "push", metric="events", target=1, value=0, active=False)
    kube.apply(ns, deployment("push-work", replicas=0))
    kube.apply(ns, scaled_object("push", "push-work",
                                 [{"type": "external-push",
                                   "metadata": {"scalerAddress": srv.address}}],
                                 minReplicaCount=0, maxReplicaCount=3, pollingInterval=300,
                                 cooldownPeriod=300))
    wait_until(lambda: hpa_external(kube, ns, "push"), "the HPA with the source's metric")
    wait_until(lambda: [t["state"] for t in c.triggers(ns, "push")] == ["INACTIVE"],
               "the first poll: inactive")
    wait_until(lambda: srv.objects[(ns, "push")].streams_opened >= 1, "the activity stream")
    assert replicas(kube, ns, "push-work") == 0

    srv.set(ns, "push", value=1, active=True)
    start = time.monotonic()
    srv.push(ns, "push", True)
    # the next poll is 300 s away: only the push can activate within this deadline
    wait_until(lambda: replicas(kube, ns, "push-work") >= 1, "activation by the push",
               timeout=60)
    assert time.monotonic() - start < 60
    a = condition(kube.get(ns, "scaledobject", "push"), "Active")
    assert a["status"] == "True", a
