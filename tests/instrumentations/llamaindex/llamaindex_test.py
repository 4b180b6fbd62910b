"""The LlamaIndex instrumentation, through real llama-index-core, llama-index-llms-openai
and llama-index-embeddings-openai (openai 2.x), with the OpenAI HTTP replayed from
cassettes (record mode none; ``record_cassettes.py`` recorded them against the OpenAI
tests' local fake). Runs in LlamaIndex's own test environment
(``WEAVE_AGENT_TEST_ENVIRONMENT=llamaindex``, see ``tests/instrumentations/_own_environments.py``).

Every test asserts the exact span tree (``spans.shape()``): LlamaIndex's model-call span
with the OpenAI SDK span one level below it, and each model call's usage on exactly one
span and in the token metric once.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import vcr
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from weave_agent.testing import load_module

HERE = Path(__file__).resolve().parent


sc = load_module("weave_tests_llamaindex_scenarios", HERE / "scenarios.py")
MATCH_ON = ("method", "scheme", "host", "port", "path", "query")
CHAT = "chat " + sc.GPT
EMBED = "embeddings " + sc.EMBEDDING
CHAT_SHAPE = [(CHAT, 0), (CHAT, 1)]  # LlamaIndex's model call, the OpenAI SDK call under it


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ambient configuration, and no socket to anything but 127.0.0.1 (vcrpy answers
    every request; a connection attempt elsewhere fails the test)."""
    import os

    for var in list(os.environ):
        if var.startswith(("OPENAI_", "LLAMA_")):
            monkeypatch.delenv(var, raising=False)
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "::1", "localhost") and not isinstance(address, (str, bytes)):
            raise AssertionError("a connection left for %r" % (address,))
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture
def traced(spans: Any, instrumentation: Any) -> Any:
    instrumentation("llamaindex")
    instrumentation("openai")
    return spans


@contextmanager
def replay(name: str) -> Iterator[Any]:
    recorder = vcr.VCR(record_mode="none", match_on=MATCH_ON)
    with recorder.use_cassette(str(HERE / "cassettes" / f"{name}.yaml")) as cassette:
        yield cassette


def usage_spans(spans: Any) -> list[Any]:
    return [s for s in spans.finished() if "gen_ai.usage.input_tokens" in (s.attributes or {})]


def assert_usage_once(spans: Any, calls: int, chats: int | None = None) -> None:
    """Each model call's tokens on one span (the SDK's), and each chat's in the token metric once."""
    carriers = usage_spans(spans)
    assert len(carriers) == calls, [s.name for s in carriers]
    assert all("server.address" in s.attributes for s in carriers)  # the OpenAI SDK spans
    carriers = [s for s in carriers if s.attributes["gen_ai.operation.name"] == "chat"]
    calls = len(carriers) if chats is None else chats
    for direction, attr in (("input", "gen_ai.usage.input_tokens"), ("output", "gen_ai.usage.output_tokens")):
        total = sum(s.attributes[attr] for s in carriers)
        per_call = spans.metric_points("gen_ai.client.inference.operation.%s_tokens" % direction)
        assert sum(p.count for p in per_call) == calls
        assert sum(p.sum for p in per_call) == total
        counted = spans.metric_points("gen_ai.client.inference.usage.%s_tokens" % direction)
        assert sum(p.value for p in counted) == total


def llama_chat_spans(spans: Any) -> list[Any]:
    return [s for s in spans.named(CHAT) if "server.address" not in s.attributes]


def assert_nesting(spans: Any) -> None:
    """Every OpenAI SDK span is a child of a LlamaIndex span of the same operation, and the
    LlamaIndex span repeats no usage."""
    by_id = {s.context.span_id: s for s in spans.finished()}
    sdk = [s for s in spans.finished() if "server.address" in (s.attributes or {})]
    assert sdk
    for s in sdk:
        parent = by_id[s.parent.span_id]
        assert "server.address" not in parent.attributes
        assert parent.attributes["gen_ai.operation.name"] == s.attributes["gen_ai.operation.name"]
        assert parent.kind is SpanKind.CLIENT and s.kind is SpanKind.CLIENT
        assert not [k for k in parent.attributes if k.startswith("gen_ai.usage.")]
    for s in llama_chat_spans(spans):
        assert s.attributes["gen_ai.provider.name"] == "openai"
        assert s.attributes["gen_ai.request.model"] == sc.GPT
        assert s.attributes["gen_ai.request.temperature"] == 0.0


