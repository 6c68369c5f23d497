"""The external and external-push scalers against a real gRPC server, through the real process
tree.

The server (external_scaler_server.py) is grpcio implementing KEDA's externalscaler.proto, in
this process. Triggers are written with tests/shmtool and read back with ckedactl, as the other
scaler tests do. Covered: the metric spec learnt from GetMetricSpec and published with the
results (`s<index>-<metricName>`, targetSizeFloat over targetSize), the ScaledObjectRef the
server sees (name, namespace, scalerMetadata) and the metricName GetMetrics gets (no `sN-`
prefix), the value (the sum of MetricValues, metricValueFloat over metricValue) and the
activity from IsActive rather than the value; TLS with a CA and a client certificate from a
TriggerAuthentication (and verification failing without the CA); a server that stops answering
as ERROR after the timeout, a stopped server as ERROR, and recovery; external-push: a `true`
from StreamIsActive is ACTIVE in the table at once (its latency from the server's send to the
table is measured with shmtool wait-active), `false` is ignored, and the stream comes back after
the server restarts.
"""

import subprocess
import time

import pytest

from external_scaler_server import ExternalScalerServer
from fake_kube_api import FakeKubeAPI
from test_redis_scaler import SERVER_EXT, BIN, Ckeda, budget, eventually, openssl_pki, state_of

PUSH_LATENCY_MAX_S = 0.5  # against a pollingInterval of 30 s


@pytest.fixture
def server():
    with ExternalScalerServer() as srv:
        yield srv


def trigger(srv, kind="external", **md):
    return ",".join([kind, f"scalerAddress={srv.address}", *(f"{k}={v}" for k, v in md.items())])


def wait_trigger(ck, nsname, pred, what, timeout=None):
    return eventually(lambda: (lambda t: t if pred(t) else None)(state_of(ck, nsname)),
                      timeout or budget(10), f"{nsname}: {what}")


def test_spec_value_and_activity_as_keda(ckeda, server, unique):
    server.set("apps", unique, metric="queue.depth", target=5, value=7, active=False)
    ckeda.add(f"apps/{unique}", trigger(server, custom="abc"))
    # IsActive decides: 7 with active=false is INACTIVE (no value > activation here)
    t = wait_trigger(ckeda, f"apps/{unique}", lambda t: t["state"] == "INACTIVE" and
                     t["value"] == 7, "INACTIVE with value 7")
    assert t["metric_name"] == "s0-queue.depth"  # sN-<metricName>, not normalized, as KEDA
    assert t["metric_target"] == 5
    server.set("apps", unique, active=True)
    wait_trigger(ckeda, f"apps/{unique}", lambda t: t["state"] == "ACTIVE", "ACTIVE")
    # metricValueFloat wins when > 0; several values add up (the HPA sums them)
    server.set("apps", unique, values=[(3, 2.5), (4, 0.0)], target_float=0.5, active=False)
    wait_trigger(ckeda, f"apps/{unique}", lambda t: t["state"] == "INACTIVE" and
                 t["value"] == 6.5, "INACTIVE with value 6.5")
    calls = [c for c in server.calls if c.name == unique]
    spec_calls = [c for c in calls if c.method == "GetMetricSpec"]
    metrics = [c for c in calls if c.method == "GetMetrics"]
    assert len(spec_calls) == 1, "the spec is asked for once while polls succeed"
    assert metrics and all(c.metric_name == "queue.depth" for c in metrics)
    for c in calls:
        assert c.namespace == "apps" and c.name == unique
        # all metadata (a <key>FromEnv entry would make the worker read the scale target's
        # env, which needs a control plane: tests/e2e/test_auth_env.py)
        assert c.metadata == {"scalerAddress": server.address, "custom": "abc"}
        assert c.seconds_left is not None and 0 < c.seconds_left <= 3.0  # grpc-timeout
    # GetMetrics then IsActive on each poll, in that order
    seq = [c.method for c in calls if c.method != "GetMetricSpec"]
    assert seq[:4] == ["GetMetrics", "IsActive", "GetMetrics", "IsActive"]


def test_missing_address_is_a_configuration_error(ckeda, unique):
    ckeda.add(f"apps/{unique}", "external,custom=abc")
    t = wait_trigger(ckeda, f"apps/{unique}", lambda t: t["state"] == "ERROR" and
                     "scalerAddress" in t["error"], "a configuration error")
    assert t["error"] == ('metadata.scalerAddress: missing required parameter "scalerAddress" '
                          'in [triggerMetadata]'), t["error"]


