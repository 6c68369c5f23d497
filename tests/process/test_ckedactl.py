"""ckedactl against a live tree: the documented JSON shapes (scripts rely on these names),
null (never NaN) for a trigger without a result, ERROR with counted and redacted errors for a
failing source, `check` finding a group left half-written, and snapshots that round-trip and
refuse to load when damaged."""

import re

import pytest

from conftest import (budget, parse_json, run_tool, CKEDACTL, shm_path, snapshot_image,
                      wait_until, SNAPSHOT_HEADER)

WORKER_FIELDS = {"role", "type", "shard", "pid", "state", "restarts", "heartbeat_age_ms",
                 "last_exit"}
SO_FIELDS = {"namespace", "name", "active", "replicas", "triggers"}
TRIGGER_FIELDS = {"index", "type", "metric_name", "value", "state", "active", "age_ms", "errors",
                  "errors_total", "error", "worker_pid", "quarantined"}
SECRET = "hunter2"  # in the test scaler's failure text: "... (password=hunter2)"
POLL_S = 1


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_trigger_shape(t):
    assert TRIGGER_FIELDS <= t.keys(), f"missing {TRIGGER_FIELDS - t.keys()} in {t}"
    assert t["state"] in ("ACTIVE", "INACTIVE", "ERROR")
    assert is_num(t["index"]) and isinstance(t["type"], str)
    assert isinstance(t["metric_name"], str) and isinstance(t["error"], str)
    assert is_num(t["errors"]) and is_num(t["errors_total"])
    assert isinstance(t["quarantined"], bool)
    assert t["value"] is None or is_num(t["value"])
    assert t["age_ms"] is None or is_num(t["age_ms"])
    assert t["active"] is None or isinstance(t["active"], bool)
    assert t["worker_pid"] is None or is_num(t["worker_pid"])
    assert (t["value"] is None) == (t["age_ms"] is None), t


def check_so_shape(so):
    assert SO_FIELDS <= so.keys(), f"missing {SO_FIELDS - so.keys()} in {so}"
    assert isinstance(so["namespace"], str) and isinstance(so["name"], str)
    assert so["active"] is None or isinstance(so["active"], bool)
    assert so["replicas"] is None or is_num(so["replicas"])
    for t in so["triggers"]:
        check_trigger_shape(t)


@pytest.fixture
def populated(ckeda):
    """A tree serving an ACTIVE, an INACTIVE, a failing and a misconfigured trigger."""
    ck = ckeda()
    ok = ck.add("apps/web", "ckeda-test,value=12.5,activation=10",
                "ckeda-test,value=3,activation=5", polling_interval=POLL_S)
    (fail,) = ck.add("apps/broken", "ckeda-test,mode=fail", polling_interval=POLL_S)
    (bad,) = ck.add("apps/misconfigured", "ckeda-test,mode=sideways", polling_interval=POLL_S)

    def settled():
        ts = ck.triggers()
        return (ts[ok[0]]["state"] == "ACTIVE" and ts[ok[1]]["state"] == "INACTIVE" and
                ts[fail]["errors"] >= 1 and ts[bad]["error"]) and ts

    wait_until(settled, budget(30), "every trigger's first result")
    ck.slots = {"active": ok[0], "inactive": ok[1], "fail": fail, "bad": bad}
    return ck


def all_output(ck):
    """Everything ckedactl prints about the table, JSON and human."""
    out = []
    for cmd in (["status"], ["ls"], ["triggers"], ["workers"], ["get", "apps/broken"],
                ["top", "-n", "1"], ["check"]):
        for js in (True, False):
            r = ck.ctl_run(*cmd, json_output=js)
            out.append(r.stdout + r.stderr)
    return "\n".join(out)


