"""Replay every Mistral cassette through the real, uninstrumented SDK.

These tests prove the cassettes are something ``mistralai`` 3.7.0 parses the
way it parses api.mistral.ai: response types, content, tool calls, usage,
stream events (as an iterator and as a context manager, sync and async) and
exception classes. They run offline: vcrpy is in ``record_mode="none"`` and
the client uses its default server URL, https://api.mistral.ai.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import vcr
import yaml
from mistralai.client import Mistral, errors, models
from mistralai.client.utils.eventstreaming import EventStream, EventStreamAsync

HERE = Path(__file__).resolve().parent
CASSETTE_DIR = HERE / "cassettes"


def _load_recorder():
    spec = importlib.util.spec_from_file_location("_mistral_record_cassettes", HERE / "record_cassettes.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


rec = _load_recorder()
SCENARIOS: dict[str, Any] = rec.SCENARIOS

REPLAY = vcr.VCR(
    serializer="yaml",
    cassette_library_dir=str(CASSETTE_DIR),
    record_mode="none",
    match_on=rec.MATCH_ON,
)

CAPITAL_ANSWER = "The capital of France is Paris. It is also the largest city in the country."
FIM_ANSWER = "    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n"
SYNC_ASYNC = ["sync", "async"]
STREAM_MODES = ["iter", "with", "async_iter", "async_with"]


@pytest.fixture(autouse=True)
def _no_sdk_telemetry(monkeypatch):
    # The SDK's own opt-in tracer stays off: these tests run without instrumentation.
    monkeypatch.delenv("MISTRAL_SDK_TELEMETRY", raising=False)


@contextmanager
def replay(name: str):
    with REPLAY.use_cassette(f"{name}.yaml", allow_playback_repeats=False) as cassette:
        yield cassette
    assert cassette.all_played, f"{name}: not every recorded interaction was requested"


def client() -> Mistral:
    # default server URL: the cassettes were rewritten to https://api.mistral.ai
    return Mistral(api_key=rec.API_KEY)


def call(name: str, mode: str) -> Any:
    """Run scenario ``name`` with the sync or async SDK method; return the result."""
    scenario = SCENARIOS[name]
    sdk = client()
    resource = getattr(sdk, scenario.resource)
    kwargs = dict(scenario.kwargs)
    with replay(name):
        if mode == "sync":
            return getattr(resource, scenario.method)(**kwargs)

        async def run() -> Any:
            return await getattr(resource, f"{scenario.method}_async")(**kwargs)

        return asyncio.run(run())


def stream_events(name: str, mode: str) -> list[models.CompletionEvent]:
    """Consume a streaming scenario as an iterator or a context manager, sync or async."""
    scenario = SCENARIOS[name]
    sdk = client()
    resource = getattr(sdk, scenario.resource)
    kwargs = dict(scenario.kwargs)
    with replay(name):
        if mode == "iter":
            stream = getattr(resource, scenario.method)(**kwargs)
            assert isinstance(stream, EventStream)
            events = list(stream)
            assert stream.response.is_closed  # the generator closes the response at [DONE]
            return events
        if mode == "with":
            with getattr(resource, scenario.method)(**kwargs) as stream:
                assert isinstance(stream, EventStream)
                events = [event for event in stream]
            assert stream.response.is_closed
            return events

        async def run() -> list[models.CompletionEvent]:
            stream = await getattr(resource, f"{scenario.method}_async")(**kwargs)
            assert isinstance(stream, EventStreamAsync)
            if mode == "async_iter":
                events = [event async for event in stream]
            else:
                async with stream as entered:
                    assert entered is stream
                    events = [event async for event in stream]
            assert stream.response.is_closed
            return events

        return asyncio.run(run())


def assert_usage(usage: models.UsageInfo) -> None:
    assert isinstance(usage, models.UsageInfo)
    assert usage.prompt_tokens > 0
    assert usage.completion_tokens >= 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def assert_chunks(events: list[models.CompletionEvent], model: str, finish_reason: str) -> str:
    """Common checks on a stream; returns the concatenated content."""
    assert events, "no events"
    for event in events:
        assert isinstance(event, models.CompletionEvent)
        assert isinstance(event.data, models.CompletionChunk)
        assert event.data.model == model
        assert event.data.object == "chat.completion.chunk"
        assert len(event.data.choices) == 1
    assert len({e.data.id for e in events}) == 1
    assert events[0].data.choices[0].delta.role == "assistant"
    # Mistral puts finish_reason and usage on the last chunk, and only there
    for event in events[:-1]:
        assert event.data.choices[0].finish_reason is None
        assert event.data.usage is None
    last = events[-1].data
    assert last.choices[0].finish_reason == finish_reason
    assert_usage(last.usage)
    return "".join(e.data.choices[0].delta.content or "" for e in events)


# -- cassette hygiene --------------------------------------------------------


def test_every_cassette_has_a_scenario():
    on_disk = {p.stem for p in CASSETTE_DIR.glob("*.yaml")}
    assert on_disk == set(SCENARIOS)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_cassette_is_clean(name):
    path = CASSETTE_DIR / f"{name}.yaml"
    rec.verify_cassette(path)  # no key, no local address, filtered headers, one interaction
    interaction = yaml.safe_load(path.read_text())["interactions"][0]
    request = interaction["request"]
    scenario = SCENARIOS[name]
    path_of = {
        "chat": "/v1/chat/completions",
        "fim": "/v1/fim/completions",
        "embeddings": "/v1/embeddings",
    }
    assert request["method"] == "POST"
    assert request["uri"] == "https://api.mistral.ai" + path_of[scenario.resource]
    body = json.loads(request["body"])
    assert body["model"] == scenario.kwargs["model"]
    assert body.get("stream", False) is scenario.streaming
    content_type = interaction["response"]["headers"]["content-type"][0]
    status = interaction["response"]["status"]["code"]
    if scenario.error:
        assert status >= 400
    elif scenario.streaming:
        assert status == 200 and content_type.startswith("text/event-stream")
        assert interaction["response"]["body"]["string"].endswith("data: [DONE]\n\n")
    else:
        assert status == 200 and content_type == "application/json"


# -- chat.complete / complete_async -------------------------------------------


@pytest.mark.parametrize("mode", SYNC_ASYNC)
def test_chat_complete(mode):
    response = call("chat_complete", mode)
    assert isinstance(response, models.ChatCompletionResponse)
    assert response.object == "chat.completion"
    assert response.model == "mistral-small-latest"
    assert re.fullmatch(r"[0-9a-f]{32}", response.id)
    assert isinstance(response.created, int)
    (choice,) = response.choices
    assert isinstance(choice, models.ChatCompletionChoice)
    assert choice.index == 0
    assert choice.finish_reason == "stop"
    assert isinstance(choice.message, models.AssistantMessage)
    assert choice.message.role == "assistant"
    assert choice.message.content == CAPITAL_ANSWER
    assert choice.message.tool_calls is None
    assert_usage(response.usage)
    assert response.usage.completion_tokens > 0


@pytest.mark.parametrize("mode", SYNC_ASYNC)
def test_chat_tools(mode):
    response = call("chat_tools", mode)
    assert isinstance(response, models.ChatCompletionResponse)
    (choice,) = response.choices
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == ""
    (tool_call,) = choice.message.tool_calls
    assert isinstance(tool_call, models.ToolCall)
    assert re.fullmatch(r"[a-zA-Z0-9]{9}", tool_call.id)
    assert tool_call.type == "function"
    assert isinstance(tool_call.function, models.FunctionCall)
    assert tool_call.function.name == "get_weather"
    assert isinstance(tool_call.function.arguments, str)  # a JSON string, as the API sends it
    assert json.loads(tool_call.function.arguments) == {"location": "Paris"}
    assert_usage(response.usage)


@pytest.mark.parametrize("mode", SYNC_ASYNC)
def test_chat_tool_result(mode):
    response = call("chat_tool_result", mode)
    assert isinstance(response, models.ChatCompletionResponse)
    (choice,) = response.choices
    assert choice.finish_reason == "stop"
    assert choice.message.tool_calls is None
    assert rec.TOOL_RESULT in choice.message.content
    assert_usage(response.usage)


# -- chat.stream / stream_async ------------------------------------------------


@pytest.mark.parametrize("mode", STREAM_MODES)
def test_chat_stream(mode):
    events = stream_events("chat_stream", mode)
    text = assert_chunks(events, "mistral-small-latest", "stop")
    assert text == CAPITAL_ANSWER
    content_deltas = [e for e in events if e.data.choices[0].delta.content]
    assert len(content_deltas) >= 5


@pytest.mark.parametrize("mode", STREAM_MODES)
def test_chat_stream_tools(mode):
    events = stream_events("chat_stream_tools", mode)
    assert_chunks(events, "mistral-small-latest", "tool_calls")
    with_calls = [e for e in events if e.data.choices[0].delta.tool_calls]
    assert len(with_calls) == 1  # Mistral streams a tool call whole, not in argument fragments
    (tool_call,) = with_calls[0].data.choices[0].delta.tool_calls
    assert isinstance(tool_call, models.ToolCall)
    assert tool_call.index == 0
    assert re.fullmatch(r"[a-zA-Z0-9]{9}", tool_call.id)
    assert tool_call.function.name == "get_weather"
    assert json.loads(tool_call.function.arguments) == {"location": "Paris"}


@pytest.mark.parametrize("mode", STREAM_MODES)
def test_chat_stream_error(mode):
    # An in-band failure: HTTP 200, partial content, last chunk finish_reason "error".
    # The SDK raises nothing; the caller must look at finish_reason.
    events = stream_events("chat_stream_error", mode)
    text = assert_chunks(events, "mistral-small-latest", "error")
    assert text


@pytest.mark.parametrize("mode", STREAM_MODES)
def test_chat_stream_error_422(mode):
    # An error status on a stream request is raised by stream()/stream_async() itself,
    # before any EventStream exists.
    with pytest.raises(errors.HTTPValidationError) as caught:
        stream_events("chat_stream_error_422", mode)
    assert caught.value.status_code == 422
    detail = json.loads(caught.value.body)["message"]["detail"]
    assert detail[0]["loc"] == ["body", "temperature"]


# -- embeddings ----------------------------------------------------------------


@pytest.mark.parametrize("mode", SYNC_ASYNC)
def test_embeddings_create(mode):
    response = call("embeddings_create", mode)
    assert isinstance(response, models.EmbeddingResponse)
    assert response.object == "list"
    assert response.model == "mistral-embed"
    assert [d.index for d in response.data] == [0, 1]
    for item in response.data:
        assert isinstance(item, models.EmbeddingResponseData)
        assert item.object == "embedding"
        assert len(item.embedding) == 1024
        assert all(isinstance(x, float) for x in item.embedding)
    assert response.data[0].embedding != response.data[1].embedding
    assert response.usage.prompt_tokens > 0
    assert response.usage.completion_tokens == 0
    assert response.usage.total_tokens == response.usage.prompt_tokens


# -- fim -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", SYNC_ASYNC)
def test_fim_complete(mode):
    response = call("fim_complete", mode)
    assert isinstance(response, models.FIMCompletionResponse)
    assert response.object == "chat.completion"
    assert response.model == "codestral-latest"
    (choice,) = response.choices
    assert choice.finish_reason == "stop"
    assert choice.message.content == FIM_ANSWER
    assert_usage(response.usage)


@pytest.mark.parametrize("mode", STREAM_MODES)
def test_fim_stream(mode):
    events = stream_events("fim_stream", mode)
    assert assert_chunks(events, "codestral-latest", "stop") == FIM_ANSWER


# -- errors ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", SYNC_ASYNC)
def test_chat_error_401(mode):
    with pytest.raises(errors.SDKError) as caught:
        call("chat_error_401", mode)
    exc = caught.value
    assert isinstance(exc, errors.MistralError)
    assert exc.status_code == 401
    assert json.loads(exc.body)["message"] == "Unauthorized"
    assert exc.message.startswith("API error occurred: Status 401")


@pytest.mark.parametrize("mode", SYNC_ASYNC)
def test_chat_error_422(mode):
    with pytest.raises(errors.HTTPValidationError) as caught:
        call("chat_error_422", mode)
    exc = caught.value
    assert isinstance(exc, errors.MistralError)
    assert exc.status_code == 422
    # The wire body wraps pydantic's "detail" in Mistral's error envelope, so the
    # SDK's typed view (HTTPValidationErrorData.detail) stays empty: read exc.body.
    assert isinstance(exc.data, errors.HTTPValidationErrorData)
    assert exc.data.detail is None
    body = json.loads(exc.body)
    assert body["object"] == "error" and body["type"] == "invalid_request_error"
    (detail,) = body["message"]["detail"]
    assert detail["loc"] == ["body", "top_p"] and detail["type"] == "float_type"


@pytest.mark.parametrize("mode", SYNC_ASYNC)
def test_chat_error_500(mode):
    # One recorded interaction and playback repeats off: a retry would fail here.
    with pytest.raises(errors.SDKError) as caught:
        call("chat_error_500", mode)
    exc = caught.value
    assert exc.status_code == 500
    body = json.loads(exc.body)
    assert body == {
        "object": "error",
        "message": "Internal server error",
        "type": "internal_server_error",
        "param": None,
        "code": None,
    }
