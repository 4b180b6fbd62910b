"""LangChain: the credentials a model was given, so that no exported string carries them.

LangChain's models keep their keys as secrets (``SecretStr`` fields) and serialize each as
a marker naming the environment variable it is read from (``{"lc": 1, "type": "secret",
"id": ["MISTRAL_API_KEY"]}``); the model objects themselves never reach the callbacks. A
model that calls an instrumented SDK has its client's credentials learned by that SDK's
instrumentation; for the others (``langchain-mistralai`` calls the API over httpx itself,
and a server may echo its key into the error the run ends with) the values of those
variables are learned when the model's run starts, and ``weave_agent.tracing.secrets``
scrubs them from what the agent exports. A key passed to the model as an argument, not
through its variable, is not known here. Imports nothing else of this folder.
"""

from __future__ import annotations

import os
from typing import Any

from weave_agent.tracing.secrets import remember_all


def credentials(serialized: Any) -> list[Any]:
    """The values of the environment variables the serialized model names as its secrets."""
    kwargs = serialized.get("kwargs") if isinstance(serialized, dict) else None
    if not isinstance(kwargs, dict):
        return []
    found = []
    for value in kwargs.values():
        if isinstance(value, dict) and value.get("type") == "secret":
            ids = value.get("id")
            if isinstance(ids, list) and ids and isinstance(ids[0], str):
                found.append(os.environ.get(ids[0]))
    return found


def remember(serialized: Any) -> None:
    """Learn the credentials of the model ``serialized`` describes (a model's run start)."""
    remember_all(credentials(serialized))
