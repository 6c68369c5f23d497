"""One ScaledObject on two real sources (KEDA's prometheus and postgresql e2e scenarios in one
object), on the real API server, aggregator and HPA controller of tests/e2e/cluster.sh:

- trigger 0 `prometheus`: a real Prometheus (tests/integration/sources.py) scraping an exporter
  whose gauge the test sets, query sum(queue_depth), threshold 5;
- trigger 1 `postgresql`: a real PostgreSQL, SELECT count(*) of a table, targetQueryValue 5,
  authenticated through a TriggerAuthentication whose secretTargetRef names a real Secret
  holding the password (the worker reads it through the API server);
- the HPA has both External metrics, s0-prometheus and s1-postgresql, and scales on the larger
  of the two; activity is an OR: either source alone activates the target from 0, the target
  stays active while one of them is, and goes to 0 only after the cooldown once both are
  inactive. The password appears in no status, Event or log line.

ckeda runs with the adapter certificate on $CKEDA_ADAPTER_PORT (the APIService points there).
Run: python3 -m pytest tests/e2e/test_multi_source.py -v   (CKEDA_BIN: the build directory)
"""

from __future__ import annotations

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

from sources import PostgresServer, PrometheusServer  # noqa: E402
from test_pause import events, has_event  # noqa: E402
from test_skeleton import apiservice_available  # noqa: E402
from test_watcher import (ckeda_in_namespace, condition, deployment, hold,  # noqa: E402
                          metric_names, replicas, scaled_object, wait_until)

