"""A /scale write the API server refuses, end to end, on the real API server of
tests/e2e/cluster.sh: a ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1, CEL) with
its binding denies every UPDATE of `deployments/scale` for one Deployment of the test's
namespace (a PATCH of /scale is admitted as an UPDATE too), with a real redis-server as the
source (tests/integration/sources.py, one list per ScaledObject as in test_scale_loop.py).

KEDA (pkg/scaling/executor/scale_scaledobjects.go) records a Warning Event
KEDAScaleTargetActivationFailed "Failed to scale <kind> <ns>/<name> from X to Y" when
updateScaleOnScaleTarget fails, logs nothing, leaves Ready True and tries again on the next
poll. ckeda records the same Event and, because nothing in KEDA says why, sets Ready False with
the Event's reason and "<the Event's message>: <the API server's error>"; it retries on the
next poll and then backs off, doubling (watch_decide_backoff_ms), so the denied writes the API
server counts (apiserver_validating_admission_policy_check_total) grow with the log of the time,
not one per poll. Meanwhile another ScaledObject of the same ckeda activates and deactivates on
its usual pace. Once the policy is gone, the next retry scales the target, Ready is True again
and KEDA's KEDAScaleTargetActivated Event is recorded. The same for a deactivation after the
cooldown: KEDAScaleTargetDeactivationFailed "Failed to deactivate ...", then 0 once allowed.

ckeda runs with the adapter certificate on $CKEDA_ADAPTER_PORT (the APIService points there).
Run: python3 -m pytest tests/e2e/test_scale_refused.py -v   (CKEDA_BIN: the build directory)
"""

from __future__ import annotations

import math
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from test_pause import has_event  # noqa: E402
from test_scale_loop import COOLDOWN, cond_is, env, items, loop_so  # noqa: E402,F401
from test_watcher import WAIT, deployment, hold, replicas, wait_until  # noqa: E402

REFUSAL = "scaling this Deployment is refused by the test policy"


def deny_scale_policy(name, ns, target):
    """A policy and binding that deny every /scale UPDATE of Deployment ns/target."""
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {"failurePolicy": "Fail",
                 "matchConstraints": {"resourceRules": [{
                     "apiGroups": ["apps"], "apiVersions": ["*"], "operations": ["UPDATE"],
                     "resources": ["deployments/scale"]}]},
                 "validations": [{"expression": f"object.metadata.name != '{target}'",
                                  "message": REFUSAL, "reason": "Forbidden"}]}}
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": name},
        "spec": {"policyName": name, "validationActions": ["Deny"],
                 "matchResources": {"namespaceSelector": {
                     "matchLabels": {"kubernetes.io/metadata.name": ns}}}}}
    return {"apiVersion": "v1", "kind": "List", "items": [policy, binding]}


def drop_policy(kube, name):
    kube.run("delete", "validatingadmissionpolicybinding,validatingadmissionpolicy", name,
             "--ignore-not-found", check=False)


def denied_writes(kube, policy):
    """How many requests the API server has denied under the policy (its own counter)."""
    text = kube.run("get", "--raw", "/metrics").stdout
    pat = re.compile(r'^apiserver_validating_admission_policy_check_total\{([^}]*)\} (\S+)$')
    n = 0.0
    for line in text.splitlines():
        m = pat.match(line)
        if m and f'policy="{policy}"' in m.group(1) and 'enforcement_action="deny"' in m.group(1):
            n += float(m.group(2))
    return int(n)


def dry_run_denied(kube, ns, target):
    """A server-side dry-run of a scale goes through admission: denied once the policy acts."""
    r = kube.run("-n", ns, "scale", "deployment", target, "--replicas=5", "--dry-run=server",
                 check=False)
    return r.returncode != 0 and REFUSAL in r.stderr


