"""Groq: what the SDK's requests and responses say, in GenAI terms.

Groq's chat completions and embeddings are OpenAI's formats (``instrumentations/
openai_compatible.py`` reads their messages, tools, sampling parameters, finish reasons,
usage and vector sizes); this module adds what Groq adds: ``reasoning`` on the message, the tools a
compound model ran on Groq's side (``executed_tools``), ``reasoning_effort``, the service
tier, and usage read from ``x_groq.usage`` on a stream (``streaming.py``). Read by
``groq.py``, which says where each extractor is patched.
"""

from __future__ import annotations

from typing import Any

from weave_agent import streams
from weave_agent.genai import (
    INPUT_MESSAGES,
    OUTPUT_MESSAGES,
    TOOL_DEFINITIONS,
    Extractor,
    Request,
    Response,
    parse_arguments,
    reasoning_part,
    server_of,
    server_tool_call_part,
    server_tool_call_response_part,
)
from weave_agent.genai import field as _get
from weave_agent.genai import text_part as _text
from weave_agent.genai import tool_call_part as _tool_call

from ..openai_compatible import (
    embeddings_request_attributes,
    embeddings_response,
    finish_reason,
    input_messages,
    output_message,
    output_type,
    response_attributes,
    sampling_attributes,
    tool_definitions,
    usage,
)
from .credentials import remember as _remember_credentials
from .streaming import GroqChatAcc, RawResponse, sdk, state

PROVIDER = "groq"


def _request(model: Any, attrs: dict[str, Any], content: dict[str, Any] | None, instance: Any) -> Request:
    """``server.address``/``server.port`` from the client's ``base_url`` (``api.groq.com``
    unless the app or ``GROQ_BASE_URL`` points elsewhere)."""
    client = getattr(instance, "_client", None)
    address = port = None
    if client is not None:
        _remember_credentials(client)  # scrubbed from what is exported, should the server echo them
        address, port = server_of(getattr(client, "base_url", None))
    return Request(model if isinstance(model, str) else None, attrs, content, address, port)


def _executed(parts: list[Any], kind: Any, arguments: Any, output: Any) -> None:
    """A tool a compound model ran on Groq's side: its call (type and arguments) and, when it
    came back, its output text (never the search results or charts: they may be large)."""
    kind = kind if isinstance(kind, str) and kind else "tool"
    call: dict[str, Any] = {"type": kind}
    if arguments:
        call["arguments"] = parse_arguments(arguments)
    parts.append(server_tool_call_part(None, kind, call))
    if isinstance(output, str) and output:
        parts.append(server_tool_call_response_part(None, {"type": kind, "output": output}))


class _GroqExtractor(Extractor):
    provider = PROVIDER
    metric_attributes = ("groq.response.service_tier",)

    def error_type(self, exc: BaseException) -> str:
        """The HTTP status of an API error; for an error the API sent inside a stream
        (no status), its ``code``; else the exception's class name."""
        status = getattr(exc, "status_code", None)
        if isinstance(status, int):
            return str(status)
        code = _get(getattr(exc, "body", None), "code")
        if isinstance(code, str) and code:
            return code
        return type(exc).__name__

    def is_stream(self, inputs: dict[str, Any], result: Any) -> bool:
        return isinstance(result, sdk().stream_types) or isinstance(result, sdk().api_responses)

    def wrap_stream(self, result: Any, call: Any, accumulator: Any) -> Any:
        if isinstance(result, sdk().api_responses):
            return RawResponse(result, state(call, accumulator, result))
        return streams.wrap(result, call, accumulator)

    def response(self, output: Any, capture: bool) -> Response:
        if output is None or isinstance(output, sdk().api_responses):  # closed unread
            return Response()
        return self.read(output, capture)

    def read(self, output: Any, capture: bool) -> Response:
        raise NotImplementedError


