"""A local stand-in for the Cohere API (v1 and v2), answering as its reference documents.

A stdlib ``ThreadingHTTPServer`` on 127.0.0.1 (a free port, a daemon thread, stopped by
``close()`` or by itself after ``max_lifetime`` seconds). It decides only from the
request: the path, ``stream``, ``tools``, ``embedding_types``, the bearer key, and the
header ``x-fake-cohere-fault`` (forced errors). Bodies follow the API reference:

* ``POST /v2/chat``: ``{id, finish_reason, message: {role, content: [{type: text, text}],
  tool_plan, tool_calls}, usage: {billed_units, tokens, cached_tokens}}``; with
  ``stream: true`` server-sent events ``message-start``, ``content-start``,
  ``content-delta``..., ``content-end`` (or ``tool-plan-delta``, ``tool-call-start``,
  ``tool-call-delta``..., ``tool-call-end``), ``message-end`` with the finish reason and
  usage. Counts are sent as the API sends them: numbers that the SDK reads as floats.
* ``POST /v2/embed``: ``{id, embeddings: {float: [[...]]}, texts, meta, response_type:
  embeddings_by_type}``; ``POST /v2/rerank``: ``{id, results: [{index,
  relevance_score}], meta: {billed_units: {search_units}}}``.
* ``POST /v1/chat``: ``{response_id, text, generation_id, finish_reason, meta}``; with
  ``stream: true`` newline-delimited JSON events ``stream-start``, ``text-generation``...,
  ``stream-end`` holding the whole response. ``POST /v1/embed`` (``embeddings_floats``,
  or ``embeddings_by_type`` when ``embedding_types`` is given).
* Errors: ``{"message": ...}`` with 401 (unknown key), 400 (fault ``bad_request``, or no
  ``model`` on v2), 429 (``rate_limit``; ``rate_limit_once``: the first request of a
  given ``x-fake-cohere-attempt-key`` gets it, the next succeeds), 500 (``server_error``),
  and ``stream_cut``: a stream that sends two events then drops the connection.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULT_HEADER = "x-fake-cohere-fault"
ATTEMPT_HEADER = "x-fake-cohere-attempt-key"
ANSWER = "The capital of France is Paris."
TOOL_CALL_ID = "get_weather_1byjy32y4hvq"
TOOL_PLAN = "I will look up the weather in Paris."
TOOL_ARGS = '{"location":"Paris"}'
EMBED_DIM = 8


def _usage(input_tokens: int, output_tokens: int, billed_in: int, billed_out: int) -> dict[str, Any]:
    return {
        "billed_units": {"input_tokens": billed_in, "output_tokens": billed_out},
        "tokens": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        "cached_tokens": 0,
    }


def _pieces(text: str, n: int = 4) -> list[str]:
    step = max(1, len(text) // n)
    return [text[i : i + step] for i in range(0, len(text), step)]


def _wants_tool(body: dict[str, Any]) -> bool:
    """Tools offered and the last message is not a tool's result: the model calls one."""
    messages = body.get("messages") or [{}]
    return bool(body.get("tools")) and messages[-1].get("role") != "tool"


def v2_chat(body: dict[str, Any]) -> dict[str, Any]:
    if _wants_tool(body):
        return {
            "id": "c14c80c3-18eb-4519-9460-6c92edd8cfb4",
            "finish_reason": "TOOL_CALL",
            "message": {
                "role": "assistant",
                "tool_plan": TOOL_PLAN,
                "tool_calls": [
                    {"id": TOOL_CALL_ID, "type": "function", "function": {"name": "get_weather", "arguments": TOOL_ARGS}}
                ],
            },
            "usage": _usage(1123, 34, 23, 21),
        }
    return {
        "id": "5a50480a-cf52-46f0-af01-53d18539bd31",
        "finish_reason": "MAX_TOKENS" if body.get("max_tokens") == 1 else "COMPLETE",
        "message": {"role": "assistant", "content": [{"type": "text", "text": ANSWER}]},
        "usage": _usage(496, 8, 12, 8),
    }


