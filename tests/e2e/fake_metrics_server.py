"""TEST-ONLY stand-in for ckeda's external metrics adapter. It is not ckeda.

It lets tests/e2e/test_harness.py prove the test control plane's chain
(kube-apiserver aggregator -> APIService -> adapter on 127.0.0.1, and the real
HPA controller reading external metrics) without ckeda. It serves, over TLS
with the adapter certificate that `cluster.sh up` issues:

  GET /apis                                    APIGroupList
  GET /apis/external.metrics.k8s.io/v1beta1    APIResourceList (what KEDA serves)
  GET /apis/external.metrics.k8s.io/v1beta1/namespaces/NS/METRIC?labelSelector=...
                                               ExternalMetricValueList with the
                                               value the test set for NS/METRIC
  GET /healthz /readyz /livez                  ok

Like a real aggregated API server it accepts a request only from the
aggregator: the client certificate must chain to the request-header CA and
carry an allowed common name, and X-Remote-User must be present. It does not
authorize (no SubjectAccessReview). Every request is recorded for assertions.

Run by hand:
  python3 tests/e2e/fake_metrics_server.py --metric NS/METRIC=30
"""

from __future__ import annotations

import argparse
import datetime
import http.server
import json
import os
import pathlib
import socket
import ssl
import threading
import urllib.parse
from dataclasses import dataclass, field

GROUP = "external.metrics.k8s.io"
VERSION = "v1beta1"
GROUP_VERSION = f"{GROUP}/{VERSION}"
PREFIX = f"/apis/{GROUP_VERSION}"

RESOURCE_LIST = {
    "kind": "APIResourceList",
    "apiVersion": "v1",
    "groupVersion": GROUP_VERSION,
    "resources": [
        {
            "name": "externalmetrics",
            "singularName": "",
            "namespaced": True,
            "kind": "ExternalMetricValueList",
            "verbs": ["get"],
        }
    ],
}

GROUP_LIST = {
    "kind": "APIGroupList",
    "apiVersion": "v1",
    "groups": [
        {
            "name": GROUP,
            "versions": [{"groupVersion": GROUP_VERSION, "version": VERSION}],
            "preferredVersion": {"groupVersion": GROUP_VERSION, "version": VERSION},
        }
    ],
}


@dataclass
class RecordedRequest:
    """One request as the server saw it, after authentication."""

    method: str
    path: str
    query: dict[str, list[str]]
    client_cn: str | None
    user: str | None
    groups: list[str]
    accept: str | None
    status: int = 0


