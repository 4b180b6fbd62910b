"""The Anthropic instrumentation, through the real SDK and the recorded cassettes (record mode none).

Every scenario runs with the sync and the async client (``mode``). What the SDK gives the app is
checked with the cassette tests' own checks (the agent changes nothing the user sees), then the
span and the metrics are checked against the GenAI conventions. Clients use ``max_retries=0``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from weave_agent.testing import load_module

anthropic = pytest.importorskip("anthropic")
vcr = pytest.importorskip("vcr")

from opentelemetry import trace  # noqa: E402
from opentelemetry.trace import SpanKind, StatusCode  # noqa: E402

from weave_agent import _log  # noqa: E402
from weave_agent.export import telemetry  # noqa: E402

HERE = Path(__file__).resolve().parent
SDK_SCOPE = "com.anthropic.sdk.python"
MODES = ("sync", "async")
HAIKU = "claude-haiku-4-5"
SNAPSHOT = "claude-haiku-4-5-20251001"
CONTENT_KEYS = (
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.definitions",
)


ct = load_module("_weave_tests_anthropic_cassettes_test", HERE / "anthropic_cassettes_test.py")  # replay + checks
rec = ct.rec


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in (
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_BEDROCK_BASE_URL",
        "ANTHROPIC_VERTEX_BASE_URL",
        "ANTHROPIC_CUSTOM_HEADERS",
        "AWS_BEARER_TOKEN_BEDROCK",
        "ANTHROPIC_OPEN_TELEMETRY",
        "ANTHROPIC_OPEN_TELEMETRY_TRACES_CONTENT_MODE",
    ):
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def traced(spans: Any, instrumentation: Any) -> Any:
    instrumentation("anthropic")
    return spans


# --- drivers ------------------------------------------------------------------------------------


def replay_vcr() -> Any:
    return ct.replay_vcr()  # the cassette tests' replay (with its allowance for releases before 2.3.0)


def run_checked(mode: str, name: str) -> Any:
    """The scenario as the cassette tests drive it; the SDK's result is checked unchanged."""
    outcome = ct.replay(name, mode)
    ct.CHECKS[name](outcome)
    return outcome


def drive(
    mode: str,
    name: str,
    sync_fn: Callable[[Any, dict[str, Any]], Any],
    async_fn: Callable[[Any, dict[str, Any]], Any],
    repeats: bool = False,
    **client_options: Any,
) -> Any:
    """Replay cassette ``name`` around a custom driver (``fn(client, request)``)."""
    scenario = rec.SCENARIOS_BY_NAME[name]
    options = {**scenario.client_options, "max_retries": 0, **client_options}
    request = scenario.request()
    with replay_vcr().use_cassette(str(rec.cassette_path(name)), allow_playback_repeats=repeats):
        if mode == "sync":
            client = rec.make_client(scenario.platform, **options)
            try:
                return sync_fn(client, request)
            finally:
                client.close()

        async def go() -> Any:
            client = rec.make_client(scenario.platform, asynchronous=True, **options)
            try:
                return await async_fn(client, request)
            finally:
                await client.close()

        return asyncio.run(go())


def attrs(span: Any) -> dict[str, Any]:
    return dict(span.attributes)


def content(span: Any, key: str) -> Any:
    return json.loads(span.attributes[key])


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "content": value}


def plain(span: Any) -> dict[str, Any]:
    """The span's attributes without content and stream timings."""
    return {k: v for k, v in attrs(span).items() if k not in CONTENT_KEYS and "time_to_first_chunk" not in k}


def token_points(spans: Any) -> dict[str, int]:
    """The tokens the usage counters counted, per direction (a call without usage counts 0)."""
    totals = {d: sum(p.value for p in spans.metric_points("gen_ai.client.inference.usage.%s_tokens" % d))
              for d in ("input", "output")}
    totals["input"] += sum(p.sum for p in spans.metric_points("gen_ai.client.embeddings.operation.input_tokens"))
    return {d: n for d, n in totals.items() if n}


def base_attrs(
    model: str = HAIKU, stream: bool = False, provider: str = "anthropic", address: str = "api.anthropic.com"
) -> dict[str, Any]:
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        "server.address": address,
        "server.port": 443,
    }
    if stream:  # set only when the request streams: unset means it does not
        attrs["gen_ai.request.stream"] = True
    return attrs


def usage_attrs(message: Any) -> dict[str, Any]:
    u = message.usage
    out = {
        "gen_ai.usage.input_tokens": u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens,
        "gen_ai.usage.output_tokens": u.output_tokens,
        "gen_ai.usage.cache_read.input_tokens": u.cache_read_input_tokens,
        "gen_ai.usage.cache_write.input_tokens": u.cache_creation_input_tokens,
    }
    details = u.output_tokens_details
    if details is not None and details.thinking_tokens is not None:
        out["gen_ai.usage.reasoning.output_tokens"] = details.thinking_tokens
    return out


def response_attrs(message: Any, finish: str, request_id: str | None = None) -> dict[str, Any]:
    return {
        "anthropic.request.id": request_id or message._request_id,
        "gen_ai.response.id": message.id,
        "gen_ai.response.model": message.model,
        "gen_ai.response.finish_reasons": (finish,),
        **usage_attrs(message),
    }


def assert_ok(span: Any) -> None:
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert span.instrumentation_scope.name != SDK_SCOPE


