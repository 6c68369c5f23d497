"""Tests of the keda.sh/v1alpha1 CRDs in deploy/crds/.

Two groups:

* static (no marker): the CRD files load, carry KEDA's names, short names, printer columns and
  status subresource, and every manifest under manifests/ behaves as it must under the schemas,
  checked offline with crdschema.py: valid ones validate and lose no field to pruning, invalid
  ones are rejected on the field they name, status samples survive, and the valid manifests
  together set every declared field and every enum value.
      pytest tests/crds -m "not cluster"

* cluster (marker `cluster`): against a real kube-apiserver. Needs KUBECONFIG (the last line
  printed by `tests/e2e/cluster.sh up`) and kubectl (KUBECTL, else the kubectl built by
  tests/e2e/build-k8s.sh, else the one on PATH). Installs the CRDs, waits for Established, then
  in a fresh namespace: `kubectl apply --dry-run=server -o json` of every valid manifest must
  return the object unchanged except for EXPECTED_DEFAULTS; every invalid manifest must be
  rejected with a message naming its field; every status sample must survive a /status patch.
  Without a reachable cluster these tests FAIL; they never skip.
      KUBECONFIG=... pytest tests/crds -m cluster
"""

import functools
import glob
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import yaml

import crdschema

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CRD_DIR = REPO / "deploy" / "crds"
MANIFESTS = HERE / "manifests"

GROUP = "keda.sh"
VERSION = "v1alpha1"

# What KEDA's CRDs declare (reference keda.md §1.1-§1.3, §1.15, §1.16). KEDA sets no categories.
KINDS = {
    "ScaledObject": {
        "file": "keda.sh_scaledobjects.yaml",
        "plural": "scaledobjects",
        "singular": "scaledobject",
        "shortNames": ["so"],
        "scope": "Namespaced",
        "columns": [
            ("ScaleTargetKind", "string", ".status.scaleTargetKind", 0),
            ("ScaleTargetName", "string", ".spec.scaleTargetRef.name", 0),
            ("Min", "integer", ".spec.minReplicaCount", 0),
            ("Max", "integer", ".spec.maxReplicaCount", 0),
            ("Ready", "string", '.status.conditions[?(@.type=="Ready")].status', 0),
            ("Active", "string", '.status.conditions[?(@.type=="Active")].status', 0),
            ("Fallback", "string", '.status.conditions[?(@.type=="Fallback")].status', 0),
            ("Paused", "string", '.status.conditions[?(@.type=="Paused")].status', 0),
            ("Triggers", "string", ".status.triggersTypes", 0),
            ("Authentications", "string", ".status.authenticationsTypes", 0),
            ("Age", "date", ".metadata.creationTimestamp", 0),
        ],
    },
    "ScaledJob": {
        "file": "keda.sh_scaledjobs.yaml",
        "plural": "scaledjobs",
        "singular": "scaledjob",
        "shortNames": ["sj"],
        "scope": "Namespaced",
        "columns": [
            ("Min", "integer", ".spec.minReplicaCount", 0),
            ("Max", "integer", ".spec.maxReplicaCount", 0),
            ("Ready", "string", '.status.conditions[?(@.type=="Ready")].status', 0),
            ("Active", "string", '.status.conditions[?(@.type=="Active")].status', 0),
            ("Paused", "string", '.status.conditions[?(@.type=="Paused")].status', 0),
            ("Triggers", "string", ".status.triggersTypes", 0),
            ("Authentications", "string", ".status.authenticationsTypes", 0),
            ("Age", "date", ".metadata.creationTimestamp", 0),
        ],
    },
    "TriggerAuthentication": {
        "file": "keda.sh_triggerauthentications.yaml",
        "plural": "triggerauthentications",
        "singular": "triggerauthentication",
        "shortNames": ["ta", "triggerauth"],
        "scope": "Namespaced",
        "columns": [
            ("PodIdentity", "string", ".spec.podIdentity.provider", 0),
            ("Secret", "string", ".spec.secretTargetRef[*].name", 0),
            ("Env", "string", ".spec.env[*].name", 0),
            ("VaultAddress", "string", ".spec.hashiCorpVault.address", 0),
            ("ScaledObjects", "string", ".status.scaledobjects", 1),
            ("ScaledJobs", "string", ".status.scaledjobs", 1),
        ],
    },
    "ClusterTriggerAuthentication": {
        "file": "keda.sh_clustertriggerauthentications.yaml",
        "plural": "clustertriggerauthentications",
        "singular": "clustertriggerauthentication",
        "shortNames": ["cta", "clustertriggerauth"],
        "scope": "Cluster",
        "columns": [
            ("PodIdentity", "string", ".spec.podIdentity.provider", 0),
            ("Secret", "string", ".spec.secretTargetRef[*].name", 0),
            ("Env", "string", ".spec.env[*].name", 0),
            ("FilePath", "string", ".spec.filePath", 0),
            ("VaultAddress", "string", ".spec.hashiCorpVault.address", 0),
            ("ScaledObjects", "string", ".status.scaledobjects", 1),
            ("ScaledJobs", "string", ".status.scaledjobs", 1),
        ],
    },
}

