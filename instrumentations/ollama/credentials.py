"""Ollama: the credentials a client was given, so that no exported string carries them.

An Ollama client keeps no key of its own: it builds an httpx client whose default headers
carry ``Authorization: Bearer $OLLAMA_API_KEY`` (ollama.com's hosted models) or whatever
headers the app passed, and whose base URL may hold a password (``https://user:pw@host``).
A server may echo either into the ``ResponseError`` the SDK raises; every value
remembered here is scrubbed from what the agent exports. Read once per client object.
Imports nothing else of this folder.
"""

from __future__ import annotations

from typing import Any

from weave_agent.tracing.secrets import header_values, remember_client, url_values


def credentials(client: Any) -> list[Any]:
    """The secret strings the ``ollama.Client``/``AsyncClient`` ``client`` holds."""
    http = vars(client).get("_client")  # the httpx client (the attribute, not ollama._client)
    if http is None:
        return []
    found: list[Any] = []
    headers = getattr(http, "headers", None)
    if headers is not None:
        found += header_values(dict(headers.items()))
    found += url_values(getattr(http, "base_url", None))
    return found


def remember(client: Any) -> None:
    """Learn ``client``'s credentials (once per client object)."""
    remember_client(client, credentials)
