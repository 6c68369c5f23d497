"""ckeda's /metrics scraped by the real Prometheus server (Debian's `prometheus`), the way a
user's Prometheus scrapes KEDA's operator: every family parses (the target is up with no scrape
error), KEDA's series carry their values and labels, and counters work in rate().

A real `ckeda run` tree (ports 0, no cluster) with a ScaledObject written by shmtool whose two
triggers the real workers poll: the test-only ckeda-test scaler, one returning 7, one failing.
"""

import os
import sys

from conftest import budget, wait_until

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

from sources import PrometheusServer, http_request  # noqa: E402

JOB = "ckeda"


def test_real_prometheus_scrapes_every_family(ckeda):
    inst = ckeda()
    inst.add("shop/orders", "ckeda-test,value=7", "ckeda-test,mode=fail", polling_interval=1)
    port = inst.status()["ports"]["metrics"]
    prom = PrometheusServer(targets={JOB: f"127.0.0.1:{port}"}).start()
    try:
        q = prom.query_value
        wait_until(lambda: q(f'up{{job="{JOB}"}}') == 1.0, budget(30), "ckeda scraped")
        sel = f'job="{JOB}",namespace="shop",scaledObject="orders"'
        wait_until(lambda: q(f'keda_scaler_metrics_value{{{sel},triggerIndex="0"}}') == 7.0,
                   budget(30), "the value through Prometheus")
        assert q(f'keda_scaler_active{{{sel},triggerIndex="0"}}') == 1.0
        assert q(f'keda_scaler_active{{{sel},triggerIndex="1"}}') == 0.0
        assert q(f'keda_scaled_object_paused{{{sel}}}') == 0.0
        # the failing trigger's errors grow, one a second: a counter rate() can use
        wait_until(lambda: (q(f'rate(keda_scaler_detail_errors_total{{{sel},triggerIndex="1"}}'
                              '[10s])') or 0) > 0, budget(30), "an error rate")
        [series] = prom.query(f'keda_scaler_metrics_value{{{sel},triggerIndex="0"}}')
        assert {k for k in series["metric"] if k not in ("__name__", "job", "instance")} == \
            {"namespace", "metric", "scaledObject", "scaler", "triggerIndex", "type"}
        assert prom.query(f'keda_build_info{{job="{JOB}"}}')
        assert prom.query(f'ckeda_process_restarts_total{{job="{JOB}",role="watcher"}}')
        # Prometheus took every line: no scrape error on the target
        status, body = http_request("GET", f"{prom.url}/api/v1/targets", timeout=5)
        assert status == 200
        [target] = [t for t in body["data"]["activeTargets"] if t["labels"]["job"] == JOB]
        assert target["health"] == "up" and not target["lastError"], target
    finally:
        prom.stop()
