"""A local stand-in for an Ollama server, used only to record vcrpy cassettes.

It answers the four endpoints the Ollama instrumentation traces the way Ollama's API
reference (``docs/api.md`` of ollama/ollama) documents them and the server sends them:

* ``POST /api/chat``: one JSON object (``model``, ``created_at``, ``message`` with
  ``role``/``content`` and, when asked, ``thinking`` or ``tool_calls`` whose
  ``function.arguments`` is an object and which carry no id; ``done: true``,
  ``done_reason``, the durations in nanoseconds, ``prompt_eval_count``, ``eval_count``).
  With ``"stream": true`` (the API's default when the field is absent) the answer is
  NDJSON (``application/x-ndjson``): one object per line, each with ``done: false`` and
  a fragment of the message, then a last line with an empty message, ``done: true``,
  ``done_reason`` and the counts (only there).
* ``POST /api/generate``: the same with ``response`` (and ``thinking``) instead of
  ``message``; the final object also carries ``context``.
* ``POST /api/embed``: ``{"model", "embeddings": [[...], ...], "total_duration",
  "load_duration", "prompt_eval_count"}``.
* ``POST /api/embeddings`` (the older endpoint): ``{"embedding": [...]}``.

Errors use Ollama's body, ``{"error": "..."}``:

* 404 for a model that is not pulled (``model "x" not found, try pulling it first``),
  before any stream starts;
* 400 for a request without a model or with unreadable JSON;
* 401 ``{"error": "unauthorized"}`` when an ``Authorization`` header carries a key that
  is not accepted (ollama.com's hosted API; a local server ignores the header);
* the header ``x-fake-ollama-fault: stream_error`` asks for what no valid request can
  cause on a healthy server: a stream that sends two parts, then an ``{"error": ...}``
  line, as Ollama does when the runner fails mid-generation (the recorder strips it).

Everything is decided by the request alone (the last user message picks the answer);
``created_at`` and the durations are fixed, so a re-recording only changes ``Date``. The
server listens on 127.0.0.1 on a free port, serves from a daemon thread, and stops itself
after ``max_lifetime`` seconds even if the caller forgets to.
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULT_HEADER = "x-fake-ollama-fault"
DEFAULT_API_KEY = "ollama-test-0000"
CREATED_AT = "2025-06-01T12:00:00.000000000Z"
MODELS = ("llama3.2", "qwen3", "all-minilm", "nomic-embed-text", "codellama:code")
EMBED_DIMENSION = {"all-minilm": 384, "nomic-embed-text": 768}

# (keyword in the last user message / prompt, answer, thinking)
_ANSWERS = (
    ("capital of france", "The capital of France is Paris.", "The user asks for a capital. France: Paris."),
    ("haiku", "Waves fold into foam\nsalt wind carries gull voices\nthe tide keeps its time", None),
    ("def fibonacci", "    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n", None),
    ("why is the sky blue", "Sunlight scatters off air molecules, and blue light scatters most.", None),
)
_DEFAULT_ANSWER = "I am a local model served by Ollama."
_TOOL_RESULT_ANSWER = "It is 18 degrees and sunny in Paris right now."


def _words(text: str) -> list[str]:
    """The answer in stream fragments: each word with the space before it."""
    pieces: list[str] = []
    for i, word in enumerate(text.split(" ")):
        pieces.append(word if i == 0 else " " + word)
    return pieces


def _vector(seed: str, dimension: int) -> list[float]:
    """A deterministic unit-ish vector for one input."""
    out: list[float] = []
    counter = 0
    while len(out) < dimension:
        digest = hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        out.extend(round((b - 127.5) / 127.5, 6) for b in digest)
        counter += 1
    return out[:dimension]


def _durations(prompt_tokens: int, output_tokens: int) -> dict[str, int]:
    return {
        "total_duration": 1_250_000_000 + 1_000_000 * output_tokens,
        "load_duration": 12_500_000,
        "prompt_eval_count": prompt_tokens,
        "prompt_eval_duration": 2_000_000 * prompt_tokens,
        "eval_count": output_tokens,
        "eval_duration": 20_000_000 * output_tokens,
    }


def _text_of(message: Any) -> str:
    content = message.get("content") if isinstance(message, dict) else None
    return content if isinstance(content, str) else ""


def _pick(text: str) -> tuple[str, str | None]:
    lowered = text.lower()
    for key, answer, thinking in _ANSWERS:
        if key in lowered:
            return answer, thinking
    return _DEFAULT_ANSWER, None


def _count(*texts: str) -> int:
    return max(1, sum(len(t.split()) for t in texts if t))


class _Handler(BaseHTTPRequestHandler):
    server: _FakeOllamaHTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # -- plumbing --------------------------------------------------------------------------

    def _send_json(self, status: int, body: Any) -> None:
        raw = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _send_ndjson(self, lines: list[dict[str, Any]]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for line in lines:
            raw = (json.dumps(line, separators=(",", ":")) + "\n").encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(raw), raw))
        self.wfile.write(b"0\r\n\r\n")

    def _error(self, status: int, message: str) -> None:
        self._send_json(status, {"error": message})

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        auth = self.headers.get("Authorization")
        if auth is not None and auth != f"Bearer {self.server.api_key}":
            return self._error(401, "unauthorized")
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return self._error(400, "invalid character looking for beginning of value")
        route = {
            "/api/chat": self._chat,
            "/api/generate": self._generate,
            "/api/embed": self._embed,
            "/api/embeddings": self._embeddings,
        }.get(self.path)
        if route is None:
            return self._error(404, "404 page not found")
        model = body.get("model")
        if not model:
            return self._error(400, "model is required")
        if model not in MODELS:
            return self._error(404, f'model "{model}" not found, try pulling it first')
        route(body, model)

    # -- endpoints -------------------------------------------------------------------------

    def _chat(self, body: dict[str, Any], model: str) -> None:
        messages = body.get("messages") or []
        last = messages[-1] if messages else {}
        prompt_tokens = _count(*(_text_of(m) for m in messages)) + 10 * len(body.get("tools") or [])
        stream = body.get("stream", True)
        tool_calls: list[dict[str, Any]] | None = None
        thinking = None
        if body.get("tools") and last.get("role") == "user":
            tool_calls = [{"function": {"name": body["tools"][0]["function"]["name"],
                                        "arguments": {"location": "Paris"}}}]
            answer = ""
        elif last.get("role") == "tool":
            answer = _TOOL_RESULT_ANSWER
        else:
            answer, thinking = _pick(_text_of(last))
        if not body.get("think"):
            thinking = None
        output_tokens = _count(answer, thinking or "") if answer or thinking else 12
        done_reason = "stop"
        limit = (body.get("options") or {}).get("num_predict")
        if isinstance(limit, int) and 0 <= limit < output_tokens:
            answer = " ".join(answer.split(" ")[:limit])
            output_tokens, done_reason = limit, "length"
        if not stream:
            message: dict[str, Any] = {"role": "assistant", "content": answer}
            if thinking:
                message["thinking"] = thinking
            if tool_calls:
                message["tool_calls"] = tool_calls
            return self._send_json(200, {
                "model": model,
                "created_at": CREATED_AT,
                "message": message,
                "done_reason": done_reason,
                "done": True,
                **_durations(prompt_tokens, output_tokens),
            })
        lines: list[dict[str, Any]] = []
        if thinking:
            for piece in _words(thinking):
                lines.append({"model": model, "created_at": CREATED_AT,
                              "message": {"role": "assistant", "content": "", "thinking": piece}, "done": False})
        if tool_calls:
            lines.append({"model": model, "created_at": CREATED_AT,
                          "message": {"role": "assistant", "content": "", "tool_calls": tool_calls}, "done": False})
        for piece in _words(answer) if answer else []:
            lines.append({"model": model, "created_at": CREATED_AT,
                          "message": {"role": "assistant", "content": piece}, "done": False})
        if self.headers.get(FAULT_HEADER) == "stream_error":
            lines = lines[:2] + [{"error": "an error was encountered while running the model: unexpected EOF"}]
            return self._send_ndjson(lines)
        lines.append({"model": model, "created_at": CREATED_AT, "message": {"role": "assistant", "content": ""},
                      "done_reason": done_reason, "done": True, **_durations(prompt_tokens, output_tokens)})
        self._send_ndjson(lines)

    def _generate(self, body: dict[str, Any], model: str) -> None:
        prompt = body.get("prompt") or ""
        system = body.get("system") or ""
        answer, thinking = _pick(prompt)
        if not body.get("think"):
            thinking = None
        prompt_tokens = _count(prompt, system, body.get("suffix") or "")
        output_tokens = _count(answer)
        context = [128006 + i for i in range(prompt_tokens + output_tokens)]
        final = {"model": model, "created_at": CREATED_AT, "response": "", "done": True, "done_reason": "stop",
                 "context": context, **_durations(prompt_tokens, output_tokens)}
        if not body.get("stream", True):
            whole = {**final, "response": answer}
            if thinking:
                whole["thinking"] = thinking
            return self._send_json(200, whole)
        lines = [{"model": model, "created_at": CREATED_AT, "response": "", "thinking": piece, "done": False}
                 for piece in (_words(thinking) if thinking else [])]
        lines += [{"model": model, "created_at": CREATED_AT, "response": piece, "done": False}
                  for piece in _words(answer)]
        self._send_ndjson(lines + [final])

    def _embed(self, body: dict[str, Any], model: str) -> None:
        given = body.get("input")
        texts = [given] if isinstance(given, str) else list(given or [])
        dimension = body.get("dimensions") or EMBED_DIMENSION.get(model, 384)
        self._send_json(200, {
            "model": model,
            "embeddings": [_vector(t, dimension) for t in texts],
            "total_duration": 14_143_917,
            "load_duration": 1_019_500,
            "prompt_eval_count": _count(*texts),
        })

    def _embeddings(self, body: dict[str, Any], model: str) -> None:
        self._send_json(200, {"embedding": _vector(body.get("prompt") or "", EMBED_DIMENSION.get(model, 384))})


class _FakeOllamaHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    api_key: str = DEFAULT_API_KEY


class FakeOllamaServer:
    """Context manager running the fake server on ``http://127.0.0.1:<free port>``.

    >>> with FakeOllamaServer() as server:
    ...     client = ollama.Client(host=server.url)
    """

    def __init__(self, api_key: str = DEFAULT_API_KEY, max_lifetime: float = 120.0) -> None:
        self._httpd = _FakeOllamaHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.api_key = api_key
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-ollama", daemon=True)
        self._timer = threading.Timer(max_lifetime, self.stop)  # never outlive a crashed recorder
        self._timer.daemon = True
        self._stopped = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> FakeOllamaServer:
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

    def __enter__(self) -> FakeOllamaServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
