"""Export failures as the app's operator should see them: one line per kind, drops counted.

The OpenTelemetry exporters and batch processors log every failed batch and every retry,
often with a traceback: a trace server that is down for an hour fills the app's stderr.
When the agent builds its own pipeline it installs :class:`ExportLogFilter` on those
loggers. Each record is classified into a failure kind (unreachable, timeout, HTTP status,
invalid response, exporter error, ...); the first of each kind becomes one concise
``weave-agent:`` warning naming the endpoint, the rest are dropped (still visible with
``WEAVE_AGENT_DEBUG``). Retries and backoff stay the exporter's own.

:class:`GuardedSpanExporter` is the boundary between the batch processor and the real
exporter: an exporter that raises is contained there (one warning, the batch counts as
failed), the fault-injection switch fires there, and a success after failures is reported
once. :class:`CountingBatchSpanProcessor` is the SDK's processor (``OTEL_BSP_*`` still
apply) that counts the spans it drops because the queue is full, so that the loss is
reported at exit and as a metric instead of vanishing.
"""

from __future__ import annotations

import http
import inspect
import logging
import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from .. import _log, faults
from . import forks

# Where the SDK and the OTLP exporters log per batch. A logger's filter sees only the
# records logged on that very logger (not its children), hence the full names.
FILTERED_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.exporter.otlp.common.http",
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
    "opentelemetry.exporter.otlp.proto.grpc.metric_exporter",
    "opentelemetry.sdk._shared_internal",
    "opentelemetry.sdk.trace.export",
    "opentelemetry.sdk.metrics._internal.export",
)

# Messages that repeat what a failure line already said, or what the exit report says.
_QUIET = ("queue full", "shutdown in progress", "already shutdown", "shutdown called")
_GAVE_UP = "due to timeout, max retries or shutdown"
# What that message means when no transient error came first: the attempt itself used up
# the export timeout (a server that never answers), or Retry-After asked for longer.
_TIMED_OUT = "timeout (no success within OTEL_EXPORTER_OTLP_TIMEOUT)"

_PHRASES = {s.phrase.lower(): s.value for s in http.HTTPStatus}


def classify_exception(exc: BaseException) -> str:
    """The failure kind of an exception raised or reported by an exporter."""
    names = set()
    seen: BaseException | None = exc
    depth = 0
    while seen is not None and depth < 8:  # the cause chain: requests wraps urllib3 wraps socket errors
        names.add(type(seen).__name__)
        seen = seen.__cause__ or seen.__context__
        depth += 1
    text = "%s %s" % (" ".join(sorted(names)), exc)
    low = text.lower()
    if isinstance(exc, faults.InjectedFault):
        return "exporter error (InjectedFault)"
    if "timeout" in low or "timed out" in low:
        return "timeout"
    if any(k in low for k in ("badstatusline", "remotedisconnected", "protocolerror", "connection aborted",
                              "connection reset", "incompleteread", "invalid response")):
        return "invalid or no response (connection dropped or not HTTP)"
    if any(k in low for k in ("refused", "newconnectionerror", "failed to resolve", "name or service",
                              "nameresolution", "unreachable", "no route", "connectionerror")):
        return "unreachable (connection refused or host down)"
    return "exporter error (%s)" % type(exc).__name__


def classify(record: logging.LogRecord) -> str | None:
    """The failure kind of one log record; None for one that adds nothing (dropped)."""
    msg = str(record.msg).lower()
    if any(q in msg for q in _QUIET):
        return None
    if record.exc_info and record.exc_info[1] is not None:
        return classify_exception(record.exc_info[1])
    args = record.args if isinstance(record.args, tuple) else ()
    for arg in args:
        if isinstance(arg, BaseException):
            return classify_exception(arg)
        if type(arg).__name__ == "StatusCode" and hasattr(arg, "name"):  # gRPC
            name = str(arg.name)
            if name == "DEADLINE_EXCEEDED":
                return "timeout"
            if name == "UNAVAILABLE":
                return "unreachable or unavailable (gRPC UNAVAILABLE)"
            return "gRPC status %s" % name
        if isinstance(arg, int) and not isinstance(arg, bool) and 100 <= arg <= 599:
            return "HTTP status %d" % arg
        if isinstance(arg, str) and arg.lower() in _PHRASES:
            return "HTTP status %d" % _PHRASES[arg.lower()]
    if _GAVE_UP in msg:
        return _TIMED_OUT
    return "other: %s" % record.getMessage().splitlines()[0][:200]


