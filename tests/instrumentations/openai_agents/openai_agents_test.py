"""The OpenAI Agents SDK instrumentation, through real ``openai-agents`` and the real OpenAI
SDK against the local fake OpenAI API on 127.0.0.1 (``fake_openai_agents_server.py``).

Every run asserts the exact span tree (``spans.shape()``): the run, the agents it passes
through, the model calls (the OpenAI instrumentation's spans) under the agent that made
them, the tools, handoffs and guardrails; usage on exactly one span per model call.

The SDK's own trace export is replaced by no processor for the whole module
(``set_trace_processors([])``, what an app does to keep its traces local): nothing is
uploaded, nothing is retried at exit. Tests that need the SDK's tracing on add a recording
processor of their own.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import agents
import openai
import pytest
from agents import (
    Agent,
    GuardrailFunctionOutput,
    InputGuardrail,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    RunConfig,
    Runner,
    function_tool,
)
from agents.tracing import TracingProcessor
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from weave_agent.testing import load_module

HERE = Path(__file__).resolve().parent


FakeOpenAIServer = load_module("weave_tests_openai_agents_fake", HERE / "fake_openai_agents_server.py").FakeOpenAIServer

MODEL = "gpt-4o-mini"
KEY = "sk-test-agents-0123456789abcdef"
WORKFLOW = "invoke_workflow Agent workflow"


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    with FakeOpenAIServer(lifetime=300) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in list(os.environ):
        if var.startswith(("OPENAI_", "AZURE_OPENAI_")):
            monkeypatch.delenv(var, raising=False)
    agents.set_trace_processors([])  # the app's choice in every test: no upload to OpenAI
    agents.set_tracing_disabled(False)
    yield
    agents.set_trace_processors([])
    agents.set_tracing_disabled(False)


@pytest.fixture
def traced(spans: Any, instrumentation: Any) -> Any:
    instrumentation("openai")
    instrumentation("openai_agents")
    return spans


def client(server: Any, key: str = KEY) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.openai_base_url, api_key=key, max_retries=0)


def responses_model(server: Any, key: str = KEY) -> OpenAIResponsesModel:
    return OpenAIResponsesModel(model=MODEL, openai_client=client(server, key))


def chat_model(server: Any) -> OpenAIChatCompletionsModel:
    return OpenAIChatCompletionsModel(model=MODEL, openai_client=client(server))


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return "Sunny, 21 C in %s" % city


@function_tool
def broken_tool(city: str) -> str:
    """A tool that fails."""
    raise ValueError("the weather service is down")


def weather_agent(model: Any, tools: list[Any] | None = None, **kwargs: Any) -> Agent:
    return Agent(name="Assistant", instructions="Answer with the tools.", model=model,
                 tools=tools if tools is not None else [get_weather], **kwargs)


def llm_name(spans: Any) -> str:
    """The OpenAI instrumentation's span name for the model calls (``chat gpt-4o-mini``)."""
    names = {s.name for s in spans.finished() if (s.attributes or {}).get("gen_ai.usage.input_tokens") is not None}
    assert len(names) == 1, names
    return names.pop()


def tool_loop_shape(chat: str) -> list[tuple[str, int]]:
    return [
        (WORKFLOW, 0),
        ("invoke_agent Assistant", 1),
        (chat, 2),
        ("execute_tool get_weather", 2),
        (chat, 2),
    ]


def assert_usage_once(spans: Any, model_calls: int) -> None:
    with_usage = [s for s in spans.finished() if (s.attributes or {}).get("gen_ai.usage.input_tokens") is not None]
    assert len(with_usage) == model_calls
    assert all(s.kind is SpanKind.CLIENT for s in with_usage)  # the OpenAI SDK's spans only
    total_in = sum(s.attributes["gen_ai.usage.input_tokens"] for s in with_usage)
    counted = spans.metric_points("gen_ai.client.inference.usage.input_tokens")
    assert counted and sum(p.value for p in counted) == total_in  # the token metric counts each call once


