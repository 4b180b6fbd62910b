"""Pydantic AI's message attributes in the conventions' message schema.

Pydantic AI writes ``gen_ai.input.messages``, ``gen_ai.output.messages`` (and its own
``pydantic_ai.all_messages``) close to the GenAI conventions, but not exactly: a tool result
is ``{"type": "tool_call_response", "result": ...}`` where the conventions name the field
``response``; its reasoning is a ``thinking`` part (the conventions' ``reasoning``); a
``uri`` for a document has no ``modality``; media whose bytes are left out
(``include_binary_content=False``, the agent's choice: no bytes in a part) are a ``blob``
without ``content``. ``conventional`` rewrites those parts; anything else the conventions do
not define becomes ``{"type": "generic", "generic_type": <Pydantic AI's type>, ...}``. An
output message of a stream cut short has no ``finish_reason``: it gets ``error``, as the
agent's own spans report a model that never said why it stopped.

With the agent's content capture off, Pydantic AI still writes the messages' structure
(roles, tool names, text parts without their text): ``CONTENT`` names every attribute that
is dropped then, as the agent's own spans never carry them without capture.
"""

from __future__ import annotations

import json
from typing import Any

OUTPUT_MESSAGES = "gen_ai.output.messages"
FINISH_REASONS = "gen_ai.response.finish_reasons"
MESSAGE_ATTRIBUTES = frozenset({"gen_ai.input.messages", "gen_ai.output.messages", "pydantic_ai.all_messages"})
CONTENT = MESSAGE_ATTRIBUTES | {
    "gen_ai.system_instructions",
    "gen_ai.tool.definitions",
    "model_request_parameters",
}

# Part types the conventions define and Pydantic AI writes as they are.
_KEPT = frozenset({"text", "tool_call"})
# A part type outside _KEPT appears in the JSON as one of these.
_MARKERS = ('"tool_call_response"', '"thinking"', '"uri"', '"blob"', '"file"', '"binary"', '-url"')


def _generic(part: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in part.items() if k not in ("type", "content")}
    out["type"] = "generic"
    out["generic_type"] = str(part.get("type"))
    return out


def _part(part: Any) -> Any:
    if not isinstance(part, dict):
        return part
    kind = part.get("type")
    if kind in _KEPT:
        return part
    if kind == "tool_call_response":
        out = {k: v for k, v in part.items() if k != "result"}
        out["response"] = part.get("result")
        return out
    if kind == "thinking":
        return {"type": "reasoning", "content": part.get("content") or ""}
    if kind == "uri" and isinstance(part.get("uri"), str) and not part["uri"].startswith("data:"):
        if "modality" in part:
            return part
        mime = part.get("mime_type")
        return {**part, "modality": mime.split("/", 1)[0] if isinstance(mime, str) and "/" in mime else "document"}
    if kind == "blob" and isinstance(part.get("content"), str) and isinstance(part.get("modality"), str):
        return part
    if kind == "file" and isinstance(part.get("file_id"), str) and isinstance(part.get("modality"), str):
        return part
    return _generic(part)


def conventional(value: Any, output: bool = False) -> Any:
    """A message attribute (a JSON string) with its parts in the conventions' shapes (and,
    for ``output`` messages, a ``finish_reason`` on each)."""
    if not isinstance(value, str):
        return value
    if not any(marker in value for marker in _MARKERS) and not (output and '"finish_reason"' not in value):
        return value
    try:
        messages = json.loads(value)
    except ValueError:
        return value
    if not isinstance(messages, list):
        return value
    for message in messages:
        parts = message.get("parts") if isinstance(message, dict) else None
        if isinstance(parts, list):
            message["parts"] = [_part(p) for p in parts]
        if output and isinstance(message, dict) and not message.get("finish_reason"):
            message["finish_reason"] = "error"
    return json.dumps(messages, ensure_ascii=False, separators=(",", ":"))
