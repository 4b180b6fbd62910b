"""The content event is an OpenTelemetry log record (issue 17, item 4): event name
``gen_ai.client.inference.operation.details``, the operation's attributes, the content in
structured form, the span's trace and span ids; written by the ``file`` exporter beside
the spans and metrics, exported over OTLP logs (http/protobuf and grpc), flushed at exit.
Each case runs the app in a fresh interpreter (the pipeline is process-global)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from _subproc import clean_env, run_python
from google.protobuf.json_format import MessageToDict, ParseDict
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

EVENT = "gen_ai.client.inference.operation.details"

APP = """
import sys
from weave_agent.genai import Extractor, GenAISpec, Request, Response, Usage
from weave_agent.tracing.calls import wrap_with_spec

MESSAGES = [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]


class Chat(Extractor):
    operation = "chat"
    provider = "fakeai"

    def request(self, inputs, instance, capture):
        return Request(inputs["model"], {"gen_ai.request.temperature": 0.5},
                       {"gen_ai.input.messages": MESSAGES} if capture else None, "api.fake.ai", 443)

    def response(self, output, capture):
        out = [{"role": "assistant", "parts": [{"type": "text", "content": "Hello"}], "finish_reason": "stop"}]
        return Response({"gen_ai.response.id": "r1", "gen_ai.response.finish_reasons": ["stop"]}, Usage(5, 2),
                        "m-2024", {"gen_ai.output.messages": out} if capture else None)


chat = wrap_with_spec(lambda model: {"ok": 1}, GenAISpec(Chat()))
chat(model="m")
print("done")
"""


def _attrs(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {a["key"]: a["value"] for a in items}


def _any(value: dict[str, Any]) -> Any:
    """An OTLP-JSON AnyValue as Python data."""
    if "kvlistValue" in value:
        return {kv["key"]: _any(kv["value"]) for kv in value["kvlistValue"].get("values", [])}
    if "arrayValue" in value:
        return [_any(v) for v in value["arrayValue"].get("values", [])]
    if "intValue" in value:
        return int(value["intValue"])
    return next(iter(value.values()), None)


def _records(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for rl in doc["resourceLogs"] for sl in rl["scopeLogs"] for r in sl["logRecords"]]


def _check_record(record: dict[str, Any], span: dict[str, Any] | None = None) -> None:
    assert record["eventName"] == EVENT
    a = {k: _any(v) for k, v in _attrs(record["attributes"]).items()}
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.provider.name"] == "fakeai"
    assert a["gen_ai.request.model"] == "m" and a["gen_ai.request.temperature"] == 0.5
    assert a["gen_ai.response.id"] == "r1" and a["gen_ai.response.model"] == "m-2024"
    assert a["gen_ai.usage.input_tokens"] == 5 and a["gen_ai.usage.output_tokens"] == 2
    # Content in structured form: maps and lists, not JSON text.
    assert a["gen_ai.input.messages"] == [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]
    assert a["gen_ai.output.messages"][0]["parts"][0]["content"] == "Hello"
    if span is not None:
        assert record["traceId"] == span["traceId"] and record["spanId"] == span["spanId"]


def test_file_exporter_writes_the_event_beside_the_spans_and_show_reads_the_folder(tmp_path: Path) -> None:
    env = clean_env(OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="EVENT_ONLY",
                    WEAVE_AGENT_TRACES_DIR=str(tmp_path / "t"), WEAVE_AGENT_EXPORTER="file")
    result = run_python(APP, env=env, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "done", result
    folder = tmp_path / "t"
    by_kind = {p.name.split("-", 1)[0]: p for p in folder.iterdir()}
    assert set(by_kind) == {"traces", "metrics", "logs"}, sorted(by_kind)
    stamp = {p.name.split("-", 1)[1] for p in by_kind.values()}
    assert len(stamp) == 1  # one process stamp for its three files
    (line,) = by_kind["logs"].read_text().splitlines()
    doc = json.loads(line)
    # The OTLP JSON encoding (hex ids), as the Collector's file exporter writes it.
    proto_doc = json.loads(line)
    for rec in _records(proto_doc):
        for key in ("traceId", "spanId"):
            rec[key] = base64.b64encode(bytes.fromhex(rec[key])).decode()
    ParseDict(proto_doc, ExportLogsServiceRequest())
    (span,) = [s for rs in json.loads(by_kind["traces"].read_text())["resourceSpans"] for ss in rs["scopeSpans"]
               for s in ss["spans"]]
    (record,) = _records(doc)
    _check_record(record, span)
    span_attrs = _attrs(span["attributes"])
    assert "gen_ai.input.messages" not in span_attrs  # EVENT_ONLY: content only on the event
    assert not span.get("events")

    # ``weave-run show`` reads the folder, the logs file included, without complaint.
    show = subprocess.run([sys.executable, "-m", "weave_agent", "show", str(folder)], env=clean_env(COLUMNS="100"),
                          capture_output=True, text=True, timeout=60)
    assert show.returncode == 0 and show.stderr == "", show.stderr
    assert "chat m" in show.stdout


def test_span_only_writes_no_logs_file(tmp_path: Path) -> None:
    env = clean_env(WEAVE_AGENT_TRACES_DIR=str(tmp_path / "t"), WEAVE_AGENT_EXPORTER="file")
    result = run_python(APP, env=env, timeout=60)
    assert result.returncode == 0, result
    assert sorted(p.name.split("-", 1)[0] for p in (tmp_path / "t").iterdir()) == ["metrics", "traces"]


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_otlp_http_protobuf_exports_the_event_to_v1_logs() -> None:
    _Collector.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = clean_env(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d" % server.server_address[1],
                        OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="SPAN_AND_EVENT")
        result = run_python(APP, env=env, timeout=60)
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result
    logs = [body for path, body in _Collector.received if path == "/v1/logs"]
    assert len(logs) == 1, [p for p, _ in _Collector.received]
    doc = MessageToDict(ExportLogsServiceRequest.FromString(logs[0]))
    (record,) = _records(doc)
    _check_record(record)
    traces = [body for path, body in _Collector.received if path == "/v1/traces"]
    assert traces  # and the spans went where they always go


def test_otlp_grpc_exports_the_event() -> None:
    grpc = pytest.importorskip("grpc")
    from concurrent import futures

    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc

    received: list[Any] = []

    class Service(logs_service_pb2_grpc.LogsServiceServicer):
        def Export(self, request: Any, context: Any) -> Any:  # noqa: N802
            received.append(request)
            return logs_service_pb2.ExportLogsServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(2))
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(Service(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        env = clean_env(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d" % port, OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
                        OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="EVENT_ONLY")
        result = run_python(APP, env=env, timeout=60)
    finally:
        server.stop(0)
    assert result.returncode == 0, result
    (request,) = received
    (record,) = _records(MessageToDict(request))
    _check_record(record)


def test_otel_logs_exporter_none_keeps_the_events_home(tmp_path: Path) -> None:
    env = clean_env(OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="EVENT_ONLY", OTEL_LOGS_EXPORTER="none",
                    WEAVE_AGENT_TRACES_DIR=str(tmp_path / "t"), WEAVE_AGENT_EXPORTER="file")
    result = run_python(APP, env=env, timeout=60)
    assert result.returncode == 0, result
    assert "logs" not in {p.name.split("-", 1)[0] for p in (tmp_path / "t").iterdir()}
