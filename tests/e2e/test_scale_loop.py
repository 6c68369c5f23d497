"""KEDA's scale-loop scenarios (reference keda.md §1.9) end to end, modelled on KEDA's own e2e
tests (tests/internals/idle_replicas, initial_delay_cooldownperiod, restore_original,
subresource_scale, replicaset_scale), on the real API server, aggregator and HPA controller of
tests/e2e/cluster.sh, with a real redis-server (tests/integration/sources.py) as the source:
one list per ScaledObject, listLength 5, so a list of n items asks for ceil(n / 5) replicas and
any item activates.

- idleReplicaCount 0, min 2, max 4: inactive at 0 stays there; active goes to min 2 (not 1), the
  HPA (minReplicas 2) takes it above; inactive again goes back to idle 0 only once the cooldown
  has passed since lastActiveTime;
- minReplicaCount 2 without idle: an inactive target at 0 is raised to 2 (the fix-up, without
  an Event) and never goes below it;
- initialCooldownPeriod: a new object whose trigger is inactive keeps its replica (1, as in
  KEDA's test: the HPA, minReplicas 1, would take more down to 1) until creationTimestamp +
  initialCooldownPeriod, while one without it goes to 0 at once;
- restoreToOriginalReplicaCount: deleting the ScaledObject puts the target back to
  status.originalReplicaCount; without the flag the target keeps the HPA's count;
- a StatefulSet (from the watcher's informer) and a ReplicaSet (no informer: GET /scale) are
  activated and deactivated through /scale;
- a target that disappears: Ready False ErrorGettingCurrentReplicas with KEDA's message, Active
  as it was, no restart, another object keeps scaling, an edit is served without a failed check
  (KEDA's isScalableCache); when the target returns it is activated and the object is Ready
  again.

ckeda runs with the adapter certificate on $CKEDA_ADAPTER_PORT (the APIService points there).
Run: python3 -m pytest tests/e2e/test_scale_loop.py -v   (CKEDA_BIN: the build directory)
"""

from __future__ import annotations

import calendar
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

from sources import RedisServer  # noqa: E402
from test_fallback import status  # noqa: E402
from test_pause import events, has_event  # noqa: E402
from test_skeleton import apiservice_available  # noqa: E402
from test_watcher import (ckeda_in_namespace, condition, deployment, hold,  # noqa: E402
                          replicas, scaled_object, wait_until)

SLOW = 120.0  # the HPA and the aggregator: generous
COOLDOWN = 5


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with RedisServer() as r, \
            ckeda_in_namespace(tmp_path_factory, "cksl", adapter=True) as (kube, ns, c):
        yield kube, ns, c, r


def items(r, key, n):
    """The list `key` holds exactly n items."""
    r.command("DEL", key)
    if n:
        r.command("RPUSH", key, *[f"item-{i}" for i in range(n)])


def loop_so(r, name, target, kind=None, **spec):
    """A ScaledObject on the redis list `name`, polled every second, cooling down in 5 s."""
    trig = {"type": "redis", "metadata": {"address": r.address, "listName": name,
                                          "listLength": "5"}}
    spec.setdefault("cooldownPeriod", COOLDOWN)
    doc = scaled_object(name, target, [trig], pollingInterval=1, **spec)
    if kind:
        doc["spec"]["scaleTargetRef"].update(apiVersion="apps/v1", kind=kind)
    return doc


def workload(kind, name, n):
    """A Deployment, StatefulSet or ReplicaSet: the same selector and pod template."""
    doc = deployment(name, replicas=n)
    doc["kind"] = kind
    if kind == "StatefulSet":
        doc["spec"]["serviceName"] = name
    return doc


def spec_replicas(kube, ns, kind, name):
    return (kube.get(ns, kind.lower(), name) or {}).get("spec", {}).get("replicas")


def cond_is(kube, ns, name, ctype, st, reason=None):
    c = condition(kube.get(ns, "scaledobject", name), ctype)
    return c and c["status"] == st and (reason is None or c.get("reason") == reason) and c


def state_is(c, ns, name, state):
    doc = c.so(ns, name)
    return doc and doc.get("triggers") and doc["triggers"][0]["state"] == state


def rfc3339(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))


def hpa_ready(kube, ns, name):
    return wait_until(lambda: kube.get(ns, "hpa", f"keda-hpa-{name}"), f"HPA keda-hpa-{name}")


