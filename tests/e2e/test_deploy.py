"""The product manifests (deploy/) on the real control plane, and ckeda in its in-cluster mode.

- `kubectl apply -k tests/e2e/overlay` (deploy/ with the Services made ExternalName 127.0.0.1
  and the test bed's ports kept, see overlay/kustomization.yaml) succeeds, and a second apply
  changes nothing: every object "unchanged", `kubectl diff -k` empty, no resourceVersion moved.
  The Deployment's pod is admitted under Pod Security "restricted"; the test bed's APIService
  and webhooks still point where `cluster.sh up` put them.
- In-cluster mode without a kubelet: a token for the ckeda ServiceAccount (TokenRequest), laid
  out with the namespace's kube-root-ca.crt and the namespace exactly as a pod's service-account
  volume, is mounted at /var/run/secrets/kubernetes.io/serviceaccount in a private mount
  namespace (an overlay on /run, so the host is untouched); ckeda runs there with
  KUBERNETES_SERVICE_HOST/PORT, no kubeconfig and the Deployment's own arguments and
  environment (ports, certificate directory, table name and watched namespace adapted to the
  shared test bed). The walking-skeleton scenario (test_skeleton.py) then passes with exactly
  the RBAC of deploy/, and the tree's memory is checked against the Deployment's request.
- Least privilege, per rule: `kubectl auth can-i` as the ServiceAccount for every rule, plus
  for each rule one API call ckeda makes that succeeds as the ServiceAccount and is Forbidden
  for a twin account holding every rule but that one; and calls ckeda never makes are refused.
  Mutating calls use server-side dry run, so nothing is written.

Afterwards `cluster.sh up` re-applies the test bed, which is left as other tests expect it.
Run: python3 -m pytest tests/e2e/test_deploy.py -v   (CKEDA_BIN: the build directory)
"""

from __future__ import annotations

import base64
import json
import os
import pathlib
import ssl
import subprocess
import urllib.error
import urllib.request
import sys
import uuid

import pytest
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

import test_skeleton as skel  # noqa: E402
from sources import RedisServer  # noqa: E402
from test_watcher import (ADAPTER_PORT, CKEDA, CKEDACTL, RUNNING, Ckeda, Kube,  # noqa: E402
                          cluster_up, child_env, read_env, wait_until)

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
OVERLAY = HERE / "overlay"
NS = "keda"
SA = "ckeda"
ME = f"system:serviceaccount:{NS}:{SA}"
TWIN = "ckeda-lp"  # the twin account of the least-privilege checks
TWIN_AS = f"system:serviceaccount:{NS}:{TWIN}"
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def kube():
    k = Kube(cluster_up())
    yield k
    # the test bed as `up` makes it, whatever happened here
    cluster_up()
    check_test_bed(k)


@pytest.fixture(scope="module")
def installed(kube):
    first = kube.run("apply", "-k", str(OVERLAY))
    return first.stdout


def cget(kube, kind, name):
    """A cluster-scoped object."""
    return json.loads(kube.run("get", kind, name, "-o", "json").stdout)


def overlay_objects(kube):
    """The objects of the overlay as the cluster has them now."""
    return json.loads(kube.run("get", "-k", str(OVERLAY), "-o", "json").stdout)["items"]


def versions(kube):
    # the Deployment's status moves with its controller; its generation moves with its spec
    return {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]):
            o["metadata"]["generation"] if o["kind"] == "Deployment"
            else o["metadata"]["resourceVersion"] for o in overlay_objects(kube)}


def check_test_bed(kube):
    env = read_env(kube.kubeconfig.parent / "cluster.env")
    ca = base64.b64encode((kube.kubeconfig.parent / "adapter-certs" / "ca.crt").read_bytes()).decode()
    api = cget(kube, "apiservice", "v1beta1.external.metrics.k8s.io")
    assert api["spec"]["service"] == {"namespace": "keda", "name": "keda-operator-metrics-apiserver",
                                      "port": int(env["ADAPTER_PORT"])}, api["spec"]
    assert api["spec"]["caBundle"] == ca
    hooks = cget(kube, "validatingwebhookconfiguration", "keda-admission")["webhooks"]
    assert len(hooks) == 4
    for h in hooks:
        kind = h["rules"][0]["resources"][0][:-1]
        assert h["clientConfig"] == {
            "url": f"https://127.0.0.1:{env['WEBHOOK_PORT']}/validate-keda-sh-v1alpha1-{kind}",
            "caBundle": ca}, h
        assert (h["failurePolicy"], h["sideEffects"], h["timeoutSeconds"]) == ("Ignore", "None", 10)
    svc = kube.get(NS, "service", "keda-operator-metrics-apiserver")["spec"]
    assert (svc["type"], svc["externalName"]) == ("ExternalName", "127.0.0.1"), svc


