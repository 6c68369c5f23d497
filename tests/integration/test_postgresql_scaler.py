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

import uuid

import sources
import sql_checks
from test_redis_scaler import error_of, wait_state


def pg_trigger(api, server, query, *extra, activation=0, target=5, secret=None):
    """A postgresql trigger for shmtool with its password in a Secret of its own."""
    secret = secret or f"pg-{uuid.uuid4().hex[:8]}"
    api.secrets[("apps", secret)] = {"password": server.password}
    return ",".join(["postgresql", f"activation={activation}", f"target={target}",
                     f"host={server.host}", f"port={server.port}", f"userName={server.user}",
                     f"dbName={server.dbname}", "sslmode=disable", f"query={query}",
                     f"targetQueryValue={target}", f"activationTargetQueryValue={activation}",
                     f"auth.password={secret}:password", *extra])


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
    assert error_of(ck, so, 0, prefix)["error"] == prefix + "sql: no rows in result set"
    assert error_of(ck, so, 1, prefix)["error"] == (
        prefix + 'sql: Scan error on column index 0, name "n": converting NULL to float64 '
        "is unsupported")
    t = error_of(ck, so, 2, prefix)
    assert "converting driver.Value type string (\"many\") to a float64" in t["error"], t
    assert error_of(ck, so, 3, prefix)["error"] == (
        prefix + f'ERROR: relation "{unique}_missing" does not exist (SQLSTATE 42P01)')


def test_wrong_password_is_an_error_without_the_password(env, postgres_server, unique):
    sql_checks.wrong_password_is_an_error_without_the_password(
        env, postgres_server, pg_trigger, unique, "password authentication failed")


def kill_connections(server):
    server.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")


def test_stopped_server_times_out_then_recovers(env, postgres_server, monkeypatch, unique):
    # The postmaster and every backend (each backend is a session of its own).
    sql_checks.stopped_server_times_out_then_recovers(
        env, postgres_server, monkeypatch, unique, make_trigger=pg_trigger,
        server_class=sources.PostgresServer, pids_of=lambda s: sources._tree([s.main_proc.pid]),
        kill_connections=kill_connections, word="postgreSQL")
