"""A local stand-in for the Anthropic Messages API, for recording vcrpy cassettes.

It answers the way the hosted endpoints document, for the shapes the instrumentation tests need:

* ``POST /v1/messages`` (``?beta=true`` too) and ``POST /v1/messages/count_tokens``, as
  api.anthropic.com: JSON bodies, or ``text/event-stream`` with ``event:``/``data:`` lines for
  ``"stream": true``; errors as ``{"type": "error", "error": {...}, "request_id": ...}``.
* ``POST /model/{model}/invoke`` and ``/invoke-with-response-stream``, as Amazon Bedrock
  (bedrock-runtime): the stream is AWS event-stream binary framing whose ``chunk`` events carry
  the Messages events base64-encoded in ``{"bytes": ..., "p": ...}``.
* ``POST /v1/projects/{project}/locations/{region}/publishers/anthropic/models/{model}:rawPredict``
  and ``:streamRawPredict``, as Google Vertex AI.

Behaviour follows from the request alone (path, ``stream``, ``tools``, ``tool_choice``,
``thinking``, ``output_config.format``, ``cache_control``, ``stop_sequences``, ``max_tokens``,
model, headers), so the same request always gets the same answer: ids are hashes of the request.
Two markers in the last user text force server-side failures that no request field can ask for:
``[[overloaded]]`` (HTTP 529 ``overloaded_error``) and ``[[overloaded-midstream]]`` (a stream
that sends an ``error`` event after a few text deltas). A key containing ``invalid`` gets 401.

Prompt caching is emulated without state: the prompt prefix up to the second-to-last
``cache_control`` breakpoint counts as already cached (read), the part between the last two
breakpoints as written now (creation), as on the second turn of a cached conversation.

Usage::

    with FakeAnthropicServer() as server:
        client = Anthropic(api_key="sk-ant-test-0000", base_url=server.url)

The server listens on 127.0.0.1 on a free port, serves from a daemon thread, and shuts itself
down after ``lifetime`` seconds even if the ``with`` block never ends.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["FakeAnthropicServer", "encode_event_stream_message"]

CURRENT_API_VERSION = "2026-10-21"
KNOWN_API_VERSIONS = {"2023-01-01", "2023-06-01", CURRENT_API_VERSION}
FAKE_ORGANIZATION_ID = "00000000-0000-4000-8000-000000000000"
SAMPLING_PARAMS = ("temperature", "top_p", "top_k")

# Alias -> the dated snapshot that the API names in `model` of its answers.
MODEL_SNAPSHOTS = {
    "claude-haiku-4-5": "claude-haiku-4-5-20251001",
    "claude-sonnet-4-5": "claude-sonnet-4-5-20250929",
    "claude-opus-4-5": "claude-opus-4-5-20251101",
    "claude-opus-4-1": "claude-opus-4-1-20250805",
    "claude-sonnet-4-0": "claude-sonnet-4-20250514",
    "claude-opus-4-0": "claude-opus-4-20250514",
}
# Maximum `max_tokens` by model family (prefix of the resolved model name); 64000 otherwise.
MAX_OUTPUT_TOKENS = (
    ("claude-3-5-haiku", 8192),
    ("claude-3-5-sonnet", 8192),
    ("claude-3-haiku", 4096),
    ("claude-opus-4-1", 32000),
    ("claude-opus-4-2", 32000),
    ("claude-opus-4-6", 128000),
)
# Models with which `temperature` and `top_p` cannot both be set (anthropic-version 2023-06-01).
ONE_SAMPLING_PARAM_MODELS = ("claude-haiku-4-5", "claude-sonnet-4-5", "claude-opus-4-1", "claude-opus-4-5")

CANNED_ANSWERS = (
    ("count from 1 to 10", "1, 2, 3, 4, 5, 6, 7, 8, 9, 10"),
    ("capital of france", "The capital of France is Paris."),
    ("27 * 453", "27 * 453 = 12,231."),
    ("haiku", "Packets cross the dark\nA quiet server answers\nLight returns as text"),
    ("prompt caching", "Prompt caching stores a processed prompt prefix so later requests can reuse it."),
    ("summarize", "The document explains how the weave agent traces LLM calls without code changes."),
)
DEFAULT_ANSWER = "Hello! I'm Claude, an AI assistant made by Anthropic. How can I help you today?"
CANNED_THINKING = (
    (
        "27 * 453",
        "I need to multiply 27 by 453. 27 * 453 = 27 * 400 + 27 * 53. "
        "27 * 400 = 10,800 and 27 * 53 = 1,431. 10,800 + 1,431 = 12,231.",
    ),
)
CANNED_STRINGS = {
    "name": "Paris",
    "city": "Paris",
    "country": "France",
    "location": "Paris, France",
    "capital": "Paris",
    "language": "French",
    "query": "weather in Paris",
}
CANNED_NUMBERS = {"population": 2102650, "year": 2026, "age": 42}
TOOL_RESULT_PHRASES = {
    "get_weather": "It's currently {result} in {location}.",
}

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


# --- small helpers -------------------------------------------------------------------------


def _digest(*parts: object) -> bytes:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(part if isinstance(part, bytes) else str(part).encode("utf-8"))
        hasher.update(b"\0")
    return hasher.digest()


def _base62(data: bytes, length: int) -> str:
    number = int.from_bytes(data, "big")
    chars = []
    for _ in range(length):
        number, rest = divmod(number, 62)
        chars.append(BASE62[rest])
    return "".join(chars)


def _tokens(text: str) -> int:
    """A deterministic stand-in for the tokenizer: about four characters a token."""
    return max(1, math.ceil(len(text) / 4)) if text else 0


def _json_compact(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _text_of(content: object) -> str:
    """The text of a message's `content` (a string or a list of blocks), for token counts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        pieces = []
        for block in content:
            if isinstance(block, dict):
                if isinstance(block.get("text"), str):
                    pieces.append(block["text"])
                elif isinstance(block.get("thinking"), str):
                    pieces.append(block["thinking"])
                elif block.get("type") == "tool_use":
                    pieces.append(_json_compact(block.get("input", {})) + str(block.get("name", "")))
                elif block.get("type") == "tool_result":
                    pieces.append(_text_of(block.get("content", "")))
                else:
                    pieces.append(_json_compact(block))
        return " ".join(pieces)
    return ""


