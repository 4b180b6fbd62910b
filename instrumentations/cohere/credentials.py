"""Cohere: the credentials a client was given, so that no exported string carries them.

A server may echo them (a 401 quoting the key) into the SDK's exception; a Cohere key has
no telltale shape (40 letters and digits): ``weave_agent.tracing.secrets`` scrubs every
value remembered here from what the agent exports. The patched methods belong to a
client (``ClientV2``, ``Client``) or to ``Client().v2`` (a ``V2Client`` whose raw client
holds the wrapper); either way the ``ClientWrapper`` stores the key (``_token``; a
callable when the app passed a key provider, which is never called), the custom headers
and the base URL. Read once per client object. Imports nothing else of this folder.
"""

from __future__ import annotations

from typing import Any

from weave_agent.tracing.secrets import header_values, remember_client, url_values


def _wrapper(client: Any) -> Any:
    stored = vars(client) if hasattr(client, "__dict__") else {}
    wrapper = stored.get("_client_wrapper")
    if wrapper is None:
        wrapper = getattr(stored.get("_raw_client"), "_client_wrapper", None)
    return wrapper


def credentials(client: Any) -> list[Any]:
    """The secret strings the client behind ``client`` holds."""
    wrapper = _wrapper(client)
    stored = vars(wrapper) if wrapper is not None and hasattr(wrapper, "__dict__") else {}
    token = stored.get("_token")
    found: list[Any] = [token] if isinstance(token, str) else []
    found += header_values(stored.get("_headers"))
    found += url_values(stored.get("_base_url"))
    return found


def remember(client: Any) -> None:
    """Learn the credentials of ``client`` (once per client object)."""
    remember_client(client, credentials)
