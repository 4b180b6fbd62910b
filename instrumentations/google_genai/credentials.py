"""Google Gen AI: the credentials a client was given, so that no exported string carries them.

A Gemini API key (``AIza...``, 39 characters) has a shape the serializer does not know, and
the service echoes request details into its errors. The patched methods belong to a
module (``client.models``, ``client.aio.models``) whose ``_api_client`` holds the key
(``api_key``), the headers it sends (``_http_options.headers``: ``x-goog-api-key`` and any
the app added) and, for Vertex AI with a project, the Google credentials whose ``token``
is the bearer token (read as stored: never refreshed here). Read once per API client
object. Imports nothing else of this folder.
"""

from __future__ import annotations

from typing import Any

from weave_agent.tracing.secrets import header_values, remember_client, url_values


def credentials(api_client: Any) -> list[Any]:
    """The secret strings ``api_client`` (a ``BaseApiClient``) holds."""
    stored = vars(api_client)
    found: list[Any] = [stored.get("api_key")]
    options = stored.get("_http_options")
    if options is not None:
        found += header_values(getattr(options, "headers", None))
        found += url_values(getattr(options, "base_url", None))
    creds = stored.get("_credentials")
    if creds is not None:
        found.append(vars(creds).get("token") if hasattr(creds, "__dict__") else None)
    return found


def remember(module: Any) -> None:
    """Learn the credentials of the API client behind ``module`` (once per API client)."""
    api_client = vars(module).get("_api_client") if hasattr(module, "__dict__") else None
    if api_client is not None and hasattr(api_client, "__dict__"):
        remember_client(api_client, credentials)