# ---------------------------------------------------------------- apply

def test_apply_twice_the_second_is_a_no_op(kube, installed):
    assert "created" in installed or "configured" in installed or "unchanged" in installed
    before = versions(kube)
    second = kube.run("apply", "-k", str(OVERLAY)).stdout.strip().splitlines()
    assert second and all(line.endswith(" unchanged") for line in second), second
    diff = kube.run("diff", "-k", str(OVERLAY), check=False)
    assert diff.returncode == 0 and not diff.stdout, diff.stdout + diff.stderr
    assert versions(kube) == before
    kinds = {k for k, _, _ in before}
    assert {"Namespace", "CustomResourceDefinition", "ServiceAccount", "ClusterRole",
            "ClusterRoleBinding", "Role", "RoleBinding", "Service", "Deployment", "APIService",
            "ValidatingWebhookConfiguration"} <= kinds, kinds
    check_test_bed(kube)


def test_the_pod_is_admitted_under_pod_security_restricted(kube, installed):
    assert cget(kube, "namespace", NS)["metadata"]["labels"][
        "pod-security.kubernetes.io/enforce"] == "restricted"

    def pod():
        pods = kube.items(NS, "pods")
        return next((p for p in pods
                     if p["metadata"]["labels"].get("app.kubernetes.io/name") == "ckeda"), None)
    p = wait_until(pod, "the ReplicaSet to create ckeda's pod (no kubelet: it stays Pending)")
    c = p["spec"]["containers"][0]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert p["spec"]["serviceAccountName"] == SA
    shm = next(v for v in p["spec"]["volumes"] if v["name"] == "shm")
    assert shm["emptyDir"]["medium"] == "Memory"


def test_ha_component_adds_a_pdb_only_with_two_replicas(kube, tmp_path):
    one = list(yaml.safe_load_all(kube.run("kustomize", str(REPO / "deploy")).stdout))
    assert not [o for o in one if o["kind"] == "PodDisruptionBudget"]
    assert next(o for o in one if o["kind"] == "Deployment")["spec"]["replicas"] == 1
    d = tmp_path / "ha"
    d.mkdir()
    rel = os.path.relpath(REPO / "deploy", d)
    (d / "kustomization.yaml").write_text(f"resources: [{rel}]\ncomponents: [{rel}/ha]\n")
    # kustomize refuses roots outside the working tree's parents only by cycles; this one is fine
    two = list(yaml.safe_load_all(kube.run("kustomize", str(d)).stdout))
    assert next(o for o in two if o["kind"] == "Deployment")["spec"]["replicas"] == 2
    pdb = next(o for o in two if o["kind"] == "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1


# ---------------------------------------------------------------- least privilege

def can_i(kube, who, verb, resource, ns=None, subresource=None, name=None):
    if resource.endswith((".eventing.keda.sh", ".external.metrics.k8s.io")):
        return sar_allowed(kube, who, verb, resource, ns)
    args = ["auth", "can-i", verb, resource + (f"/{name}" if name else ""), f"--as={who}"]
    args += ["-n", ns] if ns else ["--all-namespaces"]
    if subresource:
        args += [f"--subresource={subresource}"]
    r = kube.run(*args, check=False)
    return r.stdout.strip() == "yes"


def sar_allowed(kube, who, verb, resource, ns):
    """can-i for a resource discovery does not list (kubectl cannot map it): the same
    SubjectAccessReview, written out."""
    res, _, group = resource.partition(".")
    sa_ns = who.split(":")[2]
    sar = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
           "spec": {"user": who, "groups": ["system:serviceaccounts",
                                            f"system:serviceaccounts:{sa_ns}",
                                            "system:authenticated"],
                    "resourceAttributes": {"group": group, "resource": res, "verb": verb,
                                           "namespace": ns or ""}}}
    out = json.loads(kube.run("create", "-o", "json", "-f", "-", stdin=sar).stdout)
    return out["status"].get("allowed", False)


