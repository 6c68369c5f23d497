"""Stopping: SIGTERM (or SIGINT) stops the whole tree and the supervisor exits 0, removing the
table and its config-blob directory; a child that ignores the request is killed when the grace
period ends. With --keep-table the table survives for a post-mortem: ckedactl reads it, and
snapshots it, after the supervisor has gone."""

import signal
import time

import pytest

from conftest import blobs_path, budget, shm_path, wait_until

GRACE_S = 2


def start_with_worker(ckeda, *args):
    ck = ckeda(*args)
    (trig,) = ck.add("ns/so", "ckeda-test,value=5")
    wait_until(lambda: ck.triggers()[trig]["state"] == "ACTIVE", budget(30), "a served trigger")
    return ck, trig


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_everything(ckeda, sig):
    ck, _ = start_with_worker(ckeda)
    pids = {p["pid"] for p in ck.workers()}
    assert len(pids) == 4 and all(pids)
    assert shm_path(ck.name).exists() and any(blobs_path(ck.name).iterdir())

    ck.signal(sig)
    assert ck.wait_exit(budget(15)) == 0
    ck.wait_tree_gone()
    assert not shm_path(ck.name).exists()
    assert not blobs_path(ck.name).exists()
    log = ck.log_text()
    assert "stopping: asked to stop" in log and "stopped (exit 0)" in log
    assert "did not stop within the grace period" not in log


def test_child_that_ignores_sigterm_is_killed_after_the_grace_period(ckeda):
    # A worker spinning in a poll never reads its signal pipe. The watchdog is set long so
    # that only the shutdown deals with it.
    ck = ckeda("--grace-period", str(GRACE_S), "--watchdog-timeout", "600000")
    (trig,) = ck.add("ns/hang", "ckeda-test,mode=hang")

    def hung():
        w = ck.scaleworkers()
        return w and w[0]["state"] == "running" and (w[0]["heartbeat_age_ms"] or 0) > 1500

    wait_until(hung, budget(30), "the worker to hang in its poll")
    t0 = time.monotonic()
    ck.signal(signal.SIGTERM)
    assert ck.wait_exit(budget(GRACE_S + 15)) == 0
    took = time.monotonic() - t0
    assert took >= GRACE_S - 0.5, f"stopped after {took:.1f} s: the grace period was not given"
    ck.wait_tree_gone()
    assert not shm_path(ck.name).exists() and not blobs_path(ck.name).exists()
    log = ck.log_text()
    assert "scaleworker/ckeda-test/0 did not stop within the grace period; killing it" in log


def test_keep_table_leaves_a_readable_table(ckeda, tmp_path):
    ck, trig = start_with_worker(ckeda, "--keep-table")
    live_ls = ck.ctl("ls")
    ck.signal(signal.SIGTERM)
    assert ck.wait_exit(budget(15)) == 0
    ck.wait_tree_gone()
    assert shm_path(ck.name).exists() and blobs_path(ck.name).exists()
    assert "keeping the table" in ck.log_text()

    # ckedactl reads the table of a supervisor that has gone.
    st = ck.status()
    assert st["supervisor_pid"] == ck.pid and st["scaledobjects"] == 1
    procs = ck.workers()
    assert all(p["pid"] is None for p in procs), procs
    ls = ck.ctl("ls")
    assert [(o["namespace"], o["name"]) for o in ls["scaledobjects"]] == [("ns", "so")]
    (t,) = ls["scaledobjects"][0]["triggers"]
    assert t["value"] == 5 and t["metric_name"] == live_ls["scaledobjects"][0]["triggers"][0][
        "metric_name"]

    # ... and snapshots it; the snapshot shows the same objects without the table.
    snap = tmp_path / "post-mortem.snap"
    r = ck.ctl_run("snapshot", "save", str(snap))
    assert r.returncode == 0, r.stderr
    ck.remove_table()
    shown = ck.ctl("snapshot", "show", str(snap))
    assert [(o["namespace"], o["name"]) for o in shown["scaledobjects"]] == [("ns", "so")]
    assert shown["scaledobjects"][0]["triggers"][0]["value"] == 5
    human = ck.ctl_run("snapshot", "show", str(snap))
    assert human.returncode == 0 and "(snapshot)" in human.stdout and "ns" in human.stdout
