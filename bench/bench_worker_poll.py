#!/usr/bin/env python3
"""One scale worker polling 1,000 redis triggers at a 1 s pollingInterval: CPU per poll, the
worker's PSS, and the jitter of the polls as the source sees them.

Starts a real redis-server (tests/integration/sources.py) and `ckeda run` on a private table,
adds N triggers (redis lists, 10 per ScaledObject) with the test-only table writer, waits until
each has a value, then measures for --seconds:
- CPU: the worker's utime + stime (/proc/<pid>/stat) over the polls it counted in the table;
- PSS: /proc/<pid>/smaps_rollup of the worker at the end;
- jitter: redis MONITOR timestamps of every LLEN, per list: the gap between successive polls
  minus the 1 s interval (p50, p99, max of its absolute value).

    python3 bench/bench_worker_poll.py [--build build] [--triggers 1000] [--seconds 20]
"""
import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

from sources import RedisServer  # noqa: E402

PER_OBJECT = 10
TICKS = os.sysconf("SC_CLK_TCK")


def ctl(build, name, *args):
    r = subprocess.run([os.path.join(build, "ckedactl"), "--shm-name", name, "-o", "json", *args],
                       capture_output=True, text=True, timeout=60)
    return json.loads(r.stdout) if r.returncode == 0 else None


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def pss_kib(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def monitor(port, seconds, out):
    """Collects (timestamp, key) of every LLEN redis executes for `seconds`."""
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"MONITOR\r\n")
    pat = re.compile(rb'^\+(\d+\.\d+) \[[^\]]*\] "(?:LLEN|llen)" "([^"]+)"')
    buf, end = b"", time.monotonic() + seconds
    s.settimeout(0.5)
    while time.monotonic() < end:
        try:
            chunk = s.recv(1 << 16)
        except socket.timeout:
            continue
        if not chunk:
            break
        buf += chunk
        *lines, buf = buf.split(b"\r\n")
        for line in lines:
            m = pat.match(line)
            if m:
                out.append((float(m.group(1)), m.group(2).decode()))
    s.close()


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] if xs else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("CKEDA_BIN", "build"))
    ap.add_argument("--triggers", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=20)
    args = ap.parse_args()
    name = f"ckeda-bench-{os.getpid()}"
    with RedisServer() as redis:
        proc = subprocess.Popen(
            [os.path.join(args.build, "ckeda"), "run", "--shm-name", name, "--secure-port", "0",
             "--webhook-port", "0", "--metrics-port", "0", "--health-port", "0",
             "--max-triggers", str(max(2048, 2 * args.triggers)),
             "--worker-shard-size", str(args.triggers)],
            stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            return measure(args, name, redis, proc)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


def measure(args, name, redis, proc):
    deadline = time.monotonic() + 30
    while not (ctl(args.build, name, "workers") or {}).get("processes"):
        if time.monotonic() > deadline:
            raise SystemExit("ckeda did not start")
        time.sleep(0.2)
    shmtool = os.path.join(args.build, "tests", "shmtool")
    for o in range(args.triggers // PER_OBJECT):
        argv = [shmtool, "--shm-name", name, "add", f"bench/so{o}", "--polling-interval", "1"]
        for i in range(PER_OBJECT):
            argv += ["--trigger", f"redis,target=5,address={redis.address},"
                                  f"listName=l{o * PER_OBJECT + i},listLength=5"]
        subprocess.run(argv, check=True, capture_output=True)
    deadline = time.monotonic() + 60
    while True:
        ts = (ctl(args.build, name, "triggers") or {}).get("triggers", [])
        if len(ts) == args.triggers and all(t["state"] != "ERROR" for t in ts):
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(ts)} triggers with values after 60 s")
        time.sleep(0.5)
    time.sleep(3)  # past the first round's start-up
    workers = [p for p in ctl(args.build, name, "workers")["processes"]
               if p["role"] == "scaleworker" and p["type"] == "redis" and p["pid"]]
    if len(workers) != 1:
        raise SystemExit(f"expected one redis worker, found {len(workers)}")
    w = workers[0]
    events = []
    t = threading.Thread(target=monitor, args=(redis.port, args.seconds, events))
    c0, p0 = cpu_s(w["pid"]), w["polls_total"]
    t0 = time.monotonic()
    t.start()
    t.join()
    elapsed = time.monotonic() - t0
    c1 = cpu_s(w["pid"])
    w1 = next(p for p in ctl(args.build, name, "workers")["processes"] if p["pid"] == w["pid"])
    polls = w1["polls_total"] - p0
    by_key = {}
    for ts, key in events:
        by_key.setdefault(key, []).append(ts)
    gaps = [abs((b - a) * 1000 - 1000) for v in by_key.values() for a, b in zip(v, v[1:])]
    print(f"triggers: {args.triggers} (one worker, pollingInterval 1 s), {elapsed:.1f} s measured")
    print(f"polls: {polls} ({polls / elapsed:.0f}/s); seen by redis: {len(events)} LLEN")
    print(f"worker CPU: {c1 - c0:.2f} s = {100 * (c1 - c0) / elapsed:.1f}% of a core; "
          f"{(c1 - c0) / max(polls, 1) * 1e6:.1f} us per poll")
    print(f"worker PSS: {pss_kib(w['pid'])} KiB")
    print(f"poll jitter |gap - 1 s|: p50 {percentile(gaps, 50):.2f} ms, "
          f"p99 {percentile(gaps, 99):.2f} ms, max {max(gaps):.2f} ms ({len(gaps)} gaps)")
    print(f"load average: {open('/proc/loadavg').read().split()[:3]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