def _split_words(text: str, per_chunk: int = 2) -> list[str]:
    words = re.findall(r"\S+\s*|\s+", text)
    return ["".join(words[i : i + per_chunk]) for i in range(0, len(words), per_chunk)] or [text]


def _split_json(text: str, size: int = 12) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


class ApiError(Exception):
    """An error answer: HTTP status, error type, message, extra headers."""

    def __init__(self, status: int, error_type: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.headers = headers or {}


# --- JSON schema instances (tool inputs, structured outputs) ------------------------------


def schema_instance(schema: object, name: str | None = None, defs: dict[str, Any] | None = None) -> object:
    """A deterministic value that validates against `schema`: canned values by property name."""
    if not isinstance(schema, dict):
        return CANNED_STRINGS.get(name or "", f"example {name or 'value'}")
    defs = defs if defs is not None else {**schema.get("$defs", {}), **schema.get("definitions", {})}
    if "$ref" in schema:
        target = str(schema["$ref"]).rsplit("/", 1)[-1]
        return schema_instance(defs.get(target, {}), name, defs)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = [option for option in schema.get(key, []) if option.get("type") != "null"]
        if options:
            return schema_instance(options[0], name, defs)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        return {prop: schema_instance(sub, prop, defs) for prop, sub in properties.items()}
    if kind == "array":
        return [schema_instance(schema.get("items", {}), name, defs)]
    if kind == "integer":
        return CANNED_NUMBERS.get(name or "", 1)
    if kind == "number":
        return float(CANNED_NUMBERS.get(name or "", 1.5))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return CANNED_STRINGS.get(name or "", f"example {name or 'value'}")


# --- the answer to one Messages request ---------------------------------------------------


@dataclass
class Plan:
    """What the model "generates" for a request, before it is rendered as JSON or as events."""

    message_id: str
    model: str
    content: list[dict[str, Any]]
    stop_reason: str
    stop_sequence: str | None
    input_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int
    cache_ttl_1h: bool
    output_tokens: int
    thinking_tokens: int
    beta: bool
    fail_midstream: bool = False
    extra_message_fields: dict[str, Any] = field(default_factory=dict)

    def usage(self) -> dict[str, Any]:
        usage: dict[str, Any] = {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": 0 if self.cache_ttl_1h else self.cache_creation_input_tokens,
                "ephemeral_1h_input_tokens": self.cache_creation_input_tokens if self.cache_ttl_1h else 0,
            },
            "output_tokens": self.output_tokens,
            "service_tier": "standard",
        }
        if self.thinking_tokens:
            usage["output_tokens_details"] = {"thinking_tokens": self.thinking_tokens}
        return usage

    def message(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "content": self.content,
            "stop_reason": self.stop_reason,
            "stop_sequence": self.stop_sequence,
            "usage": self.usage(),
        }
        if self.beta:
            body["container"] = None
            body["context_management"] = None
        body.update(self.extra_message_fields)
        return body

    def events(self) -> list[dict[str, Any]]:
        """The stream events, in the documented order (ping after the first block starts)."""
        start_message = {
            **self.message(),
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {**self.usage(), "output_tokens": 1},
        }
        start_message["usage"].pop("output_tokens_details", None)
        events: list[dict[str, Any]] = [{"type": "message_start", "message": start_message}]
        for index, block in enumerate(self.content):
            kind = block["type"]
            if kind == "text":
                events.append(
                    {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}
                )
            elif kind == "thinking":
                events.append(
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "thinking", "thinking": "", "signature": ""},
                    }
                )
            elif kind == "tool_use":
                events.append(
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}},
                    }
                )
            if index == 0:
                events.append({"type": "ping"})
            if kind == "text":
                chunks = _split_words(block["text"])
                for number, chunk in enumerate(chunks):
                    events.append(
                        {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": chunk}}
                    )
                    if self.fail_midstream and number == 1:
                        events.append({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
                        return events
            elif kind == "thinking":
                for chunk in re.findall(r"[^.]+\.?\s*", block["thinking"]) or [block["thinking"]]:
                    events.append(
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "thinking_delta", "thinking": chunk},
                        }
                    )
                events.append(
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "signature_delta", "signature": block["signature"]},
                    }
                )
            elif kind == "tool_use":
                for chunk in ["", *_split_json(_json_compact(block["input"]))]:
                    events.append(
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "input_json_delta", "partial_json": chunk},
                        }
                    )
            events.append({"type": "content_block_stop", "index": index})
        events.append(
            {
                "type": "message_delta",
                "delta": {"stop_reason": self.stop_reason, "stop_sequence": self.stop_sequence},
                "usage": {
                    "input_tokens": self.input_tokens,
                    "cache_creation_input_tokens": self.cache_creation_input_tokens,
                    "cache_read_input_tokens": self.cache_read_input_tokens,
                    "output_tokens": self.output_tokens,
                    **(
                        {"output_tokens_details": {"thinking_tokens": self.thinking_tokens}}
                        if self.thinking_tokens
                        else {}
                    ),
                },
            }
        )
        events.append({"type": "message_stop"})
        return events


