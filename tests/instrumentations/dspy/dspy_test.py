"""The DSPy instrumentation, through real DSPy 3.4 against a local fake of the OpenAI API.

DSPy's native engine talks to OpenAI over raw sockets (a vendored client, lm15): vcrpy
cannot see it, so the fake on 127.0.0.1 (``fake_dspy_server.py``) is what both engines
call, the native one and ``engine="litellm"`` (where the LiteLLM instrumentation is on as
well and must step aside). The test app is a module with a predictor and a ReAct agent
with one tool; each test asserts the exact tree (``spans.shape()``) and that each model
call's usage is on exactly one span and in the token metric once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from weave_agent.testing import load_module

# Before DSPy or LiteLLM is imported: no model price map fetched from GitHub (both read it).
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

import dspy  # noqa: E402
from opentelemetry.trace import SpanKind, StatusCode  # noqa: E402

HERE = Path(__file__).resolve().parent


fake = load_module("weave_tests_fake_dspy_server", HERE / "fake_dspy_server.py")

MODEL = "gpt-4o-mini"
CHAT = "chat " + MODEL
KEY = "sk-test-dspy-0123456789abcdef"
ENGINES = ("native", "litellm")


def get_weather(city: str) -> str:
    """The weather in a city."""
    return "Sunny, 21 C in %s" % city


class TripPlanner(dspy.Module):
    """The test app: a predictor, then a ReAct agent with one tool."""

    def __init__(self) -> None:
        super().__init__()
        self.classify = dspy.Predict("question -> topic")
        self.agent = dspy.ReAct("question -> answer", tools=[get_weather], max_iters=3)

    def forward(self, question: str) -> Any:
        self.classify(question=question)
        return self.agent(question=question)

    async def aforward(self, question: str) -> Any:
        await self.classify.acall(question=question)
        return await self.agent.acall(question=question)


APP_SHAPE = [
    ("TripPlanner", 0),
    ("Predict", 1),
    ("ChatAdapter", 2),
    (CHAT, 3),
    ("invoke_agent ReAct", 1),
    ("Predict", 2),
    ("ChatAdapter", 3),
    (CHAT, 4),
    ("execute_tool get_weather", 2),
    ("Predict", 2),
    ("ChatAdapter", 3),
    (CHAT, 4),
    ("execute_tool finish", 2),
    ("ChainOfThought", 2),
    ("Predict", 3),
    ("ChatAdapter", 4),
    (CHAT, 5),
]
APP_CALLS = 4
PREDICT_SHAPE = [("Predict", 0), ("ChatAdapter", 1), (CHAT, 2)]


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    with fake.running() as srv:
        yield srv


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, server: Any) -> Iterator[None]:
    # An OPENAI_API_BASE/OPENAI_BASE_URL of the environment would move DSPy to LiteLLM.
    for var in list(os.environ):
        if var.startswith(("OPENAI_", "AZURE_OPENAI_", "ANTHROPIC_", "GEMINI_", "XAI_")):
            monkeypatch.delenv(var, raising=False)
    server.requests.clear()
    yield


@pytest.fixture
def traced(spans: Any, instrumentation: Any) -> Any:
    instrumentation("dspy")
    instrumentation("litellm")
    instrumentation("openai")
    return spans


def make_lm(server: Any, engine: str = "native", model: str = "openai/" + MODEL, **kwargs: Any) -> Any:
    if engine == "litellm":
        kwargs["engine"] = "litellm"
    kwargs.setdefault("cache", False)
    return dspy.LM(model, api_base=server.base_url, api_key=KEY, num_retries=0, **kwargs)


def run_app(server: Any, engine: str, is_async: bool) -> Any:
    with dspy.context(lm=make_lm(server, engine)):
        app = TripPlanner()
        question = "What is the weather in Paris?"
        if is_async:
            return asyncio.run(app.acall(question=question))
        return app(question=question)


def usage_spans(spans: Any) -> list[Any]:
    return [s for s in spans.finished() if "gen_ai.usage.input_tokens" in (s.attributes or {})]


def assert_usage_once(spans: Any, calls: int) -> None:
    """Each model call's tokens on one span and in the token metric once."""
    carriers = usage_spans(spans)
    assert len(carriers) == calls, [s.name for s in carriers]
    assert all(s.name.startswith("chat ") for s in carriers)
    for direction, attr, each in (("input", "gen_ai.usage.input_tokens", fake.PROMPT_TOKENS),
                                  ("output", "gen_ai.usage.output_tokens", fake.COMPLETION_TOKENS)):
        assert [s.attributes[attr] for s in carriers] == [each] * calls
        per_call = spans.metric_points("gen_ai.client.inference.operation.%s_tokens" % direction)
        assert sum(p.count for p in per_call) == calls  # one point per model call
        assert sum(p.sum for p in per_call) == each * calls
        counted = spans.metric_points("gen_ai.client.inference.usage.%s_tokens" % direction)
        assert sum(p.value for p in counted) == each * calls


