"""Credentials from the scale target's container environment, end to end, and the canary test.

Everything is real: kube-apiserver (tests/e2e/README.md), a redis-server that requires a
password (tests/integration/sources.py), a loopback HTTP source for metrics-api, and ckeda
serving the cluster's metrics API on $CKEDA_ADAPTER_PORT with the certificate `cluster.sh up`
issued (as test_skeleton.py does).

- `passwordFromEnv` naming an env var of the Deployment's container that is
  `valueFrom.secretKeyRef` (and, in a second trigger of the same object, one that comes from an
  `envFrom` secretRef with a prefix), with envSourceContainerName picking the second container:
  the password reaches redis, the list length reaches the table.
- A TriggerAuthentication `env` source (parameter password, containerName) does the same.
- envSourceContainerName naming no container is KEDA's error, in the table.
- The canary: one random password is the redis password, the value of the Secret the
  Deployments reference, a redis trigger's `password` metadata, and the userinfo and a query
  key of metrics-api URLs (one reachable, one not, so error texts are made from it). It must
  never appear in the shared table (the file under /dev/shm), a snapshot, ckeda's logs (at debug
  level), any ScaledObject status, Events, or /proc/<pid>/cmdline and /proc/<pid>/environ of
  any ckeda process. (The config blobs beside the table hold trigger metadata by design and are
  not part of the table; DESIGN.md.)

Run: CKEDA_BIN=<build dir> CKEDA_SRC=<repo> python3 -m pytest -q tests/e2e/test_auth_env.py
"""

from __future__ import annotations

import base64
import json
import os
import pathlib
import secrets
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

from sources import HttpSource, RedisServer, free_port  # noqa: E402
from test_skeleton import apiservice_available, port_busy  # noqa: E402
from test_watcher import (CKEDACTL, Ckeda, Kube, cluster_up, scaled_object,  # noqa: E402
                          wait_until)

PORT = int(os.environ.get("CKEDA_ADAPTER_PORT", "7443"))
CANARY = "ckeda-canary-" + secrets.token_hex(8)
SLOW = 120.0  # the aggregator discovering the adapter: generous


# ---------------------------------------------------------------- sources

class Canary:
    """What the metrics-api source answers (an HttpSource's respond): {"value": 7} when the
    request carries the canary as its `token` query key, 401 otherwise; `seen` records, request
    by request, whether it did."""

    def __init__(self):
        self.seen = []

    def __call__(self, path, query, headers):
        self.seen.append(query.get("token", [""])[0] == CANARY)
        ok = query.get("token") == [CANARY]
        return (200, json.dumps({"value": 7})) if ok else (401, json.dumps({"error": "no"}))


# ---------------------------------------------------------------- objects

def secret(name, data):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def deployment_with(name, containers):
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 0, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": containers}}}}


def container(name, env=(), env_from=()):
    c = {"name": name, "image": "registry.k8s.io/pause:3.10"}
    if env:
        c["env"] = list(env)
    if env_from:
        c["envFrom"] = list(env_from)
    return c


PW_FROM_SECRET = {"name": "REDIS_PW",
                  "valueFrom": {"secretKeyRef": {"name": "redis-secret", "key": "pw"}}}


def redis_trigger(r, list_name, **metadata):
    return {"type": "redis", "metadata": {"address": r.address, "listName": list_name,
                                          "listLength": "5", **metadata}}


def so_with_target(name, target, triggers, container_name=None):
    doc = scaled_object(name, target, triggers, pollingInterval=1, minReplicaCount=0,
                        maxReplicaCount=2)
    if container_name:
        doc["spec"]["scaleTargetRef"]["envSourceContainerName"] = container_name
    return doc


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def kube():
    return Kube(cluster_up())


@pytest.fixture(scope="module")
def redis_server():
    with RedisServer(password=CANARY) as r:
        yield r


@pytest.fixture(scope="module")
def metrics_source():
    with HttpSource(Canary(), keep_alive=False) as m:
        yield m