# Each rule of deploy/rbac.yaml: where it lives, the can-i checks it grants, and one request
# ckeda makes that needs it (method, path, body), sent as the account itself with its own
# token; writes are dry runs. {ns} is the test namespace holding a Deployment w, a
# ScaledObject so, a TriggerAuthentication ta and a Secret s.
SO = "/apis/keda.sh/v1alpha1/namespaces/{ns}/scaledobjects/so"
SJ = "/apis/keda.sh/v1alpha1/namespaces/{ns}/scaledjobs/sj"
APISERVICE = "v1beta1.external.metrics.k8s.io"
RULES = [
    ("cr", ("keda.sh", "scaledobjects"),
     [("list", "scaledobjects.keda.sh", None), ("watch", "scaledobjects.keda.sh", None),
      ("patch", "scaledobjects.keda.sh", None)],
     ("PATCH", SO, {"metadata": {"finalizers": ["finalizer.keda.sh"]}})),
    ("cr", ("keda.sh", "scaledobjects/status"),
     [("patch", "scaledobjects.keda.sh", "status")],
     ("PATCH", SO + "/status", {"status": {"originalReplicaCount": 1}})),
    ("cr", ("keda.sh", "scaledobjects/finalizers"),
     [("update", "scaledobjects.keda.sh", "finalizers")],
     None),  # needed only under the OwnerReferencesPermissionEnforcement plugin, off here
    ("cr", ("keda.sh", "scaledjobs"),
     [("list", "scaledjobs.keda.sh", None), ("watch", "triggerauthentications.keda.sh", None),
      ("patch", "clustertriggerauthentications.keda.sh", None),
      ("get", "scaledjobs.keda.sh", None)],
     ("GET", "/apis/keda.sh/v1alpha1/namespaces/{ns}/triggerauthentications", None)),
    ("cr", ("keda.sh", "scaledjobs/status"),
     [("patch", "scaledjobs.keda.sh", "status")],
     ("PATCH", SJ + "/status", {"status": {"triggersTypes": "cron"}})),
    ("cr", ("batch", "jobs"),
     [(v, "jobs.batch", None) for v in ("list", "watch", "create", "delete")],
     ("POST", "/apis/batch/v1/namespaces/{ns}/jobs", "JOB")),
    ("cr", ("keda.sh", "triggerauthentications/status"),
     [("patch", "triggerauthentications.keda.sh", "status"),
      ("patch", "clustertriggerauthentications.keda.sh", "status")],
     ("PATCH", "/apis/keda.sh/v1alpha1/namespaces/{ns}/triggerauthentications/ta/status",
      {"status": {"scaledobjects": "so"}})),
    ("cr", ("eventing.keda.sh", "cloudeventsources"),
     [("list", "cloudeventsources.eventing.keda.sh", None)],
     None),  # KEDA's eventing CRDs are not installed here: nothing to call
    ("cr", ("autoscaling", "horizontalpodautoscalers"),
     [(v, "horizontalpodautoscalers.autoscaling", None)
      for v in ("get", "list", "watch", "create", "update", "delete")],
     ("POST", "/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers",
      {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
       "metadata": {"name": "keda-hpa-so"},
       "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "w"},
                "maxReplicas": 2}})),
    ("cr", ("*", "*/scale"),
     [("get", "deployments.apps", "scale"), ("patch", "statefulsets.apps", "scale"),
      ("update", "deployments.apps", "scale")],
     ("PATCH", "/apis/apps/v1/namespaces/{ns}/deployments/w/scale", {"spec": {"replicas": 1}})),
    ("cr", ("apps", "deployments"),
     [("get", "deployments.apps", None), ("list", "statefulsets.apps", None),
      ("watch", "deployments.apps", None)],
     ("GET", "/apis/apps/v1/namespaces/{ns}/deployments?limit=500", None)),
    ("cr", ("", "secrets"),
     [("get", "secrets", None), ("get", "configmaps", None)],
     ("GET", "/api/v1/namespaces/{ns}/secrets/s", None)),
    ("cr", ("", "pods"),
     [("list", "pods", None), ("watch", "pods", None)],
     ("GET", "/api/v1/namespaces/{ns}/pods?labelSelector=app%3Dw&fieldSelector=status.phase"
      "%21%3DSucceeded%2Cstatus.phase%21%3DFailed&limit=500", None)),
    ("cr", ("", "events"),
     [("create", "events", None), ("patch", "events", None)],
     ("POST", "/api/v1/namespaces/{ns}/events", "EVENT")),
    ("cr", ("apiregistration.k8s.io", "apiservices"),
     [("get", "apiservices.apiregistration.k8s.io", None, APISERVICE),
      ("patch", "apiservices.apiregistration.k8s.io", None, APISERVICE)],
     ("PATCH", f"/apis/apiregistration.k8s.io/v1/apiservices/{APISERVICE}",
      {"metadata": {"annotations": {"ckeda-rbac-check": "1"}}})),
    ("cr", ("admissionregistration.k8s.io", "validatingwebhookconfigurations"),
     [("get", "validatingwebhookconfigurations.admissionregistration.k8s.io", None,
       "keda-admission"),
      ("update", "validatingwebhookconfigurations.admissionregistration.k8s.io", None,
       "keda-admission")],
     ("GET", "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/"
      "keda-admission", None)),
    ("role", ("coordination.k8s.io", "leases"),
     [("get", "leases.coordination.k8s.io", None), ("create", "leases.coordination.k8s.io", None),
      ("update", "leases.coordination.k8s.io", None)],
     ("POST", f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases", "LEASE")),
    ("role", ("", "secrets"),
     [("create", "secrets", None), ("update", "secrets", None)],
     ("POST", f"/api/v1/namespaces/{NS}/secrets", "SECRET")),
    ("delegator", None,
     [("create", "subjectaccessreviews.authorization.k8s.io", None)],
     ("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", "SAR")),
]

EVENT = {"apiVersion": "v1", "kind": "Event", "metadata": {"generateName": "so."},
         "involvedObject": {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "name": "so"},
         "reason": "KEDAScalersStarted", "message": "x", "type": "Normal"}
LEASE = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
         "metadata": {"name": "operator.keda.sh.lp-check"}, "spec": {"holderIdentity": "x"}}
