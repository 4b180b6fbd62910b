"""LlamaIndex: the keys its LLM and embedding objects hold, so that no exported string carries them.

``llama-index-llms-*`` and ``-embeddings-*`` classes keep their key as a plain field
(``api_key``); an SDK they call has its client's key learned by that SDK's instrumentation,
but a model over raw HTTP, or an error message quoting the key, is covered only here. Read
from the instance's stored fields when its step starts. Imports nothing else of this folder.
"""

from __future__ import annotations

from typing import Any

from weave_agent.tracing.secrets import remember_client

_FIELDS = ("api_key", "aws_secret_access_key", "aws_session_token")


def credentials(instance: Any) -> list[Any]:
    stored = getattr(instance, "__dict__", None) or {}
    return [stored.get(name) for name in _FIELDS]


def remember_keys(instance: Any) -> None:
    """Learn the instance's keys (once per instance)."""
    remember_client(instance, credentials)