@dataclass
class _State:
    metrics: dict[tuple[str, str], str] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _status(code: int, reason: str, message: str) -> dict:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _common_name(cert: dict | None) -> str | None:
    for rdn in (cert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return value
    return None


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ckeda-test-fake-metrics/0"
    timeout = 30

    # Set by FakeExternalMetricsServer on the subclass it creates.
    state: _State
    allowed_names: frozenset[str]

    def handle(self) -> None:
        try:
            self.connection.do_handshake()  # deferred from accept(); see _TLSServer
            super().handle()
        except (ssl.SSLError, ConnectionError, socket.timeout):
            pass  # a client that fails the handshake or hangs up is not our concern

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (stdlib name)
        pass  # requests are recorded in state.requests instead

    def do_GET(self) -> None:  # noqa: N802 (stdlib name)
        url = urllib.parse.urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        if path in ("/healthz", "/readyz", "/livez"):
            self._send(200, "ok", "text/plain")
            return
        cert = self.connection.getpeercert()
        record = RecordedRequest(
            method="GET",
            path=path,
            query=urllib.parse.parse_qs(url.query),
            client_cn=_common_name(cert),
            user=self.headers.get("X-Remote-User"),
            groups=self.headers.get_all("X-Remote-Group") or [],
            accept=self.headers.get("Accept"),
        )
        code, body = self._route(record, path)
        record.status = code
        with self.state.lock:
            self.state.requests.append(record)
        self._send(code, json.dumps(body), "application/json")

    def _route(self, record: RecordedRequest, path: str) -> tuple[int, dict]:
        if record.client_cn is None or record.client_cn not in self.allowed_names:
            return 401, _status(401, "Unauthorized", "not the front proxy's client certificate")
        if not record.user:
            return 401, _status(401, "Unauthorized", "X-Remote-User is missing")
        if path == "/apis":
            return 200, GROUP_LIST
        if path == PREFIX:
            return 200, RESOURCE_LIST
        parts = path[len(PREFIX) + 1 :].split("/") if path.startswith(PREFIX + "/") else []
        if len(parts) == 3 and parts[0] == "namespaces":
            return self._metric(parts[1], parts[2])
        return 404, _status(404, "NotFound", f"{path} is not served")

    def _metric(self, namespace: str, name: str) -> tuple[int, dict]:
        with self.state.lock:
            value = self.state.metrics.get((namespace, name))
        if value is None:
            return 404, _status(404, "NotFound", f"no metric {name} in namespace {namespace}")
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return 200, {
            "kind": "ExternalMetricValueList",
            "apiVersion": GROUP_VERSION,
            "metadata": {},
            "items": [{"metricName": name, "metricLabels": None, "timestamp": now, "value": value}],
        }

    def _send(self, code: int, body: str, content_type: str) -> None:
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _TLSServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, handler, context: ssl.SSLContext):
        self.context = context
        super().__init__(address, handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        # The handshake runs in the request's thread (see _Handler.handle),
        # so a slow client never blocks accept().
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr


class FakeExternalMetricsServer:
    """A test-only external metrics API server on 127.0.0.1:port (see module doc)."""

    def __init__(
        self,
        port: int,
        cert_dir: str | os.PathLike,
        requestheader_ca_file: str | os.PathLike,
        allowed_names: tuple[str, ...] = ("front-proxy-client",),
        host: str = "127.0.0.1",
    ):
        cert_dir = pathlib.Path(cert_dir)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_dir / "tls.crt", cert_dir / "tls.key")
        context.load_verify_locations(cafile=str(requestheader_ca_file))
        context.verify_mode = ssl.CERT_OPTIONAL
        context.set_alpn_protocols(["http/1.1"])
        self._state = _State()
        handler = type(
            "Handler", (_Handler,), {"state": self._state, "allowed_names": frozenset(allowed_names)}
        )
        self._server = _TLSServer((host, port), handler, context)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> "FakeExternalMetricsServer":
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-metrics", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=10)

    def __enter__(self) -> "FakeExternalMetricsServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def set_metric(self, namespace: str, name: str, value: str | int) -> None:
        """Serve VALUE (a Kubernetes quantity, e.g. "30" or "1500m") for NAMESPACE/NAME."""
        with self._state.lock:
            self._state.metrics[(namespace, name)] = str(value)

    def requests(self) -> list[RecordedRequest]:
        with self._state.lock:
            return list(self._state.requests)


def main() -> None:
    e2e_dir = os.environ.get("CKEDA_E2E_DIR") or os.path.join(
        os.environ.get("CKEDA_CACHE_DIR") or os.path.expanduser("~/.cache/ckeda"), "e2e"
    )
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=int(os.environ.get("CKEDA_ADAPTER_PORT", "7443")))
    parser.add_argument("--cert-dir", default=os.path.join(e2e_dir, "adapter-certs"))
    parser.add_argument(
        "--requestheader-client-ca-file",
        default=os.path.join(e2e_dir, "pki", "front-proxy-ca.crt"),
        help="CA of the aggregator's client certificate",
    )
    parser.add_argument("--metric", action="append", default=[], metavar="NS/METRIC=VALUE")
    args = parser.parse_args()
    server = FakeExternalMetricsServer(args.port, args.cert_dir, args.requestheader_client_ca_file)
    for item in args.metric:
        key, _, value = item.partition("=")
        namespace, _, name = key.partition("/")
        server.set_metric(namespace, name, value)
    print(f"test-only fake external metrics server on https://127.0.0.1:{server.port}", flush=True)
    server.start()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
