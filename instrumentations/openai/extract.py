"""OpenAI: what the SDK's requests and responses say, in GenAI terms.

One ``Extractor`` per patched method family (chat completions, the Responses API,
embeddings, legacy completions) and the helpers they share: request attributes, message
content as the conventions' parts, usage, finish reasons. The readers of the Chat
Completions and Embeddings formats themselves (messages, tools, sampling parameters,
usage, vector sizes), which other SDKs speak too, are in
``instrumentations/openai_compatible.py``. Read by ``openai.py``, which says where each
one is patched.
"""

from __future__ import annotations

from typing import Any

from weave_agent import streams
from weave_agent.genai import (
    INPUT_MESSAGES,
    OUTPUT_MESSAGES,
    SYSTEM_INSTRUCTIONS,
    TOOL_DEFINITIONS,
    Extractor,
    Request,
    Response,
    Usage,
    reasoning_part,
    server_of,
    server_tool_call_part,
    tool_call_response_part,
)
from weave_agent.genai import field as _get
from weave_agent.genai import sequence as _seq
from weave_agent.genai import text_part as _text
from weave_agent.genai import tool_call_part as _tool_call

from ..openai_compatible import content_parts as _content_parts
from ..openai_compatible import (
    embeddings_request_attributes,
    embeddings_response,
    response_attributes,
    sampling_attributes,
)
from ..openai_compatible import finish_reason as _finish
from ..openai_compatible import input_messages as _chat_input
from ..openai_compatible import output_message as _out_message
from ..openai_compatible import output_type as _output_type
from ..openai_compatible import text_of as _text_of
from ..openai_compatible import tool_definitions as _tool_definitions
from ..openai_compatible import usage as _usage_chat
from .credentials import remember as _remember_credentials
from .streaming import (
    _ChatAcc,
    _CompletionAcc,
    _is_sse,
    _raw,
    _RawStreamResponse,
    _ResponsesAcc,
    _sdk,
    _state,
    _StreamedResponse,
)

_SENTINELS = frozenset(("Omit", "NotGiven"))
_AZURE_CLASSES = frozenset(("AzureOpenAI", "AsyncAzureOpenAI", "BaseAzureClient"))
_INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}


# --- small helpers -------------------------------------------------------------------------


def _given(value: Any) -> bool:
    """Set by the caller: not None and not the SDK's ``omit``/``NOT_GIVEN`` sentinels."""
    return value is not None and type(value).__name__ not in _SENTINELS


_providers: dict[type, str] = {}


def _provider(client: Any) -> str:
    cls = type(client)
    provider = _providers.get(cls)
    if provider is None:
        azure = any(k.__name__ in _AZURE_CLASSES for k in cls.__mro__)
        provider = _providers[cls] = "azure.ai.openai" if azure else "openai"
    return provider


def _request(model: Any, attrs: dict[str, Any], content: dict[str, Any] | None, instance: Any) -> Request:
    client = getattr(instance, "_client", None)
    address = port = provider = None
    if client is not None:
        _remember_credentials(client)  # scrubbed from what is exported, should the server echo them
        provider = _provider(client)
        address, port = server_of(getattr(client, "base_url", None))
    return Request(model if isinstance(model, str) else None, attrs, content, address, port, provider)


def _sampling(inputs: dict[str, Any], attrs: dict[str, Any], max_tokens_keys: tuple[str, ...]) -> None:
    sampling_attributes(inputs, attrs, max_tokens_keys)
    tier = inputs.get("service_tier")
    if not isinstance(tier, str):
        extra = inputs.get("extra_body")  # what the SDK sends as is, for parameters it lacks
        tier = dict.get(extra, "service_tier") if isinstance(extra, dict) else None
    if isinstance(tier, str):
        attrs["openai.request.service_tier"] = tier


def _usage_responses(usage: Any) -> Usage | None:
    if usage is None:
        return None
    inp = _get(usage, "input_tokens_details")
    out = _get(usage, "output_tokens_details")
    return Usage(
        _get(usage, "input_tokens"),
        _get(usage, "output_tokens"),
        cache_read_input_tokens=_get(inp, "cached_tokens") if inp is not None else None,
        reasoning_output_tokens=_get(out, "reasoning_tokens") if out is not None else None,
    )


# --- content: the conventions' message parts -----------------------------------------------


