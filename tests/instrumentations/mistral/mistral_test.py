"""The Mistral instrumentation, through the real SDK (mistralai 3.x) and the recorded cassettes.

Every scenario runs sync and async; streams run as an iterator and as a context manager.
The SDK's result is checked to be what the SDK gives without the agent, then the span and
the metrics are checked against the GenAI conventions (v1.41). Cassettes replay with
record mode ``none``: nothing here talks to the network.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.metadata
import importlib.util
import json
import logging
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from mistralai.client import basesdk, errors, models
from mistralai.client.sdkconfiguration import SERVERS
from mistralai.client.utils.eventstreaming import EventStream, EventStreamAsync
from opentelemetry.trace import SpanKind, StatusCode

from weave_agent.hook.patcher import ModulePatcher, MultiPatcher
from weave_agent.instrumentations.mistral import mistral as mistral_mod
from weave_agent.instrumentations.mistral.streaming import MistralStreamAccumulator
from weave_agent.testing import load_module

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]


ct = load_module("weave_tests_mistral_cassettes_test", HERE / "mistral_cassettes_test.py")  # replay(), client(), checks
rec = ct.rec
SCENARIOS = rec.SCENARIOS
MODES = ("sync", "async")

# What older releases in the range lack (the compatibility matrix, bench/compat.py, runs these
# tests on the oldest release the registry admits). The SDK's HTTP library: httpx2 from
# mistralai 3 on, httpx before it (``basesdk`` imports either as ``httpx``).
httpx2 = basesdk.httpx
SDK_VERSION = importlib.metadata.version("mistralai")
STREAMS_CLOSE = hasattr(EventStream, "close") and hasattr(EventStreamAsync, "close")
NO_CLOSE = f"mistralai {SDK_VERSION}: its streams have no close() (added in 2.10.0)"
# 2.4.8 made the SDK's tracer opt-in (MISTRAL_SDK_TELEMETRY, configure_telemetry); before it,
# it traced whenever a real global TracerProvider was registered.
TELEMETRY_OPT_IN = hasattr(importlib.import_module("mistralai.extra.observability"), "configure_telemetry")
NO_OPT_IN = f"mistralai {SDK_VERSION} has no MISTRAL_SDK_TELEMETRY or configure_telemetry (added in 2.4.8)"
STREAM_MODES = ("iter", "with", "async_iter", "async_with")
CHAT = rec.CHAT_MODEL
CONTENT_KEYS = (
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.definitions",
)
SERVER = {"server.address": "api.mistral.ai", "server.port": 443}


@pytest.fixture(autouse=True)
def _no_ambient_mistral_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("MISTRAL_SDK_TELEMETRY", "MISTRAL_API_KEY", "MISTRAL_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def traced(spans: Any, instrumentation: Any) -> Any:
    instrumentation("mistral")
    return spans


def call(name: str, mode: str, sdk: Any = None) -> Any:
    """Scenario ``name`` through ``client.<resource>.<method>[_async]`` (streams not consumed)."""
    scenario = SCENARIOS[name]
    sdk = sdk if sdk is not None else ct.client()
    resource = getattr(sdk, scenario.resource)
    kwargs = dict(scenario.kwargs)
    with ct.replay(name):
        if mode == "sync":
            return getattr(resource, scenario.method)(**kwargs)

        async def run() -> Any:
            return await getattr(resource, f"{scenario.method}_async")(**kwargs)

        return asyncio.run(run())


def attrs(span: Any) -> dict[str, Any]:
    return dict(span.attributes)


def content(span: Any, key: str) -> Any:
    return json.loads(span.attributes[key])


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "content": value}


def metadata(span: Any) -> dict[str, Any]:
    """The span's attributes without content and the stream bookkeeping."""
    return {
        k: v
        for k, v in span.attributes.items()
        if k not in CONTENT_KEYS
        and not k.startswith("weave_agent.stream.")
        and k != "gen_ai.response.time_to_first_chunk"
    }


def token_points(spans: Any) -> dict[str, int]:
    """The tokens the usage counters counted, per direction (a call without usage counts 0)."""
    totals = {d: sum(p.value for p in spans.metric_points("gen_ai.client.inference.usage.%s_tokens" % d))
              for d in ("input", "output")}
    totals["input"] += sum(p.sum for p in spans.metric_points("gen_ai.client.embeddings.operation.input_tokens"))
    return {d: n for d, n in totals.items() if n}


# -- chat.complete / complete_async ---------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_chat_complete(traced: Any, mode: str) -> None:
    response = call("chat_complete", mode)
    assert isinstance(response, models.ChatCompletionResponse)
    assert response.choices[0].message.content == ct.CAPITAL_ANSWER  # the user's result is untouched

    span = traced.one(f"chat {CHAT}")
    assert span.kind is SpanKind.CLIENT and span.status.status_code is StatusCode.UNSET
    assert span.parent is None
    assert metadata(span) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "mistral_ai",
        "gen_ai.request.model": CHAT,
        **SERVER,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.max_tokens": 64,
        "gen_ai.request.seed": 42,
        "gen_ai.request.stop_sequences": ("\n\n",),
        "gen_ai.response.id": response.id,
        "gen_ai.response.model": CHAT,
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 26,
        "gen_ai.usage.output_tokens": 19,
    }
    assert "gen_ai.system_instructions" not in span.attributes  # the system message stays in the history
    assert content(span, "gen_ai.input.messages") == [
        {"role": "system", "parts": [text("You are a concise geography assistant.")]},
        {"role": "user", "parts": [text("What is the capital of France?")]},
    ]
    assert content(span, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [text(ct.CAPITAL_ANSWER)], "finish_reason": "stop"}
    ]
    assert "gen_ai.tool.definitions" not in span.attributes


