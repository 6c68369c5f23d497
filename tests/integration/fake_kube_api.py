"""A FAKE Kubernetes API for the scaler tests: it serves Secrets, nothing else.

The scale workers read the Secrets a TriggerAuthentication references through the read-only
Kubernetes client; these tests run ckeda without a control plane (the real API server is the
e2e suite's), so this stand-in answers `GET /api/v1/namespaces/NS/secrets/NAME` from a dict and
404 to everything else. The watcher, pointed at it too, never gets a list and so never writes
to the table: shmtool stays its only writer, as in the other scaler tests.

    with FakeKubeAPI() as api:
        api.secrets[("apps", "pg-auth")] = {"password": "..."}
        ckeda = Ckeda(tmp_path, "--kubeconfig", api.kubeconfig(tmp_path))
"""

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeKubeAPI:
    def __init__(self):
        self.secrets = {}  # (namespace, name) -> {key: str value}
        self.requests = []  # paths asked for, in order
        api = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "ckeda-test-fake-kube-api/0"

            def log_message(self, *args):
                pass

            def do_GET(self):
                path = self.path.split("?", 1)[0]
                api.requests.append(path)
                parts = path.strip("/").split("/")
                body, status = None, 404
                if (len(parts) == 6 and parts[:3] == ["api", "v1", "namespaces"]
                        and parts[4] == "secrets" and (parts[3], parts[5]) in api.secrets):
                    data = api.secrets[(parts[3], parts[5])]
                    body = {"apiVersion": "v1", "kind": "Secret",
                            "metadata": {"namespace": parts[3], "name": parts[5]},
                            "data": {k: base64.b64encode(v.encode()).decode()
                                     for k, v in data.items()}}
                    status = 200
                if body is None:
                    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                            "reason": "NotFound", "code": 404,
                            "message": f"{path} is not served by the fake API"}
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="fake-kube-api")

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def kubeconfig(self, directory) -> str:
        path = directory / "fake-kubeconfig.yaml"
        path.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: http://127.0.0.1:{self.port}
users:
- name: fake
  user:
    token: fake-token
contexts:
- name: fake
  context:
    cluster: fake
    user: fake
    namespace: apps
current-context: fake
""")
        return str(path)
