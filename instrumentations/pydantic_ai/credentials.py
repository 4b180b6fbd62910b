"""Pydantic AI: the keys the client of a model holds, so that no exported string carries them.

The model's SDK call runs untraced inside Pydantic AI's ``chat`` span (``model_call.py``),
so the SDK instrumentation never sees that client: the key is learned here, at each model
request, from what the model and its provider store (``Model._provider._client``, the
SDK client, whose ``api_key`` the OpenAI, Anthropic and Groq clients keep in their
``__dict__``), never through a property that may read the environment or build a client. Imports nothing else of this folder.
"""

from __future__ import annotations

from typing import Any


def _read(client: Any) -> list[Any]:
    stored = getattr(client, "__dict__", None) or {}
    return [stored.get("api_key"), stored.get("_api_key")]


def remember_model_client(model: Any) -> None:
    """Learn the key of the client ``model`` (a Pydantic AI ``Model``) sends with."""
    stored = getattr(model, "__dict__", None) or {}
    provider = getattr(stored.get("_provider"), "__dict__", None) or {}
    client = provider.get("_client") or stored.get("client")
    if client is not None:
        from weave_agent.tracing.secrets import remember_client  # at the first request, not at import

        remember_client(client, _read)
