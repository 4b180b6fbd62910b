"""The authoring kit's pytest plugin, run as a user would: ``pytest -p weave_agent.testing``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

USER_TEST = '''
import pytest
from weave_agent import op


@op
def leaf(x):
    return x


@op(name="root")
def root():
    return [leaf(1), leaf(2)]


def test_tree(spans):
    root()
    assert [(name.rsplit(".", 1)[-1], d) for name, d in spans.shape()] == [("root", 0), ("leaf", 1), ("leaf", 1)]
    assert [s for s, d in spans.tree()][0].name == "root"
    assert len(spans.named("root")) == 1


def test_vcr_config_filters_credentials(vcr_config):
    assert {"authorization", "api-key", "x-api-key", "openai-organization", "cookie"} <= set(vcr_config["filter_headers"])
    assert vcr_config["record_mode"] == "none"


def test_connections_sees_every_socket_connect(connections):
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    address = listener.getsockname()
    try:
        with socket.create_connection(address, timeout=5):
            pass
    finally:
        listener.close()
    assert address in connections  # (with --trace-server, the exporter's own connection too)
'''

FAILING = '''
from weave_agent import op
from weave_agent.tracing import calls


def test_agent_error_fails_the_test(spans, monkeypatch):
    def broken(self, call, output):
        raise RuntimeError("extractor bug")

    monkeypatch.setattr(calls.GenericSpec, "on_end", broken)

    @op
    def f():
        return 1

    assert f() == 1  # the app is fine...
'''


NONCONFORMING = '''
import json

import pytest
from opentelemetry.trace import SpanKind

from weave_agent.export import telemetry


def record(temperature, parts):
    span = telemetry.tracer().start_span("chat m", kind=SpanKind.CLIENT)
    span.set_attribute("gen_ai.request.temperature", temperature)
    span.set_attribute("gen_ai.input.messages", json.dumps([{"role": "user", "parts": parts}]))
    span.end()


def test_conforming(spans):
    record(0.5, [{"type": "text", "content": "hi"}])


def test_blob_without_bytes(spans):
    record(0.5, [{"type": "text", "content": "hi"}, {"type": "blob", "modality": "image", "size": 3}])


def test_int_temperature(spans):
    record(1, [{"type": "text", "content": "hi"}])


@pytest.mark.conventions_unchecked
def test_marked(spans):
    record(1, [{"type": "blob"}])
'''


def run_pytest(tmp_path, source, *args):
    (tmp_path / "test_user.py").write_text(source)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEAVE_AGENT_", "OTEL_", "PYTEST_"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "weave_agent.testing", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), "-c", os.devnull, *args, str(tmp_path / "test_user.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )


def test_fixtures_work_in_a_user_project(tmp_path):
    result = run_pytest(tmp_path, USER_TEST)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def test_a_test_fails_when_the_agent_logged_an_error(tmp_path):
    result = run_pytest(tmp_path, FAILING)
    assert result.returncode == 1, result.stdout
    assert "weave-agent logged errors during the test" in result.stdout
    assert "extractor bug" in result.stdout or "recording the result" in result.stdout


class _Collector(BaseHTTPRequestHandler):
    bodies: list = []

    def do_POST(self):  # noqa: N802
        self.bodies.append((self.path, self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def collector():
    _Collector.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_trace_server_option_also_sends_spans(tmp_path, collector):
    url = "http://127.0.0.1:%d" % collector.server_address[1]
    result = run_pytest(tmp_path, USER_TEST, "--trace-server", url)
    assert result.returncode == 0, result.stdout + result.stderr
    names = []
    for path, body in _Collector.bodies:
        assert path == "/v1/traces"
        request = ExportTraceServiceRequest.FromString(body)
        names += [s.name for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert names.count("root") == 1 and sum(n.endswith("leaf") for n in names) == 2


def test_a_span_breaking_the_conventions_fails_its_test(tmp_path):
    dump = tmp_path / "spans.jsonl"
    result = run_pytest(tmp_path, NONCONFORMING, "--spans-dump", str(dump))
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "2 errors" in out, out  # failed at the spans fixture's teardown, the other two pass
    sections = dict(
        (section.split(" ___", 1)[0].split()[-1], section)
        for section in out.split("ERROR at teardown of ")[1:]
    )
    assert set(sections) == {"test_blob_without_bytes", "test_int_temperature"}, out
    assert ("a span breaks the GenAI semantic conventions: span 'chat m': gen_ai.input.messages at $[0].parts[1]: "
            "a 'blob' part without its required 'content'") in sections["test_blob_without_bytes"]
    assert "span 'chat m': gen_ai.request.temperature: the registry types it double, got an int (1)" \
        in sections["test_int_temperature"]
    lines = [json.loads(line) for line in dump.read_text().splitlines()]
    assert sorted({line["test"].rsplit("::", 1)[-1] for line in lines}) == [
        "test_blob_without_bytes", "test_conforming", "test_int_temperature"]  # the marked test is not checked
    assert all(line["name"] == "chat m" and "gen_ai.input.messages" in line["attributes"] for line in lines)
