#!/usr/bin/env python3
"""How a scale worker's CPU grows with its trigger count when the polls are spread over the
interval, as they are in real use: CPU per poll of one redis worker and one cron worker with
500, 1,000 and 2,000 triggers each (pollingInterval 30 s) side by side in one run, and the
ratios between them. Flat CPU per poll (ratios near 1) means the worker's cost is linear in its
triggers. A redis poll is a round trip to a real redis-server; a cron poll is computed in the
worker, so there the worker's own bookkeeping per loop turn is most of what is measured.

bench_worker_poll.py creates its triggers together, so their polls bunch into few loop turns;
here they are added a few at a time over one interval (each trigger's first poll is at once,
the next one interval later less up to a tenth of jitter), so nearly every poll has a loop turn
of its own, as with objects created over minutes.

For each count in turn: a fresh `ckeda run` on a private table (no control plane: the
test-only table writer tests/shmtool stands in for the watcher's mirror), one real
redis-server for the whole run (tests/integration/sources.py), triggers added in groups of
--per-object of each type (one ScaledObject per group) spread evenly over one interval, every
trigger waited for until it has a value, then one more interval to settle, then each worker
measured over the same --seconds:
- CPU: the worker's scheduler run time (/proc/<pid>/task/*/schedstat, nanoseconds; utime +
  stime has 10 ms ticks, too coarse here) over the polls it counted in the table;
- turns: none are counted by the worker; polls per second is what the source sees.

    python3 bench/bench_worker_scale.py [--build build] [--counts 500,1000,2000]
                                        [--types redis,cron] [--interval 30] [--seconds 60]
                                        [--per-object 5]

Prints figures and ratios; asserts nothing. Uses bench_worker_poll.py's helpers.
"""
import argparse
import glob
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

from bench_worker_poll import ctl, pss_kib  # noqa: E402
from benchlib import loadavg  # noqa: E402
from sources import RedisServer  # noqa: E402


def run_ns(pid):
    """Nanoseconds the process's threads have run on a CPU (first field of schedstat)."""
    total = 0
    for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            with open(path) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that ended meanwhile
    return total


def start_tree(build, name, count, ntypes):
    return subprocess.Popen(
        [os.path.join(build, "ckeda"), "run", "--shm-name", name, "--secure-port", "0",
         "--webhook-port", "0", "--metrics-port", "0", "--health-port", "0",
         "--max-triggers", str(max(2048, 2 * ntypes * count)),
         "--worker-shard-size", str(count)],
        stderr=subprocess.DEVNULL, start_new_session=True)


def wait_workers(build, name):
    deadline = time.monotonic() + 30
    while not (ctl(build, name, "workers") or {}).get("processes"):
        if time.monotonic() > deadline:
            raise SystemExit("ckeda did not start")
        time.sleep(0.2)


def add_spread(args, name, redis, count, base):
    """Adds count triggers in groups of args.per_object, evenly over one interval."""
    shmtool = os.path.join(args.build, "tests", "shmtool")
    groups = (count + args.per_object - 1) // args.per_object
    t0 = time.monotonic()
    for g in range(groups):
        wait = t0 + g * args.interval / groups - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        argv = [shmtool, "--shm-name", name, "add", f"bench/so{base + g}",
                "--polling-interval", str(args.interval)]
        for i in range(min(args.per_object, count - g * args.per_object)):
            k = g * args.per_object + i
            for t in args.types:
                argv += ["--trigger", trigger_spec(t, redis, f"scale{base}-{k}")]
        subprocess.run(argv, check=True, capture_output=True)


def trigger_spec(kind, redis, key):
    """shmtool's --trigger text: an empty redis list of its own (inactive), or a cron window
    that never opens (as bench_tree_load.py's)."""
    if kind == "redis":
        return f"redis,target=5,address={redis.address},listName={key},listLength=5"
    return ("cron,target=1,timezone=Etc/UTC,start=0 0 1 1 *,end=30 0 1 1 *,"
            "desiredReplicas=1")


