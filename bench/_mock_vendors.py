"""The vendor side of the in-process benchmarks: realistic response bodies, built once as
bytes, and the ``httpx2.MockTransport`` that serves them (no network).

Shared by ``bench/vendors.py`` (in the agent's interpreter) and ``bench/_peer_worker.py`` (in
each peer's virtual environment), so it imports nothing but the standard library and
``httpx2`` (which the SDKs bring).
"""

from __future__ import annotations

import json
from typing import Any

import httpx2

STREAM_CHUNKS = 1000

# --- response bodies (built once, served as bytes) -----------------------------------------

_WORDS = (
    "The quick analysis shows that distributed tracing helps engineers understand latency, "
    "errors and cost across services; each span records what happened, when, and why. "
    "Sampling keeps volume manageable while preserving the traces that matter most."
).split()


def _tokens(n: int) -> list[str]:
    """``n`` word-sized tokens (a leading space, as tokenizers produce them)."""
    return [(" " if i else "") + _WORDS[i % len(_WORDS)] for i in range(n)]


def _text(n: int) -> str:
    return "".join(_tokens(n))


def _sse(events: list[tuple[str | None, Any]]) -> bytes:
    out = []
    for event, data in events:
        payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
        out.append(("event: %s\n" % event if event else "") + "data: %s\n\n" % payload)
    return "".join(out).encode()


JSON_HEADERS = {"content-type": "application/json"}
SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}

SYSTEM = "You are a concise assistant that explains observability concepts to engineers."
QUESTION = "Explain in about 150 words why distributed tracing matters for LLM applications."


def openai_bodies() -> tuple[bytes, bytes, int]:
    cid, model, created = "chatcmpl-BENCHa1b2c3d4e5f6g7h8i9j0", "gpt-4o-mini-2024-07-18", 1795556979
    usage = {
        "prompt_tokens": 38, "completion_tokens": 200, "total_tokens": 238,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
    }
    body = {
        "id": cid, "object": "chat.completion", "created": created, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": _text(200), "refusal": None,
                                             "annotations": []}, "logprobs": None, "finish_reason": "stop"}],
        "usage": usage, "service_tier": "default", "system_fingerprint": "fp_560af6e559",
    }

    def chunk(delta: dict, finish: str | None = None, choices: bool = True, use: Any = None) -> dict:
        return {
            "id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
            "service_tier": "default", "system_fingerprint": "fp_560af6e559",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}] if choices else [],
            "usage": use,
        }

    # 1 role chunk + 997 content chunks + 1 finish chunk + 1 usage chunk = 1,000 chunks.
    events: list[tuple[str | None, Any]] = [(None, chunk({"role": "assistant", "content": "", "refusal": None}))]
    events += [(None, chunk({"content": t})) for t in _tokens(STREAM_CHUNKS - 3)]
    events.append((None, chunk({}, "stop")))
    events.append((None, chunk({}, choices=False, use=dict(usage, completion_tokens=997, total_tokens=1035))))
    events.append((None, "[DONE]"))
    return json.dumps(body).encode(), _sse(events), STREAM_CHUNKS


