"""LiteLLM: what its calls and answers say, in GenAI terms.

LiteLLM answers in OpenAI's shapes whatever the provider (``ModelResponse``,
``EmbeddingResponse``, ``TextCompletionResponse``, ``ResponsesAPIResponse``), so the
readers of those formats come from ``instrumentations/openai_compatible.py``; what is
LiteLLM's own is the route:

* ``model="anthropic/claude-haiku-4-5"`` is routed by LiteLLM's ``get_llm_provider`` (the
  prefix, ``custom_llm_provider=``, or its model lists for a bare name) to a provider and a
  model. ``gen_ai.provider.name`` is that provider in the conventions' values (``azure`` is
  ``azure.ai.openai``, ``bedrock`` ``aws.bedrock``, ...; a provider the conventions do not
  name keeps LiteLLM's name), ``gen_ai.request.model`` the model without the routing
  prefix, and ``litellm.request.model`` the string the app passed. The route of a model
  string is computed once and kept (LiteLLM's own lookup costs 20-900 us).
* ``server.address``/``server.port``: the call's ``api_base`` (or ``base_url``), else the
  base LiteLLM derives for the provider, else the provider's public host where it has one.
* LiteLLM's cost of the call (``_hidden_params["response_cost"]``, the value its
  ``standard_logging_object`` reports) is ``litellm.response.cost`` when it computed one.

Errors: LiteLLM maps every provider's error to its own exceptions (``litellm.exceptions``,
each with ``status_code``): ``error.type`` is that HTTP status, else the class name.
"""

from __future__ import annotations

import os
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
    as_int,
    reasoning_part,
    server_of,
)
from weave_agent.genai import field as _get
from weave_agent.genai import sequence as _seq
from weave_agent.genai import text_part as _text
from weave_agent.genai import tool_call_part as _tool_call

from ..openai_compatible import content_parts, input_messages, output_message, sampling_attributes, tool_definitions
from ..openai_compatible import finish_reason as _finish
from ..openai_compatible import output_type as _output_type
from ..openai_compatible import usage as _chat_usage
from .credentials import remember as _remember_credentials
from .streaming import ChatStream, ResponsesStream

REQUEST_MODEL = "litellm.request.model"  # the model string as the app passed it, prefix and all
ROUTED_PROVIDER = "litellm.provider"  # LiteLLM's own name of the routed provider
RESPONSE_COST = "litellm.response.cost"  # LiteLLM's cost of the call, in USD

# LiteLLM's provider names -> the conventions' well-known gen_ai.provider.name values.
PROVIDERS = {
    "openai": "openai",
    "text-completion-openai": "openai",
    "azure": "azure.ai.openai",
    "azure_text": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "anthropic": "anthropic",
    "anthropic_text": "anthropic",
    "bedrock": "aws.bedrock",
    "vertex_ai": "gcp.vertex_ai",
    "vertex_ai_beta": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "cohere": "cohere",
    "cohere_chat": "cohere",
    "groq": "groq",
    "mistral": "mistral_ai",
    "xai": "x_ai",
    "deepseek": "deepseek",
    "watsonx": "ibm.watsonx.ai",
    "watsonx_text": "ibm.watsonx.ai",
    "perplexity": "perplexity",
}

# Where a provider's API lives when the call names no base (LiteLLM's defaults).
DEFAULT_HOSTS = {
    "openai": "https://api.openai.com",
    "text-completion-openai": "https://api.openai.com",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
    "mistral": "https://api.mistral.ai",
    "cohere": "https://api.cohere.com",
    "cohere_chat": "https://api.cohere.com",
    "deepseek": "https://api.deepseek.com",
    "xai": "https://api.x.ai",
}

_routes: dict[tuple[Any, Any, Any], tuple[str, str | None, str | None]] = {}
_MAX_ROUTES = 4096
_get_llm_provider: Any = None


def _lookup(model: str, provider: Any, api_base: Any) -> tuple[str, str | None, str | None]:
    global _get_llm_provider
    if _get_llm_provider is None:
        from litellm.litellm_core_utils.get_llm_provider_logic import get_llm_provider

        _get_llm_provider = get_llm_provider
    try:
        routed = _get_llm_provider(
            model=model,
            custom_llm_provider=provider if isinstance(provider, str) else None,
            api_base=api_base if isinstance(api_base, str) else None,
        )
        name, raw, base = routed[0], routed[1], routed[3]
        return (name if isinstance(name, str) and name else model), (raw or None), (base or None)
    except Exception:  # a model LiteLLM cannot route: it raises the same to the app
        if isinstance(provider, str) and provider:
            return model, provider, None
        prefix, sep, rest = model.partition("/")
        return (rest, prefix, None) if sep and rest else (model, None, None)