def assert_one_trace(spans: Any) -> None:
    assert len({s.context.trace_id for s in spans.finished()}) == 1


def assert_no_context_leak() -> None:
    assert not trace.get_current_span().get_span_context().is_valid


# --- a chat ---------------------------------------------------------------------------------


def test_chat(traced: Any) -> None:
    with replay("chat"):
        answer = sc.llm().chat(sc.messages())
    assert answer.message.content
    assert traced.shape() == CHAT_SHAPE
    assert_nesting(traced)
    assert_usage_once(traced, 1)
    llama = llama_chat_spans(traced)[0]
    assert llama.attributes["gen_ai.response.model"].startswith(sc.GPT)
    assert llama.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert '"Tell me a fact about otters."' in llama.attributes["gen_ai.input.messages"]
    assert answer.message.content in llama.attributes["gen_ai.output.messages"]
    assert_no_context_leak()


def test_achat(traced: Any) -> None:
    async def main() -> Any:
        return await sc.llm().achat(sc.messages())

    with replay("chat"):
        answer = asyncio.run(main())
    assert answer.message.content
    assert traced.shape() == CHAT_SHAPE
    assert_nesting(traced)
    assert_usage_once(traced, 1)


def test_chat_under_an_app_span(traced: Any) -> None:
    tracer = traced.provider.get_tracer("app")
    with tracer.start_as_current_span("app"), replay("chat"):
        sc.llm().chat(sc.messages())
    assert traced.shape() == [("app", 0), (CHAT, 1), (CHAT, 2)]


def test_api_error_reaches_the_app(traced: Any) -> None:
    import openai

    with replay("error"), pytest.raises(openai.AuthenticationError) as raised:
        sc.llm(api_key=sc.INVALID_KEY).chat(sc.messages())
    assert raised.value.status_code == 401
    assert traced.shape() == CHAT_SHAPE
    for s in traced.finished():
        assert s.status.status_code is StatusCode.ERROR
        # the SDK span names the status code, LlamaIndex's the exception it saw
        assert s.attributes["error.type"] in ("401", "AuthenticationError")
    assert {s.attributes["error.type"] for s in traced.finished()} == {"401", "AuthenticationError"}
    assert not usage_spans(traced)
    assert_no_context_leak()


