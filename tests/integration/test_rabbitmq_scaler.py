"""The rabbitmq scaler against a real RabbitMQ (with its management plugin), through the real
process tree.

As the other scaler tests: `ckeda run` on a table of its own, triggers written by tests/shmtool
(the table's target and activation as the watcher would fill them from value/queueLength and
activationValue), results read with `ckedactl -o json get NS/NAME`. Credentials given through a
TriggerAuthentication are served from Secrets by the test-only fake Kubernetes API
(fake_kube_api.py). One broker for the module (RabbitMQ takes seconds to start and to stop),
with statistics emitted once a second (see `broker`); every test uses queues of its own.

Covered: the message count over AMQP (passive Queue.Declare) and over the management API, in
QueueLength and MessageRate modes, excludeUnacknowledged and a regex listing, activation
around activationValue (strictly greater), KEDA's errors for a missing queue on both protocols
and recovery once it exists, MessageRate over AMQP refused as KEDA refuses it, host, username
and password from a TriggerAuthentication, wrong credentials as ERROR without the password
anywhere (and the Secret read again), a broker that stops answering (SIGSTOP) as ERROR after the
timeout while another trigger of the same worker keeps its schedule, a broker that is not there,
and recovery: after SIGCONT, and without an error after the broker closes the kept connection.
"""

import os
import signal
import socket
import struct
import threading
import time
import urllib.parse
import uuid

import pytest

import sources
from test_redis_scaler import (TIMEOUT_MS, budget, error_of, eventually, polled_after, state_of,
                               wait_state)

PREFIX = "error inspecting RabbitMQ: "
CONNECT_PREFIX = "error establishing connection to RabbitMQ: "


@pytest.fixture(scope="module")
def broker():
    """The module's RabbitMQ. Its statistics are emitted once a second, the granularity of the
    management API's samples: at the session fixture's 500 ms two emissions can share a sample
    and the publish rate then reads 0 for a while, which MessageRate cannot tolerate."""
    mq = sources.RabbitMQServer(stats_interval_ms=1000)
    try:
        try:
            mq.start()
        except sources.SourceError as exc:
            pytest.fail(str(exc), pytrace=False)  # the message carries the logs
        yield mq
    finally:
        mq.stop()


def mq_trigger(host, queue, *extra, activation=0, target=5, mode=None):
    """A rabbitmq trigger for shmtool: the table's target/activation and KEDA's metadata."""
    parts = ["rabbitmq", f"activation={activation}", f"target={target}", f"host={host}",
             f"queueName={queue}", f"activationValue={activation}"]
    parts += [f"mode={mode}", f"value={target}"] if mode else [f"queueLength={target}"]
    return ",".join(parts + list(extra))


