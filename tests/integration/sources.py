"""Real event sources for ckeda's integration tests.

Each class starts one real server from Debian's packages on 127.0.0.1, on free
ports, with its data, configuration, sockets and logs in a fresh temporary
directory, and stops it again:

    RedisServer, PostgresServer, MariaDBServer, RabbitMQServer,
    PrometheusServer (scraping a MetricsExporter the test controls), NatsServer

and, for sources that are a test's own HTTP endpoint (metrics-api and the like), HttpSource: a
loopback HTTP(S) server in this process whose answers a function of the test's gives.

Every one is a context manager:

    with RedisServer() as r:
        r.command("RPUSH", "jobs", "a")      # raw RESP, no client package needed
        ... r.host, r.port, r.url ...

Invariants:
- Readiness is polled against a deadline through the server's own interface;
  nothing sleeps a fixed time. A server that dies or misses its deadline raises
  SourceError carrying the tail of its logs, after everything it started has
  been stopped.
- stop() always runs (context managers, fixtures' finalizers, atexit) and is
  idempotent: a graceful stop first, then SIGKILL, after a deadline, for every
  process the server started (its process group and descendants). Children also
  get SIGKILL when the thread that started them ends (setpriv --pdeathsig), so a
  killed test run leaves nothing behind: start sources from the main thread or
  from a thread that outlives them.
- PostgreSQL and MariaDB refuse to run as root: when we are root they run as
  the system user `ckeda-test` (created on first use; `nobody` if that fails),
  which owns their data directories.
- Ports are picked at random below the kernel's ephemeral range and checked
  free, so they do not race with outgoing connections; a start that still loses
  a port race (EADDRINUSE in the log) is retried with new ports.

A failed start keeps its directory for a look (the path is in the error); the
next run removes directories whose owning process is gone, such as those of a
killed run. Set CKEDA_IT_KEEP=1 to keep every temporary directory (paths are
printed at stop); CKEDA_IT_TIMEOUT_SCALE=N multiplies every start deadline.

Run `python3 sources.py redis postgres ...` to start sources in the foreground
and print their connection details as JSON (Ctrl-C stops them).
"""

from __future__ import annotations

import atexit
import base64
import collections
import http.server
import json
import os
import pwd
import random
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

TEST_USER = "ckeda-test"
PG_BIN = os.environ.get("CKEDA_PG_BIN", "/usr/lib/postgresql/15/bin")
TIMEOUT_SCALE = float(os.environ.get("CKEDA_IT_TIMEOUT_SCALE", "1"))
KEEP_TMP = os.environ.get("CKEDA_IT_KEEP", "") not in ("", "0")
LOG_TAIL_BYTES = 16000

# Ports handed out by this process, so two sources never get the same one.
_used_ports: set[int] = set()
_port_lock = threading.Lock()
# Sources started and not yet stopped; atexit stops them.
_live: list["Source"] = []


class SourceError(RuntimeError):
    """An event source failed to start or to answer; the message has its logs."""


def free_port() -> int:
    """A port that is free on 127.0.0.1 now, below the ephemeral range."""
    with _port_lock:
        for _ in range(200):
            port = random.randrange(20000, 32000)
            if port in _used_ports:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _used_ports.add(port)
            return port
    raise SourceError("no free port found in 20000-32000")


def wait_until(predicate, timeout: float, what: str, procs=(), interval: float = 0.05):
    """Poll predicate() until it returns a truthy value; return that value.

    Raises SourceError when the deadline passes or when one of procs exits.
    Exceptions raised by predicate count as "not yet"; the last one is reported.
    """
    deadline = time.monotonic() + timeout * TIMEOUT_SCALE
    last_exc = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # the server is not up yet: keep polling
            last_exc = exc
        for p in procs:
            if p.poll() is not None:
                raise SourceError(f"{what}: {_program(p)} exited with status {p.returncode}")
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_exc!r})" if last_exc else ""
            raise SourceError(f"{what}: not ready after {timeout * TIMEOUT_SCALE:.0f} s{detail}")
        time.sleep(interval)
        interval = min(interval * 1.5, 0.5)


def _program(proc) -> str:
    """The server's program name (spawn() runs it under setpriv)."""
    argv = list(proc.args)
    return os.path.basename(argv[argv.index("--") + 1] if "--" in argv else argv[0])


def tcp_open(host: str, port: int, timeout: float = 1.0) -> bool:
    with socket.create_connection((host, port), timeout=timeout):
        return True


def http_request(method: str, url: str, body=None, auth=None, timeout: float = 10.0,
                 headers=None):
    """Plain HTTP call; returns (status, parsed JSON or text). Never raises on HTTP status."""
    data = None
    hdrs = dict(headers or {})
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        hdrs["Authorization"] = f"Basic {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only
    try:
        with opener.open(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    text = raw.decode("utf-8", "replace")
    try:
        return status, json.loads(text) if text else None
    except ValueError:
        return status, text


_user_lock = threading.Lock()
_user_cache: list = []


def _test_user():
    """(uid, gid) to run PostgreSQL/MariaDB as, or None when we are not root."""
    if os.geteuid() != 0:
        return None
    with _user_lock:
        if not _user_cache:
            _user_cache.append(_find_or_create_test_user())
        return _user_cache[0]


def _find_or_create_test_user():
    deadline = time.monotonic() + 10
    while True:
        try:
            pw = pwd.getpwnam(TEST_USER)
            return pw.pw_uid, pw.pw_gid
        except KeyError:
            pass
        # Another run may be creating it at the same time: then useradd fails on the
        # lock or the existing name, and the next lookup finds the user.
        res = subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                              "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
                              TEST_USER], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             check=False)
        if res.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    try:
        pw = pwd.getpwnam(TEST_USER)
    except KeyError:
        pw = pwd.getpwnam("nobody")  # no useradd here: nobody owns the data directories
    return pw.pw_uid, pw.pw_gid


