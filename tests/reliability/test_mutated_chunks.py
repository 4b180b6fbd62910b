"""Issue 18, item 9: a span records the chunks as the SDK yielded them, whatever the consumer
does to them afterwards.

SDK chunk objects are mutable, and consumers change them. LlamaIndex's OpenAI integration
joins streamed tool-call pieces *in place*: its ``update_tool_calls`` keeps the first
piece's ``ChoiceDeltaToolCall`` and appends every later piece's arguments to it. An
accumulator that reads a chunk after the consumer has moved on (the agent used to hold
chunks and read them 32 at a time) then reads the whole arguments from the first piece,
plus every piece again: ``{"city":"Paris"}{"city":"Paris"}``.

Real SDK chunk objects, parsed by the real OpenAI, Anthropic and Mistral SDKs from the
recorded SSE bodies (``_streams_sse``), are read by consumers that mutate them the way
LlamaIndex does (and, further, overwrite every field they read after each chunk); the
span must hold the tool-call arguments exactly once, and the text, ids, finish reasons
and usage the SDK sent.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from _streams_sse import Feed, clients, sse_events


@pytest.fixture
def traced(spans: Any, instrumentation: Any) -> Any:
    return spans


@pytest.fixture(autouse=True)
def _content_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_ONLY")


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    },
}
ASK = [{"role": "user", "content": "What's the weather like in Paris today?"}]


def update_tool_calls(tool_calls: list[Any], tool_calls_delta: Any) -> list[Any]:
    """LlamaIndex's ``update_tool_calls`` (``llama-index-llms-openai``, ``utils.py``), as its
    ``OpenAI.stream_chat`` calls it on every chunk: the first piece of a call is kept, and
    the later pieces are joined *into it*."""
    if not tool_calls_delta:
        return tool_calls
    tc_delta = tool_calls_delta[0]
    if len(tool_calls) == 0:
        tool_calls.append(tc_delta)
    else:
        t = tool_calls[-1]
        if t.index != tc_delta.index:
            tool_calls.append(tc_delta)
        else:
            t.function.arguments = t.function.arguments or ""
            t.function.name = t.function.name or ""
            t.id = t.id or ""
            t.function.arguments += tc_delta.function.arguments or ""
            t.function.name += tc_delta.function.name or ""
            t.id += tc_delta.id or ""
    return tool_calls


def output_messages(spans: Any) -> list[Any]:
    (span,) = spans.finished()
    attrs = dict(span.attributes or {})
    assert attrs["weave_agent.stream.complete"] is True, attrs
    return list(json.loads(attrs["gen_ai.output.messages"]))


def tool_calls_in(messages: list[Any]) -> list[Any]:
    return [p for m in messages for p in m["parts"] if p["type"] == "tool_call"]


def span_attrs(spans: Any) -> dict[str, Any]:
    (span,) = spans.finished()
    return dict(span.attributes or {})


def sse(events: list[dict[str, Any]]) -> list[bytes]:
    return [b"data: " + json.dumps(e).encode() + b"\n\n" for e in events] + [b"data: [DONE]\n\n"]


# --- OpenAI ----------------------------------------------------------------------------------


def openai_arguments() -> str:
    """The tool call's arguments as the server sent them, joined once."""
    pieces = []
    for event in sse_events("openai/cassettes/chat_stream_tools.yaml"):
        data = event.decode().removeprefix("data: ").strip()
        if data != "[DONE]":
            for choice in json.loads(data)["choices"]:
                for call in choice["delta"].get("tool_calls") or ():
                    pieces.append(call["function"].get("arguments") or "")
    return "".join(pieces)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_openai_tool_call_joined_in_place_by_the_consumer(
    traced: Any, instrumentation: Any, is_async: bool
) -> None:
    instrumentation("openai")
    client = clients("openai", Feed(sse_events("openai/cassettes/chat_stream_tools.yaml")), is_async)
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=ASK, tools=[WEATHER_TOOL], stream=True)
    joined: list[Any] = []
    if is_async:
        async for chunk in await stream:
            joined = update_tool_calls(joined, chunk.choices[0].delta.tool_calls if chunk.choices else None)
    else:
        for chunk in stream:
            joined = update_tool_calls(joined, chunk.choices[0].delta.tool_calls if chunk.choices else None)
    sent = openai_arguments()
    assert joined[0].function.arguments == sent  # the consumer got the call whole

    (call,) = tool_calls_in(output_messages(traced))
    assert call["arguments"] == json.loads(sent), call  # once, not {...}{...}
    assert (call["id"], call["name"]) == ("call_hERDHWZ090mmBoX7Yv0wJA5g", "get_weather")