def test_hung_server_is_error_after_the_timeout_and_a_stopped_one_too(ckeda, server, unique):
    server.set("apps", unique, metric="m", target=1, value=2, active=True)
    ckeda.add(f"apps/{unique}", trigger(server))
    wait_trigger(ckeda, f"apps/{unique}", lambda t: t["state"] == "ACTIVE", "ACTIVE")
    server.objects[("apps", unique)].hang.set()
    start = time.monotonic()
    t = wait_trigger(ckeda, f"apps/{unique}", lambda t: t["state"] == "ERROR", "ERROR",
                     timeout=budget(15))
    assert time.monotonic() - start >= 2.0  # the poll waited for its 3 s timeout
    # ckeda's own deadline, or the server's answer to the grpc-timeout header when it fires
    # first (a race the sanitizer build makes visible): an ERROR after the timeout either way
    assert ("no answer within the timeout of 3000 ms" in t["error"] and "GetMetrics" in t["error"]) \
        or "DeadlineExceeded" in t["error"], t["error"]
    server.objects[("apps", unique)].hang.clear()
    wait_trigger(ckeda, f"apps/{unique}", lambda t: t["state"] == "ACTIVE", "ACTIVE again")
    port = server.port
    server.stop()
    t = wait_trigger(ckeda, f"apps/{unique}", lambda t: t["state"] == "ERROR", "ERROR")
    assert "Unavailable" in t["error"] and f"127.0.0.1:{port}" in t["error"], t["error"]
    server.start(port)
    wait_trigger(ckeda, f"apps/{unique}", lambda t: t["state"] == "ACTIVE", "recovery")


def make_pki(d):
    openssl_pki(d, "/CN=external-test-ca", (
        ("srv", "/CN=localhost", SERVER_EXT),
        ("client", "/CN=ckeda", "extendedKeyUsage=clientAuth")))
    return {n: (d / n).read_text() for n in ("ca.crt", "srv.crt", "srv.key", "client.crt",
                                             "client.key")}


def test_tls_with_ca_and_client_certificate(tmp_path, unique):
    pki = make_pki(tmp_path)
    with FakeKubeAPI() as api, ExternalScalerServer(
            tls=(pki["srv.crt"], pki["srv.key"]), client_ca=pki["ca.crt"]) as srv:
        api.secrets[("apps", "ext-tls")] = {"ca": pki["ca.crt"], "cert": pki["client.crt"],
                                            "key": pki["client.key"]}
        ck = Ckeda(tmp_path, "--kubeconfig", api.kubeconfig(tmp_path))
        try:
            srv.set("apps", unique, metric="m", target=2, value=3, active=True)
            srv.set("apps", unique + "-noca", active=True)
            # the caCert alone turns TLS on, as KEDA's NewTLSConfig rule
            ck.add(f"apps/{unique}", trigger(srv) + ",auth.caCert=ext-tls:ca,"
                   "auth.tlsClientCert=ext-tls:cert,auth.tlsClientKey=ext-tls:key")
            ck.add(f"apps/{unique}-noca", trigger(srv, enableTLS="true"))
            t = wait_trigger(ck, f"apps/{unique}", lambda t: t["state"] == "ACTIVE" and
                             t["value"] == 3, "ACTIVE over TLS")
            assert t["metric_name"] == "s0-m"
            t = wait_trigger(ck, f"apps/{unique}-noca", lambda t: t["state"] == "ERROR" and
                             "TLS" in t["error"], "ERROR without the CA")
            assert "certificate verification failed" in t["error"], t["error"]
            assert "BEGIN" not in ck.log()  # no PEM ever logged
        finally:
            ck.stop()


def wait_active_in_table(ck, slot, timeout_ms):
    """shmtool wait-active, started and ready: .communicate() gives the time it saw ACTIVE."""
    p = subprocess.Popen([str(BIN / "tests" / "shmtool"), "--shm-name", ck.name, "wait-active",
                          str(slot), str(timeout_ms)], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    return p


def test_push_activates_at_once_and_the_stream_reconnects(ckeda, server, unique):
    server.set("apps", unique, metric="m", target=1, value=0, active=False)
    ckeda.add(f"apps/{unique}", trigger(server, kind="external-push"), polling_interval=30)
    t = wait_trigger(ckeda, f"apps/{unique}", lambda t: t["state"] == "INACTIVE", "INACTIVE")
    slot = t["slot"]
    o = server.objects[("apps", unique)]
    eventually(lambda: o.streams_opened == 1, budget(5), "StreamIsActive to open")
    server.push("apps", unique, False)  # ignored, as KEDA
    latencies = []
    for _ in range(5):
        waiter = wait_active_in_table(ckeda, slot, int(budget(5) * 1000))
        n = len(server.sent)
        server.push("apps", unique, True)
        out, _ = waiter.communicate(timeout=budget(10))
        assert waiter.returncode == 0, "the push did not reach the table"
        eventually(lambda: len(server.sent) > n, budget(2), "the send time")
        latencies.append(float(out) - server.sent[-1][0])
    print(f"push latency (server send -> table ACTIVE), 5 samples: "
          f"{', '.join(f'{x * 1000:.2f} ms' for x in latencies)}")
    assert max(latencies) < budget(PUSH_LATENCY_MAX_S), latencies
    assert state_of(ckeda, f"apps/{unique}")["state"] == "ACTIVE"
    # the server goes away and comes back on the same port: the stream is opened again
    port = server.port
    server.stop()
    server.objects[("apps", unique)].streams_opened = 0
    server.start(port)
    eventually(lambda: o.streams_opened >= 1, budget(10), "StreamIsActive to reopen")
    waiter = wait_active_in_table(ckeda, slot, int(budget(5) * 1000))
    server.push("apps", unique, True)
    waiter.communicate(timeout=budget(10))
    assert waiter.returncode == 0
