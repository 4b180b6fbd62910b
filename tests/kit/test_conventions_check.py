"""The conventions validator (``weave_agent.tools.conventions_check``): what conforms passes,
and each rule fails on the document that breaks it, naming the attribute and the JSON path."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from weave_agent.tools import conventions_check as cc


def _messages(*parts, role="user", **extra):
    return json.dumps([{"role": role, "parts": list(parts), **extra}])


def _out(*parts, finish="stop"):
    message = {"role": "assistant", "parts": list(parts)}
    if finish is not None:
        message["finish_reason"] = finish
    return json.dumps([message])


GOOD_PARTS = [
    {"type": "text", "content": "hi"},
    {"type": "tool_call", "id": "c1", "name": "f", "arguments": {"x": 1}},
    {"type": "tool_call", "id": None, "name": "f"},
    {"type": "tool_call_response", "id": "c1", "response": None},
    {"type": "server_tool_call", "id": "ws_1", "name": "web_search_call",
     "server_tool_call": {"type": "web_search_call", "status": "completed"}},
    {"type": "server_tool_call_response", "id": "ws_1",
     "server_tool_call_response": {"type": "web_search_tool_result"}},
    {"type": "blob", "modality": "image", "mime_type": "image/png", "content": "iVBORw0KGgo="},
    {"type": "file", "modality": "document", "file_id": "file-1", "mime_type": None, "filename": "a.pdf"},
    {"type": "uri", "modality": "image", "uri": "https://example.com/a.png", "mime_type": "image/png"},
    {"type": "reasoning", "content": "because"},
    {"type": "compaction"},
    {"type": "compaction", "id": "cmp_1", "content": None},
    {"type": "generic", "generic_type": "search_result", "source": "https://example.com"},
]


def test_every_conforming_part_passes():
    attrs = {
        "gen_ai.input.messages": _messages(*GOOD_PARTS, name="alice"),
        "gen_ai.output.messages": _out(*GOOD_PARTS),
        "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Be brief."},
                                                  {"type": "generic", "generic_type": "cache_control"}]),
        "gen_ai.tool.definitions": json.dumps([
            {"type": "function", "name": "f", "description": None, "parameters": {"type": "object"}},
            {"type": "web_search", "name": "web_search"},
        ]),
    }
    assert cc.check_attributes(attrs) is None


def test_structured_values_are_checked_too():
    assert cc.check_content("gen_ai.input.messages", [{"role": "user", "parts": [{"type": "text", "content": 1}]}]) \
        .path == "$[0].parts[0].content"


# (attribute, value, path, words of the message): one row per rule.
BAD = [
    ("gen_ai.input.messages", "not json", "$", "not valid JSON"),
    ("gen_ai.input.messages", json.dumps({"role": "user"}), "$", "JSON array"),
    ("gen_ai.input.messages", json.dumps(["hi"]), "$[0]", "must be an object"),
    ("gen_ai.input.messages", json.dumps([{"parts": []}]), "$[0]", "'role'"),
    ("gen_ai.input.messages", json.dumps([{"role": "user"}]), "$[0]", "'parts'"),
    ("gen_ai.input.messages", json.dumps([{"role": 3, "parts": []}]), "$[0].role", "role string"),
    ("gen_ai.input.messages", json.dumps([{"role": "", "parts": []}]), "$[0].role", "role string"),
    ("gen_ai.input.messages", json.dumps([{"role": "user", "parts": {}}]), "$[0].parts", "array of parts"),
    ("gen_ai.input.messages", _messages(name=5), "$[0].name", "string or null"),
    ("gen_ai.input.messages", _messages("hi"), "$[0].parts[0]", "must be an object"),
    ("gen_ai.input.messages", _messages({"content": "x"}), "$[0].parts[0]", "'type'"),
    ("gen_ai.input.messages", _messages({"type": 1}), "$[0].parts[0].type", "string 'type'"),
    ("gen_ai.input.messages", _messages({"type": "search_result"}), "$[0].parts[0].type", "generic"),
    ("gen_ai.input.messages", _messages({"type": "text"}), "$[0].parts[0]", "'content'"),
    ("gen_ai.input.messages", _messages({"type": "text", "content": None}), "$[0].parts[0].content", "a string"),
    ("gen_ai.input.messages", _messages({"type": "tool_call", "id": "c"}), "$[0].parts[0]", "'name'"),
    ("gen_ai.input.messages", _messages({"type": "tool_call", "name": "f", "id": 7}), "$[0].parts[0].id",
     "string or null"),
    ("gen_ai.input.messages", _messages({"type": "tool_call_response", "id": "c"}), "$[0].parts[0]", "'response'"),
    ("gen_ai.input.messages", _messages({"type": "server_tool_call", "name": "web_search_call"}), "$[0].parts[0]",
     "'server_tool_call'"),
    ("gen_ai.input.messages", _messages({"type": "server_tool_call", "server_tool_call": {"type": "x"}}),
     "$[0].parts[0]", "'name'"),
    ("gen_ai.input.messages", _messages({"type": "server_tool_call", "name": "x", "server_tool_call": {}}),
     "$[0].parts[0].server_tool_call", "string 'type'"),
    ("gen_ai.input.messages", _messages({"type": "server_tool_call_response", "id": "ws"}), "$[0].parts[0]",
     "'server_tool_call_response'"),
    ("gen_ai.input.messages", _messages({"type": "blob", "modality": "image"}), "$[0].parts[0]", "'content'"),
    ("gen_ai.input.messages", _messages({"type": "blob", "content": "AAAA"}), "$[0].parts[0]", "'modality'"),
    ("gen_ai.input.messages", _messages({"type": "blob", "modality": "image", "content": "AAAA", "size": 3}),
     "$[0].parts[0].size", "no field 'size'"),
    ("gen_ai.input.messages", _messages({"type": "blob", "modality": "image", "content": "AA", "mime_type": 3}),
     "$[0].parts[0].mime_type", "string or null"),
    ("gen_ai.input.messages", _messages({"type": "file", "file_id": "f"}), "$[0].parts[0]", "'modality'"),
    ("gen_ai.input.messages", _messages({"type": "file", "modality": "image"}), "$[0].parts[0]", "'file_id'"),
    ("gen_ai.input.messages", _messages({"type": "file", "modality": "image", "file_id": None}),
     "$[0].parts[0].file_id", "a string"),
    ("gen_ai.input.messages", _messages({"type": "uri", "uri": "https://x"}), "$[0].parts[0]", "'modality'"),
    ("gen_ai.input.messages", _messages({"type": "uri", "modality": "image"}), "$[0].parts[0]", "'uri'"),
    ("gen_ai.input.messages", _messages({"type": "uri", "modality": "image", "uri": "data:image/png;base64,AA"}),
     "$[0].parts[0].uri", "data: URL"),
    ("gen_ai.input.messages", _messages({"type": "reasoning"}), "$[0].parts[0]", "'content'"),
    ("gen_ai.input.messages", _messages({"type": "compaction", "content": 1}), "$[0].parts[0].content",
     "string or null"),
    ("gen_ai.input.messages", _messages({"type": "generic", "generic_type": 1}), "$[0].parts[0].generic_type",
     "a string"),
    ("gen_ai.output.messages", _out({"type": "text", "content": "x"}, finish=None), "$[0]", "'finish_reason'"),
    ("gen_ai.output.messages", json.dumps([{"role": "assistant", "parts": [], "finish_reason": None}]),
     "$[0].finish_reason", "a string"),
    ("gen_ai.output.messages", _out({"type": "text", "content": "x"}, {"type": "blob"}), "$[0].parts[1]",
     "'modality'"),
    ("gen_ai.system_instructions", json.dumps(["Be brief."]), "$[0]", "must be an object"),
    ("gen_ai.system_instructions", json.dumps([{"type": "tool_call", "name": "f"}]), "$[0].type", "not allowed"),
    ("gen_ai.system_instructions", json.dumps([{"type": "text"}]), "$[0]", "'content'"),
    ("gen_ai.tool.definitions", json.dumps([{"type": "web_search"}]), "$[0]", "'name'"),
    ("gen_ai.tool.definitions", json.dumps([{"name": "f"}]), "$[0]", "'type'"),
    ("gen_ai.tool.definitions", json.dumps(["f"]), "$[0]", "must be an object"),
    ("gen_ai.tool.definitions", json.dumps([{"type": "function", "name": "f", "parameters": "{}"}]),
     "$[0].parameters", "JSON schema"),
    ("gen_ai.tool.definitions", json.dumps([{"type": "function", "name": "f", "description": 1}]),
     "$[0].description", "string or null"),
]


@pytest.mark.parametrize(("attribute", "value", "path", "words"), BAD, ids=range(len(BAD)))
def test_each_content_rule_fails(attribute, value, path, words):
    found = cc.check_attributes({attribute: value})
    assert found is not None, "no violation found for %s" % value
    assert (found.attribute, found.path) == (attribute, path), str(found)
    assert words in found.message, str(found)


GOOD_ATTRIBUTES = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "server.port": 443,
    "gen_ai.request.temperature": 1.0,
    "gen_ai.request.top_p": 0.5,
    "gen_ai.request.frequency_penalty": 0.0,
    "gen_ai.request.presence_penalty": -1.0,
    "gen_ai.request.max_tokens": 16,
    "gen_ai.request.top_k": 40,
    "gen_ai.request.seed": 7,
    "gen_ai.request.choice.count": 2,
    "gen_ai.request.stream": True,
    "gen_ai.response.finish_reasons": ("stop", "length"),
    "gen_ai.request.stop_sequences": ("\n",),
    "gen_ai.usage.input_tokens": 3,
    "gen_ai.usage.cache_write.input_tokens": 0,
    "gen_ai.response.time_to_first_chunk": 0.25,
    "openai.request.service_tier": "flex",
    "weave_agent.stream.chunks": 3,  # not the conventions': not typed
}


def test_conforming_attributes_pass():
    assert cc.check_attributes(GOOD_ATTRIBUTES) is None


BAD_ATTRIBUTES = [
    ("gen_ai.request.temperature", 1, "double"),
    ("gen_ai.request.top_p", 1, "double"),
    ("gen_ai.request.frequency_penalty", 0, "double"),
    ("gen_ai.request.presence_penalty", True, "double"),
    ("gen_ai.response.time_to_first_chunk", 1, "double"),
    ("gen_ai.request.max_tokens", 16.0, "int"),
    ("gen_ai.request.top_k", 40.0, "int"),
    ("gen_ai.request.seed", "7", "int"),
    ("gen_ai.usage.output_tokens", True, "int"),
    ("gen_ai.usage.reasoning.output_tokens", 1.0, "int"),
    ("server.port", "443", "int"),
    ("gen_ai.response.finish_reasons", "stop", "string[]"),
    ("gen_ai.response.finish_reasons", (1,), "string[]"),
    ("gen_ai.request.stop_sequences", ("a", 2), "string[]"),
    ("gen_ai.request.model", 4, "string"),
    ("openai.request.service_tier", 1, "string"),
    ("gen_ai.request.stream", "true", "boolean"),
    ("gen_ai.request.stream", False, "only when true"),
    ("gen_ai.conversation.compacted", False, "only when true"),
    ("gen_ai.request.choice.count", 1, "only when not 1"),
]


@pytest.mark.parametrize(("name", "value", "words"), BAD_ATTRIBUTES, ids=range(len(BAD_ATTRIBUTES)))
def test_each_attribute_rule_fails(name, value, words):
    found = cc.check_attributes({**GOOD_ATTRIBUTES, name: value})
    assert found is not None and found.attribute == name, str(found)
    assert words in found.message, str(found)


def _span(name, attributes, events=()):
    return SimpleNamespace(name=name, attributes=attributes, events=list(events))


def test_the_violation_names_span_attribute_and_path():
    spans = [
        _span("ok", {"gen_ai.request.temperature": 0.5}),
        _span("chat gpt-4o", {"gen_ai.input.messages": _messages({"type": "text", "content": "a"},
                                                                 {"type": "text", "content": None})}),
        _span("later", {"gen_ai.request.temperature": 1}),
    ]
    found = cc.check_spans(spans)
    assert (found.span, found.attribute, found.path) == ("chat gpt-4o", "gen_ai.input.messages", "$[0].parts[1].content")
    text = str(found)
    assert "chat gpt-4o" in text and "gen_ai.input.messages" in text and "$[0].parts[1].content" in text
    assert cc.CONVENTIONS_COMMIT[:12] in text


def test_content_on_events_is_checked():
    event = SimpleNamespace(name="gen_ai.client.inference.operation.details",
                            attributes={"gen_ai.output.messages": _out({"type": "text", "content": "x"}, finish=None)})
    found = cc.check_span(_span("chat m", {}, [event]))
    assert found is not None and found.span == "chat m" and "gen_ai.output.messages" in found.attribute


def test_the_commit_is_the_one_the_docstring_names():
    assert cc.CONVENTIONS_COMMIT == "fe5608e249d64bc5961329a82f8915fe95ced51a"
    assert cc.CONVENTIONS_COMMIT in (cc.__doc__ or "")
