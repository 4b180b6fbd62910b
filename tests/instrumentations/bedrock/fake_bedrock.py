"""A fake ``bedrock-runtime`` at botocore's own seam: wire bytes as the service documents them.

``install(client)`` registers a ``before-send`` handler on one botocore client: botocore
signs and serializes the request as usual, then gets this module's
``botocore.awsrequest.AWSResponse`` instead of opening a connection, and its real parsers
run over the bytes: JSON for Converse, the raw body for InvokeModel, and AWS's binary
event-stream encoding (``application/vnd.amazon.eventstream``: prelude, headers, payload,
CRC32s) for ConverseStream and InvokeModelWithResponseStream, exceptions mid-stream
included. ``serve()`` answers the same bytes over HTTP on 127.0.0.1 (the record script).

The answers follow the Bedrock Runtime API reference and each model family's documented
body; what the fake answers is decided by the request only: the operation (URL path), the
model id, and the ``x-fake-error`` header / ``"fake_error"`` key in the request (an
``additionalModelRequestFields`` or body key, since boto3 sends no custom headers).
"""

from __future__ import annotations

import binascii
import json
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

REQUEST_ID = "5b0e1c4e-8c11-4d8a-9d6e-0f2f0f4b1a11"
EVENTSTREAM = "application/vnd.amazon.eventstream"


# --- AWS event-stream encoding ------------------------------------------------------------------


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return struct.pack("!B", len(raw_name)) + raw_name + b"\x07" + struct.pack("!H", len(raw_value)) + raw_value


def message(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message: total length, headers length, prelude CRC, headers,
    payload, message CRC (big-endian, CRC32)."""
    raw_headers = b"".join(_header(k, v) for k, v in headers.items())
    total = 12 + len(raw_headers) + len(payload) + 4
    prelude = struct.pack("!II", total, len(raw_headers))
    prelude += struct.pack("!I", binascii.crc32(prelude) & 0xFFFFFFFF)
    body = prelude + raw_headers + payload
    return body + struct.pack("!I", binascii.crc32(body) & 0xFFFFFFFF)


def event(event_type: str, payload: Any) -> bytes:
    return message({":event-type": event_type, ":content-type": "application/json", ":message-type": "event"},
                   json.dumps(payload).encode())


def exception(exception_type: str, text: str) -> bytes:
    return message({":exception-type": exception_type, ":content-type": "application/json",
                    ":message-type": "exception"}, json.dumps({"message": text}).encode())


def chunk(payload: Any) -> bytes:
    """An InvokeModelWithResponseStream ``chunk`` event: the model's JSON, base64 in ``bytes``."""
    import base64

    return event("chunk", {"bytes": base64.b64encode(json.dumps(payload).encode()).decode()})


# --- the answers -------------------------------------------------------------------------------


USAGE = {"inputTokens": 12, "outputTokens": 6, "totalTokens": 18}
METRICS = {"inputTokenCount": 12, "outputTokenCount": 6, "invocationLatency": 210, "firstByteLatency": 95}


def _converse(model: str, body: dict[str, Any]) -> dict[str, Any]:
    tools = (body.get("toolConfig") or {}).get("tools")
    last = (body.get("messages") or [{}])[-1]
    answered_tool = any("toolResult" in b for b in last.get("content") or [])
    if tools and not answered_tool:
        content = [{"text": "Let me check."},
                   {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}}}]
        stop = "tool_use"
    else:
        content = [{"text": "Paris is the capital of France."}]
        stop = "end_turn"
    usage = dict(USAGE)
    if "cache" in model:
        usage.update(cacheReadInputTokens=100, cacheWriteInputTokens=20)
    return {"output": {"message": {"role": "assistant", "content": content}}, "stopReason": stop,
            "usage": usage, "metrics": {"latencyMs": 321}}