def resolve_model(model: str) -> str:
    """The `model` that an answer names: the dated snapshot of an alias, as the API does."""
    if model.startswith(("anthropic.", "us.anthropic.", "eu.anthropic.", "apac.anthropic.", "global.anthropic.")):
        # Bedrock model ids: [geo.]anthropic.<name>-v<N>:<M>
        model = model.split("anthropic.", 1)[1]
        model = re.sub(r"-v\d+(:\d+)?$", "", model)
    if "@" in model:  # Vertex model ids: <name>@<date>
        name, _, date = model.partition("@")
        model = f"{name}-{date}"
    return MODEL_SNAPSHOTS.get(model, model)


def max_output_tokens(model: str) -> int:
    for prefix, limit in MAX_OUTPUT_TOKENS:
        if model.startswith(prefix):
            return limit
    return 64000


def _last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(
                    block.get("text", "")
                    for block in content
                    if isinstance(block, dict) and block.get("type") == "text"
                )
    return ""


def _canned(table: tuple[tuple[str, str], ...], prompt: str, default: str) -> str:
    lowered = prompt.lower()
    for key, answer in table:
        if key in lowered:
            return answer
    return default


def _cache_segments(body: dict[str, Any]) -> tuple[list[int], int, bool]:
    """Token counts of the prompt prefix at each `cache_control` breakpoint, the total, and 1h TTL.

    The prompt is tools, then system, then messages, in that order, as the API caches it.
    """
    breakpoints: list[int] = []
    total = 0
    ttl_1h = False

    def add(text: str, block: object) -> None:
        nonlocal total, ttl_1h
        total += _tokens(text)
        if isinstance(block, dict) and isinstance(block.get("cache_control"), dict):
            breakpoints.append(total)
            ttl_1h = ttl_1h or block["cache_control"].get("ttl") == "1h"

    for tool in body.get("tools") or []:
        add(_json_compact(tool), tool)
    system = body.get("system")
    if isinstance(system, str):
        add(system, None)
    elif isinstance(system, list):
        for block in system:
            add(_text_of([block]), block)
    for message in body.get("messages") or []:
        if not isinstance(message, dict):
            continue
        total += 3  # role and turn delimiters
        content = message.get("content")
        if isinstance(content, str):
            add(content, None)
        elif isinstance(content, list):
            for block in content:
                add(_text_of([block]), block)
    if isinstance(body.get("cache_control"), dict):  # automatic caching: a breakpoint at the end
        breakpoints.append(total)
        ttl_1h = ttl_1h or body["cache_control"].get("ttl") == "1h"
    return breakpoints, total, ttl_1h