@pytest.mark.parametrize("mode", MODES)
def test_chat_tools(traced: Any, mode: str) -> None:
    response = call("chat_tools", mode)
    (tool_call,) = response.choices[0].message.tool_calls
    span = traced.one(f"chat {CHAT}")
    assert span.attributes["gen_ai.response.finish_reasons"] == ("tool_call",)
    assert content(span, "gen_ai.tool.definitions") == [
        {
            "type": "function",
            "name": "get_weather",
            "description": rec.WEATHER_TOOL["function"]["description"],
            "parameters": rec.WEATHER_TOOL["function"]["parameters"],
        }
    ]
    assert content(span, "gen_ai.output.messages") == [
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": tool_call.id, "name": "get_weather", "arguments": {"location": "Paris"}}
            ],
            "finish_reason": "tool_call",
        }
    ]


@pytest.mark.parametrize("mode", MODES)
def test_chat_tool_result(traced: Any, mode: str) -> None:
    response = call("chat_tool_result", mode)
    assert rec.TOOL_RESULT in response.choices[0].message.content
    span = traced.one(f"chat {CHAT}")
    assert content(span, "gen_ai.input.messages") == [
        {"role": "user", "parts": [text("What's the weather like in Paris today?")]},
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": rec.TOOL_CALL_ID, "name": "get_weather", "arguments": {"location": "Paris"}}
            ],
        },
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": rec.TOOL_CALL_ID, "response": rec.TOOL_RESULT}],
        },
    ]
    assert span.attributes["gen_ai.response.finish_reasons"] == ("stop",)


def test_request_attributes_and_server() -> None:
    chat = mistral_mod.ChatExtractor(streaming=False)
    inputs = {"model": "m", "messages": [], "n": 2, "stop": "END", "random_seed": 7, "top_k": 40}
    request = chat.request(inputs, ct.Mistral(api_key=rec.API_KEY, server="eu").chat, capture=False)
    assert request.attributes == {  # no gen_ai.request.stream: set only when streaming
        "gen_ai.request.choice.count": 2,
        "gen_ai.request.stop_sequences": ["END"],
        "gen_ai.request.seed": 7,
        "gen_ai.request.top_k": 40,
    }
    assert request.content is None  # capture off: no message structures built
    # server "eu" is api.eu.mistral.ai from mistralai 3 on, api.mistral.ai before: the SDK's own table
    assert (request.server_address, request.server_port) == (urlsplit(SERVERS["eu"]).hostname, 443)
    local = chat.request({**inputs, "n": 1, "server_url": "http://localhost:8080/v1"}, None, capture=False)
    assert (local.server_address, local.server_port) == ("localhost", 8080)
    assert "gen_ai.request.choice.count" not in local.attributes
    configured = ct.Mistral(api_key=rec.API_KEY, server_url="https://user:pw@mistral.internal:9443").chat
    assert _server_of(chat, configured) == ("mistral.internal", 9443)  # never the credentials of the URL


def _server_of(extractor: Any, resource: Any) -> tuple[Any, Any]:
    request = extractor.request({"model": "m", "messages": []}, resource, capture=False)
    return request.server_address, request.server_port


# -- streams ----------------------------------------------------------------------------------


def consume(name: str, mode: str) -> list[Any]:
    """Consume a streaming scenario fully, as an iterator or a context manager, sync or async."""
    scenario = SCENARIOS[name]
    sdk = ct.client()
    resource = getattr(sdk, scenario.resource)
    kwargs = dict(scenario.kwargs)
    with ct.replay(name):
        if mode == "iter":
            stream = getattr(resource, scenario.method)(**kwargs)
            assert isinstance(stream, EventStream)
            return list(stream)
        if mode == "with":
            with getattr(resource, scenario.method)(**kwargs) as stream:
                assert isinstance(stream, EventStream)
                return [event for event in stream]

        async def run() -> list[Any]:
            stream = await getattr(resource, f"{scenario.method}_async")(**kwargs)
            assert isinstance(stream, EventStreamAsync)
            if mode == "async_iter":
                return [event async for event in stream]
            async with stream as entered:
                return [event async for event in entered]

        return asyncio.run(run())


def expected_end(mode: str) -> str:
    return "exited" if mode.endswith("with") else "exhausted"


@pytest.mark.parametrize("mode", STREAM_MODES)
def test_chat_stream(traced: Any, mode: str) -> None:
    events = consume("chat_stream", mode)
    assert ct.assert_chunks(events, CHAT, "stop") == ct.CAPITAL_ANSWER
    span = traced.one(f"chat {CHAT}")
    assert span.kind is SpanKind.CLIENT and span.status.status_code is StatusCode.UNSET
    assert metadata(span) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "mistral_ai",
        "gen_ai.request.model": CHAT,
        **SERVER,
        "gen_ai.request.stream": True,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.max_tokens": 64,
        "gen_ai.response.id": events[0].data.id,
        "gen_ai.response.model": CHAT,
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": events[-1].data.usage.prompt_tokens,
        "gen_ai.usage.output_tokens": events[-1].data.usage.completion_tokens,
    }
    assert span.attributes["weave_agent.stream.chunks"] == len(events)
    assert span.attributes["weave_agent.stream.end_reason"] in ("exhausted", expected_end(mode))
    assert span.attributes["gen_ai.response.time_to_first_chunk"] >= 0
    assert content(span, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [text(ct.CAPITAL_ANSWER)], "finish_reason": "stop"}
    ]
    assert len(traced.metric_points("gen_ai.client.inference.time_to_first_chunk")) == 1


