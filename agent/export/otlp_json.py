"""OTLP-JSON: spans as the Collector's ``file`` exporter writes them, and the file handling
the metrics (``metrics_file``) share.

One ``ExportTraceServiceRequest`` (or ``ExportMetricsServiceRequest``) per line, in the
OTLP specification's JSON encoding (which is *not* protobuf's default JSON mapping): trace
and span ids as lowercase hex, enums as integers, lowerCamelCase field names. The
Collector's ``otlpjsonfile`` receiver and ``weave-run show`` read these files.

Each process writes its own files (pid in the name), so processes never interleave lines:
``traces-<time>-<pid>.jsonl`` and, beside it, ``metrics-<time>-<pid>.jsonl`` with the same
``<time>`` (the viewer pairs them). A file is rotated when it passes ``max_bytes``
(``...-<pid>.1.jsonl``, ...). Lines are written whole with one ``write`` on a file opened
in append mode.
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


# One stamp per process, shared by its traces and metrics files (and their rotated
# parts): ``weave-run show traces-<time>-<pid>.jsonl`` finds ``metrics-<time>-<pid>.jsonl``
# by name, and a pid reused by a later run (containers) never pairs the wrong files.
_stamps: dict[int, str] = {}


def _process_stamp() -> str:
    pid = os.getpid()
    stamp = _stamps.get(pid)
    if stamp is None:
        stamp = _stamps[pid] = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    return stamp


class LineFile:
    """The appending side of ``<directory>/<kind>-<time>-<pid>.jsonl``: one file per
    process (a forked child starts its own), rotated past ``max_bytes``, each line written
    whole. The file is created by the first line, so a process with nothing to write
    leaves no file."""

    def __init__(self, directory: str, kind: str, max_bytes: int) -> None:
        self.directory = directory
        self.kind = kind
        self.max_bytes = max_bytes
        self.paths: list[str] = []
        self._path: str | None = None
        self._pid = -1
        self._part = 0

    def forked(self) -> None:
        """A forked child lists only its own files."""
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
        suffix = "" if self._part == 0 else ".%d" % self._part
        path = os.path.join(self.directory, "%s-%s-%d%s.jsonl" % (self.kind, _process_stamp(), self._pid, suffix))
        self.paths.append(path)
        return path

    def write(self, doc: dict[str, Any]) -> None:
        data = (json.dumps(doc, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8")
        fd = os.open(self._current_path(), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            view = memoryview(data)
            while view:  # a regular file takes it whole; should a write fall short, the rest follows
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)


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
    """Appends each batch as one OTLP-JSON line to ``<directory>/traces-<time>-<pid>.jsonl``."""

    def __init__(self, directory: str, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.spans_written = 0
        self._file = LineFile(directory, "traces", max_bytes)
        # The encoders are imported here, in the thread that sets the pipeline up, not by
        # the first export on the batch processor's thread: an app that forks while that
        # thread is inside the import leaves the child a module lock no thread will ever
        # release, and the child's own first export would wait on it forever.
        encode_spans([])
        on_fork_in_child(self)

    @property
    def paths(self) -> list[str]:
        return self._file.paths

    def _forked(self) -> None:
        """A forked child counts and lists only its own spans and files (the exit summary)."""
        self.spans_written = 0
        self._file.forked()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not spans:
            return SpanExportResult.SUCCESS
        self._file.write(encode_spans(spans))
        self.spans_written += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
