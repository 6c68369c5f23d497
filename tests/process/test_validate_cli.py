"""`ckeda validate` over the corpus of malformed and hostile manifests (tests/validate-corpus).

Each corpus file starts with one `# expect:` line per object it holds, in order:
`# expect: valid`, `# expect: invalid <reason>` (the reason is among the object's errors),
`# expect: skipped` (not a keda.sh object), or `# expect: error` (the file itself is refused).
The test checks the exit code (0 valid, 1 invalid or refused), the one line per object of the
text output, and the same verdicts in `-o json`.
"""

import json
import subprocess

import pytest

from conftest import CKEDA, SRC, budget

CORPUS = SRC / "tests" / "validate-corpus"
FILES = sorted(CORPUS.glob("*.yaml"))


def expectations(path):
    out = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        if line.startswith("# expect:"):
            out.append(line.split(":", 1)[1].split())
    assert out, f"{path.name} has no '# expect:' line"
    return out


def run(*args, stdin=None):
    return subprocess.run([str(CKEDA), "validate", *args], input=stdin, capture_output=True,
                          text=True, timeout=budget(60))


def test_corpus_is_there():
    assert len(FILES) >= 20


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_validate_text(path):
    exp = expectations(path)
    p = run(str(path))
    assert p.returncode == (0 if all(e[0] in ("valid", "skipped") for e in exp) else 1), p.stderr
    lines = p.stdout.splitlines()
    if exp[0][0] == "error":
        assert lines == []
        assert path.name in p.stderr and "line " in p.stderr
        return
    assert len(lines) == len(exp), p.stdout
    for line, e in zip(lines, exp):
        if e[0] == "valid":
            assert ": valid" in line and ": invalid" not in line, line
        elif e[0] == "skipped":
            assert ": skipped: " in line, line
        else:
            assert ": invalid: " in line, line
            assert f" {e[1]}: " in line, line
    if any(e[0] in ("valid", "invalid") for e in exp) and "ScaledObject" in p.stdout:
        assert p.stderr.count("rules that need cluster state") == 1


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_validate_json(path):
    exp = expectations(path)
    p = run("-o", "json", str(path))
    doc = json.loads(p.stdout)
    assert set(doc) >= {"objects", "skipped", "errors"}
    if exp[0][0] == "error":
        assert p.returncode == 1 and doc["objects"] == [] and len(doc["errors"]) == 1
        return
    checked = [e for e in exp if e[0] != "skipped"]
    assert len(doc["objects"]) == len(checked)
    assert len(doc["skipped"]) == len(exp) - len(checked)
    for obj, e in zip(doc["objects"], checked):
        assert set(obj) >= {"kind", "namespace", "name", "valid", "findings",
                            "cluster_rules_skipped"}
        assert obj["valid"] == (e[0] == "valid")
        for f in obj["findings"]:
            assert f["reason"] and f["message"] and isinstance(f["warning"], bool)
        if e[0] == "invalid":
            assert e[1] in [f["reason"] for f in obj["findings"] if not f["warning"]]
        if obj["kind"] == "ScaledObject":
            assert obj["cluster_rules_skipped"] is True
    assert p.returncode == (0 if all(o["valid"] for o in doc["objects"]) else 1)


def test_validate_stdin_and_several_files():
    valid = (CORPUS / "valid-redis.yaml").read_text()
    p = run("-", str(CORPUS / "min-above-max.yaml"), stdin=valid)
    assert p.returncode == 1
    assert p.stdout.splitlines() == [
        "ScaledObject shop/orders: valid",
        "ScaledObject shop/orders: invalid: incorrect-replicas: MinReplicaCount=5 must be less "
        "than MaxReplicaCount=2",
    ]


def test_validate_default_namespace_and_json_input():
    obj = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "j"},
           "spec": {"scaleTargetRef": {"name": "web"},
                    "triggers": [{"type": "redis", "metadata": {"listName": "l",
                                                                "address": "r:6379"}}]}}
    p = run("-", stdin=json.dumps(obj))
    assert p.returncode == 0 and p.stdout == "ScaledObject default/j: valid\n"


@pytest.mark.parametrize("args", [[], ["-o", "yaml", "x"], ["--bogus", "x"]])
def test_validate_usage_errors(args):
    p = run(*args)
    assert p.returncode == 78
    assert "usage: ckeda validate" in p.stderr


def test_validate_unreadable_file(tmp_path):
    p = run(str(tmp_path / "missing.yaml"))
    assert p.returncode == 1 and "missing.yaml" in p.stderr and p.stdout == ""