def v2_events(body: dict[str, Any]) -> list[dict[str, Any]]:
    start = {"type": "message-start", "id": "29f14a5a-11de-4cae-9800-25e4747408ea",
             "delta": {"message": {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [],
                                   "citations": []}}}
    if _wants_tool(body):
        mid: list[dict[str, Any]] = [{"type": "tool-plan-delta", "delta": {"message": {"tool_plan": p}}}
                                     for p in _pieces(TOOL_PLAN, 2)]
        mid.append({"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": {
            "id": TOOL_CALL_ID, "type": "function", "function": {"name": "get_weather", "arguments": ""}}}}})
        mid += [{"type": "tool-call-delta", "index": 0, "delta": {"message": {"tool_calls": {"function": {
            "arguments": p}}}}} for p in _pieces(TOOL_ARGS, 3)]
        mid.append({"type": "tool-call-end", "index": 0})
        end = {"type": "message-end", "delta": {"finish_reason": "TOOL_CALL", "usage": _usage(1123, 34, 23, 21)}}
    else:
        mid = [{"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}}]
        mid += [{"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": p}}}}
                for p in _pieces(ANSWER)]
        mid.append({"type": "content-end", "index": 0})
        end = {"type": "message-end", "delta": {"finish_reason": "COMPLETE", "usage": _usage(496, 8, 12, 8)}}
    return [start, *mid, end]


def v2_embed(body: dict[str, Any]) -> dict[str, Any]:
    texts = body.get("texts") or []
    dim = body.get("output_dimension") or EMBED_DIM
    vectors = [[round(0.01 * (i + 1) * (j + 1), 4) for j in range(dim)] for i in range(len(texts))]
    return {
        "id": "da6e531f-54c6-4a73-bf92-f60566d8d753",
        "embeddings": {"float": vectors},
        "texts": texts,
        "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": 2 * len(texts)}},
        "response_type": "embeddings_by_type",
    }