def _proc_table() -> dict[int, tuple[int, int, int]]:
    """{pid: (ppid, pgrp, starttime)} of every process, read from /proc."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # Fields after the parenthesised command: state(0) ppid(1) pgrp(2) ... starttime(19)
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 19:
            table[int(entry)] = (int(fields[1]), int(fields[2]), int(fields[19]))
    return table


def _tree(roots) -> dict[int, int]:
    """{pid: starttime} of the roots, their descendants and their process groups' members.

    Erlang's helpers (erl_child_setup, inet_gethost) start sessions of their own, so
    the process group alone does not hold every process a server starts.
    """
    table = _proc_table()
    found = {r for r in roots if r in table}
    found |= {pid for pid, (_pp, pg, _st) in table.items() if pg in roots}
    changed = True
    while changed:
        changed = False
        for pid, (ppid, _pg, _st) in table.items():
            if ppid in found and pid not in found:
                found.add(pid)
                changed = True
    return {pid: table[pid][2] for pid in found}


def _kill_tree(tree: dict[int, int]):
    """SIGKILL each process of a _tree() snapshot that still runs (same pid, same start)."""
    table = _proc_table()
    for pid, start in tree.items():
        if pid in table and table[pid][2] == start:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


TMP_PREFIX = "ckeda-it-"
OWNER_FILE = "owner"
_swept = []


def _owner_id(pid: int | None = None) -> str:
    """"<pid> <start time>" of a process: names it even after its pid is reused."""
    pid = pid or os.getpid()
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    return f"{pid} {stat[stat.rfind(b')') + 2:].split()[19].decode()}"


def _sweep_stale_dirs():
    """Remove the temporary directories of runs that were killed (their owner is gone)."""
    if _swept or KEEP_TMP:
        return
    _swept.append(True)
    base = tempfile.gettempdir()
    for entry in os.listdir(base):
        path = os.path.join(base, entry)
        if not entry.startswith(TMP_PREFIX):
            continue
        try:
            with open(os.path.join(path, OWNER_FILE)) as f:
                owner = f.read().strip()
            pid = int(owner.split()[0])
        except (OSError, ValueError, IndexError):
            continue
        try:
            alive = _owner_id(pid) == owner
        except OSError:
            alive = False
        if not alive:
            shutil.rmtree(path, ignore_errors=True)


class Source:
    """One server process tree in its own temporary directory.

    Subclasses set `name` and `start_timeout`, and implement _start() (spawn and
    wait for readiness) and optionally _graceful_stop() and info().
    """

    name = "source"
    start_timeout = 30.0
    stop_timeout = 20.0

    def __init__(self):
        self.tmp: str | None = None
        self.procs: list[subprocess.Popen] = []
        self.main_proc: subprocess.Popen | None = None  # the server; set by _start()
        self.startup_seconds: float | None = None
        self._stopped = True

    # -- lifecycle ---------------------------------------------------------

    def start(self):
        if not self._stopped:
            return self
        t0 = time.monotonic()
        _sweep_stale_dirs()
        for attempt in range(3):
            self.tmp = tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{self.name}-")
            os.chmod(self.tmp, 0o755)  # the test user must reach its subdirectories
            with open(os.path.join(self.tmp, OWNER_FILE), "w") as f:
                f.write(_owner_id())
            self._stopped = False
            _live.append(self)
            try:
                self._start()
                break
            except BaseException as exc:
                logs = self.log_tail()
                retry = attempt < 2 and _port_race(logs)
                self.stop(keep=not retry)  # a failed start keeps its directory for a look
                if retry:
                    continue
                if isinstance(exc, SourceError):
                    raise SourceError(f"{self.name} did not start: {exc}\n"
                                      f"--- logs of {self.name} ({self.tmp}) ---\n{logs}") from None
                raise
        self.startup_seconds = time.monotonic() - t0
        return self

    def stop(self, keep: bool = False):
        """Stop everything this source started; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        try:
            tree = _tree({p.pid for p in self.procs if p.poll() is None})
            if self.main_proc is not None and self.main_proc.poll() is None:
                try:
                    self._graceful_stop()
                except Exception:
                    pass  # the hard stop below still runs
            for proc in reversed(self.procs):
                self._hard_stop(proc)
            # Whatever the servers left behind (seen before they were signalled).
            _kill_tree(tree)
        finally:
            self.procs = []
            self.main_proc = None
            if self in _live:
                _live.remove(self)
            if self.tmp and not keep:
                if KEEP_TMP:
                    print(f"ckeda-it: kept {self.tmp}", file=sys.stderr)
                else:
                    shutil.rmtree(self.tmp, ignore_errors=True)

    def _graceful_stop(self):
        self._signal_and_wait(self.main_proc, signal.SIGTERM, self.stop_timeout)

    def _signal_and_wait(self, proc, sig, timeout):
        if proc.poll() is None:
            try:
                proc.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=timeout * TIMEOUT_SCALE)
            except subprocess.TimeoutExpired:
                pass

    def _hard_stop(self, proc):
        """SIGTERM, wait, SIGKILL; then SIGKILL whatever is left in its process group."""
        self._signal_and_wait(proc, signal.SIGTERM, 10)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _kill_tree(_tree({proc.pid}))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- helpers for subclasses --------------------------------------------

    def path(self, *parts) -> str:
        return os.path.join(self.tmp, *parts)

    def spawn(self, argv, log: str, env=None, as_test_user=False, cwd=None) -> subprocess.Popen:
        """Start argv in a new session, stdout+stderr appended to <tmp>/<log>."""
        logf = open(self.path(log), "ab")
        kwargs = {}
        user = _test_user() if as_test_user else None
        if user is not None:
            kwargs.update(user=user[0], group=user[1], extra_groups=[])
        full_env = dict(os.environ)
        full_env.update(env or {})
        try:
            proc = subprocess.Popen(
                ["setpriv", "--pdeathsig", "KILL", "--", *argv],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                cwd=cwd or self.tmp, env=full_env, start_new_session=True, **kwargs)
        finally:
            logf.close()
        self.procs.append(proc)
        return proc

    def run(self, argv, log: str, timeout: float, env=None, as_test_user=False, input=None):
        """Run a setup command to completion; raise SourceError if it fails."""
        proc = self.spawn(argv, log, env=env, as_test_user=as_test_user)
        try:
            proc.wait(timeout=timeout * TIMEOUT_SCALE)
        except subprocess.TimeoutExpired:
            self._hard_stop(proc)
            raise SourceError(f"{argv[0]} did not finish within {timeout * TIMEOUT_SCALE:.0f} s")
        finally:
            if proc in self.procs:
                self.procs.remove(proc)
        if proc.returncode != 0:
            raise SourceError(f"{' '.join(argv)} exited with status {proc.returncode}")

    def chown_to_test_user(self, *paths):
        user = _test_user()
        if user is None:
            return
        for p in paths:
            os.chown(p, user[0], user[1])

    def log_tail(self, max_bytes: int = LOG_TAIL_BYTES) -> str:
        """The last bytes of every log file in the temporary directory."""
        if not self.tmp or not os.path.isdir(self.tmp):
            return "(no logs)"
        out = []
        for root, _dirs, files in os.walk(self.tmp):
            for fn in sorted(files):
                if not fn.endswith(".log"):
                    continue
                p = os.path.join(root, fn)
                try:
                    with open(p, "rb") as f:
                        f.seek(0, os.SEEK_END)
                        size = f.tell()
                        f.seek(max(0, size - max_bytes))
                        text = f.read().decode("utf-8", "replace")
                except OSError:
                    continue
                out.append(f"==> {os.path.relpath(p, self.tmp)} <==\n{text}")
        return "\n".join(out) or "(no logs)"

    def info(self) -> dict:
        return {}


