"""The Pydantic AI instrumentation, through real ``pydantic-ai-slim`` and the real OpenAI SDK
against the local fake OpenAI API on 127.0.0.1 (``fake_pydantic_ai_server.py``).

The test app: an agent with one ``@agent.tool`` over ``OpenAIChatModel`` pointed at the
fake, a two-step tool loop (a tool call, the tool, the answer). Every run asserts the exact
span tree (``spans.shape()``): Pydantic AI's ``invoke_agent`` span, its two ``chat`` spans
and the ``execute_tool`` span between them, and no OpenAI SDK span under the ``chat`` spans
(one model call, one LLM span); usage on exactly one span per model call and the agent's
token metric counting each call once.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.metadata
import importlib.util
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from pydantic_ai import Agent, RunContext
from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.models.instrumented import InstrumentationSettings
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from weave_agent.testing import load_module

HERE = Path(__file__).resolve().parent


FakeOpenAIServer = load_module("weave_tests_pydantic_ai_fake", HERE / "fake_pydantic_ai_server.py").FakeOpenAIServer
PYDANTIC_AI = tuple(int(p) for p in importlib.metadata.version("pydantic-ai-slim").split(".")[:2])

MODEL = "gpt-4o-mini"
KEY = "sk-test-pydantic-ai-0123456789abcdef"
PROMPT = "What is the weather in Paris?"
AGENT = "invoke_agent weather"
CHAT = "chat " + MODEL
TOOL = "execute_tool get_weather"
TOOL_LOOP = [(AGENT, 0), (CHAT, 1), (TOOL, 1), (CHAT, 1)]


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    with FakeOpenAIServer(lifetime=300) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in list(os.environ):
        if var.startswith(("OPENAI_", "LOGFIRE_")):
            monkeypatch.delenv(var, raising=False)
    default = Agent._instrument_default
    yield
    Agent._instrument_default = default


@pytest.fixture
def traced(spans: Any, instrumentation: Any) -> Any:
    instrumentation("openai")
    instrumentation("pydantic_ai")
    return spans


def model(server: Any, key: str = KEY, headers: dict[str, str] | None = None) -> OpenAIChatModel:
    client = openai.AsyncOpenAI(base_url=server.openai_base_url, api_key=key, max_retries=0,
                                default_headers=headers)
    return OpenAIChatModel(MODEL, provider=OpenAIProvider(openai_client=client))


def weather_agent(server: Any, key: str = KEY, fail: bool = False, headers: dict[str, str] | None = None,
                  instrument: Any = None) -> Agent:
    agent = Agent(model(server, key, headers), name="weather", instructions="Answer with the tools.")
    if instrument is not None:
        agent.instrument = instrument  # the app's choice for this agent

    @agent.tool
    def get_weather(ctx: RunContext[None], city: str) -> str:
        """The weather in a city."""
        if fail:
            raise ValueError("the weather service is down")
        return "Sunny, 21 C in %s" % city

    return agent


def assert_usage_once(spans: Any, model_calls: int) -> None:
    with_usage = [s for s in spans.finished() if (s.attributes or {}).get("gen_ai.usage.input_tokens") is not None]
    assert [s.name for s in with_usage] == [CHAT] * model_calls
    assert all(s.kind is SpanKind.CLIENT for s in with_usage)
    total_in = sum(s.attributes["gen_ai.usage.input_tokens"] for s in with_usage)
    total_out = sum(s.attributes["gen_ai.usage.output_tokens"] for s in with_usage)
    counted_in = spans.metric_points("gen_ai.client.inference.usage.input_tokens")
    counted_out = spans.metric_points("gen_ai.client.inference.usage.output_tokens")
    assert sum(p.value for p in counted_in) == total_in  # the token metric counts each call once
    assert sum(p.value for p in counted_out) == total_out
    run = spans.one(AGENT)
    assert not any(k.startswith("gen_ai.usage.") for k in run.attributes)
    assert run.attributes["gen_ai.aggregated_usage.input_tokens"] == total_in  # the run's totals, apart


def check_tool_loop(spans: Any, output: str) -> None:
    assert "Sunny, 21 C in Paris" in output
    assert spans.shape() == TOOL_LOOP
    assert_usage_once(spans, 2)
    run = spans.one(AGENT)
    assert run.kind is SpanKind.INTERNAL
    assert run.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert run.attributes["gen_ai.agent.name"] == "weather"
    first, second = spans.named(CHAT)
    for chat in (first, second):
        attrs = chat.attributes
        assert attrs["gen_ai.operation.name"] == "chat"
        assert attrs["gen_ai.provider.name"] == "openai"
        assert attrs["gen_ai.request.model"] == MODEL
        assert attrs["server.address"] == "127.0.0.1"
    assert list(first.attributes["gen_ai.response.finish_reasons"]) == ["tool_call"]
    assert list(second.attributes["gen_ai.response.finish_reasons"]) == ["stop"]
    call = json.loads(first.attributes["gen_ai.output.messages"])[0]["parts"][0]
    assert call["type"] == "tool_call" and call["name"] == "get_weather"
    tool = spans.one(TOOL)
    assert tool.kind is SpanKind.INTERNAL
    assert tool.attributes["gen_ai.tool.name"] == "get_weather"
    assert tool.attributes["gen_ai.tool.call.id"] == call["id"]
    assert json.loads(tool.attributes["gen_ai.tool.call.arguments"]) == {"city": "Paris"}
    assert tool.attributes["gen_ai.tool.call.result"] == "Sunny, 21 C in Paris"
    assert all(s.status.status_code is not StatusCode.ERROR for s in spans.finished())
    assert len({s.context.trace_id for s in spans.finished()}) == 1


# -- the entry points --------------------------------------------------------------------------------


def test_run_async_tool_loop(traced: Any, server: Any, connections: list[Any]) -> None:
    result = asyncio.run(weather_agent(server).run(PROMPT))
    check_tool_loop(traced, result.output)
    assert connections and all(a == ("127.0.0.1", server.port) for a in connections)


def test_run_sync_tool_loop(traced: Any, server: Any) -> None:
    result = weather_agent(server).run_sync(PROMPT)
    check_tool_loop(traced, result.output)


def test_run_stream_exhausted(traced: Any, server: Any) -> None:
    async def main() -> str:
        async with weather_agent(server).run_stream(PROMPT) as stream:
            return "".join([delta async for delta in stream.stream_text(delta=True)])

    check_tool_loop(traced, asyncio.run(main()))
    assert all(s.attributes.get("gen_ai.client.operation.time_to_first_chunk") for s in traced.named(CHAT))


def test_iter_tool_loop(traced: Any, server: Any) -> None:
    async def main() -> str:
        async with weather_agent(server).iter(PROMPT) as run:
            async for _node in run:
                pass
        assert run.result is not None
        return run.result.output

    check_tool_loop(traced, asyncio.run(main()))


# -- streams: every way a streamed run ends ------------------------------------------------------------


def _ended_once(spans: Any) -> None:
    ids = [s.context.span_id for s in spans.finished()]
    assert len(ids) == len(set(ids))


def test_run_stream_break(traced: Any, server: Any) -> None:
    async def main() -> None:
        async with weather_agent(server).run_stream(PROMPT) as stream:
            async for _delta in stream.stream_text(delta=True):
                break

    asyncio.run(main())
    assert traced.shape() == TOOL_LOOP  # the last chat span ends when the run's context closes
    _ended_once(traced)
    assert_usage_once(traced, 2)


def test_run_stream_left_without_reading(traced: Any, server: Any) -> None:
    async def main() -> None:
        async with weather_agent(server).run_stream(PROMPT):
            pass

    asyncio.run(main())
    gc.collect()
    assert traced.shape() == TOOL_LOOP
    _ended_once(traced)


def test_run_stream_error_mid_stream(traced: Any, server: Any) -> None:
    async def main() -> None:
        agent = weather_agent(server, headers={"X-Fake-OpenAI-Behavior": "stream_error"})
        async with agent.run_stream(PROMPT) as stream:
            async for _delta in stream.stream_text(delta=True):
                pass

    with pytest.raises(Exception) as caught:
        asyncio.run(main())
    # the tool call streamed whole; the answer's stream broke off after three chunks
    assert traced.shape() == TOOL_LOOP
    first, second = traced.named(CHAT)
    run = traced.one(AGENT)
    assert first.status.status_code is not StatusCode.ERROR
    # Pydantic AI's own mapping (a 500 ModelHTTPError; 2.40 raises the OpenAI SDK's APIError itself)
    assert isinstance(caught.value, (ModelHTTPError, openai.APIError))
    assert run.status.status_code is StatusCode.ERROR
    assert run.attributes["error.type"] == type(caught.value).__name__
    assert list(second.attributes["gen_ai.response.finish_reasons"]) == ["error"]  # the model never said why
    if PYDANTIC_AI >= (2, 78):
        # Before 2.78 Pydantic AI closes the request's span by cancelling it, the error going
        # up another way: that span stays UNSET (docs/compatibility.md).
        assert second.status.status_code is StatusCode.ERROR
        assert second.attributes["error.type"] == type(caught.value).__name__
    _ended_once(traced)


def test_run_stream_cancelled(traced: Any, server: Any) -> None:
    async def main() -> None:
        async def consume() -> None:
            async with weather_agent(server).run_stream(PROMPT) as stream:
                async for _delta in stream.stream_text(delta=True):
                    await asyncio.sleep(10)

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert traced.shape()[0] == (AGENT, 0)
    assert {name for name, _ in traced.shape()} <= {AGENT, CHAT, TOOL}
    _ended_once(traced)


# -- errors ----------------------------------------------------------------------------------------------


def test_api_error_is_the_very_exception(traced: Any, server: Any) -> None:
    bad_key = "sk-invalid-pydantic-ai-key-0123456789"
    with pytest.raises(ModelHTTPError) as caught:
        weather_agent(server, key=bad_key).run_sync(PROMPT)
    assert caught.value.status_code == 401
    assert isinstance(caught.value.__cause__, openai.AuthenticationError)
    assert traced.shape() == [(AGENT, 0), (CHAT, 1)]
    chat, run = traced.one(CHAT), traced.one(AGENT)
    assert chat.status.status_code is StatusCode.ERROR and chat.attributes["error.type"] == "401"
    assert run.status.status_code is StatusCode.ERROR and run.attributes["error.type"] == type(caught.value).__name__
    errors = traced.metric_points("gen_ai.client.inference.duration")
    assert [p.attributes.get("error.type") for p in errors] == ["401"]
    for span in traced.finished():  # the key never leaves, even when a message quotes it
        text = json.dumps([dict(span.attributes or {}), [dict(e.attributes or {}) for e in span.events],
                           span.status.description or ""])
        assert bad_key not in text and bad_key[:20] not in text


def test_a_failing_tool_is_an_error_span(traced: Any, server: Any) -> None:
    with pytest.raises(ValueError, match="the weather service is down"):
        weather_agent(server, fail=True).run_sync(PROMPT)
    assert traced.shape() == [(AGENT, 0), (CHAT, 1), (TOOL, 1)]
    tool, run = traced.one(TOOL), traced.one(AGENT)
    assert tool.status.status_code is StatusCode.ERROR and tool.attributes["error.type"] == "ValueError"
    assert run.status.status_code is StatusCode.ERROR and run.attributes["error.type"] == "ValueError"
    assert traced.one(CHAT).status.status_code is not StatusCode.ERROR


# -- what the user chose -----------------------------------------------------------------------------------


def test_instrument_false_is_respected(traced: Any, server: Any) -> None:
    """No Pydantic AI span; the model calls are the OpenAI instrumentation's spans."""
    result = weather_agent(server, instrument=False).run_sync(PROMPT)
    assert "Sunny, 21 C" in result.output
    assert traced.shape() == [(CHAT, 0), (CHAT, 0)]
    assert all(s.instrumentation_scope.name == "weave_agent" for s in traced.finished())
    assert all(s.attributes.get("gen_ai.usage.input_tokens") for s in traced.finished())


