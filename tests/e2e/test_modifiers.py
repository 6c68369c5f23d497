"""scalingModifiers (reference keda.md §1.12) end to end, on the real API server, aggregator and
HPA controller of tests/e2e/cluster.sh, modeled on KEDA's tests/internals/scaling_modifiers:

- two triggers of the test-only scaler `ckeda-test` (named a and b, values set through their
  metadata) and formula "a + b", target 2, activationTarget 5;
- the HPA has one External metric, composite-metric, with the object's selector and target 2;
  status.compositeScalerName is composite-metric, externalMetricNames still the triggers';
- composite 2 is not above activationTarget 5: the target stays at 0 although both triggers
  are active on their own;
- a = 9: composite 10 activates the target (scale loop) and the HPA, reading composite-metric
  through the aggregator, scales it to 5 (10 / 2);
- a = 1 again: back to 0 after the cooldown.

ckeda runs with the adapter certificate on $CKEDA_ADAPTER_PORT (the APIService points there).
Run: python3 -m pytest tests/e2e/test_modifiers.py -v   (CKEDA_BIN: the build directory)
"""

from __future__ import annotations

import json
import os
import sys
import urllib.parse

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from test_watcher import (ckeda_in_namespace, condition, deployment, hold,  # noqa: E402
                          replicas, scaled_object, wait_until)

SLOW = 120.0  # the HPA and the aggregator: generous


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with ckeda_in_namespace(tmp_path_factory, "ckm", adapter=True) as e:
        yield e


def external_metric(kube, ns, so, metric):
    """GET the metrics API through the aggregator, as the HPA does; None on an error."""
    sel = urllib.parse.quote(f"scaledobject.keda.sh/name={so}")
    r = kube.run("get", "--raw",
                 f"/apis/external.metrics.k8s.io/v1beta1/namespaces/{ns}/{metric}"
                 f"?labelSelector={sel}", check=False)
    return json.loads(r.stdout) if r.returncode == 0 else None


def composite_value(kube, ns, so):
    doc = external_metric(kube, ns, so, "composite-metric")
    items = (doc or {}).get("items") or []
    return items[0]["value"] if items and items[0]["metricName"] == "composite-metric" else None


def trig(name, value):
    return {"type": "ckeda-test", "name": name, "metadata": {"value": str(value)}}


def modifiers_so(a, b):
    return scaled_object("mod", "work", [trig("a", a), trig("b", b)], minReplicaCount=0,
                         maxReplicaCount=6, pollingInterval=1, cooldownPeriod=5,
                         advanced={"scalingModifiers": {"formula": "a + b", "target": "2",
                                                        "activationTarget": "5"}})


def test_composite_metric_drives_activation_and_the_hpa(env):
    kube, ns, c = env
    kube.apply(ns, deployment("work", replicas=0))
    kube.apply(ns, modifiers_so(1, 1))
    hpa = wait_until(lambda: kube.get(ns, "hpa", "keda-hpa-mod"), "the HPA")
    metrics = hpa["spec"]["metrics"]
    assert len(metrics) == 1, metrics
    ext = metrics[0]["external"]
    assert metrics[0]["type"] == "External"
    assert ext["metric"]["name"] == "composite-metric"
    assert ext["metric"]["selector"] == {"matchLabels": {"scaledobject.keda.sh/name": "mod"}}
    assert ext["target"] == {"type": "AverageValue", "averageValue": "2"}
    st = wait_until(lambda: (s := kube.get(ns, "scaledobject", "mod").get("status", {})) and
                    s.get("compositeScalerName") and s, "status.compositeScalerName")
    assert st["compositeScalerName"] == "composite-metric"
    assert st["externalMetricNames"] == ["s0-ckeda-test", "s1-ckeda-test"]

    # both triggers active on their own, but the composite 2 is not above 5
    wait_until(lambda: (s := c.so(ns, "mod")) and len(s["triggers"]) == 2 and
               all(t["state"] == "ACTIVE" for t in s["triggers"]), "both triggers polled")
    wait_until(lambda: (a := condition(kube.get(ns, "scaledobject", "mod"), "Active")) and
               a["status"] == "False", "Active False below activationTarget")
    wait_until(lambda: composite_value(kube, ns, "mod") == "2", "composite-metric 2 served",
               timeout=SLOW)
    # KEDA asks for the composite under any of the object's metric names
    assert (external_metric(kube, ns, "mod", "s0-ckeda-test")["items"][0]["metricName"] ==
            "composite-metric")
    hold(lambda: replicas(kube, ns, "work") == 0, "0 replicas at composite 2", seconds=4)
    # triggersActivity lists the triggers' metrics; with a formula only the composite is active
    ta = wait_until(lambda: kube.get(ns, "scaledobject", "mod")["status"].get("triggersActivity"),
                    "status.triggersActivity")
    assert ta == {"s0-ckeda-test": {"isActive": False}, "s1-ckeda-test": {"isActive": False}}

    kube.apply(ns, modifiers_so(9, 1))
    wait_until(lambda: replicas(kube, ns, "work") >= 1, "activation by the composite 10")
    a = condition(kube.get(ns, "scaledobject", "mod"), "Active")
    assert (a["status"], a["reason"]) == ("True", "ScalerActive")
    wait_until(lambda: composite_value(kube, ns, "mod") == "10", "composite-metric 10 served")
    wait_until(lambda: replicas(kube, ns, "work") == 5, "the HPA at 10 / 2 = 5", timeout=SLOW)

    kube.apply(ns, modifiers_so(1, 1))
    wait_until(lambda: replicas(kube, ns, "work") == 0, "back to 0 after the cooldown",
               timeout=SLOW)
    so = kube.get(ns, "scaledobject", "mod")
    assert condition(so, "Ready")["status"] == "True", so["status"]