class AmqpPublisher:
    """Publishes over one long-lived AMQP channel (raw AMQP 0-9-1: the management API's publish
    opens a channel per message, whose statistics the broker drops before it samples them, so
    no publish rate would show). Only what publishing needs; any surprise raises."""

    def __init__(self, mq):
        self.sock = socket.create_connection((mq.host, mq.port), timeout=10)
        self.sock.sendall(b"AMQP\0\0\x09\x01")
        self._expect(10, 10)  # Start
        resp = b"\0" + mq.user.encode() + b"\0" + mq.password.encode()
        self._method(0, 10, 11, struct.pack(">I", 0) + self._short(b"PLAIN") +
                     struct.pack(">I", len(resp)) + resp + self._short(b"en_US"))
        ch_max, frame_max, _ = struct.unpack(">HIH", self._expect(10, 30)[:8])
        self._method(0, 10, 31, struct.pack(">HIH", ch_max, frame_max, 0))
        self._method(0, 10, 40, self._short(b"/") + self._short(b"") + b"\0")
        self._expect(10, 41)
        self._method(1, 20, 10, self._short(b""))
        self._expect(20, 11)

    @staticmethod
    def _short(b):
        return bytes([len(b)]) + b

    def _frame(self, kind, channel, payload):
        self.sock.sendall(struct.pack(">BHI", kind, channel, len(payload)) + payload + b"\xce")

    def _method(self, channel, cls, method, args):
        self._frame(1, channel, struct.pack(">HH", cls, method) + args)

    def _read(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("the broker closed the connection")
            buf += chunk
        return buf

    def _expect(self, cls, method):
        while True:
            kind, _, size = struct.unpack(">BHI", self._read(7))
            payload = self._read(size + 1)[:-1]
            if kind == 1:
                got = struct.unpack(">HH", payload[:4])
                assert got == (cls, method), f"AMQP method {got}, expected {(cls, method)}"
                return payload[4:]

    def publish(self, queue, body=b"x"):
        self._method(1, 60, 40, struct.pack(">H", 0) + self._short(b"") +
                     self._short(queue.encode()) + b"\0")  # Basic.Publish, default exchange
        self._frame(2, 1, struct.pack(">HHQH", 60, 0, len(body), 0))
        self._frame(3, 1, body)

    def close(self):
        self.sock.close()


def test_message_count_over_amqp_and_http_with_strict_activation(env, broker, unique):
    ck, _ = env
    mq, so = broker, f"apps/{unique}"
    for q in (unique, f"{unique}.b"):
        mq.declare_queue(q)
    mq.publish(unique, count=3)
    mq.publish(f"{unique}.b", count=2)
    ck.add(so, mq_trigger(mq.amqp_url, unique, activation=3),
           mq_trigger(mq.http_url, unique, activation=3),
           mq_trigger(mq.http_url, unique, mode="QueueLength", target=10),
           mq_trigger(mq.http_url, f"^{unique}(\\.b)?$", "useRegex=true", "operation=sum"),
           mq_trigger(mq.http_url, f"^{unique}(\\.b)?$", "useRegex=true", "operation=max"))
    wait_state(ck, so, "INACTIVE", 3, index=0)  # 3 > 3 is false
    wait_state(ck, so, "INACTIVE", 3, index=1, timeout=budget(15))  # statistics trail
    wait_state(ck, so, "ACTIVE", 3, index=2, timeout=budget(15))
    wait_state(ck, so, "ACTIVE", 5, index=3, timeout=budget(15))
    wait_state(ck, so, "ACTIVE", 3, index=4, timeout=budget(15))
    mq.publish(unique)
    t = wait_state(ck, so, "ACTIVE", 4, index=0)
    assert t["error"] == "" and t["errors"] == 0 and t["type"] == "rabbitmq"
    wait_state(ck, so, "ACTIVE", 4, index=1, timeout=budget(15))
    wait_state(ck, so, "ACTIVE", 6, index=3, timeout=budget(15))


def test_unacknowledged_messages_and_message_rate(env, broker, unique):
    ck, _ = env
    mq, so = broker, f"apps/{unique}"
    rated = f"{unique}.rate"  # a queue of its own, never read with basic.get
    mq.declare_queue(unique)
    mq.declare_queue(rated)
    mq.publish(unique, count=4)
    # Two messages fetched without an ack stay unacknowledged until the requeue.
    status, _ = mq.api("POST", f"/api/queues/%2F/{unique}/get",
                       {"count": 2, "ackmode": "ack_requeue_true", "encoding": "auto"})
    assert status == 200
    ck.add(so, mq_trigger(mq.http_url, unique, "excludeUnacknowledged=true"),
           mq_trigger(mq.http_url, rated, mode="MessageRate", target=100, activation=10000),
           mq_trigger(mq.amqp_url, unique, mode="MessageRate", target=100))
    wait_state(ck, so, "ACTIVE", 4, index=0, timeout=budget(15))  # requeued: ready again
    t = error_of(ck, so, 2, "must be HTTP")
    assert t["error"].endswith("protocol amqp not supported; must be HTTP to use trigger mode "
                               "MessageRate"), t

    stop, failures = threading.Event(), []
    pub = AmqpPublisher(mq)

    def publisher():
        try:
            while not stop.is_set():
                pub.publish(rated)
                time.sleep(0.02)
        except OSError as exc:
            failures.append(exc)
    th = threading.Thread(target=publisher, daemon=True)
    th.start()
    try:
        seen = []

        def rate_shown():
            t = state_of(ck, so, 1)
            seen.append((t["state"], t["value"], t["error"]))
            return t if t["state"] == "INACTIVE" and t["value"] and t["value"] > 1 else None
        try:
            t = eventually(rate_shown, budget(20), "a publish rate above 1/s")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; seen {seen[-5:]}; publisher {failures}; management API "
                                 f"{ {k: v for k, v in mq.queue_info(rated).items() if k in ('messages', 'message_stats')} }") from None
        # The rate is below the activation (10000/s) and so is the message count: INACTIVE.
        assert t["value"] < 10000, t
    finally:
        stop.set()
        th.join()
        pub.close()


