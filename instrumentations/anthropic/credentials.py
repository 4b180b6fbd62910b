"""Anthropic: the credentials a client was given, so that no exported string carries them.

A server may echo them (a 401 quoting the key, a 404 quoting the URL with its query
string) into the SDK's exception; ``weave_agent.tracing.secrets`` scrubs every value
remembered here from what the agent exports. Read once per client object, from what the
client stores (``vars``), never a property: ``Anthropic`` (``api_key``, ``auth_token``),
``AnthropicBedrock`` (the AWS keys and session token), ``AnthropicVertex`` (the access
token, and the one its Google credentials hold). Imports nothing else of this folder.
"""

from __future__ import annotations

from typing import Any

from weave_agent.tracing.secrets import header_values, query_values, remember_client, url_values

_FIELDS = ("api_key", "auth_token", "webhook_key", "aws_secret_key", "aws_access_key", "aws_session_token",
           "access_token")


def credentials(client: Any) -> list[Any]:
    """The secret strings ``client`` holds: keys and tokens, the credential headers of
    ``default_headers``, the values of ``default_query``, a password or query in its URL."""
    stored = vars(client)
    found = [stored.get(name) for name in _FIELDS]
    found += header_values(stored.get("_custom_headers"))
    found += header_values(stored.get("_credential_headers"))
    found += query_values(stored.get("_custom_query"))
    found += url_values(stored.get("_base_url"))
    google = stored.get("credentials")  # Vertex: google.auth credentials, their current token
    if google is not None and hasattr(google, "__dict__"):
        found.append(vars(google).get("token"))
    return found


def remember(client: Any) -> None:
    """Learn ``client``'s credentials (once per client object: a dict lookup after that)."""
    remember_client(client, credentials)
