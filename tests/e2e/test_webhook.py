"""ckeda's admission webhook behind the real API server's ValidatingWebhookConfiguration.

The test bed's keda-admission webhooks point at https://127.0.0.1:$WEBHOOK_PORT with the
adapter certificate's CA (tests/e2e/README.md), so a ckeda started with --webhook-port
$WEBHOOK_PORT --cert-dir <state>/adapter-certs judges every keda.sh object kubectl sends:
an invalid ScaledObject is refused with KEDA's message, a valid one admitted, a second
ScaledObject on a target the table has is refused, and so is one on a workload another HPA
manages (the webhook's own HPA informer). Deleting an object (the watcher removes its
finalizer: a finalizer-only update) is never held up.

e2e tests run serially, so the fixed webhook port is free while this module runs.
Run: python3 -m pytest tests/e2e/test_webhook.py -v   (CKEDA_BIN: the build directory)
"""

from __future__ import annotations

import os
import ssl
import sys
import urllib.request

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from test_watcher import (Ckeda, deployments, kube, read_env, redis,  # noqa: E402,F401
                          scaled_object, wait_until)

DENIED = 'admission webhook "vscaledobject.kb.io" denied the request: '


@pytest.fixture(scope="module")
def ns(kube):
    name = kube.namespace("ckwh")
    kube.apply(name, deployments("web", "api"))
    yield name
    kube.drop_namespace(name)


@pytest.fixture(scope="module")
def hook(kube, ns, tmp_path_factory):
    state = kube.kubeconfig.parent
    port = read_env(state / "cluster.env")["WEBHOOK_PORT"]
    certs = state / "adapter-certs"
    c = Ckeda(kube.kubeconfig, ns, tmp_path_factory.mktemp("ckeda"),
              extra=("--cert-dir", str(certs)))
    c.argv[c.argv.index("--webhook-port") + 1] = port
    c.start()
    ctx = ssl.create_default_context(cafile=str(certs / "ca.crt"))

    def healthy():
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{port}/readyz", context=ctx,
                                        timeout=5) as r:
                return r.status == 200
        except OSError:
            return False
    wait_until(healthy, "the webhook to serve with the test bed's certificate")
    yield c
    c.stop()


def apply(kube, ns, obj):
    return kube.run("-n", ns, "apply", "-f", "-", stdin=obj, check=False)


def test_invalid_scaled_object_is_refused_with_keda_message(kube, ns, hook):
    # (replica bounds are refused by the CRD's own CEL rule before any webhook is asked)
    r = apply(kube, ns, scaled_object("twins", "web", [redis("q", name="a"), redis("r", name="a")]))
    assert r.returncode != 0
    assert (DENIED + 'triggerName "a" is defined multiple times in the ScaledObject/ScaledJob, '
            "but it must be unique") in r.stderr, r.stderr
    assert kube.get(ns, "scaledobject", "twins") is None


def test_valid_then_second_on_the_same_target(kube, ns, hook):
    r = apply(kube, ns, scaled_object("first", "web", [redis("q")], minReplicaCount=1,
                                      pollingInterval=10))
    assert r.returncode == 0, r.stderr
    assert "PollingInterval is configured but is not relevant" in r.stderr  # KEDA's warning
    wait_until(lambda: hook.so(ns, "first"), "the watcher to mirror the first ScaledObject")
    r = apply(kube, ns, scaled_object("second", "web", [redis("q")]))
    assert r.returncode != 0
    assert (DENIED + "the workload 'web' of type 'apps/v1.Deployment' is already managed by "
            "the ScaledObject 'first'") in r.stderr, r.stderr
    # the first one may still change
    r = apply(kube, ns, scaled_object("first", "web", [redis("q")], minReplicaCount=1,
                                      maxReplicaCount=7))
    assert r.returncode == 0, r.stderr
    # its deletion (the watcher's finalizer removal is an update) completes
    kube.delete(ns, "scaledobject", "first")
    wait_until(lambda: kube.get(ns, "scaledobject", "first") is None, "the deletion to finish")
    wait_until(lambda: apply(kube, ns, scaled_object("second", "web", [redis("q")]))
               .returncode == 0, "the target to be free again")


def test_foreign_hpa_on_the_target_is_refused(kube, ns, hook):
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": "someone-elses"},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                       "name": "api"},
                    "minReplicas": 1, "maxReplicas": 3,
                    "metrics": [{"type": "Resource", "resource": {
                        "name": "cpu", "target": {"type": "Utilization",
                                                  "averageUtilization": 50}}}]}}
    kube.apply(ns, hpa)
    expected = (DENIED + "the workload 'api' of type 'apps/v1.Deployment' is already managed "
                "by the hpa 'someone-elses'")
    r = wait_until(lambda: (r := apply(kube, ns, scaled_object("on-api", "api", [redis("q")])))
                   .returncode != 0 and r, "the webhook's informer to see the HPA")
    assert expected in r.stderr, r.stderr
    kube.delete(ns, "hpa", "someone-elses")
    wait_until(lambda: apply(kube, ns, scaled_object("on-api", "api", [redis("q")]))
               .returncode == 0, "the HPA's deletion to reach the webhook")


def test_error_counter(kube, ns, hook):
    port = read_env(kube.kubeconfig.parent / "cluster.env")["WEBHOOK_PORT"]
    ctx = ssl.create_default_context(cafile=str(kube.kubeconfig.parent / "adapter-certs" /
                                                "ca.crt"))
    with urllib.request.urlopen(f"https://127.0.0.1:{port}/metrics", context=ctx,
                                timeout=5) as r:
        text = r.read().decode()
    assert (f'keda_webhook_scaled_object_validation_errors_total{{action="create",'
            f'namespace="{ns}",reason="incorrect-triggers"}}') in text, text
    assert (f'keda_webhook_scaled_object_validation_errors_total{{action="create",'
            f'namespace="{ns}",reason="other-scaled-object"}}') in text, text