def test_instrument_all_false_is_respected(traced: Any, server: Any) -> None:
    Agent.instrument_all(False)
    weather_agent(server).run_sync(PROMPT)
    assert traced.shape() == [(CHAT, 0), (CHAT, 0)]


def test_the_users_own_settings_are_kept(traced: Any, server: Any) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    settings = InstrumentationSettings(tracer_provider=provider, include_content=False)
    result = weather_agent(server, instrument=settings).run_sync(PROMPT)
    assert "Sunny, 21 C" in result.output
    theirs = exporter.get_finished_spans()
    assert sorted(s.name for s in theirs) == sorted([AGENT, CHAT, TOOL, CHAT])
    assert all(s.instrumentation_scope.name == "pydantic-ai" for s in theirs)
    assert not any("Paris" in json.dumps(dict(s.attributes or {})) for s in theirs)  # their content setting
    assert traced.finished() == []  # no second LLM span of ours under their chat spans


def test_content_capture_off(traced: Any, server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from weave_agent.export import telemetry

    monkeypatch.setattr(telemetry.settings(), "capture_content", "no_content")
    weather_agent(server).run_sync(PROMPT)
    assert traced.shape() == TOOL_LOOP
    content = ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions",
               "gen_ai.tool.call.arguments", "gen_ai.tool.call.result", "pydantic_ai.all_messages", "final_result")
    for span in traced.finished():
        assert not set(content) & set(span.attributes or {}), span.name
        assert "Paris" not in json.dumps(dict(span.attributes or {}))
    assert_usage_once(traced, 2)


