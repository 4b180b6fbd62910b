"""AWS Bedrock: the credentials a botocore client signs with, so that no exported string carries them.

A client's request signer holds its AWS keys (``Credentials`` or, refreshed from a
provider, ``RefreshableCredentials``, whose public properties may refresh: only the stored
values are read, never a provider called) and, for Bedrock API keys, a bearer token.
Read once per client object. Imports nothing else of this folder.
"""

from __future__ import annotations

from typing import Any

from weave_agent.tracing.secrets import remember_client, url_values

_FIELDS = ("access_key", "secret_key", "token", "_access_key", "_secret_key", "_token")


def _stored(obj: Any) -> dict[str, Any]:
    return vars(obj) if obj is not None and hasattr(obj, "__dict__") else {}


def credentials(client: Any) -> list[Any]:
    """The secret strings ``client`` (a botocore client) holds."""
    signer = _stored(client).get("_request_signer")
    stored = _stored(signer)
    found: list[Any] = []
    creds = _stored(stored.get("_credentials"))
    found += [creds.get(name) for name in _FIELDS]
    token = stored.get("_auth_token")
    if token is not None:
        found.append(_stored(token).get("token"))
    found += url_values(_stored(client).get("_endpoint") and getattr(client.meta, "endpoint_url", None))
    return [v for v in found if isinstance(v, str) and v]


def remember(client: Any) -> None:
    """Learn ``client``'s credentials (once per client object: a dict lookup after that)."""
    remember_client(client, credentials)
