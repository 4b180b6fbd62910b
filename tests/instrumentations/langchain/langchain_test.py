"""The LangChain instrumentation, through real langchain-core, langchain-openai,
langchain-anthropic and LangGraph, with the vendor HTTP replayed from cassettes (record
mode none; ``record_cassettes.py`` recorded them against the local fake APIs).

Every test asserts the exact span tree (``spans.shape()``) and that each model call's
token usage is on exactly one span and in the token metric once.
"""

from __future__ import annotations

import asyncio
import json
import os
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


sc = load_module("weave_tests_langchain_scenarios", HERE / "scenarios.py")
MATCH_ON = ("method", "scheme", "host", "port", "path", "query")
GPT_CHAT = "chat " + sc.GPT
CLAUDE_CHAT = "chat " + sc.CLAUDE

CHAIN_SHAPE = [
    ("RunnableSequence", 0),
    ("ChatPromptTemplate", 1),
    (GPT_CHAT, 1),  # LangChain's chat-model run
    (GPT_CHAT, 2),  # the OpenAI SDK call under it
    ("StrOutputParser", 1),
]


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in list(os.environ):
        if var.startswith(("OPENAI_", "ANTHROPIC_", "LANGCHAIN_", "LANGSMITH_", "AZURE_OPENAI_")):
            monkeypatch.delenv(var, raising=False)


@pytest.fixture
def traced(spans: Any, instrumentation: Any) -> Any:
    instrumentation("langchain")
    instrumentation("openai")
    instrumentation("anthropic")
    return spans


@contextmanager
def replay(name: str) -> Iterator[Any]:
    recorder = vcr.VCR(record_mode="none", match_on=MATCH_ON)
    with recorder.use_cassette(str(HERE / "cassettes" / f"{name}.yaml")) as cassette:
        yield cassette


def usage_spans(spans: Any) -> list[Any]:
    return [s for s in spans.finished() if "gen_ai.usage.input_tokens" in (s.attributes or {})]


def assert_usage_once(spans: Any, calls: int) -> None:
    """Each model call's tokens on one span and in the token metric once."""
    carriers = usage_spans(spans)
    assert len(carriers) == calls, [s.name for s in carriers]
    for direction, attr in (("input", "gen_ai.usage.input_tokens"), ("output", "gen_ai.usage.output_tokens")):
        total = sum(s.attributes[attr] for s in carriers)
        per_call = spans.metric_points("gen_ai.client.inference.operation.%s_tokens" % direction)
        assert sum(p.count for p in per_call) == calls  # one point per model call
        assert sum(p.sum for p in per_call) == total
        counted = spans.metric_points("gen_ai.client.inference.usage.%s_tokens" % direction)
        assert sum(p.value for p in counted) == total


def assert_openai_nesting(spans: Any) -> None:
    """Every OpenAI SDK span is a child of a LangChain chat-model span, and holds the usage."""
    by_id = {s.context.span_id: s for s in spans.finished()}
    sdk = [s for s in spans.named(GPT_CHAT) if "server.address" in s.attributes]
    lc = [s for s in spans.named(GPT_CHAT) if "server.address" not in s.attributes]
    assert sdk and len(sdk) == len(lc)
    for s in sdk:
        parent = by_id[s.parent.span_id]
        assert parent in lc
        assert s.kind is SpanKind.CLIENT and parent.kind is SpanKind.CLIENT
        assert s.attributes["gen_ai.usage.input_tokens"] > 0
        assert not [k for k in parent.attributes if k.startswith("gen_ai.usage.")]
    for s in lc:
        assert s.attributes["gen_ai.operation.name"] == "chat"
        assert s.attributes["gen_ai.provider.name"] == "openai"
        assert s.attributes["gen_ai.request.model"] == sc.GPT
        assert s.attributes["gen_ai.response.model"].startswith(sc.GPT)
        assert s.attributes["gen_ai.request.temperature"] == 0


def assert_no_context_leak() -> None:
    assert not trace.get_current_span().get_span_context().is_valid