# --- messages.create ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_create(traced: Any, mode: str) -> None:
    outcome = run_checked(mode, "messages_create")
    span = traced.one("chat claude-haiku-4-5")
    assert_ok(span)
    assert plain(span) == {
        **base_attrs(),
        "gen_ai.request.max_tokens": 256,
        "gen_ai.request.stop_sequences": (", 5",),
        **response_attrs(outcome.message, "stop"),
    }
    assert content(span, "gen_ai.system_instructions") == [text("You are a terse assistant. Answer on one line.")]
    assert content(span, "gen_ai.input.messages") == [
        {"role": "user", "parts": [text("Count from 1 to 10, separated by commas.")]}
    ]
    assert content(span, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [text("1, 2, 3, 4")], "finish_reason": "stop"}
    ]
    assert "gen_ai.tool.definitions" not in span.attributes


@pytest.mark.parametrize("mode", MODES)
def test_create_sampling_from_extra_body(traced: Any, mode: str) -> None:
    run_checked(mode, "messages_create_sampling")
    a = attrs(traced.one("chat claude-haiku-4-5"))
    assert a["gen_ai.request.temperature"] == 0.7
    assert a["gen_ai.request.top_k"] == 40
    assert "gen_ai.request.top_p" not in a
    assert a["gen_ai.response.finish_reasons"] == ("stop",)


@pytest.mark.parametrize("mode", MODES)
def test_create_cache_usage(traced: Any, mode: str) -> None:
    outcome = run_checked(mode, "messages_create_cache")
    a = attrs(traced.one("chat claude-sonnet-4-6"))
    u = outcome.message.usage
    assert u.cache_read_input_tokens > 0 and u.cache_creation_input_tokens > 0
    total = u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens
    assert a["gen_ai.usage.input_tokens"] == total
    assert a["gen_ai.usage.cache_read.input_tokens"] == u.cache_read_input_tokens
    assert a["gen_ai.usage.cache_write.input_tokens"] == u.cache_creation_input_tokens
    assert len(content(traced.one(), "gen_ai.system_instructions")) == 2
    # Metrics: input tokens include the cached ones; counted once.
    assert token_points(traced) == {"input": total, "output": u.output_tokens}


@pytest.mark.parametrize("mode", MODES)
def test_tool_use(traced: Any, mode: str) -> None:
    outcome = run_checked(mode, "messages_tool_use")
    span = traced.one("chat claude-haiku-4-5")
    assert_ok(span)
    tool_use = outcome.message.content[1]
    assert attrs(span)["gen_ai.response.finish_reasons"] == ("tool_call",)
    assert content(span, "gen_ai.output.messages") == [
        {
            "role": "assistant",
            "parts": [
                text(outcome.message.content[0].text),
                {"type": "tool_call", "id": tool_use.id, "name": "get_weather", "arguments": tool_use.input},
            ],
            "finish_reason": "tool_call",
        }
    ]
    assert content(span, "gen_ai.tool.definitions") == [
        {
            "type": "function",
            "name": "get_weather",
            "description": rec.WEATHER_TOOL["description"],
            "parameters": rec.WEATHER_TOOL["input_schema"],
        }
    ]


@pytest.mark.parametrize("mode", MODES)
def test_tool_result(traced: Any, mode: str) -> None:
    run_checked(mode, "messages_tool_result")
    span = traced.one("chat claude-haiku-4-5")
    assert content(span, "gen_ai.input.messages") == [
        {"role": "user", "parts": [text(rec.WEATHER_QUESTION)]},
        {
            "role": "assistant",
            "parts": [
                text("I'll use the get_weather tool to answer that."),
                {
                    "type": "tool_call",
                    "id": rec.TOOL_USE_ID,
                    "name": "get_weather",
                    "arguments": {"location": "Paris, France", "unit": "celsius"},
                },
            ],
        },
        {
            "role": "user",
            "parts": [{"type": "tool_call_response", "id": rec.TOOL_USE_ID, "response": "18°C and sunny"}],
        },
    ]
    assert attrs(span)["gen_ai.response.finish_reasons"] == ("stop",)


@pytest.mark.parametrize("mode", MODES)
def test_thinking(traced: Any, mode: str) -> None:
    outcome = run_checked(mode, "messages_thinking")
    span = traced.one("chat claude-haiku-4-5")
    message = outcome.message
    thinking = message.content[0]
    assert thinking.type == "thinking"
    out = content(span, "gen_ai.output.messages")[0]
    assert out["parts"][0] == {"type": "reasoning", "content": thinking.thinking}
    assert out["parts"][1] == text(message.content[1].text)
    assert plain(span) == {
        **base_attrs(),
        "gen_ai.request.max_tokens": 2048,
        **response_attrs(message, "stop"),
    }
    assert "gen_ai.usage.reasoning.output_tokens" in span.attributes


def test_image_input_is_a_placeholder(traced: Any) -> None:
    """Image bytes never leave: a blob part with the MIME type and the decoded size."""
    data = "aGVsbG8gd29ybGQh" * 64  # base64, 768 bytes decoded

    def sync_fn(client: Any, request: dict[str, Any]) -> Any:
        request["messages"] = [
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
                    {"type": "text", "text": "Count from 1 to 10, separated by commas."},
                ],
            }
        ]
        return client.messages.create(**request)

    drive("sync", "messages_create", sync_fn, sync_fn)
    span = traced.one()
    assert content(span, "gen_ai.input.messages")[0]["parts"] == [
        # no upload configured: a placeholder saying what was there, never the bytes
        {"type": "generic", "generic_type": "blob", "modality": "image", "mime_type": "image/png", "byte_size": 768},
        {"type": "uri", "modality": "image", "uri": "https://example.com/cat.png"},
        text("Count from 1 to 10, separated by commas."),
    ]
    assert data not in json.dumps(attrs(span))


