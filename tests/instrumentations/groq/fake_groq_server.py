"""A local stand-in for api.groq.com, used only to record vcrpy cassettes.

It answers the two endpoints the Groq instrumentation traces as Groq's API reference
(console.groq.com/docs/api-reference) documents them and as the service sends them:

* ``POST /openai/v1/chat/completions``: a ``chat.completion`` object with Groq's extras
  (``usage`` with ``queue_time``/``prompt_time``/``completion_time``/``total_time``,
  ``system_fingerprint``, ``service_tier``, ``x_groq: {"id": "req_..."}``), or, when the
  body has ``"stream": true``, Server-Sent Events: ``chat.completion.chunk`` objects (the
  first delta carries the role and ``x_groq.id``; the last carries ``finish_reason`` and
  ``x_groq.usage``, the call's only usage), then ``data: [DONE]``. With
  ``stream_options.include_usage`` one more chunk with no choices carries ``usage``.
  ``reasoning_format: "parsed"`` puts the model's reasoning in ``message.reasoning``
  (``delta.reasoning`` when streaming) and counts it in
  ``completion_tokens_details.reasoning_tokens``. ``tools`` with a last ``user`` message
  gives a tool call (``finish_reason: tool_calls``); a last ``tool`` message a text answer.
* ``POST /openai/v1/embeddings``: ``{"object": "list", "data": [{"object": "embedding",
  "embedding": [...], "index": i}], "model": ..., "usage": {"prompt_tokens", "total_tokens"}}``.

Errors use Groq's envelope ``{"error": {"message", "type", "code"}}``: 401
``invalid_api_key`` for a key the server does not accept; 404 ``model_not_found``; 429
``rate_limit_exceeded`` with ``retry-after`` (asked for with the fault header: no valid
request provokes it on demand); 500 ``internal_server_error`` (fault header); and, inside
a stream, an ``error`` data block after the first chunks (fault ``stream_error``: what
Groq sends when a streamed tool call fails, ``tool_use_failed``).

Faults are asked for with the request header ``x-fake-groq-fault`` (the recorder strips it).
Everything is decided by the request alone, ids derive from the body, ``created`` is
fixed: re-recording gives the same cassettes. The server listens on 127.0.0.1 on a free
port, serves from a daemon thread, and stops by itself after ``max_lifetime`` seconds.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULT_HEADER = "x-fake-groq-fault"
CREATED = 1750000000
EMBEDDING_DIMENSION = 768  # nomic-embed-text-v1_5
CAPITAL = "The capital of France is Paris."
REASONING = "The user asks for the capital of France. That is Paris."
DEFAULT_ANSWER = "Hello! How can I help you today?"
MODELS = ("llama-3.3-70b-versatile", "llama-3.1-8b-instant", "openai/gpt-oss-20b", "qwen/qwen3-32b",
          "nomic-embed-text-v1_5")


def _digest(body: bytes, salt: str) -> str:
    return hashlib.sha256(salt.encode() + body).hexdigest()


def _tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4)) if text else 0


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _pieces(text: str) -> list[str]:
    """Stream pieces as the API sends them: words with their leading space."""
    out, current = [], ""
    for char in text:
        if char == " " and current:
            out.append(current)
            current = ""
        current += char
    return out + ([current] if current else [])


def _error(status: int, message: str, kind: str, code: str) -> tuple[int, dict[str, Any]]:
    return status, {"error": {"message": message, "type": kind, "code": code}}


class _Handler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, *args: Any) -> None:
        pass

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        auth = self.headers.get("authorization", "")
        if auth.removeprefix("Bearer ") not in self.server.api_keys:
            self._json(*_error(401, "Invalid API Key", "invalid_request_error", "invalid_api_key"))
            return
        fault = self.headers.get(FAULT_HEADER)
        if fault == "rate_limit":
            status, body = _error(
                429, "Rate limit reached for model `llama-3.3-70b-versatile` on tokens per minute (TPM): "
                "Limit 6000, Used 5990, Requested 120. Please try again in 1.1s.", "tokens", "rate_limit_exceeded")
            self._json(status, body, {"retry-after": "2"})
            return
        if fault == "internal_server_error":
            self._json(*_error(500, "Internal Server Error", "internal_server_error", "internal_server_error"))
            return
        body = json.loads(raw or b"{}")
        model = body.get("model")
        if model not in MODELS:
            self._json(*_error(404, f"The model `{model}` does not exist or you do not have access to it.",
                               "invalid_request_error", "model_not_found"))
            return
        if self.path == "/openai/v1/chat/completions":
            self._chat(body, raw, fault)
        elif self.path == "/openai/v1/embeddings":
            self._embeddings(body, raw)
        else:
            self._json(404, {"error": {"message": "Unknown request URL", "type": "invalid_request_error",
                                       "code": "unknown_url"}})

    # -- chat ------------------------------------------------------------------------------

    def _answer(self, body: dict[str, Any], raw: bytes) -> dict[str, Any]:
        """The message the "model" gives: a tool call, or text (cut by stop and max tokens)."""
        messages = body.get("messages") or []
        last = messages[-1] if messages else {}
        prompt = " ".join(_text_of(m.get("content")) for m in messages)
        if body.get("tools") and last.get("role") == "user":
            tool = body["tools"][0]["function"]
            call = {"id": "call_" + _digest(raw, "call")[:24], "type": "function",
                    "function": {"name": tool["name"], "arguments": json.dumps({"location": "Paris"})}}
            return {"content": None, "tool_calls": [call], "finish": "tool_calls", "prompt": prompt}
        if last.get("role") == "tool":
            text = "It is %s in Paris." % json.loads(last["content"])["conditions"]
        elif "capital of france" in prompt.lower():
            text = CAPITAL
        else:
            text = DEFAULT_ANSWER
        finish = "stop"
        for stop in [body["stop"]] if isinstance(body.get("stop"), str) else body.get("stop") or []:
            if stop in text:
                text = text[: text.index(stop)]
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if limit and _tokens(text) > limit:
            text, finish = text[: limit * 4], "length"
        reasoning = REASONING if body.get("reasoning_format") == "parsed" else None
        return {"content": text, "reasoning": reasoning, "finish": finish, "prompt": prompt}

    def _usage(self, answer: dict[str, Any]) -> dict[str, Any]:
        completion = _tokens(answer.get("content") or "") + _tokens(json.dumps(answer.get("tool_calls") or ""))
        usage: dict[str, Any] = {
            "queue_time": 0.018, "prompt_tokens": 40 + _tokens(answer["prompt"]), "prompt_time": 0.002,
            "completion_tokens": completion, "completion_time": 0.031, "total_time": 0.033,
        }
        if answer.get("reasoning"):
            reasoning = _tokens(answer["reasoning"])
            usage["completion_tokens"] += reasoning
            usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return usage

    def _chat(self, body: dict[str, Any], raw: bytes, fault: str | None) -> None:
        answer = self._answer(body, raw)
        cid = "chatcmpl-" + str(_digest(raw, "id")[:8]) + "-" + _digest(raw, "id2")[:4]
        request_id = "req_01" + _digest(raw, "req")[:24]
        fingerprint = "fp_" + _digest(raw, "fp")[:10]
        if body.get("stream"):
            self._stream(body, answer, cid, request_id, fingerprint, fault)
            return
        message: dict[str, Any] = {"role": "assistant", "content": answer["content"]}
        if answer.get("reasoning"):
            message["reasoning"] = answer["reasoning"]
        if answer.get("tool_calls"):
            message["tool_calls"] = answer["tool_calls"]
        self._json(200, {
            "id": cid, "object": "chat.completion", "created": CREATED, "model": body["model"],
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": answer["finish"]}],
            "usage": self._usage(answer), "usage_breakdown": None, "system_fingerprint": fingerprint,
            "x_groq": {"id": request_id}, "service_tier": body.get("service_tier") or "on_demand",
        })

    def _stream(self, body: dict[str, Any], answer: dict[str, Any], cid: str, request_id: str, fingerprint: str,
                fault: str | None) -> None:
        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
            return {"id": cid, "object": "chat.completion.chunk", "created": CREATED, "model": body["model"],
                    "system_fingerprint": fingerprint,
                    "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}], **extra}

        events = [chunk({"role": "assistant", "content": ""}, x_groq={"id": request_id})]
        for piece in _pieces(answer.get("reasoning") or ""):
            events.append(chunk({"reasoning": piece}))
        for i, call in enumerate(answer.get("tool_calls") or ()):
            events.append(chunk({"tool_calls": [{"index": i, **call}]}))  # Groq sends a call whole
        for piece in _pieces(answer.get("content") or ""):
            events.append(chunk({"content": piece}))
        if fault == "stream_error":
            events = events[:3]
            events.append({"error": {"message": "Failed to call a function. Please adjust your prompt. "
                                                "See 'failed_generation' for more details.",
                                     "type": "invalid_request_error", "code": "tool_use_failed",
                                     "failed_generation": "<function=get_weather>{\"location\": \"Paris\"}"}})
        else:
            usage = self._usage(answer)
            events.append(chunk({}, answer["finish"], x_groq={"id": request_id, "usage": usage}))
            if (body.get("stream_options") or {}).get("include_usage"):
                last = chunk({}, None, usage=usage)
                last["choices"] = []
                events.append(last)
        data = "".join("data: %s\n\n" % json.dumps(e) for e in events)
        if fault != "stream_error":
            data += "data: [DONE]\n\n"
        payload = data.encode()
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("x-request-id", request_id)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    # -- embeddings ------------------------------------------------------------------------

    def _embeddings(self, body: dict[str, Any], raw: bytes) -> None:
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        data = []
        for i, text in enumerate(texts):
            seed = hashlib.sha256(text.encode()).digest()
            vector = [round((seed[j % 32] - 128) / 128.0, 6) for j in range(EMBEDDING_DIMENSION)]
            data.append({"object": "embedding", "embedding": vector, "index": i})
        tokens = sum(_tokens(t) for t in texts)
        self._json(200, {"object": "list", "data": data, "model": body["model"],
                         "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})


class FakeGroqServer:
    """``with FakeGroqServer(api_keys=(...,)) as server:`` then ``Groq(base_url=server.url)``."""

    def __init__(self, api_keys: tuple[str, ...], max_lifetime: float = 120.0) -> None:
        self.api_keys = api_keys
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.api_keys = api_keys  # type: ignore[attr-defined]
        self._httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._timer = threading.Timer(max_lifetime, self.stop)
        self._timer.daemon = True

    def __enter__(self) -> FakeGroqServer:
        self._thread.start()
        self._timer.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        self._timer.cancel()
        self._httpd.shutdown()
        self._httpd.server_close()
