"""AWS Bedrock: what ``bedrock-runtime`` requests and answers say, in GenAI terms.

The patched function is botocore's ``_make_api_call(client, operation_name, api_params)``,
so every extractor reads ``inputs["api_params"]`` (the operation's parameters as the app
passed them) and ``inputs["client"]`` (endpoint and credentials). ``ConverseExtractor``
reads Converse's uniform shapes; ``InvokeExtractor`` one model family's bodies through
``families.py``. Provider ``aws.bedrock``; the span is ``{operation} {modelId}`` (``chat``
for Converse and for message-shaped bodies).

Errors are botocore's ``ClientError`` (and ``EventStreamError`` mid-stream): ``error.type``
is the service's error code (``ThrottlingException``, ``ValidationException``, ...).
"""

from __future__ import annotations

import weakref
from typing import Any

from weave_agent.genai import (
    INPUT_MESSAGES,
    OUTPUT_MESSAGES,
    SYSTEM_INSTRUCTIONS,
    TOOL_DEFINITIONS,
    Extractor,
    Request,
    Response,
    Usage,
    as_double,
    as_int,
    server_of,
    stop_sequences,
)
from weave_agent.genai import sequence as _seq
from weave_agent.genai import text_part as _text
from weave_agent.streams import StreamState, attach

from . import families
from .credentials import remember as _remember_credentials
from .streaming import AgentAcc, ConverseAcc, InvokeAcc, converse_step

PROVIDER = "aws.bedrock"

# Response bodies bigger than this (generated images, embeddings of long batches) are
# handed back to the app unread by the extractor: parsing them would cost more than the
# usage they carry (which the headers give anyway).
MAX_PARSED_BODY = 8 * 1024 * 1024

# The bytes of each ``invoke_model`` answer, by the ``StreamingBody`` the app was given
# (``bedrock.py`` reads the SDK's body once and hands the app a new one over the same
# bytes). Weak: an entry lives as long as the app keeps the body.
BODIES: weakref.WeakKeyDictionary[Any, bytes] = weakref.WeakKeyDictionary()


def _server(client: Any) -> tuple[str | None, int | None]:
    try:
        return server_of(client.meta.endpoint_url)
    except Exception:
        return None, None


def _usage(counts: list[int | None] | tuple[Any, ...]) -> Usage | None:
    """Usage from (input, output, cache read, cache write) as Bedrock counts them: its input
    count leaves out the cached tokens, which the conventions' input tokens include."""
    inp, out, read, write = counts
    if inp is None and out is None:
        return None
    total = None
    if inp is not None:
        total = inp + (read or 0) + (write or 0)
    return Usage(total, out, read, write)


def _header_usage(result: Any) -> list[int | None]:
    """Bedrock's own counts for any model: ``X-Amzn-Bedrock-Input/Output-Token-Count``."""
    headers = ((result.get("ResponseMetadata") or {}).get("HTTPHeaders") or {}) if isinstance(result, dict) else {}
    counts: list[int | None] = [None, None, None, None]
    for i, name in enumerate(("x-amzn-bedrock-input-token-count", "x-amzn-bedrock-output-token-count")):
        value = headers.get(name)
        if isinstance(value, str) and value.isdigit():
            counts[i] = int(value)
    return counts


