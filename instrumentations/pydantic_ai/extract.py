"""What Pydantic AI's spans and errors say, in the agent's terms.

Pydantic AI's ``chat`` span already carries the GenAI attributes (operation, provider,
model, server, usage, messages). The agent reads back from it, when it has ended, what its
own token and duration metrics repeat (``metric_attributes``, ``usage_counts``), and names
the errors Pydantic AI leaves without ``error.type`` (``error_type``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The attributes of the chat span the agent's metric points repeat (the conventions'
# metric attributes).
_METRIC_KEYS = (
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "server.address",
    "server.port",
)

# Usage as ``weave_agent.genai.Usage.counts()`` orders it: (input, output, cache read,
# cache write, reasoning); each the first of the names Pydantic AI may write.
_USAGE_KEYS = (
    ("gen_ai.usage.input_tokens",),
    ("gen_ai.usage.output_tokens",),
    ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens"),
    ("gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_write.input_tokens"),
    ("gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.details.reasoning_tokens"),
)


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def usage_counts(attributes: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """The provider's counts the span recorded, or None when it recorded none."""
    counts = tuple(next((_count(attributes.get(k)) for k in keys if k in attributes), None) for keys in _USAGE_KEYS)
    return counts if counts[0] is not None or counts[1] is not None else None


def metric_attributes(attributes: Mapping[str, Any], error_type: str | None) -> dict[str, Any]:
    out = {key: attributes[key] for key in _METRIC_KEYS if key in attributes}
    out.setdefault("gen_ai.operation.name", "chat")
    if error_type:
        out["error.type"] = error_type
    return out


def error_type(exc: BaseException) -> str:
    """The provider's HTTP status for a model's HTTP error (``ModelHTTPError.status_code``,
    what the SDK instrumentations record), else the exception's class name."""
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and not isinstance(status, bool):
        return str(status)
    return type(exc).__name__


def error_type_from_event(attributes: Mapping[str, Any] | None) -> str | None:
    """The class name from an ``exception`` event's ``exception.type`` (Pydantic AI writes
    ``module.QualName`` when content capture is off)."""
    value = (attributes or {}).get("exception.type")
    if isinstance(value, str) and value:
        return value.rsplit(".", 1)[-1]
    return None
