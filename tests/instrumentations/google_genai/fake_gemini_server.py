"""A local stand-in for the Gemini Developer API and Vertex AI, used only to record cassettes.

It answers the calls the google_genai instrumentation traces the way the public REST
references document them (``generativelanguage.googleapis.com`` v1beta and
``aiplatform.googleapis.com`` v1beta1 share the JSON shapes):

* ``POST .../models/{model}:generateContent``: a ``GenerateContentResponse``:
  ``candidates[]`` (``content.role`` ``model``, ``content.parts[]``, ``finishReason``,
  ``index``), ``usageMetadata`` (``promptTokenCount``, ``candidatesTokenCount``,
  ``thoughtsTokenCount``, ``cachedContentTokenCount``, ``totalTokenCount``,
  ``promptTokensDetails``), ``modelVersion`` and ``responseId``.
* ``POST .../models/{model}:streamGenerateContent?alt=sse``: Server-Sent Events, one
  ``data: {GenerateContentResponse}`` per chunk (``\\r\\n\\r\\n`` between them, as the
  service sends); every chunk carries ``usageMetadata``, the last one the
  ``finishReason``.
* ``POST .../models/{model}:batchEmbedContents``: ``{"embeddings": [{"values": [...]}],
  "usageMetadata": {...}}``.

The answer is decided by the request alone:

* the last ``contents`` entry holding a ``functionResponse`` part gets a text answer
  quoting it; a request whose ``tools`` declare functions (and whose last entry is user
  text) gets a ``functionCall`` part for the first declared function;
* ``generationConfig.thinkingConfig.includeThoughts`` adds a ``thought: true`` part
  and ``thoughtsTokenCount``; ``cachedContent`` adds ``cachedContentTokenCount``;
* ``systemInstruction`` is counted into the prompt tokens.

Errors use the Google API error envelope ``{"error": {"code", "message", "status",
"details"}}``:

* an API key (header ``x-goog-api-key``) other than the accepted ones: 400
  ``INVALID_ARGUMENT`` with ``ErrorInfo`` reason ``API_KEY_INVALID`` (what the Gemini API
  answers for a bad key);
* a body without ``contents``: 400 ``INVALID_ARGUMENT``.

Faults no valid request can cause are asked for with the header ``x-fake-gemini-fault``
(stripped from the cassettes by the recorder): ``resource_exhausted`` (429
``RESOURCE_EXHAUSTED``), ``stream_error`` (a stream that sends two chunks and then an
error event ``data: {"error": {...}}``, as the service does when it fails mid-stream).

No state is shared between requests; ids come from a hash of the body. The server binds
127.0.0.1 on a free port, serves from a daemon thread and stops by itself after
``max_lifetime`` seconds.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULT_HEADER = "x-fake-gemini-fault"
DEFAULT_API_KEY = "gemini-test-0000"
EMBEDDING_DIMENSION = 8  # the request's outputDimensionality, else this

CAPITAL_ANSWER = "The capital of France is Paris."
THOUGHT = "The user asks for a capital city; France's is Paris."
WEATHER_ANSWER = "It is sunny in Paris, 18 degrees."
STREAM_PIECES = ("The capital ", "of France ", "is Paris.")

_PATH = re.compile(r"^/(v1beta1?|v1)/(?:.*/)?models/([^/:]+):(generateContent|streamGenerateContent|batchEmbedContents)$")


def _tokens(text: str) -> int:
    """A deterministic token count: one per four characters, at least one."""
    return max(1, len(text) // 4)


def _error(code: int, status: str, message: str, reason: str | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message, "status": status}
    if reason:
        err["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ]
    return {"error": err}


def _texts(content: Any) -> list[str]:
    return [p["text"] for p in (content or {}).get("parts", ()) if isinstance(p, dict) and isinstance(p.get("text"), str)]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _send_json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        path, _, query = self.path.partition("?")
        match = _PATH.match(path)
        if match is None:
            self._send_json(404, _error(404, "NOT_FOUND", "Requested entity was not found."))
            return
        version, model, method = match.groups()
        vertex = "publishers/google" in path or version == "v1beta1"
        key = self.headers.get("x-goog-api-key")
        bearer = (self.headers.get("authorization") or "").startswith("Bearer ")
        if not bearer and key not in self.server.api_keys:
            self._send_json(400, _error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
                                        "API_KEY_INVALID"))
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send_json(400, _error(400, "INVALID_ARGUMENT", "Invalid JSON payload received."))
            return
        fault = self.headers.get(FAULT_HEADER)
        if fault == "resource_exhausted":
            self._send_json(429, _error(429, "RESOURCE_EXHAUSTED",
                                        "Resource has been exhausted (e.g. check quota)."))
            return
        rid = hashlib.sha256(raw).hexdigest()[:20]
        if method == "batchEmbedContents":
            self._send_json(200, self._embed(body))
            return
        if not body.get("contents"):
            self._send_json(400, _error(400, "INVALID_ARGUMENT", "* GenerateContentRequest.contents: contents is not "
                                        "specified"))
            return
        if method == "generateContent":
            self._send_json(200, self._answer(body, model, rid, vertex))
        else:
            self._stream(body, model, rid, vertex, fault == "stream_error", query)

    # --- answers --------------------------------------------------------------------------

    def _usage(self, body: dict[str, Any], output: str, thoughts: int, stream_tokens: int | None = None) -> dict[str, Any]:
        prompt = sum(_tokens(t) for c in body.get("contents", ()) for t in _texts(c)) or 1
        prompt += sum(_tokens(t) for t in _texts(body.get("systemInstruction")))
        candidates = stream_tokens if stream_tokens is not None else _tokens(output)
        usage: dict[str, Any] = {"promptTokenCount": prompt, "candidatesTokenCount": candidates}
        total = prompt + candidates
        if body.get("cachedContent"):
            usage["cachedContentTokenCount"] = prompt - 1
        if thoughts:
            usage["thoughtsTokenCount"] = thoughts
            total += thoughts
        usage["totalTokenCount"] = total
        usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
        return usage

    def _candidate_parts(self, body: dict[str, Any]) -> tuple[list[dict[str, Any]], str, bool]:
        """(parts, the answer's text for counting, whether it is a function call)."""
        contents = body.get("contents") or []
        last = contents[-1] if contents else {}
        for part in last.get("parts", ()):
            response = part.get("functionResponse") if isinstance(part, dict) else None
            if response is not None:
                return [{"text": WEATHER_ANSWER}], WEATHER_ANSWER, False
        functions = [d for tool in body.get("tools", ()) for d in tool.get("functionDeclarations", ())]
        if functions:
            call = {"name": functions[0]["name"], "args": {"location": "Paris"}}
            return [{"functionCall": call}], json.dumps(call), True
        return [{"text": CAPITAL_ANSWER}], CAPITAL_ANSWER, False

    def _thinking(self, body: dict[str, Any]) -> bool:
        # Proto3 JSON: the service accepts lowerCamelCase and the proto's snake_case names.
        config = body.get("generationConfig") or {}
        thinking = config.get("thinkingConfig") or config.get("thinking_config") or {}
        return bool(thinking.get("includeThoughts") or thinking.get("include_thoughts"))

    def _answer(self, body: dict[str, Any], model: str, rid: str, vertex: bool) -> dict[str, Any]:
        parts, text, _ = self._candidate_parts(body)
        thoughts = 0
        if self._thinking(body):
            parts = [{"text": THOUGHT, "thought": True}, *parts]
            thoughts = _tokens(THOUGHT)
        config = body.get("generationConfig") or {}
        finish = "STOP"
        max_tokens = config.get("maxOutputTokens")
        if isinstance(max_tokens, int) and max_tokens < _tokens(text):
            finish = "MAX_TOKENS"
        out: dict[str, Any] = {
            "candidates": [{"content": {"parts": parts, "role": "model"}, "finishReason": finish, "index": 0}],
            "usageMetadata": self._usage(body, text, thoughts),
            "modelVersion": model,
            "responseId": rid,
        }
        if vertex:
            out["createTime"] = "2026-01-01T00:00:00.000000Z"
            out["candidates"][0].pop("index")  # Vertex AI leaves index 0 out
        return out

    def _stream(self, body: dict[str, Any], model: str, rid: str, vertex: bool, fail: bool, query: str) -> None:
        if "alt=sse" not in query:
            self._send_json(400, _error(400, "INVALID_ARGUMENT", "streamGenerateContent needs alt=sse here"))
            return
        parts, text, is_call = self._candidate_parts(body)
        pieces: list[dict[str, Any]] = [{"text": p} for p in STREAM_PIECES] if not is_call and text == CAPITAL_ANSWER \
            else parts
        if self._thinking(body):
            pieces = [{"text": THOUGHT, "thought": True}, *pieces]
        events: list[dict[str, Any]] = []
        seen = 0
        thoughts = _tokens(THOUGHT) if self._thinking(body) else 0
        for i, part in enumerate(pieces):
            last = i == len(pieces) - 1
            if not part.get("thought"):
                seen += _tokens(part.get("text") or json.dumps(part))
            candidate: dict[str, Any] = {"content": {"parts": [part], "role": "model"}}
            if not vertex:
                candidate["index"] = 0
            if last:
                candidate["finishReason"] = "STOP"
            event = {
                "candidates": [candidate],
                "usageMetadata": self._usage(body, text, thoughts, seen),
                "modelVersion": model,
                "responseId": rid,
            }
            events.append(event)
        if fail:
            events = events[:2]
            for e in events:
                e["candidates"][0].pop("finishReason", None)
            events.append(_error(500, "INTERNAL", "An internal error has occurred. Please retry."))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Disposition", "attachment")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event in events:
            data = ("data: " + json.dumps(event, separators=(",", ":")) + "\r\n\r\n").encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.write(b"0\r\n\r\n")

    def _embed(self, body: dict[str, Any]) -> dict[str, Any]:
        embeddings = []
        prompt = 0
        for request in body.get("requests", ()):
            size = request.get("outputDimensionality") or EMBEDDING_DIMENSION
            text = " ".join(_texts(request.get("content")))
            prompt += _tokens(text)
            seed = hashlib.sha256(text.encode()).digest()
            embeddings.append({"values": [round((seed[i % 32] - 128) / 128, 4) for i in range(size)]})
        return {"embeddings": embeddings, "usageMetadata": {"promptTokenCount": prompt, "totalTokenCount": prompt}}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    api_keys: tuple[str, ...] = (DEFAULT_API_KEY,)


class FakeGeminiServer:
    """``with FakeGeminiServer() as server: ... server.url``"""

    def __init__(self, api_keys: tuple[str, ...] = (DEFAULT_API_KEY,), max_lifetime: float = 120.0) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.api_keys = api_keys
        self.url = "http://127.0.0.1:%d" % self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._timer = threading.Timer(max_lifetime, self.stop)
        self._timer.daemon = True

    def start(self) -> FakeGeminiServer:
        self._thread.start()
        self._timer.start()
        return self

    def stop(self) -> None:
        self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeGeminiServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
