"""Mistral: the credentials a client was given, so that no exported string carries them.

A server may echo them (a 401 quoting the key) into the SDK's exception, and a Mistral key
has no telltale shape (32 letters and digits): ``weave_agent.tracing.secrets`` scrubs every
value remembered here from what the agent exports. The patched methods belong to a
resource (``client.chat``, ``client.fim``, ...) whose ``sdk_configuration`` holds the
client's ``security`` (the key; a callable when the app passed a key provider, which is
never called), its server URL and the HTTP clients the app supplied (their credential
headers). Read once per resource object. Imports nothing else of this folder.
"""

from __future__ import annotations

from typing import Any

from weave_agent.tracing.secrets import header_values, remember_client, url_values


def credentials(resource: Any) -> list[Any]:
    """The secret strings the client behind ``resource`` holds."""
    config = vars(resource).get("sdk_configuration")
    stored = vars(config) if config is not None and hasattr(config, "__dict__") else {}
    found: list[Any] = []
    security = stored.get("security")
    if security is not None and not callable(security) and hasattr(security, "__dict__"):
        found += list(vars(security).values())  # api_key (Mistral, Azure), bearer tokens
    found += url_values(stored.get("server_url"))
    for name in ("client", "async_client"):
        headers = getattr(stored.get(name), "headers", None)  # an httpx client's default headers
        if headers is not None:
            found += header_values(dict(headers.items()))
    return found


def remember(resource: Any) -> None:
    """Learn the credentials of the client behind ``resource`` (once per resource object)."""
    remember_client(resource, credentials)
