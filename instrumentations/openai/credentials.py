"""OpenAI: the credentials a client was given, so that no exported string carries them.

A server may echo them (a 401 quoting the key, a 404 quoting the URL with its query
string) into the SDK's exception; ``weave_agent.tracing.secrets`` scrubs every value
remembered here from what the agent exports. Read once per client object, from what the
client stores (``vars``): never a property, never the Azure AD token provider (which
would fetch a token). Imports nothing else of this folder.
"""

from __future__ import annotations

from typing import Any

from weave_agent.tracing.secrets import header_values, query_values, remember_client, url_values

# ``OpenAI``/``AsyncOpenAI`` (1.x-3.x) and the Azure clients; organization and project ids
# are sent as headers and treated as secrets by the serializer too.
_FIELDS = ("api_key", "admin_api_key", "webhook_secret", "organization", "project", "_azure_ad_token")


def credentials(client: Any) -> list[Any]:
    """The secret strings ``client`` holds: keys and tokens, the credential headers of
    ``default_headers``, the values of ``default_query``, a password or query in its URL."""
    stored = vars(client)
    found = [stored.get(name) for name in _FIELDS]
    found += header_values(stored.get("_custom_headers"))
    found += query_values(stored.get("_custom_query"))
    found += url_values(stored.get("_base_url") or stored.get("_configured_base_url"))
    return found


def remember(client: Any) -> None:
    """Learn ``client``'s credentials (once per client object: a dict lookup after that)."""
    remember_client(client, credentials)
