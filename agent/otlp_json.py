"""OTLP-JSON: spans as the Collector's ``file`` exporter writes them.

One ``ExportTraceServiceRequest`` per line, in the OTLP specification's JSON encoding
(which is *not* protobuf's default JSON mapping): trace and span ids as lowercase hex,
enums as integers, lowerCamelCase field names. The Collector's ``otlpjsonfile`` receiver
and ``weave-run show`` read these files.

Each process writes its own file (pid in the name), so processes never interleave lines;
a file is rotated when it passes ``max_bytes``. Lines are written whole with one
``write`` on a file opened in append mode.
"""

from __future__ import annotations

import base64
import json
import os
import time
import weakref
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def _hex_ids(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            else:
                _hex_ids(value)
    elif isinstance(node, list):
        for item in node:
            _hex_ids(item)


def encode_spans(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """Spans as one OTLP-JSON ``ExportTraceServiceRequest`` (a dict)."""
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as to_proto

    doc = MessageToDict(to_proto(spans), use_integers_for_enums=True)
    _hex_ids(doc)
    return doc


def decode_line(line: str) -> dict[str, Any]:
    """Inverse of one line, for readers; raises ValueError on malformed input."""
    doc = json.loads(line)
    if not isinstance(doc, dict) or "resourceSpans" not in doc:
        raise ValueError("not an OTLP-JSON ExportTraceServiceRequest")
    return doc


class OTLPJsonFileExporter(SpanExporter):
    """Appends each batch as one OTLP-JSON line to ``<directory>/traces-<time>-<pid>.jsonl``."""

    def __init__(self, directory: str, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.spans_written = 0
        self._path: str | None = None
        self._pid = -1
        self._part = 0
        self.paths: list[str] = []
        # The encoders are imported here, in the thread that sets the pipeline up, not by
        # the first export on the batch processor's thread: an app that forks while that
        # thread is inside the import leaves the child a module lock no thread will ever
        # release, and the child's own first export would wait on it forever.
        encode_spans([])
        if hasattr(os, "register_at_fork"):
            ref = weakref.ref(self)

            def after_fork_in_child() -> None:
                exporter = ref()
                if exporter is not None:
                    exporter._forked()

            os.register_at_fork(after_in_child=after_fork_in_child)

    def _forked(self) -> None:
        """A forked child counts and lists only its own spans and files (the exit summary)."""
        self.spans_written = 0
        self.paths = []
        self._path = None

    def _current_path(self) -> str:
        pid = os.getpid()
        if self._path is None or pid != self._pid:
            # A forked child must not append to its parent's file.
            self._pid, self._part = pid, 0
            self._path = self._new_path()
        elif os.path.exists(self._path) and os.path.getsize(self._path) >= self.max_bytes:
            self._part += 1
            self._path = self._new_path()
        return self._path

    def _new_path(self) -> str:
        os.makedirs(self.directory, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        suffix = "" if self._part == 0 else ".%d" % self._part
        path = os.path.join(self.directory, "traces-%s-%d%s.jsonl" % (stamp, self._pid, suffix))
        self.paths.append(path)
        return path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not spans:
            return SpanExportResult.SUCCESS
        line = json.dumps(encode_spans(spans), separators=(",", ":"), ensure_ascii=False) + "\n"
        data = line.encode("utf-8")
        fd = os.open(self._current_path(), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            view = memoryview(data)
            while view:  # a regular file takes it whole; should a write fall short, the rest follows
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        self.spans_written += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