def _signal(logger_name: str) -> str:
    return "metric" if "metric" in logger_name else "trace"


class ExportLogFilter(logging.Filter):
    """One concise warning per failure kind and trace server; every other record dropped."""

    def __init__(self, endpoints: dict[str, str]) -> None:
        super().__init__()
        self.endpoints = endpoints  # "trace"/"metric" -> URL
        self.lock = threading.Lock()
        self.reported: set[tuple[str, str]] = set()
        self.last: dict[str, str] = {}  # "trace"/"metric" -> the latest failure kind seen
        self._batch = threading.local()  # the current export on this thread: .kind, .failures

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        try:
            self.observe(record)
        except Exception:
            pass  # a filter that raises would break the app's logging; drop the record
        if _log.debug_enabled():
            _log.debug("(%s) %s", record.name, record.getMessage())
        return False

    def observe(self, record: logging.LogRecord) -> None:
        kind = classify(record)
        if kind is None:
            return
        if kind == _TIMED_OUT and getattr(self._batch, "kind", None):
            return  # the end of a batch whose failure kind was already seen
        self._batch.kind = kind
        self._batch.failures = getattr(self._batch, "failures", 0) + 1
        self.report(_signal(record.name), kind)

    def begin_batch(self) -> None:
        """A new export starts on this thread (the exporter logs on the thread it runs on)."""
        self._batch.kind = None
        self._batch.failures = 0

    def batch_kind(self) -> str:
        """The failure kind this thread's current export logged last ('' if none)."""
        return str(getattr(self._batch, "kind", None) or "")

    def batch_failures(self) -> int:
        """Failed attempts (retries included) this thread's current export logged."""
        return int(getattr(self._batch, "failures", 0))

    def report(self, signal: str, kind: str) -> None:
        self.last[signal] = kind
        endpoint = self.endpoints.get(signal) or self.endpoints.get("trace") or "?"
        server = _server(endpoint)
        with self.lock:
            if (kind, server) in self.reported:
                return
            self.reported.add((kind, server))
        _log.warning("%s export to %s failed: %s (further failures of this kind are not logged)", signal, endpoint, kind)


def _server(endpoint: str) -> str:
    try:
        parts = urlsplit(endpoint)
        return parts.netloc or endpoint
    except ValueError:
        return endpoint


_installed: ExportLogFilter | None = None


def install_log_filter(endpoints: dict[str, str]) -> ExportLogFilter:
    """Put the filter on the exporter and processor loggers (once per process)."""
    global _installed
    if _installed is not None:
        _installed.endpoints.update(endpoints)
        return _installed
    flt = ExportLogFilter(endpoints)
    for name in FILTERED_LOGGERS:
        logging.getLogger(name).addFilter(flt)
    _installed = flt
    return flt


def installed_filter() -> ExportLogFilter | None:
    return _installed


