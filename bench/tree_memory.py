#!/usr/bin/env python3
"""RSS and PSS of every process of an idle ckeda tree, from /proc/<pid>/smaps_rollup.

Starts `ckeda run` on a private table name with ephemeral ports, optionally adds ScaledObjects
with the test-only table writer (so scale workers exist), waits until every process
heartbeats, prints one line per process and the sum, and stops the tree.

    python3 bench/tree_memory.py [--build build] [--objects N]
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time


def rollup(pid):
    vals = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[0] in ("Rss:", "Pss:", "Shared_Clean:", "Private_Dirty:"):
                vals[parts[0][:-1]] = int(parts[1])
    return vals


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("CKEDA_BIN", "build"))
    ap.add_argument("--objects", type=int, default=0)
    args = ap.parse_args()
    name = f"ckeda-bench-{os.getpid()}"
    ckeda = os.path.join(args.build, "ckeda")
    ctl = os.path.join(args.build, "ckedactl")
    proc = subprocess.Popen([ckeda, "run", "--shm-name", name, "--secure-port", "0",
                             "--webhook-port", "0", "--metrics-port", "0", "--health-port", "0"],
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            r = subprocess.run([ctl, "--shm-name", name, "-o", "json", "workers"],
                               capture_output=True, text=True)
            if r.returncode == 0:
                procs = json.loads(r.stdout)["processes"]
                if len(procs) >= 3 and all(p["pid"] for p in procs):
                    break
            time.sleep(0.2)
        for i in range(args.objects):
            subprocess.run([os.path.join(args.build, "tests", "shmtool"), "--shm-name", name,
                            "add", f"bench/so{i}", "--polling-interval", "30", "--trigger",
                            "ckeda-test,value=1"], check=True, capture_output=True)
        time.sleep(3 if args.objects else 1)
        procs = json.loads(subprocess.run([ctl, "--shm-name", name, "-o", "json", "workers"],
                                          capture_output=True, text=True).stdout)["processes"]
        rows = [("supervisor", proc.pid)] + [(p["role"] + ("/" + p["type"] if p["type"] else ""),
                                              p["pid"]) for p in procs if p["pid"]]
        tot_rss = tot_pss = 0
        print(f"{'process':28} {'pid':>8} {'RSS KiB':>9} {'PSS KiB':>9} {'private dirty KiB':>18}")
        for role, pid in rows:
            v = rollup(pid)
            tot_rss += v["Rss"]
            tot_pss += v["Pss"]
            print(f"{role:28} {pid:>8} {v['Rss']:>9} {v['Pss']:>9} {v['Private_Dirty']:>18}")
        print(f"{'sum':28} {'':>8} {tot_rss:>9} {tot_pss:>9}")
        print(f"objects: {args.objects}; PSS per process: {tot_pss / len(rows):.0f} KiB")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