@pytest.mark.parametrize("mode", STREAM_MODES)
def test_chat_stream_tools(traced: Any, mode: str) -> None:
    events = consume("chat_stream_tools", mode)
    (tool_call,) = next(e for e in events if e.data.choices[0].delta.tool_calls).data.choices[0].delta.tool_calls
    span = traced.one(f"chat {CHAT}")
    assert span.attributes["gen_ai.response.finish_reasons"] == ("tool_call",)
    assert content(span, "gen_ai.output.messages") == [
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": tool_call.id, "name": "get_weather", "arguments": {"location": "Paris"}}
            ],
            "finish_reason": "tool_call",
        }
    ]
    assert len(content(span, "gen_ai.tool.definitions")) == 1


@pytest.mark.parametrize("mode", STREAM_MODES)
def test_chat_stream_error_finish_reason(traced: Any, mode: str) -> None:
    # HTTP 200, partial content, last chunk finish_reason "error": the SDK raises nothing,
    # the agent records a failed call and keeps what was produced.
    events = consume("chat_stream_error", mode)
    produced = ct.assert_chunks(events, CHAT, "error")
    span = traced.one(f"chat {CHAT}")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "finish_reason_error"
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)
    assert span.attributes["gen_ai.usage.output_tokens"] == events[-1].data.usage.completion_tokens
    assert content(span, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [text(produced)], "finish_reason": "error"}
    ]
    (duration,) = traced.metric_points("gen_ai.client.inference.duration")
    assert duration.attributes["error.type"] == "finish_reason_error"


@pytest.mark.parametrize("mode", MODES)
def test_stream_request_rejected(traced: Any, mode: str) -> None:
    # 422 on a stream request: stream()/stream_async() raises before any EventStream exists.
    with pytest.raises(errors.HTTPValidationError) as caught:
        call("chat_stream_error_422", mode)
    assert caught.value.status_code == 422
    span = traced.one(f"chat {CHAT}")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "422"
    assert span.attributes["gen_ai.request.stream"] is True


# -- every way a stream ends: exactly one ended span each ---------------------------------


def open_stream(mode: str = "sync") -> Any:
    scenario = SCENARIOS["chat_stream"]
    return getattr(ct.client().chat, "stream" if mode == "sync" else "stream_async")(**scenario.kwargs)


def one_ended(spans: Any, reason: str, complete: bool = False) -> Any:
    span = spans.one(f"chat {CHAT}")
    assert span.end_time is not None
    assert span.attributes["weave_agent.stream.end_reason"] == reason
    assert span.attributes["weave_agent.stream.complete"] is complete
    return span


def test_stream_break_then_dropped(traced: Any) -> None:
    with ct.replay("chat_stream"):
        stream = open_stream()
        for _ in stream:
            break
        assert traced.finished() == []  # still open while the caller holds it
        del stream
        gc.collect()
    span = one_ended(traced, "garbage_collected")
    assert span.attributes["weave_agent.stream.chunks"] == 1
    assert span.attributes["gen_ai.response.id"]


@pytest.mark.skipif(not STREAMS_CLOSE, reason=NO_CLOSE)
def test_stream_close(traced: Any) -> None:
    with ct.replay("chat_stream"):
        stream = open_stream()
        next(stream)
        next(stream)
        stream.close()
        assert stream.response.is_closed  # forwarded to the SDK's stream
        stream.close()  # twice: still one span
    span = one_ended(traced, "closed")
    assert span.attributes["weave_agent.stream.chunks"] == 2


def test_stream_with_exit_early(traced: Any) -> None:
    with ct.replay("chat_stream"):
        with open_stream() as stream:
            assert isinstance(stream, EventStream)
            next(stream)
        assert stream.response.is_closed
    one_ended(traced, "exited")


def test_stream_never_iterated(traced: Any) -> None:
    with ct.replay("chat_stream"):
        stream = open_stream()
        del stream
        gc.collect()
    span = one_ended(traced, "garbage_collected")
    assert span.attributes["weave_agent.stream.chunks"] == 0


def test_stream_exhausted_then_closed(traced: Any) -> None:
    with ct.replay("chat_stream"):
        with open_stream() as stream:
            events = list(stream)
    assert len(events) > 1
    one_ended(traced, "exhausted", complete=True)


def test_async_stream_exits(traced: Any) -> None:
    async def run() -> None:
        if STREAMS_CLOSE:
            with ct.replay("chat_stream"):
                stream = await open_stream("async")  # close()
                await stream.__anext__()
                await stream.close()
                assert stream.response.is_closed
        with ct.replay("chat_stream"):
            async with await open_stream("async") as stream:  # async with, left early
                async for _ in stream:
                    break
        with ct.replay("chat_stream"):
            stream = await open_stream("async")  # break, then dropped
            async for _ in stream:
                break
            del stream
            gc.collect()
        with ct.replay("chat_stream"):
            stream = await open_stream("async")  # never iterated
            del stream
            gc.collect()

    asyncio.run(run())
    reasons = [s.attributes["weave_agent.stream.end_reason"] for s in traced.finished()]
    assert reasons == ["closed"] * STREAMS_CLOSE + ["exited", "garbage_collected", "garbage_collected"]