def validate_messages_body(body: dict[str, Any], *, model: str, api_version: str | None, platform: str) -> None:
    """Raises the `ApiError` that the API answers an invalid request with."""
    for required in ("max_tokens", "messages"):
        if required not in body:
            raise ApiError(400, "invalid_request_error", f"{required}: Field required")
    if not isinstance(body["max_tokens"], int) or body["max_tokens"] < 1:
        raise ApiError(400, "invalid_request_error", "max_tokens: Input should be greater than or equal to 1")
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "invalid_request_error", "messages: at least one message is required")
    if api_version == CURRENT_API_VERSION:
        for name in SAMPLING_PARAMS:
            if name in body:
                raise ApiError(400, "invalid_request_error", f"{name}: Extra inputs are not permitted")
    elif "temperature" in body and "top_p" in body and model.startswith(ONE_SAMPLING_PARAM_MODELS):
        raise ApiError(
            400,
            "invalid_request_error",
            "`temperature` and `top_p` cannot both be specified for this model. Please use only one.",
        )
    limit = max_output_tokens(model)
    if body["max_tokens"] > limit:
        raise ApiError(
            400,
            "invalid_request_error",
            f"max_tokens: {body['max_tokens']} > {limit}, which is the maximum allowed number of output tokens "
            f"for {model}",
        )
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < 1024:
            raise ApiError(
                400,
                "invalid_request_error",
                "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
            )
        if budget >= body["max_tokens"]:
            raise ApiError(
                400,
                "invalid_request_error",
                "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at "
                "https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size",
            )
    # Every tool_result must answer a tool_use of the assistant turn just before it.
    for position, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise ApiError(
                400, "invalid_request_error", f"messages.{position}.role: Input should be 'user' or 'assistant'"
            )
        content = message.get("content")
        if message["role"] != "user" or not isinstance(content, list):
            continue
        result_ids = [b.get("tool_use_id") for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]
        if not result_ids:
            continue
        previous = messages[position - 1] if position else {}
        previous_content = previous.get("content") if isinstance(previous, dict) else None
        use_ids = (
            {b.get("id") for b in previous_content or [] if isinstance(b, dict) and b.get("type") == "tool_use"}
            if isinstance(previous_content, list)
            else set()
        )
        unknown = [tool_id for tool_id in result_ids if tool_id not in use_ids]
        if unknown:
            raise ApiError(
                400,
                "invalid_request_error",
                f"messages.{position}.content.0: unexpected `tool_use_id` found in `tool_result` blocks: {unknown[0]}. "
                "Each `tool_result` block must have a corresponding `tool_use` block in the previous message.",
            )
    del platform


