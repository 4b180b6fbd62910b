"""The CrewAI instrumentation, through real ``crewai`` and the real OpenAI SDK (2.x here)
against the local fake OpenAI API on 127.0.0.1 (``fake_crewai_server.py``).

Runs in CrewAI's own test environment (``WEAVE_AGENT_TEST_ENVIRONMENT=crewai``: CrewAI needs
``openai<3`` and ``mcp<2``). Every run asserts the exact span tree (``spans.shape()``): the
crew, each agent's task, the model calls (the OpenAI instrumentation's spans) under the agent
that made them, the tools; usage on exactly one span per model call.

CrewAI's telemetry is switched off the way its users switch it off
(``CREWAI_DISABLE_TELEMETRY``, in ``conftest.py``), except in the tests about that telemetry,
which keep what it records in memory. Each agent gets an ``LLM`` of its own: agents sharing one ``LLM`` make
CrewAI count that LLM's requests twice in its own usage figures.
"""

from __future__ import annotations

import asyncio
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
from crewai import LLM, Agent, Crew, Task
from crewai.tools import tool
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from weave_agent.testing import load_module

HERE = Path(__file__).resolve().parent


FakeOpenAIServer = load_module("weave_tests_crewai_fake", HERE / "fake_crewai_server.py").FakeOpenAIServer

MODEL = "gpt-4o-mini"
CHAT = "chat " + MODEL
KEY = "sk-test-crewai-0123456789abcdef"
CREW = "invoke_workflow crew"
RESEARCHER = "invoke_agent Researcher"
WRITER = "invoke_agent Writer"
TOOL = "execute_tool get_weather"

CREW_SHAPE = [
    (CREW, 0),
    (RESEARCHER, 1),
    (CHAT, 2),
    (TOOL, 2),
    (CHAT, 2),
    (WRITER, 1),
    (CHAT, 2),
]


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    with FakeOpenAIServer(lifetime=300) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in list(os.environ):
        if var.startswith(("OPENAI_", "AZURE_OPENAI_")):
            monkeypatch.delenv(var, raising=False)


@pytest.fixture
def traced(spans: Any, instrumentation: Any) -> Any:
    instrumentation("openai")
    instrumentation("crewai")
    return spans


@tool("get_weather")
def get_weather(city: str) -> str:
    """The weather in a city."""
    return "Sunny, 21 C in %s" % city


@tool("broken_weather")
def broken_weather(city: str) -> str:
    """A weather tool that fails."""
    raise ValueError("the weather service is down")


def llm(server: Any, key: str = KEY, **kwargs: Any) -> Any:
    return LLM(model=MODEL, base_url=server.openai_base_url, api_key=key, max_retries=0, **kwargs)


def researcher(server: Any, key: str = KEY, tools: list[Any] | None = None, **kwargs: Any) -> Agent:
    return Agent(role="Researcher", goal="Find the weather", backstory="A meteorologist.", llm=llm(server, key),
                 tools=[get_weather] if tools is None else tools, verbose=False, **kwargs)


def writer(server: Any, key: str = KEY) -> Agent:
    return Agent(role="Writer", goal="Write one line", backstory="A poet.", llm=llm(server, key), verbose=False)


def crew(server: Any, key: str = KEY, tools: list[Any] | None = None, **kwargs: Any) -> Crew:
    r, w = researcher(server, key, tools, **kwargs.pop("agent_kwargs", {})), writer(server, key)
    tasks = [
        Task(description="What is the weather in Paris?", expected_output="The weather.", agent=r),
        Task(description="Write one line about it.", expected_output="One line.", agent=w),
    ]
    return Crew(agents=[r, w], tasks=tasks, verbose=False, **kwargs)


def assert_usage_once(spans: Any, model_calls: int) -> None:
    with_usage = [s for s in spans.finished() if (s.attributes or {}).get("gen_ai.usage.input_tokens") is not None]
    assert len(with_usage) == model_calls
    assert all(s.kind is SpanKind.CLIENT and s.name == CHAT for s in with_usage)  # the OpenAI SDK's spans only
    total_in = sum(s.attributes["gen_ai.usage.input_tokens"] for s in with_usage)
    counted = spans.metric_points("gen_ai.client.inference.usage.input_tokens")
    assert counted and sum(p.value for p in counted) == total_in  # the token metric counts each call once