def route(model: Any, provider: Any = None, api_base: Any = None) -> tuple[str | None, str | None, str | None]:
    """(model without its routing prefix, LiteLLM's provider name, the base LiteLLM derives)."""
    if not isinstance(model, str) or not model:
        return None, provider if isinstance(provider, str) else None, None
    key = (model, provider, api_base)
    found = _routes.get(key)
    if found is None:
        found = _lookup(model, provider, api_base)
        if len(_routes) >= _MAX_ROUTES:
            _routes.clear()
        _routes[key] = found
    return found


def _server(inputs: dict[str, Any], raw: str | None, derived: str | None) -> tuple[str | None, int | None]:
    base = inputs.get("api_base") or inputs.get("base_url") or derived
    if not base and raw in ("azure", "azure_text"):
        base = os.environ.get("AZURE_API_BASE")
    if not base and raw is not None:
        base = DEFAULT_HOSTS.get(raw)
    return server_of(base) if isinstance(base, str) else (None, None)


def _routed_request(inputs: dict[str, Any], attrs: dict[str, Any], content: dict[str, Any] | None) -> Request:
    _remember_credentials(inputs)
    full = inputs.get("model")
    model, raw, derived = route(full, inputs.get("custom_llm_provider"), inputs.get("api_base"))
    if isinstance(full, str):
        attrs[REQUEST_MODEL] = full
    if raw:
        attrs[ROUTED_PROVIDER] = raw
    address, port = _server(inputs, raw, derived)
    provider = PROVIDERS.get(raw, raw) if raw else None
    return Request(model, attrs, content, address, port, provider)


def _own(obj: Any, name: str) -> Any:
    """A field LiteLLM sets on its pydantic objects only when it has a value
    (``reasoning_content``, Anthropic's cache counts): read from where pydantic keeps it,
    ``None`` when absent, without pydantic's ``__getattr__``, whose miss raises and catches
    an exception (microseconds per read, on every call)."""
    if isinstance(obj, dict):
        return dict.get(obj, name)
    stored = getattr(obj, "__dict__", None)
    if isinstance(stored, dict) and name in stored:
        return stored[name]
    extra = getattr(obj, "__pydantic_extra__", None)
    if isinstance(extra, dict):
        return extra.get(name)
    return None


def _cost(output: Any) -> dict[str, Any]:
    private = getattr(output, "__pydantic_private__", None)  # _hidden_params is a private attribute
    hidden = private.get("_hidden_params") if isinstance(private, dict) else getattr(output, "_hidden_params", None)
    cost = hidden.get("response_cost") if isinstance(hidden, dict) else None
    if isinstance(cost, (int, float)) and not isinstance(cost, bool):
        return {RESPONSE_COST: float(cost)}
    return {}


def _usage(counts: Any) -> Usage | None:
    usage = _chat_usage(counts)
    if usage is not None:
        written = as_int(_own(counts, "cache_creation_input_tokens"))  # Anthropic's, kept by LiteLLM
        if written is not None:
            usage.cache_creation_input_tokens = written
        read = as_int(_own(counts, "cache_read_input_tokens"))
        if read and not usage.cache_read_input_tokens:
            usage.cache_read_input_tokens = read
    return usage


def _error_type(exc: BaseException) -> str:
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and not isinstance(status, bool):
        return str(status)
    return type(exc).__qualname__


class _LiteLLMExtractor(Extractor):
    provider = "_OTHER"  # replaced per call by the routed provider

    def __init__(self, is_async: bool = False) -> None:
        self.is_async = is_async

    def wrap_stream(self, result: Any, call: Any, accumulator: Any) -> Any:
        """LiteLLM's stream wrappers are sync and async iterators at once: the proxy follows
        the function that returned it (``acompletion`` is read with ``async for``)."""
        if not self.is_async:
            return streams.wrap(result, call, accumulator)
        state = streams.StreamState(call, accumulator)
        state.source = result
        return streams.AsyncStreamProxy(result, state)

    def error_type(self, exc: BaseException) -> str:
        return _error_type(exc)


