"""The Groq instrumentation, through the real SDK (groq 1.x) and the recorded cassettes.

Every scenario runs sync and async; streams as an iterator and as a context manager. The
SDK's result is what the SDK gives without the agent (``groq_cassettes_test.py`` checks
the same calls unpatched); then the span and the metrics are checked against the GenAI
conventions (the ``spans`` fixture also validates every span when the test ends).
Cassettes replay with record mode ``none``: nothing here talks to the network.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import socket
import sys
from pathlib import Path
from typing import Any

import groq
import httpx
import pytest
from groq import AsyncGroq, Groq
from groq._streaming import AsyncStream, Stream
from groq.types.chat import ChatCompletion, ChatCompletionChunk
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from weave_agent.instrumentations.groq import groq as groq_mod
from weave_agent.instrumentations.groq.extract import ChatExtractor
from weave_agent.instrumentations.groq.streaming import GroqChatAcc
from weave_agent.testing import load_module

HERE = Path(__file__).resolve().parent


ct = load_module("weave_tests_groq_cassettes_test", HERE / "groq_cassettes_test.py")  # replay(), client(), run()
rec = ct.rec
SCENARIOS = rec.SCENARIOS
CHAT = rec.CHAT_MODEL
MODES = ("sync", "async")
STREAM_MODES = ("iter", "with", "async_iter", "async_with")
SERVER = {"server.address": "api.groq.com", "server.port": 443}
CONTENT_KEYS = ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions",
                "gen_ai.tool.definitions")


@pytest.fixture(autouse=True)
def _no_ambient_groq_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GROQ_API_KEY", "GROQ_BASE_URL", "GROQ_CUSTOM_HEADERS"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def traced(spans: Any, instrumentation: Any) -> Any:
    instrumentation("groq")
    return spans


def attrs_of(span: Any) -> dict[str, Any]:
    """The span's attributes without content and the stream bookkeeping."""
    return {k: v for k, v in span.attributes.items()
            if k not in CONTENT_KEYS and not k.startswith("weave_agent.stream.")
            and k != "gen_ai.response.time_to_first_chunk"}


def content(span: Any, key: str) -> Any:
    return json.loads(span.attributes[key])


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "content": value}


def token_points(spans: Any) -> dict[str, int]:
    """The tokens the usage counters counted, per direction."""
    totals = {d: sum(p.value for p in spans.metric_points("gen_ai.client.inference.usage.%s_tokens" % d))
              for d in ("input", "output")}
    totals["input"] += sum(p.sum for p in spans.metric_points("gen_ai.client.embeddings.operation.input_tokens"))
    return {d: n for d, n in totals.items() if n}


def consume(name: str, mode: str) -> list[ChatCompletionChunk]:
    """A streaming scenario consumed as an iterator or a context manager, sync or async."""
    ct.skip_unless_supported(name)
    scenario = SCENARIOS[name]
    with ct.replay(name):
        if mode in ("iter", "with"):
            stream = rec.resource(ct.client(name), scenario).create(**scenario.kwargs)
            assert isinstance(stream, Stream)  # the proxy keeps isinstance
            if mode == "iter":
                return list(stream)
            with stream as entered:
                return [chunk for chunk in entered]

        async def run() -> list[ChatCompletionChunk]:
            stream = await rec.resource(ct.client(name, True), scenario).create(**scenario.kwargs)
            assert isinstance(stream, AsyncStream)
            if mode == "async_iter":
                return [chunk async for chunk in stream]
            async with stream as entered:
                return [chunk async for chunk in entered]

        return asyncio.run(run())


