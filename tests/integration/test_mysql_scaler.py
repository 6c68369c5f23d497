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

import uuid

import sources
import sql_checks
from test_redis_scaler import error_of, wait_state

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
    assert error_of(ck, so, 0, PREFIX)["error"] == PREFIX + "sql: no rows in result set"
    assert error_of(ck, so, 1, PREFIX)["error"] == (
        PREFIX + 'sql: Scan error on column index 0, name "n": converting NULL to float64 '
        "is unsupported")
    t = error_of(ck, so, 2, PREFIX)
    assert "converting driver.Value type []uint8 (\"many\") to a float64" in t["error"], t
    assert error_of(ck, so, 3, PREFIX)["error"] == (
        PREFIX + f"Error 1146 (42S02): Table '{db.dbname}.{unique}_missing' doesn't exist")


def test_wrong_password_is_an_error_without_the_password(env, mariadb_server, unique):
    sql_checks.wrong_password_is_an_error_without_the_password(
        env, mariadb_server, my_trigger, unique, "Error 1045 (28000): Access denied")


def kill_connections(server):
    for pid in server.sql("SELECT id FROM information_schema.processlist "
                          f"WHERE user = '{server.user}'").split():
        server.sql(f"KILL {pid}")


def test_stopped_server_times_out_then_recovers(env, mariadb_server, monkeypatch, unique):
    sql_checks.stopped_server_times_out_then_recovers(
        env, mariadb_server, monkeypatch, unique, make_trigger=my_trigger,
        server_class=sources.MariaDBServer, pids_of=lambda s: [s.main_proc.pid],
        kill_connections=kill_connections, word="MySQL")
