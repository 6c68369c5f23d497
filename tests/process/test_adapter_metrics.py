"""GET /metrics on the metrics port: KEDA's Prometheus families (reference keda.md 3.1) and
ckeda's own, computed from the table at scrape time, over plain HTTP.

A real `ckeda run` tree (ports 0, no cluster); ScaledObjects are written with shmtool and
their triggers polled by the real workers (the test-only ckeda-test scaler); results are
also overwritten with shmtool where a test needs an exact value. The exposition is parsed
here with a strict parser of the text format 0.0.4.
"""

import http.client
import math
import os
import re
import signal
import socket
import ssl

from conftest import budget, wait_until

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')

METRIC_LABELS = {"namespace", "metric", "scaledObject", "scaler", "triggerIndex", "type"}


def unescape(v):
    return re.sub(r'\\(.)', lambda m: {"n": "\n", "\\": "\\", '"': '"'}[m.group(1)], v)


def parse(text):
    """{family: {"type": str, "samples": [(labels dict, float)]}}; asserts the format."""
    fams, current = {}, None
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            assert name not in fams, f"family {name} declared twice"
            fams[name] = {"type": typ, "samples": []}
            current = name
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        name, labels_text, value = m.group(1), m.group(3) or "", m.group(4)
        if name != current:  # a histogram's samples: <family>_bucket, _sum, _count
            assert current and fams[current]["type"] == "histogram" and name in (
                current + "_bucket", current + "_sum", current + "_count"), \
                f"{name} outside its family block"
            fams.setdefault(name, {"type": "histogram-part", "samples": []})
        labels, pos = {}, 0
        while pos < len(labels_text):
            lm = LABEL.match(labels_text, pos)
            assert lm, f"bad labels in {line!r}"
            labels[lm.group(1)] = unescape(lm.group(2))
            pos = lm.end()
        assert value != "NaN", f"NaN sample: {line!r}"
        fams[name]["samples"].append((labels, float(value)))
    return fams


def scrape(inst, path="/metrics"):
    port = inst.status()["ports"]["metrics"]
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.getheader("Content-Type"), r.read().decode()
    finally:
        c.close()


def samples(fams, family, **match):
    return [(l, v) for l, v in fams.get(family, {"samples": []})["samples"]
            if all(l.get(k) == str(x) for k, x in match.items())]


def one(fams, family, **match):
    got = samples(fams, family, **match)
    assert len(got) == 1, f"{family}{match}: {got}"
    return got[0][1]


def wait_scrape(inst, pred, what):
    last = {}

    def probe():
        status, _, body = scrape(inst)
        last["body"] = body
        return status == 200 and pred(parse(body))
    try:
        return wait_until(probe, budget(20), what)
    except AssertionError as e:
        raise AssertionError(f"{e}\n{last.get('body', '')[-4000:]}") from None