def assert_chat_span(span: Any, server: Any, engine: str = "native") -> None:
    attrs = span.attributes
    assert span.kind is SpanKind.CLIENT
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.request.model"] == MODEL
    assert attrs["dspy.lm.model"] == "openai/" + MODEL
    assert attrs["gen_ai.response.model"] == fake.RESPONSE_MODEL
    assert attrs["gen_ai.response.id"].startswith("chatcmpl-dspy")
    assert list(attrs["gen_ai.response.finish_reasons"]) == ["stop"]
    assert attrs["server.address"] == "127.0.0.1"
    assert attrs["server.port"] == server.server_address[1]
    assert not [k for k in attrs if k.startswith("litellm.")]  # DSPy's span, not LiteLLM's


# -- the test app: the exact tree, one LLM span per model call, on both engines ---------------


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("engine", ENGINES)
def test_app_tree(traced: Any, server: Any, connections: list[Any], engine: str, is_async: bool) -> None:
    result = run_app(server, engine, is_async)
    assert result.answer == fake.ANSWERS["answer"]
    assert result.trajectory["observation_0"] == "Sunny, 21 C in Paris"
    assert traced.shape() == APP_SHAPE
    assert len({s.context.trace_id for s in traced.finished()}) == 1
    assert len(server.requests) == APP_CALLS  # one span per request the model server saw
    assert_usage_once(traced, APP_CALLS)
    for span in traced.named(CHAT):
        assert_chat_span(span, server, engine)
    for span in traced.finished():
        assert span.status.status_code is StatusCode.UNSET
        if span.name != CHAT:
            assert span.kind is SpanKind.INTERNAL
    # nothing went anywhere but the fake
    assert connections and {a[:2] for a in connections} == {("127.0.0.1", server.server_address[1])}
    if engine == "litellm":
        assert "litellm" in sys.modules


def test_litellm_engine_goes_through_the_traced_litellm(traced: Any, server: Any) -> None:
    """The LiteLLM engine calls the very ``litellm.completion`` the LiteLLM instrumentation
    traces (a direct call makes its span): under DSPy that span steps aside."""
    import litellm

    with dspy.context(lm=make_lm(server, "litellm")):
        dspy.Predict("question -> answer")(question="What is the weather in Paris?")
    assert traced.shape() == PREDICT_SHAPE
    traced.clear()
    litellm.completion(model="openai/" + MODEL, api_base=server.base_url, api_key=KEY,
                       messages=[{"role": "user", "content": "What is the weather in Paris?"}])
    (direct,) = traced.finished()
    assert direct.name == CHAT and "litellm.provider" in direct.attributes
    assert len(server.requests) == 2


