"""A real gRPC server implementing KEDA's externalscaler.proto, with grpcio.

The proto (externalscaler.proto beside this file, as KEDA ships it) is compiled with
grpcio-tools into a temporary directory at first use; no generated code is kept in the tree.

    with ExternalScalerServer() as srv:               # h2c on 127.0.0.1, a free port
        srv.set("apps", "orders", metric="queue", target=5, value=7, active=True)
        srv.address                                   # "127.0.0.1:PORT", KEDA's scalerAddress
        srv.push("apps", "orders", True)              # a StreamIsActive message; returns the
                                                      # time.monotonic() it was handed to gRPC
        srv.calls                                     # [Call(method, namespace, name, metadata,
                                                      #       metric_name, seconds_left)]

Per ScaledObject (namespace, name): the metric spec (metricName, targetSize or targetSizeFloat),
the value (metricValue or metricValueFloat), IsActive's result, and `hang` (while set, GetMetrics
waits, so a poll times out). TLS: ExternalScalerServer(tls=(cert_pem, key_pem),
client_ca=ca_pem) serves h2 over TLS and, with client_ca, demands a client certificate.
"""

import atexit
import collections
import importlib
import queue
import shutil
import sys
import tempfile
import threading
import time
from concurrent import futures
from pathlib import Path

import grpc

HERE = Path(__file__).resolve().parent
_modules = None
_lock = threading.Lock()

Call = collections.namedtuple("Call", "method namespace name metadata metric_name seconds_left")


def proto_modules():
    """(externalscaler_pb2, externalscaler_pb2_grpc), compiled once per process."""
    global _modules
    with _lock:
        if _modules is None:
            from grpc_tools import protoc
            out = tempfile.mkdtemp(prefix="ckeda-extproto-")
            atexit.register(shutil.rmtree, out, True)
            rc = protoc.main(["protoc", f"-I{HERE}", f"--python_out={out}",
                              f"--grpc_python_out={out}", str(HERE / "externalscaler.proto")])
            if rc != 0:
                raise RuntimeError(f"protoc failed ({rc}) on externalscaler.proto")
            sys.path.insert(0, out)
            _modules = (importlib.import_module("externalscaler_pb2"),
                        importlib.import_module("externalscaler_pb2_grpc"))
    return _modules


class Scaled:
    def __init__(self):
        self.metric = "metric"
        self.target = 1
        self.target_float = 0.0
        self.values = [(1, 0.0)]  # (metricValue, metricValueFloat) per MetricValue
        self.active = False
        self.hang = threading.Event()
        self.stream = queue.Queue()
        self.streams_opened = 0


class ExternalScalerServer:
    def __init__(self, tls=None, client_ca=None):
        self.tls = tls
        self.client_ca = client_ca
        self.objects = collections.defaultdict(Scaled)
        self.calls = []
        self.sent = []  # (monotonic time, namespace, name, result) of stream messages
        self.server = None
        self.port = None
        self.release = threading.Event()  # set at stop: hanging calls return

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def set(self, ns, name, metric=None, target=None, target_float=None, value=None,
            value_float=None, values=None, active=None):
        o = self.objects[(ns, name)]
        if metric is not None:
            o.metric = metric
        if target is not None:
            o.target = target
        if target_float is not None:
            o.target_float = target_float
        if value is not None or value_float is not None:
            o.values = [(value or 0, value_float or 0.0)]
        if values is not None:
            o.values = values
        if active is not None:
            o.active = active
        return o

    def push(self, ns, name, result):
        """Queues a StreamIsActive message; the time it is handed to gRPC is in self.sent."""
        self.objects[(ns, name)].stream.put(result)

    def start(self, port=0):
        pb2, pb2_grpc = proto_modules()
        outer = self

        def record(method, ref, context, metric_name=""):
            left = context.time_remaining()
            outer.calls.append(Call(method, ref.namespace, ref.name, dict(ref.scalerMetadata),
                                    metric_name, left))
            return outer.objects[(ref.namespace, ref.name)]

        class Servicer(pb2_grpc.ExternalScalerServicer):
            def IsActive(self, request, context):
                o = record("IsActive", request, context)
                return pb2.IsActiveResponse(result=o.active)

            def GetMetricSpec(self, request, context):
                o = record("GetMetricSpec", request, context)
                return pb2.GetMetricSpecResponse(metricSpecs=[pb2.MetricSpec(
                    metricName=o.metric, targetSize=o.target, targetSizeFloat=o.target_float)])

            def GetMetrics(self, request, context):
                o = record("GetMetrics", request.scaledObjectRef, context, request.metricName)
                while o.hang.is_set() and not outer.release.is_set() and context.is_active():
                    time.sleep(0.02)
                return pb2.GetMetricsResponse(metricValues=[
                    pb2.MetricValue(metricName=request.metricName, metricValue=v,
                                    metricValueFloat=f) for v, f in o.values])

            def StreamIsActive(self, request, context):
                o = record("StreamIsActive", request, context)
                o.streams_opened += 1
                while context.is_active() and not outer.release.is_set():
                    try:
                        result = o.stream.get(timeout=0.05)
                    except queue.Empty:
                        continue
                    outer.sent.append((time.monotonic(), request.namespace, request.name, result))
                    yield pb2.IsActiveResponse(result=result)

        self.release.clear()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        pb2_grpc.add_ExternalScalerServicer_to_server(Servicer(), self.server)
        if self.tls:
            creds = grpc.ssl_server_credentials(
                [(self.tls[1].encode(), self.tls[0].encode())],
                root_certificates=self.client_ca.encode() if self.client_ca else None,
                require_client_auth=bool(self.client_ca))
            self.port = self.server.add_secure_port(f"127.0.0.1:{port}", creds)
        else:
            self.port = self.server.add_insecure_port(f"127.0.0.1:{port}")
        if not self.port:
            raise RuntimeError(f"could not bind 127.0.0.1:{port}")
        self.server.start()
        return self

    def stop(self):
        if self.server:
            self.release.set()
            self.server.stop(grace=None).wait(5)
            self.server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
