"""The supervisor's exit-code contract for its children: 0 asked to stop (restarted if nobody
asked), 1 clean failure, 78 configuration error (never respawned), anything else a crash.

Exit 78 from a role is produced from the outside by damaging the table's header: the scaler
registry hash that every role compares with its own on attach (common/role.c). A role started
after the damage refuses the table and exits 78, as it would for a table made by another build.
"""

import os
import signal
import time

from conftest import budget, hold, shm_path, wait_until

QUARANTINE_S = 300  # longer than the test: a quarantined trigger stays quarantined


def header_registry_hash_offset(ck):
    """Offset of the header's registry hash, found next to fields the test knows: the
    supervisor's pid (int32, then 4 bytes of padding) and its start time in ms, then the hash."""
    with open(shm_path(ck.name), "rb") as f:
        page = f.read(4096)
    pid = ck.pid.to_bytes(4, "little") + bytes(4)
    now_ms = time.time() * 1000
    at = page.find(pid)
    while at >= 0:
        start = int.from_bytes(page[at + 8:at + 16], "little")
        if abs(start - now_ms) < 3600 * 1000:
            return at + 16
        at = page.find(pid, at + 1)
    raise AssertionError("supervisor pid and start time not found in the table header")


def flip_registry_hash(ck, off):
    fd = os.open(shm_path(ck.name), os.O_RDWR)
    try:
        b = bytearray(os.pread(fd, 8, off))
        b[0] ^= 0x5A
        os.pwrite(fd, bytes(b), off)
    finally:
        os.close(fd)


def test_role_exit_0_is_restarted_and_exit_78_is_not(ckeda):
    # Give-up after ONE crash: neither an unrequested exit 0 nor exit 78 may count as one.
    ck = ckeda("--give-up-restarts", "1", "--give-up-window", "600")
    procs = {p["role"]: p for p in ck.workers()}

    # Exit 0 nobody asked for (SIGTERM sent to the child, not to the supervisor): restarted.
    os.kill(procs["webhook"]["pid"], signal.SIGTERM)
    # (Restarted and attached: a heartbeat comes after the table has been checked.)
    web = wait_until(lambda: (lambda p: p if p["pid"] not in (None, procs["webhook"]["pid"])
                              and p["state"] == "running" and p["heartbeat_age_ms"] is not None
                              else None)(ck.role("webhook")),
                     budget(30), "the webhook to be restarted after exiting 0")
    assert web["last_exit"] == 0 and web["restarts"] == 1, web
    ck.assert_running()

    # Exit 78: the restarted watcher finds a table "from another build" and is disabled.
    off = header_registry_hash_offset(ck)
    flip_registry_hash(ck, off)
    os.kill(procs["watcher"]["pid"], signal.SIGTERM)

    def disabled():
        p = ck.role("watcher")
        return p if p["state"] == "disabled" else None

    w = wait_until(disabled, budget(30), "the watcher to be disabled after exiting 78")
    assert w["last_exit"] == 78 and w["pid"] is None and w["restarts"] == 1, w

    # Not respawned, however long we look (many times the first backoff of 100 ms); the
    # supervisor and the other roles carry on.
    def still_disabled():
        ck.assert_running()
        now = {p["role"]: p for p in ck.workers()}
        return (now["watcher"]["state"] == "disabled" and now["watcher"]["pid"] is None and
                now["watcher"]["restarts"] == 1 and
                now["adapter"]["pid"] == procs["adapter"]["pid"] and
                now["webhook"]["pid"] == web["pid"])

    hold(still_disabled, budget(3), "the watcher staying disabled")
    flip_registry_hash(ck, off)  # undo the damage
    log = ck.log_text()
    assert "webhook: running -> backoff: exited 0" in log
    assert "scaler registry differs" in log
    assert "watcher: running -> disabled: configuration error; not restarted" in log
    assert "giving up" not in log
    assert ck.status()["supervisor_pid"] == ck.pid
    r = ck.ctl_run("check")
    assert r.returncode == 0, r.stdout


def test_worker_exit_3_is_a_crash_charged_to_its_trigger(ckeda):
    ck = ckeda("--quarantine-base", str(QUARANTINE_S), "--quarantine-max", str(QUARANTINE_S))
    fixed = {p["slot"]: p["pid"] for p in ck.workers()}
    (good,) = ck.add("ns/good", "ckeda-test,value=7")
    wait_until(lambda: ck.triggers()[good]["state"] == "ACTIVE", budget(30), "the good trigger")
    (bad,) = ck.add("ns/bad", "ckeda-test,mode=exit")

    def quarantined():
        t = ck.triggers()[bad]
        return t if t["quarantined"] else None

    t = wait_until(quarantined, budget(60), "the exiting trigger to be quarantined")
    assert t["state"] == "ERROR" and t["value"] is None, t
    assert "quarantine" in t["error"] and "exit 3" in t["error"], t
    assert t["strikes"] == 2, t  # once on the normal shard, once alone on the suspect shard

    (normal,) = ck.scaleworkers(suspect=False)
    assert normal["last_exit"] == 3 and normal["restarts"] == 1, normal
    log = ck.log_text()
    # The suspect shard, left without a trigger, may be retired rather than restarted.
    assert "scaleworker/ckeda-test/0: running -> backoff: exited 3" in log
    assert "scaleworker/ckeda-test/0/suspect: running -> backoff: exited 3" in log
    assert f"trigger {bad} crashed its scaler worker (exit 3) 2 times; quarantined" in log
    # A crash charged to a trigger is not the worker's fault: restarted at once, and serving.
    wait_until(lambda: ck.scaleworkers(suspect=False)[0]["state"] == "running", budget(10),
               "the normal shard to run again")
    g = wait_until(lambda: (lambda t: t if t["state"] == "ACTIVE" and t["age_ms"] < 3000
                            and t["worker_pid"] == ck.scaleworkers(suspect=False)[0]["pid"]
                            else None)(ck.triggers()[good]),
                   budget(30), "the good trigger to be served by the restarted normal shard")
    assert g["value"] == 7 and not g["suspect"], g
    now = {p["slot"]: p["pid"] for p in ck.workers()}
    assert {s: now[s] for s in fixed} == fixed
    assert ck.status()["supervisor_pid"] == ck.pid
    assert "giving up" not in ck.log_text()