def test_missing_queue_is_keda_error_then_recovers(env, broker, unique):
    ck, _ = env
    mq, so = broker, f"apps/{unique}"
    ck.add(so, mq_trigger(mq.amqp_url, unique), mq_trigger(mq.http_url, unique))
    t = error_of(ck, so, 0, "404")
    assert t["error"] == (PREFIX + f"Exception (404) Reason: \"NOT_FOUND - no queue '{unique}' "
                          "in vhost '/'\""), t
    t = error_of(ck, so, 1, "404")
    assert t["error"] == (
        PREFIX + "error requesting RabbitMQ API status: 404 Not Found, response: "
        '{"error":"Object Not Found","reason":"Not Found"}, from: '
        f"http://127.0.0.1:{mq.management_port}/api/queues/%2F/{unique}"), t
    assert mq.password not in t["error"]
    mq.declare_queue(unique)
    mq.publish(unique, count=2)
    t = wait_state(ck, so, "ACTIVE", 2, index=0)  # the channel is opened again
    assert t["errors"] == 0
    wait_state(ck, so, "ACTIVE", 2, index=1, timeout=budget(15))


def test_credentials_from_a_trigger_authentication(env, broker, unique):
    ck, api = env
    mq, so = broker, f"apps/{unique}"
    mq.declare_queue(unique)
    mq.publish(unique, count=3)
    secret = f"mq-{unique}"
    api.secrets[("apps", secret)] = {"username": mq.user, "password": mq.password,
                                     "host": mq.amqp_url}
    creds = (f"auth.username={secret}:username", f"auth.password={secret}:password")
    bare_amqp = f"amqp://{mq.host}:{mq.port}/"
    bare_http = f"http://{mq.host}:{mq.management_port}/"
    ck.add(so, mq_trigger(bare_amqp, unique, *creds),
           mq_trigger(bare_http, unique, *creds),
           ",".join(["rabbitmq", "target=5", f"queueName={unique}", "queueLength=5",
                     f"auth.host={secret}:host"]))
    wait_state(ck, so, "ACTIVE", 3, index=0)
    wait_state(ck, so, "ACTIVE", 3, index=1, timeout=budget(15))
    wait_state(ck, so, "ACTIVE", 3, index=2)


def test_amqps_verifies_the_broker_with_the_authentication_ca(env, broker, unique):
    ck, api = env
    mq, so = broker, f"apps/{unique}"
    mq.declare_queue(unique)
    mq.publish(unique, count=2)
    secret = f"tls-{unique}"
    api.secrets[("apps", secret)] = {"tls": "enable", "ca": mq.ca_pem}
    ck.add(so, mq_trigger(mq.amqps_url, unique, f"auth.tls={secret}:tls", f"auth.ca={secret}:ca"),
           mq_trigger(mq.amqps_url, unique),
           mq_trigger(mq.amqps_url, unique, "unsafeSsl=true", f"auth.tls={secret}:tls"))
    wait_state(ck, so, "ACTIVE", 2, index=0)
    t = error_of(ck, so, 1, "TLS")
    assert t["error"].startswith(CONNECT_PREFIX + f"TLS handshake with localhost:{mq.tls_port}: "), t
    assert mq.password not in t["error"]
    wait_state(ck, so, "ACTIVE", 2, index=2)