def check_crew(spans: Any, output: Any) -> None:
    assert isinstance(output.raw, str) and output.raw
    assert spans.shape() == CREW_SHAPE
    assert_usage_once(spans, 3)
    root = spans.one(CREW)
    assert root.kind is SpanKind.INTERNAL
    assert root.attributes["gen_ai.operation.name"] == "invoke_workflow"
    assert root.attributes["crewai.crew.process"] == "sequential"
    assert root.attributes["output.value"] == output.raw
    for name, role in ((RESEARCHER, "Researcher"), (WRITER, "Writer")):
        agent = spans.one(name)
        assert agent.kind is SpanKind.INTERNAL
        assert agent.attributes["gen_ai.operation.name"] == "invoke_agent"
        assert agent.attributes["gen_ai.agent.name"] == role
        assert agent.attributes["gen_ai.provider.name"] == "openai"
        assert agent.attributes["gen_ai.request.model"] == MODEL
        assert not any(k.startswith("gen_ai.usage.") for k in agent.attributes)
    assert spans.one(RESEARCHER).attributes["input.value"] == "What is the weather in Paris?"
    assert spans.one(WRITER).attributes["output.value"] == output.raw
    tool_span = spans.one(TOOL)
    assert tool_span.kind is SpanKind.INTERNAL
    assert tool_span.attributes["gen_ai.operation.name"] == "execute_tool"
    assert tool_span.attributes["gen_ai.tool.name"] == "get_weather"
    assert tool_span.attributes["gen_ai.tool.type"] == "function"
    assert set(json.loads(tool_span.attributes["gen_ai.tool.call.arguments"])) == {"city"}
    assert tool_span.attributes["gen_ai.tool.call.result"].startswith("Sunny, 21 C in")
    assert all(s.status.status_code is not StatusCode.ERROR for s in spans.finished())
    assert len({s.context.trace_id for s in spans.finished()}) == 1


# -- the entry points -------------------------------------------------------------------------------


def test_kickoff_two_agents_and_a_tool(traced: Any, server: Any, connections: list[Any]) -> None:
    check_crew(traced, crew(server).kickoff())
    assert connections and all(a == ("127.0.0.1", server.port) for a in connections)


def test_kickoff_async_runs_kickoff_in_a_thread(traced: Any, server: Any) -> None:
    check_crew(traced, asyncio.run(crew(server).kickoff_async()))


def test_akickoff_native_async(traced: Any, server: Any) -> None:
    check_crew(traced, asyncio.run(crew(server).akickoff()))


def test_kickoff_for_each_one_tree_per_input(traced: Any, server: Any) -> None:
    outputs = crew(server).kickoff_for_each(inputs=[{}, {}])
    assert len(outputs) == 2
    roots = traced.named(CREW)
    assert len(roots) == 2 and len({s.context.trace_id for s in roots}) == 2
    assert traced.shape() == CREW_SHAPE * 2
    assert_usage_once(traced, 6)


def test_an_agent_on_its_own(traced: Any, server: Any) -> None:
    result = researcher(server).kickoff("What is the weather in Paris?")
    assert result.raw
    assert traced.shape() == [(RESEARCHER, 0), (CHAT, 1), (TOOL, 1), (CHAT, 1)]
    assert_usage_once(traced, 2)
    assert traced.one(RESEARCHER).attributes["output.value"] == result.raw


def test_an_agent_on_its_own_async(traced: Any, server: Any) -> None:
    result = asyncio.run(researcher(server).kickoff_async("What is the weather in Paris?"))
    assert result.raw
    assert traced.shape() == [(RESEARCHER, 0), (CHAT, 1), (TOOL, 1), (CHAT, 1)]


def test_under_an_app_span(traced: Any, server: Any) -> None:
    from weave_agent import op

    @op(name="handle")
    def handle() -> Any:
        return crew(server).kickoff()

    handle()
    assert traced.shape() == [("handle", 0)] + [(name, depth + 1) for name, depth in CREW_SHAPE]


# -- streaming crews ---------------------------------------------------------------------------------


def test_streaming_crew_exhausted(traced: Any, server: Any) -> None:
    streaming = crew(server, stream=True).kickoff()
    chunks, current = [], []
    for chunk in streaming:
        chunks.append(chunk)
        current.append(trace.get_current_span())  # the app's span between chunks: never ours
    assert chunks
    assert all(not s.get_span_context().is_valid for s in current)
    assert traced.shape() == CREW_SHAPE
    assert_usage_once(traced, 3)
    assert all(s.attributes.get("gen_ai.request.stream") is True for s in traced.named(CHAT))