def anthropic_bodies() -> tuple[bytes, bytes, int]:
    mid, model = "msg_01BENCHXa1b2c3d4e5f6g7h8", "claude-sonnet-4-5-20250929"
    usage = {"input_tokens": 38, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
             "output_tokens": 200, "service_tier": "standard"}
    body = {"id": mid, "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": _text(200)}], "stop_reason": "end_turn",
            "stop_sequence": None, "usage": usage}
    start: dict[str, Any] = {"id": mid, "type": "message", "role": "assistant", "model": model, "content": [],
             "stop_reason": None, "stop_sequence": None, "usage": dict(usage, output_tokens=1)}
    events: list[tuple[str | None, Any]] = [
        ("message_start", {"type": "message_start", "message": start}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
    ]
    events += [("content_block_delta", {"type": "content_block_delta", "index": 0,
                                        "delta": {"type": "text_delta", "text": t}})
               for t in _tokens(STREAM_CHUNKS)]
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                           "usage": {"output_tokens": STREAM_CHUNKS}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    return json.dumps(body).encode(), _sse(events), STREAM_CHUNKS + 5


def mistral_bodies() -> tuple[bytes, bytes, int]:
    cid, model, created = "cf9f9cef277b9cf0c6fc54b4d418c9af", "mistral-small-latest", 1750000000
    usage = {"prompt_tokens": 38, "total_tokens": 238, "completion_tokens": 200}
    body = {"id": cid, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": _text(200), "tool_calls": None},
                         "finish_reason": "stop"}], "usage": usage}

    def chunk(delta: dict, finish: str | None = None, use: Any = None) -> dict:
        c: dict = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        if use is not None:
            c["usage"] = use
        return c

    # 1 role chunk + 998 content chunks + 1 last chunk with finish reason and usage = 1,000.
    events: list[tuple[str | None, Any]] = [(None, chunk({"role": "assistant", "content": ""}))]
    events += [(None, chunk({"content": t})) for t in _tokens(STREAM_CHUNKS - 2)]
    events.append((None, chunk({"content": "."}, "stop", {"prompt_tokens": 38, "total_tokens": 1037,
                                                        "completion_tokens": 999})))
    events.append((None, "[DONE]"))
    return json.dumps(body).encode(), _sse(events), STREAM_CHUNKS


def mock_transport(body: bytes, headers: dict[str, str]) -> httpx2.MockTransport:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers=headers, content=body)

    return httpx2.MockTransport(handler)


# --- Groq (its SDK is on httpx, not httpx2) ------------------------------------------------------


def groq_bodies() -> tuple[bytes, bytes, int]:
    """A Groq chat completion (``x_groq``, Groq's usage timings) and a 1,000-chunk stream whose
    only usage is the last chunk's ``x_groq.usage``, as Groq sends it."""
    cid, model, created = "chatcmpl-BENCH1f0e2d3c-4b5a-6978", "llama-3.3-70b-versatile", 1750000000
    usage = {"queue_time": 0.0184, "prompt_tokens": 38, "prompt_time": 0.0021, "completion_tokens": 200,
             "completion_time": 0.1667, "total_tokens": 238, "total_time": 0.1688}
    body = {"id": cid, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": _text(200)}, "logprobs": None,
                         "finish_reason": "stop"}],
            "usage": usage, "system_fingerprint": "fp_4e2e0dbb31", "x_groq": {"id": "req_01benchgroq0000000000000"},
            "service_tier": "on_demand"}

    def chunk(delta: dict, finish: str | None = None, groq: Any = None) -> dict:
        c: dict = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                   "system_fingerprint": "fp_4e2e0dbb31",
                   "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if groq is not None:
            c["x_groq"] = groq
        return c

    # 1 role chunk (with x_groq.id) + 998 content chunks + 1 finish chunk with x_groq.usage = 1,000.
    events: list[tuple[str | None, Any]] = [
        (None, chunk({"role": "assistant", "content": ""}, groq={"id": "req_01benchgroq0000000000000"}))]
    events += [(None, chunk({"content": t})) for t in _tokens(STREAM_CHUNKS - 2)]
    events.append((None, chunk({}, "stop", {"id": "req_01benchgroq0000000000000",
                                            "usage": dict(usage, completion_tokens=998, total_tokens=1036)})))
    events.append((None, "[DONE]"))
    return json.dumps(body).encode(), _sse(events), STREAM_CHUNKS


def httpx_mock_transport(body: bytes, headers: dict[str, str]) -> Any:
    """``mock_transport`` for SDKs on ``httpx`` (Groq): imported here, on first use, so that
    the peers' environments without httpx still import this module."""
    import httpx

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=headers, content=body)

    return httpx.MockTransport(handler)