# -- chat.completions.create ------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_chat_create(traced: Any, mode: str) -> None:
    completion = ct.run("chat_create", mode)
    assert isinstance(completion, ChatCompletion) and completion.choices[0].message.content == ct.CAPITAL
    span = traced.one(f"chat {CHAT}")
    assert span.kind is SpanKind.CLIENT and span.status.status_code is StatusCode.UNSET and span.parent is None
    assert attrs_of(span) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "groq",
        "gen_ai.request.model": CHAT,
        **SERVER,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.max_tokens": 64,
        "gen_ai.request.seed": 42,
        "gen_ai.request.stop_sequences": ("\n\n",),
        "gen_ai.response.id": completion.id,
        "gen_ai.response.model": CHAT,
        "gen_ai.response.finish_reasons": ("stop",),
        "groq.request_id": ct.request_id(completion),
        "groq.response.service_tier": "on_demand",  # the API's answer (the request named none)
        "groq.response.system_fingerprint": completion.system_fingerprint,
        "gen_ai.usage.input_tokens": completion.usage.prompt_tokens,
        "gen_ai.usage.output_tokens": completion.usage.completion_tokens,
    }
    assert content(span, "gen_ai.input.messages") == [
        {"role": "system", "parts": [text("You are a concise geography assistant.")]},
        {"role": "user", "parts": [text("What is the capital of France?")]},
    ]
    assert content(span, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [text(ct.CAPITAL)], "finish_reason": "stop"}
    ]
    assert "gen_ai.tool.definitions" not in span.attributes and "gen_ai.system_instructions" not in span.attributes


@pytest.mark.parametrize("mode", MODES)
def test_chat_tools_and_tool_result(traced: Any, mode: str) -> None:
    (call,) = ct.run("chat_tools", mode).choices[0].message.tool_calls
    ct.run("chat_tool_result", mode)
    first, second = traced.named(f"chat {CHAT}")
    assert first.attributes["gen_ai.response.finish_reasons"] == ("tool_call",)
    assert content(first, "gen_ai.tool.definitions") == [{
        "type": "function", "name": "get_weather", "description": rec.WEATHER_TOOL["function"]["description"],
        "parameters": rec.WEATHER_TOOL["function"]["parameters"],
    }]
    assert content(first, "gen_ai.output.messages") == [{
        "role": "assistant", "finish_reason": "tool_call",
        "parts": [{"type": "tool_call", "id": call.id, "name": "get_weather", "arguments": {"location": "Paris"}}],
    }]
    assert content(second, "gen_ai.input.messages")[1:] == [
        {"role": "assistant", "parts": [
            {"type": "tool_call", "id": rec.TOOL_CALL_ID, "name": "get_weather", "arguments": {"location": "Paris"}}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": rec.TOOL_CALL_ID, "response": rec.TOOL_RESULT}]},
    ]
    assert content(second, "gen_ai.output.messages")[0]["parts"] == [text("It is sunny in Paris.")]


@pytest.mark.parametrize("mode", MODES)
def test_chat_reasoning(traced: Any, mode: str) -> None:
    completion = ct.run("chat_reasoning", mode)
    span = traced.one(f"chat {rec.REASONING_MODEL}")
    assert span.attributes["gen_ai.request.reasoning.level"] == "default"
    assert span.attributes["gen_ai.request.max_tokens"] == 256  # max_completion_tokens
    assert span.attributes["groq.request.service_tier"] == span.attributes["groq.response.service_tier"] == "flex"
    assert span.attributes["gen_ai.usage.reasoning.output_tokens"] == (
        completion.usage.completion_tokens_details.reasoning_tokens)
    assert content(span, "gen_ai.output.messages") == [{
        "role": "assistant", "finish_reason": "stop",
        "parts": [{"type": "reasoning", "content": completion.choices[0].message.reasoning}, text(ct.CAPITAL)],
    }]


# -- streams -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", STREAM_MODES)
def test_chat_stream_usage_from_x_groq(traced: Any, mode: str) -> None:
    chunks = consume("chat_stream", mode)
    assert ct.text_of(chunks) == ct.CAPITAL
    usage = chunks[-1].x_groq.usage  # the only usage this stream carried
    span = traced.one(f"chat {CHAT}")
    assert span.kind is SpanKind.CLIENT and span.status.status_code is StatusCode.UNSET
    assert attrs_of(span) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "groq",
        "gen_ai.request.model": CHAT,
        **SERVER,
        "gen_ai.request.stream": True,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.max_tokens": 64,
        "gen_ai.response.id": chunks[0].id,
        "gen_ai.response.model": CHAT,
        "gen_ai.response.finish_reasons": ("stop",),
        "groq.request_id": chunks[0].x_groq.id,
        "groq.response.system_fingerprint": chunks[0].system_fingerprint,
        "gen_ai.usage.input_tokens": usage.prompt_tokens,
        "gen_ai.usage.output_tokens": usage.completion_tokens,
    }
    assert span.attributes["weave_agent.stream.chunks"] == len(chunks)
    assert span.attributes["weave_agent.stream.end_reason"] in ("exhausted", "exited")
    assert span.attributes["gen_ai.response.time_to_first_chunk"] >= 0
    assert content(span, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [text(ct.CAPITAL)], "finish_reason": "stop"}
    ]
    assert token_points(traced) == {"input": usage.prompt_tokens, "output": usage.completion_tokens}
    assert len(traced.metric_points("gen_ai.client.inference.time_to_first_chunk")) == 1