def check_tool_loop(spans: Any, result: Any) -> None:
    assert "Sunny, 21 C" in result.final_output
    chat = llm_name(spans)
    assert spans.shape() == tool_loop_shape(chat)
    assert_usage_once(spans, 2)
    run = spans.one(WORKFLOW)
    assert run.kind is SpanKind.INTERNAL
    assert run.attributes["gen_ai.operation.name"] == "invoke_workflow"
    assert run.attributes["openai_agents.starting_agent"] == "Assistant"
    agent = spans.one("invoke_agent Assistant")
    assert agent.kind is SpanKind.INTERNAL
    assert agent.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert agent.attributes["gen_ai.agent.name"] == "Assistant"
    assert agent.attributes["gen_ai.provider.name"] == "openai"
    assert list(agent.attributes["openai_agents.agent.tools"]) == ["get_weather"]
    assert not any(k.startswith("gen_ai.usage.") for k in agent.attributes)
    assert not any(k.startswith("gen_ai.usage.") for k in run.attributes)
    tool = spans.one("execute_tool get_weather")
    assert tool.kind is SpanKind.INTERNAL
    assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
    assert tool.attributes["gen_ai.tool.name"] == "get_weather"
    assert tool.attributes["gen_ai.tool.type"] == "function"
    assert json.loads(tool.attributes["gen_ai.tool.call.arguments"]) == {"city": "Paris"}
    assert tool.attributes["gen_ai.tool.call.result"].startswith("Sunny, 21 C in")
    assert all(s.status.status_code is not StatusCode.ERROR for s in spans.finished())
    assert len({s.context.trace_id for s in spans.finished()}) == 1


# -- the three entry points -----------------------------------------------------------------------


def test_run_async_tool_loop(traced: Any, server: Any, connections: list[Any]) -> None:
    result = asyncio.run(Runner.run(weather_agent(responses_model(server)), "What is the weather in Paris?"))
    check_tool_loop(traced, result)
    assert connections and all(a == ("127.0.0.1", server.port) for a in connections)


def test_run_sync_tool_loop(traced: Any, server: Any) -> None:
    result = Runner.run_sync(weather_agent(responses_model(server)), "What is the weather in Paris?")
    check_tool_loop(traced, result)


def test_chat_completions_model(traced: Any, server: Any) -> None:
    result = asyncio.run(Runner.run(weather_agent(chat_model(server)), "What is the weather in Paris?"))
    check_tool_loop(traced, result)
    assert llm_name(traced) == "chat " + MODEL


async def _stream(agent: Any, stop_after: int | None = None) -> tuple[Any, list[Any], list[Any]]:
    result = Runner.run_streamed(agent, "What is the weather in Paris?")
    events, current = [], []
    async for event in result.stream_events():
        events.append(event)
        current.append(trace.get_current_span())  # the app's span between events: never ours
        if stop_after is not None and len(events) >= stop_after:
            result.cancel()
            break
    return result, events, current


def test_run_streamed_exhausted(traced: Any, server: Any) -> None:
    result, events, current = asyncio.run(_stream(weather_agent(responses_model(server))))
    assert events
    assert all(not s.get_span_context().is_valid for s in current)
    check_tool_loop(traced, result)
    assert all(s.attributes.get("gen_ai.request.stream") is True
               for s in traced.finished() if s.kind is SpanKind.CLIENT)


def test_run_streamed_cancelled_ends_every_span(traced: Any, server: Any) -> None:
    async def main() -> Any:
        result, events, _ = await _stream(weather_agent(responses_model(server)), stop_after=2)
        task = getattr(result, "run_loop_task", None) or getattr(result, "_run_impl_task", None)
        for _ in range(50):
            if task is None or task.done():
                break
            await asyncio.sleep(0.02)
        return result

    asyncio.run(main())
    run = traced.one(WORKFLOW)
    assert run.attributes["weave_agent.stream.end_reason"] == "cancelled"
    assert run.status.status_code is StatusCode.UNSET  # the app's choice, not an error
    # the model call's stream may be cut before its usage arrived (older SDKs cancel sooner)
    chat = [sp.name for sp in traced.finished() if sp.kind is SpanKind.CLIENT]
    assert chat == ["chat " + MODEL]
    assert traced.shape() == [(WORKFLOW, 0), ("invoke_agent Assistant", 1), (chat[0], 2)]


