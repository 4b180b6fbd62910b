"""A local stand-in for api.openai.com, used only to record the OpenAI cassettes.

It answers the way the public OpenAI REST API documents it (status codes, headers,
JSON bodies, server-sent-event streams), plus two vendor variants that the SDK is
often pointed at:

* Azure OpenAI: ``/openai/deployments/{deployment}/...?api-version=...`` with an
  ``api-key`` header; answers carry ``prompt_filter_results`` and per-choice
  ``content_filter_results``.
* an OpenAI-compatible open-weights server (vLLM style) under ``/v1``, picked when the
  requested model looks like one (``llama-*``, ``mistral-*``, ``qwen*``, ...).

Everything the server does is decided by the request itself (path, query, body
fields such as ``stream``, ``n``, ``tools``, ``response_format``, ``stream_options``,
the model name, the API key) and never by state kept between requests:

* an API key containing ``invalid`` gets a 401 ``invalid_api_key`` error;
* the test-only header ``X-Fake-OpenAI-Behavior`` forces a failure that cannot be
  provoked otherwise: ``rate_limit`` (429 with ``retry-after: 0``), ``server_error``
  (500) or ``stream_error`` (a streamed answer that breaks off with an SSE
  ``data: {"error": ...}`` event). The recorder removes that header from cassettes;
* with tools offered (and ``tool_choice`` not ``"none"``) and the last message not a
  tool result, the model calls the offered function tools: one call per tool, or
  only the first one when ``parallel_tool_calls`` is false;
* prompt caching is deterministic: a prompt of 1024 tokens or more that carries a
  ``prompt_cache_key`` is reported as cached (in blocks of 128 tokens).

Token counts come from a crude word-and-punctuation tokenizer; a streamed answer
sends one chunk per such token, so ``usage.completion_tokens`` equals the number of
content chunks.

Stdlib only. Usage::

    with FakeOpenAIServer() as server:
        client = OpenAI(api_key="sk-test-0000", base_url=server.openai_base_url)
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
import re
import string
import struct
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["BEHAVIOR_HEADER", "FakeOpenAIServer"]

BEHAVIOR_HEADER = "X-Fake-OpenAI-Behavior"

# Requested model -> the dated snapshot the API answers with.
MODEL_SNAPSHOTS = {
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4o": "gpt-4o-2024-08-06",
    "chatgpt-4o-latest": "chatgpt-4o-latest",
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
    "o1": "o1-2024-12-17",
    "o3": "o3-2025-04-16",
    "o3-mini": "o3-mini-2025-01-31",
    "o4-mini": "o4-mini-2025-04-16",
    "gpt-5": "gpt-5-2025-08-07",
    "gpt-5-mini": "gpt-5-mini-2025-08-07",
    "gpt-5-nano": "gpt-5-nano-2025-08-07",
    "gpt-3.5-turbo": "gpt-3.5-turbo-0125",
    "gpt-3.5-turbo-instruct": "gpt-3.5-turbo-instruct:20230824-v2",
}
FINGERPRINTS = {
    "gpt-4o-mini-2024-07-18": "fp_560af6e559",
    "gpt-4o-2024-08-06": "fp_07871e2ad8",
    "gpt-4o-2024-11-20": "fp_ee1d74bde0",
    "gpt-4.1-2025-04-14": "fp_b3f1157249",
    "gpt-4.1-mini-2025-04-14": "fp_6f2eabb9a5",
    "o4-mini-2025-04-16": "fp_3d4c4f9a0b",
    "o3-mini-2025-01-31": "fp_42bfad963b",
}
EMBEDDING_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
COMPLETION_MODELS = ("gpt-3.5-turbo-instruct", "davinci-002", "babbage-002")
CHAT_MODEL_PREFIXES = ("gpt-", "o1", "o3", "o4", "chatgpt-", "ft:gpt-")
COMPAT_MODEL_RE = re.compile(
    r"^(meta-llama/|llama|mistral|mixtral|qwen|gemma|phi-|deepseek|codellama)", re.I
)
REASONING_MODEL_RE = re.compile(r"^(o\d|gpt-5)")
REASONING_EFFORT_TOKENS = {"minimal": 0, "low": 64, "medium": 192, "high": 512}

# The canned "knowledge" of the fake model: a pattern looked up in the last user
# message, the answers (one per choice index, cycled) and a JSON-mode answer.
KNOWLEDGE: list[tuple[re.Pattern[str], list[str], dict[str, Any]]] = [
    (
        re.compile(r"capital of france", re.I),
        [
            "The capital of France is Paris.",
            "Paris is the capital of France.",
            "France's capital city is Paris.",
        ],
        {"country": "France", "capital": "Paris"},
    ),
    (
        re.compile(r"count (from )?1 to 10|count to ten", re.I),
        ["1, 2, 3, 4, 5, 6, 7, 8, 9, 10"],
        {"numbers": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]},
    ),
    (
        re.compile(r"haiku", re.I),
        [
            "Silver waves retreat,\nmoonlight folds into the foam,\nthe tide keeps its time.",
            "Salt wind on the pier,\ngulls stitch the grey morning sky,\nboats nod to the swell.",
        ],
        {"haiku": "Silver waves retreat, moonlight folds into the foam, the tide keeps its time."},
    ),
    (
        re.compile(r"\bjoke\b", re.I),
        ["Why did the developer go broke? Because they used up all their cache."],
        {"setup": "Why did the developer go broke?", "punchline": "They used up all their cache."},
    ),
    (
        re.compile(r"\b(hello|hi|hey)\b", re.I),
        ["Hello! How can I help you today?", "Hi there! What can I do for you?"],
        {"greeting": "Hello! How can I help you today?"},
    ),
]
IMAGE_ANSWERS = [
    "The image shows a small square filled with a single solid color, with no text, "
    "people or other objects in it.",
    "It is a tiny, plain image: one uniformly colored square and nothing else.",
]
DEFAULT_ANSWERS = [
    "I don't have specific information about that, but I'm happy to help if you "
    "share a few more details.",
    "Could you tell me a bit more about what you need? Then I can give you a precise answer.",
]

# Example values used when the fake model has to fill a JSON schema (structured
# outputs, function-call arguments), by property name.
EXAMPLE_VALUES: dict[str, Any] = {
    "location": "Paris, France",
    "city": "Paris",
    "country": "France",
    "capital": "Paris",
    "timezone": "Europe/Paris",
    "unit": "celsius",
    "name": "Science Fair",
    "event": "Science Fair",
    "title": "Science Fair",
    "date": "Friday",
    "day": "Friday",
    "participants": ["Alice", "Bob"],
    "attendees": ["Alice", "Bob"],
    "people": ["Alice", "Bob"],
    "query": "weather in Paris",
    "population": 2102650,
    "age": 42,
    "year": 2024,
    "temperature": 18.5,
    "answer": "Paris",
    "reasoning": "Paris has been the capital of France since 987.",
    "explanation": "Paris has been the capital of France since 987.",
    "summary": "Paris is the capital and largest city of France.",
    "language": "French",
    "currency": "EUR",
    "email": "alice@example.com",
}

FAKE_ORGANIZATION = "org-fake000000000000000000000"
FAKE_PROJECT = "proj_fake000000000000000000000"

_TOKEN_RE = re.compile(r"\s*(?:\w+[^\w\s]*|[^\w\s]+)")


def tokenize(text: str) -> list[str]:
    """Split text into token-like pieces whose concatenation gives back the (stripped) text."""
    return _TOKEN_RE.findall(text.strip())


def count_tokens(text: str) -> int:
    return len(tokenize(text))


def model_snapshot(model: str) -> str:
    """The dated snapshot name the API reports for a requested model alias."""
    if model in MODEL_SNAPSHOTS:
        return MODEL_SNAPSHOTS[model]
    return model


def fingerprint(snapshot: str) -> str:
    if snapshot in FINGERPRINTS:
        return FINGERPRINTS[snapshot]
    return "fp_" + hashlib.sha256(snapshot.encode()).hexdigest()[:10]


def is_reasoning_model(model: str) -> bool:
    return bool(REASONING_MODEL_RE.match(model))


def mask_key(key: str) -> str:
    """Mask an API key the way the API echoes it in a 401 message."""
    if len(key) <= 8:
        return "*" * len(key)
    prefix = key[: key.find("-", 3) + 1] if key.startswith("sk-") and key.find("-", 3) > 0 else key[:3]
    return prefix + "*" * max(len(key) - len(prefix) - 4, 4) + key[-4:]


class ApiError(Exception):
    """An error answer: status code plus the documented ``{"error": {...}}`` body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str | None = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: list[tuple[str, str]] | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = body or {"error": {"message": message, "type": type, "param": param, "code": code}}
        self.headers = headers or []


