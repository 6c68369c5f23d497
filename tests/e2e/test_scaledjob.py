"""ScaledJobs end to end (reference keda.md §1.15), on the real API server, job controller and
garbage collector of tests/e2e/cluster.sh, with a real redis-server (tests/integration/sources.py)
as the source: one list per ScaledJob, listLength 1, so each item asks for one Job. There is no
kubelet or scheduler: every Job's pod stays Pending, so every Job the watcher creates is running
and pending until the test marks it finished through the status subresource.

- the four strategies over 4 items, each converging on the count KEDA's formulas give while the
  Jobs stay pending, and holding it (no duplicate Jobs while pods are Pending, #6157 #7329):
    default   maxScale - running:                                    4, then 4 - 4 = 0   -> 4
    accurate  maxScale - pending (max not reached):                  4, then 4 - 4 = 0   -> 4
    eager     min(max - running - pending, maxScale), max 5:         4, then 5 - 8 < 0   -> 4
    custom    min(maxScale - 1 - int(running * 0.5), max):           3, 2, 1, then 0     -> 6
  with the Job KEDA generates (generateName, labels, generation annotation, controller owner,
  restartPolicy OnFailure), Ready and Active conditions, lastActiveTime, triggersActivity and
  KEDA's Events;
- pendingPodConditions: a Job whose pod has every listed condition True stops being pending,
  and accurate creates what that frees;
- history limits: with the list empty, finished Jobs beyond successfulJobsHistoryLimit 1 and
  failedJobsHistoryLimit 0 are deleted, oldest first;
- the pause annotation: Paused True, no Job while items wait; unpaused, the Jobs come;
- a rollout: a new generation deletes the Jobs of the old one (immediate) or keeps them (gradual);
- a TriggerAuthentication lists the ScaledJobs using it in status.scaledjobs;
- a restarted ckeda counts the running Jobs before its first poll: no duplicates;
- deleting the ScaledJob deletes its Jobs (controller ownerReference, garbage collector) and
  completes (KEDA's finalizer removed);
- a ScaledJob with metricType on a trigger is refused with KEDA's message.

Run: python3 -m pytest tests/e2e/test_scaledjob.py -v   (CKEDA_BIN: the build directory)
"""

from __future__ import annotations

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

from sources import RedisServer  # noqa: E402
from test_scale_loop import items  # noqa: E402
from test_watcher import (ckeda_in_namespace, condition, hold, trigger_auth,  # noqa: E402
                          wait_until)

LABEL = "scaledjob.keda.sh/name"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with RedisServer() as r, ckeda_in_namespace(tmp_path_factory, "cksj") as (kube, ns, c):
        yield kube, ns, c, r


def scaled_job(r, name, **spec):
    """A ScaledJob on the redis list `name` (one Job per item), polled every second."""
    trig = {"type": "redis", "metadata": {"address": r.address, "listName": name,
                                          "listLength": "1"}}
    return {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledJob",
            "metadata": {"name": name, "labels": {"team": "batch"},
                         "annotations": {"owner": "jobs-team"}},
            "spec": {"jobTargetRef": {"template": {"spec": {"containers": [
                {"name": "work", "image": "registry.k8s.io/pause:3.10"}]}}},
                "pollingInterval": 1, "triggers": [trig], **spec}}


def jobs(kube, ns, name):
    return [j for j in kube.items(ns, "jobs")
            if j["metadata"].get("labels", {}).get(LABEL) == name]


def sj(kube, ns, name):
    return kube.get(ns, "scaledjob", name) or {}


def cond(kube, ns, name, ctype):
    return condition(sj(kube, ns, name), ctype) or {}


def sj_events(kube, ns, name):
    return [(e["reason"], e.get("message", "")) for e in kube.items(ns, "events")
            if e["involvedObject"].get("kind") == "ScaledJob" and
            e["involvedObject"]["name"] == name]


def settles_at(kube, ns, name, n, what):
    wait_until(lambda: len(jobs(kube, ns, name)) == n, f"{what}: {n} Jobs")
    hold(lambda: len(jobs(kube, ns, name)) == n, f"{what}: still {n} Jobs", seconds=4)


