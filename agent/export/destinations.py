"""Trace servers with their own conventions on top of OTLP.

W&B Weave: OTLP/HTTP protobuf to ``https://trace.wandb.ai/otel/v1/traces`` (a dedicated
deployment: ``<base>/traces/otel/v1/traces``), the API key in the ``wandb-api-key``
header, the project in the resource attributes ``wandb.entity`` and ``wandb.project``
(set by ``telemetry._resource``). The settings check the key and the project at start:
without them the exporter is off, with one message naming the variable.
"""

from __future__ import annotations

from typing import Any

from ..settings import Settings, weave_entity_project

WEAVE_TRACES_URL = "https://trace.wandb.ai/otel/v1/traces"
WEAVE_TRACES_PATH = "/traces/otel/v1/traces"


def weave_traces_url(s: Settings) -> str:
    base = (s.weave_base_url or "").strip()
    return base.rstrip("/") + WEAVE_TRACES_PATH if base else WEAVE_TRACES_URL


def weave_resource_attributes(s: Settings) -> dict[str, str]:
    """``wandb.entity``/``wandb.project`` when spans go to W&B Weave."""
    if s.resolved_exporter() != "weave" or not s.weave_project:
        return {}
    parts = weave_entity_project(s.weave_project)
    if parts is None:
        return {}
    return {"wandb.entity": parts[0], "wandb.project": parts[1]}


def weave_exporter(s: Settings) -> Any:
    """The OTLP/HTTP protobuf exporter to W&B Weave (None without a key)."""
    if not s.wandb_api_key:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    headers = dict(s.headers or {})
    headers["wandb-api-key"] = s.wandb_api_key
    return OTLPSpanExporter(endpoint=weave_traces_url(s), headers=headers)
