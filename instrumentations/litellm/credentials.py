"""LiteLLM: the credentials a call was given, so that no exported string carries them.

LiteLLM takes its secrets per call (``api_key=``, ``azure_ad_token=``, ``extra_headers``)
rather than from a client object, and a provider echoing one into an error message ends up
in the exception the span records. The exact strings are remembered
(``weave_agent.tracing.secrets``) and scrubbed from whatever the agent exports. Imports
nothing else of this folder.
"""

from __future__ import annotations

from typing import Any

from weave_agent.tracing.secrets import header_values, remember_all

_KEYS = ("api_key", "azure_ad_token", "aws_secret_access_key", "aws_session_token", "vertex_credentials")
_HEADERS = ("extra_headers", "headers")


def remember(inputs: dict[str, Any]) -> None:
    """Learn the secret strings of one call's arguments (strings only; a provider callable
    is never called)."""
    found: list[Any] = [inputs.get(k) for k in _KEYS if isinstance(inputs.get(k), str)]
    for key in _HEADERS:
        headers = inputs.get(key)
        if isinstance(headers, dict) and headers:
            found += header_values(headers)
    if found:
        remember_all(found)
