"""The metrics-api scaler against an HTTP(S) server of the test's own, through the real process
tree.

The server (sources.HttpSource: a Python http.server on 127.0.0.1, plain and TLS with a CA made
by the test) answers a few routes whose values the test sets: JSON, YAML and Prometheus text
bodies, routes that demand an API key (header or query) or basic auth from the URL's userinfo, a
500, and a route that answers only after 20 s. Each test starts `ckeda run` (the TLS test with
--ca-dir holding the test CA) and writes triggers through tests/shmtool. Covered: valueLocation
forms (dotted keys, array indexes, `#`, escapes, Quantity strings), yaml and prometheus formats,
apiKey in a header and in the query, basic auth, TLS verified against --ca-dir, refused without
it and accepted with unsafeSsl, a 500 as ERROR, a slow server as ERROR after the timeout without
delaying another trigger, and that no credential of the URL reaches the table or the log.

Auth parameters that only a TriggerAuthentication can give (bearer tokens, client
certificates) need the Kubernetes API and are covered by the unit tests and the e2e suite.
"""

import base64
import json
import time

import pytest

from sources import HttpSource
from test_redis_scaler import (SERVER_EXT, Ckeda, budget, error_of, eventually, openssl_pki,
                               wait_state)

TIMEOUT_MS = 3000
API_KEY = "k-0123456789-secret"
USER, PASSWORD = "ckeda", "pw-9876-secret"


class Routes:
    """What the test's metrics endpoint answers (an HttpSource's respond), from .values."""

    def __init__(self):
        self.values = {"tasks": 32, "count": 2.43, "str": "64", "k": "1500m"}

    def __call__(self, path, query, headers):
        v = self.values
        if path == "/json":
            return 200, json.dumps({"components": [{"id": "x", "tasks": v["tasks"],
                                                    "str": v["str"], "k": v["k"]}],
                                    "count": v["count"], "a.b": {"c": 5}, "list": [1, 2, 3]})
        if path == "/yaml":
            body = (f"components:\n  - id: x\n    tasks: {v['tasks']}\n"
                    f"    str: '{v['str']}'\ncount: {v['count']}\n")
            return 200, body, {"Content-Type": "application/yaml"}
        if path == "/prom":
            body = ("# TYPE queue counter\n"
                    f'queue{{name="one"}} 1\nqueue{{name="two",x="y"}} {v["tasks"]}\n'
                    "other 10")
            return 200, body, {"Content-Type": "text/plain"}
        if path == "/apikey-header":
            ok = headers.get("X-API-KEY") == API_KEY
            return (200, json.dumps({"v": 11})) if ok else (401, "{}")
        if path == "/apikey-query":
            ok = query.get("api_key") == [API_KEY] and query.get("other") == ["1"]
            return (200, json.dumps({"v": 12})) if ok else (401, "{}")
        if path == "/basic":
            want = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            ok = headers.get("Authorization") == want
            return (200, json.dumps({"v": 13})) if ok else (401, "{}")
        if path == "/fail":
            return 500, "boom"
        if path == "/slow":
            time.sleep(20)
            return 200, json.dumps({"v": 1})
        return 404, "{}"


def metrics_api(certfile=None, keyfile=None):
    """The endpoint over HTTP/1.1 (keep-alive, as KEDA's client), TLS when given a certificate;
    the test sets what it serves through .respond.values."""
    return HttpSource(Routes(), certfile, keyfile)


@pytest.fixture
def api():
    with metrics_api() as a:
        yield a


def mapi(url, loc, *extra, target=10, activation=0):
    return ",".join(["metrics-api", f"target={target}", f"activation={activation}",
                     f"url={url}", f"valueLocation={loc}", f"targetValue={target}",
                     f"activationTargetValue={activation}", *extra])


def test_value_locations_and_formats(ckeda, api, unique):
    so = f"apps/{unique}"
    ckeda.add(so, mapi(api.url("/json"), "components.0.tasks", activation=32),
              mapi(api.url("/json"), "count"),
              mapi(api.url("/json"), "components.0.str"),
              mapi(api.url("/json"), "components.0.k"),
              mapi(api.url("/json"), "list.#"),
              mapi(api.url("/json"), "a\\.b.c"),
              mapi(api.url("/yaml"), "components.0.tasks", "format=yaml"),
              mapi(api.url("/prom"), 'queue{name="two"}', "format=prometheus"),
              mapi(api.url("/json"), "components.0.id"))
    wait_state(ckeda, so, "INACTIVE", 32, index=0)  # 32 > 32 is false
    wait_state(ckeda, so, "ACTIVE", 2.43, index=1)
    wait_state(ckeda, so, "ACTIVE", 64, index=2)    # a Quantity string
    wait_state(ckeda, so, "ACTIVE", 1.5, index=3)   # 1500m
    wait_state(ckeda, so, "ACTIVE", 3, index=4)     # the array's length
    wait_state(ckeda, so, "ACTIVE", 5, index=5)     # an escaped dot
    wait_state(ckeda, so, "ACTIVE", 32, index=6)
    wait_state(ckeda, so, "ACTIVE", 32, index=7)
    t = error_of(ckeda, so, 8, "not parseable as a Quantity")
    assert t["error"].startswith("error requesting metrics endpoint: "), t
    api.respond.values["tasks"] = 40
    wait_state(ckeda, so, "ACTIVE", 40, index=0)
    wait_state(ckeda, so, "ACTIVE", 40, index=7)