@pytest.fixture(scope="module")
def env(kube, redis_server, tmp_path_factory):
    if port_busy(PORT):
        pytest.fail(f"port {PORT} is in use: another adapter serves the cluster; stop it first")
    ns = kube.namespace("cka")
    kube.apply(ns, secret("redis-secret", {"pw": CANARY}))
    certs = kube.kubeconfig.parent / "adapter-certs"
    c = Ckeda(kube.kubeconfig, ns, tmp_path_factory.mktemp("ckeda"),
              extra=("--secure-port", str(PORT), "--cert-dir", str(certs),
                     "--log-level", "debug"))
    try:
        c.start()
        yield kube, ns, c
    finally:
        c.stop()
        kube.drop_namespace(ns)


def triggers_settled(c, ns, name, n):
    doc = c.so(ns, name)
    ts = (doc or {}).get("triggers") or []
    return len(ts) == n and all(t["state"] != "ERROR" or t["error"] for t in ts) and ts


def values(c, ns, name, want):
    """The triggers' values once they are `want` (a list), else None."""
    ts = (c.so(ns, name) or {}).get("triggers") or []
    got = [t["value"] for t in sorted(ts, key=lambda t: t["index"])]
    return got == want and ts


def trigger_error(c, ns, name, text):
    ts = (c.so(ns, name) or {}).get("triggers") or []
    return any(t["state"] == "ERROR" and text in (t["error"] or "") for t in ts) and ts


# ---------------------------------------------------------------- tests

def test_password_from_env_of_the_target_container(env, redis_server):
    """passwordFromEnv: a secretKeyRef variable, and an envFrom secretRef with a prefix, of the
    container envSourceContainerName names (not the first); redis accepts it."""
    kube, ns, c = env
    r = redis_server
    r.command("RPUSH", "env-list", "a", "b", "c")
    kube.apply(ns, deployment_with("web-env", [
        container("sidecar", env=[{"name": "REDIS_PW", "value": "not-this-one"}]),
        container("app", env=[PW_FROM_SECRET],
                  env_from=[{"prefix": "R_", "secretRef": {"name": "redis-secret"}}]),
    ]))
    kube.apply(ns, so_with_target("env-so", "web-env", [
        redis_trigger(r, "env-list", passwordFromEnv="REDIS_PW"),
        redis_trigger(r, "env-list", passwordFromEnv="R_pw"),
    ], container_name="app"))
    ts = wait_until(lambda: values(c, ns, "env-so", [3, 3]),
                    "both triggers to read the list with the password from the env")
    assert all(t["state"] == "ACTIVE" for t in ts), ts
    # the value follows the source: the password keeps working poll after poll
    r.command("RPUSH", "env-list", "d")
    wait_until(lambda: values(c, ns, "env-so", [4, 4]), "the triggers to read 4 items")


def test_trigger_authentication_env_source(env, redis_server):
    """A TriggerAuthentication `env` source with containerName resolves the password."""
    kube, ns, c = env
    r = redis_server
    r.command("RPUSH", "ta-list", "a", "b")
    kube.apply(ns, deployment_with("web-ta", [
        container("first"), container("app", env=[PW_FROM_SECRET])]))
    kube.apply(ns, {"apiVersion": "keda.sh/v1alpha1", "kind": "TriggerAuthentication",
                    "metadata": {"name": "redis-env-auth"},
                    "spec": {"env": [{"parameter": "password", "name": "REDIS_PW",
                                      "containerName": "app"}]}})
    trig = redis_trigger(r, "ta-list")
    trig["authenticationRef"] = {"name": "redis-env-auth"}
    kube.apply(ns, so_with_target("ta-so", "web-ta", [trig]))
    wait_until(lambda: values(c, ns, "ta-so", [2]),
               "the trigger to read the list with the password from the TA env source")


def test_missing_container_is_kedas_error(env, redis_server):
    kube, ns, c = env
    r = redis_server
    kube.apply(ns, deployment_with("web-nocontainer", [container("app", env=[PW_FROM_SECRET])]))
    kube.apply(ns, so_with_target("nocontainer-so", "web-nocontainer", [
        redis_trigger(r, "env-list", passwordFromEnv="REDIS_PW")], container_name="nope"))
    wait_until(lambda: trigger_error(
        c, ns, "nocontainer-so",
        "error resolving secrets for ScaleTarget: couldn't find container with name nope on "
        "Target object"), "KEDA's missing-container error in the table")