class ChatExtractor(_GroqExtractor):
    """``chat.completions.create``: a ``ChatCompletion``, or a stream of chunks rebuilt by
    ``GroqChatAcc``."""

    operation = "chat"

    def request(self, inputs: dict[str, Any], instance: Any, capture: bool) -> Request:
        attrs: dict[str, Any] = {}
        sampling_attributes(inputs, attrs, ("max_completion_tokens", "max_tokens"))
        kind = output_type(inputs.get("response_format"))
        if kind:
            attrs["gen_ai.output.type"] = kind
        effort = inputs.get("reasoning_effort")
        if isinstance(effort, str):
            attrs["gen_ai.request.reasoning.level"] = effort
        tier = inputs.get("service_tier")
        if isinstance(tier, str):
            attrs["groq.request.service_tier"] = tier
        content = None
        if capture:
            content = {
                INPUT_MESSAGES: input_messages(inputs.get("messages")),
                TOOL_DEFINITIONS: tool_definitions(inputs.get("tools") or inputs.get("functions")),
            }
        return _request(inputs.get("model"), attrs, content, instance)

    def read(self, output: Any, capture: bool) -> Response:
        if isinstance(output, GroqChatAcc):
            return self._from_stream(output, capture)
        choices = getattr(output, "choices", None) or ()
        finishes = [f for f in (finish_reason(c.finish_reason) for c in choices) if f]
        content = None
        if capture:
            content = {OUTPUT_MESSAGES: [self._message(c) for c in choices]}
        groq = getattr(output, "x_groq", None)
        attrs = _response_attrs(
            getattr(output, "id", None),
            _get(groq, "id"),  # a model, or a dict on SDK releases that do not declare x_groq
            getattr(output, "service_tier", None),
            getattr(output, "system_fingerprint", None),
            finishes,
        )
        return Response(attrs, usage(getattr(output, "usage", None)), getattr(output, "model", None), content)

    @staticmethod
    def _message(choice: Any) -> dict[str, Any]:
        msg = choice.message
        parts: list[Any] = []
        if msg is not None:
            if getattr(msg, "reasoning", None):
                parts.append(reasoning_part(msg.reasoning))
            for tool in getattr(msg, "executed_tools", None) or ():
                _executed(parts, _get(tool, "type"), _get(tool, "arguments"), _get(tool, "output"))
            if msg.content:
                parts.append(_text(msg.content))
            for call in msg.tool_calls or ():
                parts.append(_tool_call(call.id, call.function.name, call.function.arguments))
            fn = getattr(msg, "function_call", None)
            if fn is not None:
                parts.append(_tool_call(None, fn.name, fn.arguments))
        return output_message(parts, finish_reason(choice.finish_reason))

    def _from_stream(self, acc: GroqChatAcc, capture: bool) -> Response:
        choices = acc.ordered()
        finishes = [f for f in (finish_reason(c.finish) for c in choices) if f]
        content = None
        if capture and acc.capture:
            messages = []
            for c in choices:
                parts: list[Any] = []
                if c.reasoning:
                    parts.append(reasoning_part("".join(c.reasoning)))
                for kind, arguments, output in c.executed:
                    _executed(parts, kind, arguments, output)
                if c.text:
                    parts.append(_text("".join(c.text)))
                for i in sorted(c.tools):
                    call_id, name, pieces = c.tools[i]
                    parts.append(_tool_call(call_id, name, "".join(pieces)))
                messages.append(output_message(parts, finish_reason(c.finish)))
            content = {OUTPUT_MESSAGES: messages}
        attrs = _response_attrs(acc.id, acc.request_id, None, acc.fingerprint, finishes)
        return Response(attrs, usage(acc.usage), acc.model, content)


def _response_attrs(rid: Any, request_id: Any, tier: Any, fingerprint: Any, finishes: list[str]) -> dict[str, Any]:
    attrs = response_attributes("groq", rid, finishes, tier, fingerprint)
    if request_id:
        attrs["groq.request_id"] = request_id  # x_groq.id: what Groq support asks for
    return attrs


class EmbeddingsExtractor(_GroqExtractor):
    """``embeddings.create``: a ``CreateEmbeddingResponse`` (operation ``embeddings``)."""

    operation = "embeddings"

    def request(self, inputs: dict[str, Any], instance: Any, capture: bool) -> Request:
        return _request(inputs.get("model"), embeddings_request_attributes(inputs), None, instance)

    def read(self, output: Any, capture: bool) -> Response:
        return embeddings_response(output)
