"""GenAI metrics in local files: OTLP-JSON ``ExportMetricsServiceRequest`` lines beside the
spans, as the Collector's ``file`` exporter writes them (``local_files`` holds the file
handling, its reserve of free space and the folder's cap). Its own module: the metrics SDK
(about 30 ms of imports) loads only when metrics are on.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData

from .local_files import LineFile
from .otlp_json import hex_ids, on_fork_in_child


def encode_metrics(data: MetricsData) -> dict[str, Any]:
    """Metrics as one OTLP-JSON ``ExportMetricsServiceRequest`` (a dict); exemplars'
    trace and span ids as hex, like the spans'."""
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics as to_proto

    doc = MessageToDict(to_proto(data), use_integers_for_enums=True)
    hex_ids(doc)
    return doc


def _delta_temporality() -> dict[type, Any]:
    """Delta for what adds up (counters, histograms): each line holds what happened since
    the line before, so lines add up across rotated parts, and a forked child, which
    inherits its parent's metric state, never writes its parent's totals again."""
    from opentelemetry.sdk.metrics import (
        Counter,
        Histogram,
        ObservableCounter,
        ObservableGauge,
        ObservableUpDownCounter,
        UpDownCounter,
    )
    from opentelemetry.sdk.metrics.export import AggregationTemporality

    delta, cumulative = AggregationTemporality.DELTA, AggregationTemporality.CUMULATIVE
    return {Counter: delta, Histogram: delta, ObservableCounter: delta,
            UpDownCounter: cumulative, ObservableUpDownCounter: cumulative, ObservableGauge: cumulative}


class OTLPJsonMetricExporter(MetricExporter):
    """Appends each collection that holds data points as one OTLP-JSON line to
    ``<directory>/metrics-<time>-<pid>.jsonl``, beside the process's traces file."""

    def __init__(self, directory: str, max_bytes: int = 64 * 1024 * 1024, folder_max_bytes: int | None = None,
                 min_free_bytes: int | None = None) -> None:
        super().__init__(preferred_temporality=_delta_temporality())
        self.directory = directory
        self._file = LineFile(directory, "metrics", max_bytes, folder_max_bytes, min_free_bytes)
        encode_metrics(MetricsData(resource_metrics=[]))  # imported now: see otlp_json.OTLPJsonFileExporter
        on_fork_in_child(self)

    @property
    def paths(self) -> list[str]:
        return self._file.paths

    @property
    def last_failure(self) -> str:
        """Why the last batch was not written, for the exit line (the guard reads it)."""
        return self._file.last_failure

    def _forked(self) -> None:
        self._file.forked()

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        if not _has_points(metrics_data):
            return MetricExportResult.SUCCESS  # nothing measured: no line, and no file
        if not self._file.write(encode_metrics(metrics_data)):
            return MetricExportResult.FAILURE  # no room in the folder (said once by ``local_files``)
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass


def _has_points(data: MetricsData) -> bool:
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if getattr(metric.data, "data_points", None):
                    return True
    return False