MESSAGES = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]


# --- AWS Bedrock (botocore): the same answers in the service's own encodings --------------------


def _eventstream_message(event_type: str, payload: Any) -> bytes:
    """One message of AWS's binary event-stream encoding (prelude, headers, JSON payload, CRC32s)."""
    import binascii
    import struct

    raw = json.dumps(payload, separators=(",", ":")).encode()
    headers = b""
    for name, value in ((":event-type", event_type), (":content-type", "application/json"), (":message-type", "event")):
        headers += struct.pack("!B", len(name)) + name.encode() + b"\x07" + struct.pack("!H", len(value)) + value.encode()
    prelude = struct.pack("!II", 12 + len(headers) + len(raw) + 4, len(headers))
    prelude += struct.pack("!I", binascii.crc32(prelude) & 0xFFFFFFFF)
    body = prelude + headers + raw
    return body + struct.pack("!I", binascii.crc32(body) & 0xFFFFFFFF)


def bedrock_bodies() -> tuple[bytes, bytes, int]:
    """A ``Converse`` answer (200 output tokens) and a ``ConverseStream`` of 1,000 events."""
    body = {"output": {"message": {"role": "assistant", "content": [{"text": _text(200)}]}}, "stopReason": "end_turn",
            "usage": {"inputTokens": 38, "outputTokens": 200, "totalTokens": 238}, "metrics": {"latencyMs": 900}}
    # messageStart + 997 deltas + messageStop + metadata (usage) = 1,000 events
    events = [_eventstream_message("messageStart", {"role": "assistant"})]
    events += [_eventstream_message("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": t}})
               for t in _tokens(STREAM_CHUNKS - 3)]
    events.append(_eventstream_message("messageStop", {"stopReason": "end_turn"}))
    events.append(_eventstream_message("metadata", {"usage": {"inputTokens": 38, "outputTokens": 997,
                                                              "totalTokens": 1035}, "metrics": {"latencyMs": 900}}))
    return json.dumps(body).encode(), b"".join(events), STREAM_CHUNKS


class BotocoreRaw:
    """The part of urllib3's response botocore reads (``read``, ``stream``, ``close``)."""

    def __init__(self, data: bytes) -> None:
        self._data, self._pos = data, 0

    def read(self, amt: int | None = None) -> bytes:
        end = len(self._data) if amt is None else min(len(self._data), self._pos + amt)
        out, self._pos = self._data[self._pos:end], end
        return out

    def stream(self, amt: int = 1024, decode_content: Any = None) -> Any:
        while True:
            data = self.read(amt)
            if not data:
                return
            yield data

    def close(self) -> None:
        pass


def before_send(answers: dict[str, tuple[bytes, str]]) -> Any:
    """A botocore ``before-send`` handler: ``answers`` maps the URL's last path segment
    (``converse``, ``converse-stream``, ``ListBuckets``'s ``/``) to (body, content type);
    botocore's own parsers read it. Nothing is sent."""
    from botocore.awsrequest import AWSResponse

    def handler(request: Any, **kwargs: Any) -> Any:
        body, content_type = answers[request.url.rstrip("/").rsplit("/", 1)[-1]]
        headers = {"Content-Type": content_type, "Content-Length": str(len(body))}
        return AWSResponse(request.url, 200, headers, BotocoreRaw(body))

    return handler


# --- Cohere (v2 chat; its SDK is on httpx) -------------------------------------------------------