def test_refused_scale_write_says_why_backs_off_and_recovers(env):
    kube, ns, c, r = env
    started = time.monotonic()
    policy = f"deny-scale-{ns}"
    kube.apply(ns, {"apiVersion": "v1", "kind": "List",
                    "items": [deployment("web-refused", 0), deployment("web-pace", 0)]})
    kube.apply(ns, deny_scale_policy(policy, ns, "web-refused"))
    try:
        wait_until(lambda: dry_run_denied(kube, ns, "web-refused"), "the policy in force")
        base = denied_writes(kube, policy)  # the dry runs above count too
        items(r, "refused", 3)
        items(r, "pace", 0)
        kube.apply(ns, {"apiVersion": "v1", "kind": "List", "items": [
            loop_so(r, "refused", "web-refused", maxReplicaCount=3),
            loop_so(r, "pace", "web-pace", maxReplicaCount=3)]})

        wait_until(lambda: denied_writes(kube, policy) > base, "the first refused write")
        first = time.monotonic()
        ready = wait_until(lambda: cond_is(kube, ns, "refused", "Ready", "False"),
                           "Ready False after the refused write")
        assert ready["reason"] == "KEDAScaleTargetActivationFailed", ready
        prefix = f"Failed to scale apps/v1.Deployment {ns}/web-refused from 0 to 1: "
        assert ready["message"].startswith(prefix), ready
        assert f"ValidatingAdmissionPolicy '{policy}'" in ready["message"], ready
        assert ready["message"].endswith(f"denied request: {REFUSAL}"), ready
        assert cond_is(kube, ns, "refused", "Active", "True", "ScalerActive")
        wait_until(lambda: has_event(kube, ns, "refused", "KEDAScaleTargetActivationFailed",
                                     f"Failed to scale apps/v1.Deployment {ns}/web-refused "
                                     "from 0 to 1"), "KEDA's Warning Event")

        # another object keeps its pace meanwhile: activated at once (the doorbell), and to 0
        # once the cooldown has passed
        t = time.monotonic()
        items(r, "pace", 3)
        wait_until(lambda: replicas(kube, ns, "web-pace") == 1, "pace activated", timeout=10)
        up = time.monotonic() - t
        items(r, "pace", 0)
        t = time.monotonic()
        wait_until(lambda: replicas(kube, ns, "web-pace") == 0, "pace deactivated",
                   timeout=10 * (COOLDOWN + 1))
        down = time.monotonic() - t
        assert down < 3 * (COOLDOWN + 1), f"deactivation took {down:.1f}s"

        # the refused object stays where it is and says so, without a write per poll
        hold(lambda: replicas(kube, ns, "web-refused") == 0 and
             cond_is(kube, ns, "refused", "Ready", "False", "KEDAScaleTargetActivationFailed"),
             "web-refused at 0 and Ready False", seconds=max(0.0, 10 - (time.monotonic() - first)))
        window = time.monotonic() - first
        writes = denied_writes(kube, policy) - base
        print(f"pace up {up:.1f}s down {down:.1f}s; {writes} refused writes in {window:.1f}s")
        # KEDA: one per 1 s poll; backing off: at 0, 1, 3, 7, 15 ... s
        assert 2 <= writes <= 2 + math.log2(window), (writes, window, c.log_tail())
    finally:
        drop_policy(kube, policy)

    removed = time.monotonic()
    wait_until(lambda: replicas(kube, ns, "web-refused") == 1,
               "the target scaled once the policy is gone", timeout=max(WAIT, 10 * window))
    print(f"scaled {time.monotonic() - removed:.1f}s after the policy was removed")
    wait_until(lambda: cond_is(kube, ns, "refused", "Ready", "True", "ScaledObjectReady"),
               "Ready True again")
    wait_until(lambda: has_event(kube, ns, "refused", "KEDAScaleTargetActivated"),
               "KEDAScaleTargetActivated")
    assert c.so(ns, "refused")["triggers"][0]["state"] == "ACTIVE"

    # a refused deactivation, after the cooldown: its own Event and reason, then to 0
    kube.apply(ns, deny_scale_policy(policy, ns, "web-refused"))
    try:
        wait_until(lambda: dry_run_denied(kube, ns, "web-refused"), "the policy in force again")
        items(r, "refused", 0)
        ready = wait_until(lambda: cond_is(kube, ns, "refused", "Ready", "False"),
                           "Ready False after the refused deactivation",
                           timeout=10 * (COOLDOWN + 1))
        assert ready["reason"] == "KEDAScaleTargetDeactivationFailed", ready
        assert ready["message"].startswith(
            f"Failed to deactivate apps/v1.Deployment {ns}/web-refused from 1 to 0: "), ready
        assert ready["message"].endswith(f"denied request: {REFUSAL}"), ready
        assert cond_is(kube, ns, "refused", "Active", "False", "ScalerNotActive")
        wait_until(lambda: has_event(kube, ns, "refused", "KEDAScaleTargetDeactivationFailed",
                                     f"Failed to deactivate apps/v1.Deployment {ns}/web-refused "
                                     "from 1 to 0"), "KEDA's Warning Event")
        assert replicas(kube, ns, "web-refused") == 1
    finally:
        drop_policy(kube, policy)
    wait_until(lambda: replicas(kube, ns, "web-refused") == 0, "deactivated once allowed")
    wait_until(lambda: cond_is(kube, ns, "refused", "Ready", "True", "ScaledObjectReady"),
               "Ready True again")
    print(f"test took {time.monotonic() - started:.1f}s")
