"""Process tests of the admission webhook (`ckeda --role=webhook`) without a cluster.

A real `ckeda run` tree (conftest.py) with every port 0 and no --cert-dir: the webhook serves a
certificate generated in memory, so clients here do not verify it. AdmissionReview v1 requests
are POSTed as kube-apiserver sends them. Covers: valid objects admitted (with KEDA's warnings),
invalid ones refused with KEDA's message and code 403, a second ScaledObject on a target the
table already has, finalizer removal and DELETE admitted unvalidated, the other kinds' paths,
malformed and oversized bodies, methods, TLS below 1.2, the error counter, and a crashed
webhook costing only its own restart.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import ssl
import uuid

import pytest

from conftest import budget, wait_until

PREFIX = "/validate-keda-sh-v1alpha1-"
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # TLS 1.0/1.1 on purpose


def scaled_object(name="so", ns="apps", target="web", min_r=1, max_r=5, **spec):
    body = {"scaleTargetRef": {"name": target}, "minReplicaCount": min_r,
            "maxReplicaCount": max_r,
            "triggers": [{"type": "redis", "metadata": {"address": "redis:6379",
                                                        "listName": "jobs",
                                                        "listLength": "5"}}]}
    body.update(spec)
    return {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
            "metadata": {"name": name, "namespace": ns, "uid": str(uuid.uuid4()),
                         "creationTimestamp": "2030-01-01T00:00:00Z"},
            "spec": body}


def review(obj, operation="CREATE", old=None, kind="ScaledObject", dry_run=False):
    req = {"uid": str(uuid.uuid4()),
           "kind": {"group": "keda.sh", "version": "v1alpha1", "kind": kind},
           "resource": {"group": "keda.sh", "version": "v1alpha1",
                        "resource": kind.lower() + "s"},
           "namespace": (obj or {}).get("metadata", {}).get("namespace", ""),
           "name": (obj or {}).get("metadata", {}).get("name", ""),
           "operation": operation, "userInfo": {"username": "admin"},
           "object": obj, "oldObject": old, "dryRun": dry_run}
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req}


class Webhook:
    def __init__(self, tree):
        self.tree = tree
        self.port = wait_until(lambda: tree.status()["ports"]["webhook"], budget(10),
                               "the webhook port")
        wait_until(lambda: self.try_get("/healthz") == 200, budget(30), "the webhook")

    def context(self, **kw):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        for k, v in kw.items():
            setattr(ctx, k, v)
        return ctx

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=budget(20),
                                           context=self.context())
        try:
            conn.request(method, path, body=body,
                         headers={"Content-Type": "application/json", **(headers or {})})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def try_get(self, path):
        try:
            return self.request("GET", path)[0]
        except OSError:
            return None

    def post(self, kind, rv):
        status, body = self.request("POST", PREFIX + kind, json.dumps(rv).encode())
        assert status == 200, body
        doc = json.loads(body)
        assert doc["apiVersion"] == "admission.k8s.io/v1"
        assert doc["kind"] == "AdmissionReview"
        assert doc["response"]["uid"] == rv["request"]["uid"]
        return doc["response"]


@pytest.fixture
def hook(ckeda):
    return Webhook(ckeda())


def test_valid_scaled_object_is_admitted_with_keda_warnings(hook):
    resp = hook.post("scaledobject", review(scaled_object(pollingInterval=10)))
    assert resp["allowed"] is True
    assert resp["status"]["code"] == 200
    assert any("PollingInterval is configured but is not relevant" in w
               for w in resp["warnings"]), resp


def test_invalid_scaled_object_is_refused_with_keda_message(hook):
    resp = hook.post("scaledobject", review(scaled_object(min_r=5, max_r=2)))
    assert resp["allowed"] is False
    assert resp["status"]["code"] == 403
    assert resp["status"]["reason"] == "Forbidden"
    assert resp["status"]["message"] == "MinReplicaCount=5 must be less than MaxReplicaCount=2"
    assert "warnings" not in resp
    # the update of an object is judged the same way
    resp = hook.post("scaledobject", review(scaled_object(min_r=5, max_r=2), "UPDATE",
                                            old=scaled_object()))
    assert resp["allowed"] is False


def test_second_scaled_object_on_a_target_of_the_table_is_refused(ckeda):
    tree = ckeda()
    tree.shmtool("add", "apps/first", "--target", "Deployment/web",
                 "--trigger", "redis,address=redis:6379,listName=a")
    hook = Webhook(tree)
    resp = hook.post("scaledobject", review(scaled_object("second", target="web")))
    assert resp["allowed"] is False
    assert resp["status"]["message"] == ("the workload 'web' of type 'apps/v1.Deployment' is "
                                         "already managed by the ScaledObject 'first'")
    # another namespace, another target, or the object itself: admitted
    assert hook.post("scaledobject", review(scaled_object("second", ns="other")))["allowed"]
    assert hook.post("scaledobject", review(scaled_object("second", target="api")))["allowed"]
    assert hook.post("scaledobject", review(scaled_object("first", target="web")))["allowed"]
    # the counter KEDA's /metrics has
    status, body = hook.request("GET", "/metrics")
    assert status == 200
    text = body.decode()
    assert ('keda_webhook_scaled_object_validation_errors_total{action="create",'
            'namespace="apps",reason="other-scaled-object"} 1') in text, text
    assert 'keda_webhook_scaled_object_validations_total{action="create",namespace="apps"} 3' \
        in text, text


def test_finalizer_removal_and_delete_skip_validation(hook):
    bad = scaled_object(min_r=5, max_r=2)
    old = json.loads(json.dumps(bad))
    old["metadata"]["finalizers"] = ["finalizer.keda.sh"]
    assert hook.post("scaledobject", review(bad, "UPDATE", old=old))["allowed"] is True
    # a finalizer removed together with a spec change is validated
    changed = json.loads(json.dumps(bad))
    changed["spec"]["maxReplicaCount"] = 3
    assert hook.post("scaledobject", review(changed, "UPDATE", old=old))["allowed"] is False
    rv = review(None, "DELETE", old=bad)
    assert hook.post("scaledobject", rv)["allowed"] is True


def test_other_kinds(hook):
    job = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledJob",
           "metadata": {"name": "job", "namespace": "apps"},
           "spec": {"jobTargetRef": {"template": {"spec": {"containers": [
               {"name": "c", "image": "busybox"}]}}},
                    "triggers": [{"type": "redis", "name": "a",
                                  "metadata": {"address": "r:6379", "listName": "q"}},
                                 {"type": "redis", "name": "a",
                                  "metadata": {"address": "r:6379", "listName": "q"}}]}}
    resp = hook.post("scaledjob", review(job, kind="ScaledJob"))
    assert resp["allowed"] is False and "a" in resp["status"]["message"], resp
    ta = {"apiVersion": "keda.sh/v1alpha1", "kind": "TriggerAuthentication",
          "metadata": {"name": "ta", "namespace": "apps"},
          "spec": {"secretTargetRef": [{"parameter": "password", "name": "s", "key": "k"}]}}
    assert hook.post("triggerauthentication", review(ta, kind="TriggerAuthentication"))["allowed"]
    cta = dict(ta, kind="ClusterTriggerAuthentication",
               spec={"podIdentity": {"provider": "azure-workload", "identityId": ""}})
    resp = hook.post("clustertriggerauthentication",
                     review(cta, kind="ClusterTriggerAuthentication"))
    assert resp["allowed"] is False and resp["status"]["code"] == 403, resp
    # the object must be the path's kind
    resp = hook.post("scaledjob", review(scaled_object()))
    assert resp["allowed"] is False and resp["status"]["code"] == 400


def test_http_errors(hook):
    status, body = hook.request("POST", PREFIX + "scaledobject", b"{not json")
    assert status == 400, body
    assert json.loads(body)["kind"] == "Status"
    status, _ = hook.request("POST", PREFIX + "scaledobject",
                             json.dumps({"apiVersion": "v1", "kind": "Pod"}).encode())
    assert status == 400
    big = json.dumps(review(scaled_object(padding="x" * (4 << 20)))).encode()
    status, _ = hook.request("POST", PREFIX + "scaledobject", big)
    assert status == 413
    # 3 MiB (kube-apiserver's own limit) is accepted
    ok = review(scaled_object())
    ok["request"]["object"]["metadata"]["annotations"] = {"pad": "x" * (3 << 20)}
    status, body = hook.request("POST", PREFIX + "scaledobject", json.dumps(ok).encode())
    assert status == 200 and json.loads(body)["response"]["allowed"] is True, body[:300]
    assert hook.request("GET", PREFIX + "scaledobject")[0] == 405
    assert hook.request("POST", "/validate-keda-sh-v1alpha1-pod", b"{}")[0] == 404
    assert hook.request("GET", "/healthz") == (200, b"ok")
    # chunked bodies are not taken (kube-apiserver sends a Content-Length)
    s = socket.create_connection(("127.0.0.1", hook.port), timeout=budget(10))
    t = hook.context().wrap_socket(s)
    t.sendall(b"POST " + PREFIX.encode() + b"scaledobject HTTP/1.1\r\nHost: x\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
    assert t.recv(4096).startswith(b"HTTP/1.1 501 ")
    t.close()


def test_tls_below_1_2_is_refused(hook):
    for version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
        ctx = hook.context(minimum_version=version, maximum_version=version)
        try:
            ctx.set_ciphers("ALL:@SECLEVEL=0")
        except ssl.SSLError:
            pass
        s = socket.create_connection(("127.0.0.1", hook.port), timeout=budget(10))
        with pytest.raises((ssl.SSLError, OSError)):
            ctx.wrap_socket(s).sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        s.close()
    ctx = hook.context(minimum_version=ssl.TLSVersion.TLSv1_2,
                       maximum_version=ssl.TLSVersion.TLSv1_2)
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", hook.port), timeout=budget(10)))
    assert s.version() == "TLSv1.2"
    s.close()


def test_webhook_crash_costs_only_its_restart(ckeda):
    tree = ckeda()
    hook = Webhook(tree)
    old = tree.role("webhook")["pid"]
    adapter = tree.role("adapter")["pid"]
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: (p := tree.role("webhook"))["pid"] != old and p["state"] == "running",
               budget(20), "the webhook's restart")
    wait_until(lambda: hook.try_get("/healthz") == 200, budget(20), "the restarted webhook")
    assert hook.post("scaledobject", review(scaled_object()))["allowed"] is True
    assert tree.role("adapter")["pid"] == adapter
    tree.assert_running()
