"""The mysql scaler against real MariaDB servers, through the real process tree.

As test_postgresql_scaler.py: `ckeda run` on a table of its own, triggers written by
tests/shmtool (the table's target and activation as the watcher would fill them from queryValue
and activationQueryValue), results read with `ckedactl -o json get NS/NAME`. KEDA reads the
password and `connectionString` only from a TriggerAuthentication, so the triggers here have
one (shmtool's auth.PARAM=SECRET:KEY), resolved by the worker from a Secret that the test-only
fake Kubernetes API serves (fake_kube_api.py).

Covered: the query's first column as the value and ACTIVE/INACTIVE around the activation
(strictly greater), a go-sql-driver connectionString and a host name that needs a lookup,
KEDA's errors for no row, NULL, text and a bad query, a wrong password as ERROR without the
password anywhere (and the credentials resolved again), a server that stops answering (SIGSTOP)
as ERROR after the timeout while another trigger of the same worker keeps its schedule, and
recovery after the server kills the connection and after the server is replaced by a new one.
"""

import os
import signal
import time
import uuid


import sources
from test_redis_scaler import TIMEOUT_MS, budget, eventually, state_of, wait_state

PREFIX = "error inspecting MySQL: "


def my_trigger(api, server, query, *extra, activation=0, target=5, secret=None):
    """A mysql trigger for shmtool with its password in a Secret of its own."""
    secret = secret or f"my-{uuid.uuid4().hex[:8]}"
    api.secrets[("apps", secret)] = {"password": server.password}
    return ",".join(["mysql", f"activation={activation}", f"target={target}",
                     f"host={server.host}", f"port={server.port}", f"username={server.user}",
                     f"dbName={server.dbname}", f"query={query}", f"queryValue={target}",
                     f"activationQueryValue={activation}", f"auth.password={secret}:password",
                     *extra])


def error_of(ck, so, index=0, word="MySQL"):
    def failed():
        t = state_of(ck, so, index)
        return t if t["state"] == "ERROR" and word in t["error"] else None
    return eventually(failed, budget(10), f"{so} trigger {index} to fail with {word!r}")


def test_value_is_the_first_column_and_activation_is_strict(env, mariadb_server, unique):
    ck, api = env
    db, so = mariadb_server, f"apps/{unique}"
    db.sql(f"CREATE TABLE {unique} (id int)")
    dsn_secret = f"dsn-{unique}"
    api.secrets[("apps", dsn_secret)] = {"dsn": db.connection_string}
    ck.add(so, my_trigger(api, db, f"SELECT count(*) FROM {unique}", activation=2),
           f"mysql,query=SELECT 2.5 AS x,queryValue=1,auth.connectionString={dsn_secret}:dsn",
           my_trigger(api, db, "SELECT 7 FROM seq_1_to_100000", "host=localhost"))
    wait_state(ck, so, "INACTIVE", 0)
    wait_state(ck, so, "ACTIVE", 2.5, index=1)  # KEDA's connectionString form, a decimal
    wait_state(ck, so, "ACTIVE", 7, index=2)  # a name looked up; the first of 10^5 rows
    db.sql(f"INSERT INTO {unique} VALUES (1), (2)")
    wait_state(ck, so, "INACTIVE", 2)  # 2 > 2 is false
    db.sql(f"INSERT INTO {unique} VALUES (3)")
    t = wait_state(ck, so, "ACTIVE", 3)
    assert t["active"] is True and t["error"] == "" and t["errors"] == 0


def test_query_results_keda_refuses(env, mariadb_server, unique):
    ck, api = env
    db, so = mariadb_server, f"apps/{unique}"
    ck.add(so, my_trigger(api, db, "SELECT 1 FROM DUAL WHERE false"),
           my_trigger(api, db, "SELECT NULL AS n"),
           my_trigger(api, db, "SELECT 'many' AS word"),
           my_trigger(api, db, f"SELECT x FROM {unique}_missing"))
    assert error_of(ck, so, 0)["error"] == PREFIX + "sql: no rows in result set"
    assert error_of(ck, so, 1)["error"] == (
        PREFIX + 'sql: Scan error on column index 0, name "n": converting NULL to float64 '
        "is unsupported")
    assert "converting driver.Value type []uint8 (\"many\") to a float64" in error_of(ck, so, 2)[
        "error"]
    assert error_of(ck, so, 3)["error"] == (
        PREFIX + f"Error 1146 (42S02): Table '{db.dbname}.{unique}_missing' doesn't exist")


def test_wrong_password_is_an_error_without_the_password(env, mariadb_server, unique):
    ck, api = env
    wrong, secret = f"wrong-{uuid.uuid4().hex}", f"bad-{unique}"
    trigger = my_trigger(api, mariadb_server, "SELECT 1", secret=secret)
    api.secrets[("apps", secret)] = {"password": wrong}
    ck.add(f"apps/{unique}", trigger)
    t = error_of(ck, f"apps/{unique}", 0, "Error 1045 (28000): Access denied")
    assert t["value"] is None and t["errors"] >= 1
    snapshot = ck._ctl("get", f"apps/{unique}").stdout + ck._ctl("triggers").stdout
    assert wrong not in snapshot and wrong not in ck.log()
    path = f"/api/v1/namespaces/apps/secrets/{secret}"
    eventually(lambda: api.requests.count(path) >= 2, budget(10), "the Secret read again")
    api.secrets[("apps", secret)] = {"password": mariadb_server.password}
    wait_state(ck, f"apps/{unique}", "ACTIVE", 1, timeout=budget(10))


def test_stopped_server_times_out_then_recovers(env, mariadb_server, monkeypatch, unique):
    ck, api = env
    healthy, so = mariadb_server, f"apps/{unique}"
    stuck = sources.MariaDBServer().start()
    port, password = stuck.port, stuck.password
    try:
        ck.add(so, my_trigger(api, stuck, "SELECT 1"), my_trigger(api, healthy, "SELECT 1"))
        wait_state(ck, so, "ACTIVE", 1, index=0)
        wait_state(ck, so, "ACTIVE", 1, index=1)
        ts = ck.triggers(so)
        assert ts[0]["worker_pid"] == ts[1]["worker_pid"], "both triggers must share one worker"

        os.kill(stuck.main_proc.pid, signal.SIGSTOP)
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
            os.kill(stuck.main_proc.pid, signal.SIGCONT)
        wait_state(ck, so, "ACTIVE", 1, index=0, timeout=budget(10))

        # The server kills the kept connection: the next poll connects again, without an error.
        before = state_of(ck, so, 0)["errors_total"]
        for pid in stuck.sql("SELECT id FROM information_schema.processlist "
                             f"WHERE user = '{stuck.user}'").split():
            stuck.sql(f"KILL {pid}")
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
    with sources.MariaDBServer(password=password) as second:
        assert second.port == port
        t = wait_state(ck, so, "ACTIVE", 1, timeout=budget(15))
        assert t["errors"] == 0 and t["error"] == ""
