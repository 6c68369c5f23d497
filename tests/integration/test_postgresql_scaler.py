"""The postgresql scaler against real PostgreSQL servers, through the real process tree.

As test_redis_scaler.py: `ckeda run` on a table of its own, triggers written by tests/shmtool
(the table's target and activation as the watcher would fill them from targetQueryValue and
activationTargetQueryValue), results read with `ckedactl -o json get NS/NAME`. KEDA reads the
password (and `connection`) only from a TriggerAuthentication, so every trigger here has one
(shmtool's auth.PARAM=SECRET:KEY) and the worker resolves it from a Secret that the test-only
fake Kubernetes API serves (fake_kube_api.py; the real API's Secret reads are the e2e suite's).

Covered: the query's first column as the value and ACTIVE/INACTIVE around the activation
(strictly greater), a URL `connection` and a host name that needs a lookup, KEDA's errors for no
row, NULL, text and a bad query, a wrong password as ERROR without the password anywhere (and
the credentials resolved again), a server that stops answering (SIGSTOP) as ERROR after the
timeout while another trigger of the same worker keeps its schedule, and recovery after the
server's connection is killed and after the server is replaced by a new one.
"""

import os
import signal
import time
import uuid


import sources
from test_redis_scaler import TIMEOUT_MS, budget, eventually, state_of, wait_state


def pg_trigger(api, server, query, *extra, activation=0, target=5, secret=None):
    """A postgresql trigger for shmtool with its password in a Secret of its own."""
    secret = secret or f"pg-{uuid.uuid4().hex[:8]}"
    api.secrets[("apps", secret)] = {"password": server.password}
    return ",".join(["postgresql", f"activation={activation}", f"target={target}",
                     f"host={server.host}", f"port={server.port}", f"userName={server.user}",
                     f"dbName={server.dbname}", "sslmode=disable", f"query={query}",
                     f"targetQueryValue={target}", f"activationTargetQueryValue={activation}",
                     f"auth.password={secret}:password", *extra])


def signal_server(server, sig):
    """Signals the postmaster and every backend (each backend is a session of its own)."""
    for pid in sources._tree([server.main_proc.pid]):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def error_of(ck, so, index=0, word="postgreSQL"):
    def failed():
        t = state_of(ck, so, index)
        return t if t["state"] == "ERROR" and word in t["error"] else None
    return eventually(failed, budget(10), f"{so} trigger {index} to fail with {word!r}")


def test_value_is_the_first_column_and_activation_is_strict(env, postgres_server, unique):
    ck, api = env
    pg, so = postgres_server, f"apps/{unique}"
    pg.psql(f"CREATE TABLE {unique} (id int)")
    url_secret = f"url-{unique}"
    api.secrets[("apps", url_secret)] = {"url": pg.url}
    ck.add(so, pg_trigger(api, pg, f"SELECT count(*) FROM {unique}", activation=2),
           f"postgresql,query=SELECT 2.5::float8 AS x,targetQueryValue=1,"
           f"auth.connection={url_secret}:url",
           pg_trigger(api, pg, "SELECT 7 FROM pg_class a CROSS JOIN pg_class b",
                      f"host=localhost,port={pg.port}"))
    wait_state(ck, so, "INACTIVE", 0)
    wait_state(ck, so, "ACTIVE", 2.5, index=1)  # a URL connection string, a float
    wait_state(ck, so, "ACTIVE", 7, index=2)  # a name looked up; the first of ~10^5 rows
    pg.psql(f"INSERT INTO {unique} VALUES (1), (2)")
    wait_state(ck, so, "INACTIVE", 2)  # 2 > 2 is false
    pg.psql(f"INSERT INTO {unique} VALUES (3)")
    t = wait_state(ck, so, "ACTIVE", 3)
    assert t["active"] is True and t["error"] == "" and t["errors"] == 0