@pytest.mark.parametrize("name", ["messages_tool_use", "messages_stream_raw", "messages_stream_helper"])
def test_no_content_capture(traced: Any, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    import weave_agent.lifecycle as lifecycle
    from weave_agent.settings import Settings

    settings = Settings.load({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "false"})
    monkeypatch.setattr(lifecycle, "_settings", settings)
    telemetry.reset()  # settings are read when the pipeline is set up
    telemetry.use_providers(traced.provider, traced.meter_provider)
    run_checked("sync", name)
    a = attrs(traced.one())
    assert not any(k in a for k in CONTENT_KEYS)
    assert a["gen_ai.response.finish_reasons"] in (("tool_call",), ("stop",))
    assert a["gen_ai.usage.output_tokens"] > 0


# --- create(stream=True) ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_create_stream(traced: Any, mode: str) -> None:
    outcome = run_checked(mode, "messages_stream_raw")
    span = traced.one("chat claude-sonnet-4-6")
    assert_ok(span)
    start, delta = outcome.events[0], outcome.events[-2]
    a = attrs(span)
    assert a["gen_ai.request.stream"] is True
    assert a["gen_ai.response.id"] == start.message.id
    assert a["gen_ai.response.model"] == "claude-sonnet-4-6"
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["gen_ai.usage.output_tokens"] == delta.usage.output_tokens
    assert a["gen_ai.usage.input_tokens"] == start.message.usage.input_tokens
    assert a["weave_agent.stream.end_reason"] == "exhausted"
    assert a["gen_ai.response.time_to_first_chunk"] > 0
    assert a["anthropic.request.id"].startswith("req_011C")
    assert content(span, "gen_ai.output.messages") == [
        {
            "role": "assistant",
            "parts": [text("Packets cross the dark\nA quiet server answers\nLight returns as text")],
            "finish_reason": "stop",
        }
    ]
    assert len(traced.metric_points("gen_ai.client.inference.time_to_first_chunk")) == 1


def _collect_sync(client: Any, request: dict[str, Any]) -> list[Any]:
    with client.messages.create(stream=True, **request) as stream:
        return list(stream)


async def _collect_async(client: Any, request: dict[str, Any]) -> list[Any]:
    stream = await client.messages.create(stream=True, **request)
    async with stream:
        return [event async for event in stream]


@pytest.mark.parametrize("mode", MODES)
def test_create_stream_tool_input_rebuilt(traced: Any, mode: str) -> None:
    """create(stream=True) over the streamed tool_use: input_json_delta pieces become the arguments."""
    events = drive(mode, "messages_tool_use_stream", _collect_sync, _collect_async)
    pieces = [e.delta.partial_json for e in events if e.type == "content_block_delta"]
    assert len(pieces) >= 2
    span = traced.one("chat claude-haiku-4-5")
    tool_id = next(e.content_block.id for e in events if e.type == "content_block_start")
    assert content(span, "gen_ai.output.messages") == [
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": tool_id,
                    "name": "get_weather",
                    "arguments": {"location": "Paris, France", "unit": "celsius"},
                }
            ],
            "finish_reason": "tool_call",
        }
    ]
    assert attrs(span)["gen_ai.response.finish_reasons"] == ("tool_call",)


@pytest.mark.parametrize("mode", MODES)
def test_create_stream_thinking(traced: Any, mode: str) -> None:
    events = drive(mode, "messages_thinking_stream", _collect_sync, _collect_async)
    thinking = "".join(
        e.delta.thinking for e in events if e.type == "content_block_delta" and e.delta.type == "thinking_delta"
    )
    answer = "".join(e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta")
    span = traced.one()
    assert content(span, "gen_ai.output.messages")[0]["parts"] == [
        {"type": "reasoning", "content": thinking},
        text(answer),
    ]
    assert span.attributes["gen_ai.usage.reasoning.output_tokens"] > 0


@pytest.mark.parametrize("mode", MODES)
def test_stream_error_midstream(traced: Any, mode: str) -> None:
    outcome = run_checked(mode, "messages_stream_error")  # the SDK's APIStatusError reached the app
    assert isinstance(outcome.error, anthropic.APIStatusError)
    span = traced.one("chat claude-haiku-4-5")
    assert span.status.status_code is StatusCode.ERROR
    a = attrs(span)
    assert a["error.type"] == "overloaded_error"
    assert a["weave_agent.stream.end_reason"] == "error"
    partial = "".join(
        e.delta.text for e in outcome.events if e.type == "content_block_delta" and e.delta.type == "text_delta"
    )
    assert partial
    # the model's finish reason never came: the conventions' "error"
    assert content(span, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [text(partial)], "finish_reason": "error"}
    ]
    assert a["gen_ai.response.finish_reasons"] == ("error",)
    assert "gen_ai.usage.output_tokens" not in a  # only message_start's placeholder arrived
    assert [e.name for e in span.events] == ["exception"]
    (point,) = traced.metric_points("gen_ai.client.inference.duration")
    assert point.attributes["error.type"] == "overloaded_error"


