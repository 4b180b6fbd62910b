"""GenAI events in local files: OTLP-JSON ``ExportLogsServiceRequest`` lines beside the
spans and metrics, as the Collector's ``file`` exporter writes them (``local_files`` holds
the file handling, its reserve of free space and the folder's cap):
``logs-<time>-<pid>.jsonl``, trace and span ids as hex, the content
of each record in structured form (``kvlistValue``/``arrayValue``). Its own module: the
logs SDK loads only when content goes to events.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk._logs import export as _log_export

from .local_files import LineFile
from .otlp_json import hex_ids, on_fork_in_child

# The exporter base class and result enum were renamed (``LogExporter`` ->
# ``LogRecordExporter``); the older names stay for the older SDKs the agent supports.
_Base: Any = getattr(_log_export, "LogRecordExporter", None) or _log_export.LogExporter
_Result: Any = getattr(_log_export, "LogRecordExportResult", None) or _log_export.LogExportResult


def encode_logs(batch: Sequence[Any]) -> dict[str, Any]:
    """Log records as one OTLP-JSON ``ExportLogsServiceRequest`` (a dict)."""
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs as to_proto

    doc = MessageToDict(to_proto(batch), use_integers_for_enums=True)
    hex_ids(doc)
    return doc


class OTLPJsonLogExporter(_Base):  # type: ignore[misc]
    """Appends each batch of records as one OTLP-JSON line to
    ``<directory>/logs-<time>-<pid>.jsonl``, beside the process's traces file."""

    def __init__(self, directory: str, max_bytes: int = 64 * 1024 * 1024, folder_max_bytes: int | None = None,
                 min_free_bytes: int | None = None) -> None:
        self.directory = directory
        self.records_written = 0
        self._file = LineFile(directory, "logs", max_bytes, folder_max_bytes, min_free_bytes)
        encode_logs([])  # imported now: see otlp_json.OTLPJsonFileExporter
        on_fork_in_child(self)

    @property
    def paths(self) -> list[str]:
        return self._file.paths

    @property
    def last_failure(self) -> str:
        """Why the last batch was not written, for the exit line (the guard reads it)."""
        return self._file.last_failure

    def _forked(self) -> None:
        self.records_written = 0
        self._file.forked()

    def export(self, batch: Sequence[Any], *args: Any, **kwargs: Any) -> Any:
        if not batch:
            return _Result.SUCCESS
        if not self._file.write(encode_logs(batch)):
            return _Result.FAILURE  # no room in the folder (said once by ``local_files``)
        self.records_written += len(batch)
        return _Result.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def shutdown(self, *args: Any, **kwargs: Any) -> None:
        pass
