"""The Cohere instrumentation, through the real SDK (cohere 7.x) and the recorded cassettes.

Every scenario runs sync and async; the SDK's result is checked to be what the SDK gives
without the agent (``cohere_cassettes_test.check``), then the span. What no cassette can
hold (a retried 429, a stream whose connection drops, the v1 thread pool's batches, the
proof that nothing goes anywhere but the fake) runs against the local fake server.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import json
import logging
import socket
from pathlib import Path
from typing import Any

import cohere
import httpx
import pytest
from cohere.v2 import client as v2_client
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from weave_agent.instrumentations.cohere import cohere as cohere_mod
from weave_agent.testing import load_module

HERE = Path(__file__).resolve().parent


ct = load_module("weave_tests_cohere_cassettes_test", HERE / "cohere_cassettes_test.py")
rec, fake = ct.rec, ct.fake
SCENARIOS = rec.SCENARIOS
MODES = ("sync", "async")
SERVER = {"server.address": "api.cohere.com", "server.port": 443}
# cohere 5.x wraps each yield of chat_stream in a bare ``except: pass``: closing a stream
# early raises RuntimeError ("generator ignored GeneratorExit"), with or without the agent.
SDK_IGNORES_CLOSE = "except:" in inspect.getsource(inspect.unwrap(v2_client.V2Client.chat_stream))
CONTENT_KEYS = ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions",
                "gen_ai.tool.definitions")


@pytest.fixture(autouse=True)
def _no_ambient_cohere_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("CO_API_URL", "CO_API_KEY", "COHERE_API_KEY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def traced(spans: Any, instrumentation: Any) -> Any:
    instrumentation("cohere")
    return spans


@pytest.fixture(scope="module")
def server() -> Any:
    with fake.FakeCohereServer(api_keys=(rec.API_KEY,), max_lifetime=120) as srv:
        yield srv


def attrs(span: Any) -> dict[str, Any]:
    return dict(span.attributes)


def content(span: Any, key: str) -> Any:
    return json.loads(span.attributes[key])


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "content": value}


def metadata(span: Any) -> dict[str, Any]:
    return {k: v for k, v in span.attributes.items()
            if k not in CONTENT_KEYS and not k.startswith("weave_agent.stream.")
            and k != "gen_ai.response.time_to_first_chunk"}


def token_points(spans: Any) -> dict[str, int]:
    totals = {d: sum(p.value for p in spans.metric_points("gen_ai.client.inference.usage.%s_tokens" % d))
              for d in ("input", "output")}
    totals["input"] += sum(p.sum for p in spans.metric_points("gen_ai.client.embeddings.operation.input_tokens"))
    return {d: n for d, n in totals.items() if n}


# -- every scenario, sync and async: the SDK's result and one span ---------------------------

EXPECTED_NAME = {
    "embed": "embeddings " + rec.EMBED_MODEL,
    "v1_embed": "embeddings " + rec.EMBED_MODEL,
    "rerank": "rerank " + rec.RERANK_MODEL,
    "v1_rerank": "rerank " + rec.RERANK_MODEL,
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_each_scenario_makes_one_span(traced: Any, name: str, mode: str) -> None:
    scenario = SCENARIOS[name]
    result = ct.call(name, mode == "async")
    ct.check(name, result)  # what the app gets is what it gets without the agent
    (span,) = traced.finished()
    model = scenario.kwargs["model"]
    assert span.name == EXPECTED_NAME.get(name, "chat " + model)
    if scenario.method == "rerank":
        assert span.kind == SpanKind.INTERNAL
        assert "gen_ai.operation.name" not in span.attributes
        return
    assert span.kind == SpanKind.CLIENT
    a = attrs(span)
    assert a["gen_ai.provider.name"] == "cohere" and a["gen_ai.request.model"] == model
    assert {k: a[k] for k in SERVER} == SERVER
    assert "gen_ai.response.model" not in a  # Cohere names no model in its answers: nothing made up
    if scenario.error:
        assert span.status.status_code == StatusCode.ERROR
        assert a["error.type"] == str(result.status_code)
        assert not any(k.startswith("gen_ai.usage.") for k in a)
    else:
        assert span.status.status_code == StatusCode.UNSET
        assert isinstance(a["gen_ai.usage.input_tokens"], int) and a["gen_ai.usage.input_tokens"] > 0
    if scenario.streaming:
        assert a["gen_ai.request.stream"] is True
        if not scenario.error:
            assert a["weave_agent.stream.end_reason"] == "exhausted"


def test_chat_attributes_usage_and_content(traced: Any) -> None:
    result = ct.call("chat")
    span = traced.one("chat " + rec.CHAT_MODEL)
    assert metadata(span) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "cohere",
        "gen_ai.request.model": rec.CHAT_MODEL,
        **SERVER,
        "gen_ai.request.temperature": 0.3,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.top_k": 40,
        "gen_ai.request.max_tokens": 64,
        "gen_ai.request.seed": 7,
        "gen_ai.request.stop_sequences": ("\n\n",),
        "gen_ai.request.frequency_penalty": 0.1,
        "gen_ai.request.presence_penalty": 0.2,
        "gen_ai.response.id": result.id,
        "gen_ai.response.finish_reasons": ("stop",),
        # usage.tokens (what the model read, Cohere's prompt template included), as ints
        "gen_ai.usage.input_tokens": 496,
        "gen_ai.usage.output_tokens": 8,
        "gen_ai.usage.cache_read.input_tokens": 0,
        # usage.billed_units, apart
        "cohere.usage.billed_units.input_tokens": 12,
        "cohere.usage.billed_units.output_tokens": 8,
    }
    assert type(result.usage.tokens.input_tokens) is float  # what the SDK hands out: floats
    assert content(span, "gen_ai.input.messages") == [
        {"role": "system", "parts": [text("You are a concise geography assistant.")]},
        {"role": "user", "parts": [text("What is the capital of France?")]},
    ]
    assert content(span, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [text(fake.ANSWER)], "finish_reason": "stop"}
    ]
    assert token_points(traced) == {"input": 496, "output": 8}
    (duration,) = traced.metric_points("gen_ai.client.inference.duration") or traced.metric_points(
        "gen_ai.client.operation.duration")
    assert duration.attributes["gen_ai.provider.name"] == "cohere"


TOOL_DEFINITION = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the current weather in a given city.",
    "parameters": rec.WEATHER_TOOL["function"]["parameters"],
}
TOOL_CALL_PARTS = [
    {"type": "reasoning", "content": fake.TOOL_PLAN},
    {"type": "tool_call", "id": fake.TOOL_CALL_ID, "name": "get_weather", "arguments": {"location": "Paris"}},
]


@pytest.mark.parametrize("name", ["chat_tools", "chat_stream_tools"])
def test_tool_calls_whole_and_streamed(traced: Any, name: str) -> None:
    ct.call(name)
    span = traced.one("chat " + rec.CHAT_MODEL)
    assert span.attributes["gen_ai.response.finish_reasons"] == ("tool_call",)
    assert content(span, "gen_ai.tool.definitions") == [TOOL_DEFINITION]
    assert content(span, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": TOOL_CALL_PARTS, "finish_reason": "tool_call"}
    ]
    assert span.attributes["gen_ai.usage.input_tokens"] == 1123


def test_tool_result_turn(traced: Any) -> None:
    ct.call("chat_tool_result")
    span = traced.one("chat " + rec.CHAT_MODEL)
    assert content(span, "gen_ai.input.messages") == [
        {"role": "user", "parts": [text("What's the weather like in Paris today?")]},
        {"role": "assistant", "parts": [
            {"type": "reasoning", "content": "I will look up the weather in Paris."},
            {"type": "tool_call", "id": fake.TOOL_CALL_ID, "name": "get_weather", "arguments": {"location": "Paris"}},
        ]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": fake.TOOL_CALL_ID,
                                    "response": rec.TOOL_RESULT}]},
    ]


def test_streamed_chat_rebuilds_the_answer(traced: Any) -> None:
    ct.call("chat_stream", True)
    span = traced.one("chat " + rec.CHAT_MODEL)
    assert content(span, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [text(fake.ANSWER)], "finish_reason": "stop"}
    ]
    a = attrs(span)
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (496, 8)
    assert a["cohere.usage.billed_units.input_tokens"] == 12
    assert a["weave_agent.stream.chunks"] == 9
    assert len(traced.metric_points("gen_ai.client.inference.time_to_first_chunk")
               or traced.metric_points("gen_ai.client.operation.time_to_first_chunk")) == 1


def test_embed_and_rerank_attributes(traced: Any) -> None:
    ct.call("embed")
    ct.call("rerank")
    embed = traced.one("embeddings " + rec.EMBED_MODEL)
    assert metadata(embed) == {
        "gen_ai.operation.name": "embeddings",
        "gen_ai.provider.name": "cohere",
        "gen_ai.request.model": rec.EMBED_MODEL,
        **SERVER,
        "gen_ai.embeddings.dimension.count": 8,
        "gen_ai.request.encoding_formats": ("float",),
        "cohere.embed.input_type": "search_document",
        "gen_ai.response.id": "da6e531f-54c6-4a73-bf92-f60566d8d753",
        "gen_ai.usage.input_tokens": 4,  # billed units: embed answers carry no usage.tokens
        "cohere.usage.billed_units.input_tokens": 4,
    }
    assert content(embed, "gen_ai.input.messages") == [
        {"role": "user", "parts": [text(t) for t in SCENARIOS["embed"].kwargs["texts"]]}
    ]
    rerank = traced.one("rerank " + rec.RERANK_MODEL)
    assert rerank.kind == SpanKind.INTERNAL
    assert attrs(rerank) == {
        "cohere.operation": "rerank",
        "cohere.rerank.model": rec.RERANK_MODEL,
        **SERVER,
        "cohere.rerank.top_n": 2,
        "cohere.rerank.documents.count": 3,
        "cohere.rerank.query": SCENARIOS["rerank"].kwargs["query"],
        "cohere.response.id": "07734bd2-2473-4f07-94e1-0d9f0e6843cf",
        "cohere.rerank.results.count": 2,
        "cohere.rerank.results.indices": (0, 1),
        "cohere.rerank.results.relevance_scores": (0.9, 0.45),
        "cohere.usage.billed_units.search_units": 1,
    }
    assert token_points(traced) == {"input": 4}  # rerank counts no tokens


def test_embed_request_dimension_and_formats() -> None:
    # output_dimension (cohere >= 5.13; the cassettes leave it out for 5.12) is the dimension
    request = cohere_mod.EmbedExtractor().request(
        {"model": rec.EMBED_MODEL, "texts": ["a"], "input_type": "classification", "output_dimension": 256,
         "embedding_types": ["int8", "float"]}, None, True)
    assert request.attributes == {"gen_ai.embeddings.dimension.count": 256,
                                  "gen_ai.request.encoding_formats": ["int8", "float"],
                                  "cohere.embed.input_type": "classification"}


def test_v1_chat_and_stream(traced: Any) -> None:
    ct.call("v1_chat")
    ct.call("v1_chat_stream", True)
    plain, streamed = traced.finished()
    assert content(plain, "gen_ai.system_instructions") == [text("You are a concise geography assistant.")]
    assert content(plain, "gen_ai.input.messages") == [
        {"role": "user", "parts": [text("Hello!")]},
        {"role": "assistant", "parts": [text("Hi! How can I help?")]},
        {"role": "user", "parts": [text("What is the capital of France?")]},
    ]
    for span in (plain, streamed):
        a = attrs(span)
        assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (75, 8)
        assert a["gen_ai.response.id"] == "b5a5e3b2-6e8f-4a4e-9f4b-2b1d6f0c7a21"
        assert content(span, "gen_ai.output.messages") == [
            {"role": "assistant", "parts": [text(fake.ANSWER)], "finish_reason": "stop"}
        ]


def test_content_off_records_no_content(traced: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import weave_agent.lifecycle as lifecycle
    from weave_agent.export import telemetry
    from weave_agent.settings import Settings

    monkeypatch.setattr(
        lifecycle, "_settings", Settings.load({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "false"})
    )
    telemetry.reset()
    telemetry.use_providers(traced.provider, traced.meter_provider)
    for name in ("chat_tools", "chat_stream_tools", "embed", "rerank", "v1_chat", "v1_chat_stream"):
        ct.call(name)
    finished = traced.finished()
    assert len(finished) == 6
    for span in finished:
        assert not [k for k in span.attributes if k in CONTENT_KEYS or k == "cohere.rerank.query"]


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_api_error_reaches_the_app_unchanged(traced: Any, mode: str) -> None:
    raised = ct.call("chat_error_400", mode == "async")
    assert isinstance(raised, cohere.errors.BadRequestError)
    span = traced.one("chat no-such-model")
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["error.type"] == "400"
    (event,) = [e for e in span.events if e.name == "exception"]
    assert event.attributes["exception.type"].endswith("BadRequestError")
    # without the agent the same call raises the same error with the same body
    from weave_agent import unpatch

    unpatch("cohere")
    bare = ct.call("chat_error_400", mode == "async")
    assert (type(bare), bare.status_code, bare.body) == (type(raised), raised.status_code, raised.body)
    assert len(traced.finished()) == 1
    (point,) = traced.metric_points("gen_ai.client.inference.duration") or traced.metric_points(
        "gen_ai.client.operation.duration")
    assert point.attributes["error.type"] == "400"


def test_the_very_exception_object(spans: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # A spy under the agent's wrapper keeps the exception the SDK raised; the app gets that
    # very object (not wrapped, not copied).
    from weave_agent import patch, unpatch

    seen: list[BaseException] = []
    original = vars(v2_client.V2Client)["chat"]

    def spy(self: Any, **kwargs: Any) -> Any:
        try:
            return original(self, **kwargs)
        except BaseException as exc:
            seen.append(exc)
            raise

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"message": "invalid api token"})

    monkeypatch.setattr(v2_client.V2Client, "chat", spy)
    patch(cohere=True)
    try:
        co = cohere.ClientV2(api_key=rec.API_KEY, httpx_client=httpx.Client(transport=httpx.MockTransport(handler)))
        with pytest.raises(cohere.core.ApiError) as info:
            co.chat(model=rec.CHAT_MODEL, messages=[{"role": "user", "content": "hi"}])
    finally:
        unpatch("cohere")
    assert info.value is seen[0]
    assert spans.one("chat " + rec.CHAT_MODEL).attributes["error.type"] == "401"


@pytest.mark.parametrize("mode", MODES)
def test_a_retried_429_is_one_span_for_the_public_call(traced: Any, server: Any, mode: str) -> None:
    # The SDK retries 429 (twice by default in 7.x; 5.x's default is no retry) inside the one
    # public call: one span, which ends OK when a retry succeeds (one span per public call).
    options = {"additional_headers": {fake.FAULT_HEADER: "rate_limit_once", fake.ATTEMPT_HEADER: "retry-" + mode},
               "max_retries": 2}
    before = len(server.requests)
    kwargs = {"model": rec.CHAT_MODEL, "messages": [{"role": "user", "content": "hi"}], "request_options": options}
    if mode == "sync":
        result = rec.make_client(base_url=server.url).chat(**kwargs)
    else:
        result = asyncio.run(rec.make_client(is_async=True, base_url=server.url).chat(**kwargs))
    assert result.message.content[0].text == fake.ANSWER
    assert len(server.requests) - before == 2  # a 429, then the retry
    (span,) = traced.finished()
    assert span.status.status_code == StatusCode.UNSET and span.attributes["gen_ai.usage.input_tokens"] == 496


def test_a_429_after_every_retry_is_one_failed_span(traced: Any, server: Any) -> None:
    before = len(server.requests)
    with pytest.raises(cohere.errors.TooManyRequestsError):
        rec.make_client(base_url=server.url).chat(
            model=rec.CHAT_MODEL, messages=[{"role": "user", "content": "hi"}],
            request_options={"additional_headers": {fake.FAULT_HEADER: "rate_limit"}, "max_retries": 2})
    assert len(server.requests) - before == 3  # the call and the SDK's 2 retries
    (span,) = traced.finished()
    assert span.attributes["error.type"] == "429"


# -- streams: every exit, sync and async ------------------------------------------------------


def _stream_kwargs() -> dict[str, Any]:
    return dict(SCENARIOS["chat_stream"].kwargs)


def _stream_span(traced: Any) -> Any:
    (span,) = traced.finished()
    assert span.name == "chat " + rec.CHAT_MODEL
    return span


def _close(close: Any) -> Any:
    """Close a stream early as the app would; cohere 5.x raises its own RuntimeError then."""
    if not SDK_IGNORES_CLOSE:
        return close()
    with pytest.raises(RuntimeError, match="ignored GeneratorExit"):
        close()


async def _aclose(stream: Any) -> None:
    if not SDK_IGNORES_CLOSE:
        await stream.aclose()
        return
    with pytest.raises(RuntimeError, match="ignored GeneratorExit"):
        await stream.aclose()


def test_sync_stream_closed(traced: Any) -> None:
    with ct.replay("chat_stream"):
        stream = ct.client("chat_stream").chat_stream(**_stream_kwargs())
        first = next(stream)
        assert first.type == "message-start"
        assert trace.get_current_span() is trace.INVALID_SPAN  # never current between chunks
        _close(stream.close)
    span = _stream_span(traced)
    assert span.attributes["weave_agent.stream.end_reason"] == "closed"
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)  # none came


def test_sync_stream_break_and_collected(traced: Any) -> None:
    with ct.replay("chat_stream"):
        stream = ct.client("chat_stream").chat_stream(**_stream_kwargs())
        for event in stream:
            if event.type == "content-delta":
                break
        del stream, event
        gc.collect()
    span = _stream_span(traced)
    assert span.attributes["weave_agent.stream.end_reason"] in ("garbage_collected", "closed")
    assert content(span, "gen_ai.output.messages")[0]["parts"] == [text("The cap")]


def test_sync_stream_never_iterated_then_collected(traced: Any) -> None:
    stream = rec.make_client().chat_stream(**_stream_kwargs())  # a generator: nothing sent yet
    del stream
    gc.collect()
    span = _stream_span(traced)
    assert span.attributes["weave_agent.stream.end_reason"] in ("garbage_collected", "closed")
    assert span.end_time is not None


@pytest.mark.parametrize("api", ["v2", "v1"])
def test_stream_cut_mid_way(traced: Any, server: Any, api: str) -> None:
    co = rec.make_client(api, base_url=server.url)
    kwargs = _stream_kwargs() if api == "v2" else dict(SCENARIOS["v1_chat_stream"].kwargs)
    kwargs["request_options"] = {"additional_headers": {fake.FAULT_HEADER: "stream_cut"}}
    received = []
    with pytest.raises(httpx.HTTPError) as info:
        for event in co.chat_stream(**kwargs):
            received.append(event)
    assert received  # the first events came
    (span,) = traced.finished()
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["error.type"] == type(info.value).__name__
    assert span.attributes["weave_agent.stream.end_reason"] == "error"


def test_async_stream_every_exit(traced: Any) -> None:
    async def exhausted() -> None:
        # an async generator: ``async for`` directly on the call, no await
        events = [e async for e in ct.client("chat_stream", is_async=True).chat_stream(**_stream_kwargs())]
        assert len(events) == 9

    async def closed() -> None:
        stream = ct.client("chat_stream", is_async=True).chat_stream(**_stream_kwargs())
        await stream.__anext__()
        assert trace.get_current_span() is trace.INVALID_SPAN
        await _aclose(stream)

    async def broken() -> None:
        stream = ct.client("chat_stream", is_async=True).chat_stream(**_stream_kwargs())
        async for event in stream:
            if event.type == "content-delta":
                break
        await _aclose(stream)

    reasons = []
    for run in (exhausted, closed, broken):
        traced.clear()
        with ct.replay("chat_stream"):
            asyncio.run(run())
        reasons.append(_stream_span(traced).attributes["weave_agent.stream.end_reason"])
    assert reasons == ["exhausted", "closed", "closed"]


def test_async_stream_consumer_cancelled(traced: Any) -> None:
    # The task reading the stream is cancelled between two events: the abandoned stream's span
    # ends once, when the stream is collected, and is never current in between.
    async def main() -> None:
        got_one = asyncio.Event()

        async def consume() -> None:
            async for _event in ct.client("chat_stream", is_async=True).chat_stream(**_stream_kwargs()):
                got_one.set()
                await asyncio.sleep(3600)

        task = asyncio.create_task(consume())
        await got_one.wait()
        assert trace.get_current_span() is trace.INVALID_SPAN
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with ct.replay("chat_stream"):
        asyncio.run(main())
    gc.collect()
    span = _stream_span(traced)
    assert span.attributes["weave_agent.stream.end_reason"] == "garbage_collected"
    assert span.attributes["weave_agent.stream.chunks"] == 1
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)  # none came


def test_async_stream_error_before_any_event(traced: Any) -> None:
    raised = ct.call("chat_stream_error_400", True)
    assert isinstance(raised, cohere.errors.BadRequestError)
    (span,) = traced.finished()
    assert span.attributes["error.type"] == "400"
    assert span.attributes["weave_agent.stream.end_reason"] == "error"


# -- the traps --------------------------------------------------------------------------------


def test_rebound_chat_is_traced_and_stops_after_unpatch(spans: Any) -> None:
    from weave_agent import patch, unpatch

    original = vars(v2_client.V2Client)["chat"]
    patch(cohere=True)
    try:
        co = rec.make_client()  # Client.__init__ rebinds co.chat around the (traced) bound method
        assert "chat" in vars(co)
        with ct.replay("chat"):
            co.chat(**SCENARIOS["chat"].kwargs)
        assert len(spans.finished()) == 1
    finally:
        unpatch("cohere")
    assert vars(v2_client.V2Client)["chat"] is original
    with ct.replay("chat"):
        co.chat(**SCENARIOS["chat"].kwargs)  # the instance still holds the traced method
    assert len(spans.finished()) == 1  # but it calls through: no span after unpatch


def test_v1_embed_batches_stay_in_the_callers_trace(traced: Any, server: Any) -> None:
    co = rec.make_client("v1", base_url=server.url)
    texts = ["text %d" % i for i in range(100)]  # two batches (96 + 4) on the client's thread pool
    with traced.provider.get_tracer("app").start_as_current_span("app.request") as parent:
        result = co.embed(model=rec.EMBED_MODEL, texts=texts, input_type="search_document")
    assert len(result.embeddings) == 100
    batches = traced.named("embeddings " + rec.EMBED_MODEL)
    assert len(batches) == 2  # one span per HTTP model call
    ctx = parent.get_span_context()
    for span in batches:
        assert span.context.trace_id == ctx.trace_id and span.parent.span_id == ctx.span_id
    assert sorted(s.attributes["gen_ai.usage.input_tokens"] for s in batches) == [8, 192]


def test_bedrock_client_is_provider_aws_bedrock(traced: Any) -> None:
    # The Bedrock client keeps https://api.cohere.com as an unused base_url and sends the call
    # to Bedrock from an httpx hook (SigV4 with botocore; no _make_api_call, so the bedrock
    # instrumentation sees nothing): provider aws.bedrock, no server.address rather than a
    # wrong one. BedrockClientV2 where the SDK has it (not 5.12: its v1 BedrockClient then).
    from cohere import bedrock_client

    v2 = hasattr(bedrock_client, "BedrockClientV2")
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        # Bedrock's answer: the model's body without usage, the counts in headers
        sent.append(str(request.url))
        body = fake.v2_chat({}) if v2 else fake.v1_chat({"message": "hi"})
        body.pop("usage", None)
        body.pop("meta", None)
        headers = {"X-Amzn-Bedrock-Input-Token-Count": "11", "X-Amzn-Bedrock-Output-Token-Count": "8"}
        return httpx.Response(200, json=body, headers=headers if len(sent) == 1 else {})

    cls = bedrock_client.BedrockClientV2 if v2 else bedrock_client.BedrockClient
    co = cls(aws_access_key="AKIAFAKEFAKEFAKE0000", aws_secret_key="not-a-secret", aws_region="us-east-1")
    co._client_wrapper.httpx_client.httpx_client._transport = httpx.MockTransport(handler)  # nothing leaves
    model = "cohere.command-r-plus-v1:0"
    if v2:
        result = co.chat(model=model, messages=[{"role": "user", "content": "hi"}])
        assert result.message.content[0].text == fake.ANSWER
    else:
        assert co.chat(model=model, message="hi").text == fake.ANSWER
    assert sent == ["https://bedrock-runtime.us-east-1.amazonaws.com/model/%s/invoke" % model]
    (span,) = traced.finished()
    assert span.name == "chat " + model
    assert span.attributes["gen_ai.provider.name"] == "aws.bedrock"
    assert "server.address" not in span.attributes
    assert (span.attributes["gen_ai.usage.input_tokens"], span.attributes["gen_ai.usage.output_tokens"]) == (11, 8)
    # without the headers the SDK writes -1: no usage rather than a negative count
    traced.clear()
    if v2:
        co.chat(model=model, messages=[{"role": "user", "content": "hi"}])
    else:
        co.chat(model=model, message="hi")
    (span,) = traced.finished()
    assert not [k for k in span.attributes if k.startswith(("gen_ai.usage.", "cohere.usage."))]


def test_nothing_leaves_for_the_network(traced: Any, server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every connection the SDK (and the agent) opens, for every call kind: only the fake's.
    connected: list[Any] = []
    resolved: list[Any] = []
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> Any:
        connected.append(address)
        if address[0] != "127.0.0.1":
            raise OSError("test: no network (%r)" % (address,))
        return real_connect(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        resolved.append(host)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    v2, v1 = rec.make_client(base_url=server.url), rec.make_client("v1", base_url=server.url)
    for name in ("chat", "chat_stream", "embed", "rerank"):
        kwargs = dict(SCENARIOS[name].kwargs)
        result = getattr(v2, name)(**kwargs)
        if name == "chat_stream":
            list(result)
    for name in ("v1_chat", "v1_chat_stream", "v1_embed", "v1_rerank"):
        scenario = SCENARIOS[name]
        result = getattr(v1, scenario.method)(**scenario.kwargs)
        if scenario.streaming:
            list(result)

    async def run_async() -> None:
        a2 = rec.make_client(is_async=True, base_url=server.url)
        await a2.chat(**SCENARIOS["chat"].kwargs)
        try:
            [e async for e in a2.chat_stream(**SCENARIOS["chat_stream"].kwargs)]
        except Exception as exc:  # cohere 5.12's async chat_stream sends no "stream": true: a JSON answer
            assert "text/event-stream" in str(exc)

    asyncio.run(run_async())
    assert len(traced.finished()) == 10
    assert connected and {a[:2] for a in connected} == {("127.0.0.1", server.server_address[1])}
    assert set(resolved) <= {"127.0.0.1"}


def test_version_range_and_decline(spans: Any, monkeypatch: pytest.MonkeyPatch,
                                   caplog: pytest.LogCaptureFixture) -> None:
    from weave_agent import patch, unpatch
    from weave_agent.hook import arming
    from weave_agent.hook.registry import builtin, supports

    row = builtin()["cohere"]
    assert row.triggers == cohere_mod.TRIGGERS
    assert row.distribution == "cohere"
    assert supports(row, "7.3.1") and supports(row, "5.12.0")
    assert supports(row, "5.11.4") is False and supports(row, "8.0.0") is False

    original = vars(v2_client.V2Client)["chat"]
    monkeypatch.setattr(arming, "installed_version", lambda dist: "8.0.0" if dist == "cohere" else None)
    with caplog.at_level(logging.DEBUG, logger="weave_agent"):
        patch(cohere=True)
    try:
        assert vars(v2_client.V2Client)["chat"] is original
        lines = [r.getMessage() for r in caplog.records if "cohere" in r.getMessage()]
        assert lines == ["weave-agent: cohere 8.0.0 is not supported (supported: >=5.12,<8): not patched"]
        with ct.replay("chat"):
            rec.make_client().chat(**SCENARIOS["chat"].kwargs)
        assert spans.finished() == []
    finally:
        unpatch("cohere")


def test_unknown_structure_declines_with_one_debug_line(caplog: pytest.LogCaptureFixture) -> None:
    from weave_agent.hook.patcher import MultiPatcher

    before = vars(v2_client.V2Client)["chat"]
    odd = cohere_mod.Group("V2Client", (("chat", cohere_mod._V2_METHODS[0][1]), ("no_such_method", None)))
    patcher = MultiPatcher([cohere_mod._module_patcher("cohere.v2.client", (odd,))])
    with caplog.at_level(logging.DEBUG, logger="weave_agent"):
        assert patcher.attempt_patch() is False
    assert vars(v2_client.V2Client)["chat"] is before
    lines = [r.getMessage() for r in caplog.records if "cohere" in r.getMessage()]
    assert len(lines) == 1 and "V2Client.no_such_method" in lines[0]
    assert patcher.undo_patch() is True
