"""Crash isolation with a real scaler and a real source: metrics-api triggers against an HTTP
server of the test's own, one of which answers with a reply that makes the worker's HTTP
response parser crash or hang on purpose (the test-only fault hook of test builds,
scaleworker/test_fault.c: a header `X-Ckeda-Test-Fault: crash|hang`).

- crash: the culprit goes to the suspect shard, crashes it alone and is quarantined; every
  other metrics-api trigger keeps its 1 s pollingInterval on the normal shard all along;
- hang: the watchdog kills the spinning worker (no heartbeats), then the suspect shard, and
  the culprit is quarantined; the others stay fresh.
"""

import json
import time

import pytest

from sources import HttpSource
from test_redis_scaler import Ckeda, budget, eventually

HEALTHY = 6
QUARANTINE_S = 300  # longer than the test
FRESH_MS = budget(5) * 1000  # a trigger polled every second is never older than this


def respond(path, query, headers):
    """GET /v?i=N answers {"v": 7}; /crash and /hang answer it with the fault header."""
    fault = {"X-Ckeda-Test-Fault": path[1:]} if path in ("/crash", "/hang") else {}
    return 200, json.dumps({"v": 7}), fault


@pytest.fixture
def source():
    # HTTP/1.1 with keep-alive, the way the worker's client (and KEDA's) talks to a source: the
    # healthy triggers poll on connections kept open through the storm, the path they take in
    # production, and a crash or a watchdog kill drops those of the dead worker with it.
    with HttpSource(respond) as s:
        yield s


def trigger(url):
    return ",".join(["metrics-api", "target=10", f"url={url}", "valueLocation=v",
                     "targetValue=10"])


def run_storm(tmp_path, source, unique, fault, *flags):
    ck = Ckeda(tmp_path, "--quarantine-base", str(QUARANTINE_S), "--quarantine-max",
               str(QUARANTINE_S), *flags)
    try:
        healthy, culprit = f"apps/{unique}-ok", f"apps/{unique}-bad"
        ck.add(healthy, *(trigger(source.url(f"/v?i={i}")) for i in range(HEALTHY)))
        eventually(lambda: all(t["state"] == "ACTIVE" for t in ck.triggers(healthy)),
                   budget(15), "the healthy triggers' first values")
        ck.add(culprit, trigger(source.url(f"/{fault}")))

        def storm_over():
            ts = ck.triggers(healthy)
            for t in ts:  # fresh on every look, crash storm or not
                assert t["state"] == "ACTIVE" and t["age_ms"] < FRESH_MS, t
            bad = ck.triggers(culprit)[0]
            return bad if bad["quarantined"] else None

        bad = eventually(storm_over, budget(90), f"the {fault}ing trigger to be quarantined")
        assert bad["state"] == "ERROR" and "quarantine" in bad["error"], bad
        # after the storm every healthy trigger still polls once a second
        before = {i: source.hits[f"/v?i={i}"] for i in range(HEALTHY)}
        time.sleep(4)
        for i in range(HEALTHY):
            assert source.hits[f"/v?i={i}"] - before[i] >= 2, (i, source.hits)
        return ck.log()
    finally:
        ck.stop()


def test_a_crashing_reply_quarantines_its_trigger_alone(tmp_path, source, unique):
    log = run_storm(tmp_path, source, unique, "crash")
    # the suspect shard crashed with the culprit alone (signal 11; under ASan its report's exit)
    assert "scaleworker/metrics-api/0/suspect: running -> backoff" in log, log[-4000:]


def test_a_hanging_parse_is_killed_by_the_watchdog(tmp_path, source, unique):
    log = run_storm(tmp_path, source, unique, "hang", "--watchdog-timeout", "2000")
    assert "(watchdog)" in log, log[-4000:]