# --- prompt | model | parser -----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
def test_prompt_model_parser(traced: Any, mode: str) -> None:
    chain = sc.prompt_chain()
    with replay("chain"):
        if mode == "invoke":
            text = chain.invoke({"topic": "otters"})
        else:
            text = asyncio.run(chain.ainvoke({"topic": "otters"}))
    assert isinstance(text, str) and text
    assert traced.shape() == CHAIN_SHAPE
    assert_openai_nesting(traced)
    assert_usage_once(traced, 1)
    assert_no_context_leak()
    root = traced.one("RunnableSequence")
    assert root.kind is SpanKind.INTERNAL
    assert json.loads(root.attributes["output.value"]) == text
    model_span = next(s for s in traced.named(GPT_CHAT) if "server.address" not in s.attributes)
    messages = json.loads(model_span.attributes["gen_ai.input.messages"])
    # the prompt's system message stays in the chat history, in its place
    assert messages == [
        {"role": "system", "parts": [{"type": "text", "content": "You answer in one short sentence."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Tell me a fact about otters."}]},
    ]
    assert "gen_ai.system_instructions" not in model_span.attributes
    assert model_span.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    # one duration point: the SDK span's
    assert sum(p.count for p in traced.metric_points("gen_ai.client.inference.duration")) == 1


# --- a tool-calling agent loop ---------------------------------------------------------------

TOOLS_SHAPE = [
    ("agent", 0),
    (GPT_CHAT, 1),
    (GPT_CHAT, 2),
    ("execute_tool get_weather", 1),
    (GPT_CHAT, 1),
    (GPT_CHAT, 2),
]


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
def test_tool_calling_agent_loop(traced: Any, mode: str) -> None:
    agent = sc.agent_loop([sc.get_weather])
    with replay("tools"):
        if mode == "invoke":
            answer = agent.invoke("What is the weather in Paris?")
        else:
            answer = asyncio.run(agent.ainvoke("What is the weather in Paris?"))
    assert "Sunny and 22 C in Paris" in answer
    assert traced.shape() == TOOLS_SHAPE
    assert_openai_nesting(traced)
    assert_usage_once(traced, 2)
    assert_no_context_leak()
    tool = traced.one("execute_tool get_weather")
    assert tool.kind is SpanKind.INTERNAL
    assert tool.status.status_code is StatusCode.UNSET
    attrs = tool.attributes
    assert attrs["gen_ai.operation.name"] == "execute_tool"
    assert attrs["gen_ai.tool.name"] == "get_weather"
    assert attrs["gen_ai.tool.description"] == "Get the current weather for a city."
    assert attrs["gen_ai.tool.call.id"].startswith("call_")
    assert json.loads(attrs["gen_ai.tool.call.arguments"]) == {"city": "Paris"}
    assert json.loads(attrs["gen_ai.tool.call.result"]) == "Sunny and 22 C in Paris"
    # the first model call asked for exactly that tool call
    first = [s for s in traced.named(GPT_CHAT) if "server.address" not in s.attributes][0]
    assert first.attributes["gen_ai.response.finish_reasons"] == ("tool_call",)
    out = json.loads(first.attributes["gen_ai.output.messages"])
    call = out[0]["parts"][-1]
    assert call["type"] == "tool_call" and call["id"] == attrs["gen_ai.tool.call.id"]
    (tool,) = json.loads(first.attributes["gen_ai.tool.definitions"])  # the conventions' shape, not OpenAI's
    assert (tool["type"], tool["name"]) == ("function", "get_weather") and tool["parameters"]["type"] == "object"


# --- an exception inside a tool ----------------------------------------------------------------


def test_tool_exception(traced: Any) -> None:
    with replay("tool_error"), pytest.raises(ValueError, match="the quote service is down") as info:
        sc.agent_loop([sc.get_stock_price]).invoke("What is the price of ACME?")
    assert type(info.value) is ValueError
    assert traced.shape() == [
        ("agent", 0),
        (GPT_CHAT, 1),
        (GPT_CHAT, 2),
        ("execute_tool get_stock_price", 1),
    ]
    assert_usage_once(traced, 1)
    assert_no_context_leak()
    tool = traced.one("execute_tool get_stock_price")
    assert tool.status.status_code is StatusCode.ERROR
    assert tool.attributes["error.type"] == "ValueError"
    assert [e.name for e in tool.events] == ["exception"]
    agent = traced.one("agent")
    assert agent.status.status_code is StatusCode.ERROR


def test_tool_exception_same_without_agent(spans: Any) -> None:
    """The exception the app sees is the one it sees without the agent."""
    with replay("tool_error"), pytest.raises(ValueError, match="the quote service is down"):
        sc.agent_loop([sc.get_stock_price]).invoke("What is the price of ACME?")
    assert spans.finished() == []


# --- a retriever over an InMemoryVectorStore ---------------------------------------------------------

RETRIEVAL_SHAPE = [
    ("RunnableSequence", 0),
    ("RunnableParallel<context,question>", 1),
    ("RunnableSequence", 2),
    ("retrieval", 3),
    ("join", 3),
    ("RunnablePassthrough", 2),
    ("ChatPromptTemplate", 1),
    (GPT_CHAT, 1),
    (GPT_CHAT, 2),
    ("StrOutputParser", 1),
]


def _sorted_shape(spans: Any) -> list[tuple[str, int]]:
    # RunnableParallel runs its branches in a thread pool: their start order varies.
    shape = spans.shape()
    head, branches, tail = shape[:2], shape[2:6], shape[6:]
    groups: list[list[tuple[str, int]]] = []
    for item in branches:
        if item[1] == 2:
            groups.append([item])
        else:
            groups[-1].append(item)
    groups.sort(key=lambda g: g[0][0], reverse=True)  # RunnableSequence before RunnablePassthrough
    return head + [i for g in groups for i in g] + tail


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
def test_retriever(traced: Any, mode: str) -> None:
    chain = sc.retrieval_chain()
    with replay("retrieval"):
        if mode == "invoke":
            text = chain.invoke("What do otters do?")
        else:
            text = asyncio.run(chain.ainvoke("What do otters do?"))
    assert text
    assert _sorted_shape(traced) == RETRIEVAL_SHAPE
    assert_openai_nesting(traced)
    assert_usage_once(traced, 1)
    retrieval = traced.one("retrieval")
    assert retrieval.kind is SpanKind.INTERNAL
    assert retrieval.attributes["gen_ai.operation.name"] == "retrieval"
    assert retrieval.attributes["gen_ai.retrieval.query.text"] == "What do otters do?"
    assert retrieval.attributes["gen_ai.retrieval.documents.count"] == 2
    docs = json.loads(retrieval.attributes["gen_ai.retrieval.documents"])
    assert len(docs) == 2
    known = {d.id: d.page_content for d in sc.DOCS}
    for doc in docs:
        assert known[doc["id"]] == doc["content"]
        assert set(doc["metadata"]) == {"source"}


# --- streaming ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["stream", "astream", "astream_events"])
def test_streamed_chain(traced: Any, mode: str) -> None:
    chain = sc.prompt_chain()

    async def consume_async() -> list[Any]:
        if mode == "astream":
            return [c async for c in chain.astream({"topic": "otters"})]
        return [
            e["data"]["chunk"]
            async for e in chain.astream_events({"topic": "otters"}, version="v2")
            if e["event"] == "on_chain_stream" and e["name"] == "RunnableSequence"
        ]

    with replay("stream"):
        chunks = list(chain.stream({"topic": "otters"})) if mode == "stream" else asyncio.run(consume_async())
    assert len(chunks) > 3 and "".join(chunks)
    assert traced.shape() == CHAIN_SHAPE
    assert_openai_nesting(traced)
    assert_usage_once(traced, 1)
    assert_no_context_leak()
    sdk = next(s for s in traced.named(GPT_CHAT) if "server.address" in s.attributes)
    assert sdk.attributes["gen_ai.request.stream"] is True
    lc = next(s for s in traced.named(GPT_CHAT) if "server.address" not in s.attributes)
    assert json.loads(lc.attributes["gen_ai.output.messages"])[0]["parts"][0]["content"] == "".join(chunks)


# --- batch with concurrency --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["batch", "abatch"])
def test_batch_with_concurrency(traced: Any, mode: str) -> None:
    chain = sc.prompt_chain()
    inputs = [{"topic": t} for t in sc.TOPICS]
    with replay("batch"):
        if mode == "batch":
            out = chain.batch(inputs, config={"max_concurrency": 2})
        else:
            out = asyncio.run(chain.abatch(inputs, config={"max_concurrency": 2}))
    assert len(out) == 3 and all(out)
    assert traced.shape() == CHAIN_SHAPE * 3  # three root runs, none nested in another
    assert_openai_nesting(traced)
    assert_usage_once(traced, 3)
    assert_no_context_leak()
    roots = {s.context.trace_id for s in traced.named("RunnableSequence")}
    assert len(roots) == 3


# --- a LangGraph graph of two nodes -------------------------------------------------------------------


GRAPH_SHAPE = [
    ("invoke_workflow LangGraph", 0),
    ("draft", 1),
    (CLAUDE_CHAT, 2),  # LangChain's ChatAnthropic run
    (CLAUDE_CHAT, 3),  # the Anthropic SDK call under it
    ("polish", 1),
]
# LangGraph sets a node's config in a context variable for what the node calls; an async
# graph can only do so through asyncio.create_task(context=...), new in Python 3.11. Before
# that, a model the node calls without its config has no parent run in LangChain, and its
# spans start a trace of their own (LangGraph's docs: pass the config on Python < 3.11).
GRAPH_SHAPE_UNLINKED = [
    ("invoke_workflow LangGraph", 0),
    ("draft", 1),
    ("polish", 1),
    (CLAUDE_CHAT, 0),
    (CLAUDE_CHAT, 1),
]


@pytest.mark.parametrize("mode", ["invoke", "ainvoke", "ainvoke_config_passed"])
def test_langgraph_two_nodes(traced: Any, mode: str) -> None:
    app = sc.graph(pass_config=mode == "ainvoke_config_passed")
    with replay("graph"):
        if mode == "invoke":
            state = app.invoke({"topic": "otters"})
        else:
            state = asyncio.run(app.ainvoke({"topic": "otters"}))
    assert state["final"] == state["draft"].strip().upper()
    if mode == "ainvoke" and sys.version_info < (3, 11):
        assert traced.shape() == GRAPH_SHAPE_UNLINKED
    else:
        assert traced.shape() == GRAPH_SHAPE
    assert_no_context_leak()
    graph = traced.one("invoke_workflow LangGraph")
    assert graph.kind is SpanKind.INTERNAL
    assert graph.attributes["gen_ai.operation.name"] == "invoke_workflow"
    assert graph.attributes["gen_ai.agent.name"] == "LangGraph"  # gen_ai.workflow.name before the merge
    assert "gen_ai.workflow.name" not in graph.attributes
    for step, node in enumerate(("draft", "polish"), start=1):
        span = traced.one(node)
        assert span.kind is SpanKind.INTERNAL
        assert span.attributes["langgraph.node"] == node
        assert span.attributes["langgraph.step"] == step
    lc, sdk = (s for s, _ in traced.tree() if s.name == CLAUDE_CHAT)
    assert sdk.parent.span_id == lc.context.span_id
    assert sdk.attributes["server.address"] == "api.anthropic.com"
    # ChatAnthropic reads a raw response (with_raw_response): the SDK span has no usage, so
    # the LangChain span carries the provider's counts, once.
    assert_usage_once(traced, 1)
    assert usage_spans(traced) == [lc]
    assert lc.attributes["gen_ai.usage.input_tokens"] == 11
    assert lc.attributes["gen_ai.usage.output_tokens"] == 20
    assert lc.attributes["gen_ai.provider.name"] == "anthropic"
    assert lc.attributes["gen_ai.response.finish_reasons"] == ("stop",)


# --- a model whose SDK is not instrumented --------------------------------------------------------------


def _fake_chain() -> Any:
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.output_parsers import StrOutputParser

    usage = {"input_tokens": 7, "output_tokens": 3, "total_tokens": 10}
    model = GenericFakeChatModel(messages=iter([AIMessage(content="hi there", usage_metadata=usage)] * 4))
    return sc.PROMPT | model | StrOutputParser()


def test_fake_model_records_usage_on_langchain_span(traced: Any) -> None:
    assert _fake_chain().invoke({"topic": "otters"}) == "hi there"
    assert traced.shape() == [("RunnableSequence", 0), ("ChatPromptTemplate", 1), ("chat", 1), ("StrOutputParser", 1)]
    span = traced.one("chat")
    assert span.kind is SpanKind.CLIENT
    # the fake model says nothing of why it stopped: the message says so, the attribute is left out
    assert [m["finish_reason"] for m in json.loads(span.attributes["gen_ai.output.messages"])] == ["unknown"]
    assert "gen_ai.response.finish_reasons" not in span.attributes
    assert span.attributes["gen_ai.usage.input_tokens"] == 7
    assert span.attributes["gen_ai.usage.output_tokens"] == 3
    assert_usage_once(traced, 1)
    assert sum(p.count for p in traced.metric_points("gen_ai.client.inference.duration")) == 1


def test_content_off(traced: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import weave_agent.lifecycle as lifecycle
    from weave_agent.export import telemetry
    from weave_agent.settings import Settings

    monkeypatch.setattr(
        lifecycle, "_settings", Settings.load({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "false"})
    )
    telemetry.reset()
    telemetry.use_providers(traced.provider, traced.meter_provider)
    with replay("tools"):
        sc.agent_loop([sc.get_weather]).invoke("What is the weather in Paris?")
    assert traced.shape() == TOOLS_SHAPE
    for span in traced.finished():
        keys = set(span.attributes)
        assert not keys & {"input.value", "output.value", "gen_ai.tool.call.arguments", "gen_ai.tool.call.result",
                           "gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.tool.definitions"}
    assert traced.one("execute_tool get_weather").attributes["gen_ai.tool.call.id"].startswith("call_")


# --- the manual handler, autopatching, unpatch --------------------------------------------------------------


def test_manual_handler_without_autopatch(spans: Any, instrumentation: Any) -> None:
    from weave_agent.instrumentations.langchain import WeaveAgentTracer

    instrumentation("openai")
    with replay("chain"):
        sc.prompt_chain().invoke({"topic": "otters"}, config={"callbacks": [WeaveAgentTracer()]})
    assert spans.shape() == CHAIN_SHAPE
    assert_openai_nesting(spans)
    assert_usage_once(spans, 1)


def test_manual_handler_with_autopatch_no_duplicates(traced: Any) -> None:
    from weave_agent.instrumentations.langchain import WeaveAgentTracer

    with replay("chain"):
        sc.prompt_chain().invoke({"topic": "otters"}, config={"callbacks": [WeaveAgentTracer()]})
    assert traced.shape() == CHAIN_SHAPE
    assert_usage_once(traced, 1)
    # two manual handlers (and the injected one) still give one span per run
    assert _fake_chain().invoke({"topic": "x"}, config={"callbacks": [WeaveAgentTracer(), WeaveAgentTracer()]})
    assert len(traced.named("RunnableSequence")) == 2


def test_unpatch_removes_the_injection(spans: Any) -> None:
    from langchain_core.tracers import context as lc_context

    from weave_agent.hook.arming import patch, unpatch

    before = list(lc_context._configure_hooks)
    patch(langchain=True)
    try:
        assert len(lc_context._configure_hooks) == len(before) + 1
        _fake_chain().invoke({"topic": "x"})
        assert spans.named("RunnableSequence")
    finally:
        unpatch("langchain")
    after = lc_context._configure_hooks
    assert len(after) == len(before) and all(a is b for a, b in zip(after, before, strict=True))
    spans.clear()
    _fake_chain().invoke({"topic": "x"})
    assert spans.finished() == []


# --- contexts: an abandoned stream, threads the app starts -----------------------------------------------


def test_stream_abandoned_leaves_no_context(traced: Any) -> None:
    import gc

    stream = _fake_chain().stream({"topic": "x"})
    for _chunk in stream:
        break
    del stream
    gc.collect()
    assert_no_context_leak()
    assert traced.shape() == [("RunnableSequence", 0), ("ChatPromptTemplate", 1), ("chat", 1), ("StrOutputParser", 1)]
    assert all(s.end_time is not None for s in traced.finished())


def test_app_threads_make_separate_roots(traced: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    chain = _fake_chain()
    with ThreadPoolExecutor(2) as pool:
        assert list(pool.map(lambda t: chain.invoke({"topic": t}), ["a", "b"])) == ["hi there", "hi there"]
    assert sorted(traced.shape()) == sorted(
        [("RunnableSequence", 0), ("ChatPromptTemplate", 1), ("chat", 1), ("StrOutputParser", 1)] * 2
    )
    assert len({s.context.trace_id for s in traced.named("RunnableSequence")}) == 2


# --- LangGraph's prebuilt ReAct agent: invoke_agent ---------------------------------------------------------

_AGENT_TURN = [
    ("agent", 1),
    ("call_model", 2),
    ("RunnableSequence", 2),  # call_model invokes the model with the node's config: LangChain's tree
    ("Prompt", 3),
    (GPT_CHAT, 3),
    (GPT_CHAT, 4),
    ("should_continue", 2),
]


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
def test_react_agent_is_invoke_agent(traced: Any, mode: str) -> None:
    app = sc.react_agent()
    request = {"messages": [("user", "What is the weather in Paris?")]}
    with replay("react_agent"):
        state = app.invoke(request) if mode == "invoke" else asyncio.run(app.ainvoke(request))
    assert "Sunny and 22 C in Paris" in state["messages"][-1].content
    assert traced.shape() == [
        ("invoke_agent weather_agent", 0),
        *_AGENT_TURN,
        ("tools", 1),
        ("execute_tool get_weather", 2),
        *_AGENT_TURN,
    ]
    root = traced.one("invoke_agent weather_agent")
    assert root.kind is SpanKind.INTERNAL
    assert root.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert root.attributes["gen_ai.agent.name"] == "weather_agent"
    assert_openai_nesting(traced)
    assert_usage_once(traced, 2)
    assert_no_context_leak()
