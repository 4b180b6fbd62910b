"""The OpenAI instrumentation, through the real SDK and the recorded cassettes (record mode none).

Every scenario runs with the sync and the async client (``mode``). The SDK result is
checked with the same checks the cassette tests use (the agent changes nothing the user
sees), then the span and the metrics are checked against the GenAI conventions.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import APIError, AsyncStream, AuthenticationError, InternalServerError, RateLimitError, Stream
from opentelemetry.trace import SpanKind, StatusCode

from weave_agent.testing import load_module

HERE = Path(__file__).resolve().parent


ct = load_module("weave_tests_openai_cassettes_test", HERE / "openai_cassettes_test.py")  # drivers, replay, checks
rec = ct.rec
SCENARIOS = rec.SCENARIOS
MODES = ("sync", "async")
GPT = "gpt-4o-mini"
SNAPSHOT = ct.GPT_SNAPSHOT
CONTENT_KEYS = (
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.definitions",
)


@pytest.fixture(autouse=True)
def _no_ambient_openai_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ct.ENV_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def traced(spans: Any, instrumentation: Any) -> Any:
    instrumentation("openai")
    return spans


def run(mode: str, name: str, **overrides: Any) -> Any:
    """Drive scenario ``name`` as the cassette tests do; returns what the driver returns."""
    kw = {**SCENARIOS[name].kwargs, **overrides}
    if mode == "sync":
        client = ct.sync_client(name)
        try:
            with ct.replay(name):
                return ct.sync_drive(name, client, kw)
        finally:
            client.close()

    async def go() -> Any:
        client = ct.async_client(name)
        try:
            with ct.replay(name):
                return await ct.async_drive(name, client, kw)
        finally:
            await client.close()

    return asyncio.run(go())


def run_checked(mode: str, name: str) -> Any:
    result = run(mode, name)
    ct.CHECKS[name](result)  # the user's result is untouched
    return result


def attrs(span: Any) -> dict[str, Any]:
    return dict(span.attributes)


def content(span: Any, key: str) -> Any:
    return json.loads(span.attributes[key])


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "content": value}


def token_points(spans: Any) -> dict[str, int]:
    """The tokens the usage counters counted, per direction (a call without usage counts 0)."""
    totals = {d: sum(p.value for p in spans.metric_points("gen_ai.client.inference.usage.%s_tokens" % d))
              for d in ("input", "output")}
    totals["input"] += sum(p.sum for p in spans.metric_points("gen_ai.client.embeddings.operation.input_tokens"))
    return {d: n for d, n in totals.items() if n}


# --------------------------------------------------------------------------------------
# Chat completions
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_chat_create(traced: Any, mode: str) -> None:
    run_checked(mode, "chat_create")
    span = traced.one("chat gpt-4o-mini")
    assert span.kind is SpanKind.CLIENT and span.status.status_code is StatusCode.UNSET
    a = attrs(span)
    assert {k: a[k] for k in a if not k.startswith("gen_ai.input") and k not in CONTENT_KEYS} == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": GPT,
        "server.address": "api.openai.com",
        "server.port": 443,
        "openai.api.type": "chat_completions",
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.max_tokens": 64,
        "gen_ai.request.seed": 42,
        "gen_ai.request.frequency_penalty": 0.2,
        "gen_ai.request.presence_penalty": 0.1,
        "gen_ai.request.stop_sequences": ("\n\n", "END"),
        "gen_ai.response.id": a["gen_ai.response.id"],
        "gen_ai.response.model": SNAPSHOT,
        "gen_ai.response.finish_reasons": ("stop",),
        "openai.response.service_tier": "default",
        "openai.response.system_fingerprint": a["openai.response.system_fingerprint"],
        "gen_ai.usage.input_tokens": 22,
        "gen_ai.usage.output_tokens": 6,
        "gen_ai.usage.cache_read.input_tokens": 0,
        "gen_ai.usage.reasoning.output_tokens": 0,
    }
    assert a["gen_ai.response.id"].startswith("chatcmpl-")
    assert a["openai.response.system_fingerprint"].startswith("fp_")
    # the system message stays in the chat history, in its place (gen_ai.system_instructions
    # is for instructions given apart from it)
    assert "gen_ai.system_instructions" not in a
    assert content(span, "gen_ai.input.messages") == [
        {"role": "system", "parts": [text("You are a concise assistant.")]},
        {"role": "user", "parts": [text(rec.CAPITAL_Q)]},
    ]
    assert content(span, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [text(ct.CAPITAL_ANSWER)], "finish_reason": "stop"}
    ]
    assert "gen_ai.tool.definitions" not in a
    (duration,) = traced.metric_points("gen_ai.client.inference.duration")
    assert duration.count == 1 and duration.sum > 0
    assert duration.attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": GPT,
        "gen_ai.response.model": SNAPSHOT,
        "server.address": "api.openai.com",
        "server.port": 443,
        # OpenAI's own metric attributes (the conventions' openai.md)
        "openai.response.service_tier": "default",
        "openai.response.system_fingerprint": "fp_560af6e559",
    }
    assert token_points(traced) == {"input": 22, "output": 6}
    for point in (traced.metric_points("gen_ai.client.inference.operation.input_tokens")
                  + traced.metric_points("gen_ai.client.inference.operation.output_tokens")):
        assert point.attributes["gen_ai.response.model"] == SNAPSHOT


def test_chat_request_options_not_in_the_recordings(traced: Any) -> None:
    # Replay matches on method and URL, not the body: other request options replay the same answer.
    run("sync", "chat_create", max_tokens=None, max_completion_tokens=50, service_tier="default", n=1, stop="END")
    a = attrs(traced.one(f"chat {GPT}"))
    assert a["gen_ai.request.max_tokens"] == 50
    assert a["openai.request.service_tier"] == "default"
    assert a["gen_ai.request.stop_sequences"] == ("END",)
    assert "gen_ai.request.choice.count" not in a  # n == 1 is the default: not recorded


def test_chat_request_is_not_modified(traced: Any) -> None:
    httpx2 = ct.httpx2  # the SDK's own HTTP library (httpx before openai 3)

    sent: list[Any] = []
    http = httpx2.Client(event_hooks={"request": [sent.append]})
    client = openai.OpenAI(api_key=rec.FAKE_API_KEY, http_client=http)
    kw = {**SCENARIOS["chat_stream"].kwargs}
    with ct.replay("chat_stream"):
        chunks = list(client.chat.completions.create(**kw))
    ct.check_chat_stream(chunks)
    [request] = sent
    body = json.loads(request.content)
    assert "stream_options" not in body and body["messages"] == kw["messages"]  # no include_usage injected
    assert "stream_options" not in kw
    assert not [k for k in traced.one(f"chat {GPT}").attributes if k.startswith("gen_ai.usage.")]


def test_embeddings_encoding_format(traced: Any) -> None:
    result = run("sync", "embeddings_create", encoding_format="base64", dimensions=1536)
    assert isinstance(result.data[0].embedding, str)  # asked for base64 explicitly: the SDK does not decode
    a = attrs(traced.one("embeddings text-embedding-3-small"))
    assert a["gen_ai.request.encoding_formats"] == ("base64",)
    assert a["gen_ai.embeddings.dimension.count"] == 1536


@pytest.mark.parametrize("mode", MODES)
def test_chat_create_n2(traced: Any, mode: str) -> None:
    run_checked(mode, "chat_create_n2")
    span = traced.one(f"chat {GPT}")
    assert span.attributes["gen_ai.request.choice.count"] == 2
    assert span.attributes["gen_ai.response.finish_reasons"] == ("stop", "stop")
    out = content(span, "gen_ai.output.messages")
    assert len(out) == 2 and out[0]["parts"] == [text(ct.CAPITAL_ANSWER)]
    assert all(m["role"] == "assistant" and m["finish_reason"] == "stop" for m in out)
    assert out[1]["parts"][0]["content"] != ct.CAPITAL_ANSWER


@pytest.mark.parametrize("mode", MODES)
def test_chat_stream_records_no_usage(traced: Any, mode: str) -> None:
    run_checked(mode, "chat_stream")
    span = traced.one(f"chat {GPT}")
    a = attrs(span)
    assert a["gen_ai.request.stream"] is True
    assert not [k for k in a if k.startswith("gen_ai.usage.")]
    assert a["weave_agent.stream.end_reason"] == "exhausted" and a["weave_agent.stream.chunks"] == 12
    assert a["gen_ai.response.finish_reasons"] == ("stop",) and a["gen_ai.response.model"] == SNAPSHOT
    assert a["gen_ai.response.id"].startswith("chatcmpl-")
    assert a["gen_ai.response.time_to_first_chunk"] >= 0
    assert content(span, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [text(ct.COUNT_ANSWER)], "finish_reason": "stop"}
    ]
    assert token_points(traced) == {}
    assert len(traced.metric_points("gen_ai.client.inference.duration")) == 1
    assert len(traced.metric_points("gen_ai.client.inference.time_to_first_chunk")) == 1


@pytest.mark.parametrize("mode", MODES)
def test_chat_stream_usage(traced: Any, mode: str) -> None:
    run_checked(mode, "chat_stream_usage")
    span = traced.one(f"chat {GPT}")
    assert span.attributes["gen_ai.usage.input_tokens"] == 12
    assert span.attributes["gen_ai.usage.output_tokens"] == 10
    assert span.attributes["gen_ai.usage.cache_read.input_tokens"] == 0
    assert content(span, "gen_ai.output.messages")[0]["parts"] == [text(ct.COUNT_ANSWER)]
    assert token_points(traced) == {"input": 12, "output": 10}


def _weather_definition() -> dict[str, Any]:
    fn = rec.WEATHER_TOOL["function"]
    return {"type": "function", "name": "get_weather", "description": fn["description"], "parameters": fn["parameters"]}


@pytest.mark.parametrize("mode", MODES)
def test_chat_tools(traced: Any, mode: str) -> None:
    result = run_checked(mode, "chat_tools")
    span = traced.one(f"chat {GPT}")
    assert span.attributes["gen_ai.response.finish_reasons"] == ("tool_call",)
    assert content(span, "gen_ai.tool.definitions") == [_weather_definition()]
    [call] = result.choices[0].message.tool_calls
    assert content(span, "gen_ai.output.messages") == [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": call.id, "name": "get_weather", "arguments": ct.WEATHER_ARGS}],
            "finish_reason": "tool_call",
        }
    ]


@pytest.mark.parametrize("mode", MODES)
def test_chat_parallel_tools(traced: Any, mode: str) -> None:
    result = run_checked(mode, "chat_parallel_tools")
    span = traced.one(f"chat {GPT}")
    [out] = content(span, "gen_ai.output.messages")
    calls = result.choices[0].message.tool_calls
    assert out["parts"] == [
        {"type": "tool_call", "id": calls[0].id, "name": "get_weather", "arguments": ct.WEATHER_ARGS},
        {"type": "tool_call", "id": calls[1].id, "name": "get_local_time", "arguments": {"timezone": "Europe/Paris"}},
    ]
    assert [d["name"] for d in content(span, "gen_ai.tool.definitions")] == ["get_weather", "get_local_time"]


@pytest.mark.parametrize("mode", MODES)
def test_chat_tool_result(traced: Any, mode: str) -> None:
    run_checked(mode, "chat_tool_result")
    span = traced.one(f"chat {GPT}")
    messages = content(span, "gen_ai.input.messages")
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool"]
    assert messages[1]["parts"] == [
        {"type": "tool_call", "id": rec.WEATHER_CALL_ID, "name": "get_weather", "arguments": ct.WEATHER_ARGS},
        {
            "type": "tool_call",
            "id": rec.TIME_CALL_ID,
            "name": "get_local_time",
            "arguments": {"timezone": "Europe/Paris"},
        },
    ]
    assert messages[2]["parts"] == [
        {"type": "tool_call_response", "id": rec.WEATHER_CALL_ID, "response": rec.TOOL_RESULT_MESSAGES[2]["content"]}
    ]
    assert messages[3]["parts"][0]["id"] == rec.TIME_CALL_ID
    assert span.attributes["gen_ai.response.finish_reasons"] == ("stop",)


@pytest.mark.parametrize("mode", MODES)
def test_chat_stream_tools_rebuilds_arguments(traced: Any, mode: str) -> None:
    chunks = run_checked(mode, "chat_stream_tools")
    span = traced.one(f"chat {GPT}")
    call_id = chunks[0].choices[0].delta.tool_calls[0].id
    assert content(span, "gen_ai.output.messages") == [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": call_id, "name": "get_weather", "arguments": ct.WEATHER_ARGS}],
            "finish_reason": "tool_call",
        }
    ]
    assert span.attributes["gen_ai.response.finish_reasons"] == ("tool_call",)


@pytest.mark.parametrize("mode", MODES)
def test_chat_json(traced: Any, mode: str) -> None:
    run_checked(mode, "chat_json")
    span = traced.one(f"chat {GPT}")
    assert span.attributes["gen_ai.output.type"] == "json"
    assert content(span, "gen_ai.input.messages")[0] == {
        "role": "system", "parts": [text("You are a helpful assistant designed to output JSON.")]
    }
    assert "gen_ai.system_instructions" not in span.attributes
    [out] = content(span, "gen_ai.output.messages")
    assert json.loads(out["parts"][0]["content"]) == {"country": "France", "capital": "Paris"}


@pytest.mark.parametrize("mode", MODES)
def test_chat_parse(traced: Any, mode: str) -> None:
    result = run_checked(mode, "chat_parse")
    assert isinstance(result, openai.types.chat.ParsedChatCompletion)
    assert isinstance(result.choices[0].message.parsed, rec.CalendarEvent)
    span = traced.one(f"chat {GPT}")  # parse posts by itself: one span, not two
    assert span.attributes["gen_ai.output.type"] == "json"
    assert span.attributes["gen_ai.usage.input_tokens"] > 0
    [out] = content(span, "gen_ai.output.messages")
    assert json.loads(out["parts"][0]["content"])["name"] == result.choices[0].message.parsed.name


@pytest.mark.parametrize("mode", MODES)
def test_chat_stream_helper(traced: Any, mode: str) -> None:
    events, final = run_checked(mode, "chat_stream_helper")  # events and get_final_completion still work
    span = traced.one(f"chat {GPT}")  # .stream() calls create(stream=True): one span
    a = attrs(span)
    assert a["gen_ai.request.stream"] is True
    assert a["weave_agent.stream.end_reason"] == "exhausted"
    assert a["gen_ai.response.id"] == final.id
    assert content(span, "gen_ai.output.messages")[0]["parts"] == [text(ct.HAIKU)]
    assert not [k for k in a if k.startswith("gen_ai.usage.")]


@pytest.mark.parametrize("mode", MODES)
def test_chat_image_input_never_exports_the_image(traced: Any, mode: str) -> None:
    run_checked(mode, "chat_image_input")
    span = traced.one(f"chat {GPT}")
    body = rec.IMAGE_DATA_URI.split(",", 1)[1]
    for key, value in span.attributes.items():
        assert body[:40] not in str(value), key
        assert "base64" not in str(value), key
    [message] = content(span, "gen_ai.input.messages")
    assert message["parts"] == [  # no upload configured: a placeholder saying what was there
        text("What is in this image?"),
        {"type": "generic", "generic_type": "blob", "modality": "image", "mime_type": "image/png",
         "byte_size": len(base64.b64decode(body))},
    ]
    assert span.attributes["gen_ai.request.max_tokens"] == 100


@pytest.mark.parametrize("mode", MODES)
def test_chat_stream_error(traced: Any, mode: str) -> None:
    received, err = run_checked(mode, "chat_stream_error")
    assert type(err) is APIError
    span = traced.one(f"chat {GPT}")
    assert span.status.status_code is StatusCode.ERROR
    a = attrs(span)
    assert a["error.type"] == "APIError"
    assert a["weave_agent.stream.end_reason"] == "error" and a["weave_agent.stream.chunks"] == 4
    assert a["gen_ai.response.id"] == received[0].id  # the partial output is recorded
    # the model's finish reason never came: the conventions' "error"
    assert content(span, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [text("Silver waves retreat,")], "finish_reason": "error"}
    ]
    assert a["gen_ai.response.finish_reasons"] == ("error",)
    assert [e.name for e in span.events] == ["exception"]
    (duration,) = traced.metric_points("gen_ai.client.inference.duration")
    assert duration.attributes["error.type"] == "APIError"
    assert token_points(traced) == {}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "name, exc_type, code",
    [
        ("chat_error_401", AuthenticationError, "401"),
        ("chat_error_429", RateLimitError, "429"),
        ("chat_error_500", InternalServerError, "500"),
    ],
)
def test_chat_http_errors(traced: Any, mode: str, name: str, exc_type: type, code: str) -> None:
    err = run_checked(mode, name)
    assert type(err) is exc_type  # the SDK's own exception reaches the caller
    span = traced.one(f"chat {GPT}")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == code
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)  # no finish reason came: "error"
    assert not [k for k in span.attributes
                if (k.startswith("gen_ai.response.") and k != "gen_ai.response.finish_reasons")
                or k.startswith("gen_ai.usage.")]
    (duration,) = traced.metric_points("gen_ai.client.inference.duration")
    assert duration.attributes["error.type"] == code
    assert token_points(traced) == {}


@pytest.mark.parametrize("mode", MODES)
def test_chat_cached_prompt(traced: Any, mode: str) -> None:
    ct.skip_if_sdk_lacks("chat_cached_prompt")
    result = run_checked(mode, "chat_cached_prompt")
    span = traced.one(f"chat {GPT}")
    assert span.attributes["gen_ai.usage.cache_read.input_tokens"] == result.usage.prompt_tokens_details.cached_tokens
    assert span.attributes["gen_ai.usage.input_tokens"] == result.usage.prompt_tokens  # includes the cached ones


# --------------------------------------------------------------------------------------
# Responses API
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_responses_create(traced: Any, mode: str) -> None:
    result = run_checked(mode, "responses_create")
    span = traced.one(f"chat {GPT}")
    a = attrs(span)
    assert a["openai.api.type"] == "responses" and a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.request.temperature"] == 0.3 and a["gen_ai.request.max_tokens"] == 64
    assert a["gen_ai.response.id"] == result.id and a["gen_ai.response.model"] == result.model
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["gen_ai.usage.input_tokens"] == result.usage.input_tokens
    assert a["gen_ai.usage.output_tokens"] == result.usage.output_tokens
    assert a["gen_ai.usage.cache_read.input_tokens"] == 0 and a["gen_ai.usage.reasoning.output_tokens"] == 0
    assert content(span, "gen_ai.system_instructions") == [text("You are a concise assistant.")]
    assert content(span, "gen_ai.input.messages") == [{"role": "user", "parts": [text(rec.CAPITAL_Q)]}]
    assert content(span, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [text(result.output_text)], "finish_reason": "stop"}
    ]
    assert token_points(traced) == {"input": result.usage.input_tokens, "output": result.usage.output_tokens}


@pytest.mark.parametrize("mode", MODES)
def test_responses_stream(traced: Any, mode: str) -> None:
    events = run_checked(mode, "responses_stream")
    completed = events[-1].response
    span = traced.one(f"chat {GPT}")
    a = attrs(span)
    assert a["gen_ai.request.stream"] is True and a["openai.api.type"] == "responses"
    assert a["gen_ai.response.id"] == completed.id
    assert a["gen_ai.usage.output_tokens"] == completed.usage.output_tokens
    assert content(span, "gen_ai.output.messages")[0]["parts"] == [text(ct.HAIKU)]
    assert content(span, "gen_ai.system_instructions") == [text("You are a poet.")]


@pytest.mark.parametrize("mode", MODES)
def test_responses_stream_helper(traced: Any, mode: str) -> None:
    events, final = run_checked(mode, "responses_stream_helper")
    span = traced.one(f"chat {GPT}")
    assert span.attributes["gen_ai.response.id"] == final.id
    assert span.attributes["gen_ai.usage.input_tokens"] == final.usage.input_tokens
    assert content(span, "gen_ai.output.messages")[0]["parts"] == [text(ct.JOKE)]


@pytest.mark.parametrize("mode", MODES)
def test_responses_parse(traced: Any, mode: str) -> None:
    result = run_checked(mode, "responses_parse")
    span = traced.one(f"chat {GPT}")
    assert span.attributes["gen_ai.output.type"] == "json"
    assert "gen_ai.system_instructions" not in span.attributes  # the system input item stays in the history
    assert [m["role"] for m in content(span, "gen_ai.input.messages")] == ["system", "user"]
    assert json.loads(content(span, "gen_ai.output.messages")[0]["parts"][0]["content"])["city"] == "Paris"
    assert span.attributes["gen_ai.response.id"] == result.id


@pytest.mark.parametrize("mode", MODES)
def test_responses_tools(traced: Any, mode: str) -> None:
    result = run_checked(mode, "responses_tools")
    span = traced.one(f"chat {GPT}")
    [call] = result.output
    assert span.attributes["gen_ai.response.finish_reasons"] == ("tool_call",)
    assert content(span, "gen_ai.output.messages") == [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": call.call_id, "name": "get_weather", "arguments": ct.WEATHER_ARGS}],
            "finish_reason": "tool_call",
        }
    ]
    assert content(span, "gen_ai.tool.definitions") == [_weather_definition()]


@pytest.mark.parametrize("mode", MODES)
def test_responses_reasoning(traced: Any, mode: str) -> None:
    result = run_checked(mode, "responses_reasoning")
    span = traced.one("chat o4-mini")
    assert span.attributes["gen_ai.usage.reasoning.output_tokens"] == 64
    parts = content(span, "gen_ai.output.messages")[0]["parts"]
    assert parts[0]["type"] == "reasoning" and parts[-1] == text(result.output_text)


# --------------------------------------------------------------------------------------
# Embeddings, legacy completions
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_embeddings_create(traced: Any, mode: str) -> None:
    result = run_checked(mode, "embeddings_create")
    span = traced.one("embeddings text-embedding-3-small")
    a = attrs(span)
    assert a["gen_ai.operation.name"] == "embeddings" and span.kind is SpanKind.CLIENT
    assert a["gen_ai.embeddings.dimension.count"] == 1536
    assert a["gen_ai.usage.input_tokens"] == result.usage.prompt_tokens
    assert "gen_ai.usage.output_tokens" not in a
    assert "gen_ai.request.encoding_formats" not in a  # not given by the caller (the SDK's default is not the user's)
    assert not [k for k in a if k in CONTENT_KEYS]
    assert token_points(traced) == {"input": result.usage.prompt_tokens}


@pytest.mark.parametrize("mode", MODES)
def test_completions_create(traced: Any, mode: str) -> None:
    result = run_checked(mode, "completions_create")
    span = traced.one("text_completion gpt-3.5-turbo-instruct")
    a = attrs(span)
    assert a["gen_ai.operation.name"] == "text_completion"
    assert a["gen_ai.request.max_tokens"] == 32 and a["gen_ai.request.temperature"] == 0
    assert a["gen_ai.response.id"] == result.id and a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["gen_ai.usage.output_tokens"] == 6
    assert content(span, "gen_ai.input.messages") == [
        {"role": "user", "parts": [text(SCENARIOS["completions_create"].kwargs["prompt"])]}
    ]
    assert content(span, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [text(result.choices[0].text)], "finish_reason": "stop"}
    ]


@pytest.mark.parametrize("mode", MODES)
def test_completions_stream(traced: Any, mode: str) -> None:
    chunks = run_checked(mode, "completions_stream")
    span = traced.one("text_completion gpt-3.5-turbo-instruct")
    a = attrs(span)
    assert a["gen_ai.request.stream"] is True and a["gen_ai.response.id"] == chunks[0].id
    assert not [k for k in a if k.startswith("gen_ai.usage.")]
    assert content(span, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [text("\n\n" + ct.COUNT_ANSWER)], "finish_reason": "stop"}
    ]


# --------------------------------------------------------------------------------------
# Azure, OpenAI-compatible servers
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_azure_chat_create(traced: Any, mode: str) -> None:
    run_checked(mode, "azure_chat_create")
    span = traced.one("chat my-gpt4o-deployment")
    a = attrs(span)
    assert a["gen_ai.provider.name"] == "azure.ai.openai"
    assert a["server.address"] == "myresource.openai.azure.com" and a["server.port"] == 443
    assert a["gen_ai.response.model"] == "gpt-4o-2024-11-20"
    (duration,) = traced.metric_points("gen_ai.client.inference.duration")
    assert duration.attributes["gen_ai.provider.name"] == "azure.ai.openai"


@pytest.mark.parametrize("mode", MODES)
def test_compat_chat_create(traced: Any, mode: str) -> None:
    run_checked(mode, "compat_chat_create")
    span = traced.one("chat llama-3.1-8b-instruct")
    a = attrs(span)
    assert a["gen_ai.provider.name"] == "openai"
    assert a["server.address"] == "llm.internal.example" and a["server.port"] == 8443
    assert "openai.response.system_fingerprint" not in a and "openai.response.service_tier" not in a
    assert "gen_ai.usage.cache_read.input_tokens" not in a  # no prompt_tokens_details: not reported, not 0
    assert a["gen_ai.usage.output_tokens"] == 6


# --------------------------------------------------------------------------------------
# Raw and streamed responses
# --------------------------------------------------------------------------------------


def test_raw_response_chat(traced: Any) -> None:
    kw = dict(SCENARIOS["raw_response_chat"].kwargs)
    client = ct.sync_client("raw_response_chat")
    with ct.replay("raw_response_chat"):
        raw = client.chat.completions.with_raw_response.create(**kw)
    ct.CHECKS["raw_response_chat"]((raw, raw.parse()))  # headers and .parse() still work
    assert raw.parse() is raw.parse()
    span = traced.one(f"chat {GPT}")
    parsed = raw.parse()
    assert span.attributes["gen_ai.response.id"] == parsed.id
    assert span.attributes["gen_ai.usage.output_tokens"] == parsed.usage.completion_tokens
    assert content(span, "gen_ai.output.messages")[0]["parts"] == [text(ct.JOKE)]


def test_raw_response_chat_async(traced: Any) -> None:
    async def go() -> Any:
        client = ct.async_client("raw_response_chat")
        with ct.replay("raw_response_chat"):
            raw = await client.chat.completions.with_raw_response.create(**SCENARIOS["raw_response_chat"].kwargs)
        await client.close()
        return raw

    raw = asyncio.run(go())
    ct.CHECKS["raw_response_chat"]((raw, raw.parse()))
    assert traced.one(f"chat {GPT}").attributes["gen_ai.response.id"] == raw.parse().id


def test_raw_response_of_a_stream(traced: Any) -> None:
    client = ct.sync_client("chat_stream")
    with ct.replay("chat_stream"):
        raw = client.chat.completions.with_raw_response.create(**SCENARIOS["chat_stream"].kwargs)
        assert isinstance(raw, openai._legacy_response.LegacyAPIResponse)
        assert raw.headers["content-type"].startswith("text/event-stream")
        assert traced.finished() == []  # the agent read nothing: the stream is the user's
        stream = raw.parse()
        assert isinstance(stream, Stream) and raw.parse() is stream
        chunks = list(stream)
    ct.check_chat_stream(chunks)  # every chunk still reaches the user
    span = _one_ended(traced, "exhausted")
    assert span.attributes["gen_ai.response.id"] == chunks[0].id
    assert content(span, "gen_ai.output.messages")[0]["parts"] == [text(ct.COUNT_ANSWER)]


def test_raw_response_of_an_async_stream(traced: Any) -> None:
    async def go() -> list[Any]:
        client = ct.async_client("chat_stream_usage")
        with ct.replay("chat_stream_usage"):
            raw = await client.chat.completions.with_raw_response.create(**SCENARIOS["chat_stream_usage"].kwargs)
            stream = raw.parse()  # synchronous, also for the async client
            assert isinstance(stream, AsyncStream)
            chunks = [c async for c in stream]
        await client.close()
        return chunks

    chunks = asyncio.run(go())
    ct.check_chat_stream(chunks, with_usage=True)
    span = _one_ended(traced, "exhausted")
    assert span.attributes["gen_ai.usage.output_tokens"] == 10


def test_raw_response_of_a_stream_never_parsed(traced: Any) -> None:
    client = ct.sync_client("chat_stream")
    with ct.replay("chat_stream"):
        raw = client.chat.completions.with_raw_response.create(**SCENARIOS["chat_stream"].kwargs)
        del raw
        gc.collect()
    span = _one_ended(traced, "garbage_collected")
    assert "gen_ai.response.id" not in span.attributes


@pytest.mark.parametrize("mode", MODES)
def test_streaming_response_chat(traced: Any, mode: str) -> None:
    run_checked(mode, "streaming_response_chat")  # iter_lines(): the body bypasses the SDK's parsing
    span = _one_ended(traced, "closed")  # ended when the SDK's context manager closed the response
    assert span.attributes["gen_ai.request.stream"] is True
    assert "gen_ai.response.id" not in span.attributes


def test_streaming_response_parsed_stream(traced: Any) -> None:
    kw = dict(SCENARIOS["streaming_response_chat"].kwargs)
    client = ct.sync_client("streaming_response_chat")
    with ct.replay("streaming_response_chat"):
        with client.chat.completions.with_streaming_response.create(**kw) as response:
            assert isinstance(response, openai._response.APIResponse)
            assert response.headers["content-type"].startswith("text/event-stream")
            assert traced.finished() == []
            stream = response.parse()
            assert isinstance(stream, Stream) and response.parse() is stream
            chunks = list(stream)
        assert len(traced.finished()) == 1
    ct.check_chat_stream(chunks)
    span = _one_ended(traced, "exhausted")
    assert content(span, "gen_ai.output.messages")[0]["parts"] == [text(ct.COUNT_ANSWER)]


def test_streaming_response_async_parsed_stream(traced: Any) -> None:
    async def go() -> list[Any]:
        client = ct.async_client("streaming_response_chat")
        kw = dict(SCENARIOS["streaming_response_chat"].kwargs)
        with ct.replay("streaming_response_chat"):
            async with client.chat.completions.with_streaming_response.create(**kw) as response:
                stream = await response.parse()
                assert isinstance(stream, AsyncStream)
                chunks = [c async for c in stream]
        await client.close()
        return chunks

    chunks = asyncio.run(go())
    ct.check_chat_stream(chunks)
    assert _one_ended(traced, "exhausted").attributes["gen_ai.response.id"] == chunks[0].id


@pytest.mark.parametrize("mode", MODES)
def test_streaming_response_of_a_whole_body(traced: Any, mode: str) -> None:
    kw = dict(SCENARIOS["chat_create"].kwargs)

    async def ago() -> Any:
        client = ct.async_client("chat_create")
        with ct.replay("chat_create"):
            async with client.chat.completions.with_streaming_response.create(**kw) as response:
                result = await response.parse()
        await client.close()
        return result

    if mode == "sync":
        client = ct.sync_client("chat_create")
        with ct.replay("chat_create"):
            with client.chat.completions.with_streaming_response.create(**kw) as response:
                result = response.parse()
    else:
        result = asyncio.run(ago())
    ct.check_chat_create(result)
    span = _one_ended(traced, "closed", whole=True)  # read whole, then closed: the model's reason stays
    assert span.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert span.attributes["gen_ai.response.id"] == result.id
    assert span.attributes["gen_ai.usage.input_tokens"] == 22


# --------------------------------------------------------------------------------------
# Every way a stream ends: exactly one ended span
# --------------------------------------------------------------------------------------


def _stream(client: Any) -> Any:
    return client.chat.completions.create(**SCENARIOS["chat_stream"].kwargs)


def _one_ended(traced: Any, reason: str, whole: bool = False) -> Any:
    span = traced.one(f"chat {GPT}")
    assert span.end_time is not None
    assert span.attributes["weave_agent.stream.end_reason"] == reason
    if not whole and reason != "exhausted":  # cut short before the model said why it stopped: "error"
        assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)
        messages = json.loads(span.attributes.get("gen_ai.output.messages", "[]"))
        assert all(m["finish_reason"] == "error" for m in messages)
    return span


def test_stream_exhausted(traced: Any) -> None:
    client = ct.sync_client("chat_stream")
    with ct.replay("chat_stream"):
        stream = _stream(client)
        assert isinstance(stream, Stream)
        assert traced.finished() == []
        chunks = list(stream)
    assert len(chunks) == 12
    _one_ended(traced, "exhausted")


def test_stream_break_then_dropped(traced: Any) -> None:
    client = ct.sync_client("chat_stream")
    with ct.replay("chat_stream"):
        stream = _stream(client)
        for _ in stream:
            break
        del stream
        gc.collect()
    span = _one_ended(traced, "garbage_collected")
    assert span.attributes["weave_agent.stream.chunks"] == 1


def test_stream_close(traced: Any) -> None:
    client = ct.sync_client("chat_stream")
    with ct.replay("chat_stream"):
        stream = _stream(client)
        next(iter(stream))
        stream.close()
        assert stream.response.is_closed
    _one_ended(traced, "closed")


def test_stream_with_block(traced: Any) -> None:
    client = ct.sync_client("chat_stream")
    with ct.replay("chat_stream"):
        with _stream(client) as stream:
            assert isinstance(stream, Stream)
            next(iter(stream))
        assert stream.response.is_closed
    _one_ended(traced, "exited")


def test_stream_never_iterated_then_collected(traced: Any) -> None:
    client = ct.sync_client("chat_stream")
    with ct.replay("chat_stream"):
        stream = _stream(client)
        del stream
        gc.collect()
    span = _one_ended(traced, "garbage_collected")
    assert span.attributes["weave_agent.stream.chunks"] == 0


def test_async_stream_exits(traced: Any) -> None:
    async def go() -> None:
        client = ct.async_client("chat_stream")
        with ct.replay("chat_stream"):
            stream = await client.chat.completions.create(**SCENARIOS["chat_stream"].kwargs)
            assert isinstance(stream, AsyncStream)
            async for _ in stream:
                break
            await stream.close()
        await client.close()

    asyncio.run(go())
    _one_ended(traced, "closed")
    traced.clear()

    async def go_with() -> None:
        client = ct.async_client("chat_stream")
        with ct.replay("chat_stream"):
            async with await client.chat.completions.create(**SCENARIOS["chat_stream"].kwargs) as stream:
                async for _ in stream:
                    break
        await client.close()

    asyncio.run(go_with())
    _one_ended(traced, "exited")


# --------------------------------------------------------------------------------------
# Secrets, content switch, undo
# --------------------------------------------------------------------------------------


def _everything_exported(spans: Any) -> list[str]:
    values = []
    for span in spans.finished():
        values.extend(str(v) for v in span.attributes.values())
        values.append(span.status.description or "")
        for event in span.events:
            values.extend(str(v) for v in event.attributes.values())
    return values


@pytest.mark.parametrize("name", ["chat_create", "chat_error_401", "azure_chat_create", "chat_stream_usage"])
def test_no_api_key_or_auth_header_is_exported(traced: Any, name: str) -> None:
    run_checked("sync", name)
    client = ct.sync_client(name)
    secrets = {client.api_key, "Bearer " + client.api_key, rec.FAKE_API_KEY, rec.INVALID_API_KEY, rec.AZURE_API_KEY}
    exported = _everything_exported(traced)
    assert exported
    for value in exported:
        for secret in secrets:
            assert secret not in value
    for span in traced.finished():
        assert not [k for k in span.attributes if "authorization" in k.lower() or "api-key" in k.lower()]


def test_content_off_records_no_content(traced: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import weave_agent.lifecycle as lifecycle
    from weave_agent.export import telemetry
    from weave_agent.settings import Settings

    monkeypatch.setattr(
        lifecycle, "_settings", Settings.load({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "false"})
    )
    telemetry.reset()
    telemetry.use_providers(traced.provider, traced.meter_provider)
    run_checked("sync", "chat_tools")
    run_checked("sync", "chat_stream_tools")
    for span in traced.finished():
        assert not [k for k in span.attributes if k in CONTENT_KEYS]
        assert span.attributes["gen_ai.response.finish_reasons"] == ("tool_call",)


def _resource_methods() -> dict[str, Any]:
    from openai.resources import completions, embeddings
    from openai.resources.chat.completions import completions as chat
    from openai.resources.responses import responses

    out = {}
    for module, classes, methods in (
        (chat, ("Completions", "AsyncCompletions"), ("create", "parse")),
        (responses, ("Responses", "AsyncResponses"), ("create", "parse")),
        (embeddings, ("Embeddings", "AsyncEmbeddings"), ("create",)),
        (completions, ("Completions", "AsyncCompletions"), ("create",)),
    ):
        for cls in classes:
            for method in methods:
                out[f"{module.__name__}.{cls}.{method}"] = vars(getattr(module, cls))[method]
    return out


def test_patch_and_undo(spans: Any) -> None:
    from weave_agent import patch, unpatch

    before = _resource_methods()
    patch(openai=True)
    try:
        patched = _resource_methods()
        assert all(patched[k] is not before[k] for k in before), "every target is patched"
    finally:
        unpatch("openai")
    after = _resource_methods()
    assert all(after[k] is before[k] for k in before)
    run_checked("sync", "chat_create")
    run_checked("async", "embeddings_create")
    assert spans.finished() == []