SAR = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
       "spec": {"user": "system:serviceaccount:kube-system:horizontal-pod-autoscaler",
                "resourceAttributes": {"group": "external.metrics.k8s.io", "resource": "s0-x",
                                       "verb": "list", "namespace": "default"}}}
SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ckeda-certs-lp-check"},
          "data": {"ca.crt": ""}}
JOB = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"generateName": "sj-"},
       "spec": {"template": {"spec": {"restartPolicy": "OnFailure", "containers": [
           {"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}}}
BODIES = {"EVENT": EVENT, "LEASE": LEASE, "SAR": SAR, "SECRET": SECRET, "JOB": JOB}

# Calls ckeda never makes: refused to the ServiceAccount.
NEVER = [("list", "secrets", None), ("watch", "secrets", None), ("list", "configmaps", None),
         ("create", "secrets", None), ("create", "pods", None), ("get", "pods", None),
         ("delete", "deployments.apps", None), ("update", "deployments.apps", None),
         ("create", "scaledobjects.keda.sh", None), ("delete", "scaledobjects.keda.sh", None),
         ("update", "scaledobjects.keda.sh", None), ("get", "nodes", None),
         ("create", "clusterrolebindings.rbac.authorization.k8s.io", None),
         ("patch", "apiservices.apiregistration.k8s.io", None),
         ("update", "jobs.batch", None), ("delete", "pods", None),
         ("create", "serviceaccounts", "token"),
         ("impersonate", "users", None)]


def rule_index(rules, key):
    group, resource = key
    return next(i for i, r in enumerate(rules)
                if group in r.get("apiGroups", []) and resource in r.get("resources", []))


class Api:
    """Requests to kube-apiserver as a ServiceAccount, with a token from the TokenRequest API."""

    def __init__(self, kube, sa):
        env = read_env(kube.kubeconfig.parent / "cluster.env")
        self.base = f"https://127.0.0.1:{env['APISERVER_PORT']}"
        self.token = kube.run("-n", NS, "create", "token", sa, "--duration=1h").stdout.strip()
        cfg = yaml.safe_load(kube.kubeconfig.read_text())
        ca = base64.b64decode(cfg["clusters"][0]["cluster"]["certificate-authority-data"])
        self.tls = ssl.create_default_context(cadata=ca.decode())

    def __call__(self, method, path, body=None):
        """The HTTP status; writes are dry runs."""
        if method != "GET" and "subjectaccessreviews" not in path:
            path += ("&" if "?" in path else "?") + "dryRun=All"
        body = BODIES[body] if isinstance(body, str) else body
        data = json.dumps(body).encode() if body is not None else None
        ctype = "application/merge-patch+json" if method == "PATCH" else "application/json"
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Authorization": f"Bearer {self.token}",
                                              "Content-Type": ctype})
        try:
            with urllib.request.urlopen(req, context=self.tls, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"{}")


CRON = {"type": "cron", "metadata": {"timezone": "UTC", "start": "0 6 * * *", "end": "0 7 * * *",
                                    "desiredReplicas": "1"}}


@pytest.fixture(scope="module")
def lp_ns(kube, installed):
    ns = kube.namespace("ckd-lp")
    kube.apply(ns, {"apiVersion": "v1", "kind": "List", "items": [
        skel.deployment("w", replicas=0),
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "v"}},
        {"apiVersion": "keda.sh/v1alpha1", "kind": "TriggerAuthentication",
         "metadata": {"name": "ta"},
         "spec": {"secretTargetRef": [{"parameter": "password", "name": "s", "key": "k"}]}},
        skel.scaled_object("so", "w", [CRON]),
        {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledJob", "metadata": {"name": "sj"},
         "spec": {"jobTargetRef": JOB["spec"], "triggers": [CRON]}}]})
    kube.run("-n", NS, "create", "serviceaccount", TWIN, check=False)
    yield ns
    for kind, name, where in (("clusterrolebinding", TWIN, ()), ("clusterrole", TWIN, ()),
                              ("rolebinding", TWIN, ("-n", NS)), ("role", TWIN, ("-n", NS)),
                              ("serviceaccount", TWIN, ("-n", NS))):
        kube.run(*where, "delete", kind, name, "--ignore-not-found", check=False)
    kube.drop_namespace(ns)


def twin_grants(kube, drop):
    """Gives the twin account the ServiceAccount's roles without the rule `drop` names."""
    cr = cget(kube, "clusterrole", SA)["rules"]
    role = kube.get(NS, "role", SA)["rules"]
    where, key = drop[0], drop[1]
    if where == "cr":
        cr = [r for i, r in enumerate(cr) if i != rule_index(cr, key)]
    if where == "role":
        role = [r for i, r in enumerate(role) if i != rule_index(role, key)]
    subj = [{"kind": "ServiceAccount", "name": TWIN, "namespace": NS}]
    objs = [{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
             "metadata": {"name": TWIN}, "rules": cr},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
             "metadata": {"name": TWIN}, "subjects": subj,
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                         "name": TWIN}},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
             "metadata": {"name": TWIN, "namespace": NS}, "rules": role},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
             "metadata": {"name": TWIN, "namespace": NS}, "subjects": subj,
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": TWIN}}]
    if where != "delegator":
        objs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                     "metadata": {"name": TWIN + "-delegator"}, "subjects": subj,
                     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                 "name": "system:auth-delegator"}})
    else:
        kube.run("delete", "clusterrolebinding", TWIN + "-delegator", "--ignore-not-found")
    kube.run("apply", "-f", "-", stdin={"apiVersion": "v1", "kind": "List", "items": objs})


