#!/usr/bin/env python3
"""The whole ckeda process tree with 1,000 ScaledObjects on the local control plane
(tests/e2e/cluster.sh up): PSS of every process and the sum, and CPU per minute in steady state,
beside KEDA's published figures.

Like bench_watcher.py, it creates the objects through kube-apiserver directly (one connection,
the admin certificate): N Deployments at 0 replicas (no pods are needed), then N ScaledObjects at
KEDA's default pollingInterval of 30 s. --mix split (default): half of them with one redis trigger
(a list of their own on a real redis-server, empty, so inactive), half with one cron trigger (a
window on 1 January, inactive); --mix both: every object with one of each. `ckeda run` serves the
metrics API and the webhooks on the cluster's ports (the webhook validates every creation) with
KEDA's client limits (--kube-api-qps 20, --kube-api-burst 30).

Steady state starts once every object is Ready (its status, listed from the API), every
trigger has been polled once (ckedactl triggers: none in ERROR) and the watcher has counted a
whole minute without an API read or write (its once-a-minute log line), plus --settle seconds. Then,
over --steady seconds (>= 120), utime + stime of every process from /proc/<pid>/stat before and
after, as CPU seconds per minute; PSS from /proc/<pid>/smaps_rollup at the end. redis-server and
the control plane are shown for context, outside the sum. Asserts nothing.

    python3 bench/bench_tree_load.py [--build build] [--objects 1000] [--mix split|both]
                                     [--steady 180] [--settle 30] [--hpa-sync 15s]

--hpa-sync is passed to cluster.sh as CKEDA_E2E_HPA_SYNC_PERIOD (upstream's 15 s; changing it
restarts the controller manager only). Needs CKEDA_ADAPTER_PORT and CKEDA_WEBHOOK_PORT free.
"""
import argparse
import os
import sys
import tempfile
import time

from benchlib import (Api, Tree, cluster, cpu_s, deployment, loadavg, ready_count, rollup,
                      scaled_object, wait)
from bench_watcher import steady_requests
from sources import RedisServer

# KEDA's figures (reference: perf-reliability.md; KEDA publishes no benchmark at N ScaledObjects,
# kedacore/keda#4411): (what, memory in bytes, CPU in cores, source)
KEDA = [
    ("KEDA idle, operator + metrics server", (16 + 38) * 10**6, 0.0007 + 0.0112,
     'kedacore/keda#5678 (KEDA 2.14): "cpu 0.0007, 0.0112; mem 16MB, 38MB"'),
    ("KEDA default requests, operator + metrics server", 2 * 100 * 2**20, 2 * 0.1,
     "keda-docs content/docs/2.21/operate/cluster.md: request 100m/100Mi each"),
    ("KEDA default limits, operator + metrics server", 2 * 1000 * 2**20, 2 * 1.0,
     "keda-docs content/docs/2.21/operate/cluster.md: limit 1 CPU/1000Mi each"),
    ("KEDA with 1,000 Kafka ScaledObjects, at ~12 MiB each", 1000 * 12 * 2**20, None,
     "kedacore/keda#7453: ~3,000 Kafka SOs -> operator ~35 GiB (Sarama metadata)"),
]


def triggers(i, mix, redis):
    redis_t = {"type": "redis", "metadata": {"address": redis.address, "listName": f"q-{i}",
                                             "listLength": "5"}}
    cron_t = {"type": "cron", "metadata": {"timezone": "Etc/UTC", "start": "0 0 1 1 *",
                                           "end": "30 0 1 1 *", "desiredReplicas": "1"}}
    if mix == "both":
        return [redis_t, cron_t]
    return [redis_t] if i % 2 == 0 else [cron_t]


def polled_once(tree, want):
    """Every trigger has a result for its configuration (none in ERROR)."""
    doc = tree.ctl("triggers") or {}
    states = [t["state"] for t in doc.get("triggers", [])]
    return len(states) == want and "ERROR" not in states


def utc(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))


def quiet_minute(tree, since):
    """The watcher's once-a-minute count of its API requests shows a whole minute, begun after
    `since` (time.time()), without a read or a write (only watch renewals)."""
    s = steady_requests(tree.log.name, max(utc(since + 60), utc(time.time() - 65)))
    return bool(s) and s[2] == 0


def measure(rows, seconds):
    """CPU seconds per minute of every (name, pid) over `seconds`, with the load average every
    15 s."""
    before = {pid: cpu_s(pid) for _, pid in rows}
    t0 = time.monotonic()
    loads = [loadavg()]
    while time.monotonic() - t0 < seconds:
        time.sleep(min(15, seconds - (time.monotonic() - t0)))
        loads.append(loadavg())
    dt = time.monotonic() - t0
    return {pid: (cpu_s(pid) - before[pid]) * 60 / dt for _, pid in rows}, dt, loads