@pytest.mark.parametrize("mode", ("iter", "async_iter"))
def test_include_usage_is_counted_once(traced: Any, mode: str) -> None:
    chunks = consume("chat_stream_include_usage", mode)
    usage = chunks[-1].usage
    assert chunks[-2].x_groq.usage == usage  # the stream sends the counts twice
    span = traced.one(f"chat {CHAT}")
    assert span.attributes["gen_ai.usage.input_tokens"] == usage.prompt_tokens
    assert token_points(traced) == {"input": usage.prompt_tokens, "output": usage.completion_tokens}


@pytest.mark.parametrize("mode", STREAM_MODES)
def test_chat_stream_tools(traced: Any, mode: str) -> None:
    chunks = consume("chat_stream_tools", mode)
    (call,) = chunks[1].choices[0].delta.tool_calls
    span = traced.one(f"chat {CHAT}")
    assert span.attributes["gen_ai.response.finish_reasons"] == ("tool_call",)
    assert span.attributes["gen_ai.usage.output_tokens"] == chunks[-1].x_groq.usage.completion_tokens
    assert content(span, "gen_ai.output.messages") == [{
        "role": "assistant", "finish_reason": "tool_call",
        "parts": [{"type": "tool_call", "id": call.id, "name": "get_weather", "arguments": {"location": "Paris"}}],
    }]
    assert len(content(span, "gen_ai.tool.definitions")) == 1


@pytest.mark.parametrize("mode", ("with", "async_iter"))
def test_chat_stream_reasoning(traced: Any, mode: str) -> None:
    chunks = consume("chat_stream_reasoning", mode)
    reasoning = "".join(c.choices[0].delta.reasoning or "" for c in chunks if c.choices)
    span = traced.one(f"chat {rec.REASONING_MODEL}")
    assert content(span, "gen_ai.output.messages")[0]["parts"] == [
        {"type": "reasoning", "content": reasoning}, text(ct.CAPITAL)
    ]


@pytest.mark.parametrize("mode", MODES)
def test_error_inside_a_stream(traced: Any, mode: str) -> None:
    # HTTP 200, then an error data block: the SDK raises APIError mid-stream, the app gets it
    # as is, the span is ERROR with Groq's code and keeps what came before it.
    received: list[Any] = []
    scenario = SCENARIOS["chat_stream_error"]
    with pytest.raises(groq.APIError) as caught, ct.replay("chat_stream_error"):
        if mode == "sync":
            for chunk in rec.resource(ct.client("chat_stream_error"), scenario).create(**scenario.kwargs):
                received.append(chunk)
        else:

            async def run() -> None:
                stream = await rec.resource(ct.client("chat_stream_error", True), scenario).create(**scenario.kwargs)
                async for chunk in stream:
                    received.append(chunk)

            asyncio.run(run())
    assert type(caught.value) is groq.APIError and caught.value.body["code"] == "tool_use_failed"
    span = traced.one(f"chat {CHAT}")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "tool_use_failed"
    assert span.attributes["weave_agent.stream.end_reason"] == "error"
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)
    assert content(span, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [text(ct.text_of(received))], "finish_reason": "error"}
    ]
    assert "gen_ai.usage.input_tokens" not in span.attributes  # it never came: nothing invented
    (duration,) = traced.metric_points("gen_ai.client.inference.duration")
    assert duration.attributes["error.type"] == "tool_use_failed"


# -- every way a stream ends: exactly one ended span each -------------------------------------


def open_stream(is_async: bool = False) -> Any:
    scenario = SCENARIOS["chat_stream"]
    return ct.client("chat_stream", is_async).chat.completions.create(**scenario.kwargs)


def one_ended(spans: Any, reason: str, complete: bool = False) -> Any:
    span = spans.one(f"chat {CHAT}")
    assert span.end_time is not None
    assert span.attributes["weave_agent.stream.end_reason"] == reason
    assert span.attributes["weave_agent.stream.complete"] is complete
    return span


