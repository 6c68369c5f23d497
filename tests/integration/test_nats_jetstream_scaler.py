"""The nats-jetstream scaler against real nats-servers (2.9, JetStream and monitoring on),
through the real process tree.

As test_redis_scaler.py: `ckeda run` on a table of its own, triggers written by tests/shmtool
(the table's target and activation as the watcher would fill them from lagThreshold and
activationLagThreshold), results read with `ckedactl -o json get NS/NAME`. Streams and durable
pull consumers are made through the JetStream API and messages published and fetched with the
raw-protocol client of sources.py. The watcher's half (the type is served, the metric name
`sN-nats-jetstream-<stream>`, the field errors) goes through `ckeda validate`.

Covered: the value num_pending + num_ack_pending of the consumer (published, fetched without an
ack, fetched with ack policy none), ACTIVE/INACTIVE around activationLagThreshold (strictly
greater), KEDA's errors for an unknown consumer and an account that does not match, the endpoint
and account from a Secret through a TriggerAuthentication (the test-only fake API), a server that
is down, a server that stops answering (SIGSTOP) as ERROR after the timeout while another trigger
of the same worker keeps its schedule, and recovery when the server is back on its ports.
"""

import sources
from test_redis_scaler import (active_in_one_worker, budget, error_of, stopped,
                               stuck_trigger_times_out, validate_accepts_then_refuses,
                               wait_state)


def nats_trigger(server, stream, consumer, *extra, activation=0, target=10, account=None):
    """A nats-jetstream trigger for shmtool: table target/activation and KEDA metadata."""
    parts = ["nats-jetstream", f"activation={activation}", f"target={target}",
             f"stream={stream}", f"consumer={consumer}", f"lagThreshold={target}",
             f"activationLagThreshold={activation}"]
    if server is not None:
        parts.append(f"natsServerMonitoringEndpoint={server.monitoring_endpoint}")
        parts.append(f"account={account or server.account}")
    return ",".join(parts + list(extra))


def fetch(server, stream, consumer, count):
    """Pulls count messages (one request each), leaving them unacknowledged."""
    with server.client() as c:
        for _ in range(count):
            c.request(f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}", b'{"batch":1}')


def make_stream(server, unique, *consumers, **config):
    stream = unique.upper().replace("-", "_")
    server.create_stream(stream, [f"{unique}.>"])
    for c in consumers:
        server.create_consumer(stream, c, **config)
    return stream


def test_validate_serves_the_type_with_keda_metric_checks(tmp_path):
    ok = """apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: orders, namespace: shop}
spec:
  scaleTargetRef: {name: web}
  triggers:
    - type: nats-jetstream
      metadata: {natsServerMonitoringEndpoint: "nats:8222", account: "$G", stream: ORDERS,
                 consumer: worker, lagThreshold: "5"}
"""
    validate_accepts_then_refuses(tmp_path, ok, ok.replace("consumer: worker, ", ""),
                                  "metadata.consumer")


def test_pending_plus_ack_pending_and_activation(ckeda, nats_server, unique):
    n, so = nats_server, f"apps/{unique}"
    stream = make_stream(n, unique, "worker")
    make_stream_none = stream + "_NOACK"
    n.create_stream(make_stream_none, [f"{unique}-noack.>"])
    n.create_consumer(make_stream_none, "worker", ack_policy="none")
    ckeda.add(so, nats_trigger(n, stream, "worker", activation=5),
              nats_trigger(n, make_stream_none, "worker"))
    t = wait_state(ckeda, so, "INACTIVE", 0, index=0)
    assert t["type"] == "nats-jetstream" and t["error"] == ""
    n.publish(f"{unique}.jobs", b"job", count=5)
    wait_state(ckeda, so, "INACTIVE", 5)  # 5 > 5 is false
    n.publish(f"{unique}.jobs", b"job")
    wait_state(ckeda, so, "ACTIVE", 6)
    # Fetched, not acknowledged: num_pending 4 + num_ack_pending 2 is still 6.
    fetch(n, stream, "worker", 2)
    wait_state(ckeda, so, "ACTIVE", 6)
    s = n.stream_state(stream)
    (c,) = [c for c in s["consumer_detail"] if c["name"] == "worker"]
    assert (c["num_pending"], c["num_ack_pending"]) == (4, 2)
    # Ack policy none: fetched messages are gone from the count.
    n.publish(f"{unique}-noack.jobs", b"job", count=3)
    wait_state(ckeda, so, "ACTIVE", 3, index=1)
    fetch(n, make_stream_none, "worker", 2)
    wait_state(ckeda, so, "ACTIVE", 1, index=1)