def _converse_stream(model: str, body: dict[str, Any], error: str | None) -> bytes:
    whole = _converse(model, body)
    out = [event("messageStart", {"role": "assistant"})]
    for i, block in enumerate(whole["output"]["message"]["content"]):
        if "toolUse" in block:
            use = block["toolUse"]
            out.append(event("contentBlockStart", {"contentBlockIndex": i, "start": {
                "toolUse": {"toolUseId": use["toolUseId"], "name": use["name"]}}}))
            text = json.dumps(use["input"])
            for piece in (text[:8], text[8:]):
                out.append(event("contentBlockDelta", {"contentBlockIndex": i, "delta": {"toolUse": {"input": piece}}}))
        else:
            words = block["text"].split(" ")
            for j, word in enumerate(words):
                piece = word if j == 0 else " " + word
                out.append(event("contentBlockDelta", {"contentBlockIndex": i, "delta": {"text": piece}}))
            if error == "midstream" and i == 0:
                out.append(exception("throttlingException", "Too many tokens, please wait before trying again."))
                return b"".join(out)
        out.append(event("contentBlockStop", {"contentBlockIndex": i}))
    out.append(event("messageStop", {"stopReason": whole["stopReason"]}))
    out.append(event("metadata", {"usage": whole["usage"], "metrics": {"latencyMs": 321}}))
    return b"".join(out)


# invoke_model: one documented answer per model family (the body's ``fake_error`` aside)
def _invoke_answer(model: str, body: dict[str, Any]) -> dict[str, Any]:
    name = model.split(".", 1)[1] if model.split(".", 1)[0] in ("us", "eu", "apac", "global") else model
    if name.startswith("anthropic."):
        return {"id": "msg_bdrk_01", "type": "message", "role": "assistant", "model": "claude-3-5-haiku-20241022",
                "content": [{"type": "text", "text": "Paris is the capital of France."}],
                "stop_reason": "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": 12, "output_tokens": 6, "cache_read_input_tokens": 0,
                          "cache_creation_input_tokens": 0}}
    if name.startswith("amazon.nova"):
        return {"output": {"message": {"role": "assistant", "content": [{"text": "Paris is the capital of France."}]}},
                "stopReason": "end_turn",
                "usage": {"inputTokens": 12, "outputTokens": 6, "totalTokens": 18,
                          "cacheReadInputTokenCount": 0, "cacheWriteInputTokenCount": 0}}
    if name.startswith("amazon.titan-embed"):
        return {"embedding": [0.125, -0.25, 0.5, 0.0625], "inputTextTokenCount": 5}
    if name.startswith("amazon.titan"):
        return {"inputTextTokenCount": 12, "results": [
            {"tokenCount": 6, "outputText": "Paris is the capital of France.", "completionReason": "FINISH"}]}
    if name.startswith("meta."):
        return {"generation": "Paris is the capital of France.", "prompt_token_count": 12,
                "generation_token_count": 6, "stop_reason": "stop"}
    if name.startswith("cohere.embed"):
        return {"id": "emb-1", "response_type": "embeddings_floats", "texts": body.get("texts"),
                "embeddings": [[0.1, 0.2, 0.3]]}
    if name.startswith("cohere."):
        return {"response_id": "resp-co-1", "text": "Paris is the capital of France.", "generation_id": "gen-1",
                "chat_history": [], "finish_reason": "COMPLETE"}
    if name.startswith("mistral.") and "messages" in body:
        return {"choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris is the capital of France."},
                             "stop_reason": "stop"}]}
    if name.startswith("mistral."):
        return {"outputs": [{"text": "Paris is the capital of France.", "stop_reason": "stop"}]}
    return {"id": "chatcmpl-1", "object": "chat.completion", "model": name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 6, "total_tokens": 18}}


