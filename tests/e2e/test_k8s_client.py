"""End-to-end tests of ckeda's Kubernetes client (common/k8s*) against the real
kube-apiserver of tests/e2e/cluster.sh, driven through the test-only CLI
tests/k8sclient_tool.c:

  * create / get / merge and JSON patch / update with a stale resourceVersion /
    delete of a ConfigMap, with the documented errno for each failure;
  * LIST pagination (limit + continue) returns every object;
  * an informer sees ADDED, MODIFIED and DELETED, without managedFields, and
    can make synchronous requests from inside its callback;
  * after its connection is cut, the watch resumes from the last
    resourceVersion without a relist and delivers what happened meanwhile;
  * a relist after an outage reports what vanished as DELETED with
    final_state_unknown;
  * watching from resourceVersion 1 gets 410 Gone and relists;
  * the /scale subresource of a Deployment (merge patch, JSON patch, optimistic
    concurrency), /status patches, and discovery-based scale-target resolution;
  * credentials: a bearer token file named relative to the kubeconfig, the
    in-cluster service account following a token rotation (the old token is
    revoked by deleting the Secret it was bound to), and a server certificate
    from a CA other than the configured one being refused.

Connections are cut with a small TCP relay in this file (CuttableRelay) that
sits between the tool and kube-apiserver and forwards the TLS bytes untouched.

A cluster that cannot be started or reached fails these tests; nothing is
skipped. The cluster is reused when already up and left running.

Run: python3 -m pytest tests/e2e/test_k8s_client.py -v
(CKEDA_BIN names the build directory holding tests/k8sclient_tool.)
"""

from __future__ import annotations

import base64
import json
import os
import pathlib
import queue
import re
import select
import socket
import subprocess
import threading
import time
import uuid

import pytest

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
CLUSTER_SH = HERE / "cluster.sh"
UP_TIMEOUT = float(os.environ.get("CKEDA_E2E_UP_TIMEOUT", "3600"))
WAIT = 60.0  # seconds allowed for anything the API server or the informer does


def find_tool() -> pathlib.Path:
    candidates = []
    if os.environ.get("CKEDA_K8SCLIENT_TOOL"):
        candidates.append(pathlib.Path(os.environ["CKEDA_K8SCLIENT_TOOL"]))
    for base in filter(None, [os.environ.get("CKEDA_BIN"), str(REPO / "build")]):
        candidates += [pathlib.Path(base) / "tests" / "k8sclient_tool",
                       pathlib.Path(base) / "k8sclient_tool"]
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    pytest.fail(f"k8sclient_tool is not built (looked at {', '.join(map(str, candidates))})")


