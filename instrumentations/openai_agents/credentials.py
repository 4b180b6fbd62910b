"""OpenAI Agents SDK: the key its own trace exporter holds, so that no exported string carries it.

The SDK uploads its traces with a key of its own (``set_tracing_export_api_key``, else the
OpenAI key): an error the run ends with may quote it. The model clients' keys are learned by
the OpenAI instrumentation. Read from what the exporter stores (``_api_key``), never through
its ``api_key`` property (which falls back to the environment on every call). Imports nothing
else of this folder.
"""

from __future__ import annotations

import sys
from typing import Any

from weave_agent.tracing.secrets import remember


def credentials() -> list[Any]:
    """The key the SDK's default trace exporter was given, if it was created already."""
    processors = sys.modules.get("agents.tracing.processors")
    exporter = getattr(processors, "_global_exporter", None) if processors is not None else None
    stored = getattr(exporter, "__dict__", None) or {}
    return [stored.get("_api_key")]


def remember_exporter_key() -> None:
    """Learn the trace exporter's key (a run's start: the app may have set it since)."""
    for value in credentials():
        remember(value)