@pytest.mark.parametrize(
    ("name", "status", "exc_class"),
    [
        ("messages_error_400", "400", "BadRequestError"),
        ("messages_error_401", "401", "AuthenticationError"),
        ("messages_error_529", "529", "OverloadedError"),
    ],
)
@pytest.mark.parametrize("mode", MODES)
def test_http_errors(traced: Any, mode: str, name: str, status: str, exc_class: str) -> None:
    outcome = run_checked(mode, name)
    assert type(outcome.error).__name__ == exc_class  # re-raised untouched
    span = traced.one("chat claude-haiku-4-5")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == status
    assert "gen_ai.response.id" not in span.attributes
    (point,) = traced.metric_points("gen_ai.client.inference.duration")
    assert point.attributes["error.type"] == status
    assert token_points(traced) == {}


# --- every way a create(stream=True) stream ends: exactly one ended span -------------------------------

EXITS = ("exhausted", "break_del_gc", "close", "with_exit", "unconsumed_gc")


def _exit_sync(how: str) -> Callable[[Any, dict[str, Any]], Any]:
    def fn(client: Any, request: dict[str, Any]) -> Any:
        stream = client.messages.create(stream=True, **request)
        assert isinstance(stream, anthropic.Stream)
        if how == "exhausted":
            for _ in stream:
                pass
        elif how == "break_del_gc":
            for _ in stream:
                break
            del stream
            gc.collect()
        elif how == "close":
            next(iter(stream))
            stream.close()
        elif how == "with_exit":
            with stream:
                next(iter(stream))
        elif how == "unconsumed_gc":
            del stream
            gc.collect()

    return fn


def _exit_async(how: str) -> Callable[[Any, dict[str, Any]], Any]:
    async def fn(client: Any, request: dict[str, Any]) -> Any:
        stream = await client.messages.create(stream=True, **request)
        assert isinstance(stream, anthropic.AsyncStream)
        if how == "exhausted":
            async for _ in stream:
                pass
        elif how == "break_del_gc":
            async for _ in stream:
                break
            del stream
            gc.collect()
        elif how == "close":
            await stream.__anext__()
            await stream.close()
        elif how == "with_exit":
            async with stream:
                await stream.__anext__()
        elif how == "unconsumed_gc":
            del stream
            gc.collect()

    return fn


_REASONS = {
    "exhausted": "exhausted",
    "break_del_gc": "garbage_collected",
    "close": "closed",
    "with_exit": "exited",
    "unconsumed_gc": "garbage_collected",
}


@pytest.mark.parametrize("how", EXITS)
@pytest.mark.parametrize("mode", MODES)
def test_create_stream_exits(traced: Any, mode: str, how: str) -> None:
    drive(mode, "messages_stream_raw", _exit_sync(how), _exit_async(how))
    gc.collect()
    span = traced.one("chat claude-sonnet-4-6")  # exactly one, and ended (finished)
    a = attrs(span)
    reason = _REASONS[how]
    assert a["weave_agent.stream.end_reason"] == reason
    assert span.status.status_code is StatusCode.UNSET
    assert a["weave_agent.stream.complete"] is (how == "exhausted")
    if how == "exhausted":
        assert a["gen_ai.usage.output_tokens"] > 1
    elif how != "unconsumed_gc":
        assert a["gen_ai.response.id"].startswith("msg_01")
        assert "gen_ai.usage.output_tokens" not in a


# --- messages.stream(): the context-manager helper ---------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_stream_helper(traced: Any, mode: str) -> None:
    """text_stream, until_done(), get_final_message(), get_final_text() keep working; one span,
    ended when the manager exits, output from the MessageStream's own snapshot."""
    outcome = run_checked(mode, "messages_stream_helper")
    span = traced.one("chat claude-haiku-4-5")
    assert_ok(span)
    request_id = span.attributes["anthropic.request.id"]  # from the stream's response headers
    assert request_id.startswith("req_011C")
    assert plain(span) == {
        **base_attrs(stream=True),
        "gen_ai.request.max_tokens": 200,
        **response_attrs(outcome.message, "stop", request_id),
        "weave_agent.stream.end_reason": "exited",
        "weave_agent.stream.complete": False,
        "weave_agent.stream.chunks": 0,
    }
    assert content(span, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [text("The capital of France is Paris.")], "finish_reason": "stop"}
    ]
    assert content(span, "gen_ai.system_instructions") == [text("Answer in one sentence.")]


@pytest.mark.parametrize("mode", MODES)
def test_stream_helper_events(traced: Any, mode: str) -> None:
    """Events read through the entered stream: the span ends when they are exhausted."""
    outcome = run_checked(mode, "messages_tool_use_stream")
    span = traced.one("chat claude-haiku-4-5")
    a = attrs(span)
    assert a["weave_agent.stream.end_reason"] == "exhausted"
    assert a["weave_agent.stream.chunks"] == len(outcome.events)
    tool_use = outcome.message.content[0]
    assert content(span, "gen_ai.output.messages")[0]["parts"] == [
        {"type": "tool_call", "id": tool_use.id, "name": "get_weather", "arguments": tool_use.input}
    ]
    assert a["gen_ai.response.finish_reasons"] == ("tool_call",)
    assert a["gen_ai.usage.output_tokens"] == outcome.message.usage.output_tokens


@pytest.mark.parametrize("mode", MODES)
def test_stream_helper_thinking(traced: Any, mode: str) -> None:
    outcome = run_checked(mode, "messages_thinking_stream")
    parts = content(traced.one(), "gen_ai.output.messages")[0]["parts"]
    assert parts == [
        {"type": "reasoning", "content": outcome.message.content[0].thinking},
        text(outcome.message.content[1].text),
    ]


