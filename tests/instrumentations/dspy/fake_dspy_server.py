"""A local fake of the OpenAI Chat Completions API that answers DSPy's prompts.

DSPy 3.4's native engine (the vendored lm15 client) talks to OpenAI over raw sockets, so
no HTTP client vcrpy patches ever sees the request and cassettes cannot replay it: this
server on 127.0.0.1 is the fake for every DSPy test, for the native engine and for
``engine="litellm"`` alike (LiteLLM reaches it through the OpenAI SDK with ``api_base``).

It answers as the API documents (``chat.completion`` objects, ``chat.completion.chunk``
server-sent events ending with ``data: [DONE]``, usage in the last chunk only when
``stream_options.include_usage`` is set, errors as ``{"error": {...}}`` with their HTTP
status), and writes what DSPy's ``ChatAdapter`` parses: one ``[[ ## field ## ]]`` section
per output field the prompt's system message names, then ``[[ ## completed ## ]]``.

The answer is decided from the request only:

* the output fields listed in the system message ("Your output fields are: ... `name`");
* a ReAct step (``next_tool_name`` among them) calls ``get_weather`` until the trajectory in
  the last user message holds an observation, then ``finish``;
* a request with ``response_format``, or whose prompt is not ChatAdapter's (DSPy's
  JSONAdapter), gets the fields as one JSON object;
* model ``plain-text-model`` answers plain text without sections (ChatAdapter cannot parse
  it and falls back to its JSONAdapter);
* model ``missing-model``: HTTP 404 ``model_not_found`` (not retried by DSPy);
* every request is recorded in ``FakeServer.requests`` (path, headers, body).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"
PROMPT_TOKENS = 120
COMPLETION_TOKENS = 24
MISSING_MODEL = "missing-model"
PLAIN_MODEL = "plain-text-model"  # answers without sections unless asked for JSON

_FIELDS = re.compile(r"^\d+\. `(\w+)`", re.MULTILINE)

ANSWERS = {
    "topic": "weather",
    "answer": "It is sunny in Paris.",
    "reasoning": "The weather tool reported sun in Paris.",
}


def output_fields(messages: list[dict[str, Any]]) -> list[str]:
    """The output fields DSPy's ChatAdapter asks for, in its system message's order."""
    for message in messages:
        if message.get("role") == "system" and isinstance(message.get("content"), str):
            text = message["content"]
            start = text.find("Your output fields are:")
            if start >= 0:
                end = text.find("All interactions will be structured", start)
                return _FIELDS.findall(text[start : end if end > 0 else None])
    return ["answer"]


def _last_user(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _chat_adapter(messages: list[dict[str, Any]]) -> bool:
    """Whether the prompt is ChatAdapter's (its system message shows the sections' layout);
    JSONAdapter's asks for one JSON object instead."""
    return any(m.get("role") == "system" and "[[ ## completed ## ]]" in str(m.get("content")) for m in messages)


def answer_text(messages: list[dict[str, Any]]) -> str:
    """The assistant's text: one ``[[ ## field ## ]]`` section per output field."""
    fields = output_fields(messages)
    observed = "observation_0" in _last_user(messages)
    sections = []
    for name in fields:
        if name == "next_thought":
            value = "I have what I need." if observed else "I should check the weather in Paris."
        elif name == "next_tool_name":
            value = "finish" if observed else "get_weather"
        elif name == "next_tool_args":
            value = "{}" if observed else json.dumps({"city": "Paris"})
        else:
            value = ANSWERS.get(name, "ok")
        sections.append("[[ ## %s ## ]]\n%s" % (name, value))
    sections.append("[[ ## completed ## ]]")
    return "\n\n".join(sections)


class _Handler(BaseHTTPRequestHandler):
    server: FakeServer  # type: ignore[assignment]

    def log_message(self, *args: Any) -> None:
        pass

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        self.server.requests.append((self.path, dict(self.headers), body))
        if not self.path.endswith("/chat/completions"):
            self._json(404, {"error": {"message": "unknown path", "type": "invalid_request_error", "code": None}})
            return
        model = body.get("model")
        if model == MISSING_MODEL:
            self._json(404, {"error": {
                "message": "The model `%s` does not exist or you do not have access to it." % model,
                "type": "invalid_request_error", "param": None, "code": "model_not_found",
            }})
            return
        self.server.counter += 1
        rid = "chatcmpl-dspy%03d" % self.server.counter
        messages = body.get("messages") or []
        if body.get("response_format") or not _chat_adapter(messages):
            text = json.dumps({name: ANSWERS.get(name, "ok") for name in output_fields(messages)})
        elif model == PLAIN_MODEL:
            text = ANSWERS["answer"]
        else:
            text = answer_text(messages)
        usage = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS,
                 "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS}
        if body.get("stream"):
            self._stream(rid, text, usage, bool((body.get("stream_options") or {}).get("include_usage")))
            return
        self._json(200, {
            "id": rid, "object": "chat.completion", "created": 1764000000, "model": RESPONSE_MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": usage, "system_fingerprint": "fp_dspy",
        })

    def _stream(self, rid: str, text: str, usage: dict[str, int], include_usage: bool) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()

        def chunk(choices: list[dict[str, Any]], **extra: Any) -> None:
            event = {"id": rid, "object": "chat.completion.chunk", "created": 1764000000,
                     "model": RESPONSE_MODEL, "system_fingerprint": "fp_dspy", "choices": choices, **extra}
            self.wfile.write(b"data: " + json.dumps(event).encode() + b"\n\n")

        chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        for start in range(0, len(text), 16):
            chunk([{"index": 0, "delta": {"content": text[start : start + 16]}, "finish_reason": None}])
        chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}])
        if include_usage:
            chunk([], usage=usage)
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        self.counter = 0

    @property
    def base_url(self) -> str:
        return "http://127.0.0.1:%d/v1" % self.server_address[1]


@contextmanager
def running() -> Iterator[FakeServer]:
    """The fake on a free loopback port, served from a daemon thread, shut down on exit."""
    server = FakeServer()
    thread = threading.Thread(target=server.serve_forever, name="fake-dspy-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
