"""MCP: the credentials a streamable HTTP client holds, so that no exported string carries them.

An MCP client keeps no key of its own; over streamable HTTP it sends what its
``httpx2.AsyncClient`` carries (an ``Authorization`` header the app configured, a URL
with a password or a token in its query). A server may echo either into the JSON-RPC
error the client raises, which becomes a span's status description: every value
remembered here is scrubbed from what the agent exports. Read once per HTTP client
object, when the transport starts writing. Imports nothing else of this folder.
"""

from __future__ import annotations

from typing import Any

from weave_agent.tracing.secrets import header_values, remember_client, url_values


def credentials(http_client: Any) -> list[Any]:
    """The secret strings the ``httpx2.AsyncClient`` ``http_client`` holds."""
    found: list[Any] = []
    headers = getattr(http_client, "headers", None)
    if headers is not None:
        found += header_values(dict(headers.items()))
    found += url_values(getattr(http_client, "base_url", None))
    return found


def remember(http_client: Any, url: Any = None) -> None:
    """Learn ``http_client``'s credentials (once per client object), and the endpoint URL's."""
    remember_client(http_client, lambda c: credentials(c) + url_values(url))