# The defaults the API server adds to a keda.sh object, and nothing else: the cluster test
# expects exactly these on top of the submitted manifest, so a pruned or rewritten field fails.
# (KEDA's own defaults — pollingInterval 30, cooldownPeriod 300, ... — live in the operator,
# not in the CRD, and are not written into the object.)
EXPECTED_DEFAULTS = {
    "ScaledObject": {"spec.fallback.behavior": "static"},
    "ScaledJob": {},
    "TriggerAuthentication": {"spec.oauth2.type": "clientCredentials"},
    "ClusterTriggerAuthentication": {"spec.oauth2.type": "clientCredentials"},
}

# The only places where the schema keeps unknown fields (see deploy/crds/README.md).
PRESERVE_UNKNOWN = {
    "ScaledObject": set(),
    "ScaledJob": {"spec.jobTargetRef.template.spec", "spec.jobTargetRef.template.spec.containers[]"},
    "TriggerAuthentication": set(),
    "ClusterTriggerAuthentication": set(),
}


# ---- loading -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def load_crd(kind):
    # Cached: callers must not modify the returned object.
    with open(CRD_DIR / KINDS[kind]["file"]) as f:
        return yaml.safe_load(f)


def crd_schema(kind):
    return load_crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def read_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def manifest_docs(sub):
    """[(id, doc)] for every document under manifests/<sub>/, in a stable order."""
    out = []
    for path in sorted((MANIFESTS / sub).glob("*.yaml")):
        for doc in read_docs(path):
            out.append((f"{path.name}#{doc['metadata']['name']}", doc))
    return out


def invalid_cases():
    """[(file name, doc, [field], message or None)] from the `# field:`/`# message:` headers."""
    out = []
    for path in sorted((MANIFESTS / "invalid").glob("*.yaml")):
        text = path.read_text()
        fields = re.findall(r"^# field: (\S+)\s*$", text, re.M)
        message = re.findall(r"^# message: (.+?)\s*$", text, re.M)
        docs = read_docs(path)
        assert len(docs) == 1, f"{path.name}: one object per invalid manifest"
        assert fields, f"{path.name}: needs a '# field: <path>' header"
        out.append((path.name, docs[0], fields, message[0] if message else None))
    return out


VALID = manifest_docs("valid")
STATUS = manifest_docs("status")
INVALID = invalid_cases()


