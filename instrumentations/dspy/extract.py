"""DSPy's objects in GenAI terms: the LM call (``chat``), and what module, predictor,
adapter and tool spans carry.

An LM call is read where DSPy runs it, ``dspy.clients.execution.execute(lm, call)``: ``lm``
is the ``BaseLM`` (its ``model`` string, ``model_type``, ``kwargs``), ``call`` DSPy's
``PreparedCall`` (``legacy``: the OpenAI-shaped request, the LM's defaults merged with the
call's arguments; ``request``: an explicit ``dspy.lm15.Request``), and the result a
``CallResult`` (``usage`` in OpenAI's shape whichever engine ran, ``outputs``,
``response_model``, ``raw``: the vendored lm15 ``Response`` or LiteLLM's ``ModelResponse``,
``cache_hit``). The same reading serves the native engine, LiteLLM and custom LMs. Every
LM call is a ``chat`` span, ``model_type="text"`` and ``"responses"`` LMs included
(``dspy.lm.model_type`` says which): one spec serves the one execution path.
"""

from __future__ import annotations

import json
from typing import Any

from weave_agent.export import telemetry
from weave_agent.genai import (
    Extractor,
    Request,
    Response,
    Usage,
    field,
    reasoning_part,
    sequence,
    server_of,
    text_part,
    tool_call_part,
)
from weave_agent.tracing.serialize import to_json

from ..openai_compatible import finish_reason, input_messages, output_type, sampling_attributes, tool_definitions
from .credentials import remember
from .streaming import streams

# DSPy's ``provider/model`` prefixes (LiteLLM's and lm15's names) -> the conventions' values.
PROVIDERS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gemini": "gcp.gemini",
    "vertex_ai": "gcp.vertex_ai",
    "vertex": "gcp.vertex_ai",
    "azure": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "bedrock": "aws.bedrock",
    "xai": "x_ai",
    "mistral": "mistral_ai",
    "groq": "groq",
    "deepseek": "deepseek",
    "cohere": "cohere",
    "perplexity": "perplexity",
    "watsonx": "ibm.watsonx.ai",
}
_FINISH = ("stop", "length", "content_filter", "tool_call", "error")


def split_model(model: Any) -> tuple[str, str | None]:
    """(``gen_ai.provider.name``, the model without its routing prefix) of a DSPy model string."""
    if not isinstance(model, str) or not model:
        return "_OTHER", None
    prefix, sep, rest = model.partition("/")
    if not sep:
        return "_OTHER", model
    return PROVIDERS.get(prefix, prefix), rest or model


def provider_of(lm: Any) -> str | None:
    """The provider of an LM object (None when it has no model string)."""
    model = getattr(lm, "model", None)
    return split_model(model)[0] if isinstance(model, str) else None


class LMExtractor(Extractor):
    """One DSPy LM call (``execute``/``aexecute``): a ``chat`` span, whatever the engine."""

    operation = "chat"
    provider = "_OTHER"

    def request(self, inputs: dict[str, Any], instance: Any, capture: bool) -> Request:
        lm = inputs.get("lm")
        call = inputs.get("call")
        legacy = getattr(call, "legacy", None)
        legacy = legacy if isinstance(legacy, dict) else {}
        remember(lm, legacy)
        model_string = getattr(lm, "model", None)
        provider, model = split_model(model_string)
        attrs: dict[str, Any] = {}
        if isinstance(model_string, str):
            attrs["dspy.lm.model"] = model_string
        model_type = getattr(lm, "model_type", "chat")
        if isinstance(model_type, str):
            attrs["dspy.lm.model_type"] = model_type
        sampling_attributes(legacy, attrs, ("max_tokens", "max_completion_tokens"))
        n = legacy.get("n")
        if isinstance(n, int) and not isinstance(n, bool) and n != 1:
            attrs["gen_ai.request.choice.count"] = n
        kind = output_type(legacy.get("response_format"))
        if kind:
            attrs["gen_ai.output.type"] = kind
        if streams():
            attrs["gen_ai.request.stream"] = True
        if getattr(call, "cache", False):
            attrs["dspy.lm.cache"] = True
        address, port = server_of(legacy.get("api_base") or legacy.get("base_url"))
        content: dict[str, Any] | None = None
        if capture:
            content = {}
            messages = legacy.get("messages")
            if messages is not None:
                content["gen_ai.input.messages"] = input_messages(messages)
            tools = legacy.get("tools")
            if tools:
                content["gen_ai.tool.definitions"] = tool_definitions(tools)
        return Request(model, attrs, content, address, port, provider)

    def response(self, output: Any, capture: bool) -> Response:
        attrs: dict[str, Any] = {}
        cache_hit = bool(getattr(output, "cache_hit", False))
        if cache_hit:
            attrs["dspy.lm.cache_hit"] = True
        raw = getattr(output, "raw", None)
        rid = field(raw, "id") if raw is not None else None
        if isinstance(rid, str) and rid:
            attrs["gen_ai.response.id"] = rid
        finishes = finish_reasons(output)
        if finishes:
            attrs["gen_ai.response.finish_reasons"] = finishes
        cost = getattr(output, "cost", None)
        if isinstance(cost, (int, float)) and not isinstance(cost, bool) and not cache_hit:
            attrs["dspy.lm.cost"] = float(cost)
        model = getattr(output, "response_model", None)
        # A cache hit made no model call: no tokens were used (DSPy keeps none either).
        usage = None if cache_hit else usage_of(getattr(output, "usage", None))
        content = None
        if capture:
            content = {"gen_ai.output.messages": output_messages(getattr(output, "outputs", None), finishes)}
        return Response(attrs, usage, model if isinstance(model, str) else None, content)

    def error_type(self, exc: BaseException) -> str:
        status = getattr(exc, "status", None) or getattr(exc, "status_code", None)
        if isinstance(status, int) and not isinstance(status, bool):
            return str(status)
        return type(exc).__qualname__


