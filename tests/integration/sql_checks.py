"""The checks the postgresql and mysql suites share, each run against that suite's real server.

A suite passes what differs: its trigger maker (`make_trigger(api, server, query,
secret=...)`, the password in a Secret of the test-only fake Kubernetes API), its server class
in sources.py, the processes to stop to freeze the server, and how the server ends its clients'
connections.
"""

import time
import uuid

import sources
from test_redis_scaler import (active_in_one_worker, budget, error_of, eventually, polled_after,
                               state_of, stopped, stuck_trigger_times_out, wait_state)


def wrong_password_is_an_error_without_the_password(env, server, make_trigger, unique, refusal):
    """A wrong password is ERROR with the server's refusal, in no published text and no log
    line; the worker reads the Secret again and recovers once the password is right."""
    ck, api = env
    wrong, secret = f"wrong-{uuid.uuid4().hex}", f"bad-{unique}"
    trigger = make_trigger(api, server, "SELECT 1", secret=secret)
    api.secrets[("apps", secret)] = {"password": wrong}
    ck.add(f"apps/{unique}", trigger)
    t = error_of(ck, f"apps/{unique}", 0, refusal)
    assert t["value"] is None and t["errors"] >= 1
    snapshot = ck._ctl("get", f"apps/{unique}").stdout + ck._ctl("triggers").stdout
    assert wrong not in snapshot and wrong not in ck.log()
    # A refused password makes the worker read the Secret again before the next poll.
    path = f"/api/v1/namespaces/apps/secrets/{secret}"
    eventually(lambda: api.requests.count(path) >= 2, budget(10), "the Secret read again")
    api.secrets[("apps", secret)] = {"password": server.password}
    wait_state(ck, f"apps/{unique}", "ACTIVE", 1, timeout=budget(10))


def stopped_server_times_out_then_recovers(env, healthy, monkeypatch, unique, *, make_trigger,
                                           server_class, pids_of, kill_connections, word):
    """Trigger 0 on a server of its own, trigger 1 on healthy, one worker: the stopped server
    is ERROR after the timeout while trigger 1 keeps its schedule; after SIGCONT and after the
    server ends the kept connection the next poll succeeds without an error; with the server
    gone, an error (with word) naming its address; a new server on the same port serves
    again."""
    ck, api = env
    so = f"apps/{unique}"
    stuck = server_class().start()
    port, password = stuck.port, stuck.password
    try:
        ck.add(so, make_trigger(api, stuck, "SELECT 1"), make_trigger(api, healthy, "SELECT 1"))
        active_in_one_worker(ck, so)
        with stopped(*pids_of(stuck)):
            stuck_trigger_times_out(ck, so)
        wait_state(ck, so, "ACTIVE", 1, index=0, timeout=budget(10))

        # The server ends the kept connection: the next poll connects again, without an error.
        before = state_of(ck, so, 0)["errors_total"]
        kill_connections(stuck)
        t = polled_after(ck, so, time.monotonic(), "a poll after the connection was killed")
        assert t["state"] == "ACTIVE" and t["errors_total"] == before, t
    finally:
        stuck.stop()
    t = error_of(ck, so, 0, word)  # the server is gone
    assert "127.0.0.1" in t["error"], t
    monkeypatch.setattr(sources, "free_port", lambda: port)  # the same address again
    with server_class(password=password) as second:
        assert second.port == port
        t = wait_state(ck, so, "ACTIVE", 1, timeout=budget(15))
        assert t["errors"] == 0 and t["error"] == ""