def test_module_predictor_tool_and_lm_attributes(traced: Any, server: Any) -> None:
    run_app(server, "native", is_async=False)
    react = traced.one("invoke_agent ReAct")
    assert react.kind is SpanKind.INTERNAL
    assert react.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert react.attributes["gen_ai.agent.name"] == "ReAct"
    assert react.attributes["gen_ai.provider.name"] == "openai"
    tool = traced.one("execute_tool get_weather")
    assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
    assert tool.attributes["gen_ai.tool.name"] == "get_weather"
    assert tool.attributes["gen_ai.tool.type"] == "function"
    assert tool.attributes["gen_ai.tool.description"] == "The weather in a city."
    assert json.loads(tool.attributes["gen_ai.tool.call.arguments"]) == {"city": "Paris"}
    assert tool.attributes["gen_ai.tool.call.result"] == "Sunny, 21 C in Paris"
    classify = traced.named("Predict")[0]
    assert classify.attributes["dspy.signature"] == "question -> topic"
    assert json.loads(classify.attributes["input.value"]) == {"question": "What is the weather in Paris?"}
    assert json.loads(classify.attributes["output.value"]) == {"topic": "weather"}
    app = traced.one("TripPlanner")
    assert json.loads(app.attributes["output.value"])["answer"] == fake.ANSWERS["answer"]
    adapter = traced.named("ChatAdapter")[0]
    assert adapter.attributes["dspy.signature"] == "question -> topic"
    chat = traced.named(CHAT)[0]
    inputs = json.loads(chat.attributes["gen_ai.input.messages"])
    assert [m["role"] for m in inputs] == ["system", "user"]
    assert "`topic`" in inputs[0]["parts"][0]["content"]
    assert "What is the weather in Paris?" in inputs[1]["parts"][0]["content"]
    (output,) = json.loads(chat.attributes["gen_ai.output.messages"])
    assert output["role"] == "assistant" and output["finish_reason"] == "stop"
    assert output["parts"] == [{"type": "text", "content": "[[ ## topic ## ]]\nweather\n\n[[ ## completed ## ]]"}]
    # the key never leaves in any attribute
    assert KEY not in json.dumps([dict(s.attributes or {}) for s in traced.finished()], default=str)