def wait_values(args, name, count):
    want = count * len(args.types)
    deadline = time.monotonic() + args.interval + 60
    while True:
        ts = (ctl(args.build, name, "triggers") or {}).get("triggers", [])
        if len(ts) == want and all(t["state"] != "ERROR" for t in ts):
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(ts)} of {want} triggers with values")
        time.sleep(0.5)


def the_worker(args, name, kind):
    ws = [p for p in ctl(args.build, name, "workers")["processes"]
          if p["role"] == "scaleworker" and p["type"] == kind and p["pid"]]
    if len(ws) != 1:
        raise SystemExit(f"expected one {kind} worker, found {len(ws)}")
    return ws[0]


def measure_one(args, redis, count, base):
    name = f"ckeda-bench-scale-{os.getpid()}-{count}"
    proc = start_tree(args.build, name, count, len(args.types))
    try:
        wait_workers(args.build, name)
        add_spread(args, name, redis, count, base)
        wait_values(args, name, count)
        time.sleep(args.interval)  # every trigger past its first poll and its jittered second
        ws = [the_worker(args, name, t) for t in args.types]
        c0, t0 = [run_ns(w["pid"]) for w in ws], time.monotonic()
        time.sleep(args.seconds)
        c1, elapsed = [run_ns(w["pid"]) for w in ws], time.monotonic() - t0
        now = {p["pid"]: p for p in ctl(args.build, name, "workers")["processes"]}
        rows = []
        for kind, w, a, b in zip(args.types, ws, c0, c1):
            w1 = now[w["pid"]]
            rows.append({"type": kind, "count": count, "polls": w1["polls_total"] -
                         w["polls_total"], "elapsed": elapsed, "cpu_s": (b - a) / 1e9,
                         "pss": pss_kib(w["pid"]), "restarts": w1["restarts"]})
        return rows
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("CKEDA_BIN", "build"))
    ap.add_argument("--counts", default="500,1000,2000")
    ap.add_argument("--types", default="redis,cron", help="scaler types, one worker each")
    ap.add_argument("--interval", type=int, default=30, help="pollingInterval, seconds")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--per-object", type=int, default=5, help="triggers added together")
    args = ap.parse_args()
    args.types = args.types.split(",")
    counts = [int(c) for c in args.counts.split(",")]
    rows = []
    with RedisServer() as redis:
        for i, n in enumerate(counts):
            rows += measure_one(args, redis, n, 100000 * i)
            for r in rows[-len(args.types):]:
                print(f"{r['type']} {n} triggers: {r['polls']} polls in {r['elapsed']:.1f} s, "
                      f"CPU {r['cpu_s']:.3f} s", flush=True)
    print(f"\none worker per type, pollingInterval {args.interval} s, polls spread over it "
          f"({args.per_object} triggers of each type added together); {args.seconds:.0f} s "
          f"measured each")
    print(f"{'type':>6} {'triggers':>9} {'polls/s':>8} {'CPU s/min':>10} {'us/poll':>8} "
          f"{'PSS KiB':>8}")
    for r in rows:
        r["us"] = r["cpu_s"] / max(r["polls"], 1) * 1e6
        print(f"{r['type']:>6} {r['count']:>9} {r['polls'] / r['elapsed']:>8.1f} "
              f"{r['cpu_s'] / r['elapsed'] * 60:>10.3f} {r['us']:>8.1f} {r['pss']:>8}"
              + (f"  (worker restarted {r['restarts']} times)" if r["restarts"] else ""))
    for kind in args.types:
        mine = [r for r in rows if r["type"] == kind]
        for a, b in zip(mine, mine[1:]):
            print(f"{kind} ratio {b['count']}/{a['count']}: CPU per poll "
                  f"{b['us'] / a['us']:.2f}x, CPU per minute "
                  f"{(b['cpu_s'] / b['elapsed']) / (a['cpu_s'] / a['elapsed']):.2f}x")
    print(f"load average: {loadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
