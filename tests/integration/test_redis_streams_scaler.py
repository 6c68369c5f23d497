"""The redis-streams scaler against real redis-servers (7.0), through the real process tree.

As test_redis_scaler.py: `ckeda run` on a table of its own, triggers written by tests/shmtool
(the table's target and activation as the watcher would fill them from the mode's target and
activationLagCount), results read with `ckedactl -o json get NS/NAME`. The watcher's half (the
type is served, the metric name `sN-redis-streams-<stream>`, the field errors) goes through
`ckeda validate`, which builds the same metric spec.

Covered: each of KEDA's modes on known stream states -- XLEN without a consumerGroup (a missing
stream is 0), XPENDING's count with one (a missing group is redis' NOGROUP error), and the
group's lag with lagCount (no stream: 0; stream without the group: XLEN; the lag as entries are
read; a lag redis cannot tell after a deletion: -1, as go-redis reads it) -- ACTIVE/INACTIVE
around activationLagCount (strictly greater), the password from a Secret through a
TriggerAuthentication (served by the test-only fake API), a wrong password as ERROR without the
password anywhere, a server that stops answering (SIGSTOP) as ERROR after the timeout while
another trigger of the same worker keeps its schedule, and recovery after the server is killed
and started again on the same port.
"""

import os
import signal
import uuid


import sources
from test_redis_scaler import (active_in_one_worker, budget, error_of, stopped,
                               stuck_trigger_times_out, validate_accepts_then_refuses,
                               wait_state)


def streams_trigger(server, stream, *extra, activation=0, target=5):
    """A redis-streams trigger for shmtool: table target/activation and KEDA metadata."""
    return ",".join(["redis-streams", f"activation={activation}", f"target={target}",
                     f"address={server.address}", f"stream={stream}",
                     f"activationLagCount={activation}", *extra])


def test_validate_serves_the_type_with_keda_metric_checks(tmp_path):
    """`ckeda validate` (the admission rules) accepts redis-streams triggers of every mode and
    names the missing stream."""
    ok = """apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: orders, namespace: shop}
spec:
  scaleTargetRef: {name: web}
  triggers:
    - type: redis-streams
      metadata: {address: "redis:6379", stream: orders, streamLength: "10"}
    - type: redis-streams
      metadata: {address: "redis:6379", stream: orders, consumerGroup: g, lagCount: "3"}
"""
    validate_accepts_then_refuses(
        tmp_path, ok, ok.replace("stream: orders, streamLength", "streamLength"), "metadata.stream")


def test_stream_length_without_a_group(ckeda, redis_server, unique):
    so = f"apps/{unique}"
    ckeda.add(so, streams_trigger(redis_server, unique, "streamLength=5", activation=2))
    t = wait_state(ckeda, so, "INACTIVE", 0)  # no stream yet: XLEN is 0
    assert t["type"] == "redis-streams" and t["error"] == "" and t["errors"] == 0
    for i in range(2):
        redis_server.command("XADD", unique, "*", "n", str(i))
    wait_state(ckeda, so, "INACTIVE", 2)  # 2 > 2 is false
    redis_server.command("XADD", unique, "*", "n", "2")
    t = wait_state(ckeda, so, "ACTIVE", 3)
    assert t["active"] is True


def test_pending_entries_of_a_group(ckeda, redis_server, unique):
    so, r = f"apps/{unique}", redis_server
    ckeda.add(so, streams_trigger(r, unique, "consumerGroup=workers", "pendingEntriesCount=2",
                                  activation=1),
              streams_trigger(r, unique, "consumerGroup=nobody"))
    r.command("XGROUP", "CREATE", unique, "workers", "$", "MKSTREAM")
    wait_state(ckeda, so, "INACTIVE", 0, index=0)
    for i in range(4):
        r.command("XADD", unique, "*", "n", str(i))
    wait_state(ckeda, so, "INACTIVE", 0, index=0)  # added, not yet read: nothing pending
    read = r.command("XREADGROUP", "GROUP", "workers", "c1", "COUNT", "3", "STREAMS", unique, ">")
    ids = [e[0] for e in read[0][1]]
    wait_state(ckeda, so, "ACTIVE", 3, index=0)
    r.command("XACK", unique, "workers", *ids[:2])
    wait_state(ckeda, so, "INACTIVE", 1, index=0)  # 1 > 1 is false
    t = error_of(ckeda, so, 1, "NOGROUP")
    assert t["value"] is None and t["active"] is None


