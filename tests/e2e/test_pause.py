"""The pause annotations (reference keda.md §1.5) end to end, on the real API server and HPA
controller of tests/e2e/cluster.sh, each set and removed:

- paused-replicas: the HPA is deleted, the target scaled to the count, status.pausedReplicaCount
  and Paused=True; the object stays in the table without triggers (nothing is polled); while
  paused the scale loop leaves the target alone;
- paused (switching from paused-replicas): still no HPA, the count leaves the status;
- removing it: Paused=False ScaledObjectUnpaused, the HPA and the trigger come back;
- paused-scale-in / paused-scale-out: the HPA keeps running with that direction's selectPolicy
  Disabled; removing the annotation restores the user's behavior;
- force-activation: a target at 0 whose trigger is not active is scaled to 1, with KEDA's
  Active message.

Run: python3 -m pytest tests/e2e/test_pause.py -v   (CKEDA_BIN: the build directory)
"""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# the kube and ckeda fixtures are test_watcher's (ckeda watches this module's ns)
from test_watcher import ckeda, kube  # noqa: E402,F401
from test_watcher import (condition, deployment, hold, scaled_object,  # noqa: E402
                          wait_until)

P = "autoscaling.keda.sh/"


@pytest.fixture(scope="module")
def ns(kube):
    name = kube.namespace("ckp")
    yield name
    kube.drop_namespace(name)


def fixed_trigger(value):
    """The test-only scaler: a fixed value, active above 0."""
    return {"type": "ckeda-test", "name": "t", "metadata": {"value": str(value)}}


def annotate(kube, ns, name, annotations):
    kube.patch(ns, "scaledobject", name, {"metadata": {"annotations": annotations}})


def so_status(kube, ns, name):
    return (kube.get(ns, "scaledobject", name) or {}).get("status", {})


def paused_is(kube, ns, name, status, reason):
    c = condition(kube.get(ns, "scaledobject", name), "Paused")
    return c and c["status"] == status and c.get("reason") == reason and c


def replicas(kube, ns, name):
    return kube.get(ns, "deployment", name)["spec"].get("replicas", 1)


def events(kube, ns, name):
    """The Events about the ScaledObject name: (reason, message, count) each."""
    items = kube.items(ns, "events")
    return [(e["reason"], e.get("message", ""), e.get("count", 1)) for e in items
            if e["involvedObject"].get("kind") == "ScaledObject" and
            e["involvedObject"]["name"] == name]


def has_event(kube, ns, name, reason, message=None):
    return any(r == reason and (message is None or m == message)
               for r, m, _ in events(kube, ns, name))


def hpa_of(kube, ns, name):
    return kube.get(ns, "hpa", f"keda-hpa-{name}")


def test_paused_replicas_then_paused_then_unpaused(kube, ns, ckeda):
    kube.apply(ns, deployment("web-a", replicas=3))
    kube.apply(ns, scaled_object("a", "web-a", [fixed_trigger(1)], minReplicaCount=2,
                                 maxReplicaCount=6))
    wait_until(lambda: hpa_of(kube, ns, "a"), "HPA keda-hpa-a")

    annotate(kube, ns, "a", {P + "paused-replicas": "1"})
    wait_until(lambda: hpa_of(kube, ns, "a") is None, "the HPA deleted while paused")
    wait_until(lambda: replicas(kube, ns, "web-a") == 1, "web-a scaled to paused-replicas 1")
    wait_until(lambda: so_status(kube, ns, "a").get("pausedReplicaCount") == 1,
               "status.pausedReplicaCount 1")
    paused = wait_until(lambda: paused_is(kube, ns, "a", "True", "ScaledObjectPaused"),
                        "Paused True")
    assert paused["message"] == "ScaledObject is paused"
    ready = condition(kube.get(ns, "scaledobject", "a"), "Ready")
    assert ready["status"] == "True" and ready["message"] == "ScaledObject is paused"
    wait_until(lambda: (s := ckeda.so(ns, "a")) and s["triggers"] == [],
               "a in the table without triggers")
    hold(lambda: replicas(kube, ns, "web-a") == 1 and hpa_of(kube, ns, "a") is None,
         "paused: replicas and no HPA", seconds=4)

    annotate(kube, ns, "a", {P + "paused-replicas": None, P + "paused": "true"})
    wait_until(lambda: "pausedReplicaCount" not in so_status(kube, ns, "a"),
               "pausedReplicaCount removed under plain paused")
    assert paused_is(kube, ns, "a", "True", "ScaledObjectPaused")
    assert hpa_of(kube, ns, "a") is None
    assert replicas(kube, ns, "web-a") == 1

    annotate(kube, ns, "a", {P + "paused": None})
    c = wait_until(lambda: paused_is(kube, ns, "a", "False", "ScaledObjectUnpaused"),
                   "Paused False after the annotation is removed")
    assert c["message"] == "pause annotation removed for ScaledObject"
    # KEDA's Events, as `kubectl get events` shows them
    wait_until(lambda: has_event(kube, ns, "a", "ScaledObjectReady",
                                 "ScaledObject is ready for scaling"), "ScaledObjectReady Event")
    wait_until(lambda: has_event(kube, ns, "a", "ScaledObjectPaused", "ScaledObject is paused"),
               "ScaledObjectPaused Event")
    wait_until(lambda: has_event(kube, ns, "a", "ScaledObjectUnpaused",
                                 "pause annotation removed for ScaledObject"),
               "ScaledObjectUnpaused Event")
    wait_until(lambda: hpa_of(kube, ns, "a"), "the HPA back after unpausing")
    wait_until(lambda: (s := ckeda.so(ns, "a")) and len(s["triggers"]) == 1,
               "a polled again")
    # the scale loop is back: minReplicaCount 2 raises the target from 1
    wait_until(lambda: replicas(kube, ns, "web-a") >= 2, "web-a raised to min after unpausing")


