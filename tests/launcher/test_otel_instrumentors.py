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


# --- our instrumentations as OpenTelemetry instrumentors (weave_agent.instrumentors) ----------


def test_every_instrumentation_is_an_instrumentor_and_an_entry_point() -> None:
    from importlib.metadata import entry_points

    from weave_agent import instrumentors
    from weave_agent.instrumentations.registry import INSTRUMENTATIONS

    classes = {
        cls.name: cls
        for cls in vars(instrumentors).values()
        if isinstance(cls, type) and issubclass(cls, instrumentors.WeaveAgentInstrumentor) and cls.name
    }
    assert sorted(classes) == sorted(row[0] for row in INSTRUMENTATIONS)
    assert sorted(c.__name__ for c in classes.values()) == sorted(n for n in instrumentors.__all__ if n != "WeaveAgentInstrumentor")
    ours = {ep.name: ep.value for ep in entry_points(group=otel_instrumentors.GROUP) if ep.value.startswith("weave_agent.")}
    assert ours == {name: "weave_agent.instrumentors:%s" % cls.__name__ for name, cls in classes.items()}
    openai_row = next(row for row in INSTRUMENTATIONS if row[0] == "openai")
    assert list(instrumentors.OpenAIInstrumentor().instrumentation_dependencies()) == ["openai %s" % openai_row[4]]


MANUAL_APP = """
    import os
    from openai import OpenAI
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from weave_agent.instrumentors import OpenAIInstrumentor

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    OpenAIInstrumentor().instrument(tracer_provider=provider)
    client = OpenAI()

    def ask():
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "ping"}])
        return [s.name for s in exporter.get_finished_spans()]

    print(ask())
    OpenAIInstrumentor().uninstrument()
    print(ask())
    OpenAIInstrumentor().instrument(tracer_provider=provider)
    print(ask())
"""


def test_instrument_and_uninstrument_with_a_tracer_provider(launch: Launch, fake_openai: str) -> None:
    """Plain OpenTelemetry code, no weave-run: the spans go to the provider given;
    ``uninstrument()`` undoes the patch and ``instrument()`` does it again."""
    launch.write("manual.py", MANUAL_APP)
    env = launch.env(OPENAI_BASE_URL=fake_openai, OPENAI_API_KEY="sk-test", PYTHONPATH=None)
    r = launch.run("python", "manual.py", env=env).check()
    assert r.stdout.splitlines() == [
        "['chat gpt-4o-mini']",
        "['chat gpt-4o-mini']",
        "['chat gpt-4o-mini', 'chat gpt-4o-mini']",
    ], r
    assert not launch.trace_files()  # nothing went to the agent's own files


def test_opentelemetry_instrument_gives_the_same_tree(launch: Launch, fake_openai: str) -> None:
    """``opentelemetry-instrument uvicorn app:app`` (no weave-run): our OpenAI instrumentor
    and the contrib FastAPI one, through their entry points; with no distro configuring a
    provider, the agent's pipeline takes the global place and writes its files."""
    launch.write("app.py", FASTAPI_APP)
    env = launch.env(
        OPENAI_BASE_URL=fake_openai, OPENAI_API_KEY="sk-test", WEAVE_AGENT_QUIET="1", PYTHONPATH=None,
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="openai_v2",  # not needed: shows the contrib one is not armed twice
    )  # fmt: skip
    proc, port = _serve(launch, env, "opentelemetry-instrument")
    try:
        assert _ask(port) == {"answer": "pong"}
    finally:
        launch.stop(proc, signal.SIGTERM, timeout=30)
    spans = launch.spans()
    by_id = {s.span_id: s for s in spans}
    (chat,) = [s for s in spans if s.name.startswith("chat ")]
    node = chat
    while node.parent_span_id in by_id:
        node = by_id[node.parent_span_id]
    assert node.name == "GET /ask" and node.parent_span_id == "", [s.name for s in spans]
    assert chat.trace_id == node.trace_id


def _dist(root, name: str, version: str, metadata: str = "", entry_points: str = "", top_level: str = "") -> None:  # type: ignore[no-untyped-def]
    info = root / ("%s-%s.dist-info" % (name.replace("-", "_"), version))
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: %s\nVersion: %s\n%s\nDescription here\n" % (name, version, metadata))
    if entry_points:
        (info / "entry_points.txt").write_text("[opentelemetry_instrumentor]\n" + entry_points)
    if top_level:
        (info / "top_level.txt").write_text(top_level)