# ---- static: the CRD files -----------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_crd_file_is_one_plain_yaml_document(kind):
    path = CRD_DIR / KINDS[kind]["file"]
    with open(path) as f:
        events = list(yaml.parse(f))
    # No anchors or aliases: some manifest tools mishandle them.
    assert not [e for e in events if isinstance(e, yaml.AliasEvent)], f"{path.name} uses YAML aliases"
    assert not [e for e in events if getattr(e, "anchor", None)], f"{path.name} uses YAML anchors"
    assert len(read_docs(path)) == 1


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_crd_names_scope_and_version(kind):
    want = KINDS[kind]
    crd = load_crd(kind)
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["kind"] == "CustomResourceDefinition"
    assert crd["metadata"]["name"] == f"{want['plural']}.{GROUP}"
    spec = crd["spec"]
    assert spec["group"] == GROUP
    assert spec["scope"] == want["scope"]
    assert spec["names"] == {
        "kind": kind,
        "listKind": kind + "List",
        "plural": want["plural"],
        "singular": want["singular"],
        "shortNames": want["shortNames"],
    }
    assert "categories" not in spec["names"]  # as KEDA: `kubectl get all` does not list them
    [version] = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == (VERSION, True, True)
    assert version["subresources"] == {"status": {}}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_crd_printer_columns(kind):
    [version] = load_crd(kind)["spec"]["versions"]
    got = [
        (c["name"], c["type"], c["jsonPath"], c.get("priority", 0))
        for c in version["additionalPrinterColumns"]
    ]
    assert got == KINDS[kind]["columns"]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_crd_schema_is_structural(kind):
    """Every node has a type (or is int-or-string), as the API server demands of v1 CRDs."""
    schema = crd_schema(kind)
    assert schema["type"] == "object"
    assert set(schema["properties"]) == {"apiVersion", "kind", "metadata", "spec", "status"}
    for path, node in crdschema.schema_nodes(schema):
        if node.get("x-kubernetes-int-or-string"):
            assert node.get("anyOf") == [{"type": "integer"}, {"type": "string"}], path
            continue
        assert node.get("type") in {"object", "array", "string", "integer", "boolean", "number"}, path
        if node["type"] == "array":
            assert isinstance(node.get("items"), dict), f"{path}: array without items"
        if node.get("x-kubernetes-list-type") == "map":
            keys = node["x-kubernetes-list-map-keys"]
            assert set(keys) <= set(node["items"].get("required", [])), f"{path}: map keys must be required"
        for req in node.get("required", []):
            assert req in node.get("properties", {}), f"{path}: required {req} is not declared"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_preserve_unknown_fields_only_where_documented(kind):
    nodes = crdschema.schema_nodes(crd_schema(kind))
    got = {p for p, n in nodes if n.get("x-kubernetes-preserve-unknown-fields")}
    assert got == PRESERVE_UNKNOWN[kind]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_crd_defaults_are_exactly_the_expected_ones(kind):
    assert crdschema.schema_defaults(crd_schema(kind)) == EXPECTED_DEFAULTS[kind]
    for path in EXPECTED_DEFAULTS[kind]:
        assert "[" not in path and "{" not in path  # apply_defaults handles plain paths only


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_cel_rules_have_offline_equivalents(kind):
    for path, node in crdschema.schema_nodes(crd_schema(kind)):
        for rule in node.get("x-kubernetes-validations", []):
            assert crdschema.norm_rule(rule["rule"]) in crdschema.CEL_RULES, (path, rule["rule"])
            assert rule.get("message"), f"{path}: CEL rule without a message"


def test_scaledobject_min_max_cel_rule():
    [rule] = crd_schema("ScaledObject")["properties"]["spec"]["x-kubernetes-validations"]
    assert rule["message"] == "minReplicaCount must be less than or equal to maxReplicaCount"


def test_cluster_trigger_authentication_has_the_same_spec():
    ta, cta = crd_schema("TriggerAuthentication"), crd_schema("ClusterTriggerAuthentication")
    assert ta["properties"]["spec"] == cta["properties"]["spec"]
    assert ta["properties"]["status"] == cta["properties"]["status"]