def report(rows, cpu, n):
    print(f"\n{'process':<28} {'pid':>7} {'PSS KiB':>9} {'RSS KiB':>9} {'CPU s/min':>10} "
          f"{'millicores':>10}")
    tot_pss = tot_cpu = 0.0
    for i, (name, pid) in enumerate(rows):
        v = rollup(pid)
        if name.startswith("ckeda"):
            tot_pss += v["Pss"]
            tot_cpu += cpu[pid]
        elif rows[i - 1][0].startswith("ckeda"):
            print(f"{'ckeda tree, sum':<28} {'':>7} {tot_pss:>9.0f} {'':>9} {tot_cpu:>10.3f} "
                  f"{tot_cpu / 60 * 1000:>10.2f}")
            print("context, outside the sum:")
        print(f"{name:<28} {pid:>7} {v['Pss']:>9} {v['Rss']:>9} {cpu[pid]:>10.3f} "
              f"{cpu[pid] / 60 * 1000:>10.2f}")
    print(f"\nckeda with {n} ScaledObjects: PSS {tot_pss / 1024:.1f} MiB "
          f"({tot_pss * 1024 / n / 1024:.1f} KiB per ScaledObject), CPU {tot_cpu:.3f} s per minute "
          f"({tot_cpu / 60 * 1000:.2f} millicores)")
    print("\nbeside KEDA's published figures (ckeda / KEDA):")
    for what, mem, cores, src in KEDA:
        m = f"memory {mem / 2**20:8.0f} MiB: {tot_pss * 1024 / mem:6.3f}x"
        c = f"CPU {cores * 1000:6.1f} millicores: {tot_cpu / 60 / cores:6.3f}x" if cores else ""
        print(f"  {what:<52} {m}   {c}\n      source: {src}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("CKEDA_BIN", "build"))
    ap.add_argument("--objects", type=int, default=1000)
    ap.add_argument("--mix", choices=("split", "both"), default="split")
    ap.add_argument("--steady", type=int, default=180)
    ap.add_argument("--settle", type=int, default=30)
    ap.add_argument("--hpa-sync", default="15s")
    args = ap.parse_args()
    os.environ["CKEDA_E2E_HPA_SYNC_PERIOD"] = args.hpa_sync
    kc, env = cluster()
    api = Api(kc, tempfile.mkdtemp(prefix="ckeda-bench-"))
    ns = f"ckt-{os.getpid()}"
    n = args.objects
    with RedisServer() as r:
        api.must("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                 "metadata": {"name": ns}})
        for i in range(n):
            api.must("POST", f"/apis/apps/v1/namespaces/{ns}/deployments", deployment(f"web-{i}"))
        with Tree(args.build, kc, env, ns, ("--kube-api-qps", "20", "--kube-api-burst", "30")) \
                as tree:
            wait(lambda: (tree.ctl("status") or {}).get("watcher_synced"), "the watcher", 60)
            t0 = time.monotonic()
            for i in range(n):
                api.must("POST", f"/apis/keda.sh/v1alpha1/namespaces/{ns}/scaledobjects",
                         scaled_object(f"so-{i}", f"web-{i}", triggers(i, args.mix, r),
                                       pollingInterval=30))
            posted = time.monotonic() - t0
            want = n * (2 if args.mix == "both" else 1)
            deadline = time.monotonic() + 1800
            while not (ready_count(api, ns) == n and polled_once(tree, want)):
                if time.monotonic() > deadline:
                    sys.exit("timed out waiting for every object Ready and polled")
                time.sleep(5)
            print(f"{n} ScaledObjects ({want} triggers, mix {args.mix}) posted in {posted:.0f} s; "
                  f"every one Ready and polled after {time.monotonic() - t0:.0f} s", flush=True)
            ready_at = time.time()
            wait(lambda: quiet_minute(tree, ready_at), "a minute without API writes", 600)
            print(f"the watcher's first minute without API reads or writes ended "
                  f"{time.time() - ready_at:.0f} s later", flush=True)
            time.sleep(args.settle)
            rows = tree.rows(r)
            cpu, dt, loads = measure(rows, args.steady)
            after = tree.rows(r)
            print(f"steady state: {dt:.0f} s; load average (1/5/15 min) every 15 s: "
                  f"{' | '.join(loads)}")
            if sorted(after) != sorted(rows):
                print(f"note: the processes changed during the measurement: {rows} -> {after}")
            workers = (tree.ctl("workers") or {}).get("processes", [])
            print("workers: " + ", ".join(f"{p['role']}{'/' + p['type'] if p['type'] else ''} "
                                          f"{p['triggers']} triggers, {p['polls_total']:.0f} polls"
                                          for p in workers if p["role"] == "scaleworker"))
            report(rows, cpu, n)
        api.call("DELETE", f"/api/v1/namespaces/{ns}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