@pytest.mark.parametrize("mode", MODES)
def test_stream_helper_left_early(traced: Any, mode: str) -> None:
    """Leaving the with block after one text piece: one span, ended on exit, partial output."""

    def sync_fn(client: Any, request: dict[str, Any]) -> Any:
        with client.messages.stream(**request) as stream:
            assert isinstance(stream, anthropic.lib.streaming.MessageStream)
            return next(iter(stream.text_stream))

    async def async_fn(client: Any, request: dict[str, Any]) -> Any:
        async with client.messages.stream(**request) as stream:
            assert isinstance(stream, anthropic.lib.streaming.AsyncMessageStream)
            return await stream.text_stream.__anext__()

    first = drive(mode, "messages_stream_helper", sync_fn, async_fn)
    span = traced.one("chat claude-haiku-4-5")
    a = attrs(span)
    assert a["weave_agent.stream.end_reason"] == "exited"
    assert a["gen_ai.response.finish_reasons"] == ("error",)  # left before the model said why it stopped
    assert "gen_ai.usage.output_tokens" not in a
    assert a["gen_ai.usage.input_tokens"] > 0
    assert content(span, "gen_ai.output.messages")[0]["parts"] == [text(first)]


@pytest.mark.filterwarnings("ignore:coroutine 'AsyncAPIClient.post' was never awaited")  # the SDK's, not ours
@pytest.mark.parametrize("mode", MODES)
def test_stream_helper_never_entered(traced: Any, mode: str) -> None:
    """A manager that is never entered sends nothing; its span ends when it is collected."""

    def sync_fn(client: Any, request: dict[str, Any]) -> None:
        manager = client.messages.stream(**request)
        del manager
        gc.collect()

    async def async_fn(client: Any, request: dict[str, Any]) -> None:
        sync_fn(client, request)

    drive(mode, "messages_stream_helper", sync_fn, async_fn)
    span = traced.one("chat claude-haiku-4-5")
    assert span.attributes["weave_agent.stream.end_reason"] == "garbage_collected"
    assert "gen_ai.output.messages" not in span.attributes


# --- parse, beta, platforms ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_parse(traced: Any, mode: str) -> None:
    outcome = run_checked(mode, "messages_parse")
    assert outcome.message.parsed_output.name == "Paris"
    span = traced.one("chat claude-haiku-4-5")
    assert_ok(span)
    assert plain(span) == {
        **base_attrs(),
        "gen_ai.request.max_tokens": 256,
        "gen_ai.output.type": "json",
        **response_attrs(outcome.message, "stop"),
    }
    assert content(span, "gen_ai.output.messages")[0]["parts"] == [text(outcome.message.content[0].text)]


@pytest.mark.parametrize("mode", MODES)
def test_beta_create(traced: Any, mode: str) -> None:
    outcome = run_checked(mode, "beta_messages_create")
    span = traced.one("chat claude-haiku-4-5")
    assert_ok(span)
    assert plain(span) == {
        **base_attrs(),
        "gen_ai.request.max_tokens": 256,
        **response_attrs(outcome.message, "stop"),
    }


@pytest.mark.parametrize("mode", MODES)
def test_count_tokens_is_not_a_model_call(traced: Any, mode: str) -> None:
    run_checked(mode, "messages_count_tokens")
    assert traced.finished() == []


BEDROCK = "bedrock-runtime.us-east-1.amazonaws.com"
VERTEX = "us-east5-aiplatform.googleapis.com"


@pytest.mark.parametrize(
    ("name", "provider", "address", "model", "stream", "reason"),
    [
        ("bedrock_messages_create", "aws.bedrock", BEDROCK, rec.BEDROCK_MODEL, False, None),
        ("bedrock_messages_stream", "aws.bedrock", BEDROCK, rec.BEDROCK_MODEL, True, "exited"),
        ("vertex_messages_create", "gcp.vertex_ai", VERTEX, rec.VERTEX_MODEL, False, None),
        ("vertex_messages_stream", "gcp.vertex_ai", VERTEX, rec.VERTEX_MODEL, True, "exhausted"),
    ],
)
@pytest.mark.parametrize("mode", MODES)
def test_platforms(
    traced: Any, mode: str, name: str, provider: str, address: str, model: str, stream: bool, reason: str | None
) -> None:
    if provider == "aws.bedrock":
        pytest.importorskip("botocore")
    outcome = run_checked(mode, name)
    span = traced.one("chat " + model)
    assert_ok(span)
    a = attrs(span)
    expected = base_attrs(model, stream, provider, address)
    assert {k: a[k] for k in expected} == expected
    assert ("gen_ai.request.stream" in a) is stream
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["gen_ai.usage.output_tokens"] > 0
    assert a.get("weave_agent.stream.end_reason") == reason
    if outcome.message is not None:
        assert a["gen_ai.response.id"] == outcome.message.id
        assert a["gen_ai.response.model"] == outcome.message.model
    (point,) = traced.metric_points("gen_ai.client.inference.duration")
    assert point.attributes["gen_ai.provider.name"] == provider


def test_vertex_beta_messages(traced: Any) -> None:
    """The platforms' beta Messages classes copy the first-party functions: traced too."""

    def fn(client: Any, request: dict[str, Any]) -> Any:
        return client.beta.messages.create(**request)

    drive("sync", "vertex_messages_create", fn, fn)
    assert attrs(traced.one())["gen_ai.provider.name"] == "gcp.vertex_ai"