class GuardedSpanExporter(SpanExporter):
    """The agent's boundary around the real span exporter (see the module docstring)."""

    def __init__(self, inner: SpanExporter, endpoint: str) -> None:
        self.inner = inner
        self.endpoint = endpoint
        self.failed_attempts = 0  # since the last success
        # For the exit line: spans the exporter took, spans whose export failed, the batch
        # being exported right now (lost if the exit timeout cuts it off), and why the last
        # failure happened. Written by the batch processor's one worker thread.
        self.delivered = 0
        self.failed = 0
        self.in_flight = 0
        self.last_failure = ""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        flt = _installed
        if flt is not None:
            flt.begin_batch()
        raised = 0
        kind = ""
        self.in_flight = len(spans)
        try:
            if faults.ON:
                faults.fire("exporter")
            result = self.inner.export(spans)
        except Exception as exc:
            raised = 1
            kind = classify_exception(exc)
            if flt is not None:
                flt.report("trace", kind)
            else:
                _log.warn_once("exporter-raised:" + kind, "trace export to %s failed: %s", self.endpoint, kind)
            _log.debug("exporter raised %r", exc)
            result = SpanExportResult.FAILURE
        finally:
            self.in_flight = 0
        failures = raised + (flt.batch_failures() if flt is not None else 0)
        if result is SpanExportResult.SUCCESS:
            self.delivered += len(spans)
        else:
            failures = max(failures, 1)
            self.failed += len(spans)
            self.last_failure = (kind or (flt.batch_kind() if flt is not None else "")
                                 or getattr(self.inner, "last_failure", "") or self.last_failure)
        self.failed_attempts += failures
        if result is SpanExportResult.SUCCESS and self.failed_attempts:
            if _log.once("export-recovered"):
                n = self.failed_attempts
                _log.warning("trace export to %s recovered after %d failed attempt%s", self.endpoint, n,
                             "" if n == 1 else "s")
            self.failed_attempts = 0
        return result

    def shutdown(self, timeout_millis: float | None = None) -> None:
        try:
            if timeout_millis is not None and "timeout_millis" in inspect.signature(self.inner.shutdown).parameters:
                self.inner.shutdown(timeout_millis=timeout_millis)  # type: ignore[call-arg]
            else:
                self.inner.shutdown()
        except Exception:
            _log.debug("exporter shutdown raised")

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        try:
            return bool(self.inner.force_flush(timeout_millis))
        except Exception:
            return False

    def __getattr__(self, name: str) -> Any:
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)  # _endpoint, paths, spans_written, ... of the real exporter


def _points(metrics_data: Any) -> int:
    try:
        return sum(
            len(metric.data.data_points)
            for rm in metrics_data.resource_metrics
            for sm in rm.scope_metrics
            for metric in sm.metrics
        )
    except Exception:
        return 0


class GuardedMetricExporter(MetricExporter):
    """The metric twin of :class:`GuardedSpanExporter`: contains an exporter that raises and
    counts the data points delivered and lost, for the exit line."""

    def __init__(self, inner: MetricExporter, endpoint: str) -> None:
        super().__init__(
            preferred_temporality=getattr(inner, "_preferred_temporality", None),
            preferred_aggregation=getattr(inner, "_preferred_aggregation", None),
        )
        self.inner = inner
        self.endpoint = endpoint
        self.delivered = 0
        self.failed = 0
        self.last_failure = ""

    def export(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        points = _points(metrics_data)
        flt = _installed
        if flt is not None:
            flt.begin_batch()
        try:
            result = self.inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        except Exception as exc:
            kind = classify_exception(exc)
            if flt is not None:
                flt.report("metric", kind)
            self.failed += points
            self.last_failure = kind
            return MetricExportResult.FAILURE
        if result is MetricExportResult.SUCCESS:
            self.delivered += points
        else:
            self.failed += points
            self.last_failure = ((flt.batch_kind() if flt is not None else "")
                                 or getattr(self.inner, "last_failure", "") or self.last_failure)
        return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        try:
            return bool(self.inner.force_flush(timeout_millis=timeout_millis))
        except Exception:
            return False

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        try:
            self.inner.shutdown(timeout_millis=timeout_millis, **kwargs)
        except Exception:
            _log.debug("metric exporter shutdown raised")

    def __getattr__(self, name: str) -> Any:
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)


