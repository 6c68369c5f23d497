"""A role killed with SIGKILL is restarted, alone: the watcher, the adapter, the webhook and a
scale worker in turn. The others keep their pids, the table stays consistent, and a trigger
whose worker died keeps being served (its last value stays ACTIVE while the worker restarts,
then the new worker polls it)."""

import os
import signal

from conftest import FRESH_HEARTBEAT_MS, budget, wait_until

POLL_S = 1


def pids_by_slot(procs):
    return {p["slot"]: p["pid"] for p in procs}


def kill_and_wait_restart(ck, slot, watch=None):
    """SIGKILL the process in `slot`; wait until a new process runs there. `watch` is called
    on every poll (to check something holds throughout the restart)."""
    before = {p["slot"]: p for p in ck.workers()}
    victim = before[slot]
    assert victim["state"] == "running" and victim["pid"], victim
    os.kill(victim["pid"], signal.SIGKILL)

    def restarted():
        if watch:
            watch()
        p = {q["slot"]: q for q in ck.workers()}[slot]
        if (p["pid"] not in (None, victim["pid"]) and p["state"] == "running" and
                p["heartbeat_age_ms"] is not None and
                p["heartbeat_age_ms"] < FRESH_HEARTBEAT_MS):
            return p
        return None

    now = wait_until(restarted, budget(30), f"slot {slot} ({victim['role']}) to restart")
    assert now["restarts"] == victim["restarts"] + 1, (victim, now)
    assert now["last_exit"] == -9, now  # killed by SIGKILL, in either build
    after = pids_by_slot(ck.workers())
    for s, pid in pids_by_slot(before.values()).items():
        if s != slot:
            assert after[s] == pid, f"slot {s} changed pid {pid} -> {after[s]} " \
                                    f"when slot {slot} was killed"
    return victim, now


def test_each_role_restarts_alone_after_sigkill(ckeda):
    ck = ckeda()
    slots = {p["role"]: p["slot"] for p in ck.workers()}
    for role in ("watcher", "adapter", "webhook"):
        kill_and_wait_restart(ck, slots[role])

    (trig,) = ck.add("ns/so", "ckeda-test,value=5", polling_interval=POLL_S)

    def served():
        t = ck.triggers()[trig]
        return t if t["state"] == "ACTIVE" and t["value"] == 5 and t["worker_pid"] else None

    first = wait_until(served, budget(30), "the trigger's first value")
    (worker,) = ck.scaleworkers()
    assert first["worker_pid"] == worker["pid"]

    def still_active():
        t = ck.triggers()[trig]
        assert t["state"] == "ACTIVE" and t["value"] == 5, \
            f"the trigger stopped being served while its worker restarted: {t}"

    old, new = kill_and_wait_restart(ck, worker["slot"], watch=still_active)
    polls_then = new["polls_total"]  # a per-slot counter: it spans processes

    def polled_by_new_worker():
        still_active()
        t = ck.triggers()[trig]
        w = {p["slot"]: p for p in ck.workers()}[worker["slot"]]
        # Two more polls by the new process: it owns the trigger and polls it on its interval.
        if t["worker_pid"] == new["pid"] and w["pid"] == new["pid"] and \
                w["polls_total"] >= polls_then + 2 and t["age_ms"] < 3 * POLL_S * 1000:
            return t
        return None

    wait_until(polled_by_new_worker, budget(30), "the restarted worker to serve the trigger")
    assert ck.status()["supervisor_pid"] == ck.pid
    r = ck.ctl_run("check")
    assert r.returncode == 0, r.stdout + r.stderr