# --- chat: completion / acompletion -------------------------------------------------------


class ChatExtractor(_LiteLLMExtractor):
    operation = "chat"

    def request(self, inputs: dict[str, Any], instance: Any, capture: bool) -> Request:
        attrs: dict[str, Any] = {}
        sampling_attributes(inputs, attrs, ("max_completion_tokens", "max_tokens"))
        top_k = as_int(inputs.get("top_k"))
        if top_k is not None:
            attrs["gen_ai.request.top_k"] = float(top_k)
        kind = _output_type(inputs.get("response_format"))
        if kind:
            attrs["gen_ai.output.type"] = kind
        content = None
        if capture:
            content = {INPUT_MESSAGES: input_messages(inputs.get("messages"))}
            tools = tool_definitions(inputs.get("tools"))
            if tools:
                content[TOOL_DEFINITIONS] = tools
        return _routed_request(inputs, attrs, content)

    def response(self, output: Any, capture: bool) -> Response:
        if isinstance(output, ChatStream):
            return self._stream(output, capture)
        attrs: dict[str, Any] = _cost(output)
        rid = _get(output, "id")
        if isinstance(rid, str):
            attrs["gen_ai.response.id"] = rid
        reasons = []
        messages = []
        for choice in _seq(_get(output, "choices")):
            finish = _finish(_get(choice, "finish_reason"))
            reasons.append(finish or "")
            if capture:
                message = _get(choice, "message")
                text = _get(choice, "text") if message is None else None  # a text_completion choice
                messages.append(output_message(self._parts(message, text), finish))
        if any(reasons):
            attrs["gen_ai.response.finish_reasons"] = reasons
        model = _get(output, "model")
        content = {OUTPUT_MESSAGES: messages} if capture and messages else None
        counts = _own(output, "usage") or _get(output, "usage")
        return Response(attrs, _usage(counts), model if isinstance(model, str) else None, content)

    @staticmethod
    def _parts(message: Any, text: Any) -> list[Any]:
        if message is None:  # a text_completion choice
            return [_text(text)] if isinstance(text, str) else []
        parts: list[Any] = []
        reasoning = _own(message, "reasoning_content")
        if isinstance(reasoning, str) and reasoning:
            parts.append(reasoning_part(reasoning))
        parts += content_parts(_get(message, "content"))
        for call in _seq(_get(message, "tool_calls")):
            fn = _get(call, "function")
            parts.append(_tool_call(_get(call, "id"), _get(fn, "name"), _get(fn, "arguments")))
        return parts

    @staticmethod
    def _stream(state: ChatStream, capture: bool) -> Response:
        attrs: dict[str, Any] = {}
        if state.id:
            attrs["gen_ai.response.id"] = state.id
        choices = state.ordered()
        reasons = [_finish(c.finish_reason) or "" for c in choices]
        if any(reasons):
            attrs["gen_ai.response.finish_reasons"] = reasons
        content = None
        if capture and choices:
            messages = []
            for choice in choices:
                parts: list[Any] = []
                if choice.reasoning:
                    parts.append(reasoning_part("".join(choice.reasoning)))
                if choice.text:
                    parts.append(_text("".join(choice.text)))
                for entry in choice.tool_calls:
                    parts.append(_tool_call(entry[0], entry[1], "".join(entry[2])))
                messages.append(output_message(parts, _finish(choice.finish_reason)))
            content = {OUTPUT_MESSAGES: messages}
        return Response(attrs, _usage(state.usage), state.model, content)


# --- text_completion / atext_completion ---------------------------------------------------


class TextCompletionExtractor(ChatExtractor):
    operation = "text_completion"

    def request(self, inputs: dict[str, Any], instance: Any, capture: bool) -> Request:
        attrs: dict[str, Any] = {}
        sampling_attributes(inputs, attrs, ("max_tokens",))
        content = None
        if capture:
            prompt = inputs.get("prompt")
            prompts = [prompt] if isinstance(prompt, str) else [p for p in _seq(prompt) if isinstance(p, str)]
            content = {INPUT_MESSAGES: [{"role": "user", "parts": [_text(p)]} for p in prompts]}
        return _routed_request(inputs, attrs, content)


# --- embeddings: embedding / aembedding ---------------------------------------------------


