"""The OpenAI cassettes are honest: the real SDK, without any instrumentation, parses every one.

Each cassette is replayed with vcrpy in ``record_mode="none"`` (no network; an
unmatched request fails) through the SDK's default base URLs, once with the sync
client and once with the async client (httpx2 async transport). The client settings
and call arguments come from the recorder's scenario table.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import json
import math
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import openai
import pytest
import vcr
import yaml
from openai import (
    APIError,
    APIStatusError,
    AsyncStream,
    AuthenticationError,
    InternalServerError,
    RateLimitError,
    Stream,
)
from openai._base_client import URL as _SDK_URL
from openai._legacy_response import LegacyAPIResponse
from openai.types import Completion, CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ParsedChatCompletion
from openai.types.responses import ParsedResponse, Response
from vcr.errors import CannotOverwriteExistingCassetteException

from weave_agent.instrumentations.registry import TESTED_VERSIONS

HERE = Path(__file__).resolve().parent
# The installed SDK's HTTP library: httpx2 from openai 3 on, httpx before it (the
# compatibility matrix, bench/compat.py, runs these tests at both ends of the range).
httpx2 = importlib.import_module(_SDK_URL.__module__.split(".")[0])


def _load_recorder() -> Any:
    name = "weave_tests_openai_record_cassettes"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE / "record_cassettes.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


rec = _load_recorder()
SCENARIOS = rec.SCENARIOS
REPLAY = vcr.VCR(record_mode="none", match_on=rec.MATCH_ON)

GPT_SNAPSHOT = "gpt-4o-mini-2024-07-18"
CAPITAL_ANSWER = "The capital of France is Paris."
COUNT_ANSWER = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10"
JOKE = "Why did the developer go broke? Because they used up all their cache."
HAIKU = "Silver waves retreat,\nmoonlight folds into the foam,\nthe tide keeps its time."
WEATHER_ARGS = {"location": "Paris, France", "unit": "celsius"}
ENV_VARS = (
    "OPENAI_API_KEY", "OPENAI_ADMIN_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID",
    "OPENAI_CUSTOM_HEADERS", "OPENAI_WEBHOOK_SECRET", "OPENAI_API_VERSION", "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_AD_TOKEN",
)


@pytest.fixture(autouse=True)
def _no_ambient_openai_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)


# Request parameters a scenario sends that older releases in the range do not have, with the
# release that added them: the compatibility matrix (bench/compat.py) runs these tests on the
# oldest release the registry admits, where such a scenario cannot be sent at all.
ADDED_IN = {"prompt_cache_key": "1.98.0"}


def sdk_lacks(name: str) -> str | None:
    """Why the installed SDK cannot send scenario ``name`` (a skip reason), or None."""
    create = openai.resources.chat.completions.Completions.create
    params = inspect.signature(create).parameters
    for key, since in ADDED_IN.items():
        if key in SCENARIOS[name].kwargs and key not in params:
            return f"openai {openai.__version__} has no {key} (added in {since})"
    return None


def skip_if_sdk_lacks(name: str) -> None:
    reason = sdk_lacks(name)
    if reason:
        pytest.skip(reason)


def expect_refused(fn: Callable[[], Any]) -> None:
    """vcrpy refuses the request. openai 3 lets the error of its HTTP client through; before
    it, the SDK wraps it in APIConnectionError (the client must not retry for this)."""
    with pytest.raises((CannotOverwriteExistingCassetteException, openai.APIConnectionError)) as info:
        fn()
    err = info.value
    assert isinstance(err, CannotOverwriteExistingCassetteException) or isinstance(
        err.__cause__, CannotOverwriteExistingCassetteException
    ), repr(err)


@contextmanager
def replay(name: str) -> Iterator[Any]:
    with REPLAY.use_cassette(str(SCENARIOS[name].cassette)) as cassette:
        yield cassette
    assert cassette.all_played, f"{name}: not every recorded interaction was requested"


def sync_client(name: str) -> Any:
    scenario = SCENARIOS[name]
    return rec.make_client(scenario.target, **scenario.client_options)


def async_client(name: str) -> Any:
    scenario = SCENARIOS[name]
    return rec.make_client(scenario.target, is_async=True, **scenario.client_options)


def expect_error(exc_type: type[BaseException], fn: Callable[[], Any]) -> Any:
    with pytest.raises(exc_type) as info:
        fn()
    return info.value


async def expect_error_async(exc_type: type[BaseException], coro: Callable[[], Awaitable[Any]]) -> Any:
    with pytest.raises(exc_type) as info:
        await coro()
    return info.value


# --------------------------------------------------------------------------------------
# Drivers: what each scenario does with the SDK, sync and async. Both return the same shape.
# --------------------------------------------------------------------------------------


def _stream_until_error(stream: Iterator[Any]) -> tuple[list[Any], BaseException]:
    received = []
    try:
        for chunk in stream:
            received.append(chunk)
    except APIError as err:
        return received, err
    raise AssertionError("the stream ended without an error")


async def _astream_until_error(stream: Any) -> tuple[list[Any], BaseException]:
    received = []
    try:
        async for chunk in stream:
            received.append(chunk)
    except APIError as err:
        return received, err
    raise AssertionError("the stream ended without an error")


def sync_drive(name: str, client: Any, kw: dict[str, Any]) -> Any:
    chat = client.chat.completions
    if name == "chat_stream_helper":
        with chat.stream(**kw) as stream:
            events = list(stream)
            return events, stream.get_final_completion()
    if name == "chat_parse":
        return chat.parse(**kw)
    if name == "chat_stream_error":
        return _stream_until_error(chat.create(**kw))
    if name == "chat_error_401":
        return expect_error(AuthenticationError, lambda: chat.create(**kw))
    if name == "chat_error_429":
        return expect_error(RateLimitError, lambda: chat.create(**kw))
    if name == "chat_error_500":
        return expect_error(InternalServerError, lambda: chat.create(**kw))
    if name == "raw_response_chat":
        raw = chat.with_raw_response.create(**kw)
        return raw, raw.parse()
    if name == "streaming_response_chat":
        with chat.with_streaming_response.create(**kw) as response:
            return response.headers, list(response.iter_lines())
    if name.startswith("responses_"):
        if name == "responses_stream_helper":
            with client.responses.stream(**kw) as stream:
                events = list(stream)
                return events, stream.get_final_response()
        if name == "responses_parse":
            return client.responses.parse(**kw)
        result = client.responses.create(**kw)
        return list(result) if kw.get("stream") else result
    if name == "embeddings_create":
        return client.embeddings.create(**kw)
    if name.startswith("completions_"):
        result = client.completions.create(**kw)
        return list(result) if kw.get("stream") else result
    result = chat.create(**kw)
    return list(result) if kw.get("stream") else result


async def async_drive(name: str, client: Any, kw: dict[str, Any]) -> Any:
    chat = client.chat.completions
    if name == "chat_stream_helper":
        async with chat.stream(**kw) as stream:
            events = [event async for event in stream]
            return events, await stream.get_final_completion()
    if name == "chat_parse":
        return await chat.parse(**kw)
    if name == "chat_stream_error":
        return await _astream_until_error(await chat.create(**kw))
    if name == "chat_error_401":
        return await expect_error_async(AuthenticationError, lambda: chat.create(**kw))
    if name == "chat_error_429":
        return await expect_error_async(RateLimitError, lambda: chat.create(**kw))
    if name == "chat_error_500":
        return await expect_error_async(InternalServerError, lambda: chat.create(**kw))
    if name == "raw_response_chat":
        raw = await chat.with_raw_response.create(**kw)
        return raw, raw.parse()  # LegacyAPIResponse.parse() is synchronous, also for the async client
    if name == "streaming_response_chat":
        async with chat.with_streaming_response.create(**kw) as response:
            return response.headers, [line async for line in response.iter_lines()]
    if name.startswith("responses_"):
        if name == "responses_stream_helper":
            async with client.responses.stream(**kw) as stream:
                events = [event async for event in stream]
                return events, await stream.get_final_response()
        if name == "responses_parse":
            return await client.responses.parse(**kw)
        result = await client.responses.create(**kw)
        return [event async for event in result] if kw.get("stream") else result
    if name == "embeddings_create":
        return await client.embeddings.create(**kw)
    if name.startswith("completions_"):
        result = await client.completions.create(**kw)
        return [chunk async for chunk in result] if kw.get("stream") else result
    result = await chat.create(**kw)
    return [chunk async for chunk in result] if kw.get("stream") else result


# --------------------------------------------------------------------------------------
# What the SDK must have parsed out of each cassette
# --------------------------------------------------------------------------------------


def assert_openai_usage(usage: Any, *, completion_tokens: int | None = None, cached: int = 0, reasoning: int = 0) -> None:
    assert usage.prompt_tokens > 0
    if completion_tokens is not None:
        assert usage.completion_tokens == completion_tokens
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens_details.cached_tokens == cached
    assert usage.completion_tokens_details.reasoning_tokens == reasoning


def assert_chat_completion(result: Any, *, model: str = GPT_SNAPSHOT) -> None:
    assert isinstance(result, ChatCompletion)
    assert result.id.startswith("chatcmpl-")
    assert result.object == "chat.completion"
    assert result.model == model
    assert result.created > 1_700_000_000


def check_chat_create(result: Any) -> None:
    assert_chat_completion(result)
    assert result.system_fingerprint.startswith("fp_")
    assert result.service_tier == "default"
    [choice] = result.choices
    assert choice.index == 0 and choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content == CAPITAL_ANSWER
    assert choice.message.tool_calls is None and choice.message.refusal is None
    assert_openai_usage(result.usage, completion_tokens=6)


def check_chat_create_n2(result: Any) -> None:
    assert_chat_completion(result)
    assert [c.index for c in result.choices] == [0, 1]
    contents = [c.message.content for c in result.choices]
    assert contents[0] == CAPITAL_ANSWER and contents[1] != contents[0] and "Paris" in contents[1]
    assert all(c.finish_reason == "stop" for c in result.choices)
    assert_openai_usage(result.usage, completion_tokens=12)


def check_chat_stream(chunks: Any, *, with_usage: bool = False) -> None:
    assert all(isinstance(c, ChatCompletionChunk) for c in chunks)
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")
    assert {c.model for c in chunks} == {GPT_SNAPSHOT}
    choice_chunks = [c for c in chunks if c.choices]
    assert choice_chunks[0].choices[0].delta.role == "assistant"
    content = [c.choices[0].delta.content for c in choice_chunks[1:] if c.choices[0].delta.content]
    assert len(content) == 10
    assert "".join(content) == COUNT_ANSWER
    assert choice_chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.choices[0].finish_reason is None for c in choice_chunks[:-1])
    if with_usage:
        assert len(chunks) == 13
        final = chunks[-1]
        assert final.choices == [] and final.usage is not None
        assert_openai_usage(final.usage, completion_tokens=10)
        assert all(c.usage is None for c in chunks[:-1])
    else:
        assert len(chunks) == 12
        assert all(c.usage is None for c in chunks)


def check_chat_tools(result: Any) -> None:
    assert_chat_completion(result)
    [choice] = result.choices
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    [call] = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == WEATHER_ARGS
    assert_openai_usage(result.usage)


def check_chat_parallel_tools(result: Any) -> None:
    assert_chat_completion(result)
    [choice] = result.choices
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert [c.function.name for c in calls] == ["get_weather", "get_local_time"]
    assert len({c.id for c in calls}) == 2
    assert json.loads(calls[0].function.arguments) == WEATHER_ARGS
    assert json.loads(calls[1].function.arguments) == {"timezone": "Europe/Paris"}


def check_chat_tool_result(result: Any) -> None:
    assert_chat_completion(result)
    [choice] = result.choices
    assert choice.finish_reason == "stop" and choice.message.tool_calls is None
    assert "get_weather returned" in choice.message.content and "14:05" in choice.message.content
    assert_openai_usage(result.usage)


def check_chat_stream_tools(chunks: Any) -> None:
    assert all(isinstance(c, ChatCompletionChunk) for c in chunks)
    deltas = [c.choices[0].delta for c in chunks]
    first = deltas[0].tool_calls[0]
    assert deltas[0].role == "assistant"
    assert first.index == 0 and first.id.startswith("call_") and first.type == "function"
    assert first.function.name == "get_weather" and first.function.arguments == ""
    pieces = [d.tool_calls[0].function.arguments for d in deltas[1:] if d.tool_calls]
    assert len(pieces) > 2
    assert all(d.tool_calls[0].id is None for d in deltas[1:] if d.tool_calls)
    assert json.loads("".join(pieces)) == WEATHER_ARGS
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def check_chat_json(result: Any) -> None:
    assert_chat_completion(result)
    assert json.loads(result.choices[0].message.content) == {"country": "France", "capital": "Paris"}


def check_chat_parse(result: Any) -> None:
    assert isinstance(result, ParsedChatCompletion)
    assert_chat_completion(result)
    message = result.choices[0].message
    assert isinstance(message.parsed, rec.CalendarEvent)
    assert message.parsed == rec.CalendarEvent(name="Science Fair", date="Friday", participants=["Alice", "Bob"])
    assert json.loads(message.content) == message.parsed.model_dump()


def check_chat_stream_helper(result: Any) -> None:
    events, final = result
    types = [e.type for e in events]
    assert types[0] == "chunk"
    deltas = [e.delta for e in events if e.type == "content.delta"]
    assert deltas[0] == ""  # the first chunk (role "assistant", content "") already yields a content.delta
    assert len(deltas) == 1 + len(HAIKU.split()) and "".join(deltas) == HAIKU
    assert types.count("content.done") == 1
    done = next(e for e in events if e.type == "content.done")
    assert done.content == HAIKU
    assert isinstance(final, ParsedChatCompletion)
    assert final.choices[0].message.content == HAIKU
    assert final.choices[0].finish_reason == "stop"
    assert final.model == GPT_SNAPSHOT


def check_chat_image_input(result: Any) -> None:
    assert_chat_completion(result)
    assert "square" in result.choices[0].message.content
    assert result.usage.prompt_tokens > 2833  # gpt-4o-mini bills a low-detail image as 2833 tokens


def check_chat_stream_error(result: Any) -> None:
    received, err = result
    assert len(received) == 4  # the role chunk and three content chunks arrived before the error event
    assert "".join(c.choices[0].delta.content or "" for c in received) == "Silver waves retreat,"
    assert type(err) is APIError and not isinstance(err, APIStatusError)
    assert err.message == "The server had an error while processing your request. Sorry about that!"
    assert err.type == "server_error"
    assert err.body == {"message": err.message, "type": "server_error", "param": None, "code": None}


def check_chat_error_401(err: Any) -> None:
    assert isinstance(err, AuthenticationError)
    assert err.status_code == 401 and err.code == "invalid_api_key" and err.type == "invalid_request_error"
    assert "Incorrect API key provided: sk-test-" in err.message
    assert err.request_id.startswith("req_")


def check_chat_error_429(err: Any) -> None:
    assert isinstance(err, RateLimitError)
    assert err.status_code == 429 and err.code == "rate_limit_exceeded" and err.type == "requests"
    assert err.response.headers["retry-after"] == "0"
    assert err.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert err.request_id.startswith("req_")


def check_chat_error_500(err: Any) -> None:
    assert isinstance(err, InternalServerError)
    assert err.status_code == 500 and err.type == "server_error" and err.code is None
    assert err.request_id in err.message


def assert_response(result: Any, *, model: str = GPT_SNAPSHOT) -> None:
    assert isinstance(result, Response)
    assert result.id.startswith("resp_") and result.object == "response"
    assert result.status == "completed" and result.model == model
    usage = result.usage
    assert usage.input_tokens > 0 and usage.output_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.input_tokens_details.cached_tokens == 0


def check_responses_create(result: Any) -> None:
    assert_response(result)
    [message] = result.output
    assert message.type == "message" and message.role == "assistant" and message.id.startswith("msg_")
    [part] = message.content
    assert part.type == "output_text" and part.text == CAPITAL_ANSWER
    assert result.output_text == CAPITAL_ANSWER
    assert result.instructions == "You are a concise assistant."
    assert result.temperature == 0.3 and result.max_output_tokens == 64
    assert result.usage.output_tokens == 6 and result.usage.output_tokens_details.reasoning_tokens == 0
    assert result.service_tier == "default"


RESPONSES_STREAM_TYPES = (
    ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]
    + ["response.output_text.delta"] * len(HAIKU.split())
    + ["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"]
)


def check_responses_stream(events: Any) -> None:
    assert [e.type for e in events] == RESPONSES_STREAM_TYPES
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[0].response.status == "in_progress" and events[0].response.usage is None
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    done = next(e for e in events if e.type == "response.output_text.done")
    assert "".join(deltas) == done.text == HAIKU
    completed = events[-1].response
    assert_response(completed)
    assert completed.output_text == HAIKU and completed.id == events[0].response.id


def check_responses_stream_helper(result: Any) -> None:
    events, final = result
    types = [e.type for e in events]
    assert types[0] == "response.created" and types[-1] == "response.completed"
    deltas = [e for e in events if e.type == "response.output_text.delta"]
    assert deltas[-1].snapshot == JOKE  # the helper accumulates a snapshot on every delta
    assert isinstance(final, ParsedResponse)
    assert_response(final)
    assert final.output_text == JOKE


def check_responses_parse(result: Any) -> None:
    assert isinstance(result, ParsedResponse)
    assert_response(result)
    assert result.output_parsed == rec.CityInfo(city="Paris", country="France", population=2102650)
    assert result.text.format.type == "json_schema" and result.text.format.name == "CityInfo"


def check_responses_tools(result: Any) -> None:
    assert_response(result)
    [call] = result.output
    assert call.type == "function_call" and call.status == "completed"
    assert call.name == "get_weather" and call.call_id.startswith("call_") and call.id.startswith("fc_")
    assert json.loads(call.arguments) == WEATHER_ARGS
    assert result.output_text == ""
    assert result.tools[0].name == "get_weather"


def check_embeddings_create(result: Any) -> None:
    assert isinstance(result, CreateEmbeddingResponse)
    assert result.model == "text-embedding-3-small" and result.object == "list"
    assert [d.index for d in result.data] == [0, 1]
    for item in result.data:
        # the SDK asked for base64 and decoded it back into floats
        assert isinstance(item.embedding, list) and len(item.embedding) == 1536
        assert all(isinstance(v, float) for v in item.embedding[:10])
        assert math.isclose(math.sqrt(sum(v * v for v in item.embedding)), 1.0, rel_tol=1e-4)
    assert result.data[0].embedding != result.data[1].embedding
    assert result.usage.prompt_tokens == result.usage.total_tokens > 0


def check_completions_create(result: Any) -> None:
    assert isinstance(result, Completion)
    assert result.id.startswith("cmpl-") and result.object == "text_completion"
    assert result.model == "gpt-3.5-turbo-instruct:20230824-v2"
    [choice] = result.choices
    assert choice.text == "\n\n" + CAPITAL_ANSWER and choice.finish_reason == "stop"
    assert result.usage.completion_tokens == 6
    assert result.usage.total_tokens == result.usage.prompt_tokens + 6


def check_completions_stream(chunks: Any) -> None:
    assert all(isinstance(c, Completion) for c in chunks)
    assert "".join(c.choices[0].text for c in chunks) == "\n\n" + COUNT_ANSWER
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)


def check_azure_chat_create(result: Any) -> None:
    assert_chat_completion(result, model="gpt-4o-2024-11-20")
    assert result.choices[0].message.content == CAPITAL_ANSWER
    assert result.prompt_filter_results[0]["content_filter_results"]["jailbreak"] == {"filtered": False, "detected": False}
    assert result.choices[0].content_filter_results["hate"] == {"filtered": False, "severity": "safe"}
    assert result.service_tier is None
    assert_openai_usage(result.usage, completion_tokens=6)


def check_compat_chat_create(result: Any) -> None:
    assert_chat_completion(result, model="llama-3.1-8b-instruct")
    assert result.choices[0].message.content == CAPITAL_ANSWER
    assert result.choices[0].message.tool_calls == []
    assert result.system_fingerprint is None and result.service_tier is None
    assert result.usage.completion_tokens == 6 and result.usage.prompt_tokens_details is None


def check_raw_response_chat(result: Any) -> None:
    raw, parsed = result
    assert isinstance(raw, LegacyAPIResponse)
    assert raw.status_code == 200
    assert raw.headers["content-type"] == "application/json"
    assert raw.headers["x-request-id"].startswith("req_") and raw.request_id == raw.headers["x-request-id"]
    assert int(raw.headers["openai-processing-ms"]) > 0
    assert raw.headers["openai-version"] == "2020-10-01"
    assert "openai-organization" not in raw.headers and "set-cookie" not in raw.headers
    assert str(raw.http_request.url) == "https://api.openai.com/v1/chat/completions"
    assert_chat_completion(parsed)
    assert parsed.choices[0].message.content == JOKE


def check_streaming_response_chat(result: Any) -> None:
    headers, lines = result
    assert headers["content-type"].startswith("text/event-stream")
    data = [line[len("data: "):] for line in lines if line.startswith("data: ")]
    assert data[-1] == "[DONE]" and len(data) == 13
    chunks = [ChatCompletionChunk.model_validate_json(d) for d in data[:-1]]
    check_chat_stream(chunks)


def check_chat_cached_prompt(result: Any) -> None:
    assert_chat_completion(result)
    assert result.choices[0].message.content == CAPITAL_ANSWER
    details = result.usage.prompt_tokens_details
    assert result.usage.prompt_tokens >= details.cached_tokens >= 1024
    assert details.cached_tokens % 128 == 0


def check_responses_reasoning(result: Any) -> None:
    assert isinstance(result, Response)
    assert result.model == "o4-mini-2025-04-16" and result.status == "completed"
    reasoning, message = result.output
    assert reasoning.type == "reasoning" and reasoning.id.startswith("rs_")
    assert reasoning.summary[0].type == "summary_text"
    assert message.type == "message" and result.output_text == CAPITAL_ANSWER
    assert result.reasoning.effort == "low"
    assert result.usage.output_tokens_details.reasoning_tokens == 64
    assert result.usage.output_tokens == 64 + 6


CHECKS: dict[str, Callable[[Any], None]] = {
    "chat_create": check_chat_create,
    "chat_create_n2": check_chat_create_n2,
    "chat_stream": check_chat_stream,
    "chat_stream_usage": lambda chunks: check_chat_stream(chunks, with_usage=True),
    "chat_tools": check_chat_tools,
    "chat_parallel_tools": check_chat_parallel_tools,
    "chat_tool_result": check_chat_tool_result,
    "chat_stream_tools": check_chat_stream_tools,
    "chat_json": check_chat_json,
    "chat_parse": check_chat_parse,
    "chat_stream_helper": check_chat_stream_helper,
    "chat_image_input": check_chat_image_input,
    "chat_stream_error": check_chat_stream_error,
    "chat_error_401": check_chat_error_401,
    "chat_error_429": check_chat_error_429,
    "chat_error_500": check_chat_error_500,
    "responses_create": check_responses_create,
    "responses_stream": check_responses_stream,
    "responses_stream_helper": check_responses_stream_helper,
    "responses_parse": check_responses_parse,
    "responses_tools": check_responses_tools,
    "embeddings_create": check_embeddings_create,
    "completions_create": check_completions_create,
    "completions_stream": check_completions_stream,
    "azure_chat_create": check_azure_chat_create,
    "compat_chat_create": check_compat_chat_create,
    "raw_response_chat": check_raw_response_chat,
    "streaming_response_chat": check_streaming_response_chat,
    "chat_cached_prompt": check_chat_cached_prompt,
    "responses_reasoning": check_responses_reasoning,
}
NAMES = sorted(SCENARIOS)


# --------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------


def test_every_cassette_has_a_scenario_and_a_check() -> None:
    on_disk = {p.stem for p in rec.CASSETTE_DIR.glob("*.yaml")}
    assert on_disk == set(SCENARIOS) == set(CHECKS)


@pytest.mark.parametrize("name", NAMES)
def test_replay_sync(name: str) -> None:
    skip_if_sdk_lacks(name)
    scenario = SCENARIOS[name]
    client = sync_client(name)
    try:
        with replay(name):
            result = sync_drive(name, client, dict(scenario.kwargs))
    finally:
        client.close()
    CHECKS[name](result)


@pytest.mark.parametrize("name", NAMES)
def test_replay_async(name: str) -> None:
    skip_if_sdk_lacks(name)
    scenario = SCENARIOS[name]

    async def run() -> Any:
        client = async_client(name)
        try:
            with replay(name):
                return await async_drive(name, client, dict(scenario.kwargs))
        finally:
            await client.close()

    CHECKS[name](asyncio.run(run()))


def test_recorder_drivers_replay_too() -> None:
    """The drivers the recorder used run unchanged against the recorded cassettes."""
    for name, scenario in SCENARIOS.items():
        if sdk_lacks(name):
            continue
        client = sync_client(name)
        try:
            with replay(name):
                scenario.drive(client, dict(scenario.kwargs))
        finally:
            client.close()


def test_streaming_response_parse_gives_a_stream() -> None:
    kw = dict(SCENARIOS["streaming_response_chat"].kwargs)
    client = sync_client("streaming_response_chat")
    with replay("streaming_response_chat"):
        with client.chat.completions.with_streaming_response.create(**kw) as response:
            stream = response.parse()
            assert isinstance(stream, Stream)
            chunks = list(stream)
    check_chat_stream(chunks)

    async def run() -> list[Any]:
        aclient = async_client("streaming_response_chat")
        with replay("streaming_response_chat"):
            async with aclient.chat.completions.with_streaming_response.create(**kw) as aresponse:
                astream = await aresponse.parse()
                assert isinstance(astream, AsyncStream)
                return [chunk async for chunk in astream]

    check_chat_stream(asyncio.run(run()))


def test_raw_response_of_a_stream_parses_into_a_stream() -> None:
    kw = dict(SCENARIOS["chat_stream"].kwargs)
    client = sync_client("chat_stream")
    with replay("chat_stream"):
        raw = client.chat.completions.with_raw_response.create(**kw)
        assert raw.headers["content-type"].startswith("text/event-stream")
        check_chat_stream(list(raw.parse()))


def test_replay_refuses_unrecorded_requests() -> None:
    client = sync_client("chat_create").with_options(max_retries=0)
    with REPLAY.use_cassette(str(SCENARIOS["chat_create"].cassette)):
        expect_refused(lambda: client.embeddings.create(model="text-embedding-3-small", input="no network here"))


def test_each_recorded_interaction_is_played_once() -> None:
    kw = dict(SCENARIOS["chat_create"].kwargs)
    client = sync_client("chat_create").with_options(max_retries=0)
    with REPLAY.use_cassette(str(SCENARIOS["chat_create"].cassette)):
        client.chat.completions.create(**kw)
        expect_refused(lambda: client.chat.completions.create(**kw))


@pytest.mark.parametrize("name", NAMES)
def test_cassette_is_clean(name: str) -> None:
    assert rec.check_cassette(SCENARIOS[name].cassette) == []


EXPECTED_URIS = {
    "openai": "https://api.openai.com/v1/",
    "azure": "https://myresource.openai.azure.com/openai/deployments/my-gpt4o-deployment/",
    "compat": "https://llm.internal.example:8443/v1/",
}


def _interactions(name: str) -> list[dict[str, Any]]:
    return yaml.safe_load(SCENARIOS[name].cassette.read_text())["interactions"]


@pytest.mark.parametrize("name", NAMES)
def test_cassette_points_at_the_vendor(name: str) -> None:
    scenario = SCENARIOS[name]
    [interaction] = _interactions(name)
    request, response = interaction["request"], interaction["response"]
    assert request["method"] == "POST"
    assert request["uri"].startswith(EXPECTED_URIS[scenario.target])
    assert request["headers"]["host"] == [httpx2.URL(request["uri"]).netloc.decode()]
    if scenario.target == "azure":
        assert request["uri"].endswith("/chat/completions?api-version=2024-10-21")
    if scenario.target == "openai":
        assert response["headers"]["x-request-id"][0].startswith("req_")
        assert response["headers"]["openai-version"] == ["2020-10-01"]
        assert "openai-processing-ms" in response["headers"]
        assert "x-ratelimit-limit-requests" in response["headers"]
    is_sse = response["headers"]["content-type"][0].startswith("text/event-stream")
    assert is_sse == bool(json.loads(request["body"]).get("stream"))


def _request_body(name: str) -> dict[str, Any]:
    return json.loads(_interactions(name)[0]["request"]["body"])


def test_recorded_request_bodies_are_what_the_sdk_sends() -> None:
    body = _request_body("chat_create")
    for key in ("temperature", "top_p", "max_tokens", "seed", "stop", "presence_penalty", "frequency_penalty"):
        assert body[key] == SCENARIOS["chat_create"].kwargs[key]
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert _request_body("embeddings_create")["encoding_format"] == "base64"  # the SDK's default
    assert _request_body("chat_stream_helper")["stream"] is True  # .stream() is create(stream=True)
    assert "stream_options" not in _request_body("chat_stream_helper")
    parse_format = _request_body("chat_parse")["response_format"]
    assert parse_format["type"] == "json_schema" and parse_format["json_schema"]["name"] == "CalendarEvent"
    assert parse_format["json_schema"]["strict"] is True
    assert _request_body("chat_parse")["stream"] is False  # .parse() posts stream=false explicitly
    text_format = _request_body("responses_parse")["text"]["format"]
    assert text_format["type"] == "json_schema" and text_format["name"] == "CityInfo"
    assert _request_body("responses_stream_helper")["stream"] is True
    assert _request_body("chat_stream_usage")["stream_options"] == {"include_usage": True}
    image_part = _request_body("chat_image_input")["messages"][0]["content"][1]
    assert image_part["image_url"]["url"].startswith("data:image/png;base64,iVBORw0KGgo")
    assert _request_body("azure_chat_create")["model"] == "my-gpt4o-deployment"
    roles = [m["role"] for m in _request_body("chat_tool_result")["messages"]]
    assert roles == ["user", "assistant", "tool", "tool"]


def test_sdk_version_matches_recording() -> None:
    """Every cassette was recorded by the release the default run is pinned to
    (``TESTED_VERSIONS``, which ``constraints/test.txt`` pins): a pin moved without
    re-recording fails here, whichever release happens to be installed."""
    tested = TESTED_VERSIONS["openai"]
    for name in NAMES:
        headers = _interactions(name)[0]["request"]["headers"]
        assert headers["x-stainless-package-version"] == [tested], name


# pytest-recording works too: point ``vcr_cassette_dir`` at the cassettes and name them in the marker.
@pytest.fixture
def vcr_cassette_dir() -> str:
    return str(rec.CASSETTE_DIR)


@pytest.fixture
def vcr_config() -> dict[str, Any]:
    return {"record_mode": "none", "match_on": list(rec.MATCH_ON)}


@pytest.mark.vcr("chat_create.yaml")
def test_pytest_recording_marker(vcr: Any) -> None:
    client = sync_client("chat_create")
    check_chat_create(client.chat.completions.create(**SCENARIOS["chat_create"].kwargs))
    assert vcr.play_count == 1