def wait_for(what: str, probe, timeout: float = WAIT, interval: float = 0.2):
    """Poll PROBE until it returns a truthy value; fail after TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; last saw {last!r}")
        time.sleep(interval)


class Tool:
    """One k8sclient_tool invocation per call; output is one JSON document. Credentials come
    from KUBECONFIG, or with INCLUSTER from a service-account directory and ENV."""

    def __init__(self, binary: pathlib.Path, kubeconfig: pathlib.Path | None = None,
                 incluster: pathlib.Path | None = None, env: dict | None = None):
        self.binary = binary
        self.kubeconfig = kubeconfig
        self.incluster = incluster
        self.env = {**os.environ, **(env or {})}

    def argv(self, *args: str) -> list[str]:
        creds = ["--incluster", str(self.incluster)] if self.incluster else ["--kubeconfig", str(self.kubeconfig)]
        return [str(self.binary), *creds, *args]

    def run(self, *args: str, stdin: dict | None = None) -> tuple[int, dict]:
        r = subprocess.run(self.argv(*args), input=json.dumps(stdin) if stdin is not None else "",
                           capture_output=True, text=True, timeout=WAIT, env=self.env)
        if r.returncode not in (0, 1):
            pytest.fail(f"k8sclient_tool {' '.join(args)} exited {r.returncode}: {r.stderr}")
        lines = r.stdout.strip().splitlines()
        return r.returncode, json.loads(lines[-1]) if lines else {}

    def ok(self, *args: str, stdin: dict | None = None) -> dict:
        rc, out = self.run(*args, stdin=stdin)
        assert rc == 0 and "error" not in out, f"{' '.join(args)} failed: {out}"
        return out

    def fails(self, *args: str, stdin: dict | None = None) -> dict:
        rc, out = self.run(*args, stdin=stdin)
        assert rc == 1 and "error" in out, f"{' '.join(args)} should have failed: {out}"
        return out


class Watch:
    """A running `k8sclient_tool watch`: its JSON lines arrive on a queue."""

    def __init__(self, tool: Tool, *args: str):
        self.proc = subprocess.Popen(tool.argv("watch", *args), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=tool.env)
        self.lines: queue.Queue = queue.Queue()
        self.seen: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))
        self.lines.put(None)

    def wait_for(self, what: str, pred, timeout: float = WAIT) -> dict:
        """The first line from now on that satisfies PRED; fails after TIMEOUT."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; saw {self.seen[-8:]}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                pytest.fail(f"the watch exited ({self.proc.wait()}) while waiting for {what}: "
                            f"{self.proc.stderr.read()}")
            self.seen.append(line)
            if pred(line):
                return line

    def event(self, kind: str, name: str, **kw) -> dict:
        return self.wait_for(f"{kind} {name}",
                             lambda l: l.get("event") == kind and l.get("name") == name, **kw)

    def send(self, command: str):
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def stats(self) -> dict:
        self.send("stats")
        return self.wait_for("stats", lambda l: l.get("stats"))

    def close(self):
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.wait(timeout=10)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        assert self.proc.returncode == 0, f"watch exited {self.proc.returncode}: {self.proc.stderr.read()}"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class CuttableRelay:
    """A TCP relay on 127.0.0.1 that forwards to TARGET and can drop every
    connection (cut) or turn new ones away (refusing). Bytes pass untouched,
    so TLS is end to end; the API server's certificate names 127.0.0.1."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.refusing = False
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.refusing:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket):
        try:
            while True:
                ready, _, _ = select.select([a, b], [], [])
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        raise OSError("closed")
                    (b if s is a else a).sendall(data)
        except (OSError, ValueError):
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass

    def cut(self):
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.closed = True
        self.listener.close()
        self.cut()


@pytest.fixture(scope="module")
def kubeconfig() -> pathlib.Path:
    try:
        result = subprocess.run([str(CLUSTER_SH), "up"], capture_output=True, text=True,
                                timeout=UP_TIMEOUT)
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"cluster.sh up did not finish within {UP_TIMEOUT:.0f}s: {err.stderr}")
    if result.returncode != 0:
        pytest.fail(f"cluster.sh up failed ({result.returncode}):\n{result.stderr[-4000:]}")
    lines = result.stdout.strip().splitlines()
    assert lines, "cluster.sh up printed nothing on stdout"
    path = pathlib.Path(lines[-1])
    assert path.is_file(), f"the last line of cluster.sh up is not a file: {lines[-1]!r}"
    return path


@pytest.fixture(scope="module")
def tool(kubeconfig: pathlib.Path) -> Tool:
    t = Tool(find_tool(), kubeconfig)
    version = t.ok("raw", "/version")
    assert version["major"] == "1", version
    return t


@pytest.fixture
def namespace(tool: Tool):
    name = f"k8sclient-{uuid.uuid4().hex[:8]}"
    tool.ok("create", "v1/namespaces", "-",
            stdin={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    tool.run("delete", "v1/namespaces", "-", name)


@pytest.fixture
def relay(kubeconfig: pathlib.Path, tmp_path: pathlib.Path):
    """A kubeconfig whose server is a CuttableRelay in front of kube-apiserver."""
    text = kubeconfig.read_text()
    m = re.search(r"server:\s*\"?https://127\.0\.0\.1:(\d+)", text)
    assert m, "the cluster's kubeconfig does not point at https://127.0.0.1:<port>"
    r = CuttableRelay(("127.0.0.1", int(m.group(1))))
    relayed = tmp_path / "kubeconfig"
    relayed.write_text(text.replace(f"127.0.0.1:{m.group(1)}", f"127.0.0.1:{r.port}"))
    relayed.chmod(0o600)
    yield r, relayed
    r.close()


def cluster_server_and_ca(kubeconfig: pathlib.Path) -> tuple[str, bytes]:
    """The API server's URL and CA certificate (PEM) from the cluster's kubeconfig."""
    text = kubeconfig.read_text()
    server = re.search(r"server:\s*\"?(https://[^\s\"]+)", text)
    data = re.search(r"certificate-authority-data:\s*(\S+)", text)
    path = re.search(r"certificate-authority:\s*(\S+)", text)
    assert server and (data or path), "cannot find the server and CA in the cluster's kubeconfig"
    if data:
        return server.group(1), base64.b64decode(data.group(1))
    return server.group(1), (kubeconfig.parent / path.group(1)).read_bytes()


def write_kubeconfig(path: pathlib.Path, server: str, ca_file: str, user: str) -> pathlib.Path:
    """A kubeconfig with one context; USER is the user's body, already indented by 4."""
    path.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: {server}
    certificate-authority: {ca_file}
