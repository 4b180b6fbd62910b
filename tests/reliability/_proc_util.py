"""Helpers for the process tests: read back what apps under the agent exported.

* ``file_spans(folder)``: the spans of the agent's OTLP-JSON files, each with the pid
  of the process that wrote it (the exporter names its file ``traces-<time>-<pid>.jsonl``).
* ``scaled``: the suite's ``scaled(ci, soak)`` (see ``_conftest_scaled``).
* ``OTLPServer``: a local OTLP/HTTP trace server (127.0.0.1, a free port) that decodes
  the protobuf requests, and holds any request carrying a span named ``stall_on`` until
  released (a slow server, for the SIGKILL-while-exporting test). ``GET /stalled`` says
  whether one is being held, so that the app knows when to kill its child.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def _conftest_scaled() -> Any:
    """``scaled`` of this folder's conftest, loaded by path: ``from conftest import scaled``
    finds whichever ``conftest`` module was imported first (``tests/agent``'s, in a run
    that collects both folders)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_reliability_conftest", Path(__file__).with_name("conftest.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.scaled


scaled = _conftest_scaled()

_FILE = re.compile(r"traces-\d{8}T\d{6}-(\d+)(?:\.\d+)?\.jsonl$")


class Span:
    __slots__ = ("name", "attributes", "span_id", "parent_id", "trace_id", "pid")

    def __init__(self, name: str, attributes: dict[str, Any], span_id: str, parent_id: str, trace_id: str,
                 pid: int) -> None:
        self.name, self.attributes, self.span_id, self.parent_id, self.trace_id, self.pid = (
            name, attributes, span_id, parent_id, trace_id, pid,
        )

    @property
    def inputs(self) -> dict[str, Any]:
        return json.loads(self.attributes["input.value"])

    def __repr__(self) -> str:
        return "Span(%r, pid=%d, %r)" % (self.name, self.pid, self.attributes.get("input.value"))


def _value(v: dict[str, Any]) -> Any:
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in v:
            return v[key]
    if "intValue" in v:
        return int(v["intValue"])
    return v


def file_spans(folder: Path) -> list[Span]:
    spans: list[Span] = []
    for path in sorted(folder.glob("traces-*.jsonl")) if folder.is_dir() else []:  # not metrics-*, logs-*
        m = _FILE.search(path.name)
        assert m, path
        pid = int(m.group(1))
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            for rs in json.loads(line)["resourceSpans"]:
                for ss in rs.get("scopeSpans", []):
                    for raw in ss.get("spans", []):
                        attrs = {a["key"]: _value(a.get("value", {})) for a in raw.get("attributes", [])}
                        spans.append(Span(raw["name"], attrs, raw["spanId"], raw.get("parentSpanId", ""),
                                          raw["traceId"], pid))
    return spans


def by_input_pid(spans: list[Span]) -> dict[int, list[Span]]:
    out: dict[int, list[Span]] = {}
    for s in spans:
        out.setdefault(int(s.inputs["pid"]), []).append(s)
    return out


class OTLPServer:
    """A trace server in a thread of the test process; ``with OTLPServer() as server``."""

    def __init__(self, stall_on: str | None = None, stall_seconds: float = 30.0) -> None:
        self.stall_on = stall_on
        self.stall_seconds = stall_seconds
        self.received: list[Span] = []  # spans of requests answered 200
        self.stalled_spans: list[Span] = []  # spans of requests held (never answered in time)
        self.stalled = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                body = b"yes" if server.stalled.is_set() else b"no"
                self._answer(200, body)

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                data = self.rfile.read(length)
                spans = _decode(data) if self.path.endswith("/v1/traces") else []
                if server.stall_on is not None and any(s.name == server.stall_on for s in spans):
                    with server.lock:
                        server.stalled_spans.extend(spans)
                    server.stalled.set()
                    server.release.wait(server.stall_seconds)
                    try:
                        self._answer(200, b"")
                    except OSError:
                        pass  # the client is gone (killed)
                    return
                with server.lock:
                    server.received.extend(spans)
                self._answer(200, b"")

            def _answer(self, code: int, body: bytes) -> None:
                self.send_response(code)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> OTLPServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def _decode(data: bytes) -> list[Span]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    req = ExportTraceServiceRequest()
    req.ParseFromString(data)
    spans = []
    for rs in req.resource_spans:
        for ss in rs.scope_spans:
            for raw in ss.spans:
                attrs = {a.key: getattr(a.value, a.value.WhichOneof("value") or "string_value") for a in raw.attributes}
                pid = int(json.loads(attrs["input.value"]).get("pid", -1)) if "input.value" in attrs else -1
                spans.append(Span(raw.name, attrs, raw.span_id.hex(), raw.parent_span_id.hex(), raw.trace_id.hex(), pid))
    return spans