def cohere_bodies() -> tuple[bytes, bytes, int]:
    """A Cohere v2 chat answer (no model named, usage as ``tokens`` and ``billed_units``) and a
    1,000-event stream: message-start, content-start, 996 content-delta, content-end,
    message-end with the finish reason and usage, as Cohere's v2 streams send them."""
    usage = {"billed_units": {"input_tokens": 26, "output_tokens": 200},
             "tokens": {"input_tokens": 38, "output_tokens": 200}}
    body = {"id": "d2a7ba3b-bench-4a1e-9c6f-cohere000001", "finish_reason": "COMPLETE",
            "message": {"role": "assistant", "content": [{"type": "text", "text": _text(200)}]}, "usage": usage}
    events: list[tuple[str | None, Any]] = [
        ("message-start", {"type": "message-start", "id": "d2a7ba3b-bench-4a1e-9c6f-cohere000002",
                           "delta": {"message": {"role": "assistant", "content": [], "tool_plan": "",
                                                 "tool_calls": [], "citations": []}}}),
        ("content-start", {"type": "content-start", "index": 0,
                           "delta": {"message": {"content": {"type": "text", "text": ""}}}}),
    ]
    events += [("content-delta", {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": t}}}})
               for t in _tokens(STREAM_CHUNKS - 4)]
    events.append(("content-end", {"type": "content-end", "index": 0}))
    events.append(("message-end", {"type": "message-end", "delta": {"finish_reason": "COMPLETE", "usage": dict(
        usage, tokens={"input_tokens": 38, "output_tokens": 996})}}))
    return json.dumps(body).encode(), _sse(events), STREAM_CHUNKS


# --- Ollama (NDJSON streams; its SDK is on httpx) ----------------------------------------------


def ollama_bodies() -> tuple[bytes, bytes, int]:
    """An Ollama ``/api/chat`` answer and a 1,000-part NDJSON stream: 999 content parts, then
    the ``done`` part with ``done_reason`` and the counts (the only part that has them)."""
    model, created = "llama3.2", "2025-06-01T12:00:00.000000000Z"
    counts = {"total_duration": 4_883_583_458, "load_duration": 1_334_875, "prompt_eval_count": 38,
              "prompt_eval_duration": 342_546_000, "eval_count": 200, "eval_duration": 4_535_599_000}
    body = {"model": model, "created_at": created, "message": {"role": "assistant", "content": _text(200)},
            "done_reason": "stop", "done": True, **counts}
    parts = [{"model": model, "created_at": created, "message": {"role": "assistant", "content": t}, "done": False}
             for t in _tokens(STREAM_CHUNKS - 1)]
    parts.append({"model": model, "created_at": created, "message": {"role": "assistant", "content": ""},
                  "done_reason": "stop", "done": True, **{**counts, "eval_count": STREAM_CHUNKS - 1}})
    ndjson = "".join(json.dumps(p, separators=(",", ":")) + "\n" for p in parts)
    return json.dumps(body, separators=(",", ":")).encode(), ndjson.encode(), STREAM_CHUNKS


# --- Google Gen AI (google-genai: httpx2 from 3.x) ------------------------------------------------


def gemini_bodies() -> tuple[bytes, bytes, int]:
    """A Gemini ``generateContent`` answer (200 tokens, ``usageMetadata``) and a 1,000-chunk
    ``streamGenerateContent?alt=sse`` stream: every chunk carries its piece of text and the
    running ``usageMetadata`` (as the service sends them), the last one ``finishReason``."""
    model, rid = "gemini-2.5-flash", "BENCHgemini0123456789"

    def response(text: str, candidates: int, finish: str | None) -> dict:
        candidate: dict = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        return {"candidates": [candidate],
                "usageMetadata": {"promptTokenCount": 38, "candidatesTokenCount": candidates,
                                  "totalTokenCount": 38 + candidates,
                                  "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 38}]},
                "modelVersion": model, "responseId": rid}

    body = response(_text(200), 200, "STOP")
    pieces = _tokens(STREAM_CHUNKS)
    events = [(None, response(t, i + 1, "STOP" if i == STREAM_CHUNKS - 1 else None)) for i, t in enumerate(pieces)]
    return json.dumps(body, separators=(",", ":")).encode(), _sse(events), STREAM_CHUNKS