# --- secrets, metrics, undo ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["messages_create", "messages_error_401", "messages_stream_raw"])
def test_no_api_key_in_spans(traced: Any, name: str) -> None:
    run_checked("sync", name)
    dumped = json.dumps([attrs(s) for s in traced.finished()], default=str)
    for secret in (rec.API_KEY, rec.INVALID_API_KEY, "sk-ant-", "x-api-key", "authorization"):
        assert secret not in dumped


@pytest.mark.parametrize("mode", MODES)
def test_metrics(traced: Any, mode: str) -> None:
    outcome = run_checked(mode, "messages_create")
    (duration,) = traced.metric_points("gen_ai.client.inference.duration")
    assert duration.count == 1
    assert duration.attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": HAIKU,
        "gen_ai.response.model": SNAPSHOT,
        "server.address": "api.anthropic.com",
        "server.port": 443,
    }
    u = outcome.message.usage
    assert token_points(traced) == {"input": u.input_tokens, "output": u.output_tokens}
    for point in (traced.metric_points("gen_ai.client.inference.operation.input_tokens")
                  + traced.metric_points("gen_ai.client.inference.operation.output_tokens")):
        assert point.count == 1


def test_undo_restores_the_originals(spans: Any) -> None:
    from anthropic._base_client import BaseClient
    from anthropic.lib.bedrock import _beta_messages as bedrock_beta
    from anthropic.lib.vertex import _beta_messages as vertex_beta
    from anthropic.resources.beta.messages import messages as beta
    from anthropic.resources.messages import messages as first

    from weave_agent import patch, unpatch

    owners = (
        first.Messages,
        first.AsyncMessages,
        beta.Messages,
        beta.AsyncMessages,
        bedrock_beta.Messages,
        vertex_beta.AsyncMessages,
    )
    before = {(o, m): vars(o)[m] for o in owners for m in ("create", "stream", "parse")}
    hooks = {m: vars(BaseClient)[m] for m in ("_set_open_telemetry", "_copy_open_telemetry")}
    patch(anthropic=True)
    try:
        assert all(vars(o)[m] is not before[(o, m)] for o, m in before)
        run_checked("sync", "messages_create")
        assert len(spans.finished()) == 1
    finally:
        unpatch("anthropic")
    assert all(vars(o)[m] is before[(o, m)] for o, m in before)
    assert all(vars(BaseClient)[m] is hooks[m] for m in hooks)
    spans.clear()
    run_checked("sync", "messages_create")
    run_checked("async", "messages_stream_helper")
    assert spans.finished() == []


def test_copied_wrapper_calls_through_after_undo(spans: Any) -> None:
    """A class body that copied our wrapper while patched (as the platforms' beta Messages do
    when the agent patches during ``import anthropic``) records nothing after the undo."""
    from anthropic._resource import SyncAPIResource
    from anthropic.resources.messages import messages as first

    from weave_agent import patch, unpatch

    patch(anthropic=True)
    try:

        class CopiedMessages(SyncAPIResource):
            create = first.Messages.create

        def fn(client: Any, request: dict[str, Any]) -> Any:
            return CopiedMessages(client).create(**request)

        drive("sync", "messages_create", fn, fn)
        assert len(spans.finished()) == 1
    finally:
        unpatch("anthropic")
    spans.clear()
    message = drive("sync", "messages_create", fn, fn)
    assert message.content[0].text == "1, 2, 3, 4"
    assert spans.finished() == []