class EmbeddingsExtractor(_LiteLLMExtractor):
    operation = "embeddings"

    def request(self, inputs: dict[str, Any], instance: Any, capture: bool) -> Request:
        attrs: dict[str, Any] = {}
        fmt = inputs.get("encoding_format")
        if isinstance(fmt, str):
            attrs["gen_ai.request.encoding_formats"] = [fmt]
        dims = as_int(inputs.get("dimensions"))
        if dims is not None:
            attrs["gen_ai.embeddings.dimension.count"] = dims
        return _routed_request(inputs, attrs, None)

    def is_stream(self, inputs: dict[str, Any], result: Any) -> bool:
        return False

    def response(self, output: Any, capture: bool) -> Response:
        attrs = _cost(output)
        data = _get(output, "data")
        if data and isinstance(data, list):
            vector = _get(data[0], "embedding")
            if isinstance(vector, list):
                attrs["gen_ai.embeddings.dimension.count"] = len(vector)
        counts = _get(output, "usage")
        usage = Usage(_get(counts, "prompt_tokens")) if counts is not None else None
        model = _get(output, "model")
        return Response(attrs, usage, model if isinstance(model, str) else None)


# --- the Responses API: responses / aresponses --------------------------------------------


class ResponsesExtractor(_LiteLLMExtractor):
    operation = "chat"

    def request(self, inputs: dict[str, Any], instance: Any, capture: bool) -> Request:
        attrs: dict[str, Any] = {}
        sampling_attributes(inputs, attrs, ("max_output_tokens",))
        content = None
        if capture:
            content = {}
            given = inputs.get("input")
            if isinstance(given, str):
                content[INPUT_MESSAGES] = [{"role": "user", "parts": [_text(given)]}]
            else:
                content[INPUT_MESSAGES] = input_messages([m for m in _seq(given) if _get(m, "role")])
            instructions = inputs.get("instructions")
            if isinstance(instructions, str) and instructions:
                content[SYSTEM_INSTRUCTIONS] = [_text(instructions)]
            tools = tool_definitions(inputs.get("tools"))
            if tools:
                content[TOOL_DEFINITIONS] = tools
        return _routed_request(inputs, attrs, content)

    def response(self, output: Any, capture: bool) -> Response:
        if isinstance(output, ResponsesStream):
            if output.response is not None:
                return self._whole(output.response, capture, {})
            attrs = {"gen_ai.response.id": output.id} if output.id else {}
            content = None
            if capture and output.text:
                content = {OUTPUT_MESSAGES: [output_message([_text("".join(output.text))], None)]}
            return Response(attrs, None, output.model, content)
        return self._whole(output, capture, _cost(output))

    @staticmethod
    def _whole(output: Any, capture: bool, attrs: dict[str, Any]) -> Response:
        rid = _get(output, "id")
        if isinstance(rid, str):
            attrs["gen_ai.response.id"] = rid
        parts: list[Any] = []
        calls = False
        for item in _seq(_get(output, "output")):
            kind = _get(item, "type")
            if kind == "message":
                parts += content_parts(_get(item, "content"))
            elif kind == "function_call":
                calls = True
                parts.append(_tool_call(_get(item, "call_id"), _get(item, "name"), _get(item, "arguments")))
            elif kind == "reasoning":
                for summary in _seq(_get(item, "summary")):
                    text = _get(summary, "text")
                    if isinstance(text, str):
                        parts.append(reasoning_part(text))
        status = _get(output, "status")
        finish = "tool_call" if calls else ("stop" if status == "completed" else None)
        if finish:
            attrs["gen_ai.response.finish_reasons"] = [finish]
        counts = _get(output, "usage")
        usage = None
        if counts is not None:
            details = _get(counts, "input_tokens_details")
            out_details = _get(counts, "output_tokens_details")
            usage = Usage(
                _get(counts, "input_tokens"),
                _get(counts, "output_tokens"),
                cache_read_input_tokens=_get(details, "cached_tokens") if details is not None else None,
                reasoning_output_tokens=_get(out_details, "reasoning_tokens") if out_details is not None else None,
            )
        model = _get(output, "model")
        content = {OUTPUT_MESSAGES: [output_message(parts, finish)]} if capture and parts else None
        return Response(attrs, usage, model if isinstance(model, str) else None, content)

    def is_stream(self, inputs: dict[str, Any], result: Any) -> bool:
        return bool(inputs.get("stream"))
