"""pytest fixtures for the real event sources in sources.py.

Every source fixture is session-scoped: a source starts for the first test that
asks for it and stops when the session ends, so a run starts only what its
selected tests use. Tests share a server; they use names of their own (`unique`).

The slow sources (PostgreSQL, MariaDB, RabbitMQ, Prometheus) that the selected
tests use are started side by side as soon as collection ends, so their start-up
times overlap instead of adding up; CKEDA_IT_PRESTART=0 turns that off.

A source that cannot start raises SourceError, with its logs, in every test that
asks for it (an error, never a skip). When a test fails, the logs of the sources
it used are added to its report.
"""

import os
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import sources  # noqa: E402

# fixture name -> (factory, docstring)
SOURCE_FIXTURES = {
    "redis_server": (sources.RedisServer, "redis-server, no auth, no persistence."),
    "redis_auth_server": (
        lambda: sources.RedisServer(password="ckeda-redis-pw", username="ckeda"),
        "redis-server with requirepass (default user) and an ACL user `ckeda`, same password."),
    "postgres_server": (sources.PostgresServer,
                        "PostgreSQL 15: superuser and database `ckeda`, password over TCP."),
    "mariadb_server": (sources.MariaDBServer,
                       "MariaDB: user `ckeda`@'%' with a password, database `ckeda`."),
    "rabbitmq_server": (sources.RabbitMQServer,
                        "RabbitMQ with the management plugin, user `ckeda` (administrator)."),
    "prometheus_server": (sources.PrometheusServer,
                          "Prometheus scraping prometheus_server.exporter every second."),
    "nats_server": (sources.NatsServer, "nats-server with JetStream and the monitoring endpoint."),
}
PRESTART = {"postgres_server", "mariadb_server", "rabbitmq_server", "prometheus_server"}

_prestarted = {}  # fixture name -> (source, future of its start())
# Its threads live until the session ends: a child dies with the thread that started it.
_executor = None
_timings = []  # (fixture, source, seconds to start, seconds to stop)


def _session_source(fixture_name):
    factory, doc = SOURCE_FIXTURES[fixture_name]

    @pytest.fixture(scope="session", name=fixture_name)
    def fixture():
        entry = _prestarted.pop(fixture_name, None)
        src = entry[0] if entry else factory()
        try:
            try:
                if entry:
                    entry[1].result()  # re-raises the SourceError of a failed start
                else:
                    src.start()
            except sources.SourceError as exc:
                pytest.fail(str(exc), pytrace=False)  # the message carries the logs
            yield src
        finally:
            t0 = time.monotonic()
            src.stop()
            _timings.append((fixture_name, src.name, src.startup_seconds, time.monotonic() - t0))

    fixture.__doc__ = doc
    return fixture


redis_server = _session_source("redis_server")
redis_auth_server = _session_source("redis_auth_server")
postgres_server = _session_source("postgres_server")
mariadb_server = _session_source("mariadb_server")
rabbitmq_server = _session_source("rabbitmq_server")
prometheus_server = _session_source("prometheus_server")
nats_server = _session_source("nats_server")


@pytest.fixture
def fresh_redis_server():
    """A redis-server of the test's own (it starts in tens of milliseconds)."""
    with sources.RedisServer() as src:
        yield src


@pytest.fixture
def unique(request):
    """A name no other test uses: <test name>_<random>, safe for keys, queues and tables."""
    base = "".join(c if c.isalnum() else "_" for c in request.node.name)[:40]
    return f"{base}_{uuid.uuid4().hex[:8]}"



# ---- ckeda under test ------------------------------------------------------------------------

@pytest.fixture
def ckeda(tmp_path):
    """`ckeda run` on a table of its own (test_redis_scaler.Ckeda); its log is printed, so
    pytest shows it with the report of a failing test."""
    from test_redis_scaler import Ckeda
    inst = Ckeda(tmp_path)
    yield inst
    inst.stop()
    print(inst.log()[-20000:])


@pytest.fixture
def env(tmp_path):
    """(ckeda, fake API): `ckeda run` whose workers read Secrets from fake_kube_api.py."""
    from fake_kube_api import FakeKubeAPI
    from test_redis_scaler import Ckeda
    with FakeKubeAPI() as api:
        inst = Ckeda(tmp_path, "--kubeconfig", api.kubeconfig(tmp_path))
        try:
            yield inst, api
        finally:
            inst.stop()
            print(inst.log()[-20000:])

def pytest_collection_finish(session):
    global _executor
    if session.config.option.collectonly or os.environ.get("CKEDA_IT_PRESTART", "1") == "0":
        return
    wanted = sorted({name for item in session.items
                     for name in getattr(item, "fixturenames", ()) if name in PRESTART})
    if len(wanted) < 2:
        return  # nothing to overlap
    _executor = ThreadPoolExecutor(max_workers=len(wanted), thread_name_prefix="ckeda-it-start")
    for name in wanted:
        src = SOURCE_FIXTURES[name][0]()
        _prestarted[name] = (src, _executor.submit(src.start))


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    # Sources started ahead but never asked for (deselected or interrupted tests).
    for src, future in list(_prestarted.values()):
        future.exception()  # wait for the start to end, whatever its outcome
        src.stop()
    _prestarted.clear()
    sources.stop_all()
    if _executor is not None:
        _executor.shutdown(wait=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    for name, value in getattr(item, "funcargs", {}).items():
        if isinstance(value, sources.Source) and value.tmp:
            report.sections.append((f"log of {value.name} ({name})", value.log_tail()))


def pytest_terminal_summary(terminalreporter):
    if not _timings:
        return
    terminalreporter.section("event sources")
    for fixture, name, start, stop in _timings:
        started = f"started in {start:.2f} s" if start is not None else "did not start"
        terminalreporter.write_line(f"{fixture:20} {name:10} {started}, stopped in {stop:.2f} s")