def test_run_streamed_abandoned_and_collected(traced: Any, server: Any) -> None:
    async def main() -> None:
        result = Runner.run_streamed(weather_agent(responses_model(server)), "What is the weather in Paris?")
        async for _event in result.stream_events():
            break
        del result
        gc.collect()
        await asyncio.sleep(0.5)

    asyncio.run(main())
    # The SDK goes on with a run nobody reads; its spans end with it, each once.
    assert traced.shape() == tool_loop_shape(llm_name(traced))
    assert "weave_agent.stream.end_reason" not in traced.one(WORKFLOW).attributes


# -- context: model calls under the right step, in tasks too ---------------------------------------


def test_a_tool_calling_the_openai_sdk_nests_under_the_tool(traced: Any, server: Any) -> None:
    api = client(server)

    @function_tool
    async def summarize(text: str) -> str:
        """Summarize a text with a model."""
        response = await api.responses.create(model=MODEL, input="Summarize: " + text)
        return response.output_text

    result = asyncio.run(Runner.run(weather_agent(responses_model(server), tools=[summarize]), "Summarize this"))
    assert result.final_output
    chat = llm_name(traced)
    assert traced.shape() == [
        (WORKFLOW, 0),
        ("invoke_agent Assistant", 1),
        (chat, 2),
        ("execute_tool summarize", 2),
        (chat, 3),
        (chat, 2),
    ]
    assert_usage_once(traced, 3)


def test_parallel_tools_and_concurrent_runs(traced: Any, server: Any) -> None:
    @function_tool
    async def get_time(city: str) -> str:
        """The time in a city."""
        await asyncio.sleep(0.01)
        return "12:00 in %s" % city

    async def main() -> list[Any]:
        return await asyncio.gather(*(
            Runner.run(weather_agent(responses_model(server), tools=[get_weather, get_time]), "Weather and time?")
            for _ in range(2)))

    asyncio.run(main())
    runs = traced.named(WORKFLOW)
    assert len(runs) == 2 and len({r.context.trace_id for r in runs}) == 2
    chat = llm_name(traced)
    for run in runs:
        tree = [(s.name, d) for s, d in traced.tree() if s.context.trace_id == run.context.trace_id]
        assert tree[:3] == [(WORKFLOW, 0), ("invoke_agent Assistant", 1), (chat, 2)]
        assert sorted(tree[3:5]) == [("execute_tool get_time", 2), ("execute_tool get_weather", 2)]
        assert tree[5:] == [(chat, 2)]
    assert_usage_once(traced, 4)


# -- handoffs and guardrails ------------------------------------------------------------------------


def test_handoff(traced: Any, server: Any) -> None:
    model = responses_model(server)
    expert = Agent(name="Expert", instructions="Answer.", model=model)
    triage = Agent(name="Triage", instructions="Hand off.", model=model, handoffs=[expert])
    result = asyncio.run(Runner.run(triage, "What is the capital of France?"))
    assert result.last_agent is expert
    chat = llm_name(traced)
    assert traced.shape() == [
        (WORKFLOW, 0),
        ("invoke_agent Triage", 1),
        (chat, 2),
        ("handoff Expert", 2),
        ("invoke_agent Expert", 1),
        (chat, 2),
    ]
    handoff = traced.one("handoff Expert")
    assert handoff.kind is SpanKind.INTERNAL
    assert handoff.attributes["openai_agents.handoff.from_agent"] == "Triage"
    assert handoff.attributes["openai_agents.handoff.to_agent"] == "Expert"
    assert list(traced.one("invoke_agent Triage").attributes["openai_agents.agent.handoffs"]) == ["Expert"]
    assert_usage_once(traced, 2)


def _guardrail(tripped: bool) -> InputGuardrail:
    async def check(ctx: Any, agent: Any, text: Any) -> GuardrailFunctionOutput:
        return GuardrailFunctionOutput(output_info={"ok": not tripped}, tripwire_triggered=tripped)

    return InputGuardrail(guardrail_function=check, name="policy")