users:
- name: u
  user:
{user}
contexts:
- name: x
  context: {{cluster: c, user: u}}
current-context: x
""")
    path.chmod(0o600)
    return path


def service_account(tool: Tool, namespace: str, name: str):
    tool.ok("create", "v1/serviceaccounts", namespace,
            stdin={"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}})


def service_account_token(tool: Tool, namespace: str, name: str, bound_secret: str | None = None) -> str:
    """A TokenRequest token; bound to a Secret, it dies when the Secret is deleted."""
    spec: dict = {"expirationSeconds": 3600}
    if bound_secret:
        uid = tool.ok("get", "v1/secrets", namespace, bound_secret)["metadata"]["uid"]
        spec["boundObjectRef"] = {"kind": "Secret", "apiVersion": "v1", "name": bound_secret, "uid": uid}
    out = tool.ok("create", "v1/serviceaccounts", namespace, name, "token",
                  stdin={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec})
    return out["status"]["token"]


def configmap(name: str, **data: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": {"suite": "k8sclient"}}, "data": data}


def deployment(name: str, replicas: int) -> dict:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}},
    }


def test_configmap_create_get_patch_delete(tool: Tool, namespace: str):
    cm = "v1/configmaps"
    created = tool.ok("create", cm, namespace, stdin=configmap("one", a="1"))
    assert created["metadata"]["namespace"] == namespace
    assert tool.fails("create", cm, namespace, stdin=configmap("one"))["error"] == "EEXIST"

    got = tool.ok("get", cm, namespace, "one")
    assert got["data"] == {"a": "1"}
    assert got["metadata"]["uid"] == created["metadata"]["uid"]

    merged = tool.ok("patch", cm, namespace, "one", "merge", '{"data":{"b":"2"}}')
    assert merged["data"] == {"a": "1", "b": "2"}
    patched = tool.ok("patch", cm, namespace, "one", "json",
                      '[{"op":"replace","path":"/data/a","value":"9"},{"op":"remove","path":"/data/b"}]')
    assert patched["data"] == {"a": "9"}

    stale = dict(got, data={"a": "stale"})  # still carries the first resourceVersion
    err = tool.fails("update", cm, namespace, "one", stdin=stale)
    assert (err["error"], err["status"], err["reason"]) == ("ESTALE", 409, "Conflict")
    fresh = dict(patched, data={"a": "updated"})
    assert tool.ok("update", cm, namespace, "one", stdin=fresh)["data"] == {"a": "updated"}

    tool.ok("delete", cm, namespace, "one")
    err = tool.fails("get", cm, namespace, "one")
    assert (err["error"], err["status"], err["reason"]) == ("ENOENT", 404, "NotFound")
    assert "not found" in err["message"]
    err = tool.fails("patch", cm, namespace, "one", "merge", "{}")
    assert err["error"] == "ENOENT"


def test_list_paginates_with_continue(tool: Tool, namespace: str):
    names = {f"page-{i}" for i in range(7)}
    for n in names:
        tool.ok("create", "v1/configmaps", namespace, stdin=configmap(n))
    listed = tool.ok("list", "v1/configmaps", namespace, "2", "suite=k8sclient")
    assert {i["metadata"]["name"] for i in listed["items"]} == names
    assert int(listed["resourceVersion"]) > 0
    assert tool.ok("list", "v1/configmaps", namespace, "500", "suite=none")["items"] == []


def test_watch_sees_added_modified_deleted(tool: Tool, namespace: str):
    with Watch(tool, "v1/configmaps", namespace, "--get-in-callback") as w:
        synced = w.wait_for("synced", lambda l: l.get("synced"))
        assert synced["lists"] == 1
        tool.ok("create", "v1/configmaps", namespace, stdin=configmap("w", k="1"))
        added = w.event("ADDED", "w")
        assert added["object"]["data"] == {"k": "1"}
        assert added["has_managed_fields"] is False
        assert added["get_in_callback"] == 0  # a synchronous GET from inside the callback
        tool.ok("patch", "v1/configmaps", namespace, "w", "merge", '{"data":{"k":"2"}}')
        assert w.event("MODIFIED", "w")["object"]["data"] == {"k": "2"}
        tool.ok("delete", "v1/configmaps", namespace, "w")
        deleted = w.event("DELETED", "w")
        assert deleted["final_state_unknown"] is False
        assert deleted["uid"] == added["uid"]

        # A relist finds nothing new: no event is delivered twice.
        w.send("relist")
        resynced = w.wait_for("second sync", lambda l: l.get("synced"))
        assert resynced["lists"] == 2
        stats = w.stats()
        assert stats["errors"] == 0
        assert not any(l.get("event") == "ADDED" and l.get("name") == "w" for l in w.seen[w.seen.index(deleted):])


def test_watch_resumes_after_connection_cut(tool: Tool, namespace: str, relay):
    proxy, relayed_kubeconfig = relay
    via_relay = Tool(tool.binary, relayed_kubeconfig)
    with Watch(via_relay, "v1/configmaps", namespace) as w:
        w.wait_for("synced", lambda l: l.get("synced"))
        tool.ok("create", "v1/configmaps", namespace, stdin=configmap("before"))
        w.event("ADDED", "before")
        rv_before = w.stats()["resourceVersion"]

        proxy.cut()
        w.wait_for("the cut to be noticed", lambda l: "informer_error" in l)
        tool.ok("create", "v1/configmaps", namespace, stdin=configmap("during"))
        w.event("ADDED", "during")

        stats = w.stats()
        assert stats["lists"] == 1, "a cut connection must resume the watch, not relist"
        assert stats["relists_gone"] == 0
        assert stats["watches"] >= 2
        assert int(stats["resourceVersion"]) > int(rv_before)
        assert sum(1 for l in w.seen if l.get("event") == "ADDED" and l.get("name") == "before") == 1


def test_relist_after_outage_reports_vanished_objects(tool: Tool, namespace: str, relay):
    proxy, relayed_kubeconfig = relay
    with Watch(Tool(tool.binary, relayed_kubeconfig), "v1/configmaps", namespace) as w:
        w.wait_for("synced", lambda l: l.get("synced"))
        tool.ok("create", "v1/configmaps", namespace, stdin=configmap("gone-soon"))
        tool.ok("create", "v1/configmaps", namespace, stdin=configmap("stays"))
        added = w.event("ADDED", "gone-soon")
        w.event("ADDED", "stays")

        proxy.refusing = True
        proxy.cut()
        w.wait_for("the outage to be noticed", lambda l: "informer_error" in l)
        tool.ok("delete", "v1/configmaps", namespace, "gone-soon")
        w.send("relist")
        w.stats()  # the relist request has been taken
        proxy.refusing = False

        deleted = w.event("DELETED", "gone-soon")
        assert deleted["final_state_unknown"] is True, [{k: v for k, v in l.items() if k != "object"} for l in w.seen]
        assert deleted["uid"] == added["uid"]
        assert deleted["namespace"] == namespace
        synced = w.wait_for("the relist", lambda l: l.get("synced"))
        assert synced["lists"] == 2
        assert not any(l.get("name") == "stays" and l.get("event") != "ADDED" for l in w.seen)


def compact_etcd() -> None:
    """Compacts the test cluster's etcd to its current revision, as kube-apiserver does every
    five minutes, so that old resourceVersions are gone now rather than in five minutes (on a
    fresh cluster nothing has been compacted yet and a watch from 1 would simply replay)."""
    import urllib.request

    state = pathlib.Path(os.environ.get("CKEDA_E2E_DIR",
                                        pathlib.Path.home() / ".cache" / "ckeda" / "e2e"))
    env = dict(line.split("=", 1) for line in (state / "cluster.env").read_text().split()
               if "=" in line)
    base = f"http://127.0.0.1:{env['ETCD_PORT']}/v3"

    def post(path, body):
        req = urllib.request.Request(base + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.load(resp)

    rev = int(post("/kv/range", {"key": base64.b64encode(b"/").decode()})["header"]["revision"])
    post("/kv/compaction", {"revision": rev, "physical": True})


def test_watch_from_expired_version_relists(tool: Tool, namespace: str):
    tool.ok("create", "v1/configmaps", namespace, stdin=configmap("old"))
    compact_etcd()
    with Watch(tool, "v1/configmaps", namespace, "--resume-from", "1") as w:
        synced = w.wait_for("synced after 410 Gone", lambda l: l.get("synced"))
        assert synced["relists_gone"] == 1
        assert synced["lists"] == 1
        assert any(l.get("event") == "ADDED" and l.get("name") == "old" for l in w.seen)
        assert not any("informer_error" in l for l in w.seen), "410 is routine, not an error"
        tool.ok("create", "v1/configmaps", namespace, stdin=configmap("new"))
        w.event("ADDED", "new")


def test_scale_subresource_of_deployment(tool: Tool, namespace: str):
    dep = "apps/v1/deployments"
    tool.ok("create", dep, namespace, stdin=deployment("web", 1))
    scale = tool.ok("get", dep, namespace, "web", "scale")
    assert (scale["kind"], scale["spec"]["replicas"]) == ("Scale", 1)

    patched = tool.ok("patch", dep, namespace, "web", "merge", '{"spec":{"replicas":3}}', "scale")
    assert patched["spec"]["replicas"] == 3
    assert tool.ok("get", dep, namespace, "web")["spec"]["replicas"] == 3
    patched = tool.ok("patch", dep, namespace, "web", "json",
                      '[{"op":"replace","path":"/spec/replicas","value":0}]', "scale")
    assert patched["spec"].get("replicas", 0) == 0  # omitted when zero

    # A write decided on an old resourceVersion is refused (KEDA's updateScaleOnScaleTarget).
    stale = dict(scale, spec={"replicas": 5})
    err = tool.fails("update", dep, namespace, "web", "scale", stdin=stale)
    assert (err["error"], err["status"]) == ("ESTALE", 409)
    # With a fresh version it succeeds, though the deployment controller may win a race in
    # between: a conflict means "decide again", as ckeda's scale loop does.
    for _ in range(10):
        fresh = tool.ok("get", dep, namespace, "web", "scale")
        fresh["spec"]["replicas"] = 2
        rc, out = tool.run("update", dep, namespace, "web", "scale", stdin=fresh)
        if rc == 0 or out.get("error") != "ESTALE":
            break
    assert rc == 0 and out["spec"]["replicas"] == 2, out
    assert tool.fails("get", dep, namespace, "nope", "scale")["error"] == "ENOENT"


def test_status_subresource_patch(tool: Tool, namespace: str):
    tool.ok("create", "apps/v1/deployments", namespace, stdin=deployment("target", 1))
    so = {
        "apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "so"},
        "spec": {"scaleTargetRef": {"name": "target"}, "minReplicaCount": 1,
                 "triggers": [{"type": "cron", "metadata": {"timezone": "Etc/UTC", "start": "0 6 * * *",
                                                            "end": "0 20 * * *", "desiredReplicas": "2"}}]},
    }
    tool.ok("create", "keda.sh/v1alpha1/scaledobjects", namespace, stdin=so)
    status = {"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "K8sClientTest",
                                         "message": "set through /status"}]}}
    out = tool.ok("patch", "keda.sh/v1alpha1/scaledobjects", namespace, "so", "merge",
                  json.dumps(status), "status")
    assert any(c.get("reason") == "K8sClientTest" for c in out["status"]["conditions"])
    # The main resource ignores status; /status ignores spec.
    out = tool.ok("patch", "keda.sh/v1alpha1/scaledobjects", namespace, "so", "merge",
                  '{"spec":{"minReplicaCount":5}}', "status")
    assert out["spec"]["minReplicaCount"] == 1


def test_discovery_resolves_scale_targets(tool: Tool):
    dep = tool.ok("resolve", "apps/v1", "Deployment")
    assert dep == {"group": "apps", "version": "v1", "resource": "deployments",
                   "namespaced": True, "has_scale": True}
    assert tool.ok("resolve", "", "") == dep  # KEDA's defaults
    assert tool.ok("resolve", "apps/v1", "StatefulSet")["has_scale"] is True
    rc = tool.ok("resolve", "v1", "ReplicationController")
    assert (rc["resource"], rc["has_scale"]) == ("replicationcontrollers", True)
    assert tool.ok("resolve", "v1", "ConfigMap")["has_scale"] is False
    assert tool.ok("resolve", "apps/v1", "DaemonSet")["has_scale"] is False
    assert tool.fails("resolve", "apps/v1", "NoSuchKind")["error"] == "ENOENT"
    assert tool.fails("resolve", "nosuchgroup.example.com/v1", "Thing")["error"] == "ENOENT"


def test_unreachable_server_is_an_error(tool: Tool, tmp_path: pathlib.Path):
    with socket.socket() as s:  # a port that was free a moment ago and has no listener
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = tmp_path / "kubeconfig"
    cfg.write_text(tool.kubeconfig.read_text().replace(
        re.search(r"https://127\.0\.0\.1:\d+", tool.kubeconfig.read_text()).group(0),
        f"https://127.0.0.1:{port}"))
    err = Tool(tool.binary, cfg).fails("get", "v1/configmaps", "default", "x")
    assert (err["error"], err["status"]) == ("ECONNREFUSED", 0)


def test_bearer_token_file_relative_to_kubeconfig(tool: Tool, namespace: str, tmp_path: pathlib.Path):
    service_account(tool, namespace, "probe")
    server, ca = cluster_server_and_ca(tool.kubeconfig)
    (tmp_path / "ca.crt").write_bytes(ca)
    (tmp_path / "token").write_text(service_account_token(tool, namespace, "probe") + "\n")
    as_probe = Tool(tool.binary, write_kubeconfig(tmp_path / "kubeconfig", server, "ca.crt",
                                                  "    tokenFile: token"))
    err = as_probe.fails("get", "v1/configmaps", namespace, "x")
    assert (err["error"], err["status"], err["reason"]) == ("EACCES", 403, "Forbidden")
    assert f"system:serviceaccount:{namespace}:probe" in err["message"]  # the token was sent
    (tmp_path / "token").write_text("not-a-token\n")
    err = as_probe.fails("get", "v1/configmaps", namespace, "x")
    assert (err["error"], err["status"], err["reason"]) == ("EACCES", 401, "Unauthorized")


def test_incluster_account_follows_token_rotation(tool: Tool, namespace: str, tmp_path: pathlib.Path):
    rbac = "rbac.authorization.k8s.io/v1"
    service_account(tool, namespace, "probe")
    tool.ok("create", f"{rbac}/roles", namespace, stdin={
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "cm-reader"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}]})
    tool.ok("create", f"{rbac}/rolebindings", namespace, stdin={
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "probe"},
        "subjects": [{"kind": "ServiceAccount", "name": "probe", "namespace": namespace}],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cm-reader"}})
    for s in ("bind-a", "bind-b"):
        tool.ok("create", "v1/secrets", namespace,
                stdin={"apiVersion": "v1", "kind": "Secret", "metadata": {"name": s}})
    token_a = service_account_token(tool, namespace, "probe", "bind-a")
    token_b = service_account_token(tool, namespace, "probe", "bind-b")
    tool.ok("create", "v1/configmaps", namespace, stdin=configmap("seen"))

    server, ca = cluster_server_and_ca(tool.kubeconfig)
    host, port = re.match(r"https://([^:/]+):(\d+)", server).groups()
    env = {"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port}
    dirs = {}
    for which, token in (("sa", token_a), ("sa-a", token_a)):
        d = tmp_path / which
        d.mkdir()
        (d / "token").write_text(token)
        (d / "ca.crt").write_bytes(ca)
        (d / "namespace").write_text(namespace + "\n")
        dirs[which] = Tool(tool.binary, incluster=d, env=env)
    in_pod = dirs["sa"]
    wait_for("RBAC to admit the service account",
             lambda: in_pod.run("get", "v1/configmaps", namespace, "seen")[0] == 0)

    with Watch(in_pod, "v1/configmaps", namespace) as w:
        assert w.wait_for("synced", lambda l: l.get("synced"))["lists"] == 1
        # kubelet's rotation: a new file renamed over the old one; then the old token dies.
        (tmp_path / "sa" / "token.new").write_text(token_b)
        os.rename(tmp_path / "sa" / "token.new", tmp_path / "sa" / "token")
        tool.ok("delete", "v1/secrets", namespace, "bind-a")
        wait_for("the old token to be refused",
                 lambda: dirs["sa-a"].run("get", "v1/configmaps", namespace, "seen")[1].get("status") == 401)
        w.send("relist")  # new requests must carry the new token
        assert w.wait_for("a relist with the new token", lambda l: l.get("synced"))["lists"] == 2
        assert not any(l.get("status") == 401 for l in w.seen), w.seen
    assert in_pod.ok("get", "v1/configmaps", namespace, "seen")["metadata"]["name"] == "seen"


def test_certificate_from_another_ca_is_refused(tool: Tool, tmp_path: pathlib.Path):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(tmp_path / "other.key"), "-out", str(tmp_path / "other.crt"),
                    "-days", "1", "-subj", "/CN=some-other-ca"], check=True, capture_output=True)
    server, _ = cluster_server_and_ca(tool.kubeconfig)
    kc = write_kubeconfig(tmp_path / "kubeconfig", server, str(tmp_path / "other.crt"), "    token: unused")
    err = Tool(tool.binary, kc).fails("raw", "/version")
    assert (err["error"], err["status"]) == ("EPROTO", 0)
    assert "certificate" in err["message"]
