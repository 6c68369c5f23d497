"""The prometheus scaler against a real Prometheus, through the real process tree.

Each test starts `ckeda run` on a table of its own and writes ScaledObjects with prometheus
triggers through tests/shmtool (trigger metadata as key=value pairs; the table's target and
activation as the watcher would fill them from threshold and activationThreshold). The
session's Prometheus scrapes a MetricsExporter whose gauges the test sets. Covered: the value
of a query over a gauge and ACTIVE/INACTIVE around activationThreshold (strictly greater), an
empty result as 0 (ignoreNullValues, KEDA's default) or as ERROR without it, a bad query as
ERROR with Prometheus's status, and a Prometheus that stops answering (SIGSTOP) as ERROR after
the timeout while a trigger on a healthy Prometheus in the same worker keeps its schedule.

Queries carry no commas: shmtool splits its trigger argument at them.
"""

import sources
from test_redis_scaler import (active_in_one_worker, budget, error_of, eventually, stopped,
                               stuck_trigger_times_out, wait_state)


def prom_trigger(server, query, *extra, threshold=5, activation=0):
    return ",".join(["prometheus", f"target={threshold}", f"activation={activation}",
                     f"serverAddress={server.url}", f"query={query}",
                     f"threshold={threshold}", f"activationThreshold={activation}", *extra])


def test_query_value_and_strict_activation(ckeda, prometheus_server, unique):
    gauge = f"ckeda_it_{unique}"
    prometheus_server.exporter.set(gauge, 7, queue="a")
    eventually(lambda: prometheus_server.query_value(f"sum({gauge})") == 7.0, budget(10),
               "prometheus to scrape the gauge")
    so = f"apps/{unique}"
    ckeda.add(so, prom_trigger(prometheus_server, f"sum({gauge})", activation=3),
              prom_trigger(prometheus_server, f'{gauge}{{queue="a"}}', activation=7))
    t = wait_state(ckeda, so, "ACTIVE", 7, index=0)
    assert t["type"] == "prometheus" and t["error"] == ""
    wait_state(ckeda, so, "INACTIVE", 7, index=1)  # 7 > 7 is false
    prometheus_server.exporter.set(gauge, 2.5, queue="a")
    wait_state(ckeda, so, "INACTIVE", 2.5, index=0)  # 2.5 > 3 is false


def test_empty_result_is_zero_or_an_error(ckeda, prometheus_server, unique):
    so = f"apps/{unique}"
    ckeda.add(so, prom_trigger(prometheus_server, f"no_such_metric_{unique}"),
              prom_trigger(prometheus_server, f"no_such_metric_{unique}",
                           "ignoreNullValues=false"))
    wait_state(ckeda, so, "INACTIVE", 0, index=0)
    t = error_of(ckeda, so, 1, "target may be lost, the result is empty")
    assert t["value"] is None


def test_bad_query_is_an_error_with_the_status(ckeda, prometheus_server, unique):
    so = f"apps/{unique}"
    ckeda.add(so, prom_trigger(prometheus_server, "sum(("),
              prom_trigger(prometheus_server, "vector(4)"))
    t = error_of(ckeda, so, 0, "prometheus query api returned error. status: 400")
    assert t["errors"] >= 1
    wait_state(ckeda, so, "ACTIVE", 4, index=1)
    # NaN is 0 under ignoreNullValues and an error without it
    ckeda.add(f"apps/{unique}-nan", prom_trigger(prometheus_server, "vector(0)/0"),
              prom_trigger(prometheus_server, "vector(0)/0", "ignoreNullValues=false"))
    wait_state(ckeda, f"apps/{unique}-nan", "INACTIVE", 0, index=0)
    error_of(ckeda, f"apps/{unique}-nan", 1, "prometheus query returns NaN")


def test_stopped_prometheus_times_out_and_never_delays_another_trigger(ckeda, prometheus_server,
                                                                       unique):
    gauge = f"ckeda_it_{unique}"
    prometheus_server.exporter.set(gauge, 1)
    with sources.PrometheusServer() as stuck:
        stuck.exporter.set(gauge, 1)
        eventually(lambda: stuck.query_value(f"sum({gauge})") == 1.0, budget(10), "a scrape")
        eventually(lambda: prometheus_server.query_value(f"sum({gauge})") == 1.0, budget(10),
                   "a scrape")
        so = f"apps/{unique}"
        ckeda.add(so, prom_trigger(stuck, f"sum({gauge})"),
                  prom_trigger(prometheus_server, f"sum({gauge})"))
        active_in_one_worker(ckeda, so)
        with stopped(stuck.main_proc.pid):
            t = stuck_trigger_times_out(ckeda, so, f"127.0.0.1:{stuck.port}/api/v1/query",
                                        lambda: prometheus_server.exporter.set(gauge, 2), 2,
                                        healthy_within=5)
            assert "query=" not in t["error"]
        wait_state(ckeda, so, "ACTIVE", 1, index=0, timeout=budget(10))
