"""OpenTelemetry's own instrumentors under ``weave-run``: armed on the import of their
library, skipped beside ours, off with one switch; a FastAPI request served by uvicorn is
one trace, the server span as root and our ``chat`` span as its child.

The test environment installs ``opentelemetry-instrumentation-fastapi``, ``-requests`` and
the contrib ``-openai-v2`` (which must never be armed beside our OpenAI instrumentation).
The app calls the real OpenAI SDK against a local fake (127.0.0.1, a free port, stopped
with the test)."""

from __future__ import annotations

import json
import re
import signal
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from _launch import Launch, free_port, wait_until

from weave_agent.hook import otel_instrumentors
from weave_agent.settings import Settings

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1765000000,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "pong"}}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10},
}


class _FakeOpenAI(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps(COMPLETION).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_openai() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "http://127.0.0.1:%d/v1" % server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


FASTAPI_APP = """
    from fastapi import FastAPI
    from openai import OpenAI

    app = FastAPI()
    client = OpenAI()


    @app.get("/ask")
    def ask():
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "ping"}])
        return {"answer": reply.choices[0].message.content}
"""


def _by_name(found: list[otel_instrumentors.Found]) -> dict[str, otel_instrumentors.Found]:
    return {f.name: f for f in found}


def test_discover_arms_on_the_library_and_skips_a_duplicate_of_ours() -> None:
    found = _by_name(otel_instrumentors.discover(Settings.load({})))
    assert found["fastapi"].skipped is None and found["fastapi"].triggers == ["fastapi"], found["fastapi"]
    assert found["fastapi"].libraries[0].startswith("fastapi ")
    assert found["requests"].skipped is None and "requests" in found["requests"].triggers
    # the contrib OpenAI instrumentor's entry point is named "openai", like ours
    assert found["openai"].skipped == "weave-agent's openai instrumentation traces this library (two spans per call)"
    assert found["openai"].package.startswith("opentelemetry-instrumentation-openai-v2 ")
    assert "weave-agent" not in " ".join(f.package for f in found.values())  # our own entry points are not theirs


def test_discover_follows_the_settings() -> None:
    """``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` names an instrumentor (as it does for
    ``opentelemetry-instrument``); where none of ours traces the library, the contrib one
    is no duplicate."""
    settings = Settings.load({"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "fastapi"})
    found = _by_name(otel_instrumentors.discover(settings))
    assert found["fastapi"].skipped is not None and found["fastapi"].skipped.startswith("disabled")
    assert found["requests"].skipped is None
    alone = _by_name(otel_instrumentors.discover(settings, ours={}))
    assert alone["openai"].skipped is None and alone["openai"].triggers == ["openai"]


def test_encode_round_trip_arms_hooks_without_importing() -> None:
    """The rows weave-run passes name the instrumentor and its trigger modules; arming them
    registers hooks only (no instrumented library is imported)."""
    import sys

    found = [f for f in otel_instrumentors.discover(Settings.load({})) if f.name == "requests"]
    encoded = otel_instrumentors.encode(found)
    assert encoded == "requests|opentelemetry.instrumentation.requests:RequestsInstrumentor|requests"
    assert otel_instrumentors.arm_encoded("bad row;" + encoded) == ["requests"]
    from weave_agent.hook import importhook

    hooked = [h for h in importhook._hooks.get("requests", []) if isinstance(h, otel_instrumentors._Instrument)]
    try:
        assert len(hooked) == 1
        assert "opentelemetry.instrumentation.requests" not in sys.modules or "requests" in sys.modules
    finally:
        for hook in hooked:
            importhook.remove_hook("requests", hook)


def _serve(launch: Launch, env: dict[str, str], *argv: str) -> tuple[object, int]:
    port = free_port()
    proc = launch.popen(
        *argv, "uvicorn", "app:app", "--host", "127.0.0.1", "--port", str(port), env=env, name="uvicorn",
    )  # fmt: skip

    def up() -> bool:
        assert proc.poll() is None, launch.output("uvicorn")
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/docs" % port, timeout=2):
                return True
        except OSError:
            return False

    wait_until(up, 60, "uvicorn to answer")
    return proc, port


def _ask(port: int, headers: dict[str, str] | None = None) -> dict[str, str]:
    request = urllib.request.Request("http://127.0.0.1:%d/ask" % port, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


def test_fastapi_request_is_one_trace_with_the_chat_span_inside(launch: Launch, fake_openai: str) -> None:
    launch.write("app.py", FASTAPI_APP)
    env = launch.env(OPENAI_BASE_URL=fake_openai, OPENAI_API_KEY="sk-test", WEAVE_AGENT_QUIET="1")
    proc, port = _serve(launch, env, "weave-run")
    try:
        assert _ask(port) == {"answer": "pong"}
        assert _ask(port, {"traceparent": "00-%s-%s-01" % (CALLER_TRACE, CALLER_SPAN)}) == {"answer": "pong"}
    finally:
        code = launch.stop(proc, signal.SIGTERM, timeout=30)
    # uvicorn shuts down gracefully, then raises the signal again (its exit status is -SIGTERM)
    assert code in (0, -signal.SIGTERM), launch.output("uvicorn")
    spans = launch.spans()
    chats = [s for s in spans if s.name.startswith("chat ")]
    assert len(chats) == 2, spans
    servers = {s.span_id: s for s in spans if s.name == "GET /ask"}
    assert len(servers) == 2, [s.name for s in spans]
    by_id = {s.span_id: s for s in spans}
    for chat in chats:
        # the chat span's parent chain reaches the request's server span, in its trace
        node = chat
        while node.parent_span_id in by_id and node.span_id not in servers:
            node = by_id[node.parent_span_id]
        assert node.span_id in servers, (chat, [s.name for s in spans])
        assert chat.trace_id == node.trace_id
        assert chat.attributes["gen_ai.usage.input_tokens"] == 9
    first, second = sorted(servers.values(), key=lambda s: s.raw["startTimeUnixNano"])
    assert first.parent_span_id == ""  # the root of its own trace
    assert (second.trace_id, second.parent_span_id) == (CALLER_TRACE, CALLER_SPAN)  # the caller's trace goes on
    assert [s for s in spans if s.attributes.get("gen_ai.provider.name") == "openai"] == chats  # no contrib twin


def test_the_switch_leaves_the_instrumentors_alone(launch: Launch, fake_openai: str) -> None:
    launch.write("app.py", FASTAPI_APP)
    env = launch.env(OPENAI_BASE_URL=fake_openai, OPENAI_API_KEY="sk-test", WEAVE_AGENT_QUIET="1")
    proc, port = _serve(launch, env, "weave-run", "--no-otel-instrumentors")
    try:
        assert _ask(port) == {"answer": "pong"}
    finally:
        launch.stop(proc, signal.SIGTERM, timeout=30)
    spans = launch.spans()
    assert [s.name.split(" ")[0] for s in spans] == ["chat"], [s.name for s in spans]
    assert spans[0].parent_span_id == ""


def test_list_shows_what_is_armed_and_what_is_skipped(launch: Launch) -> None:
    out = launch.run("weave-run", "list", env=launch.env(COLUMNS="100")).check().stdout
    section = out.split("\n\nOpenTelemetry instrumentors", 1)[1]
    assert re.search(r"^fastapi +armed on the import of fastapi$", section, re.M), section
    lines = section.splitlines()
    openai_line = next(i for i, line in enumerate(lines) if line.startswith("openai "))
    assert "skipped: weave-agent's openai instrumentation" in " ".join(lines[openai_line : openai_line + 3])