def error_type(exc: BaseException) -> str:
    """The service's error code (``ThrottlingException``) for botocore's ``ClientError``."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = (response.get("Error") or {}).get("Code")
        if isinstance(code, str) and code:
            return code
    return type(exc).__qualname__


class _BedrockExtractor(Extractor):
    provider = PROVIDER

    def __init__(self, streaming: bool) -> None:
        self.streaming = streaming

    def error_type(self, exc: BaseException) -> str:
        return error_type(exc)

    def _request(self, inputs: dict[str, Any], model: Any, attrs: dict[str, Any],
                 content: dict[str, Any] | None) -> Request:
        client = inputs.get("client")
        if client is not None:
            _remember_credentials(client)
        if self.streaming:
            attrs["gen_ai.request.stream"] = True
        address, port = _server(client)
        return Request(model if isinstance(model, str) else None, attrs, content, address, port)


# --- Converse and ConverseStream ------------------------------------------------------------


def converse_response(body: dict[str, Any], capture: bool) -> Response:
    answer = families.Answer()
    families._read_converse_shape(body, answer)
    attrs: dict[str, Any] = {"gen_ai.response.finish_reasons": answer.finish_reasons} if answer.finish_reasons else {}
    content = {OUTPUT_MESSAGES: answer.messages} if capture and answer.messages else None
    return Response(attrs, _usage(answer.usage), None, content)


def join_converse(events: list[Any]) -> dict[str, Any]:
    state = ConverseAcc()
    for event in events:
        converse_step(state, event)
    return state.as_response()


class ConverseExtractor(_BedrockExtractor):
    """``converse`` / ``converse_stream``."""

    operation = "chat"

    def request(self, inputs: dict[str, Any], instance: Any, capture: bool) -> Request:
        params = inputs.get("api_params") or {}
        attrs: dict[str, Any] = {}
        config = params.get("inferenceConfig") or {}
        for key, attr, read in (
            ("maxTokens", "gen_ai.request.max_tokens", as_int),
            ("temperature", "gen_ai.request.temperature", as_double),
            ("topP", "gen_ai.request.top_p", as_double),
        ):
            value = read(config.get(key))
            if value is not None:
                attrs[attr] = value
        stops = stop_sequences(config.get("stopSequences"))
        if stops:
            attrs["gen_ai.request.stop_sequences"] = stops
        extra = params.get("additionalModelRequestFields")
        if isinstance(extra, dict):
            top_k = as_int(extra.get("top_k", extra.get("topK")))
            if top_k is not None:
                attrs["gen_ai.request.top_k"] = top_k
        content: dict[str, Any] | None = None
        if capture:
            content = {}
            system = [_text(b["text"]) for b in _seq(params.get("system")) if isinstance(b, dict) and "text" in b]
            if system:
                content[SYSTEM_INSTRUCTIONS] = system
            messages = [m for m in (families.converse_message(m) for m in _seq(params.get("messages"))) if m]
            if messages:
                content[INPUT_MESSAGES] = messages
            tools = families.converse_tools(params.get("toolConfig"))
            if tools:
                content[TOOL_DEFINITIONS] = tools
        return self._request(inputs, params.get("modelId"), attrs, content)

    def is_stream(self, inputs: dict[str, Any], result: Any) -> bool:
        return self.streaming and isinstance(result, dict) and result.get("stream") is not None

    def wrap_stream(self, result: Any, call: Any, accumulator: Any) -> Any:
        # The answer is a dict holding the EventStream: the app keeps the dict, the stream
        # inside it is the proxy that ends the span.
        result["stream"] = attach(result["stream"], StreamState(call, accumulator))
        return result

    def response(self, output: Any, capture: bool) -> Response:
        if isinstance(output, ConverseAcc):
            return converse_response(output.as_response(), capture)
        if not isinstance(output, dict):
            return Response()
        return converse_response(output, capture)


# --- InvokeModel and InvokeModelWithResponseStream --------------------------------------------


class InvokeExtractor(_BedrockExtractor):
    """``invoke_model`` / ``invoke_model_with_response_stream`` for one model family and
    operation (``bedrock.py`` picks the pair from the model id and the request body)."""

    def __init__(self, family: str, operation: str, streaming: bool) -> None:
        super().__init__(streaming)
        self.family = family
        self.operation = operation

    def request(self, inputs: dict[str, Any], instance: Any, capture: bool) -> Request:
        params = inputs.get("api_params") or {}
        body = inputs.get("body")
        attrs: dict[str, Any] = {}
        content = None
        if isinstance(body, dict):
            attrs = families.request_attributes(self.family, body)
            if capture and self.operation != "embeddings":
                content = families.request_content(self.family, body)
        return self._request(inputs, params.get("modelId"), attrs, content)

    def is_stream(self, inputs: dict[str, Any], result: Any) -> bool:
        return self.streaming and isinstance(result, dict) and result.get("body") is not None

    def wrap_stream(self, result: Any, call: Any, accumulator: Any) -> Any:
        result["body"] = attach(result["body"], StreamState(call, accumulator))
        return result

    def _response(self, body: Any, counts: list[int | None], capture: bool) -> Response:
        answer = families.read_answer(self.family, body)
        usage = [a if a is not None else b for a, b in zip(answer.usage, counts, strict=True)]
        attrs: dict[str, Any] = {}
        if isinstance(answer.response_id, str) and answer.response_id:
            attrs["gen_ai.response.id"] = answer.response_id
        if answer.finish_reasons and self.operation != "embeddings":
            attrs["gen_ai.response.finish_reasons"] = answer.finish_reasons
        if answer.dimensions:
            attrs["gen_ai.embeddings.dimension.count"] = answer.dimensions
        content = None
        if capture and answer.messages and self.operation != "embeddings":
            content = {OUTPUT_MESSAGES: answer.messages}
        model = answer.model if isinstance(answer.model, str) and answer.model else None
        return Response(attrs, _usage(usage), model, content)

    def response(self, output: Any, capture: bool) -> Response:
        if isinstance(output, InvokeAcc):
            events = [e for e in (families.loads(p) for p in output.payloads) if isinstance(e, dict)]
            counts: list[int | None] = [None, None, None, None]
            for event in reversed(events):  # Bedrock's own counts, on the last payload
                metrics = event.get("amazon-bedrock-invocationMetrics")
                if isinstance(metrics, dict):
                    counts[0], counts[1] = as_int(metrics.get("inputTokenCount")), as_int(metrics.get("outputTokenCount"))
                    break
            return self._response(families.join_stream(self.family, events, join_converse), counts, capture)
        if not isinstance(output, dict):
            return Response()
        raw = BODIES.get(output.get("body"))
        body = None
        if raw is not None and len(raw) <= MAX_PARSED_BODY and "json" in str(output.get("contentType") or "json"):
            body = families.loads(raw)
        return self._response(body, _header_usage(output), capture)


# --- bedrock-agent-runtime InvokeAgent ---------------------------------------------------------


class AgentExtractor(_BedrockExtractor):
    """``invoke_agent`` of ``bedrock-agent-runtime``: an agent AWS runs (its model calls, tools
    and knowledge bases run there), one ``invoke_agent`` span whose answer streams in
    ``completion``; usage is the sum of the model calls its ``trace`` events report."""

    operation = "invoke_agent"

    def __init__(self) -> None:
        super().__init__(streaming=False)  # always streamed, never asked for: no request.stream

    def request(self, inputs: dict[str, Any], instance: Any, capture: bool) -> Request:
        params = inputs.get("api_params") or {}
        attrs: dict[str, Any] = {}
        for key, attr in (("agentId", "gen_ai.agent.id"), ("sessionId", "gen_ai.conversation.id")):
            value = params.get(key)
            if isinstance(value, str) and value:
                attrs[attr] = value
        content = None
        text = params.get("inputText")
        if capture and isinstance(text, str):
            content = {INPUT_MESSAGES: [{"role": "user", "parts": [_text(text)]}]}
        return self._request(inputs, None, attrs, content)

    def is_stream(self, inputs: dict[str, Any], result: Any) -> bool:
        return isinstance(result, dict) and result.get("completion") is not None

    def wrap_stream(self, result: Any, call: Any, accumulator: Any) -> Any:
        result["completion"] = attach(result["completion"], StreamState(call, accumulator))
        return result

    def response(self, output: Any, capture: bool) -> Response:
        if not isinstance(output, AgentAcc):
            return Response()
        content = None
        if capture and output.parts:
            text = b"".join(output.parts).decode("utf-8", "replace")
            content = {OUTPUT_MESSAGES: [{"role": "assistant", "parts": [_text(text)], "finish_reason": "stop"}]}
        return Response(None, _usage([output.input_tokens, output.output_tokens, None, None]), None, content)
