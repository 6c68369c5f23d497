#!/usr/bin/env python3
"""Reaction time, item pushed -> the target's /scale written (0 -> 1), two ways side by side in
one run, on the local control plane (tests/e2e/cluster.sh up):

- polled: a redis trigger on a list (pollingInterval 1 s, activationListLength 2), as
  bench_skeleton.py measures it: RPUSH 3 items, time until the Deployment's spec.replicas is 1;
- pushed: an `external-push` trigger (pollingInterval 30 s) against a real gRPC server of KEDA's
  externalscaler.proto (tests/integration/external_scaler_server.py, grpcio): the item's arrival
  is the server sending StreamIsActive `true` on the open stream.

Both ScaledObjects (cooldownPeriod 0) live in one namespace under one `ckeda run`; each cycle
measures both, in random order, each after a random pause of up to 1 s (so pushes fall at every
phase of the polling interval), then empties the source and waits for 0 replicas. Replica
changes are timestamped on a watch of the namespace's Deployments. Prints p50/p90/p99/max of
each and the ratio of the medians, with the load average. Asserts nothing.

    python3 bench/bench_reaction.py [--build build] [--cycles 40]

Needs CKEDA_ADAPTER_PORT and CKEDA_WEBHOOK_PORT (default: the cluster's) free.
"""
import argparse
import os
import random
import statistics
import sys
import tempfile
import time

from benchlib import Api, Tree, Watch, cluster, deployment, loadavg, scaled_object, wait
from bench_skeleton import pct
from external_scaler_server import ExternalScalerServer
from sources import RedisServer


def figures(label, ms):
    return (f"{label:<44} p50 {pct(ms, 50):6.0f}  p90 {pct(ms, 90):6.0f}  p99 {pct(ms, 99):6.0f}  "
            f"max {max(ms):6.0f}  min {min(ms):6.0f} ms  ({len(ms)} cycles)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("CKEDA_BIN", "build"))
    ap.add_argument("--cycles", type=int, default=40)
    args = ap.parse_args()
    kc, env = cluster()
    api = Api(kc, tempfile.mkdtemp(prefix="ckeda-bench-"))
    ns = f"ckr-{os.getpid()}"
    with RedisServer() as r, ExternalScalerServer() as srv:
        api.must("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                 "metadata": {"name": ns}})
        srv.set(ns, "pushed", metric="items", target=1, value=0, active=False)
        for name in ("polled", "pushed"):
            api.must("POST", f"/apis/apps/v1/namespaces/{ns}/deployments", deployment(name))
        watch = Watch(api, ns)
        watch.start()
        with Tree(args.build, kc, env, ns) as tree:
            so = f"/apis/keda.sh/v1alpha1/namespaces/{ns}/scaledobjects"
            api.must("POST", so, scaled_object(
                "polled", "polled", [{"type": "redis", "metadata": {
                    "address": r.address, "listName": "jobs", "listLength": "5",
                    "activationListLength": "2"}}],
                pollingInterval=1, cooldownPeriod=0, maxReplicaCount=4))
            api.must("POST", so, scaled_object(
                "pushed", "pushed", [{"type": "external-push",
                                      "metadata": {"scalerAddress": srv.address}}],
                pollingInterval=30, cooldownPeriod=0, maxReplicaCount=4))
            wait(lambda: [t["state"] for t in (tree.ctl("triggers") or {}).get("triggers", [])]
                 == ["INACTIVE", "INACTIVE"], "both triggers polled, inactive")
            wait(lambda: srv.objects[(ns, "pushed")].streams_opened >= 1, "the activity stream")

            def polled():
                t0 = time.monotonic()
                r.command("RPUSH", "jobs", "a", "b", "c")
                t1 = watch.until("polled", 1, 60)
                r.command("DEL", "jobs")
                watch.until("polled", 0, 60)
                return t1 - t0

            def pushed():
                srv.set(ns, "pushed", value=1, active=True)
                t0 = time.monotonic()
                srv.push(ns, "pushed", True)
                t1 = watch.until("pushed", 1, 60)
                # back to 0 after the next poll sees it inactive (the HPA's reads of the metric
                # ask for one; the 30 s interval at the latest)
                srv.set(ns, "pushed", value=0, active=False)
                watch.until("pushed", 0, 120)
                return t1 - t0

            print(f"load average at start: {loadavg()}", flush=True)
            lat = {"polled": [], "pushed": []}
            for i in range(args.cycles):
                order = [("polled", polled), ("pushed", pushed)]
                random.shuffle(order)
                for name, fn in order:
                    time.sleep(random.random())
                    lat[name].append(fn() * 1000)
                if (i + 1) % 10 == 0:
                    print(f"  {i + 1} cycles, load average {loadavg()}", flush=True)
            print(f"load average at end: {loadavg()}")
        api.call("DELETE", f"/api/v1/namespaces/{ns}")
    a, b = lat["polled"], lat["pushed"]
    print(figures("redis, pollingInterval 1 s:", a))
    print(figures("external-push, pollingInterval 30 s:", b))
    print(f"ratio of medians (redis / external-push): "
          f"{statistics.median(a) / statistics.median(b):.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