def test_stream_span_is_not_current_between_chunks(traced: Any) -> None:
    from opentelemetry import trace

    with ct.replay("chat_stream"):
        stream = open_stream()
        next(stream)
        assert not trace.get_current_span().get_span_context().is_valid
        list(stream)


def _cut_stream_client() -> Any:
    """A client whose stream sends one event, then the connection breaks (no cassette can hold that)."""
    first = "data: %s\n\n" % json.dumps(_completion(CHAT, chunk=True, finish=None))

    class Cut(httpx2.SyncByteStream, httpx2.AsyncByteStream):
        def __iter__(self) -> Any:
            yield first.encode()
            raise httpx2.ReadError("connection reset by peer")

        async def __aiter__(self) -> Any:
            yield first.encode()
            raise httpx2.ReadError("connection reset by peer")

    def handler(request: Any) -> Any:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, stream=Cut())

    transport = httpx2.MockTransport(handler)
    return ct.Mistral(
        api_key=rec.API_KEY,
        client=httpx2.Client(transport=transport),
        async_client=httpx2.AsyncClient(transport=transport),
    )


@pytest.mark.parametrize("mode", MODES)
def test_stream_cut_mid_way(traced: Any, mode: str) -> None:
    sdk = _cut_stream_client()
    kwargs = SCENARIOS["chat_stream"].kwargs
    received: list[Any] = []
    with pytest.raises(httpx2.ReadError):
        if mode == "sync":
            for event in sdk.chat.stream(**kwargs):
                received.append(event)
        else:

            async def run() -> None:
                async for event in await sdk.chat.stream_async(**kwargs):
                    received.append(event)

            asyncio.run(run())
    assert len(received) == 1
    span = traced.one(f"chat {CHAT}")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "ReadError"
    assert span.attributes["weave_agent.stream.end_reason"] == "error"
    # what came, and "error" for the finish reason that never did
    assert content(span, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [text("Hi there")], "finish_reason": "error"}
    ]
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)
    assert "gen_ai.usage.input_tokens" not in span.attributes  # usage never arrived: nothing invented


# -- FIM --------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_fim_complete(traced: Any, mode: str) -> None:
    response = call("fim_complete", mode)
    assert response.choices[0].message.content == ct.FIM_ANSWER
    span = traced.one(f"text_completion {rec.FIM_MODEL}")
    assert metadata(span) == {
        "gen_ai.operation.name": "text_completion",
        "gen_ai.provider.name": "mistral_ai",
        "gen_ai.request.model": rec.FIM_MODEL,
        **SERVER,
        "gen_ai.request.temperature": 0.0,
        "gen_ai.request.max_tokens": 64,
        "gen_ai.response.id": response.id,
        "gen_ai.response.model": rec.FIM_MODEL,
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": response.usage.prompt_tokens,
        "gen_ai.usage.output_tokens": response.usage.completion_tokens,
    }
    assert content(span, "gen_ai.input.messages") == [
        {"role": "user", "parts": [
            text(rec.FIM_PROMPT), {"type": "generic", "generic_type": "fim_suffix", "content": rec.FIM_SUFFIX}
        ]}
    ]
    assert content(span, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [text(ct.FIM_ANSWER)], "finish_reason": "stop"}
    ]


@pytest.mark.parametrize("mode", STREAM_MODES)
def test_fim_stream(traced: Any, mode: str) -> None:
    events = consume("fim_stream", mode)
    assert ct.assert_chunks(events, rec.FIM_MODEL, "stop") == ct.FIM_ANSWER
    span = traced.one(f"text_completion {rec.FIM_MODEL}")
    assert span.attributes["gen_ai.request.stream"] is True
    assert span.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert span.attributes["gen_ai.usage.output_tokens"] == events[-1].data.usage.completion_tokens
    assert content(span, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [text(ct.FIM_ANSWER)], "finish_reason": "stop"}
    ]


# -- embeddings -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_embeddings_create(traced: Any, mode: str) -> None:
    response = call("embeddings_create", mode)
    assert len(response.data) == 2
    span = traced.one(f"embeddings {rec.EMBED_MODEL}")
    assert span.kind is SpanKind.CLIENT
    assert metadata(span) == {
        "gen_ai.operation.name": "embeddings",
        "gen_ai.provider.name": "mistral_ai",
        "gen_ai.request.model": rec.EMBED_MODEL,
        **SERVER,
        "gen_ai.response.id": response.id,
        "gen_ai.response.model": rec.EMBED_MODEL,
        "gen_ai.embeddings.dimension.count": 1024,
        "gen_ai.usage.input_tokens": response.usage.prompt_tokens,
    }
    assert content(span, "gen_ai.input.messages") == [
        {"role": "user", "parts": [text(t) for t in SCENARIOS["embeddings_create"].kwargs["inputs"]]}
    ]
    assert token_points(traced) == {"input": response.usage.prompt_tokens}  # embeddings produce no output tokens


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("name", "exc_type", "status"),
    [
        ("chat_error_401", errors.SDKError, "401"),
        ("chat_error_422", errors.HTTPValidationError, "422"),
        ("chat_error_500", errors.SDKError, "500"),
    ],
)
def test_http_errors(traced: Any, mode: str, name: str, exc_type: type, status: str) -> None:
    scenario = SCENARIOS[name]
    sdk = ct.Mistral(api_key=scenario.api_key)
    with pytest.raises(exc_type) as caught:
        call(name, mode, sdk)
    assert type(caught.value) is exc_type and str(caught.value.status_code) == status  # the SDK's own exception
    span = traced.one(f"chat {CHAT}")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == status
    assert [e.name for e in span.events] == ["exception"]
    assert "gen_ai.response.id" not in span.attributes
    (duration,) = traced.metric_points("gen_ai.client.inference.duration")
    assert duration.attributes["error.type"] == status
    assert token_points(traced) == {}