SLOW = 120.0  # the HPA and the aggregator: generous
METRICS = ["s0-prometheus", "s1-postgresql"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with PrometheusServer() as prom, PostgresServer() as pg, \
            ckeda_in_namespace(tmp_path_factory, "ckms", adapter=True) as (kube, ns, c):
        yield kube, ns, c, prom, pg


def so_doc(prom, pg):
    return scaled_object("multi", "multi-work", [
        {"type": "prometheus",
         "metadata": {"serverAddress": prom.url, "query": "sum(queue_depth)", "threshold": "5"}},
        {"type": "postgresql", "authenticationRef": {"name": "pg-auth"},
         "metadata": {"host": pg.host, "port": str(pg.port), "userName": pg.user,
                      "dbName": pg.dbname, "sslmode": "disable",
                      "query": "SELECT count(*) FROM jobs", "targetQueryValue": "5"}}],
        minReplicaCount=0, maxReplicaCount=6, pollingInterval=1, cooldownPeriod=5)


def target_replicas(kube, ns):
    return replicas(kube, ns, "multi-work")


def rows(pg, n):
    pg.psql(f"TRUNCATE jobs; INSERT INTO jobs SELECT generate_series(1, {n})")


def values(c, ns):
    """(state, value) of each trigger, in order."""
    doc = c.so(ns, "multi") or {}
    return [(t["state"], t["value"]) for t in doc.get("triggers") or []]


def activity(kube, ns):
    st = kube.get(ns, "scaledobject", "multi").get("status", {})
    return {m: v["isActive"] for m, v in (st.get("triggersActivity") or {}).items()}


def active_cond(kube, ns):
    return condition(kube.get(ns, "scaledobject", "multi"), "Active")


def test_either_source_activates_and_the_hpa_scales_on_the_larger(env):
    kube, ns, c, prom, pg = env
    prom.exporter.set("queue_depth", 0)
    pg.psql("CREATE TABLE jobs (id int)")
    kube.apply(ns, deployment("multi-work", replicas=0))
    kube.apply(ns, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pg-secret"},
                    "stringData": {"password": pg.password}})
    kube.apply(ns, {"apiVersion": "keda.sh/v1alpha1", "kind": "TriggerAuthentication",
                    "metadata": {"name": "pg-auth"},
                    "spec": {"secretTargetRef": [{"parameter": "password", "name": "pg-secret",
                                                  "key": "password"}]}})
    kube.apply(ns, so_doc(prom, pg))

    hpa = wait_until(lambda: kube.get(ns, "hpa", "keda-hpa-multi"), "the HPA")
    assert metric_names(hpa) == METRICS
    assert [m["external"]["target"] for m in hpa["spec"]["metrics"]] == \
        [{"type": "AverageValue", "averageValue": "5"}] * 2
    st = kube.get(ns, "scaledobject", "multi")["status"]
    assert st["externalMetricNames"] == METRICS
    assert st["authenticationsTypes"] == "pg-auth"
    wait_until(lambda: values(c, ns) == [("INACTIVE", 0), ("INACTIVE", 0)],
               "both sources polled at 0 (the password from the Secret works)")
    wait_until(lambda: (a := active_cond(kube, ns)) and a["status"] == "False", "Active False")
    hold(lambda: target_replicas(kube, ns) == 0, "0 replicas while both are inactive", seconds=2)
    wait_until(lambda: apiservice_available(kube), "the metrics APIService", timeout=SLOW)

    # postgresql alone activates, and the HPA follows it: 20 / 5 = 4
    rows(pg, 20)
    wait_until(lambda: target_replicas(kube, ns) >= 1, "activation by postgresql alone")
    wait_until(lambda: has_event(kube, ns, "multi", "KEDAScaleTargetActivated",
                                 f"Scaled apps/v1.Deployment {ns}/multi-work from 0 to 1, "
                                 "triggered by s1-postgresql"), "KEDAScaleTargetActivated")
    wait_until(lambda: activity(kube, ns) == {"s0-prometheus": False, "s1-postgresql": True},
               "triggersActivity: postgresql active")
    wait_until(lambda: target_replicas(kube, ns) == 4, "the HPA at 20 / 5 = 4", timeout=SLOW)

    # the larger of the two metrics wins: prometheus 10 (2 replicas) leaves 4; 30 (6) wins
    prom.exporter.set("queue_depth", 10)
    wait_until(lambda: values(c, ns)[0] == ("ACTIVE", 10), "prometheus at 10")
    hold(lambda: target_replicas(kube, ns) == 4, "4 replicas: postgresql's 4 > prometheus' 2",
         seconds=3)
    prom.exporter.set("queue_depth", 30)
    wait_until(lambda: target_replicas(kube, ns) == 6, "the HPA at 30 / 5 = 6", timeout=SLOW)

    # postgresql drained: prometheus alone keeps it active and at 6
    rows(pg, 0)
    wait_until(lambda: values(c, ns)[1] == ("INACTIVE", 0), "postgresql at 0")
    wait_until(lambda: activity(kube, ns) == {"s0-prometheus": True, "s1-postgresql": False},
               "triggersActivity: prometheus active")
    hold(lambda: target_replicas(kube, ns) == 6 and active_cond(kube, ns)["status"] == "True",
         "still active and at 6 on prometheus alone", seconds=3)

    # both inactive: to 0 after the cooldown
    prom.exporter.set("queue_depth", 0)
    wait_until(lambda: values(c, ns) == [("INACTIVE", 0), ("INACTIVE", 0)], "both at 0")
    wait_until(lambda: target_replicas(kube, ns) == 0, "to 0 after the cooldown", timeout=SLOW)
    a = active_cond(kube, ns)
    assert (a["status"], a["reason"]) == ("False", "ScalerNotActive"), a
    assert any(e[0] == "KEDAScaleTargetDeactivated" for e in events(kube, ns, "multi"))

    # prometheus alone activates too
    prom.exporter.set("queue_depth", 10)
    wait_until(lambda: target_replicas(kube, ns) >= 1, "activation by prometheus alone")
    wait_until(lambda: has_event(kube, ns, "multi", "KEDAScaleTargetActivated",
                                 f"Scaled apps/v1.Deployment {ns}/multi-work from 0 to 1, "
                                 "triggered by s0-prometheus"), "activated by s0-prometheus")
    wait_until(lambda: target_replicas(kube, ns) == 2, "the HPA at 10 / 5 = 2", timeout=SLOW)
    so = kube.get(ns, "scaledobject", "multi")
    assert condition(so, "Ready")["status"] == "True", so["status"]

    # the password went from the Secret to PostgreSQL and nowhere else
    seen = json.dumps(so) + json.dumps(events(kube, ns, "multi")) + \
        c.log_path.read_text(errors="replace")
    assert pg.password not in seen