def test_query_results_keda_refuses(env, postgres_server, unique):
    ck, api = env
    pg, so = postgres_server, f"apps/{unique}"
    ck.add(so, pg_trigger(api, pg, "SELECT 1 WHERE false"),
           pg_trigger(api, pg, "SELECT NULL::int AS n"),
           pg_trigger(api, pg, "SELECT 'many' AS word"),
           pg_trigger(api, pg, f"SELECT x FROM {unique}_missing"))
    prefix = "error inspecting postgreSQL: could not query postgreSQL: "
    assert error_of(ck, so, 0)["error"] == prefix + "sql: no rows in result set"
    assert error_of(ck, so, 1)["error"] == (
        prefix + 'sql: Scan error on column index 0, name "n": converting NULL to float64 '
        "is unsupported")
    assert "converting driver.Value type string (\"many\") to a float64" in error_of(ck, so, 2)[
        "error"]
    assert error_of(ck, so, 3)["error"] == (
        prefix + f'ERROR: relation "{unique}_missing" does not exist (SQLSTATE 42P01)')


def test_wrong_password_is_an_error_without_the_password(env, postgres_server, unique):
    ck, api = env
    wrong, secret = f"wrong-{uuid.uuid4().hex}", f"bad-{unique}"
    trigger = pg_trigger(api, postgres_server, "SELECT 1", secret=secret)
    api.secrets[("apps", secret)] = {"password": wrong}
    ck.add(f"apps/{unique}", trigger)
    t = error_of(ck, f"apps/{unique}", 0, "password authentication failed")
    assert t["value"] is None and t["errors"] >= 1
    snapshot = ck._ctl("get", f"apps/{unique}").stdout + ck._ctl("triggers").stdout
    assert wrong not in snapshot and wrong not in ck.log()
    # A refused password makes the worker read the Secret again before the next poll.
    path = f"/api/v1/namespaces/apps/secrets/{secret}"
    eventually(lambda: api.requests.count(path) >= 2, budget(10), "the Secret read again")
    api.secrets[("apps", secret)] = {"password": postgres_server.password}
    wait_state(ck, f"apps/{unique}", "ACTIVE", 1, timeout=budget(10))


def test_stopped_server_times_out_then_recovers(env, postgres_server, monkeypatch, unique):
    ck, api = env
    healthy, so = postgres_server, f"apps/{unique}"
    stuck = sources.PostgresServer().start()
    port, password = stuck.port, stuck.password
    try:
        ck.add(so, pg_trigger(api, stuck, "SELECT 1"), pg_trigger(api, healthy, "SELECT 1"))
        wait_state(ck, so, "ACTIVE", 1, index=0)
        wait_state(ck, so, "ACTIVE", 1, index=1)
        ts = ck.triggers(so)
        assert ts[0]["worker_pid"] == ts[1]["worker_pid"], "both triggers must share one worker"

        signal_server(stuck, signal.SIGSTOP)
        try:
            t0, worst_age = time.monotonic(), 0

            def stuck_failed():
                nonlocal worst_age
                a, b = ck.triggers(so)
                assert b["state"] == "ACTIVE", b
                worst_age = max(worst_age, b["age_ms"])
                return a if a["state"] == "ERROR" else None
            t = eventually(stuck_failed, budget(10), "the stuck trigger's timeout")
            assert f"no answer within the timeout of {TIMEOUT_MS} ms" in t["error"], t
            assert time.monotonic() - t0 >= TIMEOUT_MS / 1000 - 1.0
            assert worst_age < budget(2500), worst_age  # the other kept its 1 s schedule
        finally:
            signal_server(stuck, signal.SIGCONT)
        wait_state(ck, so, "ACTIVE", 1, index=0, timeout=budget(10))

        # The server ends the kept connection: the next poll connects again, without an error.
        before = state_of(ck, so, 0)["errors_total"]
        stuck.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                   "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
        killed = time.monotonic()
        t = eventually(lambda: (lambda t: t if t["age_ms"] < (time.monotonic() - killed) * 1000
                                - 100 else None)(state_of(ck, so, 0)),
                       budget(5), "a poll after the connection was killed")
        assert t["state"] == "ACTIVE" and t["errors_total"] == before, t
    finally:
        stuck.stop()
    t = error_of(ck, so, 0)  # the server is gone
    assert "127.0.0.1" in t["error"], t
    monkeypatch.setattr(sources, "free_port", lambda: port)  # the same address again
    with sources.PostgresServer(password=password) as second:
        assert second.port == port
        t = wait_state(ck, so, "ACTIVE", 1, timeout=budget(15))
        assert t["errors"] == 0 and t["error"] == ""