def test_discover_reasons(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Each way an instrumentor is left out says why; a version conflict only when asked
    (``weave-run list``), since ``instrument()`` declines it in the app."""
    extra = 'Provides-Extra: instruments\nRequires-Dist: %s ; extra == "instruments"'
    _dist(tmp_path, "flasky", "2.0", top_level="flasky\n")
    _dist(tmp_path, "oi-flasky", "0.1", extra % "flasky ~= 1.0", "flasky = oi_flasky:I\n")
    _dist(tmp_path, "oi-missing", "0.1", extra % "notthere >= 1", "notthere = oi_missing:I\n")
    _dist(tmp_path, "oi-logging", "0.1", "", "logging = oi_logging:I\n")
    _dist(tmp_path, "oi-free", "0.1", "", "freeform = oi_free:I\n")
    monkeypatch.setattr("sys.path", [str(tmp_path)])
    settings = Settings.load({})
    found = _by_name(otel_instrumentors.discover(settings, ours={}))
    assert found["flasky"].skipped is None and found["flasky"].triggers == ["flasky"]
    assert found["notthere"].status == "skipped: notthere is not installed"
    assert found["logging"].triggers == ["logging"]  # the standard library's own module
    assert found["freeform"].skipped is not None and found["freeform"].skipped.startswith("it names no library")
    checked = _by_name(otel_instrumentors.discover(settings, ours={}, check_versions=True))
    assert checked["flasky"].status == "skipped: flasky 2.0 is outside ~= 1.0"
    assert _by_name(otel_instrumentors.discover(settings, ours={"flasky": "flask"}))["flasky"].skipped == (
        "weave-agent's flask instrumentation traces this library (two spans per call)"
    )


CELERY_TASKS = """
    import os
    from celery import Celery
    from openai import OpenAI

    ROOT = os.environ["CELERY_ROOT"]
    app = Celery("tasks", broker="filesystem://")
    app.conf.update(
        broker_transport_options={"data_folder_in": ROOT + "/queue", "data_folder_out": ROOT + "/queue",
                                  "processed_folder": ROOT + "/processed", "store_processed": False,
                                  "polling_interval": 0.05},
        task_ignore_result=True, worker_prefetch_multiplier=1, worker_hijack_root_logger=False,
    )


    @app.task(name="ask")
    def ask(i):
        OpenAI().chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "ping %d" % i}])
        fd = os.open(ROOT + "/ran", os.O_WRONLY | os.O_APPEND | os.O_CREAT)  # the test waits for the lines
        os.write(fd, b"%d\\n" % i)
        os.close(fd)
"""


def test_celery_task_continues_the_producers_trace(launch: Launch, fake_openai: str) -> None:
    """A worker-style app: the producer and a prefork Celery worker, both under weave-run
    with ``opentelemetry-instrumentation-celery`` installed. Each task is one trace across
    the two processes: ``apply_async/ask`` in the producer, ``run/ask`` in the worker as
    its child, and the task's ``chat`` span inside that."""
    import time

    launch.write("tasks.py", CELERY_TASKS)
    root = launch.root / "celery"
    for sub in ("queue", "processed"):
        (root / sub).mkdir(parents=True)
    env = launch.env(OPENAI_BASE_URL=fake_openai, OPENAI_API_KEY="sk-test", WEAVE_AGENT_QUIET="1",
                     CELERY_ROOT=str(root), PYTHONPATH=str(launch.root))
    launch.run("weave-run", "python", "-c", "import tasks\nfor i in range(3): tasks.ask.delay(i)", env=env).check()
    worker = launch.popen(
        "weave-run", "celery", "-A", "tasks", "worker", "--pool=prefork", "--concurrency=2", "--without-heartbeat",
        "--without-gossip", "--without-mingle", "--loglevel=warning", env=env, name="worker",
    )  # fmt: skip
    ran = root / "ran"
    wait_until(lambda: ran.exists() and len(ran.read_text().split()) == 3 or worker.poll() is not None, 60,
               "the worker to run 3 tasks")
    time.sleep(0.2)
    assert launch.stop(worker, signal.SIGTERM, timeout=30) == 0, launch.output("worker")  # a warm shutdown
    spans = launch.spans()
    by_id = {s.span_id: s for s in spans}
    sent = [s for s in spans if s.name == "apply_async/ask"]
    runs = [s for s in spans if s.name == "run/ask"]
    chats = [s for s in spans if s.name.startswith("chat ")]
    assert (len(sent), len(runs), len(chats)) == (3, 3, 3), [(s.name, s.pid) for s in spans]
    for chat in chats:
        run = by_id[chat.parent_span_id]
        assert run.name == "run/ask" and run.pid == chat.pid
        producer = by_id[run.parent_span_id]
        assert producer.name == "apply_async/ask" and producer.pid != run.pid
        assert producer.parent_span_id == "" and chat.trace_id == run.trace_id == producer.trace_id
    assert len({s.trace_id for s in sent}) == 3  # one trace per task
