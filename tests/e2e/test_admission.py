"""KEDA's admission rules in the watcher, on the real API server, against `ckeda validate`.

- The corpus of malformed and hostile ScaledObjects (tests/validate-corpus/) goes through the
  real API server file by file: what its schema refuses never reaches ckeda; what it accepts the
  watcher judges (Ready=False ScaledObjectCheckFailed with the rule's message, or served), and
  `ckeda validate --cluster` must say the same of every object ("served"). Nothing else in the
  namespace is disturbed and the watcher never restarts.
- Cluster rules: a second ScaledObject on a target is refused while the first exists and
  admitted once it is gone; an HPA someone else owns on the target refuses the ScaledObject
  until it is deleted.

Run: python3 -m pytest tests/e2e/test_admission.py -v   (CKEDA_BIN: the build directory)
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from test_watcher import ckeda, kube  # noqa: E402,F401
from test_watcher import (CKEDA, REPO, condition, deployment, redis,  # noqa: E402
                          scaled_object, wait_until)

CORPUS = REPO / "tests" / "validate-corpus"
DECIDED = ("ScaledObjectReady", "ScaledObjectCheckFailed", "TriggerError", "PartialTriggerError")


@pytest.fixture(scope="module")
def ns(kube):
    name = kube.namespace("cka")
    kube.apply(name, deployment("web", replicas=1))
    kube.apply(name, deployment("other", replicas=1))
    yield name
    kube.drop_namespace(name)


def expectation(path: pathlib.Path) -> str:
    return path.read_text(errors="replace").splitlines()[0]


def scaledobjects(path: pathlib.Path, ns: str) -> list:
    """The file's ScaledObjects (List items included), moved into ns."""
    out = []
    for doc in yaml.safe_load_all(path.read_text()):
        for obj in (doc or {}).get("items", [doc]) if isinstance(doc, dict) else []:
            if isinstance(obj, dict) and obj.get("kind") == "ScaledObject":
                obj.setdefault("metadata", {})["namespace"] = ns
                out.append(obj)
    return out


def validate_cluster(kube, path: pathlib.Path) -> dict:
    r = subprocess.run([str(CKEDA), "validate", "--cluster", "--kubeconfig", str(kube.kubeconfig),
                        "-o", "json", str(path)], capture_output=True, text=True, timeout=60)
    assert r.returncode in (0, 1), f"ckeda validate: {r.returncode}: {r.stderr}"
    return {o["name"]: o for o in json.loads(r.stdout)["objects"]}


def verdict(kube, ns, name):
    c = condition(kube.get(ns, "scaledobject", name), "Ready")
    return c if c and c.get("reason") in DECIDED else None


CASES = sorted(p for p in CORPUS.glob("*.yaml")
               if expectation(p).split()[2:3] in (["valid"], ["invalid"]))


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_corpus_watcher_agrees_with_ckeda_validate(kube, ns, ckeda, tmp_path, path):
    objs = scaledobjects(path, ns)
    if not objs:
        pytest.skip("no ScaledObject in this file")
    moved = tmp_path / "objects.json"
    moved.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objs}))
    kube.run("apply", "-f", str(moved), check=False)  # the schema may refuse some
    said = validate_cluster(kube, moved)
    try:
        for obj in objs:
            name = obj["metadata"].get("name")
            if not isinstance(name, str) or not kube.get(ns, "scaledobject", name):
                assert not said.get(name, {}).get("served", False), \
                    f"{name}: the API server refused it, ckeda validate would serve it"
                continue
            c = wait_until(lambda n=name: verdict(kube, ns, n), f"{name} judged by the watcher")
            served = c["reason"] != "ScaledObjectCheckFailed"
            assert said[name]["served"] == served, \
                f"{name}: watcher {c}, ckeda validate {said[name]}"
    finally:
        kube.run("-n", ns, "delete", "scaledobjects", "--all", "--timeout=60s")
    assert ckeda.watcher()["restarts"] == 0, ckeda.log_tail()


def test_second_object_on_a_target_is_refused_until_the_first_goes(kube, ns, ckeda):
    kube.apply(ns, scaled_object("first", "other", [redis("a")]))
    wait_until(lambda: verdict(kube, ns, "first"), "first judged")
    kube.apply(ns, scaled_object("second", "other", [redis("b")]))
    c = wait_until(lambda: (v := verdict(kube, ns, "second")) and
                   v["reason"] == "ScaledObjectCheckFailed" and v, "second refused")
    assert "first" in c["message"], c
    assert verdict(kube, ns, "first")["reason"] != "ScaledObjectCheckFailed"
    assert kube.get(ns, "hpa", "keda-hpa-second") is None, "a refused object got an HPA"
    kube.delete(ns, "scaledobject", "first")
    wait_until(lambda: (v := verdict(kube, ns, "second")) and
               v["reason"] != "ScaledObjectCheckFailed", "second admitted once first is gone")
    wait_until(lambda: kube.get(ns, "hpa", "keda-hpa-second"), "second's HPA")
    kube.delete(ns, "scaledobject", "second")


def their_hpa(name, target):
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                        "name": target},
                     "minReplicas": 1, "maxReplicas": 2,
                     "metrics": [{"type": "Resource", "resource": {
                         "name": "cpu", "target": {"type": "Utilization",
                                                   "averageUtilization": 50}}}]}}


def test_foreign_hpa_on_the_target_refuses_until_deleted(kube, ns, ckeda):
    kube.apply(ns, their_hpa("theirs", "other"))
    kube.apply(ns, scaled_object("late", "other", [redis("c")]))
    c = wait_until(lambda: (v := verdict(kube, ns, "late")) and
                   v["reason"] == "ScaledObjectCheckFailed" and v, "late refused")
    assert "theirs" in c["message"], c
    assert kube.get(ns, "hpa", "theirs")["spec"]["maxReplicas"] == 2, "their HPA was touched"
    kube.delete(ns, "hpa", "theirs")
    wait_until(lambda: (v := verdict(kube, ns, "late")) and
               v["reason"] != "ScaledObjectCheckFailed", "late admitted once their HPA is gone")
    kube.delete(ns, "scaledobject", "late")


def test_transfer_hpa_ownership_adopts_the_named_hpa(kube, ns, ckeda):
    kube.apply(ns, their_hpa("adopt-me", "other"))
    so = scaled_object("adopter", "other", [redis("d")], advanced={
        "horizontalPodAutoscalerConfig": {"name": "adopt-me"}})
    so["metadata"]["annotations"] = {"scaledobject.keda.sh/transfer-hpa-ownership": "true"}
    kube.apply(ns, so)
    hpa = wait_until(lambda: (h := kube.get(ns, "hpa", "adopt-me")) and
                     h["metadata"].get("labels", {}).get("scaledobject.keda.sh/name") ==
                     "adopter" and h, "adopt-me taken over")
    assert hpa["metadata"]["ownerReferences"][0]["name"] == "adopter"
    assert [m["type"] for m in hpa["spec"]["metrics"]] == ["External"]
    assert verdict(kube, ns, "adopter")["reason"] != "ScaledObjectCheckFailed"
    assert kube.get(ns, "hpa", "keda-hpa-adopter") is None, "a second HPA was made"
    kube.delete(ns, "scaledobject", "adopter")