def test_unknown_consumer_and_account_are_keda_errors(ckeda, nats_server, unique):
    n, so = nats_server, f"apps/{unique}"
    stream = make_stream(n, unique, "worker")
    ckeda.add(so, nats_trigger(n, stream, "nobody"),
              nats_trigger(n, stream, "worker", account="OTHER"),
              nats_trigger(n, stream, "worker"))
    t = error_of(ckeda, so, 0, f'consumer "nobody" not found in stream "{stream}"')
    assert t["value"] is None and t["active"] is None
    error_of(ckeda, so, 1, 'consumer "worker" not found')  # the answer lists only $G
    wait_state(ckeda, so, "INACTIVE", 0, index=2)


def test_endpoint_and_account_from_a_trigger_authentication(env, nats_server, unique):
    ck, api = env
    n, so = nats_server, f"apps/{unique}"
    stream = make_stream(n, unique, "worker")
    n.publish(f"{unique}.jobs", b"job", count=3)
    api.secrets[("apps", f"nats-{unique}")] = {"endpoint": n.monitoring_endpoint,
                                               "account": n.account}
    ck.add(so, nats_trigger(None, stream, "worker",
                            f"auth.natsServerMonitoringEndpoint=nats-{unique}:endpoint",
                            f"auth.account=nats-{unique}:account"))
    wait_state(ck, so, "ACTIVE", 3)
    assert f"/api/v1/namespaces/apps/secrets/nats-{unique}" in api.requests


def _nats_on(ports):
    """A NatsServer started on the given (client, monitoring) ports."""
    it = iter(ports)
    orig = sources.free_port
    sources.free_port = lambda: next(it)
    try:
        return sources.NatsServer().start()
    finally:
        sources.free_port = orig


def test_down_stopped_and_back(ckeda, nats_server, unique):
    """A server that is down is an ERROR naming it; one that stops answering (SIGSTOP) is an
    ERROR after the timeout while the other trigger of the worker keeps its schedule; a server
    back on the same ports is served again."""
    healthy, so = nats_server, f"apps/{unique}"
    stuck = sources.NatsServer().start()
    ports = (stuck.port, stuck.monitoring_port)
    try:
        s1 = make_stream(stuck, unique, "worker")
        s2 = make_stream(healthy, unique, "worker")
        stuck.publish(f"{unique}.jobs", b"j")
        healthy.publish(f"{unique}.jobs", b"j")
        ckeda.add(so, nats_trigger(stuck, s1, "worker"), nats_trigger(healthy, s2, "worker"))
        active_in_one_worker(ckeda, so)

        with stopped(stuck.main_proc.pid):
            stuck_trigger_times_out(ckeda, so, stuck.monitoring_endpoint,
                                    lambda: healthy.publish(f"{unique}.jobs", b"j"), 2)
        wait_state(ckeda, so, "ACTIVE", 1, index=0, timeout=budget(10))
    finally:
        stuck.stop()
    t = error_of(ckeda, so, 0, stuck.monitoring_endpoint)  # down: the connection is refused
    assert t["value"] is None
    back = _nats_on(ports)
    try:
        # A new store: the stream is made again, with three messages this time.
        s1b = make_stream(back, unique, "worker")
        assert s1b == s1
        back.publish(f"{unique}.jobs", b"j", count=3)
        t = wait_state(ckeda, so, "ACTIVE", 3, index=0, timeout=budget(10))
        assert t["errors"] == 0 and t["error"] == ""
    finally:
        back.stop()