def _port_race(logs: str) -> bool:
    low = logs.lower()
    return "address already in use" in low or "eaddrinuse" in low


# ---------------------------------------------------------------------------
# Redis


class RedisServer(Source):
    """redis-server without persistence. password/username switch on auth:
    password alone sets requirepass (the `default` user); with username an ACL
    user with all permissions is added as well."""

    name = "redis"
    start_timeout = 20.0

    def __init__(self, password: str | None = None, username: str | None = None):
        super().__init__()
        if username and not password:
            raise ValueError("an ACL user needs a password")
        self.host = "127.0.0.1"
        self.port = 0
        self.password = password
        self.username = username

    def _start(self):
        self.port = free_port()
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", self.tmp,
                "--daemonize", "no", "--loglevel", "notice"]
        if self.password:
            argv += ["--requirepass", self.password]
        if self.username:
            argv += ["--user", self.username, "on", f">{self.password}", "~*", "&*", "+@all"]
        proc = self.spawn(argv, "redis.log")
        self.main_proc = proc
        wait_until(lambda: self.command("PING") == "PONG", self.start_timeout,
                   "redis PING", procs=[proc], interval=0.01)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        auth = ""
        if self.password:
            auth = f"{urllib.parse.quote(self.username or '', safe='')}:" \
                   f"{urllib.parse.quote(self.password, safe='')}@"
        return f"redis://{auth}{self.host}:{self.port}/0"

    def command(self, *args, db: int = 0, timeout: float = 5.0, authenticate: bool = True):
        """One command over a fresh connection (authenticated as configured, unless
        authenticate is false). A Redis error reply raises RedisReplyError."""
        with socket.create_connection((self.host, self.port), timeout=timeout) as s:
            f = s.makefile("rwb")
            if self.password and authenticate:
                _resp_call(f, ["AUTH", *([self.username] if self.username else []), self.password])
            if db:
                _resp_call(f, ["SELECT", str(db)])
            return _resp_call(f, [str(a) for a in args])

    def client(self, **kwargs):
        """A redis-py client (package `redis`), without redis-py's retries with backoff
        (they turn an expected error into seconds of waiting)."""
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry
        args = {"host": self.host, "port": self.port, "username": self.username,
                "password": self.password, "decode_responses": True,
                "retry": Retry(NoBackoff(), 0)}
        args.update(kwargs)
        return redis.Redis(**args)

    def info(self):
        return {"host": self.host, "port": self.port, "address": self.address, "url": self.url,
                "username": self.username, "password": self.password}


class RedisReplyError(Exception):
    pass


def _resp_call(f, args):
    out = [f"*{len(args)}\r\n".encode()]
    for a in args:
        b = a.encode() if isinstance(a, str) else bytes(a)
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    f.write(b"".join(out))
    f.flush()
    reply = _resp_read(f)
    if isinstance(reply, RedisReplyError):
        raise reply
    return reply


def _resp_read(f):
    line = f.readline()
    if not line:
        raise ConnectionError("redis closed the connection")
    kind, rest = line[:1], line[1:-2].decode()
    if kind == b"+":
        return rest
    if kind == b"-":
        return RedisReplyError(rest)
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode("utf-8", "replace")
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_resp_read(f) for _ in range(n)]
    raise ConnectionError(f"unexpected RESP reply {line!r}")


# ---------------------------------------------------------------------------
# SQL databases


class SQLServer(Source):
    """What the SQL servers share: a user `user` with `password` (random unless given, so a
    replacement server can take the same one) and a database `dbname`, on 127.0.0.1."""

    user = "ckeda"
    dbname = "ckeda"

    def __init__(self, password: str | None = None):
        super().__init__()
        self.host = "127.0.0.1"
        self.port = 0
        self.password = password or "ckeda-" + secrets.token_hex(6)

    def info(self):
        return {"host": self.host, "port": self.port, "user": self.user, "password": self.password,
                "dbname": self.dbname, "url": self.url}


# ---------------------------------------------------------------------------
# PostgreSQL