def test_error_type_without_status_is_the_class_name() -> None:
    extractor = mistral_mod.ChatExtractor(streaming=False)
    assert extractor.error_type(TimeoutError("slow")) == "TimeoutError"


# -- secrets, metrics, capture off --------------------------------------------------------------


def test_no_api_key_in_anything_exported(traced: Any) -> None:
    for name, scenario in SCENARIOS.items():
        sdk = ct.Mistral(api_key=scenario.api_key)
        try:
            result = call(name, "sync", sdk)
            if scenario.streaming:
                with result as stream:
                    list(stream)
        except errors.MistralError:
            pass
    exported = traced.finished()
    assert len(exported) == len(SCENARIOS)
    dump = json.dumps([s.to_json() for s in exported])
    for secret in rec.SECRETS:
        assert secret not in dump
    assert "authorization" not in dump.lower() and "bearer" not in dump.lower()


def test_metrics(traced: Any) -> None:
    response = call("chat_complete", "sync")
    (duration,) = traced.metric_points("gen_ai.client.inference.duration")
    assert duration.count == 1 and duration.sum > 0
    assert dict(duration.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "mistral_ai",
        "gen_ai.request.model": CHAT,
        "gen_ai.response.model": CHAT,
        **SERVER,
    }
    assert token_points(traced) == {"input": response.usage.prompt_tokens, "output": response.usage.completion_tokens}


def test_content_off_records_no_content(traced: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import weave_agent.lifecycle as lifecycle
    from weave_agent.export import telemetry
    from weave_agent.settings import Settings

    monkeypatch.setattr(
        lifecycle, "_settings", Settings.load({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "false"})
    )
    telemetry.reset()
    telemetry.use_providers(traced.provider, traced.meter_provider)
    call("chat_tools", "sync")
    consume("chat_stream_tools", "iter")
    call("embeddings_create", "sync")
    consume("fim_stream", "with")
    finished = traced.finished()
    assert len(finished) == 4
    for span in finished:
        assert not [k for k in span.attributes if k in CONTENT_KEYS]
        assert span.attributes["gen_ai.usage.input_tokens"] > 0


# -- patching: import paths, undo, version range, unknown structure ----------------------------


def test_both_import_paths_are_patched(traced: Any) -> None:
    from mistralai.client import Mistral as FromPackage
    from mistralai.client.sdk import Mistral as FromSdk

    assert FromPackage is FromSdk
    for cls in (FromPackage, FromSdk):
        with ct.replay("chat_complete"):
            cls(api_key=rec.API_KEY).chat.complete(**SCENARIOS["chat_complete"].kwargs)
    assert len(traced.named(f"chat {CHAT}")) == 2


def _targets() -> dict[str, Any]:
    import mistralai.client.chat as chat
    import mistralai.client.embeddings as embeddings
    import mistralai.client.fim as fim

    out = {}
    for module, cls, methods in (
        (chat, "Chat", ("complete", "complete_async", "stream", "stream_async", "parse", "parse_stream")),
        (fim, "Fim", ("complete", "complete_async", "stream", "stream_async")),
        (embeddings, "Embeddings", ("create", "create_async")),
    ):
        for method in methods:
            out[f"{cls}.{method}"] = vars(getattr(module, cls))[method]
    return out


def test_undo_restores_the_originals(spans: Any) -> None:
    from weave_agent import patch, unpatch

    before = _targets()
    patch(mistral=True)
    try:
        during = _targets()
        for key in before:
            if key.split(".")[1].startswith("parse"):
                assert during[key] is before[key]  # parse* call complete/stream: never patched
            else:
                assert during[key] is not before[key]
                assert during[key].__wrapped__ is before[key]
    finally:
        unpatch("mistral")
    after = _targets()
    assert all(after[key] is before[key] for key in before)


def test_parse_makes_one_span(traced: Any) -> None:
    import pydantic

    class Answer(pydantic.BaseModel):
        capital: str

    with ct.replay("chat_complete"):
        try:
            ct.client().chat.parse(response_format=Answer, **SCENARIOS["chat_complete"].kwargs)
        except Exception:
            pass  # the recorded answer is not JSON: parsing may fail after the call
    span = traced.one(f"chat {CHAT}")
    assert span.attributes["gen_ai.output.type"] == "json"


def test_version_range() -> None:
    from weave_agent.hook.registry import builtin, supports

    row = builtin()["mistral"]
    assert row.triggers == mistral_mod.TRIGGERS  # every patched class's module arms the row
    assert row.distribution == "mistralai"
    assert supports(row, "3.7.0") and supports(row, "2.0.0")
    assert supports(row, "1.9.11") is False and supports(row, "4.0.0") is False


def test_unknown_structure_declines_with_one_debug_line(caplog: pytest.LogCaptureFixture) -> None:
    import mistralai.client.chat as chat

    before = vars(chat.Chat)["complete"]
    odd = mistral_mod.Group("mistralai.client.chat", "Chat", ("complete", "no_such_method"), "chat")
    gone = mistral_mod.Group("mistralai.client.chat", "NoSuchClass", ("complete",), "chat")
    patcher = MultiPatcher([ModulePatcher(g.module, g.patchers, g.missing) for g in (odd, gone)])
    with caplog.at_level(logging.DEBUG, logger="weave_agent"):
        assert patcher.attempt_patch() is False
    assert vars(chat.Chat)["complete"] is before  # nothing patched, not even the method that exists
    lines = [r.getMessage() for r in caplog.records if "mistral" in r.getMessage()]
    assert len(lines) == 1 and "Chat.no_such_method" in lines[0]
    assert patcher.undo_patch() is True  # its import hooks removed
    assert vars(chat.Chat)["complete"] is before


def test_each_class_is_patched_when_its_module_is_imported(spans: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # A module imported after the row was armed is patched by its own import hook.
    import mistralai.client.fim as fim

    from weave_agent import patch, unpatch

    original = vars(fim.Fim)["complete"]
    monkeypatch.setattr(sys.modules["mistralai.client"], "fim", fim)  # restored with sys.modules below
    monkeypatch.delitem(sys.modules, "mistralai.client.fim")
    patch(mistral=True)
    try:
        assert vars(fim.Fim)["complete"] is original  # the old module object: not imported any more
        import mistralai.client.fim as fresh

        assert fresh is not fim
        assert hasattr(vars(fresh.Fim)["complete"], "_self_weave_spec")
    finally:
        unpatch("mistral")
    assert not hasattr(vars(fresh.Fim)["complete"], "_self_weave_spec")


def test_content_parts_reasoning_and_images() -> None:
    chat = mistral_mod.ChatExtractor(streaming=True)
    messages = [
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": "data:image/png;base64,AAAABBBB"},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                {"type": "document_url", "document_url": "https://signed.example.com/doc?sig=secret"},
            ],
        },
    ]
    request = chat.request({"model": "m", "messages": messages}, None, capture=True)
    assert "gen_ai.system_instructions" not in request.content
    assert request.content["gen_ai.input.messages"] == [
        {"role": "system", "parts": [text("Be brief.")]},
        {
            "role": "user",
            "parts": [
                text("What is this?"),
                {"type": "generic", "generic_type": "blob", "modality": "image", "mime_type": "image/png",
                 "byte_size": 6},
                {"type": "uri", "modality": "image", "uri": "https://example.com/cat.png"},
                # the kind only: a document URL may be signed
                {"type": "generic", "generic_type": "document_url"},
            ],
        },
    ]
    acc = MistralStreamAccumulator()
    thinking = [{"type": "thinking", "thinking": [{"type": "text", "text": "Looks like a cat."}]}]
    acc.add(_chunk(0, thinking))
    acc.add(_chunk(0, [{"type": "text", "text": "A cat."}], finish="stop"))
    assert chat.response(acc, capture=True).content["gen_ai.output.messages"] == [
        {
            "role": "assistant",
            "parts": [{"type": "reasoning", "content": "Looks like a cat."}, text("A cat.")],
            "finish_reason": "stop",
        }
    ]