def test_idle_replicas_activate_to_min_and_go_back_to_idle_after_the_cooldown(env):
    kube, ns, c, r = env
    items(r, "idle", 0)
    kube.apply(ns, deployment("web-idle", replicas=0))
    kube.apply(ns, loop_so(r, "idle", "web-idle", idleReplicaCount=0, minReplicaCount=2,
                           maxReplicaCount=4))
    hpa = hpa_ready(kube, ns, "idle")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 4)
    wait_until(lambda: state_is(c, ns, "idle", "INACTIVE"), "the first poll of the empty list")
    wait_until(lambda: cond_is(kube, ns, "idle", "Active", "False", "ScalerNotActive"),
               "Active False")
    hold(lambda: replicas(kube, ns, "web-idle") == 0, "idle at 0 while inactive", seconds=2)
    wait_until(lambda: apiservice_available(kube), "the metrics APIService", timeout=SLOW)

    items(r, "idle", 3)
    wait_until(lambda: replicas(kube, ns, "web-idle") != 0, "activation from idle")
    assert replicas(kube, ns, "web-idle") == 2, "activated to minReplicaCount, not to 1"
    wait_until(lambda: has_event(kube, ns, "idle", "KEDAScaleTargetActivated",
                                 f"Scaled apps/v1.Deployment {ns}/web-idle from 0 to 2, "
                                 "triggered by s0-redis-idle"), "KEDAScaleTargetActivated")
    assert cond_is(kube, ns, "idle", "Active", "True", "ScalerActive")
    hold(lambda: replicas(kube, ns, "web-idle") == 2, "2 replicas for 3 items", seconds=2)
    items(r, "idle", 20)
    wait_until(lambda: replicas(kube, ns, "web-idle") == 4, "the HPA at 20 / 5 = 4", timeout=SLOW)

    items(r, "idle", 0)
    wait_until(lambda: cond_is(kube, ns, "idle", "Active", "False", "ScalerCooldown"),
               "Active False ScalerCooldown while cooling down")
    wait_until(lambda: replicas(kube, ns, "web-idle") == 0, "back to idle 0", timeout=SLOW)
    reached = time.time()
    last_active = rfc3339(status(kube, ns, "idle")["lastActiveTime"])
    assert reached >= last_active + COOLDOWN, (reached, last_active)
    wait_until(lambda: any(e[0] == "KEDAScaleTargetDeactivated" and
                           e[1].startswith(f"Deactivated apps/v1.Deployment {ns}/web-idle from ")
                           and e[1].endswith(" to 0") for e in events(kube, ns, "idle")),
               "KEDAScaleTargetDeactivated")
    hold(lambda: replicas(kube, ns, "web-idle") == 0, "idle stays at 0", seconds=2)
    assert cond_is(kube, ns, "idle", "Ready", "True", "ScaledObjectReady")


def test_min_replicas_without_idle_raise_a_target_at_zero(env):
    kube, ns, c, r = env
    items(r, "minfix", 0)
    kube.apply(ns, deployment("web-minfix", replicas=0))
    kube.apply(ns, loop_so(r, "minfix", "web-minfix", minReplicaCount=2, maxReplicaCount=4))
    wait_until(lambda: replicas(kube, ns, "web-minfix") == 2, "raised to minReplicaCount 2")
    a = wait_until(lambda: cond_is(kube, ns, "minfix", "Active", "False"), "Active False")
    assert a["reason"] == "ScalerNotActive", a  # no scale-to-zero branch: no cooldown
    hold(lambda: replicas(kube, ns, "web-minfix") == 2, "never below min while inactive",
         seconds=3)
    # scaled to 0 behind its back (the HPA idles at 0): raised again
    kube.run("-n", ns, "scale", "deployment", "web-minfix", "--replicas=0")
    wait_until(lambda: replicas(kube, ns, "web-minfix") == 2, "raised to 2 again")
    assert not [e for e in events(kube, ns, "minfix") if e[0].startswith("KEDAScaleTarget")], \
        "the fix-up to min is not an activation"


