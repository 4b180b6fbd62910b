"""LlamaIndex: its instrumentation dispatcher's spans as OpenTelemetry spans."""

from .llamaindex import llamaindex_patcher

__all__ = ["llamaindex_patcher"]