def test_streaming_crew_left_early_still_ends_every_span(traced: Any, server: Any) -> None:
    streaming = crew(server, stream=True).kickoff()
    for _chunk in streaming:
        break
    streaming.close() if hasattr(streaming, "close") else None
    # CrewAI's thread finishes the crew; each span ends once, in one tree
    import time

    for _ in range(100):
        if len(traced.named(CREW)) == 1:
            break
        time.sleep(0.05)
    names = [n for n, _ in traced.shape()]
    assert names[0] == CREW and names.count(CREW) == 1
    assert len({s.context.span_id for s in traced.finished()}) == len(traced.finished())


# -- errors ----------------------------------------------------------------------------------------


def test_api_error_is_the_very_exception(traced: Any, server: Any) -> None:
    with pytest.raises(openai.AuthenticationError):
        crew(server, key="sk-invalid-crewai-0123456789", agent_kwargs={"max_retry_limit": 0}).kickoff()
    assert traced.shape() == [(CREW, 0), (RESEARCHER, 1), (CHAT, 2)]
    for name, error_type in ((CREW, "AuthenticationError"), (RESEARCHER, "AuthenticationError"), (CHAT, "401")):
        span = traced.one(name)
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes["error.type"] == error_type
    assert "sk-invalid-crewai-0123456789" not in json.dumps(
        [dict(s.attributes or {}) for s in traced.finished()] + [s.status.description for s in traced.finished()])


def test_a_tasks_retries_stay_in_its_agent_span(traced: Any, server: Any) -> None:
    with pytest.raises(openai.AuthenticationError):
        crew(server, key="sk-invalid-crewai-0123456789", agent_kwargs={"max_retry_limit": 1}).kickoff()
    # CrewAI runs execute_task again from inside the failed one: one agent span, two attempts
    assert traced.shape() == [(CREW, 0), (RESEARCHER, 1), (CHAT, 2), (CHAT, 2)]


def test_a_failing_tool_is_an_error_span(traced: Any, server: Any) -> None:
    r = researcher(server, tools=[broken_weather])
    result = r.kickoff("What is the weather in Paris?")
    assert result.raw  # CrewAI hands the tool's error to the model and goes on
    assert traced.shape() == [(RESEARCHER, 0), (CHAT, 1), ("execute_tool broken_weather", 1), (CHAT, 1)]
    failed = traced.one("execute_tool broken_weather")
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes["error.type"] == "ValueError"
    assert traced.one(RESEARCHER).status.status_code is StatusCode.UNSET


# -- CrewAI's own telemetry ----------------------------------------------------------------------------


