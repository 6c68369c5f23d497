"""Fallback (reference keda.md §1.11) end to end, on the real API server, aggregator and HPA
controller of tests/e2e/cluster.sh, modeled on KEDA's tests/internals/fallback, with the
test-only scaler `ckeda-test` (metadata mode fail makes its source fail):

- static, from zero: a target at 0 whose trigger fails past failureThreshold is activated by
  the scale loop (a trigger in fallback counts as active, KEDA v2.19) and the HPA, reading the
  fallback value target x fallback.replicas, scales it to fallback.replicas; status.health says
  Failing with the count, Fallback is True FallbackExists, Event ScaledObjectFallbackActivated;
  the source back: health Happy 0, Fallback False NoFallbackFound, Event
  ScaledObjectFallbackDeactivated, and the target back to 0 after the cooldown;
- currentReplicas: the fallback value is target x the current replica count, so the HPA holds
  the target where it is rather than moving it to fallback.replicas;
- currentReplicasIfHigher and currentReplicasIfLower, with metrics-api triggers on a loopback
  HTTP source that starts answering 500: the fallback value is target x max (or min) of the
  current replica count and fallback.replicas, so of two targets one moves to fallback.replicas
  and the other stays where it is; the source back, health is Happy 0, Fallback False, and the
  HPA follows the source's values again.

ckeda runs with the adapter certificate on $CKEDA_ADAPTER_PORT (the APIService points there).
Run: python3 -m pytest tests/e2e/test_fallback.py -v   (CKEDA_BIN: the build directory)
"""

from __future__ import annotations

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

from sources import HttpSource  # noqa: E402
from test_modifiers import env, external_metric, replicas  # noqa: E402,F401
from test_watcher import condition, deployment, hold, scaled_object, wait_until  # noqa: E402

SLOW = 120.0


def trig(mode, value=0):
    return {"type": "ckeda-test", "name": "t", "metadata": {"mode": mode, "value": str(value)}}


def events(kube, ns, name):
    return [(e["reason"], e.get("message", "")) for e in kube.items(ns, "events")
            if e["involvedObject"].get("kind") == "ScaledObject" and
            e["involvedObject"]["name"] == name]


def status(kube, ns, name):
    return kube.get(ns, "scaledobject", name).get("status", {})


def served(kube, ns, so, metric):
    items = (external_metric(kube, ns, so, metric) or {}).get("items") or []
    return items[0]["value"] if items else None


class Flaky:
    """What the metrics-api source answers (an HttpSource's respond): GET /<name> answers
    {"value": values[name]}, 404 for a name without one; every request answers 500 while
    `failing` is set."""

    def __init__(self):
        self.values = {}
        self.failing = False

    def __call__(self, path, query, headers):
        value = self.values.get(path.lstrip("/"))
        status = 500 if self.failing else 200 if value is not None else 404
        return status, json.dumps({"value": value} if status == 200 else {"error": "x"})


@pytest.fixture
def source():
    with HttpSource(Flaky(), keep_alive=False) as s:
        yield s


def fallback_so(name, target, mode, **spec):
    return scaled_object(name, target, [trig(mode)], pollingInterval=1, cooldownPeriod=5,
                         maxReplicaCount=6, **spec)


def test_static_fallback_scales_from_zero_and_recovers(env):
    kube, ns, c = env
    kube.apply(ns, deployment("web-static", replicas=0))
    doc = fallback_so("fb", "web-static", "fail", minReplicaCount=0,
                      fallback={"failureThreshold": 2, "replicas": 3})
    kube.apply(ns, doc)
    wait_until(lambda: kube.get(ns, "hpa", "keda-hpa-fb"), "the HPA")

    h = wait_until(lambda: (h := status(kube, ns, "fb").get("health", {}).get("s0-ckeda-test"))
                   and h["status"] == "Failing" and h["numberOfFailures"] > 2 and h,
                   "health Failing past the threshold")
    assert set(h) == {"numberOfFailures", "status"}
    f = wait_until(lambda: (f := condition(kube.get(ns, "scaledobject", "fb"), "Fallback")) and
                   f["status"] == "True" and f, "Fallback True")
    assert f["reason"] == "FallbackExists"
    assert f["message"] == "At least one trigger is falling back on this scaled object"
    # fallback counts as active: the loop scales from zero, then the HPA to fallback.replicas
    wait_until(lambda: replicas(kube, ns, "web-static") >= 1, "activation from 0 by fallback")
    wait_until(lambda: served(kube, ns, "fb", "s0-ckeda-test") == "3",
               "the fallback value 1 x 3 served", timeout=SLOW)
    wait_until(lambda: replicas(kube, ns, "web-static") == 3, "the HPA at fallback.replicas 3",
               timeout=SLOW)
    so = kube.get(ns, "scaledobject", "fb")
    assert condition(so, "Active")["status"] == "True"
    assert condition(so, "Ready")["status"] == "True", so["status"]
    assert so["status"]["triggersActivity"] == {"s0-ckeda-test": {"isActive": True}}
    wait_until(lambda: ("ScaledObjectFallbackActivated", "ScaledObject fallback is active") in
               events(kube, ns, "fb"), "Event ScaledObjectFallbackActivated")

    # the source is back, at 0: healthy, no fallback, inactive, and to 0 after the cooldown
    doc["spec"]["triggers"] = [trig("ok", 0)]
    kube.apply(ns, doc)
    wait_until(lambda: status(kube, ns, "fb").get("health", {}).get("s0-ckeda-test") ==
               {"numberOfFailures": 0, "status": "Happy"}, "health Happy 0")
    f = wait_until(lambda: (f := condition(kube.get(ns, "scaledobject", "fb"), "Fallback")) and
                   f["status"] == "False" and f, "Fallback False")
    assert (f["reason"], f["message"]) == ("NoFallbackFound",
                                           "No fallbacks are active on this scaled object")
    wait_until(lambda: ("ScaledObjectFallbackDeactivated",
                        "ScaledObject fallback is no longer active") in events(kube, ns, "fb"),
               "Event ScaledObjectFallbackDeactivated")
    wait_until(lambda: replicas(kube, ns, "web-static") == 0, "back to 0 after the cooldown",
               timeout=SLOW)
    assert status(kube, ns, "fb")["triggersActivity"] == {"s0-ckeda-test": {"isActive": False}}