@pytest.fixture
def agent_log(caplog: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The agent's debug lines, captured (its debug switch restored afterwards)."""
    monkeypatch.setattr(_log, "_debug", _log._debug)
    monkeypatch.setattr(_log, "_logger", _log._logger)
    _log.set_debug(False)  # no stderr handler: the lines propagate to caplog
    return caplog


def test_unknown_sdk_structure_declines(spans: Any, monkeypatch: pytest.MonkeyPatch, agent_log: Any) -> None:
    from anthropic.resources.messages import messages as first

    from weave_agent.instrumentations.anthropic.anthropic import anthropic_patcher

    monkeypatch.delattr(first.Messages, "stream")
    with agent_log.at_level(logging.DEBUG, logger=_log.LOGGER_NAME):
        assert anthropic_patcher.attempt_patch() is False
    lines = [r.getMessage() for r in agent_log.records if "anthropic" in r.getMessage()]
    assert len(lines) == 1 and "unknown SDK structure" in lines[0]
    assert not isinstance(vars(first.Messages)["create"], __import__("wrapt").FunctionWrapper)


# --- the SDK's own OpenTelemetry spans: one model call, one LLM span ------------------------------------


@pytest.fixture
def global_provider(spans: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The recorder's TracerProvider as the global one: the SDK's own spans are recorded."""
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", spans.provider)
    return spans


def _two_creates_sync(client: Any, request: dict[str, Any]) -> Any:
    return [client.messages.create(**request), client.with_options(timeout=30).messages.create(**request)]


async def _two_creates_async(client: Any, request: dict[str, Any]) -> Any:
    return [await client.messages.create(**request), await client.with_options(timeout=30).messages.create(**request)]


def _scopes(spans: Any) -> list[str]:
    return sorted(s.instrumentation_scope.name for s in spans.finished())


def _usage_carriers(spans: Any) -> int:
    return sum(1 for s in spans.finished() if "gen_ai.usage.output_tokens" in (s.attributes or {}))


@pytest.mark.parametrize("mode", MODES)
def test_sdk_spans_switched_off_when_not_chosen(global_provider: Any, instrumentation: Any, mode: str) -> None:
    instrumentation("anthropic")
    messages = drive(mode, "messages_create", _two_creates_sync, _two_creates_async, repeats=True)
    spans = global_provider
    assert SDK_SCOPE not in _scopes(spans)
    assert [s.name for s in spans.finished()] == ["chat claude-haiku-4-5"] * 2
    assert _usage_carriers(spans) == 2
    u = messages[0].usage
    assert token_points(spans) == {"input": 2 * u.input_tokens, "output": 2 * u.output_tokens}


def test_sdk_spans_without_the_agent(global_provider: Any) -> None:
    """The baseline: with a global provider and no agent, the SDK records its own span."""
    drive("sync", "messages_create", lambda c, r: c.messages.create(**r), None)
    assert _scopes(global_provider) == [SDK_SCOPE]


@pytest.mark.parametrize("choice", ["env_true", "option_enabled", "option_tracer_provider"])
@pytest.mark.parametrize("mode", MODES)
def test_sdk_spans_kept_when_chosen(
    global_provider: Any, instrumentation: Any, monkeypatch: pytest.MonkeyPatch, agent_log: Any, mode: str, choice: str
) -> None:
    spans = global_provider
    options: dict[str, Any] = {}
    if choice == "env_true":
        monkeypatch.setenv("ANTHROPIC_OPEN_TELEMETRY", "true")
    elif choice == "option_enabled":
        options["open_telemetry"] = {"traces": {"enabled": True}}
    else:
        options["open_telemetry"] = {"tracer_provider": spans.provider}
    instrumentation("anthropic")
    with agent_log.at_level(logging.DEBUG, logger=_log.LOGGER_NAME):
        drive(mode, "messages_create", _two_creates_sync, _two_creates_async, repeats=True, **options)
    assert _scopes(spans) == [SDK_SCOPE, SDK_SCOPE]  # the SDK's, the copy's too; none of ours
    assert _usage_carriers(spans) == 2
    assert token_points(spans) == {}  # the agent counted nothing
    lines = [r.getMessage() for r in agent_log.records if "SDK's own OpenTelemetry" in r.getMessage()]
    assert len(lines) == 1


@pytest.mark.parametrize("mode", MODES)
def test_sdk_spans_chosen_off(
    global_provider: Any, instrumentation: Any, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """ANTHROPIC_OPEN_TELEMETRY=false or open_telemetry=False: the SDK makes none, the agent traces."""
    monkeypatch.setenv("ANTHROPIC_OPEN_TELEMETRY", "false")
    instrumentation("anthropic")
    drive(mode, "messages_create", _two_creates_sync, _two_creates_async, repeats=True)
    drive(mode, "messages_create", _two_creates_sync, _two_creates_async, repeats=True, open_telemetry=False)
    assert SDK_SCOPE not in _scopes(global_provider)
    assert len(global_provider.finished()) == 4


def test_sdk_spans_client_built_before_the_agent(global_provider: Any, instrumentation: Any) -> None:
    """A client constructed before the agent patched, with no choice: switched off on first use;
    its propagation setting is kept."""
    scenario = rec.SCENARIOS_BY_NAME["messages_create"]
    client = rec.make_client("anthropic", max_retries=0)
    instrumentation("anthropic")
    with replay_vcr().use_cassette(str(rec.cassette_path("messages_create"))):
        client.messages.create(**scenario.request())
    client.close()
    assert _scopes(global_provider) == [telemetry.SCOPE]
    assert client._open_telemetry["traces"]["enabled"] is False
    assert client._open_telemetry["propagation"] is True


def test_traced_span_is_current_for_the_request(traced: Any) -> None:
    """The HTTP request runs under the LLM span (the SDK propagates its context)."""
    seen: list[Any] = []

    def fn(client: Any, request: dict[str, Any]) -> Any:
        client._client.event_hooks["request"].append(lambda r: seen.append(trace.get_current_span()))
        return client.messages.create(**request)

    drive("sync", "messages_create", fn, fn)
    span = traced.one()
    assert seen and seen[0].get_span_context().span_id == span.context.span_id


@pytest.mark.parametrize("mode", MODES)
def test_stream_helper_error_midstream(traced: Any, mode: str) -> None:
    """An `error` event read through text_stream: the SDK's exception leaves the with block
    untouched; the span is an ERROR with the partial output."""

    def sync_fn(client: Any, request: dict[str, Any]) -> Any:
        pieces: list[str] = []
        with pytest.raises(anthropic.APIStatusError) as info:
            with client.messages.stream(**request) as stream:
                for piece in stream.text_stream:
                    pieces.append(piece)
        return pieces, info.value

    async def async_fn(client: Any, request: dict[str, Any]) -> Any:
        pieces: list[str] = []
        with pytest.raises(anthropic.APIStatusError) as info:
            async with client.messages.stream(**request) as stream:
                async for piece in stream.text_stream:
                    pieces.append(piece)
        return pieces, info.value

    pieces, error = drive(mode, "messages_stream_error", sync_fn, async_fn)
    assert error.type == "overloaded_error"
    span = traced.one("chat claude-haiku-4-5")
    assert span.status.status_code is StatusCode.ERROR
    a = attrs(span)
    assert a["error.type"] == "overloaded_error"
    assert a["weave_agent.stream.end_reason"] == "exited"
    assert content(span, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [text("".join(pieces))], "finish_reason": "error"}  # none came: "error"
    ]
    assert a["gen_ai.response.finish_reasons"] == ("error",)
    (point,) = traced.metric_points("gen_ai.client.inference.duration")
    assert point.attributes["error.type"] == "overloaded_error"


@pytest.mark.parametrize("mode", MODES)
def test_user_error_inside_stream_block_is_not_an_llm_error(traced: Any, mode: str) -> None:
    def sync_fn(client: Any, request: dict[str, Any]) -> None:
        with pytest.raises(KeyError):
            with client.messages.stream(**request) as stream:
                next(iter(stream.text_stream))
                raise KeyError("the app's own")

    async def async_fn(client: Any, request: dict[str, Any]) -> None:
        with pytest.raises(KeyError):
            async with client.messages.stream(**request) as stream:
                await stream.text_stream.__anext__()
                raise KeyError("the app's own")

    drive(mode, "messages_stream_helper", sync_fn, async_fn)
    span = traced.one()
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes["weave_agent.stream.end_reason"] == "exited"


@pytest.mark.parametrize("mode", MODES)
def test_with_raw_response(traced: Any, mode: str) -> None:
    """A raw response is the app's to read: one span with the request, the response untouched."""

    def sync_fn(client: Any, request: dict[str, Any]) -> Any:
        raw = client.messages.with_raw_response.create(**request)
        return raw.parse()

    async def async_fn(client: Any, request: dict[str, Any]) -> Any:
        raw = await client.messages.with_raw_response.create(**request)
        return await raw.parse()

    message = drive(mode, "messages_create", sync_fn, async_fn)
    assert message.content[0].text == "1, 2, 3, 4"
    span = traced.one("chat claude-haiku-4-5")
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes["gen_ai.request.max_tokens"] == 256


# --- under the real bootstrap: the agent's own global TracerProvider, a fresh interpreter ------------

_CHILD = """
import vcr, anthropic
path, match_on = {path!r}, {match_on!r}
with vcr.VCR(record_mode="none", match_on=match_on).use_cassette(path):
    client = anthropic.Anthropic(api_key="sk-ant-test-0000", max_retries=0)
    client.messages.create(
        model="claude-haiku-4-5", max_tokens=256, stop_sequences=[", 5"],
        system="You are a terse assistant. Answer on one line.",
        messages=[{{"role": "user", "content": "Count from 1 to 10, separated by commas."}}],
    )
    client.close()
"""


def _run_child(tmp_path: Path, **env: str) -> tuple[list[tuple[str, str]], str]:
    import os
    import subprocess

    repo = HERE.parents[2]
    child_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("WEAVE_AGENT_", "OTEL_", "PYTHON", "PYTEST_"))
    }
    child_env.pop("ANTHROPIC_OPEN_TELEMETRY", None)
    child_env.update(
        PYTHONPATH=str(repo / "sitecustomize_shim"),
        WEAVE_AGENT_EXPORTER="file",
        WEAVE_AGENT_TRACES_DIR=str(tmp_path),
        WEAVE_AGENT_QUIET="true",
        WEAVE_AGENT_DEBUG="true",
        **env,
    )
    code = _CHILD.format(path=str(rec.cassette_path("messages_create")), match_on=list(rec.MATCH_ON))
    done = subprocess.run(
        [sys.executable, "-c", code], env=child_env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    found = []
    for path in tmp_path.glob("*.jsonl"):
        for line in path.read_text().splitlines():
            for rs in json.loads(line).get("resourceSpans", ()):
                for ss in rs.get("scopeSpans", ()):
                    for span in ss.get("spans", ()):
                        found.append((ss["scope"]["name"], span["name"]))
    return found, done.stderr


@pytest.mark.slow
def test_bootstrap_one_span_per_call(tmp_path: Path) -> None:
    """Under the shim the agent registers the global TracerProvider, which switches the SDK's
    own tracing on: the agent switches it off for the client and records the one span."""
    found, _ = _run_child(tmp_path)
    assert found == [(telemetry.SCOPE, "chat claude-haiku-4-5")]


@pytest.mark.slow
def test_bootstrap_sdk_tracing_chosen(tmp_path: Path) -> None:
    found, stderr = _run_child(tmp_path, ANTHROPIC_OPEN_TELEMETRY="true")
    assert found == [(SDK_SCOPE, "anthropic.messages.create")]
    assert sum("SDK's own OpenTelemetry" in line for line in stderr.splitlines()) == 1


@pytest.mark.parametrize("mode", MODES)
def test_beta_parse(traced: Any, mode: str) -> None:
    def sync_fn(client: Any, request: dict[str, Any]) -> Any:
        request.pop("betas")
        return client.beta.messages.parse(**request)

    async def async_fn(client: Any, request: dict[str, Any]) -> Any:
        request.pop("betas")
        return await client.beta.messages.parse(**request)

    message = drive(mode, "beta_messages_create", sync_fn, async_fn)
    span = traced.one("chat claude-haiku-4-5")
    assert plain(span) == {**base_attrs(), "gen_ai.request.max_tokens": 256, **response_attrs(message, "stop")}


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_call"),
        ("refusal", "content_filter"),
        ("pause_turn", "pause_turn"),
        ("model_context_window_exceeded", "model_context_window_exceeded"),
        (None, None),
    ],
)
def test_finish_reasons(stop_reason: str | None, finish: str | None) -> None:
    from weave_agent.instrumentations.anthropic.extract import _finish

    assert _finish(stop_reason) == finish
