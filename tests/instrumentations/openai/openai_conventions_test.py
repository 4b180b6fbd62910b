"""The OpenAI extractors against the newest GenAI conventions (issue 17): system messages in
the chat history, media never exported as bytes (uploaded when asked), server tool calls
with their payload, named tool definitions, the registry's types, ``stream`` only when
true, the request's service tier from ``extra_body``, ``error`` for a finish reason that
never came, and what ``Stream.close()`` raised on the span."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import openai
import pytest
from openai.types.responses import ResponseFunctionWebSearch
from opentelemetry.trace import StatusCode

from weave_agent.instrumentations.openai.extract import ChatExtractor, ResponsesExtractor
from weave_agent.testing import load_module
from weave_agent.tools import conventions_check
from weave_agent.tracing import media

HERE = Path(__file__).resolve().parent
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(40))).decode()
PNG_URL = "data:image/png;base64," + PNG


ct = load_module("weave_tests_openai_cassettes_test", HERE / "openai_cassettes_test.py")


@pytest.fixture(autouse=True)
def _no_ambient_openai_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ct.ENV_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def traced(spans: Any, instrumentation: Any) -> Any:
    instrumentation("openai")
    return spans


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "content": value}


def _conforms(content: dict[str, Any]) -> None:
    for name, value in content.items():
        assert conventions_check.check_content(name, value) is None, conventions_check.check_content(name, value)


# --- 1. system messages stay in the chat history ----------------------------------------------


def test_chat_system_and_developer_messages_stay_in_place() -> None:
    messages = [
        {"role": "developer", "content": "Answer in French."},
        {"role": "user", "content": "Capital of Italy?"},
        {"role": "assistant", "content": "Rome."},
        {"role": "system", "content": [{"type": "text", "text": "Now be brief."}]},
        {"role": "user", "content": "And of Spain?"},
    ]
    request = ChatExtractor().request({"model": "gpt-4o-mini", "messages": messages}, None, True)
    assert request.content is not None
    assert "gen_ai.system_instructions" not in request.content
    assert request.content["gen_ai.input.messages"] == [
        {"role": "system", "parts": [text("Answer in French.")]},
        {"role": "user", "parts": [text("Capital of Italy?")]},
        {"role": "assistant", "parts": [text("Rome.")]},
        {"role": "system", "parts": [text("Now be brief.")]},
        {"role": "user", "parts": [text("And of Spain?")]},
    ]
    _conforms(request.content)


def test_responses_instructions_apart_and_system_items_in_place() -> None:
    inputs = {
        "model": "gpt-4o-mini",
        "instructions": "You are a poet.",
        "input": [
            {"role": "user", "content": "Write a haiku."},
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "About the sea."}]},
        ],
    }
    request = ResponsesExtractor().request(inputs, None, True)
    assert request.content is not None
    assert request.content["gen_ai.system_instructions"] == [text("You are a poet.")]
    assert request.content["gen_ai.input.messages"] == [
        {"role": "user", "parts": [text("Write a haiku.")]},
        {"role": "system", "parts": [text("About the sea.")]},
    ]


def test_a_message_without_a_readable_role_is_left_out() -> None:
    request = ChatExtractor().request({"model": "m", "messages": [object(), {"role": "user", "content": "hi"}]},
                                      None, True)
    assert request.content is not None
    assert request.content["gen_ai.input.messages"] == [{"role": "user", "parts": [text("hi")]}]


# --- 3. parts the schemas accept; media never as bytes -----------------------------------------


MEDIA_MESSAGES = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "Look."},
            {"type": "image_url", "image_url": {"url": PNG_URL}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
            {"type": "file", "file": {"file_id": "file-abc", "filename": "a.pdf"}},
            {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "b.pdf"}},
            {"type": "some_future_block", "payload": 1},
        ],
    }
]


def test_media_parts_without_upload_are_placeholders_without_bytes() -> None:
    request = ChatExtractor().request({"model": "m", "messages": MEDIA_MESSAGES}, None, True)
    assert request.content is not None
    parts = request.content["gen_ai.input.messages"][0]["parts"]
    assert parts == [
        text("Look."),
        {"type": "generic", "generic_type": "blob", "modality": "image", "mime_type": "image/png", "byte_size": 48},
        {"type": "uri", "modality": "image", "uri": "https://example.com/cat.png"},
        {"type": "generic", "generic_type": "blob", "modality": "audio", "mime_type": "audio/wav", "byte_size": 4},
        {"type": "file", "modality": "document", "file_id": "file-abc", "filename": "a.pdf"},
        {"type": "generic", "generic_type": "blob", "modality": "document", "mime_type": "application/pdf",
         "byte_size": 5, "filename": "b.pdf"},
        {"type": "generic", "generic_type": "some_future_block"},
    ]
    assert PNG[:20] not in json.dumps(parts)
    _conforms(request.content)


def test_media_parts_with_upload_point_at_the_written_bytes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import weave_agent.lifecycle as lifecycle
    from weave_agent.settings import Settings

    folder = tmp_path / "media"
    monkeypatch.setattr(
        lifecycle, "_settings", Settings.load({"OTEL_INSTRUMENTATION_GENAI_UPLOAD_BASE_PATH": str(folder)})
    )
    request = ChatExtractor().request({"model": "m", "messages": MEDIA_MESSAGES}, None, True)
    assert media.drain(10)
    assert request.content is not None
    parts = request.content["gen_ai.input.messages"][0]["parts"]
    image, audio, pdf = parts[1], parts[3], parts[5]
    assert image["type"] == audio["type"] == pdf["type"] == "uri"
    assert (image["modality"], image["mime_type"], image["byte_size"]) == ("image", "image/png", 48)
    assert image["uri"].startswith(folder.as_uri() + "/") and image["uri"].endswith(".png")
    written = Path(image["uri"][len("file://"):])
    assert written.read_bytes() == base64.b64decode(PNG)
    assert Path(audio["uri"][len("file://"):]).read_bytes() == base64.b64decode("UklGRg==")
    assert pdf["filename"] == "b.pdf" and Path(pdf["uri"][len("file://"):]).read_bytes() == b"%PDF-"
    assert PNG[:20] not in json.dumps(parts)
    _conforms(request.content)


@pytest.mark.parametrize("status", ["queued", "in_progress", None])
def test_a_response_not_done_has_no_output_message(status: str | None) -> None:
    """``background=True`` returns a response still ``queued``/``in_progress``: no output and
    no finish reason yet. No output message then (one would lack the ``finish_reason`` the
    conventions require); found by the reliability property test with an odd response."""
    response = SimpleNamespace(id="resp_1", model="gpt-4o", status=status, output=[], usage=None, service_tier=None)
    out = ResponsesExtractor().read(response, True)
    assert out.content is None
    assert out.attributes == {"gen_ai.response.id": "resp_1"}


def test_server_tool_calls_carry_their_payload_and_tools_their_name() -> None:
    web = ResponseFunctionWebSearch.model_validate(
        {"id": "ws_1", "type": "web_search_call", "status": "completed",
         "action": {"type": "search", "query": "weather in Paris"}}
    )
    message = SimpleNamespace(type="message", content=[SimpleNamespace(type="output_text", text="Sunny.")])
    response = SimpleNamespace(id="resp_1", model="gpt-4o", status="completed", output=[web, message],
                               usage=None, service_tier=None)
    out = ResponsesExtractor().read(response, True)
    assert out.content is not None
    [answer] = out.content["gen_ai.output.messages"]
    assert answer["parts"][0] == {
        "type": "server_tool_call",
        "id": "ws_1",
        "name": "web_search_call",
        "server_tool_call": {"type": "web_search_call", "status": "completed",
                             "action": {"type": "search", "query": "weather in Paris"}},
    }
    _conforms(out.content)
    tools = [{"type": "web_search"}, {"type": "function", "name": "f", "parameters": {"type": "object"}},
             {"type": "mcp", "server_label": "docs", "server_url": "https://example.com/mcp"}]
    request = ResponsesExtractor().request({"model": "m", "input": "hi", "tools": tools}, None, True)
    assert request.content is not None
    assert request.content["gen_ai.tool.definitions"] == [
        {"type": "web_search", "name": "web_search"},
        {"type": "function", "name": "f", "parameters": {"type": "object"}},
        {"type": "mcp", "name": "docs"},
    ]
    _conforms(request.content)


# --- 5. types and conditions ---------------------------------------------------------------------


def test_doubles_are_floats_and_stream_only_when_true() -> None:
    inputs = {"model": "m", "messages": [], "temperature": 1, "top_p": 1, "frequency_penalty": 0,
              "presence_penalty": 0, "max_tokens": 64.0, "seed": 7, "stream": False}
    attrs = ChatExtractor().request(inputs, None, False).attributes
    assert attrs is not None
    for key in ("temperature", "top_p", "frequency_penalty", "presence_penalty"):
        assert type(attrs["gen_ai.request." + key]) is float, key
    assert attrs["gen_ai.request.temperature"] == 1.0 and attrs["gen_ai.request.presence_penalty"] == 0.0
    assert type(attrs["gen_ai.request.max_tokens"]) is int and attrs["gen_ai.request.max_tokens"] == 64
    assert "gen_ai.request.stream" not in attrs  # stream=False: unset, as the conventions say
    assert conventions_check.check_attributes(attrs) is None
    streamed = ChatExtractor().request({**inputs, "stream": True}, None, False).attributes
    assert streamed is not None and streamed["gen_ai.request.stream"] is True


def test_service_tier_from_extra_body() -> None:
    direct = ChatExtractor().request({"model": "m", "service_tier": "flex"}, None, False).attributes
    extra = ChatExtractor().request({"model": "m", "extra_body": {"service_tier": "priority"}}, None, False)
    responses = ResponsesExtractor().request({"model": "m", "extra_body": {"service_tier": "flex"}}, None, False)
    assert direct is not None and direct["openai.request.service_tier"] == "flex"
    assert extra.attributes is not None and extra.attributes["openai.request.service_tier"] == "priority"
    assert responses.attributes is not None and responses.attributes["openai.request.service_tier"] == "flex"


def test_an_int_temperature_reaches_the_span_as_a_double(traced: Any) -> None:
    client = ct.sync_client("chat_create")
    try:
        with ct.replay("chat_create"):
            client.chat.completions.create(**{**ct.rec.SCENARIOS["chat_create"].kwargs, "temperature": 1})
    finally:
        client.close()
    value = traced.one("chat gpt-4o-mini").attributes["gen_ai.request.temperature"]
    assert type(value) is float and value == 1.0


# --- 2. finish reasons that never came; what close() raised --------------------------------------


def _stream_kwargs() -> dict[str, Any]:
    return dict(ct.rec.SCENARIOS["chat_stream"].kwargs)


def test_a_stream_closed_early_reports_error_as_its_finish_reason(traced: Any) -> None:
    client = ct.sync_client("chat_stream")
    with ct.replay("chat_stream"):
        stream = client.chat.completions.create(**_stream_kwargs())
        next(iter(stream))
        stream.close()
    client.close()
    span = traced.one("chat gpt-4o-mini")
    assert span.attributes["weave_agent.stream.end_reason"] == "closed"
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)
    [message] = json.loads(span.attributes["gen_ai.output.messages"])
    assert message["finish_reason"] == "error"
    assert span.status.status_code is StatusCode.UNSET  # the app closed it: not a failure


class _CloseFailed(RuntimeError):
    pass


def test_an_exception_from_close_is_recorded(traced: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    real_close = openai.Stream.close

    def close(self: Any) -> None:
        real_close(self)
        raise _CloseFailed("the connection broke while closing")

    monkeypatch.setattr(openai.Stream, "close", close)
    client = ct.sync_client("chat_stream")
    with ct.replay("chat_stream"):
        stream = client.chat.completions.create(**_stream_kwargs())
        next(iter(stream))
        with pytest.raises(_CloseFailed):  # the app still sees it, untouched
            stream.close()
    client.close()
    span = traced.one("chat gpt-4o-mini")
    assert span.attributes["error.type"] == "_CloseFailed"
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)


def test_an_exception_from_async_close_is_recorded(traced: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    real_close = openai.AsyncStream.close

    async def close(self: Any) -> None:
        await real_close(self)
        raise _CloseFailed("the connection broke while closing")

    monkeypatch.setattr(openai.AsyncStream, "close", close)

    async def go() -> None:
        client = ct.async_client("chat_stream")
        with ct.replay("chat_stream"):
            stream = await client.chat.completions.create(**_stream_kwargs())
            async for _ in stream:
                break
            with pytest.raises(_CloseFailed):
                await stream.close()
        await client.close()

    asyncio.run(go())
    span = traced.one("chat gpt-4o-mini")
    assert span.attributes["error.type"] == "_CloseFailed"
    assert span.status.status_code is StatusCode.ERROR