def plan_messages(body: dict[str, Any], *, model: str, platform: str, beta: bool, request_key: bytes) -> Plan:
    """What the fake model answers to a valid Messages request."""
    resolved = resolve_model(model)
    messages = body["messages"]
    prompt = _last_user_text(messages)
    if "[[overloaded]]" in prompt:
        raise ApiError(529, "overloaded_error", "Overloaded", {"x-should-retry": "true"})
    fail_midstream = "[[overloaded-midstream]]" in prompt
    if fail_midstream and not body.get("stream"):
        raise ApiError(529, "overloaded_error", "Overloaded", {"x-should-retry": "true"})

    id_prefix = {"bedrock": "msg_bdrk_01", "vertex": "msg_vrtx_01"}.get(platform, "msg_01")
    tool_prefix = {"bedrock": "toolu_bdrk_01", "vertex": "toolu_vrtx_01"}.get(platform, "toolu_01")
    message_id = id_prefix + _base62(_digest(request_key, "message"), 22)

    content: list[dict[str, Any]] = []
    thinking_tokens = 0
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive"):
        thought = _canned(
            CANNED_THINKING,
            prompt,
            f"The user wrote: {prompt[:120]!r}. I should answer briefly and accurately, and stay friendly.",
        )
        signature = base64.b64encode(b"".join(_digest(request_key, "signature", n) for n in range(5))).decode("ascii")
        content.append({"type": "thinking", "thinking": thought, "signature": signature})
        thinking_tokens = _tokens(thought) + 8

    last = messages[-1] if messages else {}
    last_content = last.get("content") if isinstance(last, dict) else None
    tool_results = (
        [block for block in last_content or [] if isinstance(block, dict) and block.get("type") == "tool_result"]
        if isinstance(last_content, list)
        else []
    )
    tools = [tool for tool in body.get("tools") or [] if isinstance(tool, dict) and "input_schema" in tool]
    tool_choice = body.get("tool_choice") if isinstance(body.get("tool_choice"), dict) else {"type": "auto"}

    stop_sequence: str | None = None
    if tool_results:
        text = _answer_from_tool_results(messages, tool_results)
        content.append({"type": "text", "text": text})
        stop_reason = "end_turn"
    elif tools and tool_choice.get("type") != "none":
        chosen = tools[0]
        if tool_choice.get("type") == "tool":
            chosen = next((tool for tool in tools if tool.get("name") == tool_choice.get("name")), chosen)
        if tool_choice.get("type") == "auto":
            content.append({"type": "text", "text": f"I'll use the {chosen['name']} tool to answer that."})
        content.append(
            {
                "type": "tool_use",
                "id": tool_prefix + _base62(_digest(request_key, "tool"), 22),
                "name": chosen["name"],
                "input": schema_instance(chosen["input_schema"]),
            }
        )
        stop_reason = "tool_use"
    else:
        output_format = (body.get("output_config") or {}).get("format") or body.get("output_format")
        if isinstance(output_format, dict) and output_format.get("type") == "json_schema":
            text = _json_compact(schema_instance(output_format.get("schema", {})))
        else:
            text = _canned(CANNED_ANSWERS, prompt, DEFAULT_ANSWER)
        stop_reason = "end_turn"
        for sequence in body.get("stop_sequences") or []:
            if isinstance(sequence, str) and sequence and sequence in text:
                text = text[: text.index(sequence)]
                stop_reason, stop_sequence = "stop_sequence", sequence
                break
        content.append({"type": "text", "text": text})

    output_tokens = thinking_tokens + sum(
        _tokens(block.get("text", ""))
        if block["type"] == "text"
        else _tokens(_json_compact(block.get("input", {}))) + 30
        for block in content
        if block["type"] != "thinking"
    )
    if output_tokens > body["max_tokens"] and stop_reason != "tool_use":
        # Cut the final text block so that the answer fits `max_tokens`.
        budget = max(1, body["max_tokens"] - thinking_tokens)
        block = content[-1]
        if block["type"] == "text":
            block["text"] = block["text"][: budget * 4]
        output_tokens = body["max_tokens"]
        stop_reason, stop_sequence = "max_tokens", None

    breakpoints, total, ttl_1h = _cache_segments(body)
    cache_read = breakpoints[-2] if len(breakpoints) >= 2 else 0
    cache_creation = (breakpoints[-1] - cache_read) if breakpoints else 0
    input_tokens = max(1, total - cache_read - cache_creation)

    return Plan(
        message_id=message_id,
        model=resolved,
        content=content,
        stop_reason=stop_reason,
        stop_sequence=stop_sequence,
        input_tokens=input_tokens,
        cache_creation_input_tokens=cache_creation,
        cache_read_input_tokens=cache_read,
        cache_ttl_1h=ttl_1h,
        output_tokens=output_tokens,
        thinking_tokens=thinking_tokens,
        beta=beta,
        fail_midstream=fail_midstream,
    )


def _answer_from_tool_results(messages: list[Any], tool_results: list[dict[str, Any]]) -> str:
    uses: dict[str, dict[str, Any]] = {}
    for message in messages:
        if isinstance(message, dict) and isinstance(message.get("content"), list):
            for block in message["content"]:
                if isinstance(block, dict) and block.get("type") == "tool_use":
                    uses[str(block.get("id"))] = block
    answers = []
    for result in tool_results:
        use = uses.get(str(result.get("tool_use_id")), {})
        value = _text_of(result.get("content", "")).strip() or "no result"
        if result.get("is_error"):
            answers.append(f"The {use.get('name', 'tool')} tool failed: {value}.")
            continue
        phrase = TOOL_RESULT_PHRASES.get(str(use.get("name")), "The {name} tool returned: {result}.")
        tool_input = use.get("input") if isinstance(use.get("input"), dict) else {}
        answers.append(
            phrase.format(result=value, name=use.get("name", "tool"), location=tool_input.get("location", "there"))
        )
    return " ".join(answers)


# --- AWS event stream framing (Bedrock invoke-with-response-stream) ------------------------