def test_initial_cooldown_period_delays_the_first_scale_to_zero(env):
    kube, ns, c, r = env
    initial = 8
    items(r, "initial", 0)
    items(r, "noinitial", 0)
    kube.apply(ns, {"apiVersion": "v1", "kind": "List",
                    "items": [deployment("web-initial", 1), deployment("web-noinitial", 1)]})
    kube.apply(ns, {"apiVersion": "v1", "kind": "List",
                    "items": [loop_so(r, "initial", "web-initial", initialCooldownPeriod=initial),
                              loop_so(r, "noinitial", "web-noinitial")]})
    created = rfc3339(kube.get(ns, "scaledobject", "initial")["metadata"]["creationTimestamp"])
    # without it, lastActiveTime nil and the creation long enough ago: to 0 at once
    wait_until(lambda: replicas(kube, ns, "web-noinitial") == 0, "noinitial to 0 at once")
    assert time.time() < created + initial, "too slow to tell the two apart"
    assert replicas(kube, ns, "web-initial") == 1
    wait_until(lambda: cond_is(kube, ns, "initial", "Active", "False", "ScalerCooldown"),
               "Active False ScalerCooldown during the initial cooldown")
    hold(lambda: replicas(kube, ns, "web-initial") == 1, "1 replica during the initial cooldown",
         seconds=max(0.0, created + initial - 0.5 - time.time()))
    wait_until(lambda: replicas(kube, ns, "web-initial") == 0,
               "to 0 after creationTimestamp + initialCooldownPeriod", timeout=SLOW)
    assert time.time() >= created + initial
    assert "lastActiveTime" not in status(kube, ns, "initial")


def test_restore_to_original_replica_count_on_delete(env):
    kube, ns, c, r = env
    items(r, "restore", 20)
    items(r, "keep", 20)
    kube.apply(ns, {"apiVersion": "v1", "kind": "List",
                    "items": [deployment("web-restore", 2), deployment("web-keep", 2)]})
    kube.apply(ns, {"apiVersion": "v1", "kind": "List", "items": [
        loop_so(r, "restore", "web-restore", maxReplicaCount=4,
                advanced={"restoreToOriginalReplicaCount": True}),
        loop_so(r, "keep", "web-keep", maxReplicaCount=4)]})
    wait_until(lambda: apiservice_available(kube), "the metrics APIService", timeout=SLOW)
    for name in ("restore", "keep"):
        wait_until(lambda: replicas(kube, ns, f"web-{name}") == 4, f"the HPA to scale web-{name}"
                   " to 4", timeout=SLOW)
        assert status(kube, ns, name)["originalReplicaCount"] == 2
    kube.delete(ns, "scaledobject", "restore")
    kube.delete(ns, "scaledobject", "keep")
    wait_until(lambda: replicas(kube, ns, "web-restore") == 2, "restored to the original 2")
    wait_until(lambda: kube.get(ns, "scaledobject", "keep") is None, "keep finalized")
    wait_until(lambda: kube.get(ns, "scaledobject", "restore") is None, "restore finalized")
    hold(lambda: replicas(kube, ns, "web-keep") == 4 and replicas(kube, ns, "web-restore") == 2,
         "without the flag the target keeps its replicas", seconds=3)