@dataclass
class JsonAnswer:
    status: int
    payload: Any
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class SseAnswer:
    events: list[str]
    headers: list[tuple[str, str]] = field(default_factory=list)
    status: int = 200


def sse_data(obj: Any) -> str:
    return "data: " + json.dumps(obj, separators=(",", ":"), ensure_ascii=False) + "\n\n"


def sse_event(name: str, obj: Any) -> str:
    return f"event: {name}\n" + sse_data(obj)


SSE_DONE = "data: [DONE]\n\n"


@dataclass
class Request:
    """One parsed HTTP request and everything derived from it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    raw_body: bytes
    body: Any
    flavor: str  # "openai" | "azure" | "compat"
    rng: random.Random
    created: int
    deployment: str | None = None
    _request_id: str | None = None

    @property
    def behavior(self) -> str:
        return self.headers.get(BEHAVIOR_HEADER.lower(), "").strip().lower()

    def rand_id(self, prefix: str, length: int, alphabet: str = string.ascii_letters + string.digits) -> str:
        return prefix + "".join(self.rng.choice(alphabet) for _ in range(length))

    def hex_id(self, prefix: str, length: int) -> str:
        return self.rand_id(prefix, length, "0123456789abcdef")

    def item_id(self, prefix: str) -> str:
        # Responses API ids: creation time in hex followed by random hex.
        return f"{prefix}{self.created:08x}" + "".join(self.rng.choice("0123456789abcdef") for _ in range(42))

    @property
    def request_id(self) -> str:
        """This request's id (one per request, whatever answer it gets)."""
        if self._request_id is None:
            if self.flavor == "azure":
                self._request_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
            else:
                self._request_id = self.hex_id("req_", 32)
        return self._request_id

    def obfuscation(self) -> str:
        return self.rand_id("", self.rng.randint(2, 14))


# --------------------------------------------------------------------------------------
# Response headers
# --------------------------------------------------------------------------------------