def encode_event_stream_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One message of the AWS event stream encoding (vnd.amazon.eventstream), string headers only.

    Prelude: total length, headers length (big-endian uint32) and the CRC32 of those 8 bytes; then
    the headers (name length, name, type 7 = string, value length, value), the payload, and the
    CRC32 of everything before it.
    """
    encoded_headers = b""
    for name, value in headers.items():
        raw_name, raw_value = name.encode("utf-8"), value.encode("utf-8")
        encoded_headers += struct.pack(">B", len(raw_name)) + raw_name + b"\x07"
        encoded_headers += struct.pack(">H", len(raw_value)) + raw_value
    total_length = 12 + len(encoded_headers) + len(payload) + 4
    prelude = struct.pack(">II", total_length, len(encoded_headers))
    prelude += struct.pack(">I", binascii.crc32(prelude) & 0xFFFFFFFF)
    message = prelude + encoded_headers + payload
    return message + struct.pack(">I", binascii.crc32(message) & 0xFFFFFFFF)


PADDING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def bedrock_chunk(event: dict[str, Any], number: int) -> bytes:
    data = base64.b64encode(_json_compact(event).encode("utf-8")).decode("ascii")
    payload = _json_compact({"bytes": data, "p": PADDING[: 1 + (number * 7) % len(PADDING)]}).encode("utf-8")
    return encode_event_stream_message(
        {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}, payload
    )


# --- HTTP ------------------------------------------------------------------------------------

ANTHROPIC_MESSAGES = re.compile(r"^/v1/messages$")
ANTHROPIC_COUNT_TOKENS = re.compile(r"^/v1/messages/count_tokens$")
BEDROCK_INVOKE = re.compile(r"^/model/(?P<model>[^/]+)/(?P<action>invoke|invoke-with-response-stream)$")
VERTEX_PREDICT = re.compile(
    r"^/v1/projects/(?P<project>[^/]+)/locations/(?P<region>[^/]+)/publishers/anthropic/models/"
    r"(?P<model>[^/:]+):(?P<action>rawPredict|streamRawPredict)$"
)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cloudflare"
    sys_version = ""

    def version_string(self) -> str:
        return "cloudflare"

    def log_message(self, format: str, *args: Any) -> None:
        if getattr(self.server, "verbose", False):
            super().log_message(format, *args)

    # -- plumbing --

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _send_chunked(self, status: int, headers: dict[str, str], chunks: list[bytes]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in chunks:
            self.wfile.write(f"{len(chunk):X}\r\n".encode("ascii") + chunk + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _request_key(self, body: bytes) -> bytes:
        return _digest(self.command, urlsplit(self.path).path, body)

    def _anthropic_headers(self, key: bytes, content_type: str) -> dict[str, str]:
        reset = (datetime.now(timezone.utc) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "Content-Type": content_type,
            "request-id": "req_011C" + _base62(_digest(key, "request-id"), 20),
            "anthropic-organization-id": FAKE_ORGANIZATION_ID,
            "anthropic-ratelimit-requests-limit": "4000",
            "anthropic-ratelimit-requests-remaining": "3999",
            "anthropic-ratelimit-requests-reset": reset,
            "anthropic-ratelimit-input-tokens-limit": "2000000",
            "anthropic-ratelimit-input-tokens-remaining": "2000000",
            "anthropic-ratelimit-input-tokens-reset": reset,
            "anthropic-ratelimit-output-tokens-limit": "400000",
            "anthropic-ratelimit-output-tokens-remaining": "400000",
            "anthropic-ratelimit-output-tokens-reset": reset,
        }

    def _anthropic_error(self, key: bytes, error: ApiError, platform: str) -> None:
        request_id = "req_011C" + _base62(_digest(key, "request-id"), 20)
        body = {"type": "error", "error": {"type": error.error_type, "message": error.message}}
        headers: dict[str, str] = {"Content-Type": "application/json"}
        if platform == "anthropic":
            body["request_id"] = request_id
            headers.update({"request-id": request_id, "x-should-retry": "false"})
            if error.status not in (401,):
                headers["anthropic-organization-id"] = FAKE_ORGANIZATION_ID
        headers.update(error.headers)
        self._send(error.status, headers, _json_compact(body).encode("utf-8"))

    @staticmethod
    def _sse(events: list[dict[str, Any]]) -> list[bytes]:
        return [f"event: {event['type']}\ndata: {_json_compact(event)}\n\n".encode() for event in events]

    # -- routes --

    def do_POST(self) -> None:
        raw = self._read_body()
        key = self._request_key(raw)
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        beta = "beta=true" in parts.query.split("&")
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None

        if ANTHROPIC_MESSAGES.match(path) or ANTHROPIC_COUNT_TOKENS.match(path):
            self._anthropic(path, body, key, beta)
        elif match := BEDROCK_INVOKE.match(path):
            self._bedrock(match["model"], match["action"] == "invoke-with-response-stream", body, key)
        elif match := VERTEX_PREDICT.match(path):
            self._vertex(match["model"], match["action"], body, key)
        else:
            error = ApiError(404, "not_found_error", "Not found")
            self._anthropic_error(key, error, "anthropic")

    def do_GET(self) -> None:
        self._anthropic_error(b"get" + self.path.encode(), ApiError(404, "not_found_error", "Not found"), "anthropic")

    def _check_anthropic_request(self, body: object, beta: bool) -> str | None:
        api_key = self.headers.get("x-api-key")
        authorization = self.headers.get("authorization") or ""
        if not api_key and authorization.lower().startswith("bearer "):
            api_key = authorization[7:].strip()
        if not api_key:
            raise ApiError(401, "authentication_error", "x-api-key header is required")
        if "invalid" in api_key or not api_key.startswith("sk-ant-"):
            raise ApiError(401, "authentication_error", "invalid x-api-key")
        version = self.headers.get("anthropic-version")
        if not version:
            raise ApiError(400, "invalid_request_error", "anthropic-version: header is required")
        if version not in KNOWN_API_VERSIONS:
            raise ApiError(400, "invalid_request_error", f"anthropic-version: invalid version '{version}'")
        for name in (self.headers.get("anthropic-beta") or "").split(","):
            name = name.strip()
            if name and not re.fullmatch(r"[a-z0-9-]+-\d{4}-\d{2}-\d{2}", name):
                raise ApiError(
                    400,
                    "invalid_request_error",
                    f"Unexpected value(s) `{name}` for the `anthropic-beta` header. Please consult our "
                    "documentation at docs.claude.com or try again without the header.",
                )
        if not isinstance(body, dict):
            raise ApiError(400, "invalid_request_error", "There was an issue with your request body: invalid JSON")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise ApiError(400, "invalid_request_error", "model: Field required")
        if not model.startswith("claude-"):
            raise ApiError(404, "not_found_error", f"model: {model}")
        del beta
        return version

    def _anthropic(self, path: str, body: Any, key: bytes, beta: bool) -> None:
        try:
            version = self._check_anthropic_request(body, beta)
            if ANTHROPIC_COUNT_TOKENS.match(path):
                _, total, _ = _cache_segments(body)
                self._send(
                    200,
                    self._anthropic_headers(key, "application/json"),
                    _json_compact({"input_tokens": total}).encode(),
                )
                return
            model = body["model"]
            validate_messages_body(body, model=resolve_model(model), api_version=version, platform="anthropic")
            plan = plan_messages(body, model=model, platform="anthropic", beta=beta, request_key=key)
        except ApiError as error:
            self._anthropic_error(key, error, "anthropic")
            return
        if body.get("stream"):
            headers = {**self._anthropic_headers(key, "text/event-stream; charset=utf-8"), "Cache-Control": "no-cache"}
            self._send_chunked(200, headers, self._sse(plan.events()))
        else:
            self._send(200, self._anthropic_headers(key, "application/json"), _json_compact(plan.message()).encode())

    def _bedrock(self, model: str, stream: bool, body: Any, key: bytes) -> None:
        request_id = str(uuid.UUID(bytes=_digest(key, "amzn")[:16], version=4))
        authorization = self.headers.get("authorization") or ""
        if not (authorization.startswith("AWS4-HMAC-SHA256 Credential=") or authorization.startswith("Bearer ")):
            self._send(
                403,
                {
                    "Content-Type": "application/json",
                    "x-amzn-RequestId": request_id,
                    "x-amzn-ErrorType": "MissingAuthenticationTokenException:http://internal.amazon.com/coral/com.amazon.coral.service/",
                },
                b'{"message":"Missing Authentication Token"}',
            )
            return
        try:
            if not isinstance(body, dict):
                raise ApiError(
                    400, "ValidationException", "Malformed input request, please reformat your input and try again."
                )
            for extraneous in ("model", "stream"):
                if extraneous in body:
                    raise ApiError(
                        400,
                        "ValidationException",
                        f"Malformed input request: #: extraneous key [{extraneous}] is not permitted, please reformat "
                        "your input and try again.",
                    )
            if "anthropic_version" not in body:
                raise ApiError(
                    400,
                    "ValidationException",
                    "Malformed input request: #: required key [anthropic_version] not found, please reformat your "
                    "input and try again.",
                )
            validate_messages_body(body, model=resolve_model(model), api_version=None, platform="bedrock")
            plan = plan_messages(body, model=model, platform="bedrock", beta=False, request_key=key)
        except ApiError as error:
            self._send(
                error.status,
                {
                    "Content-Type": "application/json",
                    "x-amzn-RequestId": request_id,
                    "x-amzn-ErrorType": f"{error.error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/",
                },
                _json_compact({"message": error.message}).encode(),
            )
            return
        if not stream:
            message = plan.message()
            headers = {
                "Content-Type": "application/json",
                "x-amzn-RequestId": request_id,
                "X-Amzn-Bedrock-Invocation-Latency": "812",
                "X-Amzn-Bedrock-Output-Token-Count": str(plan.output_tokens),
                "X-Amzn-Bedrock-Input-Token-Count": str(plan.input_tokens),
            }
            if plan.cache_read_input_tokens or plan.cache_creation_input_tokens:
                headers["X-Amzn-Bedrock-Cache-Read-Input-Token-Count"] = str(plan.cache_read_input_tokens)
                headers["X-Amzn-Bedrock-Cache-Write-Input-Token-Count"] = str(plan.cache_creation_input_tokens)
            self._send(200, headers, _json_compact(message).encode())
            return
        events = [event for event in plan.events() if event["type"] != "ping"]  # Bedrock sends no pings
        events[-1] = {
            **events[-1],
            "amazon-bedrock-invocationMetrics": {
                "inputTokenCount": plan.input_tokens,
                "outputTokenCount": plan.output_tokens,
                "invocationLatency": 812,
                "firstByteLatency": 305,
            },
        }
        headers = {
            "Content-Type": "application/vnd.amazon.eventstream",
            "x-amzn-RequestId": request_id,
            "X-Amzn-Bedrock-Content-Type": "application/json",
        }
        self._send_chunked(200, headers, [bedrock_chunk(event, number) for number, event in enumerate(events)])

    def _vertex(self, model: str, action: str, body: Any, key: bytes) -> None:
        authorization = self.headers.get("authorization") or ""
        if not authorization.startswith("Bearer "):
            error = {
                "error": {
                    "code": 401,
                    "message": "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                    "login cookie or other valid authentication credential.",
                    "status": "UNAUTHENTICATED",
                }
            }
            self._send(401, {"Content-Type": "application/json; charset=UTF-8"}, _json_compact(error).encode())
            return
        try:
            if not isinstance(body, dict):
                raise ApiError(400, "invalid_request_error", "There was an issue with your request body: invalid JSON")
            if "model" in body:
                raise ApiError(400, "invalid_request_error", "model: Extra inputs are not permitted")
            if "anthropic_version" not in body:
                raise ApiError(400, "invalid_request_error", "anthropic_version: Field required")
            if model == "count-tokens":
                _, total, _ = _cache_segments(body)
                self._send(200, {"Content-Type": "application/json"}, _json_compact({"input_tokens": total}).encode())
                return
            validate_messages_body(body, model=resolve_model(model), api_version=None, platform="vertex")
            plan = plan_messages(body, model=model, platform="vertex", beta=False, request_key=key)
        except ApiError as error:
            self._anthropic_error(key, error, "vertex")
            return
        if action == "streamRawPredict" or body.get("stream"):
            headers = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
            self._send_chunked(200, headers, self._sse(plan.events()))
        else:
            self._send(200, {"Content-Type": "application/json"}, _json_compact(plan.message()).encode())


class FakeAnthropicServer:
    """The fake API on 127.0.0.1, on a free port, served from a daemon thread.

    A context manager: `__enter__` starts it and returns it, `__exit__` stops it. It also stops
    by itself after `lifetime` seconds, so a forgotten server does not outlive a test run.
    """

    def __init__(self, *, lifetime: float = 300.0, verbose: bool = False) -> None:
        self.lifetime = lifetime
        self.verbose = verbose
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None
        self._stopped = threading.Event()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the server is not running")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321``, with no trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeAnthropicServer:
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        httpd.daemon_threads = True
        httpd.verbose = self.verbose  # type: ignore[attr-defined]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-anthropic", daemon=True
        )
        self._thread.start()
        self._timer = threading.Timer(self.lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self._timer is not None and self._timer is not threading.current_thread():
            self._timer.cancel()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeAnthropicServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


if __name__ == "__main__":  # pragma: no cover - manual poking: python fake_anthropic_server.py
    with FakeAnthropicServer(lifetime=600, verbose=True) as fake:
        print(f"listening on {fake.url} for up to 10 minutes; Ctrl-C to stop", flush=True)
        try:
            while not fake._stopped.wait(0.5):
                time.sleep(0)
        except KeyboardInterrupt:
            pass