def test_canary_never_leaves_the_worker(env, redis_server, metrics_source, tmp_path):
    kube, ns, c = env
    r = redis_server
    m = metrics_source
    r.command("RPUSH", "canary-list", "a", "b", "c", "d", "e", "f")
    url = m.url(f"/metrics?token={CANARY}", f"user:{CANARY}@")
    dead = f"http://user:{CANARY}@127.0.0.1:{free_port()}/metrics?token={CANARY}"
    kube.apply(ns, deployment_with("web-canary", [container("app", env=[PW_FROM_SECRET])]))
    kube.apply(ns, so_with_target("canary-so", "web-canary", [
        redis_trigger(r, "canary-list", password=CANARY),
        {"type": "metrics-api", "metadata": {"url": url, "valueLocation": "value",
                                              "targetValue": "5"}},
        {"type": "metrics-api", "metadata": {"url": dead, "valueLocation": "value",
                                              "targetValue": "5"}},
        redis_trigger(r, "canary-list", passwordFromEnv="REDIS_PW", address="127.0.0.1:1"),
    ]))
    ts = wait_until(lambda: (ts := c.so(ns, "canary-so")) and len(ts["triggers"]) == 4 and
                    [t["value"] for t in ts["triggers"]][:2] == [6, 7] and
                    all(t["state"] == "ERROR" and t["error"] for t in ts["triggers"][2:]) and
                    ts["triggers"], "the canary's triggers to poll (two values, two errors)")
    assert any(m.respond.seen), "the metrics source never saw the canary query key"
    wait_until(lambda: apiservice_available(kube), "the metrics APIService", timeout=SLOW)
    def status_written():
        st = (kube.get(ns, "scaledobject", "canary-so") or {}).get("status") or {}
        return st.get("conditions") and st.get("externalMetricNames") and st
    wait_until(status_written, "the ScaledObject's status", timeout=SLOW)
    # error texts were made from the canary: give them time to reach status and Events
    wait_until(lambda: [e for e in kube.items(ns, "events")
                        if e["involvedObject"]["name"] == "canary-so"], "canary-so's Events")

    places = {}
    table = pathlib.Path("/dev/shm") / c.name
    places["the table"] = table.read_bytes()
    snap = tmp_path / "snap.lz4"
    subprocess.run([str(CKEDACTL), "--shm-name", c.name, "snapshot", "save", str(snap)],
                   check=True, capture_output=True, timeout=30)
    places["the snapshot file"] = snap.read_bytes()
    places["the snapshot shown"] = subprocess.run(
        [str(CKEDACTL), "-o", "json", "snapshot", "show", str(snap)], capture_output=True,
        timeout=30, check=True).stdout
    places["ckedactl triggers"] = json.dumps(c.ctl("triggers")).encode()
    places["ckeda's logs"] = c.log_path.read_bytes()
    places["ScaledObject status"] = json.dumps(
        [so.get("status") for so in kube.items(ns, "scaledobjects")]).encode()
    places["Events"] = json.dumps(kube.items(ns, "events")).encode()
    pids = session_pids(c.proc.pid)
    assert len(pids) >= 4, f"expected the supervisor and its roles, found {pids}"
    for pid in pids:
        for what in ("cmdline", "environ"):
            try:
                places[f"/proc/{pid}/{what}"] = pathlib.Path(f"/proc/{pid}/{what}").read_bytes()
            except OSError:
                pass  # exited meanwhile (a retired worker)
    needle = CANARY.encode()
    leaks = [where for where, data in places.items() if needle in data]
    assert not leaks, f"the canary is in: {', '.join(leaks)}"
    # and it was really there to leak: the table served values read with it, and the config
    # blobs (metadata, by design outside the table) hold it, so the search does find it
    assert [t["value"] for t in ts[:2]] == [6, 7]
    blobs = pathlib.Path("/dev/shm") / f"{c.name}.blobs"
    assert any(needle in f.read_bytes() for f in blobs.iterdir()), "the search finds nothing"


def session_pids(sid):
    """Every process of ckeda's Unix session (Ckeda.start runs the supervisor with setsid)."""
    out = []
    for d in pathlib.Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[3]) == sid:  # state ppid pgrp session
            out.append(int(d.name))
    return out