def test_current_replicas_fallback_holds_the_target(env):
    kube, ns, c = env
    kube.apply(ns, deployment("web-current", replicas=2))
    kube.apply(ns, fallback_so("fbc", "web-current", "fail", minReplicaCount=1,
                               fallback={"failureThreshold": 1, "replicas": 5,
                                         "behavior": "currentReplicas"}))
    wait_until(lambda: kube.get(ns, "hpa", "keda-hpa-fbc"), "the HPA")
    wait_until(lambda: (f := condition(kube.get(ns, "scaledobject", "fbc"), "Fallback")) and
               f["status"] == "True", "Fallback True")
    # target 1 x the 2 current replicas, not x fallback.replicas 5
    wait_until(lambda: served(kube, ns, "fbc", "s0-ckeda-test") == "2",
               "the fallback value 1 x 2 served", timeout=SLOW)
    hold(lambda: replicas(kube, ns, "web-current") == 2, "2 replicas under currentReplicas",
         seconds=6)


METRIC = "s0-metric-api-value"


def behaviour_round(kube, ns, source, behavior, cases):
    """cases: (name, current replicas, fallback.replicas, replicas under fallback, the source's
    value once it is back). Each object's target starts at its current count with the source
    saying exactly that (target 1 per replica, so the HPA holds it); then the source fails."""
    flaky = source.respond
    for name, current, fb, _, _ in cases:
        flaky.values[name] = current
        kube.apply(ns, deployment(f"web-{name}", replicas=current))
        trig = {"type": "metrics-api", "metadata": {"url": source.url(f"/{name}"),
                                                    "valueLocation": "value",
                                                    "targetValue": "1"}}
        kube.apply(ns, scaled_object(name, f"web-{name}", [trig], pollingInterval=1,
                                     cooldownPeriod=5, minReplicaCount=1, maxReplicaCount=6,
                                     fallback={"failureThreshold": 1, "replicas": fb,
                                               "behavior": behavior}))
    for name, current, _, _, _ in cases:
        wait_until(lambda: served(kube, ns, name, METRIC) == str(current),
                   f"{name}: the source's {current} served", timeout=SLOW)
        assert replicas(kube, ns, f"web-{name}") == current

    flaky.failing = True
    for name, current, fb, want, _ in cases:
        f = wait_until(lambda: (f := condition(kube.get(ns, "scaledobject", name), "Fallback"))
                       and f["status"] == "True" and f, f"{name}: Fallback True")
        assert f["reason"] == "FallbackExists"
        h = status(kube, ns, name)["health"][METRIC]
        assert h["status"] == "Failing" and h["numberOfFailures"] > 1, h
        # KEDA's doFallback: target 1 x R, R from the current count and fallback.replicas
        wait_until(lambda: served(kube, ns, name, METRIC) == str(want),
                   f"{name}: {behavior} of {current} and {fb} = {want} served", timeout=SLOW)
        wait_until(lambda: replicas(kube, ns, f"web-{name}") == want,
                   f"{name}: the HPA at {want}", timeout=SLOW)
    for name, _, _, want, _ in cases:  # and it stays there: R of want and fb is want again
        hold(lambda: replicas(kube, ns, f"web-{name}") == want and
             served(kube, ns, name, METRIC) == str(want), f"{name} at {want}", seconds=3)
        assert ("ScaledObjectFallbackActivated", "ScaledObject fallback is active") in \
            events(kube, ns, name)

    for name, _, _, _, back in cases:
        flaky.values[name] = back
    flaky.failing = False
    for name, _, _, _, back in cases:
        wait_until(lambda: status(kube, ns, name).get("health", {}).get(METRIC) ==
                   {"numberOfFailures": 0, "status": "Happy"}, f"{name}: health Happy 0")
        wait_until(lambda: (f := condition(kube.get(ns, "scaledobject", name), "Fallback")) and
                   f["status"] == "False" and f["reason"] == "NoFallbackFound",
                   f"{name}: Fallback False")
        wait_until(lambda: replicas(kube, ns, f"web-{name}") == back,
                   f"{name}: the HPA follows the source to {back}", timeout=SLOW)
        assert served(kube, ns, name, METRIC) == str(back)
        assert condition(kube.get(ns, "scaledobject", name), "Ready")["status"] == "True"


def test_current_replicas_if_higher_fallback(env, source):
    kube, ns, c = env
    # max(2, 4) = 4: up to fallback.replicas; max(5, 3) = 5: held where it is
    behaviour_round(kube, ns, source, "currentReplicasIfHigher",
                    [("hi-up", 2, 4, 4, 3), ("hi-keep", 5, 3, 5, 2)])


def test_current_replicas_if_lower_fallback(env, source):
    kube, ns, c = env
    # min(4, 2) = 2: down to fallback.replicas; min(1, 3) = 1: held where it is
    behaviour_round(kube, ns, source, "currentReplicasIfLower",
                    [("lo-down", 4, 2, 2, 3), ("lo-keep", 1, 3, 1, 2)])
