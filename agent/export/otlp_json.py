"""OTLP-JSON: spans as the Collector's ``file`` exporter writes them, and the file handling
the metrics (``metrics_file``) share.

One ``ExportTraceServiceRequest`` (or ``ExportMetricsServiceRequest``) per line, in the
OTLP specification's JSON encoding (which is *not* protobuf's default JSON mapping): trace
and span ids as lowercase hex, enums as integers, lowerCamelCase field names. The
Collector's ``otlpjsonfile`` receiver and ``weave-run show`` read these files.

Each process writes its own files (pid in the name), so processes never interleave lines:
``traces-<time>-<pid>.jsonl`` and, beside it, ``metrics-<time>-<pid>.jsonl`` with the same
``<time>`` (the viewer pairs them). A file is rotated when it passes ``max_bytes``
(``...-<pid>.1.jsonl``, ...). ``local_files`` writes them: each line whole or not at all,
never into the reserve of free space the app's own writes need, the folder under its cap.
"""

from __future__ import annotations

import base64
import json
import os
import weakref
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from .local_files import LineFile

__all__ = ["LineFile", "OTLPJsonFileExporter", "decode_line", "encode_spans", "hex_ids", "on_fork_in_child"]

_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def hex_ids(node: Any) -> None:
    """Ids to lowercase hex, as the OTLP JSON encoding has them (protobuf's mapping gives base64)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            else:
                hex_ids(value)
    elif isinstance(node, list):
        for item in node:
            hex_ids(item)


def encode_spans(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """Spans as one OTLP-JSON ``ExportTraceServiceRequest`` (a dict)."""
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as to_proto

    doc = MessageToDict(to_proto(spans), use_integers_for_enums=True)
    hex_ids(doc)
    return doc


def decode_line(line: str) -> dict[str, Any]:
    """Inverse of one line, for readers; raises ValueError on malformed input."""
    doc = json.loads(line)
    if not isinstance(doc, dict) or "resourceSpans" not in doc:
        raise ValueError("not an OTLP-JSON ExportTraceServiceRequest")
    return doc


def on_fork_in_child(owner: Any) -> None:
    """Call ``owner._forked()`` in a forked child for as long as ``owner`` lives."""
    if hasattr(os, "register_at_fork"):
        ref = weakref.ref(owner)

        def after_fork_in_child() -> None:
            exporter = ref()
            if exporter is not None:
                exporter._forked()

        os.register_at_fork(after_in_child=after_fork_in_child)


class OTLPJsonFileExporter(SpanExporter):
    """Appends each batch as one OTLP-JSON line to ``<directory>/traces-<time>-<pid>.jsonl``.
    A batch the folder has no room for (``local_files``) is not written: the export fails,
    and the exit line counts its spans as not delivered."""

    def __init__(self, directory: str, max_bytes: int = 64 * 1024 * 1024, folder_max_bytes: int | None = None,
                 min_free_bytes: int | None = None) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.spans_written = 0
        self._file = LineFile(directory, "traces", max_bytes, folder_max_bytes, min_free_bytes)
        # The encoders are imported here, in the thread that sets the pipeline up, not by
        # the first export on the batch processor's thread: an app that forks while that
        # thread is inside the import leaves the child a module lock no thread will ever
        # release, and the child's own first export would wait on it forever.
        encode_spans([])
        on_fork_in_child(self)

    @property
    def paths(self) -> list[str]:
        return self._file.paths

    @property
    def last_failure(self) -> str:
        """Why the last batch was not written, for the exit line (the guard reads it)."""
        return self._file.last_failure

    def _forked(self) -> None:
        """A forked child counts and lists only its own spans and files (the exit summary)."""
        self.spans_written = 0
        self._file.forked()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not spans:
            return SpanExportResult.SUCCESS
        if not self._file.write(encode_spans(spans)):
            return SpanExportResult.FAILURE
        self.spans_written += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