def test_openai_every_field_overwritten_after_each_chunk(traced: Any, instrumentation: Any) -> None:
    instrumentation("openai")
    client = clients("openai", Feed(sse_events("openai/cassettes/chat_stream_usage.yaml")), False)
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=ASK, stream=True, stream_options={"include_usage": True}
    )
    texts, usage = [], None
    for chunk in stream:
        for choice in chunk.choices:
            texts.append(choice.delta.content or "")
            choice.delta.content = "overwritten"
            choice.finish_reason = "length"
        if chunk.usage is not None:
            usage = copy.deepcopy(chunk.usage)
            chunk.usage.prompt_tokens = chunk.usage.completion_tokens = 999
            chunk.usage.prompt_tokens_details.cached_tokens = 999
        chunk.id, chunk.model, chunk.system_fingerprint = "mutated", "mutated", "mutated"

    attrs = span_attrs(traced)
    (message,) = output_messages(traced)
    assert message["parts"] == [{"type": "text", "content": "".join(texts)}]
    assert message["finish_reason"] == "stop"
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert attrs["gen_ai.response.id"] == "chatcmpl-zRr0XMHpPo72K9gmaBSFRQuTKW8tH"
    assert attrs["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert attrs["openai.response.system_fingerprint"] == "fp_560af6e559"
    assert usage is not None
    assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == (
        usage.prompt_tokens, usage.completion_tokens)
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == usage.prompt_tokens_details.cached_tokens


# --- Anthropic -------------------------------------------------------------------------------


def anthropic_arguments() -> str:
    pieces = []
    for event in sse_events("anthropic/cassettes/messages_tool_use_stream.yaml"):
        for line in event.decode().splitlines():
            if line.startswith("data: "):
                data = json.loads(line[6:])
                if data["type"] == "content_block_delta" and data["delta"]["type"] == "input_json_delta":
                    pieces.append(data["delta"]["partial_json"])
    return "".join(pieces)


def test_anthropic_tool_input_mutated_by_the_consumer(traced: Any, instrumentation: Any) -> None:
    """LlamaIndex's Anthropic ``stream_chat`` sets the ``ToolUseBlock``'s ``input`` from the
    JSON so far at every delta; a consumer written like ``update_tool_calls`` joins the
    ``partial_json`` pieces into the first one."""
    instrumentation("anthropic")
    client = clients("anthropic", Feed(sse_events("anthropic/cassettes/messages_tool_use_stream.yaml")), False)
    stream = client.messages.create(model="claude-haiku-4-5", max_tokens=200, messages=ASK,
                                    tools=[{"name": "get_weather", "input_schema": {"type": "object"}}], stream=True)
    block, first_delta, so_far = None, None, ""
    for event in stream:
        if event.type == "content_block_start" and event.content_block.type == "tool_use":
            block = event.content_block
        elif event.type == "content_block_delta" and event.delta.type == "input_json_delta":
            so_far += event.delta.partial_json
            if block is not None:
                try:
                    block.input = json.loads(so_far)  # LlamaIndex: the arguments so far, on the block
                except ValueError:
                    pass
            if first_delta is None:
                first_delta = event.delta
            else:
                first_delta.partial_json += event.delta.partial_json  # joined in place
        elif event.type == "message_delta":
            event.usage.output_tokens = 999
            event.delta.stop_reason = "max_tokens"
    sent = anthropic_arguments()
    assert first_delta is not None and first_delta.partial_json == sent

    (call,) = tool_calls_in(output_messages(traced))
    assert call["arguments"] == json.loads(sent), call
    attrs = span_attrs(traced)
    assert attrs["gen_ai.usage.output_tokens"] == 42
    assert attrs["gen_ai.response.finish_reasons"] == ("tool_call",)


# --- Mistral ---------------------------------------------------------------------------------


def mistral_tool_events(arguments: str) -> list[bytes]:
    """Mistral's recorded tool-call stream, its call sent in two pieces (the accumulator
    joins pieces that share an index, as it does for OpenAI)."""
    head = {"id": "4858dbea7627fec8190f754bf660ee16", "object": "chat.completion.chunk", "created": 1750000000,
            "model": "mistral-small-latest"}
    cut = len(arguments) // 2
    return sse([
        {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
        {**head, "choices": [{"index": 0, "delta": {"tool_calls": [
            {"id": "gSR7ERpxe", "type": "function", "index": 0,
             "function": {"name": "get_weather", "arguments": arguments[:cut]}}]}, "finish_reason": None}]},
        {**head, "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"name": "", "arguments": arguments[cut:]}}]}, "finish_reason": "tool_calls"}],
         "usage": {"prompt_tokens": 80, "total_tokens": 97, "completion_tokens": 17}},
    ])


def test_mistral_tool_call_joined_in_place_by_the_consumer(traced: Any, instrumentation: Any) -> None:
    instrumentation("mistral")
    sent = '{"location": "Paris", "unit": "celsius"}'
    client = clients("mistral", Feed(mistral_tool_events(sent)), False)
    joined: list[Any] = []
    for event in client.chat.stream(model="mistral-small-latest", messages=ASK, tools=[WEATHER_TOOL]):
        choice = event.data.choices[0]
        joined = update_tool_calls(joined, choice.delta.tool_calls)
        if event.data.usage is not None:
            event.data.usage.completion_tokens = 999
        choice.finish_reason = "length"
    assert joined[0].function.arguments == sent

    (call,) = tool_calls_in(output_messages(traced))
    assert call["arguments"] == json.loads(sent), call
    assert (call["id"], call["name"]) == ("gSR7ERpxe", "get_weather")
    attrs = span_attrs(traced)
    assert attrs["gen_ai.usage.output_tokens"] == 17
    assert attrs["gen_ai.response.finish_reasons"] == ("tool_call",)