def test_metrics_port_serves_keda_families_from_the_table(ckeda):
    inst = ckeda()
    ok, failing = inst.add("shop/orders", "ckeda-test,value=7,usecached=1",
                           "ckeda-test,mode=fail", polling_interval=3600)

    def polled(f):
        return (samples(f, "keda_scaler_metrics_value", scaledObject="orders", triggerIndex=0)
                and one(f, "keda_scaler_detail_errors_total", scaledObject="orders",
                        triggerIndex=1) >= 1)
    wait_scrape(inst, polled, "both triggers polled once")

    status, ctype, body = scrape(inst)
    assert status == 200
    assert ctype.startswith("text/plain; version=0.0.4")
    f = parse(body)

    # KEDA's names, types and label sets, exactly
    for name, typ in (("keda_build_info", "gauge"), ("keda_scaler_metrics_value", "gauge"),
                      ("keda_scaler_metrics_latency_seconds", "gauge"),
                      ("keda_scaler_active", "gauge"),
                      ("keda_scaler_detail_errors_total", "counter"),
                      ("keda_scaled_object_errors_total", "counter"),
                      ("keda_scaled_object_paused", "gauge"),
                      ("ckeda_process_restarts_total", "counter"),
                      ("ckeda_trigger_quarantined", "gauge"), ("ckeda_trigger_strikes", "gauge"),
                      ("ckeda_scaler_metrics_value_age_seconds", "gauge")):
        assert f[name]["type"] == typ, name
    (build, v), = f["keda_build_info"]["samples"]
    assert v == 1 and set(build) == {"version", "git_commit", "goversion", "goos", "goarch"}
    for fam in ("keda_scaler_metrics_value", "keda_scaler_active",
                "keda_scaler_detail_errors_total", "keda_scaler_metrics_latency_seconds"):
        for labels, _ in f[fam]["samples"]:
            assert set(labels) == METRIC_LABELS, (fam, labels)

    base = dict(namespace="shop", scaledObject="orders", type="scaledobject",
                scaler="ckedaTestScaler")
    assert one(f, "keda_scaler_metrics_value", triggerIndex=0, metric="s0-ckeda-test-orders",
               **base) == 7
    assert one(f, "keda_scaler_active", triggerIndex=0, **base) == 1
    assert one(f, "keda_scaler_detail_errors_total", triggerIndex=0, **base) == 0
    # the failing trigger: counted, not active, and no value (omitted, never NaN)
    assert one(f, "keda_scaler_active", triggerIndex=1, **base) == 0
    assert not samples(f, "keda_scaler_metrics_value", triggerIndex=1)
    assert not samples(f, "ckeda_scaler_metrics_value_age_seconds", triggerIndex=1)
    assert one(f, "keda_scaled_object_errors_total", namespace="shop",
               scaledObject="orders") >= 1
    assert one(f, "keda_scaled_object_paused", namespace="shop", scaledObject="orders") == 0
    assert one(f, "ckeda_trigger_quarantined", triggerIndex=0, **base) == 0
    assert one(f, "ckeda_trigger_strikes", triggerIndex=0, **base) == 0
    age = one(f, "ckeda_scaler_metrics_value_age_seconds", triggerIndex=0, **base)
    assert 0 <= age < 3600
    assert 0 <= one(f, "keda_scaler_metrics_latency_seconds", triggerIndex=0, **base) < 10

    # one restart series per role (and scaler type, shard), none restarted
    restarts = f["ckeda_process_restarts_total"]["samples"]
    roles = {l["role"] for l, _ in restarts}
    assert {"watcher", "adapter", "webhook", "scaleworker"} <= roles, restarts
    assert all(set(l) == {"role", "type", "shard"} for l, _ in restarts)
    assert all(v == 0 for _, v in restarts)
    assert any(l["role"] == "scaleworker" and l["type"] == "ckeda-test" for l, _ in restarts)

    # computed at scrape time: a new result is the next scrape's value
    inst.shmtool("result", str(ok), "3.5")
    status, _, body = scrape(inst)
    assert one(parse(body), "keda_scaler_metrics_value", triggerIndex=0, **base) == 3.5


def test_metrics_label_values_are_escaped(ckeda):
    inst = ckeda()
    inst.add("esc/quoted", 'ckeda-test,value=1,name=a"b\\c', polling_interval=3600)
    wait_scrape(inst, lambda f: samples(f, "keda_scaler_metrics_value",
                                        scaledObject="quoted"), "the trigger polled")
    _, _, body = scrape(inst)
    assert 'scaler="a\\"b\\\\c"' in body
    assert one(parse(body), "keda_scaler_metrics_value", scaledObject="quoted",
               scaler='a"b\\c') == 1


def test_metrics_port_serves_nothing_else(ckeda):
    inst = ckeda()
    assert scrape(inst, "/healthz")[0] == 404
    assert scrape(inst, "/apis")[0] == 404
    status, _, body = scrape(inst)
    assert status == 200 and not math.isnan(one(parse(body), "keda_build_info"))


# ---- the adapters' own metrics ---------------------------------------------------------------

ADAPTER_FAMILIES = (("ckeda_adapter_requests_total", "counter"),
                    ("ckeda_adapter_request_duration_seconds", "histogram"),
                    ("ckeda_adapter_authorization_cache_hits_total", "counter"),
                    ("ckeda_adapter_authorization_cache_misses_total", "counter"),
                    ("ckeda_adapter_token_reviews_total", "counter"),
                    ("ckeda_seqlock_read_retries_total", "counter"))