def cached_attributes(response: Response) -> dict[str, Any]:
    """The span attributes of a result DSPy served from its cache (no usage: no model call;
    the output messages only when content goes on spans)."""
    attrs = dict(response.attributes or {})
    if response.model:
        attrs["gen_ai.response.model"] = response.model
    settings = telemetry.settings()
    if response.content and settings.capture_content in ("span_only", "span_and_event"):
        for key, value in response.content.items():
            if value:
                attrs[key] = to_json(value, settings.max_value_size)
    return attrs


def usage_of(counts: Any) -> Usage | None:
    """``CallResult.usage`` (OpenAI's shape for every engine) as the counts reported."""
    if not isinstance(counts, dict) or not counts:
        return None
    prompt = counts.get("prompt_tokens_details")
    completion = counts.get("completion_tokens_details")
    prompt = prompt if isinstance(prompt, dict) else {}
    completion = completion if isinstance(completion, dict) else {}
    usage = Usage(
        _count(counts.get("prompt_tokens")),
        _count(counts.get("completion_tokens")),
        cache_read_input_tokens=_count(prompt.get("cached_tokens")),
        cache_creation_input_tokens=_count(prompt.get("cache_creation_tokens")),
        reasoning_output_tokens=_count(completion.get("reasoning_tokens")),
    )
    return usage if usage.input_tokens is not None or usage.output_tokens is not None else None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def finish_reasons(output: Any) -> list[str]:
    """Per candidate: lm15 responses carry the conventions' values; LiteLLM's choices OpenAI's."""
    reasons: list[str] = []
    for response in sequence(getattr(output, "responses", None)):
        reason = getattr(response, "finish_reason", None)
        if isinstance(reason, str) and reason:
            reasons.append(reason if reason in _FINISH else finish_reason(reason) or reason)
    if reasons:
        return reasons
    raw = getattr(output, "raw", None)
    for choice in sequence(field(raw, "choices")) if raw is not None else ():
        reason = finish_reason(field(choice, "finish_reason"))
        if reason:
            reasons.append(reason)
    return reasons


def output_messages(outputs: Any, finishes: list[str]) -> list[dict[str, Any]]:
    """DSPy's outputs (a string per candidate, or a dict with ``text``, ``reasoning_content``
    and ``tool_calls``) as the conventions' output messages."""
    messages = []
    for index, out in enumerate(sequence(outputs)):
        parts: list[dict[str, Any]] = []
        if isinstance(out, str):
            parts.append(text_part(out))
        elif isinstance(out, dict):
            reasoning = out.get("reasoning_content")
            if isinstance(reasoning, str) and reasoning:
                parts.append(reasoning_part(reasoning))
            text = out.get("text")
            if isinstance(text, str) and text:
                parts.append(text_part(text))
            for call in sequence(out.get("tool_calls")):
                fn = field(call, "function")
                parts.append(tool_call_part(field(call, "id"), field(fn, "name"), field(fn, "arguments")))
        message: dict[str, Any] = {"role": "assistant", "parts": parts}
        reason = finishes[index] if index < len(finishes) else None
        if reason:
            message["finish_reason"] = reason
        messages.append(message)
    return messages


# --- modules, predictors, adapters, tools ------------------------------------------------


def module_name(module: Any) -> str:
    """A module's span name: its class (``Predict``, ``ChainOfThought``, the app's own)."""
    return type(module).__name__ if module is not None else "Module"


def signature_of(module: Any) -> str | None:
    """A predictor's signature as DSPy writes it (``question -> answer``)."""
    signature = getattr(module, "signature", None)
    text = getattr(signature, "signature", None) if signature is not None else None
    return text if isinstance(text, str) and text else None


def tool_name(tool: Any) -> str:
    name = getattr(tool, "name", None)
    return name if isinstance(name, str) and name else "tool"


def tool_description(tool: Any) -> str | None:
    desc = getattr(tool, "desc", None)
    return desc if isinstance(desc, str) and desc else None


def jsonable(value: Any) -> Any:
    """A DSPy value as JSON goes (a ``Prediction``/``Example`` as its fields)."""
    to_dict = getattr(value, "toDict", None)
    if callable(to_dict):
        try:
            return to_dict()
        except Exception:
            return value
    return value


def as_text(value: Any, limit: int) -> str:
    """A tool's result as the conventions' string: text as it is, anything else as JSON."""
    if isinstance(value, str):
        return value if limit <= 0 or len(value) <= limit else value[:limit]
    return to_json(jsonable(value), limit)


def arguments_json(kwargs: dict[str, Any], limit: int) -> str:
    try:
        text = json.dumps(kwargs, ensure_ascii=False, default=str)
    except Exception:
        return to_json(kwargs, limit)
    return text if limit <= 0 or len(text) <= limit else text[:limit]