def test_every_rule_is_granted_and_needed(kube, lp_ns):
    me, twin = Api(kube, SA), Api(kube, TWIN)
    EVENT["involvedObject"]["namespace"] = lp_ns
    rows = []
    try:
        for where, key, checks, argv in RULES:
            ns = NS if where == "role" else lp_ns
            for verb, resource, sub, *name in checks:  # name: a rule with resourceNames
                assert can_i(kube, ME, verb, resource, ns, sub, *name), (ME, verb, resource, sub)
            twin_grants(kube, (where, key))
            verb, resource, sub, *name = checks[0]
            wait_until(lambda: not can_i(kube, TWIN_AS, verb, resource, ns, sub, *name),
                       f"the twin to lose {verb} {resource}")
            if argv is None:
                rows.append((key, "can-i only"))
                continue
            method, path, body = argv
            path = path.replace("{ns}", lp_ns)
            status, doc = me(method, path, body)
            assert 200 <= status < 300, (key, method, path, status, doc)
            status, doc = twin(method, path, body)
            assert status == 403, (key, method, path, status, doc)
            rows.append((key, f"{method} {path}: 2xx as {SA}, 403 without the rule"))
    finally:
        print("\n".join(f"{k}: {v}" for k, v in rows))
    # the SubjectAccessReview the adapter makes answers for the HPA controller's account
    status, sar = me("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", "SAR")
    assert status == 201 and sar["status"]["allowed"] is True, sar


