"""LangChain: what its runs, messages and model results say, in GenAI terms.

Providers by model class, finish reasons, roles, message content as the conventions'
parts, token usage from ``llm_output`` or the messages' ``usage_metadata``, and the
settings read per run (content capture, the size limit). Read by ``tracer.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from weave_agent import genai
from weave_agent.export import telemetry

_PROVIDERS = {
    "openai": "openai",
    "azure": "azure.ai.openai",
    "anthropic": "anthropic",
    "mistralai": "mistral_ai",
    "mistral": "mistral_ai",
    "bedrock": "aws.bedrock",
    "amazon_bedrock": "aws.bedrock",
    "google_genai": "gcp.gen_ai",
    "google_vertexai": "gcp.vertex_ai",
    "groq": "groq",
    "cohere": "cohere",
    "deepseek": "deepseek",
    "xai": "x_ai",
    "ollama": "ollama",
}

_FINISH_REASONS = {
    "stop": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "length": "length",
    "max_tokens": "length",
    "tool_calls": "tool_call",
    "tool_use": "tool_call",
    "function_call": "tool_call",
    "content_filter": "content_filter",
    "refusal": "content_filter",
}

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "tool",
          "chat": "user", "developer": "system", "AIMessageChunk": "assistant"}


def _capture() -> bool:
    return telemetry.settings().capture_content != "no_content"


def _limit() -> int:
    return telemetry.settings().max_value_size


def _content_mode() -> tuple[bool, bool]:
    mode = telemetry.settings().capture_content
    return mode in ("span_only", "span_and_event"), mode in ("event_only", "span_and_event")


def _name(serialized: Any, kwargs: dict[str, Any], default: str) -> str:
    name = kwargs.get("name")
    if isinstance(name, str) and name:
        return name
    if isinstance(serialized, dict):
        name = serialized.get("name")
        if isinstance(name, str) and name:
            return name
        ids = serialized.get("id")
        if isinstance(ids, list) and ids and isinstance(ids[-1], str):
            return ids[-1]
    return default


def _provider(metadata: dict[str, Any], serialized: Any) -> str:
    ls = metadata.get("ls_provider")
    if isinstance(ls, str) and ls:
        return _PROVIDERS.get(ls.lower(), ls.lower())
    return "_OTHER"


def _message_parts(message: Any) -> dict[str, Any]:
    """A LangChain message in the GenAI conventions' message schema."""
    role = _ROLES.get(getattr(message, "type", ""), getattr(message, "type", None) or "user")
    parts: list[dict[str, Any]] = []
    content = getattr(message, "content", None)
    if role == "tool":
        parts.append({"type": "tool_call_response", "id": getattr(message, "tool_call_id", None),
                      "response": content})
        return {"role": role, "parts": parts}
    if isinstance(content, str):
        if content:
            parts.append({"type": "text", "content": content})
    elif isinstance(content, list):
        for block in content:
            if isinstance(block, str):
                parts.append({"type": "text", "content": block})
            elif isinstance(block, dict):
                kind = block.get("type")
                if kind == "text":
                    parts.append({"type": "text", "content": block.get("text", "")})
                elif kind in ("thinking", "reasoning"):
                    parts.append(genai.reasoning_part(block.get("thinking") or block.get("reasoning", "")))
                elif kind in _MODALITIES:
                    parts.append(_media_block(block, _MODALITIES[kind]))
                # tool_use blocks repeat message.tool_calls: read those below
    for call in getattr(message, "tool_calls", None) or ():
        if isinstance(call, dict):
            parts.append({"type": "tool_call", "id": call.get("id"), "name": call.get("name"),
                          "arguments": call.get("args")})
    return {"role": role, "parts": parts}


# Media content blocks (OpenAI's ``image_url``, LangChain's standard ``image``/``audio``/
# ``file`` blocks) and the modality each carries.
_MODALITIES = {"image_url": "image", "image": "image", "audio": "audio", "input_audio": "audio", "file": "document"}


def _media_block(block: dict[str, Any], modality: str) -> dict[str, Any]:
    """A media block by URL, file id or inline data (``media_part``: never the bytes)."""
    url = block.get("image_url", block.get("url"))
    if isinstance(url, dict):
        url = url.get("url")
    mime = block.get("mime_type")
    if isinstance(url, str) and url:
        return genai.uri_part(url, modality, mime)
    data = block.get("base64", block.get("data"))
    if isinstance(data, str) and data:
        return genai.media_part(data, modality, mime)
    file_id = block.get("file_id", block.get("id"))
    if isinstance(file_id, str) and file_id:
        return genai.file_part(file_id, modality, mime)
    return genai.generic_part(block.get("type"), modality=modality)


def tool_definitions(tools: Any) -> list[dict[str, Any]]:
    """A model's bound tools (OpenAI's ``{"type": "function", "function": {...}}``, or
    Anthropic's ``{"name", "description", "input_schema"}``) as ``gen_ai.tool.definitions``."""
    defs = []
    for tool in tools if isinstance(tools, list) else ():
        if not isinstance(tool, dict):
            continue
        nested = tool.get("function")
        fn: dict[str, Any] = nested if isinstance(nested, dict) else tool
        kind = tool.get("type") if isinstance(tool.get("type"), str) else "function"
        if kind == "custom" or "input_schema" in tool:
            kind = "function"
        defs.append(genai.tool_definition(kind, fn.get("name"), fn.get("description"),
                                          fn.get("parameters", fn.get("input_schema"))))
    return defs


def _token_count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _usage(generations: Sequence[Any], llm_output: Any) -> genai.Usage | None:
    """Usage as LangChain reports it: the messages' ``usage_metadata``, else ``llm_output``."""
    inp = out = cache_read = cache_creation = reasoning = None
    found = False
    for gen in generations:
        meta = getattr(getattr(gen, "message", None), "usage_metadata", None)
        if not isinstance(meta, dict):
            continue
        found = True
        inp = (inp or 0) + (_token_count(meta.get("input_tokens")) or 0)
        out = (out or 0) + (_token_count(meta.get("output_tokens")) or 0)
        details = meta.get("input_token_details") or {}
        if _token_count(details.get("cache_read")) is not None:
            cache_read = (cache_read or 0) + details["cache_read"]
        if _token_count(details.get("cache_creation")) is not None:
            cache_creation = (cache_creation or 0) + details["cache_creation"]
        out_details = meta.get("output_token_details") or {}
        if _token_count(out_details.get("reasoning")) is not None:
            reasoning = (reasoning or 0) + out_details["reasoning"]
    if found:
        return genai.Usage(inp, out, cache_read, cache_creation, reasoning)
    if isinstance(llm_output, dict):
        usage = llm_output.get("token_usage") or llm_output.get("usage")
        if isinstance(usage, dict):
            inp = _token_count(usage.get("prompt_tokens", usage.get("input_tokens")))
            out = _token_count(usage.get("completion_tokens", usage.get("output_tokens")))
            if inp is not None or out is not None:
                return genai.Usage(inp, out)
    return None