def test_api_key_and_basic_auth_never_leak(ckeda, api, unique):
    so = f"apps/{unique}"
    ckeda.add(so, mapi(api.url("/apikey-header"), "v", "authModes=apiKey", f"apiKey={API_KEY}"),
              mapi(api.url("/apikey-query?other=1"), "v", "authModes=apiKey",
                   f"apiKey={API_KEY}", "method=query"),
              mapi(api.url("/basic", f"{USER}:{PASSWORD}@"), "v"),
              mapi(api.url("/basic", f"{USER}:wrong-secret@"), "v"),
              mapi(api.url("/apikey-query?token=abc-secret"), "v"))
    wait_state(ckeda, so, "ACTIVE", 11, index=0)
    wait_state(ckeda, so, "ACTIVE", 12, index=1)
    wait_state(ckeda, so, "ACTIVE", 13, index=2)
    t = error_of(ckeda, so, 3, "api returned 401")
    assert t["error"] == "error requesting metrics endpoint: /basic: api returned 401", t
    error_of(ckeda, so, 4, "api returned 401")
    published = ckeda._ctl("get", so).stdout + ckeda._ctl("triggers").stdout
    for secret in (API_KEY, PASSWORD, "wrong-secret", "abc-secret"):
        assert secret not in published
        assert secret not in ckeda.log()


def test_server_error_and_slow_server(ckeda, api, unique):
    so = f"apps/{unique}"
    ckeda.add(so, mapi(api.url("/fail"), "v"), mapi(api.url("/slow"), "v"),
              mapi(api.url("/json"), "components.0.tasks"))
    t = error_of(ckeda, so, 0, "api returned 500")
    assert t["error"] == "error requesting metrics endpoint: /fail: api returned 500", t
    wait_state(ckeda, so, "ACTIVE", 32, index=2)
    t0 = time.monotonic()
    api.respond.values["tasks"] = 33
    wait_state(ckeda, so, "ACTIVE", 33, index=2, timeout=budget(3))  # not held up by /slow
    worst_age = 0

    def slow_failed():
        nonlocal worst_age
        ts = ckeda.triggers(so)
        assert ts[2]["state"] == "ACTIVE", ts[2]
        worst_age = max(worst_age, ts[2]["age_ms"])
        return ts[1] if ts[1]["state"] == "ERROR" and "no answer" in ts[1]["error"] else None
    t = eventually(slow_failed, budget(10), "the slow trigger's timeout")
    assert f"no answer within the timeout of {TIMEOUT_MS} ms" in t["error"], t
    assert f"127.0.0.1:{api.port}/slow" in t["error"], t
    assert time.monotonic() - t0 >= TIMEOUT_MS / 1000 - 1.5
    assert worst_age < budget(2500), worst_age


def make_ca_and_server_cert(d):
    openssl_pki(d, "/CN=ckeda-it-ca", (("srv", "/CN=localhost", SERVER_EXT),))
    cadir = d / "cadir"
    cadir.mkdir()
    (cadir / "test-ca.pem").write_bytes((d / "ca.crt").read_bytes())
    return cadir


def test_tls_verified_against_ca_dir(tmp_path, unique):
    certs = tmp_path / "certs"
    certs.mkdir()
    cadir = make_ca_and_server_cert(certs)
    api = metrics_api(str(certs / "srv.crt"), str(certs / "srv.key"))
    trusting = Ckeda(tmp_path, "--ca-dir", str(cadir))
    other = Ckeda(tmp_path)  # the default --ca-dir (/custom/ca), without the test CA
    try:
        so = f"apps/{unique}"
        trusting.add(so, mapi(api.url("/json"), "components.0.tasks"),
                     mapi(f"https://localhost:{api.port}/json", "count"))
        other.add(so, mapi(api.url("/json"), "components.0.tasks"),
                  mapi(api.url("/json"), "components.0.tasks", "unsafeSsl=true"))
        wait_state(trusting, so, "ACTIVE", 32, index=0)
        wait_state(trusting, so, "ACTIVE", 2.43, index=1)
        t = error_of(other, so, 0, "certificate verif")
        assert f"https://127.0.0.1:{api.port}/json" in t["error"], t
        wait_state(other, so, "ACTIVE", 32, index=1)
    finally:
        for ck in (trusting, other):
            ck.stop()
        api.close()