def test_guardrail_passes(traced: Any, server: Any) -> None:
    agent = weather_agent(responses_model(server), input_guardrails=[_guardrail(False)])
    asyncio.run(Runner.run(agent, "What is the weather in Paris?"))
    guardrail = traced.one("guardrail policy")
    assert guardrail.kind is SpanKind.INTERNAL
    assert guardrail.attributes["openai_agents.guardrail.triggered"] is False
    parent = {s.context.span_id: s.name for s in traced.finished()}[guardrail.parent.span_id]
    assert parent == "invoke_agent Assistant"


def test_guardrail_tripped_is_the_apps_exception(traced: Any, server: Any) -> None:
    agent = weather_agent(responses_model(server), input_guardrails=[_guardrail(True)])
    with pytest.raises(agents.InputGuardrailTripwireTriggered):
        asyncio.run(Runner.run(agent, "What is the weather in Paris?"))
    assert traced.one("guardrail policy").attributes["openai_agents.guardrail.triggered"] is True
    run = traced.one(WORKFLOW)
    assert run.status.status_code is StatusCode.ERROR
    assert run.attributes["error.type"] == "InputGuardrailTripwireTriggered"


# -- errors -----------------------------------------------------------------------------------------


def test_api_error_is_the_very_exception(traced: Any, server: Any) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        asyncio.run(Runner.run(weather_agent(responses_model(server, key="sk-invalid-0123456789")), "Weather?"))
    assert caught.value.status_code == 401
    chat = [s for s in traced.finished() if s.kind is SpanKind.CLIENT]
    assert len(chat) == 1
    assert chat[0].status.status_code is StatusCode.ERROR and chat[0].attributes["error.type"] == "401"
    run, agent = traced.one(WORKFLOW), traced.one("invoke_agent Assistant")
    assert [n for n, _ in traced.shape()] == [WORKFLOW, "invoke_agent Assistant", chat[0].name]
    assert run.status.status_code is StatusCode.ERROR
    assert run.attributes["error.type"] == "AuthenticationError"
    assert agent.status.status_code is StatusCode.ERROR
    for span in traced.finished():
        assert "sk-invalid-0123456789" not in json.dumps(dict(span.attributes or {}), default=str)


def test_streamed_api_error_is_the_very_exception(traced: Any, server: Any) -> None:
    async def main() -> None:
        result = Runner.run_streamed(weather_agent(responses_model(server, key="sk-invalid-0123456789")), "Weather?")
        async for _event in result.stream_events():
            pass

    with pytest.raises(openai.AuthenticationError):
        asyncio.run(main())
    run = traced.one(WORKFLOW)
    assert run.status.status_code is StatusCode.ERROR
    assert run.attributes["error.type"] == "AuthenticationError"
    chat = [s for s in traced.finished() if s.kind is SpanKind.CLIENT]
    assert [n for n, _ in traced.shape()] == [WORKFLOW, "invoke_agent Assistant", chat[0].name]
    assert chat[0].attributes["error.type"] == "401"


def test_a_failing_tool_is_an_error_span(traced: Any, server: Any) -> None:
    result = asyncio.run(Runner.run(weather_agent(responses_model(server), tools=[broken_tool]), "Weather?"))
    assert result.final_output  # the SDK sent the failure to the model, which answered
    tool = traced.one("execute_tool broken_tool")
    assert tool.status.status_code is StatusCode.ERROR
    assert tool.attributes["error.type"]
    assert traced.one(WORKFLOW).status.status_code is not StatusCode.ERROR


# -- the SDK's own tracing: untouched, and not needed -----------------------------------------------


class Recorder(TracingProcessor):
    def __init__(self) -> None:
        self.started: list[str] = []
        self.traces = 0

    def on_trace_start(self, trace: Any) -> None:
        self.traces += 1

    def on_trace_end(self, trace: Any) -> None:
        pass

    def on_span_start(self, span: Any) -> None:
        self.started.append(span.span_data.type)

    def on_span_end(self, span: Any) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self) -> None:
        pass