def test_stream_exhausted(traced: Any) -> None:
    with ct.replay("chat_stream"):
        stream = open_stream()
        chunks = list(stream)
    assert len(chunks) > 2
    span = one_ended(traced, "exhausted", complete=True)
    assert span.attributes["gen_ai.usage.input_tokens"] == chunks[-1].x_groq.usage.prompt_tokens


def test_stream_break_then_dropped(traced: Any) -> None:
    with ct.replay("chat_stream"):
        stream = open_stream()
        for _ in stream:
            break
        assert traced.finished() == []  # open while the app holds it
        del stream
        gc.collect()
    span = one_ended(traced, "garbage_collected")
    assert span.attributes["weave_agent.stream.chunks"] == 1
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)  # the finish reason never came
    assert "gen_ai.usage.input_tokens" not in span.attributes


def test_stream_close(traced: Any) -> None:
    with ct.replay("chat_stream"):
        stream = open_stream()
        next(stream)
        next(stream)
        stream.close()
        assert stream.response.is_closed  # forwarded to the SDK's stream
        stream.close()
    assert one_ended(traced, "closed").attributes["weave_agent.stream.chunks"] == 2


def test_stream_with_left_early(traced: Any) -> None:
    with ct.replay("chat_stream"):
        with open_stream() as stream:
            next(stream)
        assert stream.response.is_closed
    one_ended(traced, "exited")


def test_stream_never_iterated(traced: Any) -> None:
    with ct.replay("chat_stream"):
        stream = open_stream()
        del stream
        gc.collect()
    assert one_ended(traced, "garbage_collected").attributes["weave_agent.stream.chunks"] == 0


def test_async_stream_exits(traced: Any) -> None:
    async def run() -> None:
        with ct.replay("chat_stream"):
            stream = await open_stream(True)  # close()
            await stream.__anext__()
            await stream.close()
            assert stream.response.is_closed
        with ct.replay("chat_stream"):
            async with await open_stream(True) as stream:  # async with, left early
                async for _ in stream:
                    break
        with ct.replay("chat_stream"):
            stream = await open_stream(True)  # break, then dropped
            async for _ in stream:
                break
            del stream
            gc.collect()
        with ct.replay("chat_stream"):
            stream = await open_stream(True)  # never iterated
            del stream
            gc.collect()

    asyncio.run(run())
    reasons = [s.attributes["weave_agent.stream.end_reason"] for s in traced.finished()]
    assert reasons == ["closed", "exited", "garbage_collected", "garbage_collected"]


def test_async_stream_cancelled(traced: Any) -> None:
    async def run() -> None:
        with ct.replay("chat_stream"):
            stream = await open_stream(True)

            async def reader() -> None:
                async for _ in stream:
                    await asyncio.sleep(10)

            task = asyncio.ensure_future(reader())
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await stream.close()

    asyncio.run(run())
    span = traced.one(f"chat {CHAT}")
    assert span.end_time is not None and span.attributes["weave_agent.stream.end_reason"] in ("closed", "error")


def test_stream_span_is_not_current_between_chunks(traced: Any) -> None:
    with ct.replay("chat_stream"):
        stream = open_stream()
        next(stream)
        assert not trace.get_current_span().get_span_context().is_valid
        list(stream)
    one_ended(traced, "exhausted", complete=True)


# -- raw responses: one span, the SDK's objects as they are -------------------------------------


def test_with_raw_response(traced: Any) -> None:
    kwargs = SCENARIOS["chat_create"].kwargs
    with ct.replay("chat_create"):
        raw = ct.client("chat_create").chat.completions.with_raw_response.create(**kwargs)
    assert raw.headers["content-type"] == "application/json"
    completion = raw.parse()
    assert raw.parse() is completion  # the SDK's cache, untouched
    assert isinstance(completion, ChatCompletion)
    span = traced.one(f"chat {CHAT}")
    assert span.attributes["gen_ai.response.id"] == completion.id
    assert span.attributes["gen_ai.usage.output_tokens"] == completion.usage.completion_tokens
    with ct.replay("chat_stream"):
        raw = ct.client("chat_stream").chat.completions.with_raw_response.create(**SCENARIOS["chat_stream"].kwargs)
        stream = raw.parse()
        assert isinstance(stream, Stream)
        chunks = list(stream)
    streamed = traced.named(f"chat {CHAT}")[1]
    assert streamed.attributes["weave_agent.stream.end_reason"] == "exhausted"
    assert streamed.attributes["gen_ai.usage.input_tokens"] == chunks[-1].x_groq.usage.prompt_tokens


