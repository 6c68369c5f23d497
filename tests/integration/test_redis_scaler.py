"""The redis scaler against real redis-servers, through the real process tree.

Each test starts `ckeda run` on a table of its own (every port 0), writes ScaledObjects with
redis triggers through the test-only table writer (tests/shmtool: trigger metadata as
key=value pairs, the table's target and activation as the watcher would fill them from
listLength and activationListLength), changes the source, and reads what ckeda publishes with
`ckedactl -o json get NS/NAME`. Covered: the list length as value and ACTIVE/INACTIVE around
activationListLength (strictly greater), KEDA's other key types, a missing key as 0, AUTH with
a username or a password alone, a wrong password as ERROR without the password anywhere, a
redis that stops answering (SIGSTOP) as ERROR after the timeout while another trigger of the
same worker keeps being served, recovery after redis is killed and started again, and
freshness (DESIGN.md): a trigger without useCachedMetrics is polled once after each metrics
request through the adapter, long before its pollingInterval, and one with it is not.

Every wait polls against a deadline; deadlines are stretched for the sanitizer build.
"""

import contextlib
import http.client
import json
import os
import signal
import ssl
import subprocess
import time
import uuid
from pathlib import Path

import pytest

import sources

SRC = Path(os.environ.get("CKEDA_SRC", Path(__file__).resolve().parents[2]))
BIN = Path(os.environ.get("CKEDA_BIN", SRC / "build"))
SANITIZE = os.environ.get("CKEDA_SANITIZE", "0").lower() in ("1", "on", "true", "yes")
PORTS_0 = ("--secure-port", "0", "--webhook-port", "0", "--metrics-port", "0",
           "--health-port", "0")
CONFIG_ENV = ("KUBECONFIG", "WATCH_NAMESPACE", "POD_NAMESPACE", "KEDA_CLUSTER_OBJECT_NAMESPACE",
              "KEDA_HTTP_DEFAULT_TIMEOUT", "KEDA_RESTRICT_SECRET_ACCESS", "CKEDA_SHM_NAME")
TIMEOUT_MS = 3000  # the trigger timeout shmtool writes (KEDA_HTTP_DEFAULT_TIMEOUT's default)


def budget(seconds):
    return seconds * (3 if SANITIZE else 1)


