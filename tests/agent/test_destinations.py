"""W&B Weave as a destination (issue 8): ``--exporter weave``, or by default with
``WANDB_API_KEY`` and ``WEAVE_PROJECT`` and no other endpoint. The exact request is checked
against a local HTTP server standing in for a dedicated deployment."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from _subproc import clean_env, run_python
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from weave_agent.export.destinations import WEAVE_TRACES_URL, weave_resource_attributes, weave_traces_url
from weave_agent.settings import Settings

KEY = "wk-0123456789abcdef-secret"
WEAVE_RUN = os.path.join(os.path.dirname(sys.executable), "weave-run")

APP = """
from weave_agent import op

@op
def child(x):
    return x + 1

@op
def parent(x):
    return child(x) * 2

print(parent(1))
"""


class _Weave(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def weave_server() -> Iterator[tuple[str, list[tuple[str, dict[str, str], bytes]]]]:
    received: list[tuple[str, dict[str, str], bytes]] = []
    handler = type("Handler", (_Weave,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "http://127.0.0.1:%d" % server.server_address[1], received
    finally:
        server.shutdown()
        server.server_close()


def _check_request(received: list[tuple[str, dict[str, str], bytes]], service: str) -> None:
    assert len(received) == 1, [r[0] for r in received]
    path, headers, body = received[0]
    assert path == "/traces/otel/v1/traces"
    assert headers["wandb-api-key"] == KEY
    assert headers["content-type"] == "application/x-protobuf"
    request = ExportTraceServiceRequest.FromString(body)
    (rs,) = request.resource_spans
    attrs = {a.key: a.value.string_value for a in rs.resource.attributes}
    assert attrs["wandb.entity"] == "my-team" and attrs["wandb.project"] == "chat-app"
    assert attrs["service.name"] == service and attrs["telemetry.distro.name"] == "weave-agent"
    names = sorted(s.name for ss in rs.scope_spans for s in ss.spans)
    assert names == ["child", "parent"]
    assert KEY.encode() not in body and b"secret" not in body


def test_default_destination_with_key_and_project(weave_server, tmp_path) -> None:
    base, received = weave_server
    env = clean_env(WANDB_API_KEY=KEY, WEAVE_PROJECT="my-team/chat-app", WEAVE_AGENT_WEAVE_BASE_URL=base + "/",
                    OTEL_SERVICE_NAME="svc")
    result = run_python(APP, env=env, cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == "4", result
    # No file summary: the one exit line says the spans went to Weave.
    assert result.stderr == "weave-agent: 2 spans sent to %s/traces/otel/v1/traces\n" % base, result.stderr
    assert not (tmp_path / "weave-traces").exists()
    _check_request(received, "svc")


def test_exporter_weave_from_the_launcher(weave_server, tmp_path) -> None:
    """``--exporter weave`` wins over an OTLP endpoint in the environment."""
    base, received = weave_server
    (tmp_path / "app.py").write_text(APP)
    env = clean_env(WANDB_API_KEY=KEY, WEAVE_AGENT_WEAVE_BASE_URL=base, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9")
    done = subprocess.run([WEAVE_RUN, "--exporter", "weave", "--weave-project", "my-team/chat-app", "python", "app.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "weave-agent: 2 spans sent to %s/traces/otel/v1/traces\n" % base.rstrip("/"), done.stderr
    _check_request(received, "app")


def test_bad_project_one_message_and_exporter_off(weave_server, tmp_path) -> None:
    base, received = weave_server
    env = clean_env(WANDB_API_KEY=KEY, WEAVE_PROJECT="chat-app", WEAVE_AGENT_WEAVE_BASE_URL=base)
    result = run_python(APP, env=env, cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == "4", result
    lines = result.err_lines
    assert len(lines) == 1, lines
    assert "WEAVE_PROJECT='chat-app' is not valid: accepts entity/project" in lines[0]
    assert "the exporter is off" in lines[0] and KEY not in result.stderr
    assert received == [] and not (tmp_path / "weave-traces").exists()


def test_settings_choose_and_check_weave() -> None:
    ok = {"WANDB_API_KEY": KEY, "WEAVE_PROJECT": "my-team/chat-app"}
    s = Settings.load(ok)
    assert s.resolved_exporter() == "weave" and s.errors == []
    assert weave_traces_url(s) == WEAVE_TRACES_URL == "https://trace.wandb.ai/otel/v1/traces"
    assert weave_resource_attributes(s) == {"wandb.entity": "my-team", "wandb.project": "chat-app"}
    assert KEY not in repr(s)
    dedicated = Settings.load(dict(ok, WEAVE_AGENT_WEAVE_BASE_URL="https://acme.wandb.io/"))
    assert weave_traces_url(dedicated) == "https://acme.wandb.io/traces/otel/v1/traces"
    # another destination configured: it wins, and nothing is said about Weave
    assert Settings.load(dict(ok, OTEL_EXPORTER_OTLP_ENDPOINT="http://c:4318")).resolved_exporter() == "otlp"
    assert Settings.load(dict(ok, WEAVE_AGENT_EXPORTER="file")).resolved_exporter() == "file"
    other = Settings.load(dict(ok, WEAVE_AGENT_EXPORTER="console"))
    assert weave_resource_attributes(other) == {} and other.errors == []
    # only one of the two: the local file, as before
    assert Settings.load({"WEAVE_PROJECT": "my-team/chat-app"}).resolved_exporter() == "file"
    assert Settings.load({"WANDB_API_KEY": KEY}).resolved_exporter() == "file"
    # asked for explicitly without what it needs: off, one message naming the variable
    no_key = Settings.load({"WEAVE_AGENT_EXPORTER": "weave", "WEAVE_PROJECT": "a/b"})
    assert no_key.resolved_exporter() == "none" and len(no_key.errors) == 1 and "WANDB_API_KEY" in no_key.errors[0]
    no_project = Settings.load({"WEAVE_AGENT_EXPORTER": "weave", "WANDB_API_KEY": KEY})
    assert no_project.resolved_exporter() == "none" and no_project.errors[0].startswith("WEAVE_PROJECT is not set")
    for bad in ("chat-app", "a/", "/b", "a/b/c"):
        s = Settings.load(dict(ok, WEAVE_PROJECT=bad))
        assert s.resolved_exporter() == "none" and len(s.errors) == 1 and s.errors[0].startswith("WEAVE_PROJECT=")