def v2_rerank(body: dict[str, Any]) -> dict[str, Any]:
    docs = body.get("documents") or []
    order = sorted(range(len(docs)), key=lambda i: ("capital" not in docs[i].lower(), i))
    top_n = body.get("top_n") or len(docs)
    results = [{"index": i, "relevance_score": round(0.9 / (rank + 1), 4)} for rank, i in enumerate(order[:top_n])]
    return {"id": "07734bd2-2473-4f07-94e1-0d9f0e6843cf", "results": results,
            "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}}}


def v1_chat(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "response_id": "a29f1d59-3c1b-4b5b-8a6d-5b2e4c0c9e11",
        "text": ANSWER,
        "generation_id": "b5a5e3b2-6e8f-4a4e-9f4b-2b1d6f0c7a21",
        "chat_history": [
            {"role": "USER", "message": body.get("message", "")},
            {"role": "CHATBOT", "message": ANSWER},
        ],
        "finish_reason": "COMPLETE",
        "meta": {"api_version": {"version": "1"}, "billed_units": {"input_tokens": 9, "output_tokens": 8},
                 "tokens": {"input_tokens": 75, "output_tokens": 8}},
    }


def v1_events(body: dict[str, Any]) -> list[dict[str, Any]]:
    final = v1_chat(body)
    events: list[dict[str, Any]] = [
        {"is_finished": False, "event_type": "stream-start", "generation_id": final["generation_id"]}
    ]
    events += [{"is_finished": False, "event_type": "text-generation", "text": p} for p in _pieces(ANSWER)]
    events.append({"is_finished": True, "event_type": "stream-end", "finish_reason": "COMPLETE", "response": final})
    return events


def v1_embed(body: dict[str, Any]) -> dict[str, Any]:
    texts = body.get("texts") or []
    vectors = [[round(0.02 * (i + 1) * (j + 1), 4) for j in range(EMBED_DIM)] for i in range(len(texts))]
    meta = {"api_version": {"version": "1"}, "billed_units": {"input_tokens": 2 * len(texts)}}
    if body.get("embedding_types"):
        return {"id": "v1-embed-by-type", "embeddings": {"float": vectors}, "texts": texts, "meta": meta,
                "response_type": "embeddings_by_type"}
    return {"id": "v1-embed-floats", "embeddings": vectors, "texts": texts, "meta": meta,
            "response_type": "embeddings_floats"}


class _Handler(BaseHTTPRequestHandler):
    server: FakeCohereServer  # type: ignore[assignment]
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        if status == 429:
            self.send_header("retry-after-ms", "10")  # how long the SDK waits before its retry
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, content_type: str, lines: list[bytes], cut: bool = False) -> None:
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.send_header("transfer-encoding", "chunked")
        if cut:
            self.send_header("connection", "close")
        self.end_headers()
        for i, line in enumerate(lines):
            if cut and i == 2:
                self.wfile.flush()
                self.close_connection = True
                return  # the connection drops without the last chunk
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
        self.wfile.write(b"0\r\n\r\n")

    def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send(400, {"message": "invalid request: could not parse the body as JSON"})
            return
        self.server.requests.append((self.path, body))
        auth = self.headers.get("authorization", "")
        if auth.removeprefix("Bearer ") not in self.server.api_keys:
            self._send(401, {"message": "invalid api token"})
            return
        fault = self.headers.get(FAULT_HEADER)
        if fault == "bad_request":
            self._send(400, {"message": "invalid request: model 'no-such-model' not found, make sure the correct model "
                                        "ID was used and that you have access to the model."})
            return
        if fault == "rate_limit":
            self._send(429, {"message": "You are using a Trial key, which is limited to 20 API calls / minute."})
            return
        if fault == "rate_limit_once":
            key = self.headers.get(ATTEMPT_HEADER, "")
            if key not in self.server.seen_attempts:
                self.server.seen_attempts.add(key)
                self._send(429, {"message": "You are using a Trial key, which is limited to 20 API calls / minute."})
                return
        if fault == "server_error":
            self._send(500, {"message": "internal server error, this has been reported to our developers"})
            return
        path = self.path.split("?")[0]
        stream = bool(body.get("stream"))
        if path == "/v2/chat":
            if stream:
                lines = [("event: %s\ndata: %s\n\n" % (e["type"], json.dumps(e))).encode() for e in v2_events(body)]
                self._stream("text/event-stream", lines, cut=fault == "stream_cut")
            else:
                self._send(200, v2_chat(body))
        elif path == "/v2/embed":
            self._send(200, v2_embed(body))
        elif path == "/v2/rerank":
            self._send(200, v2_rerank(body))
        elif path == "/v1/chat":
            if stream:
                lines = [(json.dumps(e) + "\n").encode() for e in v1_events(body)]
                self._stream("application/stream+json", lines, cut=fault == "stream_cut")
            else:
                self._send(200, v1_chat(body))
        elif path == "/v1/embed":
            self._send(200, v1_embed(body))
        elif path == "/v1/rerank":
            self._send(200, v2_rerank(body) | {"meta": {"api_version": {"version": "1"},
                                                         "billed_units": {"search_units": 1}}})
        else:
            self._send(404, {"message": "route not found: %s" % path})


class FakeCohereServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, api_keys: tuple[str, ...] = ("cohere-test-0000",), max_lifetime: float = 120.0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.api_keys = api_keys
        self.requests: list[tuple[str, Any]] = []
        self.seen_attempts: set[str] = set()
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._deadline = threading.Timer(max_lifetime, self.close)
        self._deadline.daemon = True

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.server_address[1]

    def __enter__(self) -> FakeCohereServer:
        self._thread.start()
        self._deadline.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._deadline.cancel()
        if self._thread.is_alive():
            self.shutdown()
        self.server_close()


if __name__ == "__main__":
    with FakeCohereServer(max_lifetime=60) as server:
        print(server.url)
        time.sleep(60)