def eventually(fn, timeout, what, interval=0.05):
    """Polls fn() until it returns something truthy (returned) or the deadline passes."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.1f} s waiting for {what}; "
                                 f"last: {last!r}")
        time.sleep(interval)


class Ckeda:
    """`ckeda run` on a table of its own; stopped (SIGTERM, then SIGKILL) by the fixture."""

    def __init__(self, tmp_path, *extra_args):
        self.name = f"ckeda-it-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.log_path = tmp_path / f"{self.name}.log"
        env = {k: v for k, v in os.environ.items() if k not in CONFIG_ENV}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [str(BIN / "ckeda"), "run", "--shm-name", self.name, *PORTS_0,
                 "--max-scaledobjects", "64", "--max-triggers", "256", *extra_args],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                env=env)
        eventually(self._ready, budget(30), f"{self.name} to start")

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"ckeda run exited {self.proc.returncode}\n{self.log()}")
        r = self._ctl("workers", check=False)
        return r.returncode == 0 and len(json.loads(r.stdout)["processes"]) >= 3

    def _ctl(self, *args, check=True):
        r = subprocess.run([str(BIN / "ckedactl"), "--shm-name", self.name, "-o", "json", *args],
                           capture_output=True, text=True, timeout=budget(30))
        if check and r.returncode != 0:
            raise AssertionError(f"ckedactl {' '.join(args)} exited {r.returncode}: {r.stderr}")
        return r

    def add(self, nsname, *triggers, polling_interval=1):
        argv = [str(BIN / "tests" / "shmtool"), "--shm-name", self.name, "add", nsname,
                "--polling-interval", str(polling_interval)]
        for t in triggers:
            argv += ["--trigger", t]
        subprocess.run(argv, check=True, capture_output=True, timeout=budget(30))

    def triggers(self, nsname):
        return json.loads(self._ctl("get", nsname).stdout)["triggers"]

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=budget(30))
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        for p in (Path("/dev/shm") / f"{self.name}.blobs", ):
            if p.exists():
                for f in p.iterdir():
                    f.unlink()
                p.rmdir()
        (Path("/dev/shm") / self.name).unlink(missing_ok=True)


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def openssl_pki(d, ca_subject, leaves):
    """In d: a P-256 CA (ca.crt, ca.key) valid two days and, for each (name, subject,
    extensions) of leaves, a key and a certificate it signs (name.key, name.crt)."""
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    openssl("req", "-x509", *ec, "-keyout", str(d / "ca.key"), "-out", str(d / "ca.crt"),
            "-subj", ca_subject, "-days", "2")
    for name, subj, ext in leaves:
        (d / f"{name}.ext").write_text(ext + "\n")
        openssl("req", *ec, "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.csr"),
                "-subj", subj)
        openssl("x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(d / "ca.crt"),
                "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-out", str(d / f"{name}.crt"),
                "-days", "2", "-extfile", str(d / f"{name}.ext"))


SERVER_EXT = "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth"


def make_certs(d):
    """A CA, the adapter's serving certificate (--cert-dir: tls.crt, tls.key, ca.crt) and a
    client certificate in group system:masters, which the adapter authorizes without a cluster
    (as tests/process/test_adapter.py does)."""
    openssl_pki(d, "/CN=ca", (
        ("tls", "/CN=localhost", SERVER_EXT),
        ("admin", "/O=system:masters/CN=admin", "extendedKeyUsage=clientAuth")))
    serving = d / "serving"
    serving.mkdir()
    for f in ("tls.crt", "tls.key", "ca.crt"):
        (serving / f).write_bytes((d / f).read_bytes())
    return serving


@pytest.fixture
def ckeda_https(tmp_path):
    """`ckeda run` whose adapter serves --cert-dir's certificate; .hpa_read() asks it for a
    metric as the HPA controller does."""
    certs = tmp_path / "certs"
    certs.mkdir()
    inst = Ckeda(tmp_path, "--cert-dir", str(make_certs(certs)))
    ctx = ssl.create_default_context(cafile=str(certs / "ca.crt"))
    ctx.load_cert_chain(str(certs / "admin.crt"), str(certs / "admin.key"))

    def hpa_read(ns, so, metric):
        """(status, document), or (None, error) when the adapter could not be reached."""
        port = json.loads(inst._ctl("status").stdout)["ports"]["secure"]
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=budget(10), context=ctx)
        try:
            conn.request("GET", f"/apis/external.metrics.k8s.io/v1beta1/namespaces/{ns}/{metric}"
                                f"?labelSelector=scaledobject.keda.sh%2Fname%3D{so}")
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read())
        except OSError as exc:
            return None, exc
        finally:
            conn.close()

    inst.hpa_read = hpa_read
    yield inst
    inst.stop()
    print(inst.log()[-20000:])


def redis_trigger(server, list_name, *extra, activation=0, target=5):
    """A redis trigger for shmtool: table target/activation and KEDA metadata."""
    parts = ["redis", f"activation={activation}", f"target={target}",
             f"address={server.address}", f"listName={list_name}",
             f"listLength={target}", f"activationListLength={activation}", *extra]
    return ",".join(parts)


def state_of(ck, nsname, index=0):
    return ck.triggers(nsname)[index]


def wait_state(ck, nsname, want_state, want_value, index=0, timeout=None):
    def ok():
        t = state_of(ck, nsname, index)
        return t if t["state"] == want_state and t["value"] == want_value else None
    return eventually(ok, timeout or budget(10),
                      f"{nsname} trigger {index} to be {want_state} with value {want_value}")


def error_of(ck, nsname, index=0, word=""):
    """The trigger once it is ERROR with word in its error text."""
    def failed():
        t = state_of(ck, nsname, index)
        return t if t["state"] == "ERROR" and word in t["error"] else None
    return eventually(failed, budget(10), f"{nsname} trigger {index} to fail with {word!r}")


def validate_accepts_then_refuses(tmp_path, manifest, bad_manifest, field):
    """`ckeda validate` (the admission rules) accepts manifest and refuses bad_manifest, naming
    field."""
    for name, text, code in (("ok.yaml", manifest, 0), ("bad.yaml", bad_manifest, 1)):
        path = tmp_path / name
        path.write_text(text)
        r = subprocess.run([str(BIN / "ckeda"), "validate", str(path)], capture_output=True,
                           text=True, timeout=budget(30))
        assert r.returncode == code, r.stdout + r.stderr
    assert field in r.stdout + r.stderr, r.stdout + r.stderr


def polled_after(ck, nsname, since, what, index=0):
    """The trigger once its last measurement is younger than the monotonic time since (less
    100 ms of slack): a poll that began after since."""
    def fresh():
        t = state_of(ck, nsname, index)
        age = t["age_ms"]
        return t if age is not None and age < (time.monotonic() - since) * 1000 - 100 else None
    return eventually(fresh, budget(5), what)


def active_in_one_worker(ck, nsname, value=1):
    """Triggers 0 and 1 of nsname ACTIVE with value, polled by the same worker."""
    wait_state(ck, nsname, "ACTIVE", value, index=0)
    wait_state(ck, nsname, "ACTIVE", value, index=1)
    ts = ck.triggers(nsname)
    assert ts[0]["worker_pid"] == ts[1]["worker_pid"], "both triggers must share one worker"


@contextlib.contextmanager
def stopped(*pids):
    """The processes SIGSTOPped for the block, SIGCONTinued after it whatever happens (one that
    is gone is skipped)."""
    def signal_all(sig):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
    signal_all(signal.SIGSTOP)
    try:
        yield
    finally:
        signal_all(signal.SIGCONT)


def stuck_trigger_times_out(ck, nsname, stuck_address=None, poke_healthy=None, healthy_value=1,
                            healthy_within=2.5):
    """Trigger 0's source is stopped, trigger 1's is not (one worker polls both): after
    poke_healthy(), trigger 1 shows healthy_value within healthy_within seconds (a poll or two),
    trigger 0 turns ERROR only at its timeout, naming stuck_address, and trigger 1 is polled
    every second throughout. Returns trigger 0."""
    t0 = time.monotonic()
    if poke_healthy:
        poke_healthy()
    wait_state(ck, nsname, "ACTIVE", healthy_value, index=1, timeout=budget(healthy_within))
    saw_healthy = time.monotonic() - t0
    worst_age = 0

    def stuck_failed():
        nonlocal worst_age
        a, b = ck.triggers(nsname)
        assert b["state"] == "ACTIVE", b
        worst_age = max(worst_age, b["age_ms"])
        return a if a["state"] == "ERROR" else None
    t = eventually(stuck_failed, budget(10), "the stuck trigger's timeout")
    took = time.monotonic() - t0
    assert f"no answer within the timeout of {TIMEOUT_MS} ms" in t["error"], t
    assert stuck_address is None or stuck_address in t["error"], t
    assert took >= TIMEOUT_MS / 1000 - 1.0  # not before its timeout (less one interval)
    assert saw_healthy < took
    assert worst_age < budget(2500), worst_age  # polled every second throughout
    return t


def test_list_length_is_the_value_and_activation_is_strict(ckeda, redis_server, unique):
    ckeda.add(f"apps/{unique}", redis_trigger(redis_server, unique, activation=2))
    # A missing key is 0, as KEDA's script (TYPE none -> LLEN -> 0).
    t = wait_state(ckeda, f"apps/{unique}", "INACTIVE", 0)
    assert t["type"] == "redis" and t["error"] == "" and t["errors"] == 0
    redis_server.command("RPUSH", unique, "a", "b")
    wait_state(ckeda, f"apps/{unique}", "INACTIVE", 2)  # 2 > 2 is false
    redis_server.command("RPUSH", unique, "c")
    t = wait_state(ckeda, f"apps/{unique}", "ACTIVE", 3)
    assert t["active"] is True
    redis_server.command("LTRIM", unique, "1", "0")  # drains the list: the key is gone
    wait_state(ckeda, f"apps/{unique}", "INACTIVE", 0)


def test_other_key_types_count_as_keda_does(ckeda, redis_server, unique):
    keys = {f"{unique}-set": ("SADD", "a", "b", "c"),
            f"{unique}-zset": ("ZADD", "1", "a", "2", "b"),
            f"{unique}-hash": ("HSET", "f1", "v", "f2", "v", "f3", "v", "f4", "v"),
            f"{unique}-stream": ("XADD", "*", "f", "v")}
    for key, (cmd, *args) in keys.items():
        redis_server.command(cmd, key, *args)
    ckeda.add(f"apps/{unique}", *[redis_trigger(redis_server, k) for k in keys])
    wait_state(ckeda, f"apps/{unique}", "ACTIVE", 3, index=0)  # SCARD
    wait_state(ckeda, f"apps/{unique}", "ACTIVE", 2, index=1)  # ZCARD
    wait_state(ckeda, f"apps/{unique}", "ACTIVE", 4, index=2)  # HLEN
    t = eventually(lambda: (lambda t: t if t["state"] == "ERROR" and t["error"] else None)(
        state_of(ckeda, f"apps/{unique}", 3)), budget(10), "the stream key's error")
    assert t["error"].endswith("ERR unsupported key type: stream"), t
    assert t["value"] is None and t["active"] is None


def test_database_index_selects_the_database(ckeda, redis_server, unique):
    redis_server.command("RPUSH", unique, "x", "y", "z", db=3)
    redis_server.command("RPUSH", unique, "only-in-db0")
    ckeda.add(f"apps/{unique}", redis_trigger(redis_server, unique, "databaseIndex=3"),
              redis_trigger(redis_server, unique))
    wait_state(ckeda, f"apps/{unique}", "ACTIVE", 3, index=0)
    wait_state(ckeda, f"apps/{unique}", "ACTIVE", 1, index=1)


def test_auth_with_username_or_password_alone(ckeda, redis_auth_server, unique):
    r = redis_auth_server
    r.command("RPUSH", unique, "a", "b", "c", "d")
    ckeda.add(f"apps/{unique}",
              redis_trigger(r, unique, f"username={r.username}", f"password={r.password}"),
              redis_trigger(r, unique, f"password={r.password}"))
    wait_state(ckeda, f"apps/{unique}", "ACTIVE", 4, index=0)
    wait_state(ckeda, f"apps/{unique}", "ACTIVE", 4, index=1)


def test_wrong_password_is_an_error_without_the_password(ckeda, redis_auth_server, unique):
    wrong = f"wrong-{uuid.uuid4().hex}"
    ckeda.add(f"apps/{unique}",
              redis_trigger(redis_auth_server, unique, f"username={redis_auth_server.username}",
                            f"password={wrong}"),
              redis_trigger(redis_auth_server, unique))  # no password at all: NOAUTH

    t = error_of(ckeda, f"apps/{unique}", 0, "WRONGPASS")
    assert t["value"] is None and t["errors"] >= 1
    error_of(ckeda, f"apps/{unique}", 1, "NOAUTH")
    # The password is in no published text and in no log line of any process.
    snapshot = ckeda._ctl("get", f"apps/{unique}").stdout + ckeda._ctl("triggers").stdout
    assert wrong not in snapshot
    assert wrong not in ckeda.log()
    # It fails again on each polling interval (1 s), never in a tight retry loop.
    first, t0 = state_of(ckeda, f"apps/{unique}", 0)["errors_total"], time.monotonic()
    eventually(lambda: state_of(ckeda, f"apps/{unique}", 0)["errors_total"] >= first + 2,
               budget(5), "two more failed polls")
    failures = state_of(ckeda, f"apps/{unique}", 0)["errors_total"] - first
    assert failures <= time.monotonic() - t0 + 2, failures


def test_stopped_redis_times_out_and_never_delays_another_trigger(ckeda, redis_server,
                                                                  fresh_redis_server, unique):
    stuck, healthy = fresh_redis_server, redis_server
    stuck.command("RPUSH", unique, "a")
    healthy.command("RPUSH", unique, "a")
    ckeda.add(f"apps/{unique}", redis_trigger(stuck, unique), redis_trigger(healthy, unique))
    active_in_one_worker(ckeda, f"apps/{unique}")
    with stopped(stuck.main_proc.pid):
        # While the stuck poll waits out its timeout, the other trigger sees a change at once.
        stuck_trigger_times_out(ckeda, f"apps/{unique}", stuck.address,
                                lambda: healthy.command("RPUSH", unique, "b"), 2)
    stuck.command("RPUSH", unique, "b", "c")
    wait_state(ckeda, f"apps/{unique}", "ACTIVE", 3, index=0, timeout=budget(10))


def test_killed_and_restarted_redis_recovers(ckeda, monkeypatch, unique):
    first = sources.RedisServer().start()
    port = first.port
    try:
        first.command("RPUSH", unique, "a", "b")
        ckeda.add(f"apps/{unique}", redis_trigger(first, unique))
        wait_state(ckeda, f"apps/{unique}", "ACTIVE", 2)
        os.kill(first.main_proc.pid, signal.SIGKILL)
        t = eventually(lambda: (lambda t: t if t["state"] == "ERROR" else None)(
            state_of(ckeda, f"apps/{unique}")), budget(10), "an error after the kill")
        assert first.address in t["error"], t
    finally:
        first.stop()
    monkeypatch.setattr(sources, "free_port", lambda: port)  # the same address again
    with sources.RedisServer() as second:
        assert second.port == port
        second.command("RPUSH", unique, "x", "y", "z")
        t = wait_state(ckeda, f"apps/{unique}", "ACTIVE", 3, timeout=budget(10))
        assert t["errors"] == 0 and t["error"] == ""


def test_host_name_is_resolved_without_blocking(ckeda, redis_server, unique):
    """`localhost` goes through the asynchronous lookup (and may list ::1 first, where redis does
    not listen: the next address is tried); a name that does not resolve is an ERROR naming it,
    and never holds up a trigger with a numeric address in the same worker."""
    redis_server.command("RPUSH", unique, "a", "b")
    ckeda.add(f"apps/{unique}",
              f"redis,address=localhost:{redis_server.port},listName={unique}",
              f"redis,address=no-such-host.invalid:6379,listName={unique}",
              redis_trigger(redis_server, unique))
    wait_state(ckeda, f"apps/{unique}", "ACTIVE", 2, index=0)
    wait_state(ckeda, f"apps/{unique}", "ACTIVE", 2, index=2)
    t = eventually(lambda: (lambda t: t if t["state"] == "ERROR" else None)(
        state_of(ckeda, f"apps/{unique}", 1)), budget(10), "the unresolvable name's error")
    assert "no-such-host.invalid" in t["error"], t
    redis_server.command("RPUSH", unique, "c")
    wait_state(ckeda, f"apps/{unique}", "ACTIVE", 3, index=0)
    wait_state(ckeda, f"apps/{unique}", "ACTIVE", 3, index=2)


def test_metrics_request_polls_an_uncached_trigger_at_once(ckeda_https, redis_server, unique):
    """DESIGN.md "Freshness": with pollingInterval 30 s, a trigger with useCachedMetrics false
    (KEDA's default) is polled once after a metrics request through the adapter, so a change of
    the list shows within a few seconds of the request and not without one; a trigger with
    useCachedMetrics true, asked as well, keeps its interval."""
    ck, so = ckeda_https, f"apps/{unique}"
    ck.add(so, redis_trigger(redis_server, unique),
           redis_trigger(redis_server, f"{unique}_cached", "usecached=1"), polling_interval=30)
    wait_state(ck, so, "INACTIVE", 0, index=0)
    wait_state(ck, so, "INACTIVE", 0, index=1)
    redis_server.command("RPUSH", unique, "a", "b")
    redis_server.command("RPUSH", f"{unique}_cached", "a", "b")
    last_age = [0, 0]

    def hold(seconds, indexes, want):
        """For `seconds`, the triggers keep their value and are not polled (a poll resets
        age_ms; here it only grows)."""
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            ts = ck.triggers(so)
            for i in indexes:
                assert ts[i]["value"] == want[i] and ts[i]["age_ms"] >= last_age[i], (i, ts[i])
                last_age[i] = ts[i]["age_ms"]
            time.sleep(0.1)

    hold(3, (0, 1), (0, 0))  # no request: the next interval poll is 27 s or more away
    metrics = [t["metric_name"] for t in ck.triggers(so)]
    status, doc = eventually(lambda: (lambda r: r if r[0] == 200 else None)(
        ck.hpa_read("apps", unique, metrics[0])), budget(10), "the adapter's answer")
    assert doc["items"][0]["value"] == "0", doc  # what the table held when it was asked
    asked = time.monotonic()
    assert ck.hpa_read("apps", unique, metrics[1])[0] == 200
    wait_state(ck, so, "ACTIVE", 2, index=0, timeout=budget(5))
    took = time.monotonic() - asked
    assert took < budget(3), took  # a loop turn and the 1 s rate limit, not the 30 s interval
    last_age[0] = 0
    # One request, one poll: trigger 0 is not polled again without another; the cached
    # trigger is not polled on demand at all.
    hold(3, (0, 1), (2, 0))