class CountingBatchSpanProcessor(BatchSpanProcessor):
    """The SDK's batch processor, counting the spans it drops because its queue is full."""

    def __init__(self, exporter: SpanExporter, **kwargs: Any) -> None:
        super().__init__(exporter, **kwargs)
        self.dropped = 0
        self._drop_lock = threading.Lock()
        self._counter: Any = None
        batch = self._batch_processor
        self.max_queue_size = int(getattr(batch, "_max_queue_size", 0))  # OTEL_BSP_MAX_QUEUE_SIZE
        # The SDK's bounded deque: the same object for the processor's life (a fork clears
        # it in place). Read once here, since ``on_end`` runs for every span.
        self._queue: Any = getattr(batch, "_queue", None) if self.max_queue_size else None

    def shutdown(self, timeout_millis: float = 30000) -> None:
        """Export what is queued and stop, holding the caller at most ``timeout_millis``.

        The SDK's ``BatchSpanProcessor.shutdown()`` takes no timeout (30 s); its batch
        processor's does (SDK >= 1.36): it wakes the worker thread, which exports the rest,
        and joins it for at most the timeout. The caller starts no thread, which CPython
        3.12+ forbids once the interpreter is exiting. A worker that is gone (a fork that
        never re-created it) leaves the queue to this thread, bounded by the exporter's
        own timeout.
        """
        if forks.pending:
            forks.settle()
        batch = self._batch_processor
        try:
            worker = getattr(batch, "_worker_thread", None)
            if worker is not None and not worker.is_alive() and not getattr(batch, "_shutdown", True):
                batch.force_flush()
            batch.shutdown(timeout_millis=max(0, int(timeout_millis)))
        except TypeError:  # an SDK whose batch processor takes no timeout
            batch.shutdown()

    def undelivered(self) -> int:
        """Spans that never reached the exporter or failed there (after ``shutdown``)."""
        queue = self._queue
        exporter = getattr(self._batch_processor, "_exporter", None)
        return (
            (len(queue) if queue is not None else 0)
            + int(getattr(exporter, "in_flight", 0))
            + int(getattr(exporter, "failed", 0))
        )

    def worker_threads(self) -> list[threading.Thread]:
        worker = getattr(self._batch_processor, "_worker_thread", None)
        return [worker] if worker is not None else []

    def use_meter(self, meter: Any) -> None:
        """Report drops as the counter ``weave_agent.spans.dropped`` on ``meter`` too."""
        try:
            self._counter = meter.create_counter(
                "weave_agent.spans.dropped", unit="{span}",
                description="Spans dropped by the agent before export (the export queue was full)",
            )
        except Exception:
            self._counter = None

    # A forked child re-initializes the pipeline here, at its first span, and not in the
    # fork (``forks``): the SDK's own after-fork hook of this processor is kept there.
    def on_start(self, span: Any, parent_context: Any = None) -> None:
        if forks.pending:
            forks.settle()

    def force_flush(self, timeout_millis: int | None = None) -> bool:
        if forks.pending:
            forks.settle()
        return super().force_flush(timeout_millis)

    def on_end(self, span: ReadableSpan) -> None:
        if forks.pending:
            forks.settle()
        queue = self._queue
        # The SDK appends to its deque, which silently pushes the oldest span out when
        # full: the same test it makes, made first, so the loss is counted.
        if (
            queue is not None
            and len(queue) >= self.max_queue_size
            and span.context is not None
            and span.context.trace_flags.sampled
            and not getattr(self._batch_processor, "_shutdown", False)
        ):
            with self._drop_lock:
                self.dropped += 1
            counter = self._counter
            if counter is not None:
                try:
                    counter.add(1, {"reason": "queue_full"})
                except Exception:
                    pass
        super().on_end(span)


def report_drops(processor: CountingBatchSpanProcessor | None) -> None:
    """The exit line for spans lost to a full queue (none when nothing was lost)."""
    if processor is None or not processor.dropped:
        return
    _log.warning(
        "%d spans dropped: the export queue was full (OTEL_BSP_MAX_QUEUE_SIZE=%d); "
        "the trace server took them slower than the app made them",
        processor.dropped, processor.max_queue_size,
    )