def test_the_authentication_configmap_and_the_hpa_reader(kube, installed):
    assert can_i(kube, ME, "get", "configmaps", "kube-system",
                 name="extension-apiserver-authentication")
    r = kube.run("-n", "kube-system", "get", "configmap", "extension-apiserver-authentication",
                 f"--as={ME}", "-o", "name", check=False)
    assert r.returncode == 0, r.stderr
    binding = kube.get("kube-system", "rolebinding", "ckeda-auth-reader")
    assert binding["roleRef"]["name"] == "extension-apiserver-authentication-reader"
    hpa = "system:serviceaccount:kube-system:horizontal-pod-autoscaler"
    for verb in ("get", "list"):
        assert can_i(kube, hpa, verb, "s0-redis-x.external.metrics.k8s.io", "default")
    assert not can_i(kube, hpa, "create", "s0-redis-x.external.metrics.k8s.io", "default")


def test_calls_ckeda_never_makes_are_refused(kube, installed):
    granted = [(v, r, s) for v, r, s in NEVER if can_i(kube, ME, v, r, "default", s)]
    assert not granted
    # the Lease is namespaced to ckeda's own namespace
    assert not can_i(kube, ME, "create", "leases.coordination.k8s.io", "default")
    r = kube.run("-n", "default", "get", "secrets", f"--as={ME}", check=False)
    assert r.returncode != 0 and "forbidden" in r.stderr.lower(), r.stderr


# ---------------------------------------------------------------- in-cluster mode

class InCluster(Ckeda):
    """`ckeda run` with in-cluster credentials only, mounted where a pod has them."""

    def __init__(self, kube, ns, sa_dir, log_dir, deployment):
        super().__init__(kube.kubeconfig, ns, log_dir)
        c = deployment["spec"]["template"]["spec"]["containers"][0]
        port = str(ADAPTER_PORT)
        certs = str(kube.kubeconfig.parent / "adapter-certs")
        # the Deployment's arguments, with what the shared test bed needs instead
        # (cert rotation off: it would replace the test bed's certificate and caBundles)
        local = {"--cert-dir": certs, "--secure-port": port, "--webhook-port": "0",
                 "--metrics-port": "0", "--health-port": "0", "--enable-cert-rotation": "false"}
        args = []
        for a in c["args"]:
            flag, _, value = a.partition("=")
            args.append(f"{flag}={local[flag]}" if flag in local else a)
        assert args[0] == "run" and set(local) <= {a.partition("=")[0] for a in args}, args
        args += [f"--shm-name={self.name}", f"--watch-namespace={ns}",
                 f"--leader-election-id=ckeda-e2e-{uuid.uuid4().hex[:8]}"]
        env = read_env(kube.kubeconfig.parent / "cluster.env")
        # no kubeconfig anywhere: not named, not in the environment, none under HOME
        self.env = {k: v for k, v in child_env().items() if k != "KUBECONFIG"}
        self.env["HOME"] = str(log_dir)
        for e in c["env"]:
            ref = e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
            self.env[e["name"]] = {"metadata.name": f"ckeda-e2e-{os.getpid()}",
                                   "metadata.namespace": NS}.get(ref, e.get("value", ""))
        self.env.update(KUBERNETES_SERVICE_HOST="127.0.0.1",
                        KUBERNETES_SERVICE_PORT=env["APISERVER_PORT"])
        # a private mount namespace: an overlay on /run holds the service-account directory
        work = pathlib.Path(log_dir) / "run-overlay"
        (work / "upper").mkdir(parents=True)
        (work / "work").mkdir()
        script = (f"mount -t overlay overlay -o lowerdir=/run,upperdir={work}/upper,"
                  f"workdir={work}/work /run && mkdir -p {SA_DIR} && "
                  f"mount --bind {sa_dir} {SA_DIR} && mount -o remount,bind,ro {SA_DIR} && "
                  'exec "$@"')
        unshare = ["unshare", "-m", "--propagation", "private"]
        if os.geteuid() != 0:
            unshare[1:1] = ["-U", "-r"]
        self.argv = [*unshare, "sh", "-c", script, "sh", str(CKEDA), *args]

    def start(self):
        for tool in (CKEDA, CKEDACTL):
            if not (tool.is_file() and os.access(tool, os.X_OK)):
                pytest.fail(f"{tool} is not built (set CKEDA_BIN to the build directory)")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=log, start_new_session=True, env=self.env)
        RUNNING.append(self)
        wait_until(lambda: self.alive_or_fail() and self.status().get("watcher_synced"),
                   "the watcher to list everything with in-cluster credentials")
        return self


