"""Groq: the credentials a client was given, so that no exported string carries them.

A server may echo them (a 401 quoting the key, a 404 quoting the URL with its query
string) into the SDK's exception; ``weave_agent.tracing.secrets`` scrubs every value
remembered here from what the agent exports. Read once per client object, from what the
client stores (``vars``), never a property. Imports nothing else of this folder.
"""

from __future__ import annotations

from typing import Any

from weave_agent.tracing.secrets import header_values, query_values, remember_client, url_values


def credentials(client: Any) -> list[Any]:
    """The secret strings ``client`` (``Groq``/``AsyncGroq``) holds: its API key, the
    credential headers of ``default_headers`` (and ``GROQ_CUSTOM_HEADERS``, merged into
    them), the values of ``default_query``, a password or query in its URL."""
    stored = vars(client)
    found = [stored.get("api_key")]
    found += header_values(stored.get("_custom_headers"))
    found += query_values(stored.get("_custom_query"))
    found += url_values(stored.get("_base_url"))
    return found


def remember(client: Any) -> None:
    """Learn ``client``'s credentials (once per client object: a dict lookup after that)."""
    remember_client(client, credentials)