def test_wrong_credentials_are_an_error_without_the_password(env, broker, unique):
    ck, api = env
    mq, so = broker, f"apps/{unique}"
    mq.declare_queue(unique)
    wrong, secret = f"wrong-{uuid.uuid4().hex}", f"bad-{unique}"
    api.secrets[("apps", secret)] = {"username": mq.user, "password": wrong}
    creds = (f"auth.username={secret}:username", f"auth.password={secret}:password")
    in_url = f"amqp://{mq.user}:{wrong}x@{mq.host}:{mq.port}/"
    ck.add(so, mq_trigger(f"amqp://{mq.host}:{mq.port}/", unique, *creds),
           mq_trigger(f"http://{mq.host}:{mq.management_port}/", unique, *creds),
           mq_trigger(in_url, unique))
    t = error_of(ck, so, 0, "403")
    assert t["error"] == (CONNECT_PREFIX + 'Exception (403) Reason: "username or password not '
                          'allowed"'), t
    assert t["value"] is None and t["errors"] >= 1
    t = error_of(ck, so, 1, "401")
    assert t["error"].startswith(PREFIX + "error requesting RabbitMQ API status: 401 "
                                 "Unauthorized"), t
    error_of(ck, so, 2, "403")
    path = f"/api/v1/namespaces/apps/secrets/{secret}"
    eventually(lambda: api.requests.count(path) >= 3, budget(10), "the Secret read again")
    shown = ck._ctl("get", so).stdout + ck._ctl("triggers").stdout + ck.log()
    assert wrong not in shown
    api.secrets[("apps", secret)] = {"username": mq.user, "password": mq.password}
    wait_state(ck, so, "INACTIVE", 0, index=0, timeout=budget(10))
    wait_state(ck, so, "INACTIVE", 0, index=1, timeout=budget(15))


def connections_named(mq, name):
    status, body = mq.api("GET", "/api/connections")
    assert status == 200, body
    return [c["name"] for c in body
            if (c.get("client_properties") or {}).get("connection_name") == name]


def test_stopped_broker_times_out_then_recovers(env, broker, unique):
    ck, _ = env
    mq, so = broker, f"apps/{unique}"
    mq.declare_queue(unique)
    mq.publish(unique)
    absent = sources.free_port()  # nothing listens there: refused at once, every second
    ck.add(so, mq_trigger(mq.amqp_url, unique), mq_trigger(mq.http_url, unique),
           mq_trigger(f"amqp://{mq.host}:{absent}/", unique))
    wait_state(ck, so, "ACTIVE", 1, index=0)
    wait_state(ck, so, "ACTIVE", 1, index=1, timeout=budget(15))
    t = error_of(ck, so, 2, CONNECT_PREFIX)
    assert f"127.0.0.1:{absent}" in t["error"], t
    ts = ck.triggers(so)
    assert ts[0]["worker_pid"] == ts[2]["worker_pid"], "the triggers must share one worker"

    # The broker closes our kept connection (as a restart or an operator would): the next poll
    # connects again, without an error.
    name = f"keda-apps-{unique}"
    conns = eventually(lambda: connections_named(mq, name), budget(15),
                       "the AMQP connection in the management API")
    before = state_of(ck, so, 0)["errors_total"]
    for c in conns:
        status, _ = mq.api("DELETE", f"/api/connections/{urllib.parse.quote(c, safe='')}")
        assert status in (200, 204)
    t = polled_after(ck, so, time.monotonic(), "a poll after the connection was closed")
    assert t["state"] == "ACTIVE" and t["errors_total"] == before, t

    os.kill(mq.main_proc.pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        refused_before = state_of(ck, so, 2)["errors_total"]

        def stuck_failed():
            a, b = ck.triggers(so)[:2]
            return (a, b) if a["state"] == "ERROR" and b["state"] == "ERROR" else None
        a, b = eventually(stuck_failed, budget(10), "both stuck triggers' timeouts")
        elapsed = time.monotonic() - t0
        assert f"no answer within the timeout of {TIMEOUT_MS} ms" in a["error"], a
        assert f"no answer within the timeout of {TIMEOUT_MS} ms" in b["error"], b
        assert elapsed >= TIMEOUT_MS / 1000 - 1.0
        # The refused trigger kept its 1 s schedule meanwhile.
        polls = state_of(ck, so, 2)["errors_total"] - refused_before
        assert polls >= elapsed - 2, (polls, elapsed)
        assert mq.password not in a["error"] + b["error"]
    finally:
        os.kill(mq.main_proc.pid, signal.SIGCONT)
    wait_state(ck, so, "ACTIVE", 1, index=0, timeout=budget(15))
    wait_state(ck, so, "ACTIVE", 1, index=1, timeout=budget(15))
    assert mq.password not in ck.log()
