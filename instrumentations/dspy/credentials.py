"""DSPy: the credentials an LM call carries, so that no exported string holds them.

``dspy.LM(..., api_key=...)`` keeps its key (and any ``headers``/``extra_headers``) in the
LM's ``kwargs``, which every call merges into its request: a provider echoing the key into
an error message would put it into the exception the span records. The exact strings are
remembered once per LM object (``weave_agent.tracing.secrets``) and scrubbed from whatever
the agent exports. Imports nothing else of this folder.
"""

from __future__ import annotations

from typing import Any

from weave_agent.tracing.secrets import header_values, remember_all, remember_client

_KEYS = ("api_key", "azure_ad_token")
_HEADERS = ("headers", "extra_headers")


def _secrets(values: Any) -> list[Any]:
    if not isinstance(values, dict):
        return []
    found: list[Any] = [values.get(k) for k in _KEYS if isinstance(values.get(k), str)]
    for key in _HEADERS:
        headers = values.get(key)
        if isinstance(headers, dict) and headers:
            found += header_values(headers)
    return found


def credentials(lm: Any) -> list[Any]:
    """The secret strings an LM was built with (its ``kwargs``; a callable key is never called)."""
    return _secrets(getattr(lm, "kwargs", None))


def remember(lm: Any, request: Any) -> None:
    """Learn the LM's secrets (once per LM) and those the call itself was given."""
    if lm is not None:
        remember_client(lm, credentials)
    found = _secrets(request)
    if found:
        remember_all(found)