def test_content_capture_off(traced: Any, server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from weave_agent.export import telemetry

    monkeypatch.setattr(telemetry.settings(), "capture_content", "no_content")
    run_app(server, "native", is_async=False)
    assert traced.shape() == APP_SHAPE
    assert_usage_once(traced, APP_CALLS)
    for span in traced.finished():
        attrs = dict(span.attributes or {})
        assert not {"gen_ai.tool.call.arguments", "gen_ai.tool.call.result", "gen_ai.input.messages",
                    "gen_ai.output.messages", "input.value", "output.value"} & set(attrs)
        text = json.dumps(attrs, default=str)
        assert "Sunny" not in text and "Paris" not in text


# -- the callbacks trap: an app's dspy.configure(callbacks=[...]) replaces the list ------------------


class AppCallback(dspy.utils.callback.BaseCallback):
    def __init__(self) -> None:
        self.seen: list[str] = []

    def on_lm_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        self.seen.append("lm")

    def on_tool_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        self.seen.append("tool " + instance.name)


def test_an_apps_own_callbacks_do_not_drop_the_spans(traced: Any, server: Any) -> None:
    callback = AppCallback()
    dspy.configure(callbacks=[callback])
    try:
        run_app(server, "native", is_async=False)
    finally:
        dspy.configure(callbacks=[])
    assert traced.shape() == APP_SHAPE
    assert_usage_once(traced, APP_CALLS)
    assert callback.seen == ["lm", "lm", "tool get_weather", "lm", "tool finish", "lm"]  # theirs run as before


# -- streams: dspy.streamify ----------------------------------------------------------------


def _streamed_predict() -> Any:
    return dspy.streamify(
        dspy.Predict("question -> answer"),
        stream_listeners=[dspy.streaming.StreamListener(signature_field_name="answer")],
    )


def assert_streamed_chat(spans: Any) -> None:
    chat = spans.one(CHAT)
    assert chat.attributes["gen_ai.request.stream"] is True


def test_streamify_async_exhausted(traced: Any, server: Any) -> None:
    program = _streamed_predict()

    async def consume() -> list[Any]:
        return [chunk async for chunk in program(question="What is the weather in Paris?")]

    with dspy.context(lm=make_lm(server)):
        chunks = asyncio.run(consume())
    assert isinstance(chunks[-1], dspy.Prediction) and chunks[-1].answer == fake.ANSWERS["answer"]
    assert any(isinstance(c, dspy.streaming.StreamResponse) for c in chunks)
    assert traced.shape() == PREDICT_SHAPE
    assert_streamed_chat(traced)
    assert_usage_once(traced, 1)  # the stream asked for usage (stream_options.include_usage)
    assert server.requests[-1][2]["stream"] is True


def test_streamify_sync_exhausted(traced: Any, server: Any) -> None:
    program = dspy.streamify(dspy.Predict("question -> answer"), async_streaming=False)
    with dspy.context(lm=make_lm(server)):
        chunks = list(program(question="What is the weather in Paris?"))
    assert chunks[-1].answer == fake.ANSWERS["answer"]
    assert traced.shape() == PREDICT_SHAPE
    assert_streamed_chat(traced)
    assert_usage_once(traced, 1)


def test_streamify_consumer_stops_early(traced: Any, server: Any) -> None:
    """The app stops reading after the first chunk: DSPy's own run fails as the stream it
    writes to is closed; every span still ends exactly once."""
    program = _streamed_predict()

    async def first_only() -> Any:
        stream = program(question="What is the weather in Paris?")
        first = await stream.__anext__()
        try:
            await stream.aclose()
        except RuntimeError:
            pass  # anyio's cancel scope exited in another task: DSPy's, with or without the agent
        return first

    with dspy.context(lm=make_lm(server)):
        asyncio.run(first_only())
    # The predictor runs in a worker thread (streamify's asyncify), which no cancellation
    # stops: its spans end when that thread's run does.
    deadline = time.monotonic() + 20
    while len(traced.finished()) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)
    assert sorted(traced.shape()) == sorted(PREDICT_SHAPE)
    assert len(traced.finished()) == 3  # ended once each (a second end would be a second export)


# -- ChatAdapter falling back to JSONAdapter: two adapter spans, two model calls -------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_adapter_fallback_is_two_sibling_adapter_spans(traced: Any, server: Any, engine: str) -> None:
    with dspy.context(lm=make_lm(server, engine, model="openai/" + fake.PLAIN_MODEL)):
        result = dspy.Predict("question -> answer")(question="What is the weather in Paris?")
    assert result.answer == fake.ANSWERS["answer"]
    chat = "chat " + fake.PLAIN_MODEL
    assert traced.shape() == [("Predict", 0), ("ChatAdapter", 1), (chat, 2), ("JSONAdapter", 1), (chat, 2)]
    failed, fallback = traced.named("ChatAdapter")[0], traced.one("JSONAdapter")
    assert failed.status.status_code is StatusCode.ERROR and failed.attributes["error.type"] == "AdapterParseError"
    assert fallback.status.status_code is StatusCode.UNSET
    assert traced.one("Predict").status.status_code is StatusCode.UNSET  # the app got its answer
    assert len(usage_spans(traced)) == 2 == len(server.requests)


# -- dspy.Parallel / Module.batch: worker threads keep the caller's trace ---------------------------


class BatchAnswer(dspy.Module):
    def __init__(self) -> None:
        super().__init__()
        self.answer = dspy.Predict("question -> answer")

    def forward(self, questions: list[str]) -> Any:
        examples = [dspy.Example(question=q).with_inputs("question") for q in questions]
        return self.answer.batch(examples, num_threads=2, disable_progress_bar=True)