def _sdk_view(server: Any, run_config: Any = None) -> Recorder:
    recorder = Recorder()
    agents.set_trace_processors([recorder])
    asyncio.run(Runner.run(weather_agent(responses_model(server)), "What is the weather in Paris?",
                           run_config=run_config))
    return recorder


def test_the_sdks_traces_are_what_they_are_without_us(spans: Any, instrumentation: Any, server: Any) -> None:
    without = _sdk_view(server)
    instrumentation("openai")
    instrumentation("openai_agents")
    with_us = _sdk_view(server)
    assert with_us.started == without.started and with_us.traces == without.traces == 1
    assert "response" in with_us.started  # the SDK's own model-call span is still its own
    # the processors are the app's alone: we registered none
    assert agents.tracing.get_trace_provider()._multi_processor._processors == (with_us,)  # type: ignore[attr-defined]


@pytest.mark.parametrize("switch", ["set_tracing_disabled", "run_config", "env"])
def test_the_sdks_off_switches_do_not_blind_us(traced: Any, server: Any, switch: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    run_config = None
    provider = agents.tracing.get_trace_provider()
    if switch == "set_tracing_disabled":
        agents.set_tracing_disabled(True)
    elif switch == "run_config":
        run_config = RunConfig(tracing_disabled=True)
    else:
        monkeypatch.setenv("OPENAI_AGENTS_DISABLE_TRACING", "1")
        if hasattr(provider, "_env_disabled"):  # read once, at the first span (0.2x)
            monkeypatch.setattr(provider, "_env_disabled", None)
            monkeypatch.setattr(provider, "_manual_disabled", None)
        else:  # read when the provider was made, at import
            monkeypatch.setattr(provider, "_disabled", True)
    recorder = _sdk_view(server, run_config)
    assert recorder.started == [] and recorder.traces == 0  # the switch means what the SDK says
    assert traced.shape() == tool_loop_shape(llm_name(traced))  # and we see the run all the same


# -- content, patching, versions ----------------------------------------------------------------


def test_content_capture_off(traced: Any, server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from weave_agent.export import telemetry

    settings = telemetry.settings()
    monkeypatch.setattr(settings, "capture_content", "no_content")
    asyncio.run(Runner.run(weather_agent(responses_model(server)), "What is the weather in Paris?"))
    assert traced.shape() == tool_loop_shape(llm_name(traced))
    for span in traced.finished():
        attrs = span.attributes or {}
        assert not {"gen_ai.tool.call.arguments", "gen_ai.tool.call.result", "gen_ai.input.messages",
                    "gen_ai.output.messages"} & set(attrs)
        assert "Sunny" not in json.dumps(dict(attrs), default=str)


def _targets() -> dict[str, Any]:
    import agents.run as run_module
    import agents.tracing.spans as span_module

    found = {"AgentRunner.%s" % m: vars(run_module.AgentRunner)[m] for m in ("run", "run_streamed")}
    for cls in ("SpanImpl", "NoOpSpan"):
        for m in ("start", "finish", "set_error", "__exit__"):
            found["%s.%s" % (cls, m)] = vars(getattr(span_module, cls))[m]
    return found


def test_undo_restores_the_originals(spans: Any, server: Any) -> None:
    from weave_agent import patch, unpatch

    before = _targets()
    patch(openai_agents=True)
    try:
        during = _targets()
        assert all(during[k] is not before[k] and during[k].__wrapped__ is before[k] for k in before)
    finally:
        unpatch("openai_agents")
    assert _targets() == before and all(_targets()[k] is before[k] for k in before)
    asyncio.run(Runner.run(weather_agent(responses_model(server)), "What is the weather in Paris?"))
    assert spans.finished() == []


def test_outside_the_range_declines_with_one_debug_line(
    spans: Any, instrumentation: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    server: Any,
) -> None:
    from weave_agent.hook import arming

    before = _targets()
    from weave_agent.instrumentations.registry import INSTRUMENTATIONS

    declared = next(row[4] for row in INSTRUMENTATIONS if row[0] == "openai_agents")
    monkeypatch.setattr(arming, "installed_version", lambda dist: "0.0.19" if dist == "openai-agents" else None)
    with caplog.at_level(logging.DEBUG, logger="weave_agent"):
        instrumentation("openai_agents")
    assert _targets() == before
    lines = [r.getMessage() for r in caplog.records if "openai-agents" in r.getMessage()]
    assert lines == ["weave-agent: openai-agents 0.0.19 is not supported (supported: %s): not patched" % declared]
    asyncio.run(Runner.run(weather_agent(responses_model(server)), "What is the weather in Paris?"))
    assert spans.finished() == []


# -- a whole app under weave-run: nothing leaves, no wait at exit -----------------------------------

_APP = r"""
import asyncio, sys, time

def audit(event, args):
    if event == "socket.connect":
        sys.stderr.write("CONNECT %r\n" % (args[1],))
        sys.stderr.flush()

sys.addaudithook(audit)
import agents, openai
from agents import Agent, OpenAIResponsesModel, Runner, function_tool

if {disable}:
    agents.set_tracing_disabled(True)

@function_tool
def get_weather(city: str) -> str:
    '''The weather in a city.'''
    return "Sunny, 21 C in %s" % city

client = openai.AsyncOpenAI(base_url={base_url!r}, api_key="sk-test-agents-0123456789abcdef", max_retries=0)
agent = Agent(name="Assistant", model=OpenAIResponsesModel(model="gpt-4o-mini", openai_client=client),
              tools=[get_weather])
print(Runner.run_sync(agent, "What is the weather in Paris?").final_output)
sys.stderr.write("RUN DONE %f\n" % time.monotonic())
"""


def _run_app(tmp_path: Path, server: Any, traced: bool, disable: bool, key: str | None) -> tuple[list[str], list[str], float]:
    import subprocess
    import time

    repo = HERE.parents[2]
    tmp_path.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("WEAVE_AGENT_", "OTEL_", "PYTHON", "PYTEST_", "OPENAI_"))}
    env.update(WEAVE_AGENT_EXPORTER="file", WEAVE_AGENT_TRACES_DIR=str(tmp_path), WEAVE_AGENT_QUIET="true")
    if traced:
        env["PYTHONPATH"] = str(repo / "sitecustomize_shim")
    if key is not None:
        env["OPENAI_API_KEY"] = key
    code = _APP.format(disable=disable, base_url=server.openai_base_url)
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    ended = time.monotonic()
    assert done.returncode == 0, done.stderr
    assert "Sunny, 21 C" in done.stdout
    connects = [line for line in done.stderr.splitlines() if line.startswith("CONNECT")]
    run_done = [float(line.split()[2]) for line in done.stderr.splitlines() if line.startswith("RUN DONE")]
    names = []
    for path in tmp_path.glob("traces-*.jsonl"):
        for line in path.read_text().splitlines():
            for rs in json.loads(line).get("resourceSpans", ()):
                for ss in rs.get("scopeSpans", ()):
                    names += [span["name"] for span in ss.get("spans", ())]
    return connects, names, ended - run_done[0]


@pytest.mark.slow
@pytest.mark.parametrize("disable, key", [(False, None), (True, "sk-app-key-0123456789abcdef")],
                         ids=["sdk-tracing-on-no-key", "sdk-tracing-off-key-set"])
def test_an_app_under_weave_run_sends_nothing_new(tmp_path: Path, server: Any, disable: bool, key: str | None) -> None:
    under, names, exit_wait = _run_app(tmp_path / "traced", server, traced=True, disable=disable, key=key)
    # every connection the app made went to the fake (the SDK's traces were not uploaded: no
    # key it knows of, or its tracing off), and the agent's file exporter opened none
    assert under and set(under) == {"CONNECT ('127.0.0.1', %d)" % server.port}
    # Nothing was uploaded (above), so nothing was retried either: a refused upload costs the
    # SDK ~7 s of retries at exit. (The SDK's own processor still joins its worker thread.)
    assert exit_wait < 6.5
    assert sorted(names) == sorted([WORKFLOW, "invoke_agent Assistant", "execute_tool get_weather"]
                                   + ["chat " + MODEL] * 2)