class PostgresServer(SQLServer):
    """PostgreSQL 15: superuser `user` with `password` (scram over TCP, trust on
    the unix socket in the temporary directory) and a database `dbname`."""

    name = "postgres"
    start_timeout = 60.0

    def _start(self):
        self.port = free_port()
        data, sock = self.path("data"), self.path("sock")
        os.mkdir(sock, 0o700)
        pwfile = self.path("pwfile")
        with open(pwfile, "w") as f:
            f.write(self.password + "\n")
        self.chown_to_test_user(self.tmp, sock, pwfile)
        self.run([f"{PG_BIN}/initdb", "-D", data, "-U", self.user, f"--pwfile={pwfile}",
                  "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
                  "--locale=C", "--no-sync", "--no-instructions"],
                 "initdb.log", timeout=self.start_timeout, as_test_user=True)
        os.unlink(pwfile)
        self.socket_dir = sock
        proc = self.spawn([f"{PG_BIN}/postgres", "-D", data, "-k", sock, "-p", str(self.port),
                           "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                           "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                           "-c", "shared_buffers=32MB", "-c", "max_connections=50",
                           "-c", "logging_collector=off", "-c", "log_min_messages=warning"],
                          "postgres.log", as_test_user=True)
        self.main_proc = proc
        wait_until(lambda: self.psql("SELECT 1", dbname="postgres").strip() == "1",
                   self.start_timeout, "postgres SELECT 1", procs=[proc])
        self.psql(f"CREATE DATABASE {self.dbname}", dbname="postgres")

    def _graceful_stop(self):
        # SIGINT is PostgreSQL's "fast" shutdown: roll back sessions, checkpoint, exit.
        self._signal_and_wait(self.main_proc, signal.SIGINT, self.stop_timeout)

    def psql(self, sql: str, dbname: str | None = None) -> str:
        """Run SQL as the superuser over the unix socket; returns unaligned output."""
        res = subprocess.run(
            [f"{PG_BIN}/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             "-h", self.socket_dir, "-p", str(self.port), "-U", self.user,
             "-d", dbname or self.dbname, "-c", sql],
            capture_output=True, text=True, timeout=30, env=_pg_env())
        if res.returncode != 0:
            raise SourceError(f"psql failed ({res.returncode}): {res.stderr.strip()}")
        return res.stdout

    @property
    def dsn(self) -> str:
        return (f"host={self.host} port={self.port} user={self.user} password={self.password} "
                f"dbname={self.dbname} sslmode=disable")

    @property
    def url(self) -> str:
        return (f"postgresql://{self.user}:{urllib.parse.quote(self.password, safe='')}"
                f"@{self.host}:{self.port}/{self.dbname}?sslmode=disable")

    def connect(self, **kwargs):
        """A psycopg (v3) connection over TCP with the password, autocommit on."""
        import psycopg
        return psycopg.connect(self.dsn, autocommit=True, **kwargs)

    def info(self):
        return {**super().info(), "dsn": self.dsn}


def _pg_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGCONNECT_TIMEOUT"] = "5"
    return env


# ---------------------------------------------------------------------------
# MariaDB


class MariaDBServer(SQLServer):
    """MariaDB (mariadbd): user `user`@'%' with `password`, all privileges, a
    database `dbname`; root without password on the unix socket only."""

    name = "mariadb"
    start_timeout = 90.0

    def _start(self):
        self.port = free_port()
        data, rundir = self.path("data"), self.path("run")
        os.mkdir(data, 0o700)
        os.mkdir(rundir, 0o755)
        self.chown_to_test_user(data, rundir)
        self.socket = os.path.join(rundir, "mysqld.sock")
        self.run(["mariadb-install-db", "--no-defaults", f"--datadir={data}",
                  "--auth-root-authentication-method=normal", "--skip-test-db",
                  "--skip-name-resolve", "--innodb-buffer-pool-size=32M",
                  "--innodb-log-file-size=16M"],
                 "install-db.log", timeout=self.start_timeout, as_test_user=True)
        proc = self.spawn(["mariadbd", "--no-defaults", f"--datadir={data}",
                           f"--socket={self.socket}", f"--port={self.port}",
                           "--bind-address=127.0.0.1", f"--pid-file={rundir}/mariadbd.pid",
                           "--skip-name-resolve", "--skip-log-bin", "--performance-schema=OFF",
                           "--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M",
                           "--innodb-flush-log-at-trx-commit=0",
                           "--innodb-doublewrite=0", "--innodb-use-native-aio=0",
                           "--skip-host-cache", "--max-connections=50"],
                          "mariadbd.log", as_test_user=True)
        self.main_proc = proc
        wait_until(lambda: self.sql("SELECT 1", database="mysql").strip() == "1",
                   self.start_timeout, "mariadb SELECT 1", procs=[proc])
        pw = self.password.replace("\\", "\\\\").replace("'", "\\'")
        self.sql("DELETE FROM mysql.global_priv WHERE User = ''; FLUSH PRIVILEGES; "
                 f"CREATE DATABASE {self.dbname}; "
                 f"CREATE USER '{self.user}'@'%' IDENTIFIED BY '{pw}'; "
                 f"GRANT ALL PRIVILEGES ON *.* TO '{self.user}'@'%'; FLUSH PRIVILEGES",
                 database="mysql")

    def sql(self, statements: str, database: str | None = None) -> str:
        """Run SQL as root over the unix socket; returns tab-separated rows."""
        res = subprocess.run(
            ["mariadb", "--no-defaults", f"--socket={self.socket}", "-uroot", "-N", "-B",
             "--connect-timeout=5", database or self.dbname, "-e", statements],
            capture_output=True, text=True, timeout=30)
        if res.returncode != 0:
            raise SourceError(f"mariadb failed ({res.returncode}): {res.stderr.strip()}")
        return res.stdout

    @property
    def url(self) -> str:
        return (f"mysql://{self.user}:{urllib.parse.quote(self.password, safe='')}"
                f"@{self.host}:{self.port}/{self.dbname}")

    @property
    def connection_string(self) -> str:
        """The go-sql-driver form KEDA's mysql scaler takes (connectionString)."""
        return f"{self.user}:{self.password}@tcp({self.host}:{self.port})/{self.dbname}"

    def connect(self, **kwargs):
        """A PyMySQL connection over TCP with the password, autocommit on."""
        import pymysql
        return pymysql.connect(host=self.host, port=self.port, user=self.user,
                               password=self.password, database=self.dbname,
                               autocommit=True, **kwargs)

    def info(self):
        return {**super().info(), "connectionString": self.connection_string}


# ---------------------------------------------------------------------------
# RabbitMQ

RABBITMQ_BIN = "/usr/lib/rabbitmq/bin"


