"""A misbehaving OTLP/HTTP trace server on 127.0.0.1, for the fault tests.

Each POST is an *attempt*; a script (``attempt number, path -> Action``) decides what the
server does with it: answer a status (with headers), answer a body that is not protobuf,
answer bytes that are not HTTP, or hold the connection and never answer. Trace requests
answered 2xx are decoded (``ExportTraceServiceRequest``) so a test counts what was
delivered; every attempt is timestamped so a test can see retries and their gaps.

The server can go away (its listening socket closed: connections are refused) and come
back on the same port. It stops by itself after ``lifetime`` seconds, and its threads are
daemons: a failing test never leaves it running.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


@dataclass(frozen=True)
class Action:
    kind: str  # "status", "hang", "raw"
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


OK = Action("status", 200)
HANG = Action("hang")


def status(code: int, **headers: str) -> Action:
    return Action("status", code, tuple((k.replace("_", "-"), v) for k, v in headers.items()))


def garbage_body() -> Action:
    """A 200 whose body is not an ExportTraceServiceResponse."""
    return Action("status", 200, (("Content-Type", "application/x-protobuf"),), b"\xff\xfe<html>not protobuf")


def not_http() -> Action:
    return Action("raw", body=b"THIS IS NOT HTTP\r\n\r\n")


Script = Callable[[int, str], Action]


@dataclass
class Attempt:
    at: float  # time.time(), comparable with what the app prints
    path: str
    action: str
    digest: str  # of the request body: a retry sends the same bytes again


@dataclass
class Record:
    attempts: list[Attempt] = field(default_factory=list)
    traces: list[ExportTraceServiceRequest] = field(default_factory=list)
    metrics: list[ExportMetricsServiceRequest] = field(default_factory=list)


class FakeTraceServer:
    def __init__(self, script: Script = lambda n, path: OK, lifetime: float = 60.0) -> None:
        self.script = script
        self.record = Record()
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.port = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._timer = threading.Timer(lifetime, self.stop)
        self._timer.daemon = True

    # --- lifecycle -----------------------------------------------------------------

    def start(self) -> FakeTraceServer:
        self._listen()
        self._timer.start()
        return self

    def _listen(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                server._handle(self)

            def log_message(self, *args: object) -> None:
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        httpd.daemon_threads = True
        self.port = httpd.server_address[1]
        self._httpd = httpd
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def go_away(self) -> None:
        """Close the listening socket: new connections are refused."""
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()

    def come_back(self) -> None:
        if self._httpd is None and not self.stopped.is_set():
            self._listen()

    def stop(self) -> None:
        self.stopped.set()  # releases the hanging handlers
        self._timer.cancel()
        self.go_away()

    def __enter__(self) -> FakeTraceServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        return "http://127.0.0.1:%d" % self.port

    # --- what was seen ---------------------------------------------------------------

    def attempts(self, path: str = "/v1/traces") -> list[Attempt]:
        with self.lock:
            return [a for a in self.record.attempts if a.path == path]

    def delivered_inputs(self) -> list[object]:
        """``input.value`` of every delivered span (``@op`` records its argument there)."""
        out: list[object] = []
        with self.lock:
            requests = list(self.record.traces)
        for request in requests:
            for rs in request.resource_spans:
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        attrs = {a.key: a.value.string_value for a in span.attributes}
                        raw = attrs.get("input.value")
                        out.append(json.loads(raw) if raw else None)
        return out

    def metric_points(self, name: str) -> list[float]:
        """Every data point of sum metric ``name`` delivered, in arrival order."""
        points: list[float] = []
        with self.lock:
            requests = list(self.record.metrics)
        for request in requests:
            for rm in request.resource_metrics:
                for sm in rm.scope_metrics:
                    for metric in sm.metrics:
                        if metric.name == name:
                            points.extend(p.as_int or p.as_double for p in metric.sum.data_points)
        return points

    # --- one request -----------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length)
        path = handler.path
        with self.lock:
            n = sum(1 for a in self.record.attempts if a.path == path) + 1
            action = self.script(n, path)
            digest = hashlib.sha256(body).hexdigest()
            self.record.attempts.append(Attempt(time.time(), path, action.kind + ":%d" % action.status, digest))
        if action.kind == "hang":
            self.stopped.wait()
            handler.close_connection = True
            return
        if action.kind == "raw":
            handler.wfile.write(action.body)
            handler.wfile.flush()
            handler.close_connection = True
            return
        if 200 <= action.status < 300:  # delivered, whatever the answer's body
            with self.lock:
                if path == "/v1/traces":
                    self.record.traces.append(ExportTraceServiceRequest.FromString(body))
                elif path == "/v1/metrics":
                    self.record.metrics.append(ExportMetricsServiceRequest.FromString(body))
        handler.send_response(action.status)
        for key, value in action.headers:
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(action.body)))
        handler.end_headers()
        handler.wfile.write(action.body)
