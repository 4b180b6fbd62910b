"""A local stand-in for api.mistral.ai, used only to record vcrpy cassettes.

The server answers the three endpoints the Mistral instrumentation cares about
the way the public Mistral API documents and sends them:

* ``POST /v1/chat/completions``: ``chat.completion`` JSON, or, when the body
  has ``"stream": true``, Server-Sent Events: ``data: {chunk}`` blocks of
  ``chat.completion.chunk`` objects (first delta carries ``role``, the last
  content chunk carries ``finish_reason`` *and* ``usage``), then
  ``data: [DONE]``.
* ``POST /v1/fim/completions``: same shapes as chat (FIM answers are
  ``chat.completion`` objects whose message is the infilled code).
* ``POST /v1/embeddings``: ``{"object": "list", "data": [{"object":
  "embedding", "embedding": [...], "index": i}], "usage": {...}}``.

Errors use the bodies the real API sends:

* 401 when the bearer token is missing or is not one of the accepted keys:
  ``{"message": "Unauthorized", "request_id": "..."}``.
* 422 when the body fails validation: the FastAPI/pydantic ``detail`` list
  wrapped in Mistral's error envelope ``{"object": "error", "message":
  {"detail": [...]}, "type": "invalid_request_error", "param": null,
  "code": null}``.
* 404 ``{"detail": "Not Found"}`` for unknown paths.

Faults that no well-formed request can provoke on the real service are asked
for with the request header ``x-fake-mistral-fault`` (the recorder strips it
from the cassettes):

* ``internal_server_error``: 500 with Mistral's error envelope.
* ``stream_finish_error``: a stream whose last chunk has
  ``finish_reason: "error"`` (a value of the documented stream
  ``finish_reason`` enum: stop, length, error, tool_calls).

Everything is decided by the request alone: no state is shared between
requests, and ids are derived from the request body, so recordings are
reproducible. The server listens on 127.0.0.1 on a free port, serves from a
daemon thread, and shuts itself down after ``max_lifetime`` seconds even if
the caller forgets to.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from typing_extensions import Self

FAULT_HEADER = "x-fake-mistral-fault"
DEFAULT_API_KEY = "mistral-test-0000"
EMBEDDING_DIMENSION = 1024  # mistral-embed
CREATED = 1750000000  # fixed so re-recording gives identical cassettes

# A deterministic "model": the first matching key (lower-cased substring of
# the last user message, or of the FIM prompt) picks the answer.
_CHAT_ANSWERS = (
    (
        "capital of france",
        "The capital of France is Paris. It is also the largest city in the country.",
    ),
    ("haiku", "Autumn moonlight\nA worm digs silently\nInto the chestnut."),
)
_DEFAULT_CHAT_ANSWER = "Hello! How can I help you today?"
_FIM_ANSWERS = (
    (
        "fibonacci",
        "    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n",
    ),
)
_DEFAULT_FIM_ANSWER = "    pass\n"

_FLOAT_FIELDS = ("temperature", "top_p", "presence_penalty", "frequency_penalty")
_INT_FIELDS = ("max_tokens", "min_tokens", "random_seed", "n")


def _request_id(body: bytes, salt: str = "") -> str:
    return hashlib.sha256(salt.encode() + body).hexdigest()[:32]


def _tool_call_id(seed: str) -> str:
    """Mistral tool call ids are 9 characters from [a-zA-Z0-9]."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    digest = hashlib.sha256(seed.encode()).digest()
    return "".join(alphabet[b % len(alphabet)] for b in digest[:9])


def _count_tokens(text: str) -> int:
    """A crude but deterministic token count: about 4 characters a token."""
    return max(1, math.ceil(len(text) / 4)) if text else 0


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def _split_tokens(text: str) -> list[str]:
    """Split into stream pieces the way the API does: words with their leading space."""
    pieces: list[str] = []
    current = ""
    for char in text:
        if char in " \n" and current.strip():
            pieces.append(current)
            current = ""
        current += char
    if current:
        pieces.append(current)
    return pieces