class RabbitMQServer(Source):
    """rabbitmq-server with the management plugin and an AMQP-over-TLS listener (a certificate
    of the run's own CA, .ca_pem); default user `user` (administrator)."""

    name = "rabbitmq"
    start_timeout = 120.0
    stop_timeout = 60.0
    user = "ckeda"
    log_level = "info"

    def __init__(self, password: str | None = None, stats_interval_ms: int = 500):
        super().__init__()
        self.host = "127.0.0.1"
        self.password = password or "ckeda-" + secrets.token_hex(6)
        self.stats_interval_ms = stats_interval_ms
        self.port = self.management_port = self.dist_port = self.epmd_port = 0
        self.tls_port = 0
        self.ca_pem = ""

    def _make_certs(self):
        """A CA of the run's own and a server certificate for localhost and 127.0.0.1."""
        d = self.path("tls")
        os.mkdir(d)
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        self.run(["openssl", "req", "-x509", *ec, "-keyout", f"{d}/ca.key", "-out",
                  f"{d}/ca.crt", "-subj", "/CN=ckeda-test-ca", "-days", "2"], "openssl.log", 30)
        with open(f"{d}/server.ext", "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        self.run(["openssl", "req", *ec, "-keyout", f"{d}/server.key", "-out", f"{d}/server.csr",
                  "-subj", "/CN=localhost"], "openssl.log", 30)
        self.run(["openssl", "x509", "-req", "-in", f"{d}/server.csr", "-CA", f"{d}/ca.crt",
                  "-CAkey", f"{d}/ca.key", "-CAcreateserial", "-out", f"{d}/server.crt",
                  "-days", "2", "-extfile", f"{d}/server.ext"], "openssl.log", 30)
        with open(f"{d}/ca.crt") as f:
            self.ca_pem = f.read()
        return d

    def _start(self):
        self.port, self.management_port = free_port(), free_port()
        self.dist_port, self.epmd_port = free_port(), free_port()
        self.tls_port = free_port()
        self.nodename = f"ckeda-{os.getpid()}-{secrets.token_hex(3)}@localhost"
        for d in ("mnesia", "log"):
            os.mkdir(self.path(d))
        tls = self._make_certs()
        with open(self.path("rabbitmq.conf"), "w") as f:
            f.write(f"""listeners.tcp.default = 127.0.0.1:{self.port}
listeners.ssl.default = 127.0.0.1:{self.tls_port}
ssl_options.cacertfile = {tls}/ca.crt
ssl_options.certfile = {tls}/server.crt
ssl_options.keyfile = {tls}/server.key
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false
management.tcp.port = {self.management_port}
management.tcp.ip = 127.0.0.1
default_user = {self.user}
default_pass = {self.password}
default_user_tags.administrator = true
loopback_users = none
collect_statistics_interval = {self.stats_interval_ms}
log.console = true
log.console.level = {self.log_level}
log.file = false
""")
        # Management statistics are sampled at the finest retention granularity (5 s by
        # default); 1 s keeps /api/queues close to the broker's real counts.
        policies = "[{global, [{605, 1}]}, {basic, [{605, 1}]}, {detailed, [{10, 1}]}]"
        with open(self.path("advanced.config"), "w") as f:
            f.write(f"[{{rabbitmq_management, [{{sample_retention_policies, {policies}}}]}},\n"
                    f" {{rabbitmq_management_agent, [{{sample_retention_policies, {policies}}}]}}].\n")
        with open(self.path("enabled_plugins"), "w") as f:
            f.write("[rabbitmq_management].\n")
        open(self.path("rabbitmq-env.conf"), "w").close()
        self.env = {
            "HOME": self.tmp,  # the Erlang cookie lives here
            "RABBITMQ_NODENAME": self.nodename,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_CONF_ENV_FILE": self.path("rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": self.path("rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": self.path("advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": self.path("enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": self.path("mnesia"),
            "RABBITMQ_LOG_BASE": self.path("log"),
            "RABBITMQ_PID_FILE": self.path("rabbitmq.pid"),
            "RABBITMQ_LOGS": "-",
            # Tell the Erlang schedulers not to busy-wait (they would eat the 2 cores),
            # and keep distribution on loopback.
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS":
                "+sbwt none +sbwtdcpu none +sbwtdio none -noshell "
                "-kernel inet_dist_use_interface {127,0,0,1}",
            "RABBITMQ_CTL_ERL_ARGS": "+sbwt none +sbwtdcpu none +sbwtdio none",
            # Makes the start script exec the VM instead of forking it, so the broker is our
            # direct child (and dies with us); -noshell above keeps it off stdin anyway.
            "RABBITMQ_ALLOW_INPUT": "1",
        }
        # Our own epmd, not daemonized and started first, so the broker uses it and stop()
        # ends exactly the epmd this run started.
        epmd = self.spawn(["epmd", "-port", str(self.epmd_port), "-address", "127.0.0.1"],
                          "epmd.log", env=self.env)
        wait_until(lambda: tcp_open("127.0.0.1", self.epmd_port), 10, "epmd", procs=[epmd],
                   interval=0.01)
        server = self.main_proc = self.spawn([f"{RABBITMQ_BIN}/rabbitmq-server"], "rabbitmq.log",
                                             env=self.env)
        wait_until(self._ready, self.start_timeout, "rabbitmq management API", procs=[server, epmd])

    def _ready(self):
        status, body = self.api("GET", "/api/overview", timeout=3)
        return (status == 200 and tcp_open(self.host, self.port)
                and tcp_open(self.host, self.tls_port) and body.get("node") == self.nodename)

    def _graceful_stop(self):
        # The start script turns SIGTERM into the broker's orderly shutdown (the same path
        # as `rabbitmqctl stop`, without paying for the CLI's own Erlang VM start).
        self._signal_and_wait(self.main_proc, signal.SIGTERM, self.stop_timeout)

    def stop(self, keep: bool = False):
        epmd_port = self.epmd_port
        super().stop(keep=keep)
        if epmd_port:
            _kill_epmd_on(epmd_port)

    def ctl(self, *args, timeout: float = 60.0) -> str:
        """rabbitmqctl against this node."""
        res = subprocess.run([f"{RABBITMQ_BIN}/rabbitmqctl", "-n", self.nodename, *args],
                             capture_output=True, text=True, timeout=timeout,
                             env={**os.environ, **self.env}, cwd=self.tmp)
        if res.returncode != 0:
            raise SourceError(f"rabbitmqctl {' '.join(args)} failed: {res.stderr.strip()}")
        return res.stdout

    def api(self, method: str, path: str, body=None, timeout: float = 10.0):
        return http_request(method, f"{self.management_url}{path}", body=body,
                            auth=(self.user, self.password), timeout=timeout)

    def declare_queue(self, name: str, vhost: str = "/", durable: bool = False):
        status, body = self.api("PUT", f"/api/queues/{_q(vhost)}/{_q(name)}",
                                {"durable": durable, "auto_delete": False, "arguments": {}})
        if status not in (201, 204):
            raise SourceError(f"declare queue {name}: HTTP {status} {body}")

    def publish(self, queue: str, payload: str = "x", count: int = 1, vhost: str = "/"):
        """Publish count messages to queue through the default exchange."""
        for _ in range(count):
            status, body = self.api("POST", f"/api/exchanges/{_q(vhost)}/amq.default/publish",
                                    {"properties": {}, "routing_key": queue, "payload": payload,
                                     "payload_encoding": "string"})
            if status != 200 or not body.get("routed"):
                raise SourceError(f"publish to {queue}: HTTP {status} {body}")

    def queue_info(self, name: str, vhost: str = "/") -> dict:
        status, body = self.api("GET", f"/api/queues/{_q(vhost)}/{_q(name)}")
        if status != 200:
            raise SourceError(f"queue {name}: HTTP {status} {body}")
        return body

    @property
    def amqp_url(self) -> str:
        return f"amqp://{self.user}:{urllib.parse.quote(self.password, safe='')}@{self.host}:{self.port}/"

    @property
    def amqps_url(self) -> str:
        """AMQP over TLS (a certificate for localhost and 127.0.0.1 signed by .ca_pem)."""
        return (f"amqps://{self.user}:{urllib.parse.quote(self.password, safe='')}"
                f"@localhost:{self.tls_port}/")

    @property
    def management_url(self) -> str:
        return f"http://{self.host}:{self.management_port}"

    @property
    def http_url(self) -> str:
        """The form KEDA's rabbitmq scaler takes as `host` for protocol http (vhost /)."""
        return (f"http://{self.user}:{urllib.parse.quote(self.password, safe='')}"
                f"@{self.host}:{self.management_port}/")

    def info(self):
        return {"host": self.host, "port": self.port, "management_port": self.management_port,
                "tls_port": self.tls_port, "amqps_url": self.amqps_url,
                "user": self.user, "password": self.password, "amqp_url": self.amqp_url,
                "http_url": self.http_url, "nodename": self.nodename}