def secure_request(inst, path, headers=()):
    """One request on a new TLS connection to the metrics API port (no client certificate:
    without a cluster that is a 401 unless the route is public). Returns the status."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the tree's self-signed serving certificate
    port = inst.status()["ports"]["secure"]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            extra = "".join(f"{k}: {v}\r\n" for k, v in headers)
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n"
                      .encode())
            head = s.recv(64)
            return int(head.split()[1])


def requests_by_code(f):
    return {l["code"]: v for l, v in f["ckeda_adapter_requests_total"]["samples"]}


def check_histogram(f, name):
    buckets = [(l["le"], v) for l, v in f[name + "_bucket"]["samples"]]
    assert buckets[-1][0] == "+Inf"
    bounds = [float(le) for le, _ in buckets[:-1]]
    assert bounds == sorted(bounds) and bounds[0] <= 0.001 and bounds[-1] >= 10, bounds
    counts = [v for _, v in buckets]
    assert counts == sorted(counts), f"buckets are cumulative: {buckets}"
    count = one(f, name + "_count")
    assert counts[-1] == count
    assert 0 <= one(f, name + "_sum") < count * 15 + 1
    return count


def test_adapter_counts_its_responses_by_code_and_duration(ckeda):
    inst = ckeda()
    api = "/apis/external.metrics.k8s.io/v1beta1"
    for _ in range(5):
        assert secure_request(inst, api) == 401  # no client certificate
    assert secure_request(inst, api, [("Authorization", "Bearer not-a-token")]) == 401
    assert secure_request(inst, "/nope") == 404
    assert secure_request(inst, "/livez") == 200
    # the health and metrics ports are not the metrics API: not counted
    scrape(inst)

    def counted(f):
        codes = requests_by_code(f)
        return codes.get("401", 0) >= 6 and codes.get("404", 0) >= 1 and codes.get("200", 0) >= 1
    wait_scrape(inst, counted, "the adapter's responses counted")
    _, _, body = scrape(inst)
    f = parse(body)
    for name, typ in ADAPTER_FAMILIES:
        assert f[name]["type"] == typ, name
    codes = requests_by_code(f)
    assert codes == {"401": 6, "404": 1, "200": 1}, codes
    assert check_histogram(f, "ckeda_adapter_request_duration_seconds") == sum(codes.values())
    # without a cluster no review is made: a bearer token is refused on the spot
    reviews = {l["result"]: v for l, v in f["ckeda_adapter_token_reviews_total"]["samples"]}
    assert reviews == {"authenticated": 0, "unauthenticated": 0, "error": 0}
    assert one(f, "ckeda_adapter_authorization_cache_hits_total") == 0
    assert one(f, "ckeda_adapter_authorization_cache_misses_total") == 0
    retries = {l["role"]: v for l, v in f["ckeda_seqlock_read_retries_total"]["samples"]}
    assert {"watcher", "adapter", "webhook"} <= set(retries), retries
    assert all(v >= 0 for v in retries.values())


def test_adapter_counts_are_summed_over_adapters_and_survive_a_restart(ckeda):
    """Each adapter counts into its own process slot of the table and a scrape, whichever
    adapter takes it (they share the metrics port), sums every slot; a restarted adapter
    keeps its slot's counts."""
    inst = ckeda("--adapters", "3")
    api = "/apis/external.metrics.k8s.io/v1beta1"
    for _ in range(30):  # new connections: spread over the adapters by the kernel
        assert secure_request(inst, api) == 401

    def at_least_30(f):
        return requests_by_code(f).get("401", 0) >= 30
    wait_scrape(inst, at_least_30, "30 responses counted")
    seen = set()
    for _ in range(10):  # whichever adapter answers, the same sum
        _, _, body = scrape(inst)
        seen.add(requests_by_code(parse(body))["401"])
    assert seen == {30}, seen
    def adapters():
        return [p for p in inst.workers() if p["role"] == "adapter"]
    victim = next(p for p in adapters() if p["pid"] > 0)
    os.kill(victim["pid"], signal.SIGKILL)
    wait_until(lambda: any(p["restarts"] >= 1 and p["state"] == "running" and p["pid"] > 0
                           and p["pid"] != victim["pid"] for p in adapters()),
               budget(20), "the killed adapter restarted")
    assert secure_request(inst, api) == 401
    wait_scrape(inst, lambda f: requests_by_code(f).get("401", 0) == 31,
                "the counts kept across the restart, plus one")
