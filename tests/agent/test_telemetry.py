"""The telemetry pipeline, each case in a fresh interpreter (it is process-global)."""

from __future__ import annotations

import base64
import glob
import json
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from _subproc import clean_env, run_python
from google.protobuf.json_format import ParseDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

APP = """
import weave_agent
from weave_agent import op

@op
def child(x):
    return x * 2

@op(name="parent")
def parent(x, api_key=None):
    return child(x) + 1

print(parent(3, api_key="sk-live-0123456789abcdefghij"))
"""


def read_otlp_json(directory):
    """Every line of every file, parsed back into the protobuf message."""
    requests = []
    for path in sorted(glob.glob(os.path.join(directory, "*.jsonl"))):
        with open(path) as f:
            for line in f:
                doc = json.loads(line)
                requests.append(doc)
    return requests


def to_proto(doc):
    """OTLP-JSON (hex ids) into protobuf, as the Collector's otlpjsonfile receiver reads it."""
    doc = json.loads(json.dumps(doc))
    for rs in doc["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if span.get(key):
                        span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    return ParseDict(doc, ExportTraceServiceRequest())


def spans_of(docs):
    out = []
    for doc in docs:
        for rs in doc["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                out.extend(ss["spans"])
    return out


def test_file_exporter_writes_otlp_json_the_collector_reads(tmp_path):
    traces = tmp_path / "traces"
    result = run_python(APP, env=clean_env(WEAVE_AGENT_TRACES_DIR=str(traces), OTEL_SERVICE_NAME="svc"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "7"
    docs = read_otlp_json(traces)
    spans = spans_of(docs)
    assert sorted(s["name"] for s in spans) == ["child", "parent"]
    by_name = {s["name"]: s for s in spans}
    assert len(by_name["parent"]["traceId"]) == 32 and int(by_name["parent"]["traceId"], 16)
    assert len(by_name["child"]["spanId"]) == 16
    assert by_name["child"]["parentSpanId"] == by_name["parent"]["spanId"]
    assert isinstance(by_name["parent"]["kind"], int)
    message = to_proto(docs[0])
    attrs = {a.key: a.value for a in message.resource_spans[0].resource.attributes}
    assert attrs["service.name"].string_value == "svc"
    assert attrs["telemetry.distro.name"].string_value == "weave-agent"
    # the key passed as an argument never reaches the file
    raw = "".join(open(p).read() for p in glob.glob(str(traces / "*.jsonl")))
    assert "sk-live" not in raw
    assert "[REDACTED]" in raw
    # one line at exit says where the spans went
    (summary,) = [line for line in result.stderr.splitlines() if line.startswith("weave-agent:")]
    (path,) = glob.glob(str(traces / "*.jsonl"))
    shown = os.path.relpath(path, tmp_path)
    assert summary == "weave-agent: 2 spans written to %s; view them with: weave-run show %s" % (shown, shown)


def test_quiet_silences_the_summary(tmp_path):
    result = run_python(APP, env=clean_env(WEAVE_AGENT_TRACES_DIR=str(tmp_path), WEAVE_AGENT_QUIET="1"))
    assert result.returncode == 0 and result.stderr == ""


def test_default_traces_dir_and_service_name_from_script(tmp_path):
    script = tmp_path / "my_app.py"
    script.write_text(APP)
    import subprocess
    import sys

    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=clean_env(), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    docs = read_otlp_json(tmp_path / "weave-traces")
    attrs = {a["key"]: a["value"] for a in docs[0]["resourceSpans"][0]["resource"]["attributes"]}
    assert attrs["service.name"] == {"stringValue": "my_app"}


def test_disabled_makes_nothing(tmp_path):
    for env in ({"OTEL_SDK_DISABLED": "true"}, {"WEAVE_AGENT_ENABLED": "false"}):
        result = run_python(APP, env=clean_env(WEAVE_AGENT_TRACES_DIR=str(tmp_path / "t"), **env))
        assert result.returncode == 0 and result.stdout.strip() == "7"
        assert not (tmp_path / "t").exists()


def test_sampling(tmp_path):
    for env in ({"WEAVE_AGENT_SAMPLE_RATIO": "0"}, {"OTEL_TRACES_SAMPLER": "always_off"}):
        result = run_python(APP, env=clean_env(WEAVE_AGENT_TRACES_DIR=str(tmp_path / "t"), **env))
        assert result.returncode == 0
        assert spans_of(read_otlp_json(tmp_path / "t")) == []


APP_PROVIDER = """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
"""


def test_app_provider_is_kept(tmp_path):
    code = APP_PROVIDER + APP + "\nprint(sorted(s.name for s in exporter.get_finished_spans()))\n"
    result = run_python(code, env=clean_env(WEAVE_AGENT_TRACES_DIR=str(tmp_path / "t")))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "['child', 'parent']"
    assert not (tmp_path / "t").exists()
    assert "Overriding" not in result.stderr


def test_console_exporter(tmp_path):
    result = run_python(APP, env=clean_env(WEAVE_AGENT_EXPORTER="console"))
    assert result.returncode == 0
    # The spans go to stderr: the app's stdout stays the app's alone.
    assert '"name": "parent"' in result.stderr
    assert result.stdout.strip() == "7", result.stdout


def test_bad_settings_are_reported_once_and_the_app_runs(tmp_path):
    env = clean_env(
        WEAVE_AGENT_EXPORTER="bogus", WEAVE_AGENT_EXIT_TIMEOUT="soon", WEAVE_AGENT_TRACES_DIR=str(tmp_path / "t")
    )
    result = run_python(APP, env=env)
    assert result.returncode == 0 and result.stdout.strip() == "7"
    lines = [line for line in result.stderr.splitlines() if line]
    assert any("WEAVE_AGENT_EXPORTER='bogus'" in line and "otlp, file, console, weave, none" in line for line in lines)
    assert any("WEAVE_AGENT_EXIT_TIMEOUT='soon'" in line and "number" in line for line in lines)
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "t").exists()  # a broken exporter setting turns the exporter off


class _Collector(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, dict(self.headers), body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def http_collector():
    _Collector.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, _Collector.received
    finally:
        server.shutdown()
        server.server_close()


def test_otlp_http_protobuf(http_collector):
    server, received = http_collector
    endpoint = "http://127.0.0.1:%d" % server.server_address[1]
    env = clean_env(OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_EXPORTER_OTLP_HEADERS="x-team=ml,api-key=secret-1")
    result = run_python(APP, env=env)
    assert result.returncode == 0, result.stderr
    traces = [r for r in received if r[0] == "/v1/traces"]
    assert traces, received
    path, headers, body = traces[0]
    assert headers.get("x-team") == "ml"
    request = ExportTraceServiceRequest.FromString(body)
    names = sorted(s.name for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans)
    assert names == ["child", "parent"]
    assert b"sk-live" not in body


def test_otlp_grpc():
    grpc = pytest.importorskip("grpc")
    from concurrent import futures

    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

    received = []

    class Service(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request, context):  # noqa: N802
            received.append(request)
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Service(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        env = clean_env(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d" % port, OTEL_EXPORTER_OTLP_PROTOCOL="grpc")
        result = run_python(APP, env=env)
        assert result.returncode == 0, result.stderr
    finally:
        server.stop(0)
    names = sorted(s.name for r in received for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans)
    assert names == ["child", "parent"]


def test_dead_trace_server_never_holds_exit_longer_than_the_timeout():
    # A server that accepts connections and never answers.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    try:
        env = clean_env(
            OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d" % port,
            WEAVE_AGENT_EXIT_TIMEOUT="1.5",
            OTEL_EXPORTER_OTLP_TIMEOUT="30",
        )
        start = time.monotonic()
        result = run_python(APP, env=env, timeout=30)
        elapsed = time.monotonic() - start
    finally:
        sock.close()
    assert result.returncode == 0 and result.stdout.strip() == "7"
    assert elapsed < 1.5 + 4.0, elapsed  # interpreter start and imports on a slow machine
    warnings = [line for line in result.stderr.splitlines() if "WEAVE_AGENT_EXIT_TIMEOUT" in line]
    assert len(warnings) == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_flush_and_shutdown_from_code(tmp_path):
    code = APP + """
import glob, os, sys
assert weave_agent.flush(5.0)
files = glob.glob(os.path.join(sys.argv[1] if len(sys.argv) > 1 else "t", "*.jsonl"))
print("files", len(files))
assert weave_agent.shutdown(5.0)
"""
    result = run_python(code, env=clean_env(WEAVE_AGENT_TRACES_DIR=str(tmp_path / "t"), WEAVE_AGENT_QUIET="1"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "files 1" in result.stdout


def test_stream_open_at_interpreter_exit_is_ended(tmp_path):
    code = """
from weave_agent import op

@op(accumulator=lambda s, c: (s or "") + c)
def stream():
    return iter(["a", "b", "c"])

s = stream()
next(s)
KEEP = s  # still referenced when the interpreter exits
"""
    result = run_python(code, env=clean_env(WEAVE_AGENT_TRACES_DIR=str(tmp_path / "t"), WEAVE_AGENT_QUIET="1"))
    assert result.returncode == 0, result.stderr
    (span,) = spans_of(read_otlp_json(tmp_path / "t"))
    attrs = {a["key"]: a["value"] for a in span["attributes"]}
    assert attrs["weave_agent.stream.end_reason"] == {"stringValue": "interpreter_exit"}
    assert attrs["output.value"] == {"stringValue": '"a"'}


def test_metrics_exporter_none_sends_no_metrics(http_collector):
    server, received = http_collector
    endpoint = "http://127.0.0.1:%d" % server.server_address[1]
    code = APP + (
        "\nimport weave_agent\nfrom weave_agent.export import telemetry\n"
        "telemetry.instruments().record_call('inference', 0.5, {'gen_ai.operation.name': 'chat'})\n"
        "weave_agent.flush(5.0)\n"
    )
    for env, expect_metrics in (({}, True), ({"OTEL_METRICS_EXPORTER": "none"}, False)):
        received.clear()
        result = run_python(code, env=clean_env(OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, **env))
        assert result.returncode == 0, result.stderr
        paths = {path for path, _, _ in received}
        assert "/v1/traces" in paths
        assert ("/v1/metrics" in paths) is expect_metrics, paths