def test_json_field_names(populated):
    ck = populated
    procs = ck.workers()
    assert {p["role"] for p in procs} == {"watcher", "adapter", "webhook", "scaleworker"}
    for p in procs:
        assert WORKER_FIELDS <= p.keys(), f"missing {WORKER_FIELDS - p.keys()} in {p}"
        assert p["state"] == "running" and is_num(p["pid"]) and is_num(p["restarts"])
        assert is_num(p["heartbeat_age_ms"]) and p["last_exit"] is None
        if p["role"] == "scaleworker":
            assert p["type"] == "ckeda-test" and p["shard"] == 0
        else:
            assert p["type"] is None and p["shard"] is None

    ls = ck.ctl("ls")
    objs = {(o["namespace"], o["name"]): o for o in ls["scaledobjects"]}
    assert set(objs) == {("apps", "web"), ("apps", "broken"), ("apps", "misconfigured")}
    for o in objs.values():
        check_so_shape(o)
    web = objs[("apps", "web")]
    assert [t["index"] for t in web["triggers"]] == [0, 1]
    assert [t["metric_name"] for t in web["triggers"]] == ["s0-ckeda-test-web",
                                                           "s1-ckeda-test-web"]
    a, i = web["triggers"]
    assert (a["state"], a["active"], a["value"]) == ("ACTIVE", True, 12.5)
    assert (i["state"], i["active"], i["value"]) == ("INACTIVE", False, 3)
    worker_pid = ck.scaleworkers()[0]["pid"]
    for t in (a, i):
        assert t["worker_pid"] == worker_pid and t["errors"] == 0 and t["error"] == ""
        assert 0 <= t["age_ms"] < budget(5) * 1000 and t["quarantined"] is False

    got = ck.ctl("get", "apps/web")
    check_so_shape(got)
    assert (got["namespace"], got["name"]) == ("apps", "web")
    assert [t["metric_name"] for t in got["triggers"]] == [t["metric_name"]
                                                            for t in web["triggers"]]
    r = ck.ctl_run("get", "apps/nothing", json_output=True)
    assert r.returncode == 1 and "apps/nothing" in r.stderr

    ts = ck.ctl("triggers")["triggers"]
    assert len(ts) == 4
    for t in ts:
        check_trigger_shape(t)


def test_no_result_is_null_never_nan(ckeda):
    # Two process slots for workers and one trigger per shard: a third trigger finds no
    # worker to run it and so never has a result.
    ck = ckeda("--max-processes", "8", "--adapters", "4", "--worker-shard-size", "1")
    served = ck.add("ns/first", "ckeda-test,value=1", "ckeda-test,value=1")
    wait_until(lambda: all(ck.triggers()[s]["state"] == "ACTIVE" for s in served), budget(30),
               "two triggers on two shards")
    (second,) = ck.add("ns/second", "ckeda-test,value=1")
    wait_until(lambda: "no free process slot" in ck.log_text(), budget(30),
               "the supervisor to run out of worker slots")
    for cmd in (["triggers"], ["ls"], ["get", "ns/second"]):
        raw = ck.ctl_run(*cmd, json_output=True).stdout
        assert not re.search(r"\b(nan|NaN|inf|Infinity)\b", raw), raw
        parse_json(raw)
    t = ck.triggers()[second]
    check_trigger_shape(t)
    assert t["state"] == "ERROR" and t["value"] is None and t["age_ms"] is None, t
    assert t["active"] is None and t["worker_pid"] is None, t
    assert "no result" in t["error"], t
    assert ck.ctl("get", "ns/second")["active"] is None


def test_failing_source_counts_errors_and_redacts_them(populated, tmp_path):
    ck = populated
    fail, bad = ck.slots["fail"], ck.slots["bad"]
    first = ck.triggers()[fail]
    assert first["state"] == "ERROR" and first["value"] is None and first["age_ms"] is None
    assert first["active"] is None and first["quarantined"] is False
    assert "failing on command" in first["error"], first
    assert "password=" in first["error"] and SECRET not in first["error"], first
    # errors counts consecutive failures: it goes up on every poll.
    later = wait_until(lambda: (lambda t: t if t["errors"] >= first["errors"] + 2 else None)(
        ck.triggers()[fail]), budget(30), "two more failed polls")
    assert later["errors_total"] >= later["errors"] >= first["errors"] + 2
    # A configuration error is terminal: one error, not retried.
    b = ck.triggers()[bad]
    assert b["state"] == "ERROR" and "metadata.mode" in b["error"] and b["value"] is None, b

    snap = tmp_path / "t.snap"
    assert ck.ctl_run("snapshot", "save", str(snap)).returncode == 0
    assert SECRET not in all_output(ck)
    assert SECRET.encode() not in shm_path(ck.name).read_bytes()
    assert SECRET.encode() not in snap.read_bytes()
    assert SECRET.encode() not in snapshot_image(snap)
    assert "password=" in snapshot_image(snap).decode("latin-1"), "the error text is not there"
    shown = run_tool([CKEDACTL, "snapshot", "show", snap])
    assert SECRET not in shown.stdout + shown.stderr
    assert SECRET not in ck.log_text()


