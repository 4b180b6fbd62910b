"""The Anthropic extractor against the newest GenAI conventions (issue 17): ``system=`` as
system instructions, ``gen_ai.request.stream`` only when streaming, the registry's types
(from ``extra_body`` too), media never exported as bytes, server tools with their payload,
named tool definitions, unknown blocks as generic parts."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from weave_agent.instrumentations.anthropic.extract import MessagesExtractor
from weave_agent.tools import conventions_check

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "content": value}


def _conforms(content: dict[str, Any]) -> None:
    for name, value in content.items():
        found = conventions_check.check_content(name, value)
        assert found is None, found


def test_system_is_given_apart_and_stays_system_instructions() -> None:
    inputs = {"model": "claude-haiku-4-5", "max_tokens": 64, "system": "Be terse.",
              "messages": [{"role": "user", "content": "Hi"}]}
    request = MessagesExtractor("create").request(inputs, None, True)
    assert request.content is not None
    assert request.content["gen_ai.system_instructions"] == [text("Be terse.")]
    assert request.content["gen_ai.input.messages"] == [{"role": "user", "parts": [text("Hi")]}]


def test_stream_is_set_only_when_streaming() -> None:
    inputs = {"model": "claude-haiku-4-5", "max_tokens": 64, "messages": []}
    plain = MessagesExtractor("create").request(inputs, None, False).attributes
    explicit_false = MessagesExtractor("create").request({**inputs, "stream": False}, None, False).attributes
    parse = MessagesExtractor("parse").request(inputs, None, False).attributes
    streamed = MessagesExtractor("create").request({**inputs, "stream": True}, None, False).attributes
    helper = MessagesExtractor("stream").request(inputs, None, False).attributes
    assert plain is not None and explicit_false is not None and parse is not None
    assert "gen_ai.request.stream" not in plain
    assert "gen_ai.request.stream" not in explicit_false
    assert "gen_ai.request.stream" not in parse
    assert streamed is not None and streamed["gen_ai.request.stream"] is True
    assert helper is not None and helper["gen_ai.request.stream"] is True


def test_sampling_types_follow_the_registry() -> None:
    inputs = {"model": "m", "max_tokens": 64, "messages": [], "temperature": 1, "top_p": 0, "top_k": 40.0}
    attrs = MessagesExtractor("create").request(inputs, None, False).attributes
    assert attrs is not None
    assert type(attrs["gen_ai.request.temperature"]) is float and attrs["gen_ai.request.temperature"] == 1.0
    assert type(attrs["gen_ai.request.top_p"]) is float
    assert type(attrs["gen_ai.request.top_k"]) is int and attrs["gen_ai.request.top_k"] == 40
    from_extra = MessagesExtractor("create").request(
        {"model": "m", "max_tokens": 64, "messages": [], "extra_body": {"temperature": 0, "top_k": 5}}, None, False
    ).attributes
    assert from_extra is not None
    assert type(from_extra["gen_ai.request.temperature"]) is float and from_extra["gen_ai.request.top_k"] == 5
    assert conventions_check.check_attributes(attrs) is None
    assert conventions_check.check_attributes(from_extra) is None


def test_media_tools_and_unknown_blocks_conform() -> None:
    messages = [
        {"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
            {"type": "document", "source": {"type": "file", "file_id": "file_011"}},
            {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "Plain notes."}},
            {"type": "search_result", "source": "https://example.com", "title": "t", "content": []},
        ]},
        {"role": "assistant", "content": [
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "otters"}},
            {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
        ]},
    ]
    tools = [
        {"name": "get_weather", "description": "Weather.", "input_schema": {"type": "object"}},
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
        {"type": "bash_20250124"},
    ]
    inputs = {"model": "m", "max_tokens": 64, "messages": messages, "tools": tools}
    request = MessagesExtractor("create").request(inputs, None, True)
    assert request.content is not None
    user, assistant = request.content["gen_ai.input.messages"]
    assert user["parts"] == [
        {"type": "generic", "generic_type": "blob", "modality": "image", "mime_type": "image/png", "byte_size": 70},
        {"type": "file", "modality": "document", "file_id": "file_011"},
        {"type": "generic", "generic_type": "blob", "modality": "document", "mime_type": "text/plain",
         "byte_size": 12},
        {"type": "generic", "generic_type": "search_result"},
    ]
    assert assistant["parts"] == [
        {"type": "server_tool_call", "id": "srvtoolu_1", "name": "web_search",
         "server_tool_call": {"type": "web_search", "input": {"query": "otters"}}},
        {"type": "server_tool_call_response", "id": "srvtoolu_1",
         "server_tool_call_response": {"type": "web_search_tool_result"}},
    ]
    assert request.content["gen_ai.tool.definitions"] == [
        {"type": "function", "name": "get_weather", "description": "Weather.", "parameters": {"type": "object"}},
        {"type": "web_search_20250305", "name": "web_search"},
        {"type": "bash_20250124", "name": "bash_20250124"},
    ]
    assert PNG[:20] not in json.dumps(request.content)
    _conforms(request.content)


def test_response_blocks_conform() -> None:
    message = SimpleNamespace(
        type="message", id="msg_1", model="claude-haiku-4-5", stop_reason="end_turn", usage=None,
        content=[
            SimpleNamespace(type="server_tool_use", id="srvtoolu_2", name="code_execution", input={"code": "1+1"}),
            SimpleNamespace(type="code_execution_tool_result", tool_use_id="srvtoolu_2", content={}),
            SimpleNamespace(type="container_upload", file_id="file_1"),
            SimpleNamespace(type="text", text="2"),
        ],
    )
    response = MessagesExtractor("create").response(message, True)
    assert response.content is not None
    [out] = response.content["gen_ai.output.messages"]
    assert [p["type"] for p in out["parts"]] == ["server_tool_call", "server_tool_call_response", "generic", "text"]
    assert out["parts"][2] == {"type": "generic", "generic_type": "container_upload"}
    assert out["finish_reason"] == "stop"
    _conforms(response.content)