def _invoke_stream_payloads(model: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    name = model.split(".", 1)[1] if model.split(".", 1)[0] in ("us", "eu", "apac", "global") else model
    words = ["Paris", " is", " the", " capital", " of", " France."]
    if name.startswith("anthropic."):
        out: list[dict[str, Any]] = [
            {"type": "message_start", "message": {"id": "msg_bdrk_02", "type": "message", "role": "assistant",
                                                  "model": "claude-3-5-haiku-20241022", "content": [],
                                                  "usage": {"input_tokens": 12, "output_tokens": 1}}},
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}]
        out += [{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}} for w in words]
        out += [{"type": "content_block_stop", "index": 0},
                {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                 "usage": {"output_tokens": 6}},
                {"type": "message_stop"}]
    elif name.startswith("amazon.nova"):
        out = [{"messageStart": {"role": "assistant"}}]
        out += [{"contentBlockDelta": {"delta": {"text": w}, "contentBlockIndex": 0}} for w in words]
        out += [{"contentBlockStop": {"contentBlockIndex": 0}}, {"messageStop": {"stopReason": "end_turn"}},
                {"metadata": {"usage": {"inputTokens": 12, "outputTokens": 6}}}]
    elif name.startswith("amazon.titan"):
        out = [{"outputText": w, "index": 0, "totalOutputTextTokenCount": i + 1,
                "completionReason": "FINISH" if i == len(words) - 1 else None,
                "inputTextTokenCount": 12 if i == 0 else None} for i, w in enumerate(words)]
    elif name.startswith("meta."):
        out = [{"generation": w, "prompt_token_count": 12 if i == 0 else None, "generation_token_count": i + 1,
                "stop_reason": "stop" if i == len(words) - 1 else None} for i, w in enumerate(words)]
    elif name.startswith("cohere."):
        out = [{"is_finished": False, "event_type": "text-generation", "text": w} for w in words]
        out.append({"is_finished": True, "event_type": "stream-end", "finish_reason": "COMPLETE",
                    "response": {"response_id": "resp-co-2", "text": "".join(words), "generation_id": "gen-2",
                                 "finish_reason": "COMPLETE"}})
    else:  # Mistral's prompt form
        out = [{"outputs": [{"text": w, "stop_reason": "stop" if i == len(words) - 1 else None}]}
               for i, w in enumerate(words)]
    out[-1] = dict(out[-1], **{"amazon-bedrock-invocationMetrics": METRICS})
    return out


def _error(code: str, text: str, status: int) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json", "x-amzn-ErrorType": code + ":http://internal.amazon.com/",
                    "x-amzn-RequestId": REQUEST_ID}, json.dumps({"message": text}).encode()


ERRORS = {
    "throttling": ("ThrottlingException", "Too many requests, please wait before trying again.", 429),
    "validation": ("ValidationException", "The provided model identifier is invalid.", 400),
    "access": ("AccessDeniedException", "You don't have access to the model with the specified model ID.", 403),
}