def test_check_finds_a_half_written_group(populated):
    ck = populated
    r = ck.ctl_run("check")
    assert r.returncode == 0, r.stdout
    # A trigger slot no worker writes, left odd as by a writer that died mid-write.
    slot = max(ck.slots.values()) + 5
    ck.shmtool("odd", "trigger-result", str(slot))
    r = ck.ctl_run("check")
    assert r.returncode == 1, r.stdout
    assert f"trigger-result[{slot}]" in r.stdout, r.stdout


def test_snapshot_round_trip(populated, tmp_path):
    ck = populated
    snap = tmp_path / "round.snap"
    live = ck.ctl("ls")
    r = ck.ctl_run("snapshot", "save", str(snap))
    assert r.returncode == 0 and str(snap) in r.stdout, r.stderr
    shown = ck.ctl("snapshot", "show", str(snap))

    def ident(doc):
        return sorted((o["namespace"], o["name"],
                       tuple((t["index"], t["type"], t["metric_name"]) for t in o["triggers"]))
                      for o in doc["scaledobjects"])

    assert ident(shown) == ident(live)
    for o in shown["scaledobjects"]:
        check_so_shape(o)
    web = [o for o in shown["scaledobjects"] if o["name"] == "web"][0]
    assert [t["state"] for t in web["triggers"]] == ["ACTIVE", "INACTIVE"]
    assert [t["value"] for t in web["triggers"]] == [12.5, 3]
    # Every command works on a snapshot, and ages are those at the time it was saved.
    for cmd in (["status"], ["workers"], ["triggers"], ["get", "apps/web"]):
        run_tool([CKEDACTL, "--snapshot", snap, "-o", "json", *cmd])
    st = parse_json(run_tool([CKEDACTL, "--snapshot", snap, "-o", "json", "status"]).stdout)
    assert st["snapshot"] is True and st["supervisor_pid"] == ck.pid


def test_damaged_snapshot_is_rejected(populated, tmp_path):
    ck = populated
    good = tmp_path / "good.snap"
    assert ck.ctl_run("snapshot", "save", str(good)).returncode == 0
    data = good.read_bytes()
    reference = run_tool([CKEDACTL, "-o", "json", "snapshot", "show", good]).stdout

    def show(blob, label):
        bad = tmp_path / f"bad-{label}.snap"
        bad.write_bytes(blob)
        return run_tool([CKEDACTL, "-o", "json", "snapshot", "show", bad], check=False), bad

    # Every byte of the header, and bytes spread over the body: each flip is either rejected
    # with a clear message and exit 1, or (an LZ4 match within a run of zeros) decodes to the
    # very same table. Never a silently different one.
    body = range(SNAPSHOT_HEADER, len(data), max(1, (len(data) - SNAPSHOT_HEADER) // 24))
    rejected, same = 0, []
    for off in list(range(SNAPSHOT_HEADER)) + list(body):
        blob = bytearray(data)
        blob[off] ^= 0x10
        r, bad = show(bytes(blob), off)
        if r.returncode == 0 and r.stdout == reference:
            same.append(off)
            continue
        assert r.returncode == 1, \
            f"flipped byte {off}: exit {r.returncode}, output changed:\n{r.stdout[:2000]}"
        assert f"cannot read snapshot {bad}: " in r.stderr and "corrupt" in r.stderr, \
            f"flipped byte {off}: unclear message {r.stderr!r}"
        assert r.stdout == "" and "Sanitizer" not in r.stderr, r.stdout + r.stderr
        rejected += 1
    assert rejected > 4 * len(same), f"rejected {rejected}, same image for offsets {same}"

    for label, blob in (("truncated", data[:-1]), ("header-only", data[:SNAPSHOT_HEADER]),
                        ("empty", b""), ("trailing", data + b"x"), ("not-a-snapshot",
                                                                   b"hello\n" * 100)):
        r, bad = show(blob, label)
        assert r.returncode == 1, label
        assert "corrupt or not a ckeda snapshot" in r.stderr, (label, r.stderr)
        human = run_tool([CKEDACTL, "snapshot", "show", bad], check=False)
        assert human.returncode == 1 and human.stdout == "", (label, human.stdout)