def _q(s: str) -> str:
    return urllib.parse.quote(s, safe="")


def _kill_epmd_on(port: int):
    """End an epmd listening on 127.0.0.1:port that is still there (the broker's own)."""
    target = f"-port {port} "
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace") + " "
        except OSError:
            continue
        if "epmd" in cmd.split(" ", 1)[0] and target in cmd:
            try:
                os.kill(int(entry), signal.SIGKILL)
            except ProcessLookupError:
                pass


# ---------------------------------------------------------------------------
# HTTP endpoints of the test's own


class HttpSource:
    """A loopback HTTP(S) server (in this process) whose answers a function of the test's gives.

        def respond(path, query, headers):    # "/v", urllib.parse.parse_qs() of the query,
            return 200, json.dumps({"v": 7})   # the request's headers; or (status, body, {...})
        with HttpSource(respond) as src:
            ... src.url("/v?i=1") ... src.hits["/v?i=1"] ...

    The body is str (sent as UTF-8) or bytes, with Content-Length, and Content-Type
    application/json unless the extra headers name another; extra headers go first, in their
    order. GET only. respond runs on the connection's own thread, so a slow answer (a sleep)
    holds up only its own request; an exception in it drops the connection without an answer.

    Invariants:
    - keep_alive=True speaks HTTP/1.1 and keeps each connection open for the client's next
      request, as KEDA's Go client and ckeda's scale workers use it; keep_alive=False answers
      HTTP/1.0 and closes the connection after each answer, so every request comes on a new
      connection.
    - hits counts the requests by target as sent (path and query), before respond runs.
    - With certfile and keyfile it speaks TLS only; the handshake runs in accept, and one that
      fails drops that connection alone.
    - close() is idempotent and leaves nothing answering: the listener is closed and connections
      kept alive are shut down, as if the server were gone.
    """

    def __init__(self, respond, certfile: str | None = None, keyfile: str | None = None,
                 keep_alive: bool = True, name: str = "http-source"):
        self.respond = respond
        self.hits: collections.Counter = collections.Counter()
        self._lock = threading.Lock()
        self._conns: set = set()
        self._closed = False
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                       self._handler_class(keep_alive))
        self._server.daemon_threads = True  # never join a connection the client keeps open
        self.scheme = "http"
        if certfile:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(certfile, keyfile)
            self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, name=name, daemon=True).start()

    def _handler_class(self, keep_alive: bool):
        src = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

            def setup(self):
                super().setup()
                with src._lock:
                    src._conns.add(self.connection)

            def finish(self):
                with src._lock:
                    src._conns.discard(self.connection)
                super().finish()

            def handle(self):
                try:
                    super().handle()
                except OSError:
                    pass  # the client or close() ended the connection

            def do_GET(self):
                with src._lock:
                    src.hits[self.path] += 1
                url = urllib.parse.urlsplit(self.path)
                status, body, *extra = src.respond(url.path, urllib.parse.parse_qs(url.query),
                                                   self.headers)
                headers = dict(extra[0]) if extra else {}
                ctype = "application/json"
                for k in [k for k in headers if k.lower() == "content-type"]:
                    ctype = headers.pop(k)
                data = body.encode() if isinstance(body, str) else body
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        return Handler

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, path: str = "/", userinfo: str = "") -> str:
        """scheme://<userinfo>127.0.0.1:port<path>; userinfo ends with "@" when given."""
        return f"{self.scheme}://{userinfo}{self.address}{path}"

    def close(self):
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:  # the plain socket's shutdown, under TLS too: the handler sees EOF
                socket.socket.shutdown(conn, socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


# ---------------------------------------------------------------------------
# Prometheus and the exporter it scrapes


class MetricsExporter:
    """A tiny /metrics endpoint on 127.0.0.1 (an HttpSource) whose gauges the test sets."""

    def __init__(self):
        self._values: dict[tuple, float] = {}
        self._lock = threading.Lock()
        self.scrapes = 0
        self._http = HttpSource(self._respond, keep_alive=False, name="metrics-exporter")
        self.port = self._http.port

    def _respond(self, path, query, headers):
        if path != "/metrics":
            return 404, "not found\n", {"Content-Type": "text/plain"}
        body = self.render()
        with self._lock:
            self.scrapes += 1
        return 200, body, {"Content-Type": "text/plain; version=0.0.4"}

    def set(self, name: str, value: float, **labels):
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._values[key] = float(value)

    def remove(self, name: str, **labels):
        with self._lock:
            self._values.pop((name, tuple(sorted(labels.items()))), None)

    def render(self) -> str:
        with self._lock:
            items = sorted(self._values.items())
        lines, typed = [], set()
        for (name, labels), value in items:
            if name not in typed:
                lines.append(f"# TYPE {name} gauge")
                typed.add(name)
            lab = ",".join(f'{k}="{_prom_escape(str(v))}"' for k, v in labels)
            lines.append(f"{name}{{{lab}}} {value!r}" if lab else f"{name} {value!r}")
        return "\n".join(lines) + "\n"

    @property
    def address(self) -> str:
        return self._http.address

    def close(self):
        self._http.close()


def _prom_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class PrometheusServer(Source):
    """Prometheus scraping its own MetricsExporter (job `exporter_job`) every second."""

    name = "prometheus"
    start_timeout = 60.0
    exporter_job = "ckeda-exporter"

    def __init__(self, scrape_interval: str = "1s", targets: dict | None = None):
        """targets: more scrape jobs, {job name: "host:port"} (e.g. ckeda's /metrics)."""
        super().__init__()
        self.host = "127.0.0.1"
        self.port = 0
        self.scrape_interval = scrape_interval
        self.targets = dict(targets or {})
        self.exporter: MetricsExporter | None = None

    def _start(self):
        self.port = free_port()
        if self.exporter is None:
            self.exporter = MetricsExporter()
        config = {  # JSON is YAML
            "global": {"scrape_interval": self.scrape_interval,
                       "scrape_timeout": self.scrape_interval,
                       "evaluation_interval": self.scrape_interval},
            "scrape_configs": [{"job_name": self.exporter_job,
                                "static_configs": [{"targets": [self.exporter.address]}]}] +
                              [{"job_name": job, "static_configs": [{"targets": [addr]}]}
                               for job, addr in self.targets.items()],
        }
        with open(self.path("prometheus.yml"), "w") as f:
            json.dump(config, f, indent=1)
        proc = self.spawn(["prometheus", f"--config.file={self.path('prometheus.yml')}",
                           f"--storage.tsdb.path={self.path('data')}",
                           f"--web.listen-address={self.host}:{self.port}",
                           "--storage.tsdb.retention.time=1h", "--log.level=info"],
                          "prometheus.log")
        self.main_proc = proc
        wait_until(lambda: http_request("GET", f"{self.url}/-/ready", timeout=3)[0] == 200,
                   self.start_timeout, "prometheus /-/ready", procs=[proc])
        # Ready for tests once the exporter has been scraped successfully.
        wait_until(lambda: self.query_value(f'up{{job="{self.exporter_job}"}}') == 1.0,
                   self.start_timeout, "prometheus first scrape", procs=[proc])

    def stop(self, keep: bool = False):
        super().stop(keep=keep)
        if self.exporter is not None:
            self.exporter.close()
            self.exporter = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def query(self, expr: str) -> list:
        """Instant query; returns data.result (raises on an API error)."""
        status, body = http_request("GET", f"{self.url}/api/v1/query?"
                                    + urllib.parse.urlencode({"query": expr}), timeout=5)
        if status != 200 or not isinstance(body, dict) or body.get("status") != "success":
            raise SourceError(f"prometheus query {expr!r}: HTTP {status} {body}")
        return body["data"]["result"]

    def query_value(self, expr: str):
        """The single sample's value as float, or None when the result is empty."""
        result = self.query(expr)
        if not result:
            return None
        if len(result) > 1:
            raise SourceError(f"prometheus query {expr!r} returned {len(result)} series")
        return float(result[0]["value"][1])

    def info(self):
        return {"url": self.url, "port": self.port,
                "exporter": self.exporter.address if self.exporter else None}


# ---------------------------------------------------------------------------
# NATS with JetStream


class NatsServer(Source):
    """nats-server with JetStream (file store in the temporary directory) and monitoring."""

    name = "nats"
    start_timeout = 30.0
    account = "$G"  # the global account, when no accounts are configured

    def __init__(self):
        super().__init__()
        self.host = "127.0.0.1"
        self.port = self.monitoring_port = 0

    def _start(self):
        self.port, self.monitoring_port = free_port(), free_port()
        proc = self.spawn(["nats-server", "-a", "127.0.0.1", "-p", str(self.port),
                           "-m", str(self.monitoring_port), "-js", "-sd", self.path("jetstream"),
                           "-n", f"ckeda-{os.getpid()}"],
                          "nats.log")
        self.main_proc = proc
        healthz = f"{self.monitoring_url}/healthz?js-enabled-only=true"
        wait_until(lambda: http_request("GET", healthz, timeout=3)[0] == 200,
                   self.start_timeout, "nats /healthz", procs=[proc], interval=0.02)
        wait_until(lambda: tcp_open(self.host, self.port), self.start_timeout, "nats client port",
                   procs=[proc], interval=0.02)

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def monitoring_endpoint(self) -> str:
        """host:port, the form KEDA's nats-jetstream scaler takes."""
        return f"{self.host}:{self.monitoring_port}"

    @property
    def monitoring_url(self) -> str:
        return f"http://{self.monitoring_endpoint}"

    def client(self) -> "NatsClient":
        return NatsClient(self.host, self.port)

    def js_api(self, subject: str, request: dict) -> dict:
        """One JetStream API request ($JS.API.<subject>); raises on an API error."""
        with self.client() as c:
            reply = json.loads(c.request(f"$JS.API.{subject}", json.dumps(request).encode()))
        if "error" in reply:
            raise SourceError(f"JetStream {subject}: {reply['error']}")
        return reply

    def create_stream(self, name: str, subjects: list[str], storage: str = "file") -> dict:
        return self.js_api(f"STREAM.CREATE.{name}",
                           {"name": name, "subjects": subjects, "storage": storage})

    def create_consumer(self, stream: str, durable: str, **config) -> dict:
        """A durable pull consumer, explicit ack, delivering all messages."""
        cfg = {"durable_name": durable, "ack_policy": "explicit", "deliver_policy": "all"}
        cfg.update(config)
        return self.js_api(f"CONSUMER.DURABLE.CREATE.{stream}.{durable}",
                           {"stream_name": stream, "config": cfg})

    def publish(self, subject: str, payload: bytes = b"x", count: int = 1) -> list[dict]:
        """Publish to a JetStream subject, waiting for each store acknowledgement."""
        acks = []
        with self.client() as c:
            for _ in range(count):
                ack = json.loads(c.request(subject, payload))
                if "error" in ack:
                    raise SourceError(f"publish to {subject}: {ack['error']}")
                acks.append(ack)
        return acks

    def jsz(self, account: str | None = None) -> dict:
        """GET /jsz the way KEDA's scaler asks (consumers and config included)."""
        q = urllib.parse.urlencode({"acc": account or self.account, "consumers": "true",
                                    "config": "true"})
        status, body = http_request("GET", f"{self.monitoring_url}/jsz?{q}", timeout=5)
        if status != 200:
            raise SourceError(f"/jsz: HTTP {status} {body}")
        return body

    def stream_state(self, stream: str, account: str | None = None) -> dict | None:
        """The stream's entry (with consumer_detail) from /jsz, or None."""
        for acc in self.jsz(account).get("account_details") or []:
            for s in acc.get("stream_detail") or []:
                if s.get("name") == stream:
                    return s
        return None

    def info(self):
        return {"url": self.url, "port": self.port, "monitoring_port": self.monitoring_port,
                "monitoring_endpoint": self.monitoring_endpoint, "account": self.account}


class NatsClient:
    """A minimal synchronous NATS client (core protocol: PUB, SUB, request/reply)."""

    def __init__(self, host: str, port: int, timeout: float = 10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.sock.makefile("rwb")
        line = self.f.readline()
        if not line.startswith(b"INFO "):
            raise ConnectionError(f"unexpected NATS greeting {line!r}")
        connect = {"verbose": False, "pedantic": False, "lang": "python", "version": "0",
                   "protocol": 1, "headers": False, "no_responders": False}
        self._send(b"CONNECT " + json.dumps(connect).encode() + b"\r\nPING\r\n")
        self._wait_for(lambda kind, _: kind == "PONG")
        self._sid = 0

    def _send(self, data: bytes):
        self.f.write(data)
        self.f.flush()

    def _next(self):
        """Read one protocol message: (kind, payload-or-args)."""
        while True:
            line = self.f.readline()
            if not line:
                raise ConnectionError("NATS server closed the connection")
            parts = line.rstrip(b"\r\n").split(b" ")
            op = parts[0].decode().upper()
            if op == "PING":
                self._send(b"PONG\r\n")
                continue
            if op in ("+OK", "INFO"):
                continue
            if op == "-ERR":
                raise ConnectionError(f"NATS error: {line.decode().strip()}")
            if op == "MSG":
                size = int(parts[-1])
                data = self.f.read(size + 2)[:-2]
                return "MSG", (parts[2].decode(), data)
            return op, parts

    def _wait_for(self, pred):
        while True:
            kind, arg = self._next()
            if pred(kind, arg):
                return arg

    def publish(self, subject: str, payload: bytes, reply: str | None = None):
        head = f"PUB {subject} {reply + ' ' if reply else ''}{len(payload)}\r\n".encode()
        self._send(head + payload + b"\r\n")

    def request(self, subject: str, payload: bytes) -> bytes:
        self._sid += 1
        sid = str(self._sid)
        inbox = f"_INBOX.{secrets.token_hex(8)}"
        self._send(f"SUB {inbox} {sid}\r\nUNSUB {sid} 1\r\n"
                   f"PUB {subject} {inbox} {len(payload)}\r\n".encode() + payload + b"\r\n")
        _, data = self._wait_for(lambda kind, arg: kind == "MSG" and arg[0] == sid)
        return data

    def close(self):
        try:
            self.f.close()
        finally:
            self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


# ---------------------------------------------------------------------------

SOURCES = {
    "redis": RedisServer,
    "postgres": PostgresServer,
    "mariadb": MariaDBServer,
    "rabbitmq": RabbitMQServer,
    "prometheus": PrometheusServer,
    "nats": NatsServer,
}


@atexit.register
def stop_all():
    """Stop every source of this process that is still running."""
    for src in list(_live):
        src.stop()


def main(argv):
    names = argv or ["redis"]
    unknown = [n for n in names if n not in SOURCES]
    if unknown:
        print(f"usage: sources.py [{'|'.join(SOURCES)}]...  (unknown: {', '.join(unknown)})",
              file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    started = []
    try:
        for n in names:
            src = SOURCES[n]().start()
            started.append(src)
            print(json.dumps({"source": n, "startup_seconds": round(src.startup_seconds, 2),
                              **src.info()}), flush=True)
        stop.wait()
    finally:
        for src in reversed(started):
            src.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