# -- the SDK's own tracer: one model call, one LLM span ---------------------------------------


@pytest.mark.skipif(not TELEMETRY_OPT_IN, reason=NO_OPT_IN)
def test_sdk_telemetry_global_calls_through_untraced(
    traced: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("MISTRAL_SDK_TELEMETRY", "global")
    with caplog.at_level(logging.DEBUG, logger="weave_agent"):
        response = call("chat_complete", "sync")
        call("chat_complete", "async")
        assert consume("chat_stream", "iter")
    assert response.choices[0].message.content == ct.CAPITAL_ANSWER
    assert traced.finished() == []
    lines = [r.getMessage() for r in caplog.records if "one model call, one LLM span" in r.getMessage()]
    assert len(lines) == 1 and "MISTRAL_SDK_TELEMETRY" in lines[0]


def test_sdk_telemetry_off_is_traced(traced: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MISTRAL_SDK_TELEMETRY", "false")
    call("chat_complete", "sync")
    traced.one(f"chat {CHAT}")


@pytest.mark.skipif(not TELEMETRY_OPT_IN, reason=NO_OPT_IN)
def test_configure_telemetry_client_gets_the_sdk_span_only(traced: Any) -> None:
    from mistralai.extra.observability import configure_telemetry
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    sdk_exporter = InMemorySpanExporter()
    sdk_provider = TracerProvider()
    sdk_provider.add_span_processor(SimpleSpanProcessor(sdk_exporter))
    configured = ct.client()
    configure_telemetry(configured, provider=sdk_provider)  # a custom provider: nothing is exported anywhere
    call("chat_complete", "sync", configured)
    call("chat_complete", "sync")  # another client, not configured: the agent traces it
    assert len(sdk_exporter.get_finished_spans()) == 1  # the SDK's own span for the configured client
    assert len(traced.named(f"chat {CHAT}")) == 1
    sdk_provider.shutdown()


def _before_opt_in_decision(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before 2.4.8: the SDK traces while a real global provider is registered, whatever the
    environment says (it reads no MISTRAL_SDK_TELEMETRY)."""
    resource = ct.client().chat
    monkeypatch.setenv("MISTRAL_SDK_TELEMETRY", "global")
    monkeypatch.setattr(mistral_mod, "_has_real_global_provider", lambda: False)
    assert mistral_mod.sdk_traces(resource) is False
    monkeypatch.setattr(mistral_mod, "_has_real_global_provider", lambda: True)
    assert mistral_mod.sdk_traces(resource) is True
    monkeypatch.setenv("MISTRAL_SDK_TELEMETRY", "false")
    assert mistral_mod.sdk_traces(resource) is True
    assert mistral_mod.sdk_traces(object()) is False


def test_sdk_traces_before_telemetry_was_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pre-2.4.8 branch on any release: the mark of the opt-in era hidden, the decision
    follows the global provider (the matrix runs it on a real 2.x release too)."""
    if TELEMETRY_OPT_IN:
        observability = importlib.import_module("mistralai.extra.observability")
        monkeypatch.delattr(observability, "configure_telemetry")
    _before_opt_in_decision(monkeypatch)


def test_sdk_traces_mirrors_the_sdk_decision(monkeypatch: pytest.MonkeyPatch) -> None:
    if not TELEMETRY_OPT_IN:
        _before_opt_in_decision(monkeypatch)
        return
    resource = ct.client().chat
    assert mistral_mod.sdk_traces(resource) is False
    monkeypatch.setenv("MISTRAL_SDK_TELEMETRY", "global")
    assert mistral_mod.sdk_traces(resource) is True
    monkeypatch.setenv("MISTRAL_SDK_TELEMETRY", "dedicated")
    monkeypatch.setattr(mistral_mod, "_has_real_global_provider", lambda: False)
    assert mistral_mod.sdk_traces(resource) is True
    # with a real global provider (the agent's), the SDK declines its dedicated provider
    monkeypatch.setattr(mistral_mod, "_has_real_global_provider", lambda: True)
    assert mistral_mod.sdk_traces(resource) is False
    monkeypatch.setenv("MISTRAL_SDK_TELEMETRY", "false")
    assert mistral_mod.sdk_traces(resource) is False
    assert mistral_mod.sdk_traces(object()) is False


# -- the accumulator, on its own ------------------------------------------------------------


def _chunk(
    index: int = 0, content: Any = None, tool_calls: Any = None, finish: str | None = None, usage: Any = None
) -> Any:
    delta: dict[str, Any] = {}
    if content is not None:
        delta["content"] = content
    if tool_calls is not None:
        delta["tool_calls"] = tool_calls
    data = {
        "id": "cmpl-1",
        "model": CHAT,
        "choices": [{"index": index, "delta": delta, "finish_reason": finish}],
    }
    if usage:
        data["usage"] = usage
    return models.CompletionEvent.model_validate({"data": data})


def test_accumulator_choices_fragments_and_usage() -> None:
    acc = MistralStreamAccumulator()
    for event in (
        _chunk(0, "Hel"),
        _chunk(1, "Bon"),
        _chunk(0, "lo"),
        _chunk(1, [{"type": "text", "text": "jour"}]),
        _chunk(0, tool_calls=[{"id": "abc", "index": 0, "function": {"name": "f", "arguments": '{"a": '}}]),
        _chunk(0, tool_calls=[{"index": 0, "function": {"name": "", "arguments": "1}"}}]),
        _chunk(0, tool_calls=[{"id": "def", "index": 0, "function": {"name": "g", "arguments": {"b": 2}}}]),
        _chunk(0, finish="tool_calls"),
        _chunk(1, finish="stop", usage={"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}),
    ):
        acc.add(event)
    response = mistral_mod.ChatExtractor(streaming=True).response(acc, capture=True)
    assert response.attributes == {
        "gen_ai.response.id": "cmpl-1",
        "gen_ai.response.finish_reasons": ["tool_call", "stop"],
    }
    assert (response.usage.input_tokens, response.usage.output_tokens, response.model) == (5, 7, CHAT)
    assert response.content["gen_ai.output.messages"] == [
        {
            "role": "assistant",
            "parts": [
                text("Hello"),
                {"type": "tool_call", "id": "abc", "name": "f", "arguments": {"a": 1}},
                {"type": "tool_call", "id": "def", "name": "g", "arguments": {"b": 2}},
            ],
            "finish_reason": "tool_call",
        },
        {"role": "assistant", "parts": [text("Bonjour")], "finish_reason": "stop"},
    ]


def test_accumulator_without_capture_keeps_metadata_only() -> None:
    acc = MistralStreamAccumulator(capture=False)
    acc.add(_chunk(0, "secret text"))
    acc.add(_chunk(0, finish="stop", usage={"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}))
    assert acc.choices[0].text == [] and acc.choices[0].finish_reason == "stop"
    response = mistral_mod.ChatExtractor(streaming=True).response(acc, capture=True)
    assert response.content is None and response.usage.output_tokens == 2


# -- Azure AI and Vertex AI clients (no cassettes: an in-process fake transport) ----------------


def _completion(model: str, chunk: bool = False, finish: str | None = "stop") -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "finish_reason": finish}
    said = "" if chunk and finish else "Hi there"  # a stream's last chunk carries no text
    choice["delta" if chunk else "message"] = {"role": "assistant", "content": said}
    body: dict[str, Any] = {
        "id": "cafe0001",
        "object": "chat.completion.chunk" if chunk else "chat.completion",
        "model": model,
        "created": 1,
        "choices": [choice],
    }
    if finish:
        body["usage"] = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    return body


def _fake_transport(model: str, seen: list[Any]) -> Any:
    def handler(request: Any) -> Any:
        seen.append(request)
        if request.headers.get("authorization", "").endswith("rejected"):
            return httpx2.Response(401, json={"message": "Unauthorized"})
        if json.loads(request.content).get("stream"):
            events = [_completion(model, chunk=True, finish=None), _completion(model, chunk=True)]
            sse = "".join("data: %s\n\n" % json.dumps(e) for e in events) + "data: [DONE]\n\n"
            return httpx2.Response(200, text=sse, headers={"content-type": "text/event-stream"})
        return httpx2.Response(200, json=_completion(model))

    return httpx2.MockTransport(handler)


def _cloud_client(kind: str, seen: list[Any], key: str = "cloud-secret-key") -> Any:
    transport = _fake_transport("mistral-large-2411", seen)
    clients = {"client": httpx2.Client(transport=transport), "async_client": httpx2.AsyncClient(transport=transport)}
    if kind == "azure":
        from mistralai.azure.client import MistralAzure

        return MistralAzure(api_key=key, server_url="https://mistral-x.eastus2.models.ai.azure.com", **clients)
    pytest.importorskip("google.auth")  # the Vertex AI client needs it
    from mistralai.gcp.client import MistralGCP

    return MistralGCP(project_id="proj-1", region="europe-west4", access_token=key, **clients)


CLOUD_HOSTS = {"azure": "mistral-x.eastus2.models.ai.azure.com", "gcp": "europe-west4-aiplatform.googleapis.com"}


@pytest.mark.parametrize("kind", ["azure", "gcp"])
def test_cloud_clients(traced: Any, kind: str) -> None:
    seen: list[Any] = []
    sdk = _cloud_client(kind, seen)
    messages = [{"role": "user", "content": "Hello"}]
    response = sdk.chat.complete(model="mistral-large-2411", messages=messages, temperature=0.1)
    assert response.choices[0].message.content == "Hi there"
    with sdk.chat.stream(model="mistral-large-2411", messages=messages) as stream:
        assert len(list(stream)) == 2

    async def run() -> None:
        await sdk.chat.complete_async(model="mistral-large-2411", messages=messages)
        stream = await sdk.chat.stream_async(model="mistral-large-2411", messages=messages)
        async for _ in stream:
            pass

    asyncio.run(run())
    assert len(seen) == 4
    finished = traced.named("chat mistral-large-2411")
    assert [s.attributes.get("gen_ai.request.stream") for s in finished] == [None, True, None, True]
    for span in finished:
        assert span.attributes["gen_ai.provider.name"] == "mistral_ai"
        assert span.attributes["server.address"] == CLOUD_HOSTS[kind]
        assert span.attributes["server.port"] == 443
        assert span.attributes["gen_ai.response.finish_reasons"] == ("stop",)
        assert span.attributes["gen_ai.usage.output_tokens"] == 2
        assert content(span, "gen_ai.output.messages")[0]["parts"] == [text("Hi there")]
    assert "cloud-secret-key" not in json.dumps([s.to_json() for s in finished])


def test_azure_default_model_and_error(traced: Any) -> None:
    from mistralai.azure.client import errors as azure_errors

    sdk = _cloud_client("azure", [], key="rejected")
    with pytest.raises(azure_errors.SDKError):
        sdk.chat.complete(messages=[{"role": "user", "content": "Hello"}])
    span = traced.one("chat azureai")  # the model the SDK sends when none is given
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "401"


def test_gcp_fim(traced: Any) -> None:
    sdk = _cloud_client("gcp", [])
    sdk.fim.complete(model="codestral-2", prompt="def f():", suffix="\n")
    span = traced.one("text_completion codestral-2")
    assert span.attributes["server.address"] == CLOUD_HOSTS["gcp"]


# -- the import hook on the namespace package, in a fresh interpreter ---------------------------

CHILD = r"""
import json, sys
sys.path.insert(0, {here!r})
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)  # the app's own provider: the agent's spans go there
import weave_agent
weave_agent.init()
import mistralai.client
assert "mistralai.client.chat" not in sys.modules, "chat must load lazily"
client = mistralai.client.Mistral(api_key="mistral-test-0000")
chat = client.chat  # Mistral.__getattr__ imports mistralai.client.chat: the hook fires here
import vcr
import record_cassettes as rec
replay = vcr.VCR(serializer="yaml", cassette_library_dir={cassettes!r}, record_mode="none", match_on=rec.MATCH_ON)
with replay.use_cassette("chat_complete.yaml"):
    chat.complete(**rec.SCENARIOS["chat_complete"].kwargs)
lazy = "mistralai.client.fim" not in sys.modules  # patching chat imported nothing else
fim = client.fim
print(json.dumps({{
    "patched": hasattr(type(chat).complete, "_self_weave_spec"),
    "fim_lazy": lazy,
    "fim_patched": hasattr(type(fim).complete, "_self_weave_spec"),
    "spans": [[s.name, s.attributes.get("gen_ai.provider.name")] for s in exporter.get_finished_spans()],
    "namespace": getattr(sys.modules["mistralai"], "__file__", None),
}}))
"""


def test_hook_fires_on_the_namespace_package_in_a_fresh_interpreter(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "tests" / "agent"))
    try:
        from _subproc import run_python
    finally:
        sys.path.remove(str(REPO / "tests" / "agent"))
    code = CHILD.format(here=str(HERE), cassettes=str(HERE / "cassettes"))
    result = run_python(code, cwd=tmp_path, env={"WEAVE_AGENT_QUIET": "true"}, timeout=60).check()
    out = result.json()
    assert out == {
        "patched": True,
        "fim_lazy": True,
        "fim_patched": True,
        "spans": [[f"chat {CHAT}", "mistral_ai"]],
        "namespace": None,
    }