def service_account_dir(kube, path):
    """What the kubelet mounts: a TokenRequest token, the namespace's kube-root-ca.crt, the
    namespace."""
    path.mkdir(mode=0o755)
    token = kube.run("-n", NS, "create", "token", SA, "--duration=2h").stdout.strip()
    ca = kube.get(NS, "configmap", "kube-root-ca.crt")["data"]["ca.crt"]
    (path / "token").write_text(token)
    (path / "ca.crt").write_text(ca)
    (path / "namespace").write_text(NS)
    for f in path.iterdir():
        f.chmod(0o644)
    return path


def tree_memory(c):
    """Bytes the pod's memory cgroup would be charged: each process's private pages, plus the
    table and config blobs in /dev/shm (tmpfs pages count against the pod)."""
    private = 0
    pids = {p["pid"] for p in c.ctl("workers")["processes"] if p.get("pid")} | {c.proc.pid}
    for pid in pids:
        try:
            text = pathlib.Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                private += int(line.split()[1]) * 1024
    shm = pathlib.Path("/dev/shm") / c.name
    table = shm.stat().st_blocks * 512
    blobs = sum(f.stat().st_blocks * 512 for f in pathlib.Path(f"{shm}.blobs").iterdir())
    return private, table, blobs


def test_in_cluster_mode_runs_the_skeleton_with_exactly_deploys_rbac(kube, installed,
                                                                      tmp_path_factory):
    if skel.port_busy(ADAPTER_PORT):
        pytest.fail(f"port {ADAPTER_PORT} is in use: another adapter serves the cluster; stop it first")
    deployment = kube.get(NS, "deployment", "ckeda")
    work = tmp_path_factory.mktemp("incluster")
    sa_dir = service_account_dir(kube, work / "serviceaccount")
    ns = kube.namespace("ckd")
    c = InCluster(kube, ns, sa_dir, work, deployment)
    assert "KUBECONFIG" not in c.env and "--kubeconfig" not in " ".join(c.argv)
    try:
        with RedisServer() as r:
            c.start()
            skel.test_redis_list_scales_0_1_n_0_and_survives_a_worker_kill((kube, ns, c), r)
            # it wrote as the ServiceAccount: the Lease it holds is in ckeda's namespace
            lease = c.argv[-1].partition("=")[2]
            holder = kube.get(NS, "lease", lease)["spec"]["holderIdentity"]
            assert holder.startswith(f"ckeda-e2e-{os.getpid()}"), holder
            private, table, blobs = tree_memory(c)
            total = private + table + blobs
            print(f"\nmemory: processes {private / MiB:.1f} MiB, table {table / MiB:.1f} MiB, "
                  f"blobs {blobs / 1024:.1f} KiB, total {total / MiB:.1f} MiB")
            req = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]
            assert req["requests"]["memory"] == "128Mi"
            assert total < 128 * MiB, total
            size = next(v for v in deployment["spec"]["template"]["spec"]["volumes"]
                        if v["name"] == "shm")["emptyDir"]["sizeLimit"]
            assert size == "64Mi" and table + blobs < 64 * MiB
    finally:
        c.stop()
        kube.drop_namespace(ns)
        if c.argv[-1].startswith("--leader-election-id="):
            kube.run("-n", NS, "delete", "lease", c.argv[-1].partition("=")[2],
                     "--ignore-not-found", check=False)
