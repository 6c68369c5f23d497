#!/usr/bin/env python3
"""Activation latency of the walking skeleton, and the memory of every process in it.

On the local control plane (tests/e2e/cluster.sh up) with a real redis-server, a Deployment at 0
replicas and a ScaledObject on a Redis list (pollingInterval 1 s, activationListLength 2,
cooldownPeriod 0), it repeats: push 3 items, time until the Deployment's spec.replicas becomes 1
(seen on a kubectl watch), drain, wait for 0, pause a random fraction of a second (so pushes fall
at every phase of the polling interval). Prints p50/p90/p99/max of "item pushed -> /scale written",
then RSS and PSS of each process: the ckeda tree, redis-server and the control plane.

    python3 bench/bench_skeleton.py [--build build] [--cycles 30]

Needs CKEDA_ADAPTER_PORT (default: the cluster's) free: ckeda serves the cluster's metrics API.
"""
import argparse
import json
import os
import pathlib
import queue
import random
import signal
import subprocess
import sys
import threading
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "bench"))
from sources import RedisServer  # noqa: E402
from tree_memory import rollup  # noqa: E402


def sh(*argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kw).stdout


def cluster():
    kc = pathlib.Path(sh(str(REPO / "tests/e2e/cluster.sh"), "up").strip().splitlines()[-1])
    env = dict(l.split("=", 1) for l in (kc.parent / "cluster.env").read_text().splitlines()
               if "=" in l)
    return kc, env


def wait(pred, what, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    sys.exit(f"timed out waiting for {what}")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def descendants(root):
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def memory_rows(ckeda_pid, redis, env):
    rows = []
    for pid in descendants(ckeda_pid):
        cmd = open(f"/proc/{pid}/cmdline").read().split("\0")
        role = next((a.split("=", 1)[1] for a in cmd if a.startswith("--role=")), "supervisor")
        typ = next((a.split("=", 1)[1] for a in cmd if a.startswith("--type=")), "")
        rows.append((f"ckeda {role}{' ' + typ if typ else ''}", pid))
    rows.append(("redis-server", redis.main_proc.pid))
    run = pathlib.Path(env["KUBECONFIG"]).parent / "run"
    for name in ("etcd", "kube-apiserver", "kube-controller-manager"):
        f = run / f"{name}.pid"
        if f.exists():
            rows.append((name, int(f.read_text().split()[0])))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("CKEDA_BIN", str(REPO / "build")))
    ap.add_argument("--cycles", type=int, default=30)
    args = ap.parse_args()
    kc, env = cluster()
    kubectl = [str(pathlib.Path(env["BIN_DIR"]) / "kubectl"), "--kubeconfig", str(kc)]
    port = os.environ.get("CKEDA_ADAPTER_PORT", env.get("ADAPTER_PORT", "7443"))
    ns = f"ckb-{os.getpid()}"
    with RedisServer() as r:
        sh(*kubectl, "create", "namespace", ns)
        doc = (REPO / "deploy/examples/redis-scaledobject.yaml").read_text()
        doc = doc.replace("REDIS_ADDRESS", r.address).replace("cooldownPeriod: 5",
                                                              "cooldownPeriod: 0")
        sh(*kubectl, "apply", "-n", ns, "-f", "-", input=doc)
        shm = f"ckeda-bench-{os.getpid()}"
        proc = subprocess.Popen(
            [f"{args.build}/ckeda", "run", "--kubeconfig", str(kc), "--shm-name", shm,
             "--watch-namespace", ns, "--pod-namespace", ns, "--secure-port", port, "--webhook-port", "0",
             "--metrics-port", "0", "--health-port", "0", "--cert-dir",
             str(kc.parent / "adapter-certs")], stderr=subprocess.DEVNULL)
        watch = subprocess.Popen([*kubectl, "get", "deploy", "worker", "-n", ns, "-w", "-o",
                                  "jsonpath={.spec.replicas}{\"\\n\"}"], stdout=subprocess.PIPE,
                                 text=True)
        events = queue.Queue()
        threading.Thread(target=lambda: [events.put((time.monotonic(), int(l)))
                                         for l in watch.stdout if l.strip()],
                         daemon=True).start()
        try:
            wait(lambda: "True" in sh(*kubectl, "get", "so", "worker", "-n", ns, "-o",
                                      "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}"),
                 "Ready")

            def until(n, timeout=60):
                deadline = time.monotonic() + timeout
                while True:
                    t, v = events.get(timeout=max(0.1, deadline - time.monotonic()))
                    if v == n:
                        return t
            lat = []
            for i in range(args.cycles):
                time.sleep(random.random())
                t0 = time.monotonic()
                r.command("RPUSH", "jobs", "a", "b", "c")
                lat.append(until(1) - t0)
                if i == args.cycles // 2:
                    mem = [(n, p, rollup(p)) for n, p in memory_rows(proc.pid, r, env)]
                r.command("DEL", "jobs")
                until(0)
            ms = [x * 1000 for x in lat]
            print(f"item pushed -> replicas 1 (pollingInterval 1 s), {len(ms)} cycles: "
                  f"p50 {pct(ms, 50):.0f} ms  p90 {pct(ms, 90):.0f} ms  p99 {pct(ms, 99):.0f} ms  "
                  f"max {max(ms):.0f} ms  min {min(ms):.0f} ms")
            print(f"\n{'process':<28} {'pid':>7} {'RSS KiB':>9} {'PSS KiB':>9}")
            tot = [0, 0]
            for n, p, v in mem:
                print(f"{n:<28} {p:>7} {v.get('Rss', 0):>9} {v.get('Pss', 0):>9}")
                if n.startswith("ckeda"):
                    tot[0] += v.get("Rss", 0)
                    tot[1] += v.get("Pss", 0)
            print(f"{'ckeda tree total':<28} {'':>7} {tot[0]:>9} {tot[1]:>9}")
        finally:
            watch.terminate()
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
            subprocess.run([*kubectl, "delete", "namespace", ns, "--wait=false"],
                           capture_output=True)


if __name__ == "__main__":
    main()