def test_with_streaming_response_sync_and_async(traced: Any) -> None:
    kwargs = SCENARIOS["chat_stream"].kwargs
    with ct.replay("chat_stream"):
        with ct.client("chat_stream").chat.completions.with_streaming_response.create(**kwargs) as response:
            chunks = list(response.parse())
    assert ct.text_of(chunks) == ct.CAPITAL

    async def run() -> Any:
        with ct.replay("chat_create"):
            resource = ct.client("chat_create", True).chat.completions.with_streaming_response
            async with resource.create(**SCENARIOS["chat_create"].kwargs) as response:
                return await response.parse()

    completion = asyncio.run(run())
    first, second = traced.named(f"chat {CHAT}")
    assert first.attributes["gen_ai.usage.input_tokens"] == chunks[-1].x_groq.usage.prompt_tokens
    assert second.attributes["gen_ai.response.id"] == completion.id
    assert token_points(traced)["output"] == (
        chunks[-1].x_groq.usage.completion_tokens + completion.usage.completion_tokens)


# -- embeddings ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_embeddings(traced: Any, mode: str) -> None:
    response = ct.run("embeddings_create", mode)
    span = traced.one(f"embeddings {rec.EMBED_MODEL}")
    assert span.kind is SpanKind.CLIENT
    assert attrs_of(span) == {
        "gen_ai.operation.name": "embeddings",
        "gen_ai.provider.name": "groq",
        "gen_ai.request.model": rec.EMBED_MODEL,
        **SERVER,
        "gen_ai.response.model": rec.EMBED_MODEL,
        "gen_ai.embeddings.dimension.count": 768,
        "gen_ai.usage.input_tokens": response.usage.prompt_tokens,
    }
    assert token_points(traced) == {"input": response.usage.prompt_tokens}


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("name", "exc_type", "status"), [
    ("chat_error_401", groq.AuthenticationError, "401"),
    ("chat_error_404", groq.NotFoundError, "404"),
    ("chat_error_429", groq.RateLimitError, "429"),
])
def test_http_errors(traced: Any, mode: str, name: str, exc_type: type, status: str) -> None:
    with pytest.raises(exc_type) as caught:
        ct.run(name, mode)
    assert type(caught.value) is exc_type and str(caught.value.status_code) == status  # the SDK's own
    model = SCENARIOS[name].kwargs["model"]
    span = traced.one(f"chat {model}")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == status
    assert [e.name for e in span.events] == ["exception"]
    assert "gen_ai.response.id" not in span.attributes
    (duration,) = traced.metric_points("gen_ai.client.inference.duration")
    assert duration.attributes["error.type"] == status
    assert token_points(traced) == {}


def test_error_type_without_status() -> None:
    assert ChatExtractor().error_type(TimeoutError("slow")) == "TimeoutError"
    request = httpx.Request("POST", "https://api.groq.com/openai/v1/chat/completions")
    assert ChatExtractor().error_type(groq.APIConnectionError(request=request)) == "APIConnectionError"


# -- secrets, the network, capture off, metrics ---------------------------------------------------


SUPPORTED = [name for name in SCENARIOS if not ct.unsupported(name)]  # all of them on groq 1.x


def _every_scenario(mode: str = "sync") -> None:
    for name in SUPPORTED:
        scenario = SCENARIOS[name]
        try:
            result = ct.run(name, mode)
        except groq.APIError:
            assert scenario.error
            continue
        assert not scenario.error, name
        assert result