def test_content_capture_off(traced: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from weave_agent.export import telemetry

    monkeypatch.setattr(telemetry.settings(), "capture_content", "no_content")
    with replay("chat"):
        sc.llm().chat(sc.messages())
    assert traced.shape() == CHAT_SHAPE
    for s in traced.finished():
        assert not [k for k in s.attributes if k.endswith(".messages")], s.attributes


def test_content_as_events(traced: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from weave_agent.export import telemetry

    monkeypatch.setattr(telemetry.settings(), "capture_content", "event_only")
    with replay("chat"):
        answer = sc.llm().chat(sc.messages())
    assert traced.shape() == CHAT_SHAPE
    for s in traced.finished():
        assert not [k for k in s.attributes if k.endswith(".messages")], s.attributes
    llama = llama_chat_spans(traced)[0]
    events = [r for r in traced.logs("gen_ai.client.inference.operation.details")
              if r.span_id == llama.context.span_id]
    assert len(events) == 1
    attributes = dict(events[0].attributes)
    assert attributes["gen_ai.input.messages"][1]["parts"][0]["content"] == "Tell me a fact about otters."
    assert attributes["gen_ai.output.messages"][0]["parts"][0]["content"] == answer.message.content


# --- a query engine over a vector index ---------------------------------------------------------


QUERY_SHAPE = [
    (EMBED, 0),  # VectorStoreIndex.from_documents: the documents' embeddings
    (EMBED, 1),
    ("RetrieverQueryEngine.query", 0),
    ("retrieval", 1),
    (EMBED, 2),  # the query's embedding
    (EMBED, 3),
    ("CompactAndRefine.synthesize", 1),
    (CHAT, 2),
    (CHAT, 3),
]


def test_query_engine(traced: Any) -> None:
    with replay("query"):
        answer = sc.query_engine().query(sc.QUESTION)
    assert "Paris" in str(answer)
    assert traced.shape() == QUERY_SHAPE
    assert_nesting(traced)
    assert_usage_once(traced, 3, chats=1)  # two embedding calls and the chat
    retrieval = traced.one("retrieval")
    assert retrieval.attributes["gen_ai.operation.name"] == "retrieval"
    assert retrieval.attributes["gen_ai.retrieval.query.text"] == sc.QUESTION
    assert retrieval.attributes["gen_ai.retrieval.documents.count"] == 1
    assert "Paris is the capital" in retrieval.attributes["gen_ai.retrieval.documents"]
    embed = [s for s in traced.named(EMBED) if "server.address" not in s.attributes]
    assert all(s.attributes["gen_ai.embeddings.dimension.count"] > 0 for s in embed)
    assert_no_context_leak()


# --- a stream ---------------------------------------------------------------------------------


def _stream_shape(spans: Any) -> Any:
    llama = llama_chat_spans(spans)
    assert len(llama) == 1
    return llama[0]


def test_stream_exhausted(traced: Any) -> None:
    seen_current = []
    with replay("stream"):
        stream = sc.llm().stream_chat(sc.messages())
        assert not traced.finished()  # returned, not consumed: the span is still open
        text = ""
        for chunk in stream:
            seen_current.append(trace.get_current_span().get_span_context().is_valid)
            text += chunk.delta or ""
    assert text
    assert traced.shape() == CHAT_SHAPE
    assert_nesting(traced)
    assert_usage_once(traced, 1)  # stream_options.include_usage through additional_kwargs
    llama = _stream_shape(traced)
    assert llama.attributes["gen_ai.request.stream"] is True
    assert llama.attributes["weave_agent.stream.end_reason"] == "exhausted"
    assert text in llama.attributes["gen_ai.output.messages"]
    assert not any(seen_current)  # never current in the consumer between chunks
    assert_no_context_leak()


def test_astream_exhausted(traced: Any) -> None:
    async def main() -> str:
        text = ""
        async for chunk in await sc.llm().astream_chat(sc.messages()):
            assert not trace.get_current_span().get_span_context().is_valid
            text += chunk.delta or ""
        return text

    with replay("stream"):
        assert asyncio.run(main())
    assert traced.shape() == CHAT_SHAPE
    assert_nesting(traced)
    assert_usage_once(traced, 1)
    assert _stream_shape(traced).attributes["weave_agent.stream.end_reason"] == "exhausted"


def test_stream_break(traced: Any) -> None:
    with replay("stream"):
        stream = sc.llm().stream_chat(sc.messages())
        for _ in stream:
            break
        stream.close()
    llama = _stream_shape(traced)
    assert llama.attributes["weave_agent.stream.end_reason"] == "closed"
    assert llama.status.status_code is not StatusCode.ERROR
    assert [n for n, _ in traced.shape()] == [CHAT, CHAT]
    assert_no_context_leak()


def test_stream_garbage_collected(traced: Any) -> None:
    with replay("stream"):
        stream = sc.llm().stream_chat(sc.messages())
        next(stream)
        del stream
        gc.collect()
    llama = _stream_shape(traced)
    # collected after its first chunk: the weakref callback runs before the generator's close
    assert llama.attributes["weave_agent.stream.end_reason"] == "garbage_collected"
    assert llama.status.status_code is not StatusCode.ERROR
    assert_no_context_leak()


def test_stream_dropped_unread(traced: Any) -> None:
    with replay("stream"):
        stream = sc.llm().stream_chat(sc.messages())
        del stream
        gc.collect()
    llama = _stream_shape(traced)
    assert llama.attributes["weave_agent.stream.end_reason"] == "garbage_collected"
    assert traced.shape() == [(CHAT, 0)]  # never read: no request was sent
    assert_no_context_leak()


def test_stream_error(traced: Any) -> None:
    import openai

    with replay("stream_error"), pytest.raises(openai.APIError):
        for _ in sc.llm(behavior="stream_error").stream_chat(sc.messages()):
            pass
    llama = _stream_shape(traced)
    assert llama.status.status_code is StatusCode.ERROR
    assert llama.attributes["error.type"] == "APIError"
    assert llama.attributes["weave_agent.stream.end_reason"] == "error"
    assert traced.shape() == CHAT_SHAPE
    assert_no_context_leak()


def test_astream_break_and_aclose(traced: Any) -> None:
    async def main() -> None:
        stream = await sc.llm().astream_chat(sc.messages())
        async for _ in stream:
            break
        await stream.aclose()
        assert not trace.get_current_span().get_span_context().is_valid

    with replay("stream"):
        asyncio.run(main())
    llama = _stream_shape(traced)
    assert llama.attributes["weave_agent.stream.end_reason"] == "closed"
    assert llama.status.status_code is not StatusCode.ERROR
    assert [n for n, _ in traced.shape()] == [CHAT, CHAT]


def test_astream_error(traced: Any) -> None:
    import openai

    async def main() -> None:
        async for _ in await sc.llm(behavior="stream_error").astream_chat(sc.messages()):
            pass

    with replay("stream_error"), pytest.raises(openai.APIError):
        asyncio.run(main())
    llama = _stream_shape(traced)
    assert llama.status.status_code is StatusCode.ERROR
    assert llama.attributes["weave_agent.stream.end_reason"] == "error"
    assert traced.shape() == CHAT_SHAPE


def test_astream_cancelled(traced: Any) -> None:
    """A cancellation delivered while the stream waits inside (``athrow``: where a task's
    cancel lands when it is suspended in the SDK's read)."""
    async def main() -> None:
        stream = await sc.llm().astream_chat(sc.messages())
        await stream.__anext__()
        with pytest.raises(asyncio.CancelledError):
            await stream.athrow(asyncio.CancelledError())

    with replay("stream"):
        asyncio.run(main())
    llama = _stream_shape(traced)
    assert llama.attributes["weave_agent.stream.end_reason"] == "cancelled"
    assert llama.attributes["error.type"] == "CancelledError"
    assert [n for n, _ in traced.shape()] == [CHAT, CHAT]


def test_stream_open_at_interpreter_exit(traced: Any) -> None:
    from weave_agent.export import telemetry
    from weave_agent.instrumentations.llamaindex import handlers

    with replay("stream"):
        stream = sc.llm().stream_chat(sc.messages())
        next(stream)
        assert handlers.end_open_streams in telemetry._before_exit  # called by the exit flush
        handlers.end_open_streams()
        llama = _stream_shape(traced)
        assert llama.attributes["weave_agent.stream.end_reason"] == "interpreter_exit"
        stream.close()  # ended once: closing it later adds nothing
    assert len(llama_chat_spans(traced)) == 1


# --- an agent with a function tool --------------------------------------------------------------


AGENT_SHAPE = [
    ("invoke_agent weather_agent", 0),
    (CHAT, 1),
    (CHAT, 2),
    ("execute_tool get_weather", 1),
    (CHAT, 1),
    (CHAT, 2),
]


def test_function_agent(traced: Any) -> None:
    with replay("agent"):
        result = asyncio.run(sc.run_agent())
    assert "Sunny" in str(result)
    assert traced.shape() == AGENT_SHAPE
    assert_one_trace(traced)  # the workflow's step tasks keep the agent's trace
    assert_nesting(traced)
    assert_usage_once(traced, 2)
    agent = traced.one("invoke_agent weather_agent")
    assert agent.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert agent.attributes["gen_ai.agent.name"] == "weather_agent"
    tool = traced.one("execute_tool get_weather")
    assert tool.attributes["gen_ai.tool.name"] == "get_weather"
    assert tool.attributes["gen_ai.tool.call.arguments"] == '{"city":"Paris"}'
    assert "Sunny and 22 C in Paris" in tool.attributes["gen_ai.tool.call.result"]
    first = llama_chat_spans(traced)[0]
    assert "get_weather" in first.attributes["gen_ai.tool.definitions"]
    assert_no_context_leak()


def test_a_workflow_of_ones_own(traced: Any) -> None:
    """A user's ``Workflow``: ``invoke_workflow {class}``, its step's model call under it
    (the step itself is no span: children hang from the nearest traced ancestor)."""
    from llama_index.core.workflow import StartEvent, StopEvent, Workflow, step

    class Otters(Workflow):
        @step
        async def ask(self, ev: StartEvent) -> StopEvent:
            answer = await sc.llm().achat(sc.messages())
            return StopEvent(result=answer.message.content)

    async def main() -> Any:
        return await Otters(timeout=30).run()

    with replay("chat"):
        result = asyncio.run(main())
    assert result
    assert traced.shape() == [("invoke_workflow Otters", 0), (CHAT, 1), (CHAT, 2)]
    assert_one_trace(traced)
    flow = traced.one("invoke_workflow Otters")
    assert flow.attributes["gen_ai.operation.name"] == "invoke_workflow"
    assert_usage_once(traced, 1)
    assert_no_context_leak()


def test_function_agent_tool_error(traced: Any) -> None:
    with replay("agent_tool_error"):
        result = asyncio.run(sc.run_failing_agent())
    assert "quote service is down" in str(result)  # the agent hands the error to the model
    assert traced.shape() == [("invoke_agent stock_agent", 0), (CHAT, 1), (CHAT, 2),
                              ("execute_tool get_stock_price", 1), (CHAT, 1), (CHAT, 2)]
    tool = traced.one("execute_tool get_stock_price")
    assert tool.status.status_code is StatusCode.ERROR
    assert tool.attributes["error.type"] == "ValueError"
    agent = traced.one("invoke_agent stock_agent")
    assert agent.status.status_code is not StatusCode.ERROR
    assert_usage_once(traced, 2)


# --- versions and undo --------------------------------------------------------------------------


def test_outside_the_range_declines_with_one_debug_line(
    spans: Any, instrumentation: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    from llama_index.core.instrumentation import get_dispatcher

    from weave_agent.hook import arming
    from weave_agent.instrumentations.registry import INSTRUMENTATIONS

    declared = next(row[4] for row in INSTRUMENTATIONS if row[0] == "llamaindex")
    monkeypatch.setattr(arming, "installed_version", lambda dist: "0.11.23" if dist == "llama-index-core" else None)
    with caplog.at_level(logging.DEBUG, logger="weave_agent"):
        instrumentation("llamaindex")
    lines = [r.getMessage() for r in caplog.records if "llama-index-core" in r.getMessage()]
    assert lines == ["weave-agent: llama-index-core 0.11.23 is not supported (supported: %s): not patched" % declared]
    assert not [h for h in get_dispatcher().span_handlers if type(h).__name__ == "SpanHandler"]
    with replay("chat"):
        sc.llm().chat(sc.messages())
    assert spans.finished() == []


def test_unpatched_records_nothing(spans: Any, instrumentation: Any) -> None:
    instrumentation("openai")
    with replay("chat"):
        sc.llm().chat(sc.messages())
    assert [n for n, _ in spans.shape()] == [CHAT]  # the SDK's span alone
    from llama_index.core.instrumentation import get_dispatcher

    assert not [h for h in get_dispatcher().span_handlers if type(h).__name__ == "SpanHandler"]


def test_undo_restores_the_originals(spans: Any) -> None:
    """``unpatch`` takes exactly our two handlers off the root dispatcher (the app's own
    stay) and nothing is recorded after it."""
    from llama_index.core.instrumentation import get_dispatcher

    from weave_agent import patch, unpatch

    dispatcher = get_dispatcher()
    before = (list(dispatcher.span_handlers), list(dispatcher.event_handlers))
    patch(llamaindex=True)
    try:
        assert len(dispatcher.span_handlers) == len(before[0]) + 1
        assert len(dispatcher.event_handlers) == len(before[1]) + 1
        with replay("chat"):
            sc.llm().chat(sc.messages())
        assert [n for n, _ in spans.shape()] == [CHAT]  # ours (the SDK instrumentation is not on)
    finally:
        unpatch("llamaindex")
    after = (list(dispatcher.span_handlers), list(dispatcher.event_handlers))
    assert all(a is b for a, b in zip(after[0], before[0], strict=True))
    assert all(a is b for a, b in zip(after[1], before[1], strict=True))
    spans.clear()
    with replay("chat"):
        sc.llm().chat(sc.messages())
    assert spans.finished() == []


# --- a whole app under the agent's bootstrap: nothing leaves, the same tree -----------------------

_APP = r"""
import sys

def audit(event, args):
    if event == "socket.connect":
        sys.stderr.write("CONNECT %r\n" % (args[1],))
        sys.stderr.flush()

sys.addaudithook(audit)
sys.path.insert(0, {here!r})
import asyncio
import scenarios

print(scenarios.run("query", {base_url!r}))
print(asyncio.run(scenarios.run_agent({base_url!r})))
"""


def _run_app(tmp_path: Path, base_url: str, traced: bool = True) -> tuple[list[str], list[tuple[str, str | None]]]:
    import json
    import os
    import subprocess

    repo = HERE.parents[2]
    tmp_path.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("WEAVE_AGENT_", "OTEL_", "PYTHON", "PYTEST_", "OPENAI_", "LLAMA"))}
    env.update(WEAVE_AGENT_EXPORTER="file", WEAVE_AGENT_TRACES_DIR=str(tmp_path), WEAVE_AGENT_QUIET="true")
    if traced:
        env["PYTHONPATH"] = str(repo / "sitecustomize_shim")
    code = _APP.format(here=str(HERE), base_url=base_url)
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Paris" in done.stdout and "Sunny and 22 C" in done.stdout
    connects = [line for line in done.stderr.splitlines() if line.startswith("CONNECT")]
    spans = []
    for path in tmp_path.glob("traces-*.jsonl"):
        for line in path.read_text().splitlines():
            for rs in json.loads(line).get("resourceSpans", ()):
                for ss in rs.get("scopeSpans", ()):
                    spans += [(span["name"], span.get("traceId")) for span in ss.get("spans", ())]
    return connects, spans


@pytest.mark.slow
def test_an_app_under_the_agent_sends_nothing_new(tmp_path: Path) -> None:
    sys.path.insert(0, str(HERE.parent / "openai"))
    try:
        from fake_openai_server import FakeOpenAIServer
    finally:
        sys.path.remove(str(HERE.parent / "openai"))
    with FakeOpenAIServer(lifetime=120) as server:
        under, spans = _run_app(tmp_path / "traced", server.openai_base_url, traced=True)
        fake = "CONNECT ('127.0.0.1', %d)" % server.port
    # every connection went to the fake: neither LlamaIndex (tiktoken, nltk data) nor the
    # agent (file exporter) opened another
    assert under and set(under) == {fake}
    names = sorted(name for name, _ in spans)
    assert names == sorted([n for n, _ in QUERY_SHAPE] + [n for n, _ in AGENT_SHAPE])
    agent_trace = {t for n, t in spans if n in ("invoke_agent weather_agent", "execute_tool get_weather")}
    assert len(agent_trace) == 1
    assert sum(1 for n, t in spans if t in agent_trace) == len(AGENT_SHAPE)  # one trace for the agent