# -- patching ------------------------------------------------------------------------------------------------


def _targets() -> dict[str, Any]:
    import pydantic_ai.agent as agent_module
    import pydantic_ai.capabilities.instrumentation as capability
    import pydantic_ai.models.instrumented as instrumented

    return {
        "resolve": vars(agent_module.Agent)["_resolve_instrumentation_settings"],
        "instrument_all": vars(agent_module.Agent)["instrument_all"],
        "capability": vars(capability)["open_model_request_span"],
        "model": vars(instrumented)["open_model_request_span"],
    }


def test_undo_restores_the_originals(spans: Any, server: Any) -> None:
    from weave_agent import patch, unpatch

    before = _targets()
    patch(pydantic_ai=True)
    try:
        during = _targets()
        assert all(during[k] is not before[k] for k in before)
    finally:
        unpatch("pydantic_ai")
    assert all(_targets()[k] is before[k] for k in before)
    weather_agent(server).run_sync(PROMPT)
    assert spans.finished() == []


def test_outside_the_range_declines_with_one_debug_line(
    spans: Any, instrumentation: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    server: Any,
) -> None:
    from weave_agent.hook import arming
    from weave_agent.instrumentations.registry import INSTRUMENTATIONS

    before = _targets()
    declared = next(row[4] for row in INSTRUMENTATIONS if row[0] == "pydantic_ai")
    monkeypatch.setattr(arming, "installed_version", lambda dist: "1.0.0" if dist == "pydantic-ai-slim" else None)
    with caplog.at_level(logging.DEBUG, logger="weave_agent"):
        instrumentation("pydantic_ai")
    assert _targets() == before
    lines = [r.getMessage() for r in caplog.records if "pydantic-ai-slim" in r.getMessage()]
    assert lines == ["weave-agent: pydantic-ai-slim 1.0.0 is not supported (supported: %s): not patched" % declared]
    weather_agent(server).run_sync(PROMPT)
    assert spans.finished() == []