def test_lag_of_a_group(ckeda, redis_server, unique):
    so, r = f"apps/{unique}", redis_server
    ckeda.add(so, streams_trigger(r, unique, "consumerGroup=g", "lagCount=10", activation=2))
    t = wait_state(ckeda, so, "INACTIVE", 0)  # XINFO GROUPS: ERR no such key -> 0
    assert t["error"] == ""
    for i in range(5):
        r.command("XADD", unique, "*", "n", str(i))
    wait_state(ckeda, so, "ACTIVE", 5)  # the group does not exist yet: XLEN
    r.command("XGROUP", "CREATE", unique, "g", "$")  # created at the end: lag 0
    wait_state(ckeda, so, "INACTIVE", 0)
    r.command("XGROUP", "SETID", unique, "g", "0", "ENTRIESREAD", "0")  # from the start: lag 5
    wait_state(ckeda, so, "ACTIVE", 5)
    r.command("XREADGROUP", "GROUP", "g", "c", "COUNT", "3", "STREAMS", unique, ">")
    wait_state(ckeda, so, "INACTIVE", 2)  # 2 > 2 is false
    # A deleted entry between the group's position and the end: redis cannot tell the lag
    # (null), which go-redis, and so KEDA, reads as -1.
    ids = [e[0] for e in r.command("XRANGE", unique, "-", "+")]
    r.command("XDEL", unique, ids[3])
    assert r.command("XINFO", "GROUPS", unique)[0][11] is None
    wait_state(ckeda, so, "INACTIVE", -1)


def test_password_from_a_trigger_authentication(env, redis_auth_server, unique):
    ck, api = env
    r, so = redis_auth_server, f"apps/{unique}"
    api.secrets[("apps", f"rs-{unique}")] = {"pw": r.password, "user": r.username}
    r.command("XADD", unique, "*", "a", "1")
    ck.add(so, streams_trigger(r, unique, f"auth.password=rs-{unique}:pw",
                               f"auth.username=rs-{unique}:user"),
           streams_trigger(r, unique, f"auth.password=rs-{unique}:pw"))
    wait_state(ck, so, "ACTIVE", 1, index=0)
    wait_state(ck, so, "ACTIVE", 1, index=1)
    assert f"/api/v1/namespaces/apps/secrets/rs-{unique}" in api.requests


def test_wrong_password_is_an_error_without_the_password(env, redis_auth_server, unique):
    ck, api = env
    r, so = redis_auth_server, f"apps/{unique}"
    wrong = f"wrong-{uuid.uuid4().hex}"
    api.secrets[("apps", f"bad-{unique}")] = {"pw": wrong}
    ck.add(so, streams_trigger(r, unique, f"username={r.username}",
                               f"auth.password=bad-{unique}:pw", "consumerGroup=g",
                               "lagCount=3"),
           streams_trigger(r, unique))  # no password at all: NOAUTH
    t = error_of(ck, so, 0, "WRONGPASS")
    assert t["value"] is None and t["errors"] >= 1
    error_of(ck, so, 1, "NOAUTH")
    published = ck._ctl("get", so).stdout + ck._ctl("triggers").stdout
    assert wrong not in published
    assert wrong not in ck.log()
    # The right password in the Secret: resolved again after the refusal, and served.
    api.secrets[("apps", f"bad-{unique}")] = {"pw": r.password}
    wait_state(ck, so, "INACTIVE", 0, index=0)


def test_stopped_redis_times_out_and_never_delays_another_trigger(ckeda, redis_server,
                                                                  fresh_redis_server, unique):
    stuck, healthy, so = fresh_redis_server, redis_server, f"apps/{unique}"
    stuck.command("XADD", unique, "*", "a", "1")
    healthy.command("XADD", unique, "*", "a", "1")
    ckeda.add(so, streams_trigger(stuck, unique), streams_trigger(healthy, unique))
    active_in_one_worker(ckeda, so)
    with stopped(stuck.main_proc.pid):
        stuck_trigger_times_out(ckeda, so, stuck.address,
                                lambda: healthy.command("XADD", unique, "*", "b", "2"), 2)
    stuck.command("XADD", unique, "*", "b", "2")
    stuck.command("XADD", unique, "*", "c", "3")
    wait_state(ckeda, so, "ACTIVE", 3, index=0, timeout=budget(10))


def test_killed_and_restarted_redis_recovers(ckeda, monkeypatch, unique):
    first = sources.RedisServer().start()
    port, so = first.port, f"apps/{unique}"
    try:
        first.command("XADD", unique, "*", "a", "1")
        ckeda.add(so, streams_trigger(first, unique))
        wait_state(ckeda, so, "ACTIVE", 1)
        os.kill(first.main_proc.pid, signal.SIGKILL)
        t = error_of(ckeda, so)
        assert first.address in t["error"], t
    finally:
        first.stop()
    monkeypatch.setattr(sources, "free_port", lambda: port)  # the same address again
    with sources.RedisServer() as second:
        assert second.port == port
        for i in range(3):
            second.command("XADD", unique, "*", "n", str(i))
        t = wait_state(ckeda, so, "ACTIVE", 3, timeout=budget(10))
        assert t["errors"] == 0 and t["error"] == ""