@pytest.fixture
def crewai_telemetry(monkeypatch: pytest.MonkeyPatch) -> Any:
    """CrewAI's telemetry switched on, as it is by default, with the provider CrewAI builds for
    it (its own, not the global one) exporting to memory instead of telemetry.crewai.com."""
    from crewai.telemetry.telemetry import Telemetry
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    for var in ("CREWAI_DISABLE_TELEMETRY", "CREWAI_DISABLE_TRACKING", "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(var, raising=False)
    singleton = Telemetry()  # made at import, with the switch on: not ready
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    monkeypatch.setattr(singleton, "provider", provider, raising=False)
    monkeypatch.setattr(singleton, "ready", True)
    return memory


def _crewai_view(server: Any, memory: Any) -> list[tuple[str, bool]]:
    from crewai.events.event_bus import crewai_event_bus

    crew(server).kickoff()
    assert crewai_event_bus.flush()  # its listeners (some telemetry calls) run on the bus's pool
    return sorted((s.name, s.parent is not None) for s in memory.get_finished_spans())


def test_crewais_telemetry_records_what_it_does_without_us(
    spans: Any, instrumentation: Any, server: Any, crewai_telemetry: Any,
) -> None:
    without = _crewai_view(server, crewai_telemetry)
    assert without  # CrewAI's telemetry is on
    crewai_telemetry.clear()
    instrumentation("openai")
    instrumentation("crewai")
    with_us = _crewai_view(server, crewai_telemetry)
    assert with_us == without  # the same spans, none hung from one of ours
    ours = {s.context.trace_id for s in spans.finished()}
    assert spans.shape() == CREW_SHAPE
    assert not ours & {s.context.trace_id for s in crewai_telemetry.get_finished_spans()}
    assert all(s.instrumentation_scope.name != "crewai.telemetry" for s in spans.finished())


# -- content, patching, versions ---------------------------------------------------------------------


def test_content_capture_off(traced: Any, server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from weave_agent.export import telemetry

    monkeypatch.setattr(telemetry.settings(), "capture_content", "no_content")
    crew(server).kickoff()
    assert traced.shape() == CREW_SHAPE
    for span in traced.finished():
        attrs = dict(span.attributes or {})
        assert not {"gen_ai.tool.call.arguments", "gen_ai.tool.call.result", "input.value", "output.value",
                    "gen_ai.agent.description", "gen_ai.input.messages", "gen_ai.output.messages"} & set(attrs)
        assert "Sunny" not in json.dumps(attrs, default=str)
        assert "Paris" not in json.dumps(attrs, default=str)


def _targets() -> dict[str, Any]:
    import crewai.agent.core as agent_module
    import crewai.crew as crew_module
    import crewai.telemetry.telemetry as telemetry_module
    import crewai.tools.base_tool as tool_module
    import crewai.tools.structured_tool as structured_module

    found: dict[str, Any] = {}
    for module, cls, methods in (
        (crew_module, "Crew", ("kickoff", "akickoff")),
        (agent_module, "Agent", ("execute_task", "aexecute_task", "kickoff", "kickoff_async", "akickoff")),
        (tool_module, "BaseTool", ("run", "arun")),
        (tool_module, "Tool", ("run", "arun")),
        (structured_module, "CrewStructuredTool", ("invoke", "ainvoke")),
        (telemetry_module, "Telemetry", ("_safe_telemetry_operation",)),
    ):
        for m in methods:
            found["%s.%s" % (cls, m)] = vars(getattr(module, cls))[m]
    return found


def test_undo_restores_the_originals(spans: Any, server: Any) -> None:
    from weave_agent import patch, unpatch

    before = _targets()
    patch(crewai=True)
    try:
        during = _targets()
        assert all(during[k] is not before[k] and during[k].__wrapped__ is before[k] for k in before)
    finally:
        unpatch("crewai")
    assert _targets() == before and all(_targets()[k] is before[k] for k in before)
    crew(server).kickoff()
    assert spans.finished() == []


def test_outside_the_range_declines_with_one_debug_line(
    spans: Any, instrumentation: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    server: Any,
) -> None:
    from weave_agent.hook import arming
    from weave_agent.instrumentations.registry import INSTRUMENTATIONS

    before = _targets()
    declared = next(row[4] for row in INSTRUMENTATIONS if row[0] == "crewai")
    monkeypatch.setattr(arming, "installed_version", lambda dist: "1.15.14" if dist == "crewai" else None)
    with caplog.at_level(logging.DEBUG, logger="weave_agent"):
        instrumentation("crewai")
    assert _targets() == before
    lines = [r.getMessage() for r in caplog.records if "crewai" in r.getMessage()]
    assert lines == ["weave-agent: crewai 1.15.14 is not supported (supported: %s): not patched" % declared]
    crew(server).kickoff()
    assert spans.finished() == []


# -- a whole app under weave-run: nothing leaves but what CrewAI sends itself ----------------------------

_APP = r"""
import sys

def audit(event, args):
    if event == "socket.getaddrinfo" and args[0] not in ("127.0.0.1", "localhost"):
        sys.stderr.write("RESOLVE %r\n" % (args[0],))
        sys.stderr.flush()
        raise OSError("no network in this test: %s" % (args[0],))
    if event == "socket.connect":
        sys.stderr.write("CONNECT %r\n" % (args[1],))
        sys.stderr.flush()

sys.addaudithook(audit)
from crewai import LLM, Agent, Crew, Task
from crewai.tools import tool

@tool("get_weather")
def get_weather(city: str) -> str:
    '''The weather in a city.'''
    return "Sunny, 21 C in %s" % city

def llm():
    return LLM(model="gpt-4o-mini", base_url={base_url!r}, api_key="sk-test-crewai-0123456789abcdef", max_retries=0)

r = Agent(role="Researcher", goal="Find the weather", backstory="A meteorologist.", llm=llm(), tools=[get_weather])
w = Agent(role="Writer", goal="Write one line", backstory="A poet.", llm=llm())
crew = Crew(agents=[r, w], tasks=[
    Task(description="What is the weather in Paris?", expected_output="The weather.", agent=r),
    Task(description="Write one line about it.", expected_output="One line.", agent=w),
])
print("OUTPUT", bool(crew.kickoff().raw))
"""


def _run_app(tmp_path: Path, server: Any, switches: dict[str, str]) -> tuple[list[str], list[str], list[str]]:
    repo = HERE.parents[2]
    tmp_path.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("WEAVE_AGENT_", "OTEL_", "PYTHON", "PYTEST_", "OPENAI_", "CREWAI_"))}
    env.update(WEAVE_AGENT_EXPORTER="file", WEAVE_AGENT_TRACES_DIR=str(tmp_path), WEAVE_AGENT_QUIET="true",
               PYTHONPATH=str(repo / "sitecustomize_shim"), **switches)
    done = subprocess.run([sys.executable, "-c", _APP.format(base_url=server.openai_base_url)], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "OUTPUT True" in done.stdout
    lines = done.stderr.splitlines()
    names = []
    for path in tmp_path.glob("traces-*.jsonl"):
        for line in path.read_text().splitlines():
            for rs in json.loads(line).get("resourceSpans", ()):
                for ss in rs.get("scopeSpans", ()):
                    names += [span["name"] for span in ss.get("spans", ())]
    return ([x for x in lines if x.startswith("CONNECT")], [x for x in lines if x.startswith("RESOLVE")],
            sorted(names))


@pytest.mark.slow
def test_an_app_under_weave_run_with_crewais_telemetry_off_sends_nothing(tmp_path: Path, server: Any) -> None:
    # (CREWAI_DISABLE_TRACKING and OTEL_SDK_DISABLED are read by the same CrewAI check)
    connects, resolves, names = _run_app(tmp_path / "app", server,
                                         {"CREWAI_DISABLE_TELEMETRY": "true", "CREWAI_TRACING_ENABLED": "false"})
    # every connection went to the fake; nothing resolved another host, not even at exit
    assert connects and set(connects) == {"CONNECT ('127.0.0.1', %d)" % server.port}
    assert resolves == []
    assert names == sorted([CREW, RESEARCHER, WRITER, TOOL] + [CHAT] * 3)


@pytest.mark.slow
def test_with_otel_sdk_disabled_neither_crewai_nor_we_export(tmp_path: Path, server: Any) -> None:
    connects, resolves, names = _run_app(tmp_path / "app", server, {"OTEL_SDK_DISABLED": "true"})
    assert set(connects) == {"CONNECT ('127.0.0.1', %d)" % server.port}
    assert resolves == []
    assert names == []  # the user switched OpenTelemetry off: ours too


def test_a_rate_limited_model_call_is_one_span_per_attempt(traced: Any, server: Any) -> None:
    # CrewAI retries a 429 itself, with backoff (three attempts, about 3 s), whatever
    # max_retry_limit says: each attempt is one HTTP model call, so one chat span, all under
    # the one agent span; the app gets the SDK's exception.
    from weave_tests_openai_fake_server import BEHAVIOR_HEADER  # loaded by fake_crewai_server.py

    agent = Agent(role="Researcher", goal="Find the weather", backstory="A meteorologist.", verbose=False,
                  max_retry_limit=0, llm=llm(server, default_headers={BEHAVIOR_HEADER: "rate_limit"}))
    server_requests_before = len(server.requests)
    with pytest.raises(openai.RateLimitError):
        agent.kickoff("What is the weather in Paris?")
    shape = traced.shape()
    assert shape[0] == (RESEARCHER, 0) and len(shape) > 2  # the retries happened, each traced
    assert shape[1:] == [(CHAT, 1)] * (len(shape) - 1)
    assert len(traced.named(CHAT)) == len(server.requests) - server_requests_before
    assert all(s.attributes["error.type"] == "429" for s in traced.named(CHAT))
    assert traced.one(RESEARCHER).attributes["error.type"] == "RateLimitError"


def test_agents_sharing_one_llm_are_counted_once_per_model_call(traced: Any, server: Any) -> None:
    # CrewAI sums each agent's LLM usage: agents sharing one LLM object count its requests twice
    # in CrewAI's own figures. The spans count what was sent: three model calls.
    shared = llm(server)
    r = Agent(role="Researcher", goal="Find the weather", backstory="A meteorologist.", llm=shared,
              tools=[get_weather], verbose=False)
    w = Agent(role="Writer", goal="Write one line", backstory="A poet.", llm=shared, verbose=False)
    c = Crew(agents=[r, w], verbose=False, tasks=[
        Task(description="What is the weather in Paris?", expected_output="The weather.", agent=r),
        Task(description="Write one line about it.", expected_output="One line.", agent=w),
    ])
    before = len(server.requests)
    c.kickoff()
    assert len(server.requests) - before == 3
    assert traced.shape() == CREW_SHAPE
    assert_usage_once(traced, 3)
    # (crewai 1.15.30's own usage_metrics say 6 requests and twice these prompt tokens)