def test_registry_triggers_are_the_patched_modules() -> None:
    from weave_agent.instrumentations.pydantic_ai.pydantic_ai import TRIGGERS
    from weave_agent.instrumentations.registry import INSTRUMENTATIONS

    row = next(row for row in INSTRUMENTATIONS if row[0] == "pydantic_ai")
    assert tuple(row[1]) == TRIGGERS


# -- a whole app under weave-run: the first span of a process, nothing leaves ----------------------------------

_APP = r"""
import sys

def audit(event, args):
    if event == "socket.connect":
        sys.stderr.write("CONNECT %r\n" % (args[1],))
        sys.stderr.flush()

sys.addaudithook(audit)
import pydantic_ai
sys.stderr.write("SDK AT IMPORT %s\n" % ("opentelemetry.sdk.trace" in sys.modules))
sys.stderr.write("CORE AT IMPORT %s\n" % ("weave_agent.tracing.calls" in sys.modules))
import openai
from pydantic_ai import Agent, RunContext
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

client = openai.AsyncOpenAI(base_url={base_url!r}, api_key="sk-test-pydantic-ai-0123456789abcdef", max_retries=0)
agent = Agent(OpenAIChatModel("gpt-4o-mini", provider=OpenAIProvider(openai_client=client)), name="weather")

@agent.tool
def get_weather(ctx: RunContext[None], city: str) -> str:
    '''The weather in a city.'''
    return "Sunny, 21 C in %s" % city

print(agent.run_sync("What is the weather in Paris?").output)
"""


@pytest.mark.slow
def test_an_app_under_weave_run_is_traced_from_its_first_span(tmp_path: Path, server: Any) -> None:
    repo = HERE.parents[2]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("WEAVE_AGENT_", "OTEL_", "PYTHON", "PYTEST_", "OPENAI_", "LOGFIRE_"))}
    env.update(WEAVE_AGENT_EXPORTER="file", WEAVE_AGENT_TRACES_DIR=str(tmp_path), WEAVE_AGENT_QUIET="true",
               PYTHONPATH=str(repo / "sitecustomize_shim"))
    done = subprocess.run([sys.executable, "-c", _APP.format(base_url=server.openai_base_url)], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Sunny, 21 C" in done.stdout
    # importing Pydantic AI under the agent does not set the pipeline (the OpenTelemetry SDK) up
    assert "SDK AT IMPORT False" in done.stderr
    assert "CORE AT IMPORT False" in done.stderr  # nor the agent's tracing core: both come with the first run
    connects = {line for line in done.stderr.splitlines() if line.startswith("CONNECT")}
    assert connects == {"CONNECT ('127.0.0.1', %d)" % server.port}  # nothing but the fake
    spans: list[dict[str, Any]] = []
    for path in tmp_path.glob("traces-*.jsonl"):
        for line in path.read_text().splitlines():
            for rs in json.loads(line).get("resourceSpans", ()):
                for ss in rs.get("scopeSpans", ()):
                    spans += ss.get("spans", ())
    by_id = {s["spanId"]: s for s in spans}
    roots = [s for s in spans if not s.get("parentSpanId")]
    assert [s["name"] for s in roots] == [AGENT]  # the run's first span was not lost
    assert sorted(s["name"] for s in spans) == sorted([AGENT, CHAT, CHAT, TOOL])
    assert all(by_id[s["parentSpanId"]]["name"] == AGENT for s in spans if s.get("parentSpanId"))
