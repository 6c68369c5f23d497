"""The watchdog: a scale worker whose heartbeat stops (a trigger spinning in its poll) is
killed with SIGKILL, and the hang is charged like a crash: the trigger moves to the suspect
shard, hangs it in turn, is killed again and quarantined. Healthy triggers of the same type
keep being served by the normal shard. A stopped watcher, adapter or webhook is replaced the
same way."""

import os
import signal

from conftest import budget, hold, pid_alive, wait_until

WATCHDOG_MS = 2000
QUARANTINE_S = 300  # longer than the test


def test_hung_worker_is_killed_and_its_trigger_quarantined(ckeda):
    ck = ckeda("--watchdog-timeout", str(WATCHDOG_MS), "--quarantine-base", str(QUARANTINE_S),
               "--quarantine-max", str(QUARANTINE_S))
    fixed = {p["slot"]: p["pid"] for p in ck.workers()}
    good = ck.add("ns/good", "ckeda-test,value=6", "ckeda-test,value=0")
    wait_until(lambda: [ck.triggers()[s]["state"] for s in good] == ["ACTIVE", "INACTIVE"],
               budget(30), "the healthy triggers' values")
    (hang,) = ck.add("ns/hang", "ckeda-test,mode=hang")

    def healthy_kept():
        ts = ck.triggers()
        # While the normal shard hangs and restarts, the last values keep being served.
        assert [ts[s]["state"] for s in good] == ["ACTIVE", "INACTIVE"], ts
        return ts

    def quarantined():
        ts = healthy_kept()
        return ts[hang] if ts[hang]["quarantined"] else None

    t = wait_until(quarantined, budget(60), "the hanging trigger to be quarantined")
    assert t["state"] == "ERROR" and t["value"] is None, t
    assert "quarantine" in t["error"] and "signal 9" in t["error"], t
    assert t["strikes"] == 2, t

    (normal,) = ck.scaleworkers(suspect=False)
    assert normal["last_exit"] == -9 and normal["restarts"] == 1, normal
    log = ck.log_text()
    # Killed by the watchdog: the normal shard, then the suspect shard (which, left without
    # a trigger, may be retired rather than restarted).
    assert "scaleworker/ckeda-test/0 (pid" in log and "sent no heartbeat" in log
    for who in ("scaleworker/ckeda-test/0", "scaleworker/ckeda-test/0/suspect"):
        assert f"{who}: running -> backoff: killed by signal 9 (watchdog)" in log, who
    assert log.count("(watchdog)") == 2, "expected exactly two watchdog kills"
    assert f"trigger {hang} crashed its scaler worker (signal 9) 2 times; quarantined" in log

    # The normal shard, restarted, serves the healthy triggers with fresh values.
    def served():
        ts = healthy_kept()
        w = ck.scaleworkers(suspect=False)[0]
        return w["state"] == "running" and all(
            ts[s]["worker_pid"] == w["pid"] and ts[s]["age_ms"] < 3000 for s in good)

    wait_until(served, budget(30), "the healthy triggers on the restarted normal shard")
    hold(served, 3, "the healthy triggers being served")
    now = {p["slot"]: p["pid"] for p in ck.workers()}
    assert {s: now[s] for s in fixed} == fixed
    assert ck.status()["supervisor_pid"] == ck.pid
    r = ck.ctl_run("check")
    assert r.returncode == 0, r.stdout


def test_stopped_role_is_killed_by_the_watchdog_and_restarted(ckeda):
    ck = ckeda("--watchdog-timeout", str(WATCHDOG_MS))
    before = {p["role"]: p for p in ck.workers()}
    victim = before["adapter"]
    os.kill(victim["pid"], signal.SIGSTOP)  # alive, but no heartbeat any more

    def restarted():
        p = ck.role("adapter")
        return p if p["pid"] not in (None, victim["pid"]) and p["state"] == "running" else None

    p = wait_until(restarted, budget(30), "the watchdog to replace the stopped adapter")
    assert p["last_exit"] == -9 and p["restarts"] == 1, p
    assert not pid_alive(victim["pid"])
    assert "(watchdog)" in ck.log_text()
    now = {q["role"]: q["pid"] for q in ck.workers()}
    assert now["watcher"] == before["watcher"]["pid"] and \
        now["webhook"] == before["webhook"]["pid"], now