def test_repeated_blocks_are_identical():
    """The four podIdentity blocks and all secretKeyRef blocks must not drift apart."""
    spec = crd_schema("TriggerAuthentication")["properties"]["spec"]
    nodes = dict(crdschema.schema_nodes(spec))
    pod = [n for p, n in nodes.items() if p.endswith("podIdentity")]
    refs = [n for p, n in nodes.items() if p.endswith("secretKeyRef")]
    assert len(pod) == 4 and len(refs) == 6
    strip = lambda n: json.dumps(n, sort_keys=True)
    assert len({strip(n) for n in pod}) == 1
    assert len({strip(n) for n in refs}) == 1
    so_rules = crd_schema("ScaledObject")["properties"]["spec"]["properties"]["advanced"]["properties"][
        "horizontalPodAutoscalerConfig"]["properties"]["behavior"]["properties"]
    assert so_rules["scaleUp"] == so_rules["scaleDown"]
    so_trig = crd_schema("ScaledObject")["properties"]["spec"]["properties"]["triggers"]
    sj_trig = crd_schema("ScaledJob")["properties"]["spec"]["properties"]["triggers"]
    assert strip(_no_descriptions(so_trig)) == strip(_no_descriptions(sj_trig))


def _no_descriptions(node):
    if isinstance(node, dict):
        return {k: _no_descriptions(v) for k, v in node.items() if k != "description"}
    if isinstance(node, list):
        return [_no_descriptions(v) for v in node]
    return node


# ---- static: the manifests -----------------------------------------------------------------


@pytest.mark.parametrize("case_id,doc", VALID, ids=[c for c, _ in VALID])
def test_valid_manifest_validates_and_nothing_is_pruned(case_id, doc):
    assert doc["apiVersion"] == f"{GROUP}/{VERSION}"
    assert "status" not in doc, "valid manifests carry no status (see manifests/status/)"
    assert "namespace" not in doc["metadata"], "the tests choose the namespace"
    assert crdschema.prune_errors(doc, crd_schema(doc["kind"])) == []
    assert crdschema.all_errors(doc, crd_schema(doc["kind"])) == []


@pytest.mark.parametrize("case_id,doc", STATUS, ids=[c for c, _ in STATUS])
def test_status_sample_validates_and_nothing_is_pruned(case_id, doc):
    assert doc.get("status"), "a status sample needs a status"
    assert crdschema.all_errors(doc, crd_schema(doc["kind"])) == []


@pytest.mark.parametrize("name,doc,fields,message", INVALID, ids=[c[0] for c in INVALID])
def test_invalid_manifest_is_rejected_on_its_field(name, doc, fields, message):
    errors = crdschema.all_errors(doc, crd_schema(doc["kind"]))
    got = {f for f, _ in errors}
    for field in fields:
        assert field in got, f"expected an error on {field}, got {errors}"
    # Offline, only CEL messages are ours to compare: the other messages come from the
    # jsonschema library and differ from the API server's (the cluster test checks those).
    cel_messages = {
        rule["message"]
        for _, node in crdschema.schema_nodes(crd_schema(doc["kind"]))
        for rule in node.get("x-kubernetes-validations", [])
    }
    if message in cel_messages:
        assert message in {m for _, m in errors}, f"expected {message!r}, got {errors}"


def test_manifest_names_are_unique_per_kind():
    seen = set()
    for _, doc in VALID + STATUS:
        key = (doc["kind"], doc["metadata"]["name"])
        assert key not in seen, key
        seen.add(key)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_valid_manifests_set_every_field(kind):
    """Together, the valid manifests set every declared spec field; the status samples every
    status field. So a field the CRD would prune cannot hide from the cluster round trip."""
    schema = crd_schema(kind)
    declared = {p for p, _ in crdschema.schema_nodes(schema) if p.startswith(("spec.", "status."))}
    seen = set()
    for _, doc in VALID + STATUS:
        if doc["kind"] == kind:
            seen |= {p for p, _ in crdschema.object_paths(doc, schema)}
    assert sorted(declared - seen) == []


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_valid_manifests_use_every_enum_value(kind):
    """Every enum value appears in some valid manifest (after defaulting), per enum field name."""
    schema = crd_schema(kind)
    wanted, seen = {}, {}
    for path, node in crdschema.schema_nodes(schema):
        if "enum" in node:
            key = path.rsplit(".", 1)[-1]
            wanted.setdefault(key, set()).update(node["enum"])
    for _, doc in VALID:
        if doc["kind"] != kind:
            continue
        doc = crdschema.apply_defaults(doc, EXPECTED_DEFAULTS[kind])
        for path, value in crdschema.object_paths(doc, schema):
            key = path.rsplit(".", 1)[-1]
            if key in wanted and isinstance(value, str):
                seen.setdefault(key, set()).add(value)
    for key, values in wanted.items():
        assert values <= seen.get(key, set()), f"{key}: unused enum values {values - seen.get(key, set())}"


