"""Crash isolation per trigger inside one process per scaler type: twenty triggers that crash
their worker (in four ScaledObjects) end quarantined one by one, through the suspect shard,
while healthy triggers of the same type keep fresh values on the normal shard; the worker is
restarted at once after each crash, and nothing of it reaches the supervisor, which neither
restarts nor gives up, nor the watcher, adapter or webhook."""

import re
import time
from datetime import datetime
from pathlib import Path

from conftest import budget, hold, wait_until

CRASHING_OBJECTS, CRASHING_PER_OBJECT = 4, 5
QUARANTINE_S = 300  # longer than the test: every culprit stays quarantined to the end
POLL_S = 1
# A healthy trigger polled every second is never older than this, crash storm or not.
FRESH_MS = budget(5) * 1000


def process_slot(pid):
    """The --slot= a live child was started with; None once it is gone."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, ProcessLookupError):
        return None
    for a in argv:
        if a.startswith(b"--slot="):
            return int(a[7:])
    return None


def restart_delays(log, who):
    """Seconds from each "WHO: running -> backoff" to the next "WHO: backoff -> running"."""
    # not anchored at the line start: a crashing worker under ASan may leave a fragment of its
    # report ("AddressSanitizer") unterminated just before the supervisor's line
    line = re.compile(r"(\d{4}-\d\d-\d\dT[\d:.]+Z) \w+ supervisor\[\d+\]: " + re.escape(who) +
                      r": (running -> backoff|backoff -> running)")
    delays, down = [], None
    for m in line.finditer(log):
        t = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
        if m.group(2) == "running -> backoff":
            down = t
        elif down is not None:
            delays.append(t - down)
            down = None
    return delays


def test_twenty_crashing_triggers_are_quarantined_healthy_ones_keep_serving(ckeda):
    ck = ckeda("--quarantine-base", str(QUARANTINE_S), "--quarantine-max", str(QUARANTINE_S),
               "--give-up-restarts", "3", "--give-up-window", "600")
    fixed = {p["slot"]: p["pid"] for p in ck.workers()}

    # Healthy triggers first: one ACTIVE object, one INACTIVE, one with both.
    healthy = {}
    for name, specs in (("ns/busy", ["ckeda-test,value=9"]),
                        ("ns/idle", ["ckeda-test,value=0"]),
                        ("other/mixed", ["ckeda-test,value=4", "ckeda-test,value=0"])):
        for slot, spec in zip(ck.add(name, *specs, polling_interval=POLL_S), specs):
            healthy[slot] = "INACTIVE" if spec.endswith("value=0") else "ACTIVE"

    def healthy_ok(ts):
        return all(ts[s]["state"] == want and ts[s]["age_ms"] is not None
                   and ts[s]["age_ms"] < FRESH_MS for s, want in healthy.items())

    wait_until(lambda: healthy_ok(ck.triggers()), budget(30), "the healthy triggers' values")
    (normal,) = ck.scaleworkers()

    crashing = []
    for i in range(CRASHING_OBJECTS):
        crashing += ck.add(f"crash/obj-{i}", *["ckeda-test,mode=crash"] * CRASHING_PER_OBJECT,
                           polling_interval=POLL_S)
    assert len(crashing) == 20
    t0 = time.monotonic()
    samples = 0

    def storm_over():
        nonlocal samples
        ck.assert_running()
        ts = ck.triggers()
        samples += 1
        # Throughout: the healthy triggers keep fresh values, from the normal shard (the
        # process in the normal shard's slot, when it is still alive to be asked).
        for s, want in healthy.items():
            t = ts[s]
            assert t["state"] == want and t["age_ms"] < FRESH_MS and not t["suspect"] \
                and t["strikes"] == 0, f"healthy trigger {s} affected by the crashes: {t}"
            if t["worker_pid"]:
                assert process_slot(t["worker_pid"]) in (None, normal["slot"]), t
        return all(ts[s]["quarantined"] for s in crashing) and ts

    ts = wait_until(storm_over, budget(120), "every crashing trigger to be quarantined")
    storm_s = time.monotonic() - t0

    for s in crashing:
        t = ts[s]
        assert t["state"] == "ERROR" and t["value"] is None and t["active"] is None, t
        assert "quarantine" in t["error"], t
        assert t["strikes"] == 2, t  # one crash on the normal shard, one alone on the suspect

    # Each crash was charged to exactly one trigger: twenty crashes of the normal shard, each
    # followed by an immediate restart (with the restart backoff, 100 ms doubling, the fifth
    # alone would wait 1.6 s); then twenty of the suspect shard, each naming its culprit.
    workers = ck.scaleworkers()
    normals = [p for p in workers if not p["suspect"]]
    assert len(normals) == 1 and normals[0]["slot"] == normal["slot"], workers
    assert normals[0]["restarts"] == 20 and normals[0]["last_exit"] != 0, normals
    assert storm_s < budget(60), f"forty worker crashes took {storm_s:.1f} s"
    log = ck.log_text()
    delays = restart_delays(log, "scaleworker/ckeda-test/0")
    assert len(delays) == 20 and sum(delays) < 2, delays
    # A suspect shard left without triggers may be retired instead of restarted.
    suspect_crashes = re.findall(r"scaleworker/ckeda-test/\d+/suspect: running -> backoff", log)
    assert len(suspect_crashes) == 20
    culprits = re.findall(r"trigger (\d+) crashed its scaler worker \(\w+ \d+\) 2 times; "
                          r"quarantined", log)
    assert sorted(map(int, culprits)) == sorted(crashing), culprits

    # After the storm the healthy triggers are still served, by a running normal shard.
    def served():
        ts = ck.triggers()
        w = ck.scaleworkers(suspect=False)[0]
        return (w["state"] == "running" and healthy_ok(ts) and
                all(ts[s]["worker_pid"] == w["pid"] for s in healthy))

    wait_until(served, budget(30), "the healthy triggers on the restarted normal shard")
    # ... and stay served for several polling intervals.
    hold(served, 3 * POLL_S, "the healthy triggers being served")

    # The supervisor never restarted nor gave up; the other roles never noticed.
    assert ck.status()["supervisor_pid"] == ck.pid
    now = {p["slot"]: p for p in ck.workers()}
    for slot, pid in fixed.items():
        assert now[slot]["pid"] == pid and now[slot]["restarts"] == 0, now[slot]
    log = ck.log_text()
    assert "giving up" not in log and not re.search(r"supervisor\[\d+\]: stopping:", log)
    assert samples > 3
    r = ck.ctl_run("check")
    assert r.returncode == 0, r.stdout