def test_other_kinds_activate_and_deactivate_through_scale(env):
    """Both at once: a StatefulSet (the watcher's informer) and a ReplicaSet (GET /scale)."""
    kube, ns, c, r = env
    kinds = ("StatefulSet", "ReplicaSet")
    for kind in kinds:
        items(r, kind.lower(), 0)
        kube.apply(ns, workload(kind, f"{kind.lower()}-work", 0))
        kube.apply(ns, loop_so(r, kind.lower(), f"{kind.lower()}-work", kind=kind,
                               maxReplicaCount=3))
    for kind in kinds:
        name, target = kind.lower(), f"{kind.lower()}-work"
        st = wait_until(lambda: (s := status(kube, ns, name)) and "originalReplicaCount" in s
                        and s, f"the {kind} resolved")
        assert st["scaleTargetKind"] == f"apps/v1.{kind}"
        assert st["scaleTargetGVKR"] == {"group": "apps", "version": "v1", "kind": kind,
                                         "resource": f"{name}s"}
        hpa = hpa_ready(kube, ns, name)
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": kind,
                                                 "name": target}
        wait_until(lambda: state_is(c, ns, name, "INACTIVE"), f"the first poll for the {kind}")
    hold(lambda: all(spec_replicas(kube, ns, k, f"{k.lower()}-work") == 0 for k in kinds),
         "both stay at 0 while inactive", seconds=2)

    for kind in kinds:
        items(r, kind.lower(), 3)
    for kind in kinds:
        name, target = kind.lower(), f"{kind.lower()}-work"
        wait_until(lambda: spec_replicas(kube, ns, kind, target) == 1, f"the {kind} activated")
        wait_until(lambda: has_event(kube, ns, name, "KEDAScaleTargetActivated",
                                     f"Scaled apps/v1.{kind} {ns}/{target} from 0 to 1, "
                                     f"triggered by s0-redis-{name}"),
                   f"KEDAScaleTargetActivated for the {kind}")
    for kind in kinds:
        items(r, kind.lower(), 0)
    for kind in kinds:
        name, target = kind.lower(), f"{kind.lower()}-work"
        wait_until(lambda: spec_replicas(kube, ns, kind, target) == 0,
                   f"the {kind} deactivated after the cooldown", timeout=SLOW)
        wait_until(lambda: has_event(kube, ns, name, "KEDAScaleTargetDeactivated",
                                     f"Deactivated apps/v1.{kind} {ns}/{target} from 1 to 0"),
                   f"KEDAScaleTargetDeactivated for the {kind}")


def test_a_target_that_disappears_and_returns(env):
    kube, ns, c, r = env
    restarts = c.watcher()["restarts"]
    items(r, "vanish", 3)
    items(r, "bystander", 0)
    kube.apply(ns, {"apiVersion": "v1", "kind": "List",
                    "items": [deployment("web-vanish", 0), deployment("web-bystander", 0)]})
    kube.apply(ns, {"apiVersion": "v1", "kind": "List", "items": [
        loop_so(r, "vanish", "web-vanish", maxReplicaCount=3),
        loop_so(r, "bystander", "web-bystander", maxReplicaCount=3)]})
    wait_until(lambda: replicas(kube, ns, "web-vanish") == 1, "vanish activated")

    kube.delete(ns, "deployment", "web-vanish")
    ready = wait_until(lambda: cond_is(kube, ns, "vanish", "Ready", "False"),
                       "Ready False once the target is gone")
    assert ready["reason"] == "ErrorGettingCurrentReplicas", ready
    assert ready["message"] == ("Error getting current replicas count for ScaleTarget: "
                                'deployments.apps "web-vanish" not found'), ready
    assert cond_is(kube, ns, "vanish", "Active", "True", "ScalerActive"), "Active left as it was"
    assert kube.get(ns, "hpa", "keda-hpa-vanish"), "the HPA is kept"
    assert c.so(ns, "vanish")["triggers"][0]["state"] == "ACTIVE", "still polled"

    # the other object keeps scaling meanwhile
    items(r, "bystander", 3)
    wait_until(lambda: replicas(kube, ns, "web-bystander") == 1, "bystander activated")
    items(r, "bystander", 0)
    wait_until(lambda: replicas(kube, ns, "web-bystander") == 0, "bystander deactivated",
               timeout=SLOW)
    assert cond_is(kube, ns, "vanish", "Ready", "False", "ErrorGettingCurrentReplicas")

    # an edit meanwhile is reconciled as KEDA does: the kind is known scalable and the status
    # names the target, so /scale is not probed: no ScaledObjectCheckFailed, the loop's reason
    # stands and the new spec is served
    kube.patch(ns, "scaledobject", "vanish", {"spec": {"maxReplicaCount": 4}})
    wait_until(lambda: (kube.get(ns, "hpa", "keda-hpa-vanish") or {}).get("spec", {})
               .get("maxReplicas") == 4, "the edit served while the target is gone")
    hold(lambda: cond_is(kube, ns, "vanish", "Ready", "False", "ErrorGettingCurrentReplicas"),
         "the loop's reason kept through the reconcile", seconds=2)

    kube.apply(ns, deployment("web-vanish", 0))
    wait_until(lambda: (kube.get(ns, "deployment", "web-vanish") or {}).get("spec", {})
               .get("replicas") == 1, "the returned target activated")
    wait_until(lambda: cond_is(kube, ns, "vanish", "Ready", "True", "ScaledObjectReady"),
               "Ready True again")
    assert c.watcher()["restarts"] == restarts, c.log_tail()