def test_every_kind_has_valid_invalid_and_status_manifests():
    for kind in KINDS:
        assert any(d["kind"] == kind for _, d in VALID), kind
        assert any(d["kind"] == kind for _, d, _, _ in INVALID), kind
        assert any(d["kind"] == kind for _, d in STATUS), kind


# ---- cluster -------------------------------------------------------------------------------


def _find_kubectl():
    if os.environ.get("KUBECTL"):
        return os.environ["KUBECTL"]
    cache = os.environ.get("CKEDA_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "ckeda")
    built = sorted(glob.glob(os.path.join(cache, "k8s", "*", "bin", "kubectl")))
    if built:
        return built[-1]
    return shutil.which("kubectl")


class Kube:
    """kubectl against the cluster of $KUBECONFIG, with a discovery cache private to this run."""

    def __init__(self, kubectl, cache_dir):
        self.kubectl = kubectl
        self.cache_dir = cache_dir

    def run(self, *args, stdin=None, check=True, timeout=120):
        cmd = [self.kubectl, f"--cache-dir={self.cache_dir}", *args]
        proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            pytest.fail(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr}{proc.stdout}")
        return proc

    def json(self, *args, stdin=None):
        return json.loads(self.run(*args, "-o", "json", stdin=stdin).stdout)


@pytest.fixture(scope="session")
def kube():
    kubeconfig = os.environ.get("KUBECONFIG")
    if not kubeconfig or not os.path.exists(kubeconfig.split(os.pathsep)[0]):
        pytest.fail(
            "cluster test needs KUBECONFIG: run `tests/e2e/cluster.sh up` and export "
            f"KUBECONFIG=<its last output line> (KUBECONFIG={kubeconfig!r})"
        )
    kubectl = _find_kubectl()
    if not kubectl:
        pytest.fail("no kubectl: set KUBECTL, build it with tests/e2e/build-k8s.sh, or put it on PATH")
    with tempfile.TemporaryDirectory(prefix="ckeda-crd-kubectl-") as cache_dir:
        k = Kube(kubectl, cache_dir)
        proc = k.run("version", "-o", "json", check=False, timeout=30)
        if proc.returncode != 0 or "serverVersion" not in proc.stdout:
            pytest.fail(f"cluster of KUBECONFIG={kubeconfig} is not reachable:\n{proc.stderr}")
        yield k


@pytest.fixture(scope="session")
def crds(kube):
    """Install (or update) our CRDs and wait until the API server serves all four kinds."""
    kube.run("apply", "--server-side", "--force-conflicts", "--field-manager=ckeda-crd-test",
             "-f", str(CRD_DIR))
    names = [f"crd/{k['plural']}.{GROUP}" for k in KINDS.values()]
    kube.run("wait", "--for=condition=Established", "--timeout=60s", *names)
    deadline = time.monotonic() + 60
    want = {k["plural"] for k in KINDS.values()}
    while True:
        out = kube.run("api-resources", f"--api-group={GROUP}", "-o", "name", check=False).stdout
        if want <= {line.split(".")[0] for line in out.split()}:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{GROUP} kinds not in discovery after 60 s: {out!r}")
        time.sleep(0.5)


@pytest.fixture(scope="session")
def run_id():
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def namespace(kube, crds, run_id):
    name = f"ckeda-crds-{run_id}"
    kube.run("create", "namespace", name)
    yield name
    kube.run("delete", "namespace", name, "--wait=false", check=False)


def _server_object(result):
    if result.get("kind") == "List":
        [result] = result["items"]
    return result


def _assert_round_trip(sent, got, kind):
    expected = crdschema.apply_defaults(sent, EXPECTED_DEFAULTS[kind])
    assert got["apiVersion"] == sent["apiVersion"] and got["kind"] == kind
    assert got.get("spec") == expected.get("spec"), (
        "the API server changed the spec beyond EXPECTED_DEFAULTS (pruned or defaulted a field)"
    )
    meta = got["metadata"]
    annotations = {
        k: v for k, v in meta.get("annotations", {}).items()
        if k != "kubectl.kubernetes.io/last-applied-configuration"
    }
    assert annotations == sent["metadata"].get("annotations", {})
    assert meta.get("labels", {}) == sent["metadata"].get("labels", {})
    assert "status" not in got or not got["status"]


@pytest.mark.cluster
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_cluster_crd_is_served_as_written(kube, crds, kind):
    crd = kube.json("get", f"crd/{KINDS[kind]['plural']}.{GROUP}")
    local = load_crd(kind)["spec"]
    assert crd["status"]["acceptedNames"]["shortNames"] == local["names"]["shortNames"]
    conds = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conds.get("Established") == "True" and conds.get("NamesAccepted") == "True"
    served = crd["spec"]["versions"][0]
    assert served["additionalPrinterColumns"] == local["versions"][0]["additionalPrinterColumns"]
    assert served["subresources"] == {"status": {}}
    # The server keeps the schema exactly as written (no pruning of our own schema keywords).
    assert served["schema"]["openAPIV3Schema"] == local["versions"][0]["schema"]["openAPIV3Schema"]


@pytest.mark.cluster
@pytest.mark.parametrize("short", [s for k in KINDS.values() for s in k["shortNames"]])
def test_cluster_short_names_resolve(kube, namespace, short):
    kube.run("get", short, "-n", namespace)


@pytest.mark.cluster
@pytest.mark.parametrize("case_id,doc", VALID, ids=[c for c, _ in VALID])
def test_cluster_valid_manifest_round_trips(kube, namespace, case_id, doc):
    sent = json.dumps(doc)
    got = _server_object(kube.json("apply", "--dry-run=server", "-n", namespace, "-f", "-", stdin=sent))
    _assert_round_trip(doc, got, doc["kind"])


@pytest.mark.cluster
@pytest.mark.parametrize("name,doc,fields,message", INVALID, ids=[c[0] for c in INVALID])
def test_cluster_invalid_manifest_is_rejected(kube, namespace, name, doc, fields, message):
    sent = json.dumps(doc)
    proc = kube.run("apply", "--dry-run=server", "-n", namespace, "-f", "-", stdin=sent, check=False)
    assert proc.returncode != 0, f"{name} was admitted:\n{proc.stdout}"
    err = proc.stderr
    for field in fields:
        assert re.search(r"(^|[\s*])" + re.escape(field) + r": ", err), f"{field} not named in:\n{err}"
    if message:
        assert message in err, f"{message!r} not in:\n{err}"


@pytest.mark.cluster
@pytest.mark.parametrize("case_id,doc", STATUS, ids=[c for c, _ in STATUS])
def test_cluster_status_survives_status_patch(kube, namespace, run_id, case_id, doc):
    kind = doc["kind"]
    plural = KINDS[kind]["plural"]
    obj = {k: v for k, v in doc.items() if k != "status"}
    obj["metadata"] = dict(doc["metadata"])
    where = ["-n", namespace]
    if KINDS[kind]["scope"] == "Cluster":
        obj["metadata"]["name"] = f"{doc['metadata']['name']}-{run_id}"
        where = []
    name = obj["metadata"]["name"]
    created = kube.json("create", *where, "-f", "-", stdin=json.dumps(obj))
    try:
        _assert_round_trip(obj, created, kind)
        patched = kube.json(
            "patch", f"{plural}.{GROUP}", name, *where, "--subresource=status", "--type=merge",
            "-p", json.dumps({"status": doc["status"]}),
        )
        assert patched["status"] == doc["status"]
        assert patched["spec"] == created["spec"]
        again = kube.json("get", f"{plural}.{GROUP}", name, *where)
        assert again["status"] == doc["status"]
    finally:
        kube.run("delete", f"{plural}.{GROUP}", name, *where, "--wait=false", check=False)