def _agent(path: str, request: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    """InvokeAgent (``/agents/{agentId}/agentAliases/{aliasId}/sessions/{sessionId}/text``):
    the answer in ``chunk`` events (raw UTF-8 bytes), a ``trace`` event per model call
    when the request enabled traces."""
    import base64

    session = path.split("/")[6]
    if request.get("inputText") == "fail":
        return _error(*ERRORS["throttling"])
    events = []
    if request.get("enableTrace"):
        for usage in ({"inputTokens": 300, "outputTokens": 40}, {"inputTokens": 420, "outputTokens": 25}):
            events.append(event("trace", {"agentId": "AGENT123", "sessionId": session, "trace": {
                "orchestrationTrace": {"modelInvocationOutput": {"traceId": "t-1", "metadata": {"usage": usage}}}}}))
    for piece in ("Paris is ", "the capital of France."):
        events.append(event("chunk", {"bytes": base64.b64encode(piece.encode()).decode()}))
    return 200, {"x-amzn-RequestId": REQUEST_ID, "Content-Type": EVENTSTREAM,
                 "x-amzn-bedrock-agent-content-type": "application/json",
                 "x-amz-bedrock-agent-session-id": session}, b"".join(events)


def answer(path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, raw body) for a request to ``path`` (``/model/{modelId}/{op}``)."""
    if path.startswith("/agents/"):
        return _agent(path, json.loads(body) if body else {})
    parts = path.split("/")
    model, op = unquote(parts[2]), parts[3]
    try:
        request = json.loads(body) if body else {}
    except ValueError:
        request = {}
    fake_error = request.get("fake_error") or (request.get("additionalModelRequestFields") or {}).get("fake_error")
    if fake_error in ERRORS:
        return _error(*ERRORS[fake_error])
    headers = {"x-amzn-RequestId": REQUEST_ID}
    if op == "converse":
        return 200, dict(headers, **{"Content-Type": "application/json"}), json.dumps(_converse(model, request)).encode()
    if op == "converse-stream":
        return 200, dict(headers, **{"Content-Type": EVENTSTREAM}), _converse_stream(model, request, fake_error)
    if op == "invoke":
        raw = json.dumps(_invoke_answer(model, request)).encode()
        return 200, dict(headers, **{"Content-Type": "application/json", "X-Amzn-Bedrock-Input-Token-Count": "12",
                                     "X-Amzn-Bedrock-Output-Token-Count": "6",
                                     "X-Amzn-Bedrock-Invocation-Latency": "210"}), raw
    if op == "invoke-with-response-stream":
        events = [chunk(p) for p in _invoke_stream_payloads(model, request)]
        if fake_error == "midstream":
            events[3:] = [exception("modelStreamErrorException", "The model stream failed.")]
        return 200, dict(headers, **{"Content-Type": EVENTSTREAM,
                                     "X-Amzn-Bedrock-Content-Type": "application/json"}), b"".join(events)
    return _error("UnknownOperationException", "unknown operation " + op, 404)


# --- botocore's seam: before-send --------------------------------------------------------------


class RawBody:
    """What botocore reads a response from (urllib3's ``HTTPResponse`` interface it uses:
    ``read``, ``stream``, ``close``), over bytes given in small pieces like a socket would."""

    def __init__(self, data: bytes, piece: int = 37) -> None:
        self._data = data
        self._pos = 0
        self._piece = piece
        self.closed = False

    def read(self, amt: int | None = None) -> bytes:
        end = len(self._data) if amt is None else min(len(self._data), self._pos + amt)
        out = self._data[self._pos:end]
        self._pos = end
        return out

    def stream(self, amt: int = 1024, decode_content: Any = None) -> Any:
        while True:
            data = self.read(min(amt, self._piece))
            if not data:
                return
            yield data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True


class Fake:
    """The before-send handler: every request it answered, and the raw bodies it gave out."""

    def __init__(self) -> None:
        self.requests: list[Any] = []
        self.bodies: list[RawBody] = []

    def __call__(self, request: Any, **kwargs: Any) -> Any:
        from botocore.awsrequest import AWSResponse
        from botocore.compat import HTTPHeaders

        self.requests.append(request)
        body = request.body
        if hasattr(body, "read"):
            body = body.read()
        status, headers, raw = answer(urlsplit(request.url).path, body or b"")
        stream = RawBody(raw)
        self.bodies.append(stream)
        http_headers = HTTPHeaders()
        for k, v in dict(headers, **{"Content-Length": str(len(raw))}).items():
            http_headers[k] = v
        return AWSResponse(request.url, status, http_headers, stream)


def install(client: Any) -> Fake:
    fake = Fake()
    service = client.meta.service_model.service_id.hyphenize()  # bedrock-runtime, bedrock-agent-runtime
    client.meta.events.register_first("before-send.%s.*" % service, fake)
    return fake


# --- the same answers over HTTP, on 127.0.0.1 ---------------------------------------------------


def serve() -> tuple[ThreadingHTTPServer, str]:
    """A server on a free 127.0.0.1 port answering as ``answer``; daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, headers, raw = answer(self.path, body)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, "http://127.0.0.1:%d" % server.server_address[1]