def test_no_api_key_and_no_request_leaves(traced: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise OSError("the test forbids the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    _every_scenario()
    assert attempts == []  # every request went to the cassette, none anywhere else
    exported = traced.finished()
    assert len(exported) == len(SUPPORTED)
    dump = json.dumps([s.to_json() for s in exported])
    for secret in rec.SECRETS:
        assert secret not in dump
    assert "bearer" not in dump.lower()


def test_content_off_records_no_content(traced: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import weave_agent.lifecycle as lifecycle
    from weave_agent.export import telemetry
    from weave_agent.settings import Settings

    monkeypatch.setattr(
        lifecycle, "_settings", Settings.load({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "false"})
    )
    telemetry.reset()
    telemetry.use_providers(traced.provider, traced.meter_provider)
    ct.run("chat_tools", "sync")
    consume("chat_stream", "iter")
    consume("chat_stream_tools", "async_iter")
    ct.run("embeddings_create", "async")
    finished = traced.finished()
    assert len(finished) == 4
    for span in finished:
        assert not [k for k in span.attributes if k in CONTENT_KEYS]
        assert span.attributes["gen_ai.usage.input_tokens"] > 0
    assert "Paris" not in json.dumps([s.to_json() for s in finished])


def test_metrics(traced: Any) -> None:
    completion = ct.run("chat_create", "sync")
    (duration,) = traced.metric_points("gen_ai.client.inference.duration")
    assert duration.count == 1 and duration.sum > 0
    assert dict(duration.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "groq",
        "gen_ai.request.model": CHAT,
        "gen_ai.response.model": CHAT,
        "groq.response.service_tier": "on_demand",
        **SERVER,
    }
    assert token_points(traced) == {"input": completion.usage.prompt_tokens,
                                    "output": completion.usage.completion_tokens}


# -- the accumulator and the compound models' server-side tools ------------------------------------


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> ChatCompletionChunk:
    return ChatCompletionChunk.construct(**{  # as the SDK builds what it receives (no validation)
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "compound-beta",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra,
    })


def test_compound_executed_tools_are_server_tool_calls() -> None:
    acc = GroqChatAcc()
    search = {"index": 0, "type": "search", "arguments": '{"query": "weather Paris"}'}
    for chunk in (
        _chunk({"role": "assistant", "content": ""}, x_groq={"id": "req_1"}),
        _chunk({"executed_tools": [search]}),
        _chunk({"executed_tools": [{**search, "output": "Sunny, 18 C"}]}),
        _chunk({"content": "Sunny."}),
        _chunk({}, "stop", x_groq={"id": "req_1", "usage": {"prompt_tokens": 9, "completion_tokens": 2,
                                                             "total_tokens": 11}}),
    ):
        acc.add(chunk)
    response = ChatExtractor().response(acc, capture=True)
    assert response.attributes == {"gen_ai.response.id": "chatcmpl-1", "gen_ai.response.finish_reasons": ["stop"],
                                   "groq.request_id": "req_1"}
    assert (response.usage.input_tokens, response.usage.output_tokens) == (9, 2)
    call = {"type": "server_tool_call", "id": None, "name": "search",
            "server_tool_call": {"type": "search", "arguments": {"query": "weather Paris"}}}
    assert response.content["gen_ai.output.messages"] == [{
        "role": "assistant", "finish_reason": "stop",
        "parts": [call, call, {"type": "server_tool_call_response", "id": None,
                               "server_tool_call_response": {"type": "search", "output": "Sunny, 18 C"}},
                  text("Sunny.")],
    }]
    from weave_agent.tools import conventions_check

    for name, value in response.content.items():
        assert conventions_check.check_content(name, value) is None


# -- patching: undo, version range, decline ---------------------------------------------------------


def _targets() -> dict[str, Any]:
    import groq.resources.chat.completions as chat
    import groq.resources.embeddings as embeddings

    return {f"{cls}.create": vars(getattr(module, cls))["create"] for module, cls in (
        (chat, "Completions"), (chat, "AsyncCompletions"), (embeddings, "Embeddings"), (embeddings, "AsyncEmbeddings"))}


def test_undo_restores_the_originals(spans: Any) -> None:
    from weave_agent import patch, unpatch

    before = _targets()
    patch(groq=True)
    try:
        during = _targets()
        assert all(during[k] is not before[k] and during[k].__wrapped__ is before[k] for k in before)
    finally:
        unpatch("groq")
    assert all(_targets()[k] is before[k] for k in before)
    with ct.replay("chat_create"):
        ct.client("chat_create").chat.completions.create(**SCENARIOS["chat_create"].kwargs)
    assert spans.finished() == []


def test_version_range() -> None:
    from weave_agent.hook.registry import builtin, supports

    row = builtin()["groq"]
    assert row.triggers == groq_mod.TRIGGERS and row.distribution == "groq"
    assert supports(row, "1.7.0") and supports(row, "0.13.0")
    assert supports(row, "0.12.0") is False and supports(row, "2.0.0") is False


def test_outside_the_range_declines_with_one_debug_line(
    spans: Any, instrumentation: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from weave_agent.hook import arming

    before = _targets()
    monkeypatch.setattr(arming, "installed_version", lambda dist: "0.12.0" if dist == "groq" else None)
    with caplog.at_level(logging.DEBUG, logger="weave_agent"):
        instrumentation("groq")
    assert _targets() == before  # nothing patched
    lines = [r.getMessage() for r in caplog.records if "groq" in r.getMessage()]
    assert lines == ["weave-agent: groq 0.12.0 is not supported (supported: >=0.13,<2): not patched"]
    with ct.replay("chat_create"):
        ct.client("chat_create").chat.completions.create(**SCENARIOS["chat_create"].kwargs)
    assert spans.finished() == []


def test_a_client_built_before_patching_is_traced(spans: Any, instrumentation: Any) -> None:
    client = Groq(api_key=rec.API_KEY)
    resource = client.chat.completions  # bound before the patch: the class's method is looked up per call
    instrumentation("groq")
    with ct.replay("chat_create"):
        resource.create(**SCENARIOS["chat_create"].kwargs)
    assert len(spans.named(f"chat {CHAT}")) == 1
    assert isinstance(AsyncGroq(api_key=rec.API_KEY).chat.completions, groq.resources.chat.AsyncCompletions)


def test_stream_open_at_interpreter_exit(traced: Any) -> None:
    from weave_agent import streams

    with ct.replay("chat_stream"):
        stream = open_stream()
        next(stream)
        assert streams.end_all_open() == 1  # what the agent's exit hook runs
    span = one_ended(traced, "interpreter_exit")
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)
    stream.close()  # after the span ended: nothing more
    assert len(traced.finished()) == 1


# -- the import hook, in a fresh interpreter: groq imported after the agent started -------------

CHILD = r"""
import json, sys
sys.path.insert(0, {here!r})
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

class Printer(SpanExporter):  # prints at span end: the spans ended at interpreter exit too
    def export(self, spans):
        for s in spans:
            print("SPAN " + json.dumps([s.name, s.attributes.get("weave_agent.stream.end_reason"),
                                        s.attributes.get("gen_ai.usage.input_tokens")]), flush=True)
        return SpanExportResult.SUCCESS

provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(Printer()))
trace.set_tracer_provider(provider)
import weave_agent
weave_agent.init()
import groq
# (groq 1.x loads its resources on the first client.chat; older releases import them with groq)
import vcr
import record_cassettes as rec
client = groq.Groq(api_key=rec.API_KEY)
replay = vcr.VCR(serializer="yaml", cassette_library_dir={cassettes!r}, record_mode="none", match_on=rec.MATCH_ON)
with replay.use_cassette("chat_create.yaml"):
    client.chat.completions.create(**rec.SCENARIOS["chat_create"].kwargs)
with replay.use_cassette("chat_stream.yaml"):
    stream = client.chat.completions.create(**rec.SCENARIOS["chat_stream"].kwargs)
    next(stream)
patched = [hasattr(vars(type(r))["create"], "__wrapped__") for r in (client.embeddings, client.chat.completions)]
print("PATCHED " + json.dumps(patched), flush=True)
# the stream stays open: the agent ends its span at interpreter exit
"""


def test_hook_fires_after_init_and_a_stream_open_at_exit_ends(tmp_path: Path) -> None:
    sys.path.insert(0, str(HERE.parents[1] / "agent"))
    try:
        from _subproc import run_python
    finally:
        sys.path.remove(str(HERE.parents[1] / "agent"))
    code = CHILD.format(here=str(HERE), cassettes=str(rec.CASSETTE_DIR))
    result = run_python(code, cwd=tmp_path, env={"WEAVE_AGENT_QUIET": "true"}, timeout=60).check()
    printed = [line.split(" ", 1) for line in result.lines if line.startswith(("SPAN ", "PATCHED "))]
    assert [kind for kind, _ in printed] == ["SPAN", "PATCHED", "SPAN"]
    first, last = json.loads(printed[0][1]), json.loads(printed[2][1])
    assert first[0] == f"chat {CHAT}" and first[1] is None and first[2] > 0
    assert last == [f"chat {CHAT}", "interpreter_exit", None]
    assert json.loads(printed[1][1]) == [True, True]  # embeddings too, from the same lazy import
