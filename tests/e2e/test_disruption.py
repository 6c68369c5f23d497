"""Disruption (KEDA's e2e has no equivalent: one operator process there): during a redis
scale-out on the real API server, aggregator and HPA controller, a random ckeda process (the
redis scale worker, the adapter, the watcher, the webhook) is killed with SIGKILL every two
seconds for twenty seconds. The supervisor restarts each; the scale-out converges to the
replicas the list asks for, the drain to zero, and `ckedactl check` is clean at the end.

Each role is killed at most three times, below the supervisor's give-up threshold (five
restarts of one process in a minute), so the storm tests recovery, not the give-up policy.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

from sources import RedisServer  # noqa: E402
from test_watcher import (CKEDACTL, ckeda_in_namespace, condition, deployment,  # noqa: E402
                          replicas, scaled_object, wait_until)

SLOW = 120.0  # the HPA and the aggregator: generous
ROLES = ("scaleworker", "adapter", "watcher", "webhook")
LIST = "jobs"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with RedisServer() as r, \
            ckeda_in_namespace(tmp_path_factory, "ckz", adapter=True) as (kube, ns, c):
        yield kube, ns, c, r


def victims(c, role):
    return [p for p in c.ctl("workers")["processes"]
            if p["role"] == role and p.get("pid") and p.get("state") == "running"]


def storm(c, seconds, every):
    """Kills a random running process of ROLES every `every` seconds; returns what it killed."""
    killed, rnd = [], random.Random(os.getpid())
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        roles = [r for r in ROLES if sum(k[0] == r for k in killed) < 3 and victims(c, r)]
        if roles:
            role = rnd.choice(roles)
            p = rnd.choice(victims(c, role))
            try:
                os.kill(p["pid"], signal.SIGKILL)
                killed.append((role, p["pid"]))
            except ProcessLookupError:
                pass
        c.alive_or_fail()
        time.sleep(every)
    return killed


def test_scale_out_and_drain_converge_through_a_kill_storm(env):
    kube, ns, c, r = env
    kube.apply(ns, deployment("worker", replicas=0))
    kube.apply(ns, scaled_object(
        "worker-so", "worker",
        [{"type": "redis", "metadata": {"address": r.address, "listName": LIST,
                                        "listLength": "5"}}],
        minReplicaCount=0, maxReplicaCount=6, pollingInterval=1, cooldownPeriod=5))
    wait_until(lambda: kube.get(ns, "hpa", "keda-hpa-worker-so"), "the HPA")
    r.command("RPUSH", LIST, *[f"item-{i}" for i in range(20)])
    killed = storm(c, seconds=20, every=2)
    assert {role for role, _ in killed} == set(ROLES), killed
    # 20 items / 5 = 4 replicas, whatever was killed on the way
    wait_until(lambda: replicas(kube, ns, "worker") == 4, "the scale-out to converge at 4",
               timeout=SLOW)
    r.command("DEL", LIST)
    wait_until(lambda: replicas(kube, ns, "worker") == 0, "the drain to reach 0", timeout=SLOW)
    so = kube.get(ns, "scaledobject", "worker-so")
    assert condition(so, "Ready")["status"] == "True", so["status"]
    # every process back, every trigger healthy, the table consistent
    wait_until(lambda: all(victims(c, role) for role in ROLES), "every role running again")
    out = subprocess.run([str(CKEDACTL), "--shm-name", c.name, "check"], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