def _validation_error(body: dict[str, Any], endpoint: str) -> list[dict[str, Any]]:
    """The subset of the API's pydantic validation that a test needs."""
    errors: list[dict[str, Any]] = []
    required = {
        "chat": ("model", "messages"),
        "fim": ("model", "prompt"),
        "embeddings": ("model", "input"),
    }
    for field in required[endpoint]:
        if field not in body:
            errors.append(
                {
                    "type": "missing",
                    "loc": ["body", field],
                    "msg": "Field required",
                    "input": None,
                }
            )
    for field in _FLOAT_FIELDS:
        if field in body and (
            body[field] is None or isinstance(body[field], bool) or not isinstance(body[field], (int, float))
        ):
            errors.append(
                {
                    "type": "float_type",
                    "loc": ["body", field],
                    "msg": "Input should be a valid number",
                    "input": body[field],
                }
            )
    for field in _INT_FIELDS:
        value = body.get(field)
        if field in body and value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            errors.append(
                {
                    "type": "int_type",
                    "loc": ["body", field],
                    "msg": "Input should be a valid integer",
                    "input": value,
                }
            )
        elif isinstance(value, int) and value < 0:
            errors.append(
                {
                    "type": "greater_than_equal",
                    "loc": ["body", field],
                    "msg": "Input should be greater than or equal to 0",
                    "input": value,
                    "ctx": {"ge": 0},
                }
            )
    return errors


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _FakeMistralHTTPServer

    # -- plumbing ---------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def version_string(self) -> str:
        return "fake-mistral"

    def _common_headers(self, request_id: str) -> None:
        self.send_header("mistral-correlation-id", request_id)
        self.send_header("x-kong-request-id", request_id)

    def _send_json(
        self,
        status: int,
        payload: Any,
        request_id: str,
        content_type: str = "application/json",
        pretty: bool = False,
    ) -> None:
        if pretty:  # the 401 body comes from the gateway, pretty-printed
            data = json.dumps(payload, indent=2, separators=(",", ":")).encode()
        else:
            data = json.dumps(payload, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self._common_headers(request_id)
        self.end_headers()
        self.wfile.write(data)

    def _send_sse(self, chunks: list[dict[str, Any]], request_id: str) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self._common_headers(request_id)
        self.end_headers()
        events = [f"data: {json.dumps(c, separators=(',', ':'))}\n\n" for c in chunks]
        events.append("data: [DONE]\n\n")
        for event in events:
            raw = event.encode()
            self.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _error_envelope(
        self,
        status: int,
        message: Any,
        err_type: str,
        request_id: str,
        code: str | None = None,
    ) -> None:
        self._send_json(
            status,
            {
                "object": "error",
                "message": message,
                "type": err_type,
                "param": None,
                "code": code,
            },
            request_id,
        )

    # -- routing ----------------------------------------------------------

    def do_GET(self) -> None:
        self._send_json(404, {"detail": "Not Found"}, _request_id(self.path.encode()))

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        request_id = _request_id(raw, self.path)
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        endpoint = {
            "/v1/chat/completions": "chat",
            "/v1/fim/completions": "fim",
            "/v1/embeddings": "embeddings",
        }.get(path)
        if endpoint is None:
            self._send_json(404, {"detail": "Not Found"}, request_id)
            return

        auth = self.headers.get("authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else ""
        if token not in self.server.api_keys:
            self._send_json(
                401,
                {"message": "Unauthorized", "request_id": request_id},
                request_id,
                content_type="application/json; charset=utf-8",
                pretty=True,
            )
            return

        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            detail = [
                {
                    "type": "json_invalid",
                    "loc": ["body", 0],
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": "Expecting value"},
                }
            ]
            self._error_envelope(422, {"detail": detail}, "invalid_request_error", request_id)
            return

        fault = self.headers.get(FAULT_HEADER, "")
        if fault == "internal_server_error":
            self._error_envelope(500, "Internal server error", "internal_server_error", request_id)
            return

        errors = _validation_error(body, endpoint)
        if errors:
            self._error_envelope(422, {"detail": errors}, "invalid_request_error", request_id)
            return

        if endpoint == "embeddings":
            self._send_json(200, self._embeddings(body, request_id), request_id)
            return

        message, finish_reason, usage = (
            self._chat_answer(body, request_id) if endpoint == "chat" else self._fim_answer(body)
        )
        if fault == "stream_finish_error":
            finish_reason = "error"
        if body.get("stream"):
            self._send_sse(
                self._chunks(body, request_id, message, finish_reason, usage),
                request_id,
            )
            return
        response = {
            "id": request_id,
            "object": "chat.completion",
            "created": CREATED,
            "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            "usage": usage,
        }
        self._send_json(200, response, request_id)

    # -- answers ----------------------------------------------------------

    @staticmethod
    def _truncate(text: str, body: dict[str, Any]) -> tuple[str, str]:
        stop = body.get("stop")
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        for sequence in stops:
            if sequence and sequence in text:
                text = text[: text.index(sequence)]
        max_tokens = body.get("max_tokens")
        if isinstance(max_tokens, int) and _count_tokens(text) > max_tokens:
            return text[: max_tokens * 4], "length"
        return text, "stop"

    @staticmethod
    def _prompt_tokens(body: dict[str, Any]) -> int:
        messages = body.get("messages") or []
        text = "".join(_text_of(m.get("content")) for m in messages if isinstance(m, dict))
        text += json.dumps(body.get("tools") or "")
        # a few tokens of chat template per message, as the API counts them
        return _count_tokens(text) + 4 * len(messages)

    def _chat_answer(self, body: dict[str, Any], request_id: str) -> tuple[dict[str, Any], str, dict[str, int]]:
        messages = [m for m in body["messages"] if isinstance(m, dict)]
        last = messages[-1] if messages else {}
        prompt_tokens = self._prompt_tokens(body)
        tools = body.get("tools") or []
        if tools and last.get("role") == "user" and body.get("tool_choice") != "none":
            function = tools[0].get("function", {})
            properties = (function.get("parameters") or {}).get("properties") or {}
            user_text = _text_of(last.get("content"))
            arguments = {name: self._argument_value(name, user_text) for name in properties}
            call = {
                "id": _tool_call_id(request_id),
                "type": "function",
                "function": {
                    "name": function.get("name", ""),
                    "arguments": json.dumps(arguments),
                },
                "index": 0,
            }
            completion_tokens = _count_tokens(json.dumps(call["function"]))
            message = {"role": "assistant", "content": "", "tool_calls": [call]}
            return message, "tool_calls", self._usage(prompt_tokens, completion_tokens)
        if last.get("role") == "tool":
            result = _text_of(last.get("content"))
            text = f"The tool returned: {result}"
        else:
            user_text = _text_of(last.get("content")).lower()
            text = next((a for k, a in _CHAT_ANSWERS if k in user_text), _DEFAULT_CHAT_ANSWER)
        text, finish_reason = self._truncate(text, body)
        message = {"role": "assistant", "content": text, "tool_calls": None}
        return message, finish_reason, self._usage(prompt_tokens, _count_tokens(text))

    @staticmethod
    def _argument_value(name: str, user_text: str) -> str:
        for word in user_text.replace("?", " ").replace(",", " ").split():
            if word[:1].isupper() and word.lower() not in {
                "what",
                "what's",
                "how",
                "is",
                "the",
            }:
                return word
        return name

    def _fim_answer(self, body: dict[str, Any]) -> tuple[dict[str, Any], str, dict[str, int]]:
        prompt = body.get("prompt") or ""
        text = next((a for k, a in _FIM_ANSWERS if k in prompt.lower()), _DEFAULT_FIM_ANSWER)
        text, finish_reason = self._truncate(text, body)
        prompt_tokens = _count_tokens(prompt) + _count_tokens(body.get("suffix") or "") + 3
        message = {"role": "assistant", "content": text, "tool_calls": None}
        return message, finish_reason, self._usage(prompt_tokens, _count_tokens(text))

    @staticmethod
    def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
        return {
            "prompt_tokens": prompt_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "completion_tokens": completion_tokens,
        }

    @staticmethod
    def _chunks(
        body: dict[str, Any],
        request_id: str,
        message: dict[str, Any],
        finish_reason: str,
        usage: dict[str, int],
    ) -> list[dict[str, Any]]:
        def chunk(delta: dict[str, Any], finish: str | None = None, with_usage: bool = False) -> dict[str, Any]:
            data: dict[str, Any] = {
                "id": request_id,
                "object": "chat.completion.chunk",
                "created": CREATED,
                "model": body["model"],
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            if with_usage:
                data["usage"] = usage
            return data

        chunks = [chunk({"role": "assistant", "content": ""})]
        if message.get("tool_calls"):
            # Mistral sends each tool call whole, in one delta, not argument fragments.
            chunks.append(chunk({"tool_calls": message["tool_calls"]}, finish_reason, True))
            return chunks
        pieces = _split_tokens(message.get("content") or "") or [""]
        for piece in pieces[:-1]:
            chunks.append(chunk({"content": piece}))
        chunks.append(chunk({"content": pieces[-1]}, finish_reason, True))
        return chunks

    @staticmethod
    def _embeddings(body: dict[str, Any], request_id: str) -> dict[str, Any]:
        inputs = body["input"]
        inputs = [inputs] if isinstance(inputs, str) else list(inputs)
        dimension = body.get("output_dimension") or EMBEDDING_DIMENSION
        data = []
        for index, text in enumerate(inputs):
            seed = hashlib.sha256(str(text).encode()).digest()
            vector = [round(math.sin(seed[i % 32] + i * 0.37) * 0.05, 6) for i in range(dimension)]
            data.append({"object": "embedding", "embedding": vector, "index": index})
        prompt_tokens = sum(_count_tokens(str(t)) for t in inputs)
        return {
            "id": request_id,
            "object": "list",
            "data": data,
            "model": body["model"],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "total_tokens": prompt_tokens,
                "completion_tokens": 0,
            },
        }


class _FakeMistralHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    api_keys: frozenset[str]


class FakeMistralServer:
    """Context manager running the fake API on ``http://127.0.0.1:<free port>``.

    >>> with FakeMistralServer() as server:
    ...     client = Mistral(api_key="mistral-test-0000", server_url=server.url)
    """

    def __init__(
        self,
        api_keys: tuple[str, ...] = (DEFAULT_API_KEY,),
        max_lifetime: float = 120.0,
    ) -> None:
        self._httpd = _FakeMistralHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.api_keys = frozenset(api_keys)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-mistral", daemon=True)
        # Safety net: never outlive a crashed recorder.
        self._timer = threading.Timer(max_lifetime, self.stop)
        self._timer.daemon = True
        self._stopped = threading.Event()

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        self._thread.start()
        self._timer.start()
        return self

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._timer.cancel()
        if self._thread.is_alive():
            self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