def _responses_input(instructions: Any, inp: Any) -> tuple[list[Any], list[Any]]:
    """(system instructions: ``instructions=``, given apart from the history; the input
    items in order, ``system``/``developer`` messages among them with the role ``system``)."""
    system: list[Any] = [_text(instructions)] if isinstance(instructions, str) and instructions else []
    out: list[Any] = []
    if isinstance(inp, str):
        return system, [{"role": "user", "parts": [_text(inp)]}]
    for item in _seq(inp):
        kind = _get(item, "type")
        role = _get(item, "role")
        if isinstance(role, str) and role and kind in (None, "message"):
            parts = _content_parts(_get(item, "content"))
            out.append({"role": "system" if role in ("system", "developer") else role, "parts": parts})
        elif kind == "function_call":
            out.append(
                {
                    "role": "assistant",
                    "parts": [_tool_call(_get(item, "call_id"), _get(item, "name"), _get(item, "arguments"))],
                }
            )
        elif kind == "function_call_output":
            output = _get(item, "output")
            out.append({"role": "tool", "parts": [tool_call_response_part(_get(item, "call_id"), _text_of(output))]})
        elif kind == "reasoning":
            parts = [reasoning_part(_get(s, "text")) for s in _seq(_get(item, "summary"))]
            if parts:
                out.append({"role": "assistant", "parts": parts})
    return system, out


# --- chat completions ----------------------------------------------------------------------


def _chat_response_attrs(rid: Any, tier: Any, fingerprint: Any, finishes: list[str]) -> dict[str, Any]:
    return response_attributes("openai", rid, finishes, tier, fingerprint)


class _OpenAIExtractor(Extractor):
    provider = "openai"
    metric_attributes = ("openai.response.service_tier", "openai.response.system_fingerprint")

    def error_type(self, exc: BaseException) -> str:
        status = getattr(exc, "status_code", None)
        if isinstance(status, int):
            return str(status)
        return type(exc).__name__

    def is_stream(self, inputs: dict[str, Any], result: Any) -> bool:
        sdk = _sdk()
        if isinstance(result, sdk.stream_types) or isinstance(result, sdk.api_responses):
            return True
        return isinstance(result, sdk.legacy) and _is_sse(result)

    def wrap_stream(self, result: Any, call: Any, accumulator: Any) -> Any:
        sdk = _sdk()
        if isinstance(result, sdk.api_responses):
            return _StreamedResponse(result, _state(call, accumulator, result))
        if isinstance(result, sdk.legacy):
            return _RawStreamResponse(result, _state(call, accumulator, result))
        return streams.wrap(result, call, accumulator)

    def response(self, output: Any, capture: bool) -> Response:
        if output is None:
            return Response()
        output = _raw(output)
        if output is None:
            return Response()
        return self.read(output, capture)

    def read(self, output: Any, capture: bool) -> Response:
        raise NotImplementedError


class ChatExtractor(_OpenAIExtractor):
    """``chat.completions.create`` / ``.parse``: ``ChatCompletion`` or a stream of chunks."""

    operation = "chat"

    def request(self, inputs: dict[str, Any], instance: Any, capture: bool) -> Request:
        attrs: dict[str, Any] = {"openai.api.type": "chat_completions"}
        _sampling(inputs, attrs, ("max_completion_tokens", "max_tokens"))
        output_type = _output_type(inputs.get("response_format"))
        if output_type:
            attrs["gen_ai.output.type"] = output_type
        content = None
        if capture:
            content = {
                INPUT_MESSAGES: _chat_input(inputs.get("messages")),
                TOOL_DEFINITIONS: _tool_definitions(inputs.get("tools")),
            }
        return _request(inputs.get("model"), attrs, content, instance)

    def read(self, output: Any, capture: bool) -> Response:
        if isinstance(output, _ChatAcc):
            return self._from_stream(output, capture)
        choices = getattr(output, "choices", None) or ()
        finishes = [f for f in (_finish(c.finish_reason) for c in choices) if f]
        content = None
        if capture:
            messages = []
            for choice in choices:
                msg = choice.message
                parts = []
                if msg is not None:
                    if msg.content:
                        parts.append(_text(msg.content))
                    refusal = getattr(msg, "refusal", None)
                    if refusal:
                        parts.append(_text(refusal))
                    for call in getattr(msg, "tool_calls", None) or ():
                        fn = getattr(call, "function", None)
                        if fn is not None:
                            parts.append(_tool_call(call.id, fn.name, fn.arguments))
                        else:  # custom tools
                            custom = getattr(call, "custom", None)
                            parts.append(_tool_call(call.id, _get(custom, "name"), _get(custom, "input")))
                    fn = getattr(msg, "function_call", None)
                    if fn is not None:
                        parts.append(_tool_call(None, fn.name, fn.arguments))
                messages.append(_out_message(parts, _finish(choice.finish_reason)))
            content = {OUTPUT_MESSAGES: messages}
        attrs = _chat_response_attrs(
            getattr(output, "id", None),
            getattr(output, "service_tier", None),
            getattr(output, "system_fingerprint", None),
            finishes,
        )
        return Response(attrs, _usage_chat(getattr(output, "usage", None)), getattr(output, "model", None), content)

    def _from_stream(self, acc: _ChatAcc, capture: bool) -> Response:
        choices = [acc.choices[i] for i in sorted(acc.choices)]
        finishes = [f for f in (_finish(c.finish) for c in choices) if f]
        content = None
        if capture and acc.capture:
            messages = []
            for c in choices:
                parts = []
                if c.text:
                    parts.append(_text("".join(c.text)))
                if c.refusal:
                    parts.append(_text("".join(c.refusal)))
                for i in sorted(c.tools):
                    call_id, name, pieces = c.tools[i]
                    parts.append(_tool_call(call_id, name, "".join(pieces)))
                messages.append(_out_message(parts, _finish(c.finish)))
            content = {OUTPUT_MESSAGES: messages}
        attrs = _chat_response_attrs(acc.id, acc.service_tier, acc.fingerprint, finishes)
        return Response(attrs, _usage_chat(acc.usage), acc.model, content)