def openai_headers(req: Request, *, content_type: str, processing_ms: int, tokens: int = 0,
                   extra: Iterable[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    cookie_value = req.hex_id("", 43)
    expires = formatdate(req.created + 1800, usegmt=True)
    headers = [
        ("Content-Type", content_type),
        ("access-control-expose-headers", "X-Request-ID"),
        ("openai-organization", FAKE_ORGANIZATION),
        ("openai-processing-ms", str(processing_ms)),
        ("openai-project", FAKE_PROJECT),
        ("openai-version", "2020-10-01"),
        ("x-envoy-upstream-service-time", str(processing_ms + 4)),
        ("x-ratelimit-limit-requests", "30000"),
        ("x-ratelimit-limit-tokens", "150000000"),
        ("x-ratelimit-remaining-requests", "29999"),
        ("x-ratelimit-remaining-tokens", str(150000000 - tokens)),
        ("x-ratelimit-reset-requests", "2ms"),
        ("x-ratelimit-reset-tokens", "0s"),
        ("x-request-id", req.request_id),
        ("strict-transport-security", "max-age=31536000; includeSubDomains; preload"),
        ("cf-cache-status", "DYNAMIC"),
        (
            "set-cookie",
            f"__cf_bm={cookie_value}-{req.created}-1.0.1.1-fake; path=/; expires={expires}; "
            "domain=.api.openai.com; HttpOnly; Secure; SameSite=None",
        ),
        (
            "set-cookie",
            f"_cfuvid={req.hex_id('', 40)}-{req.created}000-0.0.1.1-604800000; path=/; "
            "domain=.api.openai.com; HttpOnly; Secure; SameSite=None",
        ),
        ("x-content-type-options", "nosniff"),
        ("cf-ray", req.hex_id("", 16) + "-SJC"),
        ("alt-svc", 'h3=":443"; ma=86400'),
    ]
    headers[1:1] = list(extra)
    return headers


def azure_headers(req: Request, *, content_type: str, processing_ms: int, tokens: int = 0) -> list[tuple[str, str]]:
    request_id = req.request_id
    return [
        ("Content-Type", content_type),
        ("apim-request-id", request_id),
        ("strict-transport-security", "max-age=31536000; includeSubDomains; preload"),
        ("x-content-type-options", "nosniff"),
        ("x-ms-region", "East US"),
        ("x-ratelimit-remaining-requests", "449"),
        ("x-ratelimit-limit-requests", "450"),
        ("x-ratelimit-remaining-tokens", str(450000 - tokens)),
        ("x-ratelimit-limit-tokens", "450000"),
        ("x-accel-buffering", "no"),
        ("x-ms-rai-invoked", "true"),
        ("x-request-id", request_id),
        ("x-ms-deployment-name", req.deployment or ""),
        ("azureml-model-session", "d105-20250306163525"),
        ("x-ms-client-request-id", "Not-Set"),
        ("ms-azureml-model-time", str(processing_ms)),
    ]


def compat_headers(req: Request, *, content_type: str) -> list[tuple[str, str]]:
    return [("content-type", content_type)]


def answer_headers(req: Request, *, stream: bool, processing_ms: int, tokens: int = 0,
                   extra: Iterable[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    content_type = "text/event-stream; charset=utf-8" if stream else "application/json"
    if req.flavor == "azure":
        return azure_headers(req, content_type=content_type, processing_ms=processing_ms, tokens=tokens)
    if req.flavor == "compat":
        return compat_headers(req, content_type=content_type)
    return openai_headers(req, content_type=content_type, processing_ms=processing_ms, tokens=tokens, extra=extra)


def error_headers(req: Request) -> list[tuple[str, str]]:
    return answer_headers(req, stream=False, processing_ms=req.rng.randint(5, 40))


# --------------------------------------------------------------------------------------
# The fake model
# --------------------------------------------------------------------------------------


def content_text(content: Any) -> str:
    """Text of a message content: a string or a list of typed parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts = []
    for part in content:
        if isinstance(part, dict) and part.get("type") in ("text", "input_text", "output_text"):
            texts.append(part.get("text", ""))
        elif isinstance(part, str):
            texts.append(part)
    return "\n".join(texts)


def content_images(content: Any) -> list[dict[str, Any]]:
    if not isinstance(content, list):
        return []
    return [p for p in content if isinstance(p, dict) and p.get("type") in ("image_url", "input_image")]


def image_tokens(model: str, detail: str) -> int:
    # Tiny images fit one 512px tile; gpt-4o-mini bills images at a much higher rate.
    base, tile = (2833, 5667) if model.startswith("gpt-4o-mini") else (85, 170)
    return base if detail == "low" else base + tile


def knowledge_answer(prompt: str, index: int, *, has_image: bool) -> str:
    if has_image:
        return IMAGE_ANSWERS[index % len(IMAGE_ANSWERS)]
    for pattern, answers, _ in KNOWLEDGE:
        if pattern.search(prompt):
            return answers[index % len(answers)]
    return DEFAULT_ANSWERS[index % len(DEFAULT_ANSWERS)]


def knowledge_json(prompt: str) -> dict[str, Any]:
    for pattern, _answers, as_json in KNOWLEDGE:
        if pattern.search(prompt):
            return as_json
    return {"answer": DEFAULT_ANSWERS[0]}


def example_from_schema(schema: Any, name: str | None = None, defs: dict[str, Any] | None = None) -> Any:
    """A plausible instance of a JSON schema (as a model with structured outputs would write)."""
    if not isinstance(schema, dict):
        return None
    defs = {**(defs or {}), **schema.get("$defs", {}), **schema.get("definitions", {})}
    if "$ref" in schema:
        ref = schema["$ref"].split("/")[-1]
        return example_from_schema(defs.get(ref, {}), name, defs)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return example_from_schema(options[0], name, defs)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        return {prop: example_from_schema(sub, prop, defs) for prop, sub in schema.get("properties", {}).items()}
    known = EXAMPLE_VALUES.get((name or "").lower())
    if kind == "array":
        if isinstance(known, list):
            return known
        return [example_from_schema(schema.get("items", {}), None, defs)]
    if kind == "string":
        return known if isinstance(known, str) else f"example {name or 'text'}"
    if kind == "integer":
        return known if isinstance(known, int) and not isinstance(known, bool) else 3
    if kind == "number":
        return known if isinstance(known, (int, float)) and not isinstance(known, bool) else 1.5
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return known if known is not None else f"example {name or 'value'}"


def json_dumps_compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


@dataclass
class ToolCall:
    name: str
    arguments: str


@dataclass
class Completion:
    """What the fake model produced for one choice."""

    text: str | None
    tool_calls: list[ToolCall]
    finish_reason: str
    completion_tokens: int
    reasoning_tokens: int = 0


def apply_limits(text: str, *, stop: Any, max_tokens: int | None) -> tuple[str, str, int]:
    """Apply stop sequences and a token budget: (text, finish_reason, tokens)."""
    finish = "stop"
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    for seq in stops:
        if seq and seq in text:
            text = text[: text.index(seq)]
    pieces = tokenize(text)
    if max_tokens is not None and len(pieces) > max_tokens:
        pieces = pieces[:max_tokens]
        finish = "length"
    return "".join(pieces), finish, len(pieces)


def function_tools(tools: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Function tools in Chat Completions ({type, function: {...}}) or Responses ({type, name, ...}) shape."""
    result = []
    for tool in tools or []:
        if tool.get("type") != "function":
            continue
        fn = tool.get("function", tool)
        result.append({"name": fn["name"], "parameters": fn.get("parameters") or {}})
    return result


def choose_tool_calls(tools: list[dict[str, Any]], tool_choice: Any, parallel: Any) -> list[ToolCall]:
    fns = function_tools(tools)
    if not fns or tool_choice == "none":
        return []
    if isinstance(tool_choice, dict):
        wanted = tool_choice.get("function", tool_choice).get("name")
        fns = [f for f in fns if f["name"] == wanted] or fns[:1]
    if parallel is False:
        fns = fns[:1]
    return [
        ToolCall(name=f["name"], arguments=json_dumps_compact(example_from_schema(f["parameters"])))
        for f in fns
    ]


def tool_summary(results: list[tuple[str, str]]) -> str:
    parts = [f"{name} returned {output}" for name, output in results]
    return "Here is what I found: " + "; ".join(parts) + "."


# --------------------------------------------------------------------------------------
# Chat Completions
# --------------------------------------------------------------------------------------


def chat_prompt_tokens(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, model: str) -> int:
    total = 3
    for message in messages:
        total += 4 + count_tokens(content_text(message.get("content")))
        for image in content_images(message.get("content")):
            detail = (image.get("image_url") or {}).get("detail", "auto") if isinstance(image.get("image_url"), dict) else "auto"
            total += image_tokens(model, detail)
        for call in message.get("tool_calls") or []:
            fn = call.get("function", {})
            total += 3 + count_tokens(fn.get("name", "")) + count_tokens(fn.get("arguments", ""))
    if tools:
        total += 12 + len(re.findall(r"\w+", json.dumps(tools)))
    return total


def cached_tokens(body: dict[str, Any], prompt_tokens: int) -> int:
    if body.get("prompt_cache_key") and prompt_tokens >= 1024:
        return 1024 + ((prompt_tokens - 1024) // 128) * 128
    return 0


def validate_chat(req: Request, body: dict[str, Any]) -> None:
    if not body.get("model"):
        raise ApiError(400, "you must provide a model parameter", param=None)
    if "messages" not in body:
        raise ApiError(400, "Missing required parameter: 'messages'.", param="messages", code="missing_required_parameter")
    if not isinstance(body["messages"], list) or not body["messages"]:
        raise ApiError(400, "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
                       param="messages", code="empty_array")
    model = body["model"]
    if req.flavor == "openai":
        if model.startswith(COMPLETION_MODELS):
            raise ApiError(404, "This is not a chat model and thus not supported in the v1/chat/completions endpoint. "
                                "Did you mean to use v1/completions?", code=None, param="model")
        if not model.startswith(CHAT_MODEL_PREFIXES):
            raise ApiError(404, f"The model `{model}` does not exist or you do not have access to it.",
                           code="model_not_found", param=None)
        if is_reasoning_model(model) and body.get("temperature") not in (None, 1, 1.0):
            raise ApiError(400, f"Unsupported value: 'temperature' does not support {body['temperature']} with this model. "
                                "Only the default (1) value is supported.", param="temperature", code="unsupported_value")
    rf = body.get("response_format") or {}
    if rf.get("type") == "json_object":
        joined = " ".join(content_text(m.get("content")) for m in body["messages"])
        if "json" not in joined.lower():
            raise ApiError(400, "'messages' must contain the word 'json' in some form, to use 'response_format' of type "
                                "'json_object'.", param="messages", code=None)
    if rf.get("type") == "json_schema" and "schema" not in (rf.get("json_schema") or {}):
        raise ApiError(400, "Missing required parameter: 'response_format.json_schema.schema'.",
                       param="response_format.json_schema.schema", code="missing_required_parameter")
    n = body.get("n") or 1
    if not isinstance(n, int) or n < 1 or n > 128:
        raise ApiError(400, f"Invalid 'n': integer above maximum value. Expected a value <= 128, but got {n} instead.",
                       param="n", code="integer_above_max_value")
    if body.get("stream_options") is not None and not body.get("stream"):
        raise ApiError(400, "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                       param="stream_options", code=None)


def run_chat_model(body: dict[str, Any], model: str, index: int) -> Completion:
    messages = body["messages"]
    last = messages[-1]
    tools = body.get("tools")
    tool_choice = body.get("tool_choice", "auto" if tools else "none")
    reasoning = REASONING_EFFORT_TOKENS.get(body.get("reasoning_effort") or "medium", 192) if is_reasoning_model(model) else 0
    budget = body.get("max_completion_tokens") or body.get("max_tokens")
    if last.get("role") != "tool":
        calls = choose_tool_calls(tools, tool_choice, body.get("parallel_tool_calls"))
        if calls:
            tokens = sum(3 + count_tokens(c.name) + count_tokens(c.arguments) for c in calls)
            return Completion(None, calls, "tool_calls", tokens + reasoning, reasoning)
    if last.get("role") == "tool":
        names = {
            call.get("id"): call.get("function", {}).get("name", "tool")
            for m in messages if m.get("role") == "assistant" for call in (m.get("tool_calls") or [])
        }
        results = []
        for m in reversed(messages):
            if m.get("role") != "tool":
                break
            results.insert(0, (names.get(m.get("tool_call_id"), "the tool"), content_text(m.get("content"))))
        text = tool_summary(results)
    else:
        user_messages = [m for m in messages if m.get("role") == "user"]
        prompt = content_text(user_messages[-1].get("content")) if user_messages else ""
        has_image = bool(user_messages and content_images(user_messages[-1].get("content")))
        rf = body.get("response_format") or {}
        if rf.get("type") == "json_schema":
            text = json_dumps_compact(example_from_schema(rf["json_schema"]["schema"]))
        elif rf.get("type") == "json_object":
            text = json.dumps(knowledge_json(prompt), indent=2, ensure_ascii=False)
        else:
            text = knowledge_answer(prompt, index, has_image=has_image)
    if budget is not None:
        budget = max(budget - reasoning, 0)
    text, finish, tokens = apply_limits(text, stop=body.get("stop"), max_tokens=budget)
    return Completion(text, [], finish, tokens + reasoning, reasoning)


def chat_usage(prompt_tokens: int, completions: list[Completion], cached: int, flavor: str) -> dict[str, Any]:
    completion_tokens = sum(c.completion_tokens for c in completions)
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    if flavor == "compat":
        usage["prompt_tokens_details"] = None
        return usage
    usage["prompt_tokens_details"] = {"cached_tokens": cached, "audio_tokens": 0}
    usage["completion_tokens_details"] = {
        "reasoning_tokens": sum(c.reasoning_tokens for c in completions),
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    }
    return usage


def logprobs_for(text: str, rng: random.Random, top: int) -> dict[str, Any]:
    content = []
    for piece in tokenize(text):
        entry = {"token": piece, "logprob": -round(rng.random() * 0.3, 6), "bytes": list(piece.encode()), "top_logprobs": []}
        entry["top_logprobs"] = [
            {"token": piece if i == 0 else piece.strip() + "s", "logprob": entry["logprob"] - i * 1.7,
             "bytes": list((piece if i == 0 else piece.strip() + "s").encode())}
            for i in range(top)
        ]
        content.append(entry)
    return {"content": content, "refusal": None}


AZURE_FILTER = {
    "hate": {"filtered": False, "severity": "safe"},
    "self_harm": {"filtered": False, "severity": "safe"},
    "sexual": {"filtered": False, "severity": "safe"},
    "violence": {"filtered": False, "severity": "safe"},
}


def azure_prompt_filter_results() -> list[dict[str, Any]]:
    return [{"prompt_index": 0, "content_filter_results": {**AZURE_FILTER, "jailbreak": {"filtered": False, "detected": False}}}]


def azure_choice_filter_results() -> dict[str, Any]:
    return {
        **AZURE_FILTER,
        "protected_material_code": {"filtered": False, "detected": False},
        "protected_material_text": {"filtered": False, "detected": False},
    }


def tool_call_json(req: Request, call: ToolCall) -> dict[str, Any]:
    call_id = req.hex_id("chatcmpl-tool-", 32) if req.flavor == "compat" else req.rand_id("call_", 24)
    return {"id": call_id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def handle_chat(req: Request) -> JsonAnswer | SseAnswer:
    body = req.body
    validate_chat(req, body)
    requested = body["model"]
    if req.flavor == "azure":
        dep = (req.deployment or "").lower()
        snapshot = "gpt-4o-mini-2024-07-18" if "mini" in dep else "gpt-4o-2024-11-20"
    elif req.flavor == "compat":
        snapshot = requested
    else:
        snapshot = model_snapshot(requested)
    n = body.get("n") or 1
    completions = [run_chat_model(body, requested, i) for i in range(n)]
    prompt_tokens = chat_prompt_tokens(body["messages"], body.get("tools"), requested)
    cached = cached_tokens(body, prompt_tokens)
    usage = chat_usage(prompt_tokens, completions, cached, req.flavor)
    completion_id = req.hex_id("chatcmpl-", 32) if req.flavor == "compat" else req.rand_id("chatcmpl-", 29)
    tool_call_objs = [[tool_call_json(req, c) for c in comp.tool_calls] for comp in completions]
    processing_ms = 180 + 9 * usage["completion_tokens"] + req.rng.randint(0, 120)
    service_tier = body.get("service_tier") if body.get("service_tier") in ("flex", "priority", "scale") else "default"
    top = body.get("top_logprobs") or 0

    if body.get("stream"):
        return chat_stream(req, body, completions, tool_call_objs, usage, completion_id, snapshot, service_tier, top)

    choices = []
    for i, comp in enumerate(completions):
        message: dict[str, Any]
        if req.flavor == "compat":
            message = {"role": "assistant", "reasoning_content": None, "content": comp.text, "tool_calls": tool_call_objs[i]}
        else:
            message = {"role": "assistant", "content": comp.text, "refusal": None, "annotations": []}
            if comp.tool_calls:
                message["tool_calls"] = tool_call_objs[i]
        choice: dict[str, Any] = {
            "index": i,
            "message": message,
            "logprobs": logprobs_for(comp.text or "", req.rng, top) if body.get("logprobs") else None,
            "finish_reason": comp.finish_reason,
        }
        if req.flavor == "compat":
            choice["stop_reason"] = None
        if req.flavor == "azure":
            choice = {"content_filter_results": azure_choice_filter_results(), **choice}
        choices.append(choice)

    payload: dict[str, Any]
    if req.flavor == "compat":
        payload = {
            "id": completion_id, "object": "chat.completion", "created": req.created, "model": snapshot,
            "choices": choices, "usage": usage, "prompt_logprobs": None, "kv_transfer_params": None,
        }
    elif req.flavor == "azure":
        payload = {
            "choices": choices, "created": req.created, "id": completion_id, "model": snapshot,
            "object": "chat.completion", "prompt_filter_results": azure_prompt_filter_results(),
            "system_fingerprint": fingerprint(snapshot), "usage": usage,
        }
    else:
        payload = {
            "id": completion_id, "object": "chat.completion", "created": req.created, "model": snapshot,
            "choices": choices, "usage": usage, "service_tier": service_tier,
            "system_fingerprint": fingerprint(snapshot),
        }
    headers = answer_headers(req, stream=False, processing_ms=processing_ms, tokens=usage["total_tokens"])
    return JsonAnswer(200, payload, headers)


def split_arguments(arguments: str, parts: int = 5) -> list[str]:
    size = max(1, math.ceil(len(arguments) / parts))
    return [arguments[i : i + size] for i in range(0, len(arguments), size)]


def chat_stream(req: Request, body: dict[str, Any], completions: list[Completion], tool_call_objs: list[list[dict[str, Any]]],
                usage: dict[str, Any], completion_id: str, snapshot: str, service_tier: str, top: int) -> SseAnswer:
    stream_options = body.get("stream_options") or {}
    include_usage = bool(stream_options.get("include_usage"))
    obfuscate = req.flavor == "openai" and stream_options.get("include_obfuscation", True) is not False

    def chunk(choices: list[dict[str, Any]], *, final_usage: dict[str, Any] | None = None) -> dict[str, Any]:
        obj: dict[str, Any]
        if req.flavor == "azure":
            obj = {"choices": choices, "created": req.created, "id": completion_id, "model": snapshot,
                   "object": "chat.completion.chunk", "system_fingerprint": fingerprint(snapshot)}
        elif req.flavor == "compat":
            obj = {"id": completion_id, "object": "chat.completion.chunk", "created": req.created,
                   "model": snapshot, "choices": choices}
        else:
            obj = {"id": completion_id, "object": "chat.completion.chunk", "created": req.created, "model": snapshot,
                   "service_tier": service_tier, "system_fingerprint": fingerprint(snapshot), "choices": choices}
        if include_usage:
            obj["usage"] = final_usage
        if obfuscate:
            obj["obfuscation"] = req.obfuscation()
        return obj

    def choice(index: int, delta: dict[str, Any], finish: str | None = None, logprobs: Any = None) -> dict[str, Any]:
        c: dict[str, Any] = {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}
        if req.flavor == "compat" and finish is not None:
            c["stop_reason"] = None
        if req.flavor == "azure" and (delta.get("content") or finish):
            c = {"content_filter_results": azure_choice_filter_results() if delta.get("content") else {}, **c}
        return c

    events: list[str] = []
    if req.flavor == "azure":
        # Azure announces the prompt filter verdict in a first chunk that is not a chat.completion.chunk.
        events.append(sse_data({"choices": [], "created": 0, "id": "", "model": "", "object": "",
                                "prompt_filter_results": azure_prompt_filter_results()}))
    break_after = 3 if req.behavior == "stream_error" else None
    sent_content = 0
    for index, comp in enumerate(completions):
        if comp.tool_calls:
            first = {"role": "assistant", "content": None}
            if req.flavor == "openai":
                first["refusal"] = None
            for t_index, call in enumerate(tool_call_objs[index]):
                head = {"index": t_index, "id": call["id"], "type": "function",
                        "function": {"name": call["function"]["name"], "arguments": ""}}
                delta = {**first, "tool_calls": [head]} if t_index == 0 else {"tool_calls": [head]}
                events.append(sse_data(chunk([choice(index, delta)])))
                for piece in split_arguments(call["function"]["arguments"]):
                    events.append(sse_data(chunk([choice(index, {"tool_calls": [{"index": t_index, "function": {"arguments": piece}}]})])))
        else:
            first = {"role": "assistant", "content": ""}
            if req.flavor == "openai":
                first["refusal"] = None
            events.append(sse_data(chunk([choice(index, first, logprobs={"content": [], "refusal": None} if body.get("logprobs") else None)])))
            for piece in tokenize(comp.text or ""):
                if break_after is not None and sent_content >= break_after:
                    events.append(sse_data({"error": {
                        "message": "The server had an error while processing your request. Sorry about that!",
                        "type": "server_error", "param": None, "code": None}}))
                    return SseAnswer(events, answer_headers(req, stream=True, processing_ms=req.rng.randint(150, 400)))
                lp = logprobs_for(piece, req.rng, top) if body.get("logprobs") else None
                events.append(sse_data(chunk([choice(index, {"content": piece}, logprobs=lp)])))
                sent_content += 1
        events.append(sse_data(chunk([choice(index, {}, comp.finish_reason)])))
    if include_usage:
        events.append(sse_data(chunk([], final_usage=usage)))
    events.append(SSE_DONE)
    return SseAnswer(events, answer_headers(req, stream=True, processing_ms=req.rng.randint(150, 400),
                                            tokens=usage["total_tokens"]))


# --------------------------------------------------------------------------------------
# Legacy Completions
# --------------------------------------------------------------------------------------


def handle_completions(req: Request) -> JsonAnswer | SseAnswer:
    body = req.body
    model = body.get("model")
    if not model:
        raise ApiError(400, "you must provide a model parameter")
    if "prompt" not in body:
        raise ApiError(400, "Missing required parameter: 'prompt'.", param="prompt", code="missing_required_parameter")
    if req.flavor == "openai" and not model.startswith(COMPLETION_MODELS):
        if model.startswith(CHAT_MODEL_PREFIXES):
            raise ApiError(404, "This is a chat model and not supported in the v1/completions endpoint. "
                                "Did you mean to use v1/chat/completions?", param="model")
        raise ApiError(404, f"The model `{model}` does not exist or you do not have access to it.", code="model_not_found")
    prompts = body["prompt"] if isinstance(body["prompt"], list) and all(isinstance(p, str) for p in body["prompt"]) else [body["prompt"]]
    n = body.get("n") or 1
    snapshot = model_snapshot(model) if req.flavor == "openai" else model
    completion_id = req.rand_id("cmpl-", 29)
    max_tokens = body.get("max_tokens", 16)  # the documented default of the legacy endpoint
    choices = []
    prompt_tokens = 0
    for p_index, prompt in enumerate(prompts):
        prompt_text = prompt if isinstance(prompt, str) else " ".join(str(t) for t in prompt)
        prompt_tokens += count_tokens(prompt_text)
        for i in range(n):
            answer = "\n\n" + knowledge_answer(prompt_text, i, has_image=False)
            text, finish, tokens = apply_limits(answer, stop=body.get("stop"), max_tokens=max_tokens)
            if answer.startswith("\n\n"):
                text = "\n\n" + text
            choices.append({"text": text, "index": p_index * n + i, "logprobs": None, "finish_reason": finish, "_tokens": tokens})
    completion_tokens = sum(c.pop("_tokens") for c in choices)
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens}
    processing_ms = 120 + 7 * completion_tokens + req.rng.randint(0, 80)
    if body.get("stream"):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        events = []
        for c in choices:
            pieces = tokenize(c["text"])
            if c["text"].startswith("\n\n") and pieces:
                pieces[0] = "\n\n" + pieces[0].lstrip()
            for piece in pieces:
                obj = {"id": completion_id, "object": "text_completion", "created": req.created,
                       "choices": [{"text": piece, "index": c["index"], "logprobs": None, "finish_reason": None}], "model": snapshot}
                if include_usage:
                    obj["usage"] = None
                events.append(sse_data(obj))
            obj = {"id": completion_id, "object": "text_completion", "created": req.created,
                   "choices": [{"text": "", "index": c["index"], "logprobs": None, "finish_reason": c["finish_reason"]}], "model": snapshot}
            if include_usage:
                obj["usage"] = None
            events.append(sse_data(obj))
        if include_usage:
            events.append(sse_data({"id": completion_id, "object": "text_completion", "created": req.created,
                                    "choices": [], "model": snapshot, "usage": usage}))
        events.append(SSE_DONE)
        return SseAnswer(events, answer_headers(req, stream=True, processing_ms=req.rng.randint(80, 200),
                                                extra=[("openai-model", snapshot)]))
    payload = {"id": completion_id, "object": "text_completion", "created": req.created, "model": snapshot,
               "choices": choices, "usage": usage}
    return JsonAnswer(200, payload, answer_headers(req, stream=False, processing_ms=processing_ms, tokens=usage["total_tokens"],
                                                   extra=[("openai-model", snapshot)]))


# --------------------------------------------------------------------------------------
# Embeddings
# --------------------------------------------------------------------------------------


def handle_embeddings(req: Request) -> JsonAnswer:
    body = req.body
    model = body.get("model")
    if not model:
        raise ApiError(400, "you must provide a model parameter")
    if "input" not in body:
        raise ApiError(400, "'input' is a required property", param=None)
    raw_input = body["input"]
    if isinstance(raw_input, str):
        inputs: list[Any] = [raw_input]
    elif raw_input and all(isinstance(i, int) for i in raw_input):
        inputs = [raw_input]
    else:
        inputs = list(raw_input)
    if any(i == "" for i in inputs):
        raise ApiError(400, "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
                       param=None)
    if req.flavor == "openai" and model not in EMBEDDING_DIMENSIONS:
        raise ApiError(404, f"The model `{model}` does not exist or you do not have access to it.", code="model_not_found")
    dims = EMBEDDING_DIMENSIONS.get(model, 1024)
    if body.get("dimensions") is not None:
        if model == "text-embedding-ada-002":
            raise ApiError(400, "This model does not support specifying dimensions.", param=None)
        dims = int(body["dimensions"])
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise ApiError(400, f"Invalid value for 'encoding_format': '{encoding}'. Supported values are: 'float' and 'base64'.",
                       param="encoding_format", code="invalid_value")
    data = []
    prompt_tokens = 0
    for index, item in enumerate(inputs):
        text = item if isinstance(item, str) else " ".join(str(t) for t in item)
        prompt_tokens += count_tokens(text) if isinstance(item, str) else len(item)
        seed = int.from_bytes(hashlib.sha256(f"{model}\0{text}".encode()).digest()[:8], "big")
        rng = random.Random(seed)
        vector = [rng.gauss(0.0, 1.0) for _ in range(dims)]
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        packed = struct.pack(f"<{dims}f", *(v / norm for v in vector))
        embedding: Any
        if encoding == "base64":
            embedding = base64.b64encode(packed).decode("ascii")
        else:
            embedding = list(struct.unpack(f"<{dims}f", packed))
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    payload = {"object": "list", "data": data, "model": model,
               "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}}
    headers = answer_headers(req, stream=False, processing_ms=40 + req.rng.randint(0, 60), tokens=prompt_tokens,
                             extra=[("openai-model", model), ("access-control-allow-origin", "*")])
    return JsonAnswer(200, payload, headers)


# --------------------------------------------------------------------------------------
# Responses API
# --------------------------------------------------------------------------------------


def responses_input_items(body: dict[str, Any]) -> list[dict[str, Any]]:
    raw = body.get("input")
    if raw is None:
        return []
    if isinstance(raw, str):
        return [{"type": "message", "role": "user", "content": raw}]
    items = []
    for item in raw:
        if "role" in item and "type" not in item:
            item = {"type": "message", **item}
        items.append(item)
    return items


def responses_prompt_tokens(body: dict[str, Any], items: list[dict[str, Any]], model: str) -> int:
    total = 3 + count_tokens(body.get("instructions") or "")
    if body.get("instructions"):
        total += 4
    for item in items:
        if item.get("type") == "message":
            total += 4 + count_tokens(content_text(item.get("content")))
            for image in content_images(item.get("content")):
                total += image_tokens(model, image.get("detail", "auto"))
        elif item.get("type") == "function_call":
            total += 3 + count_tokens(item.get("name", "")) + count_tokens(item.get("arguments", ""))
        elif item.get("type") == "function_call_output":
            total += 4 + count_tokens(str(item.get("output", "")))
    if body.get("tools"):
        total += 12 + len(re.findall(r"\w+", json.dumps(body["tools"])))
    return total


def responses_tools_echo(tools: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    echoed = []
    for tool in tools or []:
        if tool.get("type") == "function":
            echoed.append({"type": "function", "description": tool.get("description"), "name": tool["name"],
                           "parameters": tool.get("parameters"), "strict": tool.get("strict", True)})
        else:
            echoed.append(tool)
    return echoed


def handle_responses(req: Request) -> JsonAnswer | SseAnswer:
    body = req.body
    model = body.get("model")
    if not model:
        raise ApiError(400, "Missing required parameter: 'model'.", param="model", code="missing_required_parameter")
    if req.flavor == "openai" and not model.startswith(CHAT_MODEL_PREFIXES):
        raise ApiError(400, f"The requested model '{model}' does not exist.", param="model", code="model_not_found")
    reasoning_model = is_reasoning_model(model)
    if reasoning_model and body.get("temperature") not in (None, 1, 1.0):
        raise ApiError(400, "Unsupported parameter: 'temperature' is not supported with this model.",
                       param="temperature", code=None)
    snapshot = model_snapshot(model)
    items = responses_input_items(body)
    text_format = ((body.get("text") or {}).get("format")) or {"type": "text"}
    reasoning_req = body.get("reasoning") or {}
    effort = reasoning_req.get("effort") or ("medium" if reasoning_model else None)
    reasoning_tokens = REASONING_EFFORT_TOKENS.get(effort or "", 0) if reasoning_model else 0
    response_id = req.item_id("resp_")

    output: list[dict[str, Any]] = []
    if reasoning_model:
        summary = []
        if reasoning_req.get("summary"):
            summary = [{"type": "summary_text", "text": "**Answering the question**\n\nThe user asks a short factual "
                                                        "question, so I will answer it directly and concisely."}]
        output.append({"id": req.item_id("rs_"), "type": "reasoning", "summary": summary})
    last = items[-1] if items else {}
    calls: list[ToolCall] = []
    if last.get("type") != "function_call_output":
        calls = choose_tool_calls(body.get("tools"), body.get("tool_choice", "auto"), body.get("parallel_tool_calls"))
    output_tokens = reasoning_tokens
    if calls:
        for call in calls:
            output.append({"id": req.item_id("fc_"), "type": "function_call", "status": "completed",
                           "arguments": call.arguments, "call_id": req.rand_id("call_", 24), "name": call.name})
            output_tokens += 3 + count_tokens(call.name) + count_tokens(call.arguments)
    else:
        if last.get("type") == "function_call_output":
            names = {i.get("call_id"): i.get("name", "tool") for i in items if i.get("type") == "function_call"}
            results = []
            for item in reversed(items):
                if item.get("type") != "function_call_output":
                    break
                results.insert(0, (names.get(item.get("call_id"), "the tool"), str(item.get("output"))))
            text = tool_summary(results)
        else:
            user_items = [i for i in items if i.get("type") == "message" and i.get("role") == "user"]
            prompt = content_text(user_items[-1].get("content")) if user_items else ""
            has_image = bool(user_items and content_images(user_items[-1].get("content")))
            if text_format.get("type") == "json_schema":
                text = json_dumps_compact(example_from_schema(text_format.get("schema")))
            elif text_format.get("type") == "json_object":
                text = json.dumps(knowledge_json(prompt), indent=2, ensure_ascii=False)
            else:
                text = knowledge_answer(prompt, 0, has_image=has_image)
        budget = body.get("max_output_tokens")
        text, finish, tokens = apply_limits(text, stop=None, max_tokens=None if budget is None else max(budget - reasoning_tokens, 0))
        output_tokens += tokens
        output.append({"id": req.item_id("msg_"), "type": "message", "status": "completed",
                       "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": text}],
                       "role": "assistant"})

    input_tokens = responses_prompt_tokens(body, items, model)
    cached = cached_tokens(body, input_tokens)
    usage = {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cache_write_tokens": 0, "cached_tokens": cached},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
        "total_tokens": input_tokens + output_tokens,
    }

    def response_obj(status: str, out: list[dict[str, Any]], use: dict[str, Any] | None) -> dict[str, Any]:
        return {
            "id": response_id,
            "object": "response",
            "created_at": req.created,
            "status": status,
            "background": bool(body.get("background", False)),
            "billing": {"payer": "developer"},
            "completed_at": req.created + 1 if status == "completed" else None,
            "error": None,
            "incomplete_details": None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "max_tool_calls": body.get("max_tool_calls"),
            "model": snapshot,
            "output": out,
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"),
            "prompt_cache_key": body.get("prompt_cache_key"),
            "prompt_cache_retention": body.get("prompt_cache_retention"),
            "reasoning": {"effort": effort, "summary": reasoning_req.get("summary")},
            "safety_identifier": body.get("safety_identifier"),
            "service_tier": "default" if status == "completed" else body.get("service_tier", "auto"),
            "store": body.get("store", True),
            "temperature": body.get("temperature", 1.0),
            "text": {"format": text_format, "verbosity": body.get("verbosity") or (body.get("text") or {}).get("verbosity") or "medium"},
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": responses_tools_echo(body.get("tools")),
            "top_logprobs": body.get("top_logprobs", 0),
            "top_p": body.get("top_p", 1.0),
            "truncation": body.get("truncation", "disabled"),
            "usage": use,
            "user": body.get("user"),
            "metadata": body.get("metadata") or {},
        }

    processing_ms = 300 + 11 * output_tokens + req.rng.randint(0, 200)
    if not body.get("stream"):
        headers = answer_headers(req, stream=False, processing_ms=processing_ms, tokens=usage["total_tokens"])
        return JsonAnswer(200, response_obj("completed", output, usage), headers)

    obfuscate = (body.get("stream_options") or {}).get("include_obfuscation", True) is not False
    events: list[str] = []

    def emit(obj: dict[str, Any]) -> None:
        obj["sequence_number"] = len(events)
        events.append(sse_event(obj["type"], obj))

    emit({"type": "response.created", "response": response_obj("in_progress", [], None)})
    emit({"type": "response.in_progress", "response": response_obj("in_progress", [], None)})
    for index, item in enumerate(output):
        if item["type"] == "message":
            text = item["content"][0]["text"]
            emit({"type": "response.output_item.added", "output_index": index,
                  "item": {"id": item["id"], "type": "message", "status": "in_progress", "content": [], "role": "assistant"}})
            emit({"type": "response.content_part.added", "item_id": item["id"], "output_index": index, "content_index": 0,
                  "part": {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}})
            for piece in tokenize(text):
                delta = {"type": "response.output_text.delta", "item_id": item["id"], "output_index": index,
                         "content_index": 0, "delta": piece, "logprobs": []}
                if obfuscate:
                    delta["obfuscation"] = req.obfuscation()
                emit(delta)
            emit({"type": "response.output_text.done", "item_id": item["id"], "output_index": index, "content_index": 0,
                  "text": text, "logprobs": []})
            emit({"type": "response.content_part.done", "item_id": item["id"], "output_index": index, "content_index": 0,
                  "part": item["content"][0]})
        elif item["type"] == "function_call":
            emit({"type": "response.output_item.added", "output_index": index,
                  "item": {**item, "status": "in_progress", "arguments": ""}})
            for piece in split_arguments(item["arguments"]):
                delta = {"type": "response.function_call_arguments.delta", "item_id": item["id"], "output_index": index,
                         "delta": piece}
                if obfuscate:
                    delta["obfuscation"] = req.obfuscation()
                emit(delta)
            emit({"type": "response.function_call_arguments.done", "item_id": item["id"], "output_index": index,
                  "arguments": item["arguments"]})
        elif item["type"] == "reasoning":
            emit({"type": "response.output_item.added", "output_index": index, "item": {**item, "summary": []}})
            for s_index, part in enumerate(item["summary"]):
                emit({"type": "response.reasoning_summary_part.added", "item_id": item["id"], "output_index": index,
                      "summary_index": s_index, "part": {"type": "summary_text", "text": ""}})
                for piece in tokenize(part["text"]):
                    emit({"type": "response.reasoning_summary_text.delta", "item_id": item["id"], "output_index": index,
                          "summary_index": s_index, "delta": piece})
                emit({"type": "response.reasoning_summary_text.done", "item_id": item["id"], "output_index": index,
                      "summary_index": s_index, "text": part["text"]})
                emit({"type": "response.reasoning_summary_part.done", "item_id": item["id"], "output_index": index,
                      "summary_index": s_index, "part": part})
        emit({"type": "response.output_item.done", "output_index": index, "item": item})
    emit({"type": "response.completed", "response": response_obj("completed", output, usage)})
    return SseAnswer(events, answer_headers(req, stream=True, processing_ms=req.rng.randint(150, 400),
                                            tokens=usage["total_tokens"]))


def handle_models(req: Request) -> JsonAnswer:
    data = [
        {"id": m, "object": "model", "created": 1721172741, "owned_by": "system"}
        for m in ["gpt-4o-mini", "gpt-4o", "o4-mini", "gpt-3.5-turbo-instruct", "text-embedding-3-small"]
    ]
    return JsonAnswer(200, {"object": "list", "data": data}, answer_headers(req, stream=False, processing_ms=12))


# --------------------------------------------------------------------------------------
# Routing, authentication, forced failures
# --------------------------------------------------------------------------------------

AZURE_PATH_RE = re.compile(r"^/openai/deployments/(?P<deployment>[^/]+)/(?P<op>chat/completions|completions|embeddings)$")
OPENAI_ROUTES = {
    ("POST", "/v1/chat/completions"): handle_chat,
    ("POST", "/v1/completions"): handle_completions,
    ("POST", "/v1/embeddings"): handle_embeddings,
    ("POST", "/v1/responses"): handle_responses,
    ("GET", "/v1/models"): handle_models,
}
AZURE_ROUTES = {"chat/completions": handle_chat, "completions": handle_completions, "embeddings": handle_embeddings}


def check_openai_auth(req: Request) -> None:
    auth = req.headers.get("authorization", "")
    if not auth.lower().startswith("bearer ") or not auth[7:].strip():
        raise ApiError(
            401,
            "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer "
            "auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're "
            "accessing the API from your browser and are prompted for a username. You can obtain an API key from "
            "https://platform.openai.com/account/api-keys.",
        )
    key = auth[7:].strip()
    if "invalid" in key:
        raise ApiError(
            401,
            f"Incorrect API key provided: {mask_key(key)}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            code="invalid_api_key",
        )


def check_azure_auth(req: Request) -> None:
    if "api-version" not in req.query:
        raise ApiError(404, "Resource not found", body={"error": {"code": "404", "message": "Resource not found"}})
    key = req.headers.get("api-key") or req.headers.get("authorization", "")[7:]
    if not key or "invalid" in key:
        message = ("Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid "
                   "key for an active subscription and use a correct regional API endpoint for your resource.")
        raise ApiError(401, message, body={"error": {"code": "401", "message": message}})


def forced_failure(req: Request) -> None:
    if req.behavior == "rate_limit":
        model = req.body.get("model", "") if isinstance(req.body, dict) else ""
        headers = [h for h in error_headers(req) if not h[0].startswith("x-ratelimit-remaining-requests")]
        headers += [("x-ratelimit-remaining-requests", "0"), ("retry-after", "0")]
        if req.flavor == "azure":
            message = ("Requests to the ChatCompletions_Create Operation under Azure OpenAI API version "
                       f"{req.query.get('api-version', [''])[0]} have exceeded token rate limit of your current "
                       "OpenAI S0 pricing tier. Please retry after 0 seconds.")
            raise ApiError(429, message, headers=headers, body={"error": {"code": "429", "message": message}})
        raise ApiError(
            429,
            f"Rate limit reached for {model_snapshot(model).split('-20')[0] or 'requests'} in organization "
            f"{FAKE_ORGANIZATION} on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 120ms. "
            "Visit https://platform.openai.com/account/rate-limits to learn more.",
            type="requests",
            code="rate_limit_exceeded",
            headers=headers,
        )
    if req.behavior == "server_error":
        raise ApiError(
            500,
            "The server had an error processing your request. Sorry about that! You can retry your request, or "
            "contact us through our help center at help.openai.com if you keep seeing this error. "
            f"(Please include the request ID {req.request_id} in your email.)",
            type="server_error",
        )


def route(req: Request) -> JsonAnswer | SseAnswer:
    if req.flavor == "azure":
        match = AZURE_PATH_RE.match(req.path)
        assert match is not None
        check_azure_auth(req)
        forced_failure(req)
        return AZURE_ROUTES[match.group("op")](req)
    handler = OPENAI_ROUTES.get((req.method, req.path))
    if handler is None:
        raise ApiError(404, f"Invalid URL ({req.method} {req.path})", param=None)
    if req.flavor == "openai":
        check_openai_auth(req)
    forced_failure(req)
    return handler(req)


def classify(path: str, body: Any) -> tuple[str, str | None]:
    match = AZURE_PATH_RE.match(path)
    if match:
        return "azure", match.group("deployment")
    model = body.get("model") if isinstance(body, dict) else None
    if isinstance(model, str) and COMPAT_MODEL_RE.match(model):
        return "compat", None
    return "openai", None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if self.server.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        raw = self._read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        # Ids are derived from the whole request, so that re-recording an unchanged scenario changes only
        # timestamps, while two different requests (even with equal bodies) get different ids.
        fingerprint_src = "\n".join(f"{k}:{v}" for k, v in sorted(headers.items()) if k != "host").encode()
        seed = int.from_bytes(hashlib.sha256(method.encode() + self.path.encode() + b"\0" + fingerprint_src
                                             + b"\0" + raw).digest()[:8], "big")
        rng = random.Random(seed)
        body: Any = None
        parse_error = False
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                parse_error = True
        flavor, deployment = classify(split.path, body)
        req = Request(method=method, path=split.path, query=parse_qs(split.query), headers=headers, raw_body=raw,
                      body=body if body is not None else {}, flavor=flavor, rng=rng, created=int(time.time()),
                      deployment=deployment)
        self.server.log.append({"method": method, "path": self.path, "flavor": flavor, "body": body})
        try:
            if parse_error:
                raise ApiError(
                    400,
                    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
                    "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid "
                    "JSON. If you have trouble figuring out how to fix this, please contact us through our help "
                    "center at help.openai.com.)",
                )
            answer = route(req)
        except ApiError as err:
            answer = JsonAnswer(err.status, err.body, err.headers or error_headers(req))
        self._send(req, answer)

    def _start(self, req: Request, status: int, headers: list[tuple[str, str]]) -> None:
        self.send_response_only(status)
        self.send_header("Date", self.date_time_string())
        for name, value in headers:
            self.send_header(name, value)
        if req.flavor == "openai":
            self.send_header("Server", "cloudflare")
        elif req.flavor == "compat":
            self.send_header("server", "uvicorn")

    def _send(self, req: Request, answer: JsonAnswer | SseAnswer) -> None:
        if isinstance(answer, JsonAnswer):
            payload = json.dumps(answer.payload, indent=2, ensure_ascii=False).encode() + b"\n"
            self._start(req, answer.status, answer.headers)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
            return
        self._start(req, answer.status, answer.headers)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event in answer.events:
            data = event.encode()
            self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    verbose = False
    log: list[dict[str, Any]]


class FakeOpenAIServer:
    """The fake API on 127.0.0.1, in a daemon thread. A context manager; stops by itself after ``lifetime`` seconds."""

    def __init__(self, *, lifetime: float = 600.0, verbose: bool = False) -> None:
        self._lifetime = lifetime
        self._verbose = verbose
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """Root URL; Azure clients use it as ``azure_endpoint``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """``base_url`` for OpenAI and OpenAI-compatible clients."""
        return self.base_url + "/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """What the server received (for the recorder's sanity checks; never used to decide an answer)."""
        assert self._httpd is not None
        return self._httpd.log

    def start(self) -> FakeOpenAIServer:
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.verbose = self._verbose
        httpd.log = []
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-openai-server", daemon=True)
        self._thread.start()
        self._timer = threading.Timer(self._lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        with self._lock:
            httpd, self._httpd = self._httpd, None
            if self._timer is not None and self._timer is not threading.current_thread():
                self._timer.cancel()
            self._timer = None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":  # pragma: no cover - manual poking: python fake_openai_server.py
    with FakeOpenAIServer(verbose=True) as srv:
        print(f"fake OpenAI API on {srv.openai_base_url} (Azure endpoint {srv.base_url}); Ctrl-C to stop")
        try:
            while srv._httpd is not None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