def finish(kube, ns, job, failed=False):
    """Marks a Job finished through its status subresource, as the job controller would (no
    kubelet here runs its pod)."""
    t = job["status"]["startTime"]
    conds = ([{"type": "FailureTarget", "status": "True", "lastTransitionTime": t},
              {"type": "Failed", "status": "True", "lastTransitionTime": t}] if failed else
             [{"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": t},
              {"type": "Complete", "status": "True", "lastTransitionTime": t}])
    status = {"conditions": conds, "active": 0, "ready": 0, "terminating": 0}
    status.update({"failed": 1} if failed else {"succeeded": 1, "completionTime": t})
    kube.run("-n", ns, "patch", "job", job["metadata"]["name"], "--subresource=status",
             "--type=merge", "-p", json.dumps({"status": status}))


@pytest.mark.parametrize("strategy,extra,expected", [
    ("default", {}, 4),
    ("accurate", {}, 4),
    ("eager", {"maxReplicaCount": 5}, 4),
    ("custom", {"scalingStrategy": {"strategy": "custom", "customScalingQueueLengthDeduction": 1,
                                    "customScalingRunningJobPercentage": "0.5"}}, 6),
])
def test_strategies_create_what_keda_would_and_no_duplicates(env, strategy, extra, expected):
    kube, ns, c, r = env
    name = f"st-{strategy}"
    items(r, name, 4)
    spec = {"scalingStrategy": {"strategy": strategy}, **extra}
    kube.apply(ns, scaled_job(r, name, **spec))
    settles_at(kube, ns, name, expected, strategy)

    job = jobs(kube, ns, name)[0]
    meta = job["metadata"]
    assert meta["generateName"] == f"{name}-"
    assert meta["labels"][LABEL] == name and meta["labels"]["team"] == "batch"
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "keda-operator"
    assert meta["annotations"]["scaledjob.keda.sh/generation"] == "1"
    assert meta["annotations"]["owner"] == "jobs-team"
    owner = meta["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("ScaledJob", name, True)
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
    assert job["spec"]["template"]["metadata"]["labels"][LABEL] == name

    doc = sj(kube, ns, name)
    st = doc["status"]
    assert "finalizer.keda.sh" in doc["metadata"]["finalizers"]
    assert condition(doc, "Ready")["reason"] == "ScaledJobReady"
    assert condition(doc, "Active")["status"] == "True"
    assert st["lastActiveTime"] and st["triggersTypes"] == "redis"
    assert st["triggersActivity"] == {f"s0-redis-{name}": {"isActive": True}}
    evs = sj_events(kube, ns, name)
    reasons = {ev[0] for ev in evs}
    assert {"ScaledJobReady", "KEDAJobsCreated", "ScaledJobActive"} <= reasons, reasons
    assert {("KEDAScalersStarted", "Scaler redis is built"),
            ("KEDAScalersStarted", "Started scalers watch")} <= set(evs), evs
    kube.delete(ns, "scaledjob", name)


def pods_of(kube, ns, job):
    return [p for p in kube.items(ns, "pods")
            if p["metadata"].get("labels", {}).get("job-name") == job["metadata"]["name"]]


def test_pending_pod_conditions_decide_which_jobs_are_pending(env):
    """accurate with pendingPodConditions [Ready, PodScheduled], 2 items: 2 Jobs, both pending;
    once one pod has both conditions True its Job is running, not pending, and accurate asks
    for maxScale - pending = 2 - 1 = 1 more Job (maxScale + running - pending = 3 <= max)."""
    kube, ns, c, r = env
    name = "pending-conds"
    items(r, name, 2)
    kube.apply(ns, scaled_job(r, name, scalingStrategy={
        "strategy": "accurate", "pendingPodConditions": ["Ready", "PodScheduled"]}))
    settles_at(kube, ns, name, 2, "both pending")
    job = jobs(kube, ns, name)[0]
    pods = wait_until(lambda: pods_of(kube, ns, job), "the job controller's pod")
    t = "2026-01-01T00:00:00Z"
    conds = {"conditions": [{"type": ct, "status": "True", "lastTransitionTime": t}
                            for ct in ("PodScheduled", "Ready")]}
    kube.run("-n", ns, "patch", "pod", pods[0]["metadata"]["name"], "--subresource=status",
             "--type=merge", "-p", json.dumps({"status": conds}))
    settles_at(kube, ns, name, 3, "one running, one pending")
    kube.delete(ns, "scaledjob", name)


def test_history_limits_delete_the_oldest_finished_jobs(env):
    kube, ns, c, r = env
    name = "history"
    items(r, name, 4)
    kube.apply(ns, scaled_job(r, name, successfulJobsHistoryLimit=1, failedJobsHistoryLimit=0))
    settles_at(kube, ns, name, 4, "before any finished")
    items(r, name, 0)
    wait_until(lambda: cond(kube, ns, name, "Active").get("status") == "False", "inactive")
    wait_until(lambda: ("ScaledJobInactive", "Scaling is not performed because triggers are not "
                        "active") in sj_events(kube, ns, name), "the ScaledJobInactive Event")
    all_jobs = sorted(jobs(kube, ns, name), key=lambda j: j["metadata"]["creationTimestamp"])
    for j in all_jobs[:3]:
        finish(kube, ns, j)
    finish(kube, ns, all_jobs[3], failed=True)
    # 3 Complete beyond a limit of 1: 2 deleted; 1 Failed beyond 0: deleted
    wait_until(lambda: len(jobs(kube, ns, name)) == 1, "the history pruned to one Job")
    kept = jobs(kube, ns, name)[0]
    assert any(x["type"] == "Complete" for x in kept["status"].get("conditions", []))
    kube.delete(ns, "scaledjob", name)


def test_pause_stops_jobs_until_unpaused(env):
    kube, ns, c, r = env
    name = "paused"
    items(r, name, 0)
    doc = scaled_job(r, name)
    doc["metadata"]["annotations"]["autoscaling.keda.sh/paused"] = "true"
    kube.apply(ns, doc)
    wait_until(lambda: cond(kube, ns, name, "Paused").get("status") == "True", "Paused True")
    assert cond(kube, ns, name, "Paused")["reason"] == "ScaledJobPaused"
    items(r, name, 2)
    hold(lambda: not jobs(kube, ns, name), "no Job while paused", seconds=3)
    kube.run("-n", ns, "annotate", "scaledjob", name, "autoscaling.keda.sh/paused-")
    wait_until(lambda: cond(kube, ns, name, "Paused").get("reason") == "ScaledJobUnpaused",
               "Paused False")
    settles_at(kube, ns, name, 2, "unpaused")
    kube.delete(ns, "scaledjob", name)


@pytest.mark.parametrize("rollout,kept", [("immediate", 0), ("gradual", 2)])
def test_rollout_deletes_the_old_generation_unless_gradual(env, rollout, kept):
    kube, ns, c, r = env
    name = f"roll-{rollout}"
    items(r, name, 2)
    doc = scaled_job(r, name, rollout={"strategy": rollout})
    kube.apply(ns, doc)
    settles_at(kube, ns, name, 2, "generation 1")
    items(r, name, 0)
    wait_until(lambda: cond(kube, ns, name, "Active").get("status") == "False", "inactive")
    doc["spec"]["jobTargetRef"]["backoffLimit"] = 3  # a new generation
    kube.apply(ns, doc)
    wait_until(lambda: sj(kube, ns, name)["metadata"]["generation"] == 2, "generation 2")
    wait_until(lambda: len(jobs(kube, ns, name)) == kept, f"{kept} Jobs of generation 1 left")
    if not kept:
        msg = "Deleted 2 jobs owned by the previous version of the scaledJob"
        wait_until(lambda: ("ScaledJobRolloutCleanupCompleted", msg) in sj_events(kube, ns, name),
                   "the rollout Event")
    # the old Jobs still count as running: one more item than them asks for one new Job
    items(r, name, kept + 1)
    wait_until(lambda: any(j["metadata"]["annotations"]["scaledjob.keda.sh/generation"] == "2"
                           for j in jobs(kube, ns, name)), "a Job of generation 2")
    kube.delete(ns, "scaledjob", name)


def test_delete_takes_its_jobs_and_completes(env):
    kube, ns, c, r = env
    name = "deleted"
    items(r, name, 2)
    kube.apply(ns, scaled_job(r, name))
    settles_at(kube, ns, name, 2, "before the delete")
    kube.run("-n", ns, "delete", "scaledjob", name, "--timeout=60s")
    assert kube.get(ns, "scaledjob", name) is None
    wait_until(lambda: not jobs(kube, ns, name), "its Jobs deleted by the garbage collector",
               timeout=120)
    wait_until(lambda: ("KEDAScalersStopped", "Stopped scalers watch") in sj_events(kube, ns, name),
               "KEDA's Event for the stopped loop")
    assert c.status().get("watcher_synced")


def test_trigger_authentication_lists_its_scaledjobs(env):
    kube, ns, c, r = env
    kube.apply(ns, trigger_auth("jobs-auth"))
    for name in ("auth-a", "auth-b"):
        doc = scaled_job(r, name)
        doc["spec"]["triggers"][0]["authenticationRef"] = {"name": "jobs-auth"}
        kube.apply(ns, doc)

    def listed():
        return (kube.get(ns, "triggerauthentication", "jobs-auth") or {}).get(
            "status", {}).get("scaledjobs")
    wait_until(lambda: set((listed() or "").split(",")) == {"auth-a", "auth-b"},
               "both ScaledJobs in status.scaledjobs")
    kube.delete(ns, "scaledjob", "auth-a")
    wait_until(lambda: listed() == "auth-b", "auth-a removed from the list")
    kube.delete(ns, "scaledjob", "auth-b")
    wait_until(lambda: not listed(), "an empty list")


def test_a_restarted_ckeda_creates_no_duplicate_jobs(env):
    """The table and the Job caches come back from the API: the running Jobs are counted before
    the first poll, so none is created twice."""
    kube, ns, c, r = env
    name = "restarted"
    items(r, name, 3)
    kube.apply(ns, scaled_job(r, name))
    settles_at(kube, ns, name, 3, "before the restart")
    c.stop()
    c.start()
    wait_until(lambda: (c.so(ns, name) or {}).get("kind") == "ScaledJob", "mirrored again")
    hold(lambda: len(jobs(kube, ns, name)) == 3, "still 3 Jobs after the restart", seconds=4)
    kube.delete(ns, "scaledjob", name)


def test_bad_scaledjobs_are_refused_with_keda_messages(env):
    kube, ns, c, r = env
    bad = scaled_job(r, "bad-metric")
    bad["spec"]["triggers"][0]["metricType"] = "Value"
    kube.apply(ns, bad)
    wait_until(lambda: cond(kube, ns, "bad-metric", "Ready").get("status") == "False",
               "Ready False")
    ready = cond(kube, ns, "bad-metric", "Ready")
    assert ready["reason"] == "ScaledJobCheckFailed"
    assert ready["message"].startswith("Cannot set metricType in ScaledJob triggers"), ready
    assert cond(kube, ns, "bad-metric", "Active")["reason"] == "UnknownState"

    # a source that fails: TriggerError, KEDAScalerFailed, no Job
    broken = scaled_job(r, "broken")
    broken["spec"]["triggers"][0]["metadata"]["address"] = "127.0.0.1:1"
    kube.apply(ns, broken)
    wait_until(lambda: cond(kube, ns, "broken", "Ready").get("reason") == "TriggerError",
               "Ready False TriggerError")
    assert cond(kube, ns, "broken", "Ready")["message"] == (
        "Triggers defined in ScaledJob are not working correctly")
    wait_until(lambda: any(r == "KEDAScalerFailed" for r, _ in sj_events(kube, ns, "broken")),
               "KEDA's KEDAScalerFailed Event")
    assert not jobs(kube, ns, "broken")
    kube.delete(ns, "scaledjob", "broken")

    kube.delete(ns, "scaledjob", "bad-metric")