# --- the Responses API ---------------------------------------------------------------------


def _responses_finish(response: Any, has_tool_call: bool) -> str | None:
    status = getattr(response, "status", None)
    if status == "completed":
        return "tool_call" if has_tool_call else "stop"
    if status == "incomplete":
        reason = _get(getattr(response, "incomplete_details", None), "reason")
        return _INCOMPLETE.get(reason, reason or "length")
    if status == "failed":
        return "error"
    return None


def _responses_output(response: Any, capture: bool) -> tuple[list[Any], bool]:
    parts: list[Any] = []
    has_tool_call = False
    for item in getattr(response, "output", None) or ():
        kind = getattr(item, "type", None)
        if kind == "function_call":
            has_tool_call = True
            if capture:
                parts.append(_tool_call(item.call_id, item.name, item.arguments))
        elif not capture:
            continue
        elif kind == "message":
            parts.extend(_content_parts(getattr(item, "content", None)))
        elif kind == "reasoning":
            for summary in getattr(item, "summary", None) or ():
                parts.append(reasoning_part(_get(summary, "text")))
            for block in getattr(item, "content", None) or ():
                parts.append(reasoning_part(_get(block, "text")))
        elif kind:
            # A tool the API ran itself (web_search_call, file_search_call, ...): named for
            # its item type, with the item's small fields (never results: they may hold
            # generated images or whole files).
            parts.append(server_tool_call_part(getattr(item, "id", None), kind, _server_tool_payload(item, kind)))
    return parts, has_tool_call


_SERVER_TOOL_FIELDS = ("status", "action", "queries", "code", "container_id", "server_label", "name", "arguments",
                       "error")


def _server_tool_payload(item: Any, kind: str) -> dict[str, Any]:
    payload: dict[str, Any] = {"type": kind}
    for key in _SERVER_TOOL_FIELDS:
        value = _get(item, key)
        if value is None:
            continue
        if not isinstance(value, (str, int, float, bool, list, dict)):
            dump = getattr(value, "model_dump", None)  # a small SDK model (a web search's action)
            try:
                value = dump(mode="json", exclude_none=True) if callable(dump) else None
            except Exception:
                value = None
            if value is None:
                continue
        payload[key] = value
    return payload