def test_bad_paused_replicas_is_a_clear_check_failure(kube, ns, ckeda):
    kube.apply(ns, deployment("web-b", replicas=2))
    kube.apply(ns, scaled_object("b", "web-b", [fixed_trigger(1)]))
    wait_until(lambda: hpa_of(kube, ns, "b"), "HPA keda-hpa-b")
    annotate(kube, ns, "b", {P + "paused-replicas": "two"})
    c = wait_until(lambda: (r := condition(kube.get(ns, "scaledobject", "b"), "Ready")) and
                   r["status"] == "False" and r, "Ready False for a bad count")
    assert c["reason"] == "ScaledObjectCheckFailed"
    assert c["message"].startswith("failed to scale target to paused replica count")
    assert "autoscaling.keda.sh/paused-replicas" in c["message"]
    e = wait_until(lambda: [x for x in events(kube, ns, "b") if x[0] == "ScaledObjectCheckFailed"],
                   "a ScaledObjectCheckFailed Event")
    assert e[0][1] == c["message"]
    assert replicas(kube, ns, "web-b") == 2
    annotate(kube, ns, "b", {P + "paused-replicas": None})
    wait_until(lambda: (r := condition(kube.get(ns, "scaledobject", "b"), "Ready")) and
               r["status"] == "True", "Ready again once the annotation is gone")


@pytest.mark.parametrize("direction,rules", [("in", "scaleDown"), ("out", "scaleUp")])
def test_paused_scale_direction_disables_the_hpa_policy(kube, ns, ckeda, direction, rules):
    name = f"d{direction}"
    behavior = {"scaleDown": {"stabilizationWindowSeconds": 7}}
    kube.apply(ns, deployment(f"web-{name}", replicas=1))
    kube.apply(ns, scaled_object(name, f"web-{name}", [fixed_trigger(1)], advanced={
        "horizontalPodAutoscalerConfig": {"behavior": behavior}}))
    wait_until(lambda: hpa_of(kube, ns, name), f"HPA keda-hpa-{name}")

    annotate(kube, ns, name, {P + f"paused-scale-{direction}": "true"})
    hpa = wait_until(lambda: (h := hpa_of(kube, ns, name)) and
                     h["spec"].get("behavior", {}).get(rules, {}).get("selectPolicy") ==
                     "Disabled" and h, f"{rules}.selectPolicy Disabled")
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 7
    wait_until(lambda: paused_is(kube, ns, name, "True", "ScaledObjectPaused"), "Paused True")
    assert (ckeda.so(ns, name) or {}).get("triggers"), "the trigger keeps polling"

    annotate(kube, ns, name, {P + f"paused-scale-{direction}": None})
    wait_until(lambda: (h := hpa_of(kube, ns, name)) and
               h["spec"].get("behavior", {}).get(rules, {}).get("selectPolicy") != "Disabled",
               f"{rules}.selectPolicy back to the user's")
    wait_until(lambda: paused_is(kube, ns, name, "False", "ScaledObjectUnpaused"),
               "Paused False")
    assert hpa_of(kube, ns, name)["spec"]["behavior"]["scaleDown"][
        "stabilizationWindowSeconds"] == 7


def test_force_activation_scales_an_inactive_target_from_zero(kube, ns, ckeda):
    kube.apply(ns, deployment("web-f", replicas=0))
    kube.apply(ns, scaled_object("f", "web-f", [fixed_trigger(0)], pollingInterval=1))
    wait_until(lambda: (c := condition(kube.get(ns, "scaledobject", "f"), "Active")) and
               c["status"] == "False", "Active False with a value of 0")
    hold(lambda: replicas(kube, ns, "web-f") == 0, "web-f stays at 0", seconds=2)

    annotate(kube, ns, "f", {P + "force-activation": "true"})
    wait_until(lambda: replicas(kube, ns, "web-f") == 1, "web-f activated to 1 by the annotation")
    c = wait_until(lambda: (a := condition(kube.get(ns, "scaledobject", "f"), "Active")) and
                   a["status"] == "True" and a, "Active True")
    assert c["message"] == "Scaling is performed because activation is being forced by annotation"
    wait_until(lambda: has_event(
        kube, ns, "f", "KEDAScaleTargetActivated",
        f"Scaled apps/v1.Deployment {ns}/web-f from 0 to 1, caused by forced activation annotation"),
        "KEDAScaleTargetActivated Event")
