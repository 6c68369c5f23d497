"""cpu and memory triggers (reference keda.md §1.7, §1.9, §4.3) on the real API server and
controller manager of tests/e2e/cluster.sh. They are HPA Resource metrics that the resource
metrics API serves, not ckeda (there is no metrics-server here, so the HPA cannot compute them:
these tests check what ckeda writes and decides, not the HPA's arithmetic):

- the HPA's metrics are KEDA's, sorted by type: ContainerResource (a trigger with
  containerName), External, Resource; Utilization as averageUtilization, AverageValue as the
  quantity the API server stores back unchanged;
- status.resourceMetricNames lists them, externalMetricNames does not;
- an object with only cpu/memory triggers is always active: its target at 0 is scaled to
  minReplicaCount; beside another trigger they do not count toward activity;
- KEDA's metadata errors: metricType missing, the removed metadata `type`.

Run: python3 -m pytest tests/e2e/test_resource.py -v   (CKEDA_BIN: the build directory)
"""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from test_watcher import (ckeda_in_namespace, condition, deployment, hold,  # noqa: E402
                          ready, replicas, scaled_object, wait_until)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with ckeda_in_namespace(tmp_path_factory, "ckr") as e:
        yield e


def cpu(value, metric_type="Utilization", **md):
    return {"type": "cpu", "metricType": metric_type, "metadata": {"value": value, **md}}


def memory(value, metric_type="AverageValue", **md):
    return {"type": "memory", "metricType": metric_type, "metadata": {"value": value, **md}}


def test_resource_metrics_in_the_hpa_and_always_active(env):
    kube, ns, c = env
    kube.apply(ns, deployment("res-work", replicas=0))
    kube.apply(ns, scaled_object("res", "res-work",
                                 [cpu("50"), memory("0.5Gi", containerName="c"),
                                  memory("1.5Gi")],
                                 minReplicaCount=2, maxReplicaCount=5, pollingInterval=1))
    hpa = wait_until(lambda: kube.get(ns, "hpa", "keda-hpa-res"), "the HPA")
    assert hpa["spec"]["metrics"] == [
        {"type": "ContainerResource",
         "containerResource": {"name": "memory", "container": "c",
                               "target": {"type": "AverageValue", "averageValue": "512Mi"}}},
        {"type": "Resource",
         "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}},
        {"type": "Resource",
         "resource": {"name": "memory",
                      "target": {"type": "AverageValue", "averageValue": "1536Mi"}}},
    ]
    st = wait_until(lambda: kube.get(ns, "scaledobject", "res").get("status", {})
                    .get("resourceMetricNames"), "status.resourceMetricNames")
    assert st == ["cpu", "memory", "memory"]
    assert not kube.get(ns, "scaledobject", "res")["status"].get("externalMetricNames")
    # only resource triggers: always active, so the target leaves 0 for minReplicaCount
    wait_until(lambda: replicas(kube, ns, "res-work") == 2, "scaled from 0 to minReplicaCount")
    so = kube.get(ns, "scaledobject", "res")
    assert condition(so, "Ready")["status"] == "True", so["status"]
    assert condition(so, "Active")["status"] == "True", so["status"]
    # nothing polls them: no worker for cpu or memory, and ckedactl shows them active
    types = {p.get("type") for p in c.ctl("workers")["processes"]}
    assert not types & {"cpu", "memory"}, types
    assert [t["state"] for t in c.triggers(ns, "res")] == ["ACTIVE"] * 3
    # the HPA is stable: the watcher's next reconcile finds nothing to change
    def updates():
        return c.log_path.read_text(errors="replace").count(f"updated HPA {ns}/keda-hpa-res ")

    before = updates()
    kube.run("patch", "-n", ns, "scaledobject", "res", "--type=merge",
             "-p", '{"spec": {"pollingInterval": 2}}')  # annotations would be copied
    wait_until(lambda: (c.so(ns, "res") or {}).get("polling_interval_s") == 2,
               "the new generation reconciled")
    hold(lambda: updates() == before, "no HPA update on a reconcile", seconds=3)


def test_resource_trigger_beside_another_does_not_activate(env):
    kube, ns, c = env
    kube.apply(ns, deployment("mix-work", replicas=0))
    kube.apply(ns, scaled_object("mix", "mix-work",
                                 [cpu("60"), {"type": "ckeda-test", "metadata": {"value": "0"}}],
                                 minReplicaCount=0, maxReplicaCount=5, pollingInterval=1))
    hpa = wait_until(lambda: kube.get(ns, "hpa", "keda-hpa-mix"), "the HPA")
    assert [m["type"] for m in hpa["spec"]["metrics"]] == ["External", "Resource"]
    wait_until(lambda: (a := condition(kube.get(ns, "scaledobject", "mix"), "Active")) and
               a["status"] == "False", "Active False: the cpu trigger does not count")
    hold(lambda: replicas(kube, ns, "mix-work") == 0, "still at 0", seconds=3)


@pytest.mark.parametrize("trigger,message", [
    ({"type": "cpu", "metadata": {"value": "50"}},
     "unknown metric type: , allowed values are 'Utilization' or 'AverageValue'"),
    (cpu("50", type="Utilization"), "The 'type' setting is DEPRECATED"),
    (cpu("fifty"), 'strconv.ParseInt: parsing "fifty": invalid syntax'),
    (memory("lots"), '"lots" is not a quantity'),
])
def test_resource_metadata_errors_name_the_field(env, trigger, message):
    kube, ns, c = env
    name = f"bad-{abs(hash(message)) % 10000}"
    kube.apply(ns, deployment(f"{name}-work", replicas=1))
    kube.apply(ns, scaled_object(name, f"{name}-work", [trigger], minReplicaCount=1))
    r = wait_until(lambda: ready(kube, ns, name), "the Ready condition")
    assert r["status"] == "False", r
    assert message in r["message"] and "spec.triggers[0]" in r["message"], r["message"]
    assert kube.get(ns, "hpa", f"keda-hpa-{name}") is None