class ResponsesExtractor(_OpenAIExtractor):
    """``responses.create`` / ``.parse``: a ``Response`` or a stream of events."""

    operation = "chat"

    def request(self, inputs: dict[str, Any], instance: Any, capture: bool) -> Request:
        attrs: dict[str, Any] = {"openai.api.type": "responses"}
        _sampling(inputs, attrs, ("max_output_tokens",))
        text_format = inputs.get("text_format")
        output_type = _output_type(text_format) if _given(text_format) else None
        if output_type is None:
            text = inputs.get("text")
            if _given(text):
                output_type = _output_type(_get(text, "format"))
        if output_type:
            attrs["gen_ai.output.type"] = output_type
        content = None
        if capture:
            system, messages = _responses_input(inputs.get("instructions"), inputs.get("input"))
            content = {
                INPUT_MESSAGES: messages,
                SYSTEM_INSTRUCTIONS: system,
                TOOL_DEFINITIONS: _tool_definitions(inputs.get("tools")),
            }
        return _request(inputs.get("model"), attrs, content, instance)

    def read(self, output: Any, capture: bool) -> Response:
        if isinstance(output, _ResponsesAcc):
            if output.response is not None:
                return self._final(output.response, capture)
            return self._partial(output, capture)
        return self._final(output, capture)

    def _final(self, response: Any, capture: bool) -> Response:
        parts, has_tool_call = _responses_output(response, capture)
        finish = _responses_finish(response, has_tool_call)
        attrs: dict[str, Any] = {}
        rid = getattr(response, "id", None)
        if rid:
            attrs["gen_ai.response.id"] = rid
        if finish:
            attrs["gen_ai.response.finish_reasons"] = [finish]
        tier = getattr(response, "service_tier", None)
        if tier:
            attrs["openai.response.service_tier"] = tier
        # A response that is not done (``background=True``: ``queued``/``in_progress``) has
        # no output and no finish reason yet: no output message, rather than one that says
        # nothing and lacks the reason the conventions require.
        has_output = bool(parts) or finish is not None
        content = {OUTPUT_MESSAGES: [_out_message(parts, finish)]} if capture and has_output else None
        return Response(
            attrs, _usage_responses(getattr(response, "usage", None)), getattr(response, "model", None), content
        )

    def _partial(self, acc: _ResponsesAcc, capture: bool) -> Response:
        attrs: dict[str, Any] = {}
        started = acc.started
        rid = getattr(started, "id", None)
        if rid:
            attrs["gen_ai.response.id"] = rid
        content = None
        if capture and acc.text:
            content = {OUTPUT_MESSAGES: [_out_message([_text("".join(acc.text))], None)]}
        return Response(attrs, None, getattr(started, "model", None), content)


# --- embeddings ----------------------------------------------------------------------------


class EmbeddingsExtractor(_OpenAIExtractor):
    operation = "embeddings"

    def request(self, inputs: dict[str, Any], instance: Any, capture: bool) -> Request:
        return _request(inputs.get("model"), embeddings_request_attributes(inputs), None, instance)

    def read(self, output: Any, capture: bool) -> Response:
        return embeddings_response(output)


# --- legacy completions --------------------------------------------------------------------


class CompletionsExtractor(_OpenAIExtractor):
    """Legacy ``completions.create``: operation ``text_completion``."""

    operation = "text_completion"

    def request(self, inputs: dict[str, Any], instance: Any, capture: bool) -> Request:
        attrs: dict[str, Any] = {}
        _sampling(inputs, attrs, ("max_tokens",))
        content = None
        if capture:
            prompt = inputs.get("prompt")
            prompts = [prompt] if isinstance(prompt, str) else [p for p in _seq(prompt) if isinstance(p, str)]
            content = {INPUT_MESSAGES: [{"role": "user", "parts": [_text(p)]} for p in prompts]}
        return _request(inputs.get("model"), attrs, content, instance)

    def read(self, output: Any, capture: bool) -> Response:
        if isinstance(output, _CompletionAcc):
            choices = [(output.choices[i][0], output.choices[i][1]) for i in sorted(output.choices)]
            texts = ["".join(pieces) for pieces, _ in choices]
            rid, model, usage = output.id, output.model, output.usage
            capture = capture and output.capture
        else:
            items = getattr(output, "choices", None) or ()
            choices = [(None, c.finish_reason) for c in items]
            texts = [c.text for c in items]
            rid, model, usage = (
                getattr(output, "id", None),
                getattr(output, "model", None),
                getattr(output, "usage", None),
            )
        finishes = [f for f in (_finish(reason) for _, reason in choices) if f]
        content = None
        if capture:
            content = {
                OUTPUT_MESSAGES: [
                    _out_message([_text(t)] if t else [], _finish(reason))
                    for t, (_, reason) in zip(texts, choices, strict=False)
                ]
            }
        attrs = _chat_response_attrs(rid, None, getattr(output, "system_fingerprint", None), finishes)
        return Response(attrs, _usage_chat(usage), model, content)
