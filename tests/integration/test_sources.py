"""Smoke tests of the event sources: each writes a known value through the
server's normal interface and reads it back, the way a scaler will.
Also checks the life cycle every other test relies on (stop, failed start)."""

import os
import subprocess

import psycopg
import pymysql
import pytest
import redis

import sources


def test_redis_list_length(redis_server, unique):
    assert redis_server.command("RPUSH", unique, "a", "b", "c") == 3
    assert redis_server.client().rpush(unique, "d") == 4
    assert redis_server.command("LLEN", unique) == 4
    assert redis_server.client().llen(unique) == 4


def test_redis_auth(redis_auth_server, unique):
    r = redis_auth_server
    user = r.client()
    assert user.acl_whoami() == "ckeda"
    assert user.rpush(unique, "x", "y") == 2
    assert user.llen(unique) == 2
    assert r.command("LLEN", unique) == 2
    # requirepass: the default user with the same password, nothing without it.
    assert r.client(username=None).llen(unique) == 2
    with pytest.raises(sources.RedisReplyError, match="NOAUTH"):
        r.command("LLEN", unique, authenticate=False)
    with pytest.raises(redis.AuthenticationError):
        r.client(password="wrong").llen(unique)


def test_fresh_redis_is_empty(fresh_redis_server):
    assert fresh_redis_server.command("DBSIZE") == 0


def test_postgres_count(postgres_server, unique):
    with postgres_server.connect() as conn:
        conn.execute(f"CREATE TABLE {unique} (id serial PRIMARY KEY, state text)")
        conn.execute(f"INSERT INTO {unique} (state) SELECT 'pending' FROM generate_series(1, 7)")
        conn.execute(f"INSERT INTO {unique} (state) VALUES ('done')")
        (n,) = conn.execute(f"SELECT count(*) FROM {unique} WHERE state = 'pending'").fetchone()
    assert n == 7
    # The same query through the CLI over the unix socket, and the password is enforced on TCP.
    assert postgres_server.psql(f"SELECT count(*) FROM {unique}").strip() == "8"
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(postgres_server.dsn.replace(postgres_server.password, "wrong"))


def test_mariadb_count(mariadb_server, unique):
    with mariadb_server.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {unique} (id INT AUTO_INCREMENT PRIMARY KEY, state VARCHAR(16))")
        rows = [("pending",)] * 4 + [("done",)]
        cur.executemany(f"INSERT INTO {unique} (state) VALUES (%s)", rows)
        cur.execute(f"SELECT COUNT(*) FROM {unique} WHERE state = 'pending'")
        assert cur.fetchone() == (4,)
    assert mariadb_server.sql(f"SELECT COUNT(*) FROM {unique}").strip() == "5"
    with pytest.raises(pymysql.err.OperationalError) as err:
        pymysql.connect(host=mariadb_server.host, port=mariadb_server.port,
                        user=mariadb_server.user, password="wrong")
    assert err.value.args[0] == 1045  # access denied


def test_rabbitmq_queue_length(rabbitmq_server, unique):
    rabbitmq_server.declare_queue(unique)
    rabbitmq_server.publish(unique, payload="job", count=5)
    # The management API's counts trail the broker by about one statistics interval.
    def five():
        q = rabbitmq_server.queue_info(unique)
        return q if q.get("messages") == 5 else None

    q = sources.wait_until(five, 30, f"queue {unique} to show 5 messages")
    assert q["messages_ready"] == 5
    assert q["messages_unacknowledged"] == 0
    # KEDA's http URL form (user:password@host:port/vhost) reaches the same numbers.
    status, body = sources.http_request(
        "GET", f"{rabbitmq_server.management_url}/api/queues/%2F/{unique}",
        auth=(rabbitmq_server.user, rabbitmq_server.password))
    assert status == 200 and body["messages"] == 5
    status, _ = sources.http_request(
        "GET", f"{rabbitmq_server.management_url}/api/queues/%2F/{unique}",
        auth=(rabbitmq_server.user, "wrong"))
    assert status == 401
    assert sources.tcp_open(rabbitmq_server.host, rabbitmq_server.port)  # AMQP listener
    # The broker's own count, without the statistics delay.
    listing = rabbitmq_server.ctl("list_queues", "-q", "name", "messages")
    rows = [line.split("\t") for line in listing.splitlines()]
    assert [unique, "5"] in rows


def test_prometheus_query(prometheus_server, unique):
    exporter = prometheus_server.exporter
    query = f'ckeda_smoke_value{{case="{unique}"}}'
    exporter.set("ckeda_smoke_value", 17.5, case=unique)
    sources.wait_until(lambda: prometheus_server.query_value(query) == 17.5, 30,
                       "prometheus to return 17.5")
    exporter.set("ckeda_smoke_value", 3, case=unique)
    sources.wait_until(lambda: prometheus_server.query_value(query) == 3.0, 30,
                       "prometheus to return 3")
    result = prometheus_server.query(query)
    assert len(result) == 1 and result[0]["metric"]["job"] == prometheus_server.exporter_job


def test_nats_jetstream(nats_server, unique):
    stream = unique.upper()
    subject = f"{unique}.jobs"
    nats_server.create_stream(stream, [f"{unique}.>"])
    nats_server.create_consumer(stream, "worker")
    acks = nats_server.publish(subject, b"job", count=6)
    assert [a["seq"] for a in acks] == [1, 2, 3, 4, 5, 6]

    def settled():
        s = nats_server.stream_state(stream)
        return s if s and s["state"]["messages"] == 6 else None

    s = sources.wait_until(settled, 30, f"/jsz to show stream {stream} with 6 messages")
    (consumer,) = [c for c in s["consumer_detail"] if c["name"] == "worker"]
    # KEDA's nats-jetstream value: num_pending + num_ack_pending of the consumer.
    assert consumer["num_pending"] + consumer["num_ack_pending"] == 6


# -- life cycle --------------------------------------------------------------


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_stop_after_failing_test_leaves_nothing():
    with pytest.raises(ZeroDivisionError):
        with sources.RedisServer() as r:
            pid, tmp = r.main_proc.pid, r.tmp
            1 / 0
    assert not _alive(pid)
    assert not os.path.exists(tmp)
    with pytest.raises(OSError):
        sources.tcp_open(r.host, r.port)


def test_start_failure_reports_log():
    class BrokenRedis(sources.RedisServer):
        def _start(self):
            self.port = sources.free_port()
            self.main_proc = self.spawn(["redis-server", "--port", str(self.port),
                                         "--no-such-option", "1"], "redis.log")
            sources.wait_until(lambda: self.command("PING") == "PONG", 10, "redis PING",
                               procs=[self.main_proc])

    src = BrokenRedis()
    with pytest.raises(sources.SourceError) as err:
        src.start()
    msg = str(err.value)
    assert "exited with status" in msg
    assert "no-such-option" in msg  # redis-server's own complaint, from its log
    assert src.tmp and os.path.isdir(src.tmp)  # kept for a look
    subprocess.run(["rm", "-rf", src.tmp], check=True)