def test_batch_items_nest_under_the_module_that_ran_them(traced: Any, server: Any) -> None:
    with dspy.context(lm=make_lm(server)):
        results = BatchAnswer()(questions=["Weather in Paris?", "Weather in Rome?"])
    assert [r.answer for r in results] == [fake.ANSWERS["answer"]] * 2
    assert traced.shape() == [("BatchAnswer", 0)] + [(name, depth + 1) for name, depth in PREDICT_SHAPE] * 2
    assert len({s.context.trace_id for s in traced.finished()}) == 1
    assert_usage_once(traced, 2)


# -- errors ---------------------------------------------------------------------------------------


def _failing_call(server: Any) -> BaseException:
    with dspy.context(lm=make_lm(server, model="openai/" + fake.MISSING_MODEL)):
        with pytest.raises(Exception) as caught:
            dspy.Predict("question -> answer")(question="What is the weather in Paris?")
    return caught.value


@pytest.mark.parametrize("engine", ENGINES)
def test_api_error(traced: Any, server: Any, engine: str) -> None:
    with dspy.context(lm=make_lm(server, engine, model="openai/" + fake.MISSING_MODEL)):
        with pytest.raises(Exception) as caught:
            dspy.Predict("question -> answer")(question="What is the weather in Paris?")
    error = caught.value
    assert type(error).__name__ == "LMUnsupportedModelError" and error.status == 404
    name = "chat " + fake.MISSING_MODEL
    assert traced.shape() == [("Predict", 0), ("ChatAdapter", 1), (name, 2)]
    chat = traced.one(name)
    assert chat.status.status_code is StatusCode.ERROR
    assert chat.attributes["error.type"] == "404"
    (event,) = [e for e in chat.events if e.name == "exception"]
    assert event.attributes["exception.type"].endswith("LMUnsupportedModelError")
    for span in traced.named("Predict") + traced.named("ChatAdapter"):
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes["error.type"] == "LMUnsupportedModelError"
    durations = traced.metric_points("gen_ai.client.inference.duration")
    assert [dict(p.attributes)["error.type"] for p in durations] == ["404"]
    assert not usage_spans(traced)
    assert sum(p.value for p in traced.metric_points("gen_ai.client.inference.usage.input_tokens")) == 0


def test_api_error_is_the_one_the_app_gets_without_the_agent(spans: Any, server: Any) -> None:
    from weave_agent import patch, unpatch

    bare = _failing_call(server)
    patch(dspy=True)
    try:
        traced_error = _failing_call(server)
    finally:
        unpatch("dspy")
    assert type(traced_error) is type(bare) and str(traced_error) == str(bare)
    assert traced_error.status == bare.status == 404


# -- DSPy's cache: no model call, no usage ------------------------------------------------------------


def test_cache_hit_makes_no_model_call_and_counts_no_tokens(traced: Any, server: Any) -> None:
    from dspy.clients import configure_cache

    configure_cache(enable_disk_cache=False, enable_memory_cache=True)
    try:
        with dspy.context(lm=make_lm(server, cache=True, temperature=0.25)):
            first = dspy.Predict("question -> answer")(question="A cached question?")
            second = dspy.Predict("question -> answer")(question="A cached question?")
    finally:
        configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    assert first.answer == second.answer
    assert len(server.requests) == 1
    assert traced.shape() == PREDICT_SHAPE + PREDICT_SHAPE
    first_chat, second_chat = traced.named(CHAT)
    assert "dspy.lm.cache_hit" not in first_chat.attributes
    assert second_chat.attributes["dspy.lm.cache_hit"] is True
    assert first_chat.attributes["gen_ai.request.temperature"] == 0.25
    assert_usage_once(traced, 1)


# -- patching, versions --------------------------------------------------------------------------------


def _targets() -> dict[str, Any]:
    import dspy.adapters.base as adapters
    import dspy.adapters.types.tool as tools
    import dspy.clients.execution as execution
    import dspy.primitives.module as modules
    import dspy.utils.parallelizer as parallelizer

    found = {"execution.%s" % name: vars(execution)[name] for name in ("execute", "aexecute")}
    found["ParallelExecutor._execute_parallel"] = vars(parallelizer.ParallelExecutor)["_execute_parallel"]
    for module, cls in ((modules, "Module"), (adapters, "Adapter"), (tools, "Tool")):
        for name in ("__call__", "acall"):
            found["%s.%s" % (cls, name)] = vars(getattr(module, cls))[name]
    return found


