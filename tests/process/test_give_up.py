"""The give-up limit: when the watcher, an adapter or the webhook crashes `--give-up-restarts`
times within `--give-up-window`, the supervisor stops the tree and exits 1 (Kubernetes then
restarts the pod), removing its table. Scale-worker crashes never count (test_crash_isolation
crashes a worker forty times under a limit of three)."""

import os
import signal

import pytest

from conftest import blobs_path, budget, shm_path, wait_until

LIMIT = 3


@pytest.mark.parametrize("role", ["watcher", "adapter", "webhook"])
def test_repeated_crashes_of_a_role_make_the_supervisor_give_up(ckeda, role):
    ck = ckeda("--give-up-restarts", str(LIMIT), "--give-up-window", "60", "--grace-period", "5")
    ck.add("ns/so", "ckeda-test,value=1")
    wait_until(lambda: ck.scaleworkers() and ck.scaleworkers()[0]["state"] == "running",
               budget(30), "a scale worker")
    for n in range(1, LIMIT):
        victim = ck.role(role)
        os.kill(victim["pid"], signal.SIGKILL)
        wait_until(lambda: (lambda p: p["pid"] not in (None, victim["pid"]) and
                            p["state"] == "running")(ck.role(role)),
                   budget(30), f"{role} restart {n}")
        assert ck.role(role)["restarts"] == n
    ck.assert_running()
    os.kill(ck.role(role)["pid"], signal.SIGKILL)  # crash number LIMIT within the window

    assert ck.wait_exit(budget(30)) == 1
    ck.wait_tree_gone()
    assert not shm_path(ck.name).exists() and not blobs_path(ck.name).exists()
    log = ck.log_text()
    assert f"failed {LIMIT} times within 60 s" in log and "giving up" in log, log[-2000:]