def test_undo_restores_the_originals(spans: Any, server: Any) -> None:
    from weave_agent import patch, unpatch

    before = _targets()
    patch(dspy=True)
    try:
        during = _targets()
        assert all(during[k] is not before[k] and during[k].__wrapped__ is before[k] for k in before)
    finally:
        unpatch("dspy")
    assert all(_targets()[k] is before[k] for k in before)
    run_app(server, "native", is_async=False)
    assert spans.finished() == []


def test_outside_the_range_declines_with_one_debug_line(
    spans: Any, instrumentation: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    server: Any,
) -> None:
    from weave_agent.hook import arming
    from weave_agent.instrumentations.registry import INSTRUMENTATIONS

    before = _targets()
    declared = next(row[4] for row in INSTRUMENTATIONS if row[0] == "dspy")
    monkeypatch.setattr(arming, "installed_version", lambda dist: "3.3.2" if dist == "dspy" else None)
    with caplog.at_level(logging.DEBUG, logger="weave_agent"):
        instrumentation("dspy")
    assert _targets() == before
    lines = [r.getMessage() for r in caplog.records if "dspy" in r.getMessage()]
    assert lines == ["weave-agent: dspy 3.3.2 is not supported (supported: %s): not patched" % declared]
    run_app(server, "native", is_async=False)
    assert spans.finished() == []


# -- a whole app under weave-run: the lazy hook, nothing leaves -----------------------------------------

_APP = r"""
import os, sys

def audit(event, args):
    if event == "socket.connect":
        sys.stderr.write("CONNECT %r\n" % (args[1],))
        sys.stderr.flush()

sys.addaudithook(audit)
import dspy

def get_weather(city: str) -> str:
    '''The weather in a city.'''
    return "Sunny, 21 C in %s" % city

dspy.configure(lm=dspy.LM("openai/gpt-4o-mini", api_base={base_url!r}, api_key="sk-test-dspy-0123456789abcdef",
                          cache=False, num_retries=0), callbacks=[])
agent = dspy.ReAct("question -> answer", tools=[get_weather], max_iters=3)
print(agent(question="What is the weather in Paris?").answer)
"""


def test_an_app_under_weave_run_is_traced_and_sends_nothing_new(tmp_path: Path, server: Any) -> None:
    repo = HERE.parents[2]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("WEAVE_AGENT_", "OTEL_", "PYTHON", "PYTEST_", "OPENAI_"))}
    env.update(WEAVE_AGENT_EXPORTER="file", WEAVE_AGENT_TRACES_DIR=str(tmp_path), WEAVE_AGENT_QUIET="true",
               LITELLM_LOCAL_MODEL_COST_MAP="True", PYTHONPATH=str(repo / "sitecustomize_shim"))
    code = _APP.format(base_url=server.base_url)
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert fake.ANSWERS["answer"] in done.stdout
    connects = {line for line in done.stderr.splitlines() if line.startswith("CONNECT")}
    assert connects == {"CONNECT ('127.0.0.1', %d)" % server.server_address[1]}
    names = []
    for path in tmp_path.glob("traces-*.jsonl"):
        for line in path.read_text().splitlines():
            for rs in json.loads(line).get("resourceSpans", ()):
                for ss in rs.get("scopeSpans", ()):
                    names += [span["name"] for span in ss.get("spans", ())]
    assert sorted(names) == sorted(
        ["invoke_agent ReAct", "execute_tool get_weather", "execute_tool finish", "ChainOfThought"]
        + ["Predict"] * 3 + ["ChatAdapter"] * 3 + [CHAT] * 3
    )
