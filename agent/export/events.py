"""GenAI events as OpenTelemetry log records (the Logs API), and the logger provider
that carries them.

The conventions' content event, ``gen_ai.client.inference.operation.details``, is a log
record: event name, the operation's request and response attributes, the content in
structured form (maps and lists, not JSON strings), and the trace and span ids of the
call's span. It is made only when content capture asks for events (``EVENT_ONLY``,
``SPAN_AND_EVENT``); the first one sets the logger provider up, so a process that never
captures to events loads nothing of the logs SDK.

Where records go follows the spans: OTLP (``/v1/logs`` over http/protobuf, or grpc) with
the ``otlp`` exporter, ``logs-<time>-<pid>.jsonl`` beside the traces file with ``file``,
stderr with ``console``. W&B Weave documents only its traces endpoint: with the ``weave``
exporter, as with ``none`` or ``OTEL_LOGS_EXPORTER=none``, no record leaves. An app that
registered its own global ``LoggerProvider`` keeps it and receives the records. The exit
flush exports what is queued with the spans and metrics (records still queued when the
exit timeout ends are lost without a count: the exit line counts spans and metric points).
"""

from __future__ import annotations

import os
import sys
import threading
from time import time_ns
from typing import Any

from .. import _log
from . import signal_mask

SCOPE = "weave_agent"


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ready = False
        self.logger: Any = None  # None: records go nowhere
        self.provider: Any = None  # ours, when we made one
        self.exporter: Any = None
        self.accepted: frozenset[str] | None = None  # what ``LogRecord()`` takes here


_state = _State()


def logger() -> Any:
    """The logger events go to (None: they go nowhere); set up on first use."""
    if _state.ready:
        return _state.logger
    with _state.lock:
        if not _state.ready:
            try:
                _state.logger = _setup()
            except Exception:
                _log.error_once("events-setup", "the logs pipeline could not be set up; GenAI events are dropped")
                _state.logger = None
            _state.ready = True
    return _state.logger


def emit(name: str, attributes: dict[str, Any], span: Any = None) -> None:
    """One event record, correlated with ``span`` (its trace and span ids)."""
    target = logger()
    if target is None:
        return
    from opentelemetry import trace
    from opentelemetry._logs import LogRecord

    kwargs: dict[str, Any] = {"timestamp": time_ns(), "attributes": attributes, "event_name": name}
    if span is not None:
        ctx = span.get_span_context()
        kwargs.update(context=trace.set_span_in_context(span), trace_id=ctx.trace_id, span_id=ctx.span_id,
                      trace_flags=ctx.trace_flags)
    accepted = _accepted()
    if "event_name" not in accepted:  # an API before ``event_name``: the name as an attribute
        kwargs["attributes"] = {"event.name": name, **attributes}
    target.emit(LogRecord(**{k: v for k, v in kwargs.items() if k in accepted}))


def _accepted() -> frozenset[str]:
    """The keyword arguments this Logs API's ``LogRecord`` takes (they grew over releases)."""
    accepted = _state.accepted
    if accepted is None:
        import inspect

        from opentelemetry._logs import LogRecord

        accepted = _state.accepted = frozenset(inspect.signature(LogRecord.__init__).parameters)
    return accepted


def use(logger_provider: Any) -> None:
    """Send events to ``logger_provider`` from now on (tests, embedding; None: nowhere)."""
    with _state.lock:
        _state.logger = logger_provider.get_logger(SCOPE) if logger_provider is not None else None
        _state.ready = True


def reset() -> None:
    """Forget the logger (tests): the next event sets it up again."""
    with _state.lock:
        _state.ready = False
        _state.logger = None


def provider() -> Any:
    """The agent's own logger provider, if it made one (the exit flush stops it)."""
    return _state.provider


def _setup() -> Any:
    from opentelemetry import _logs

    from . import telemetry

    s = telemetry.settings()
    current = _logs.get_logger_provider()
    if type(current).__name__ not in ("ProxyLoggerProvider", "NoOpLoggerProvider"):
        _log.debug("events: the app's own LoggerProvider %r receives the GenAI events", current)
        return current.get_logger(SCOPE)
    exporter = build_log_exporter(s)
    if exporter is None:
        _log.debug("events: no log exporter for %s; GenAI events are dropped", s.resolved_exporter())
        return None
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    blocked = signal_mask.block_stop_signals()  # the processor's thread inherits the mask
    try:
        with _deferring_fork_hooks():
            provider = LoggerProvider(resource=telemetry._resource(), shutdown_on_exit=False)
            provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    finally:
        signal_mask.unblock(blocked)
    from .handoff import install_logger_provider

    if not install_logger_provider(provider):  # the app set its own meanwhile: it takes the events
        provider.shutdown()
        return _logs.get_logger_provider().get_logger(SCOPE)
    _state.provider, _state.exporter = provider, exporter
    _log.debug("events: log exporter %s", type(exporter).__name__)
    return provider.get_logger(SCOPE)


def _deferring_fork_hooks() -> Any:
    """Where the pipeline defers its SDK objects' after-fork hooks to a child's first use
    (``forks``), the logger provider's are deferred too, as the other providers'."""
    import contextlib
    import importlib

    try:
        forks = importlib.import_module(__package__ + ".forks")
    except ImportError:
        return contextlib.nullcontext()
    return forks.deferring_fork_hooks()


def build_log_exporter(s: Any) -> Any:
    """The log exporter the settings choose (None: records go nowhere)."""
    if os.environ.get("OTEL_LOGS_EXPORTER", "").strip().lower() == "none":
        return None
    name = s.resolved_exporter()
    if name == "file":
        from .logs_file import OTLPJsonLogExporter

        return OTLPJsonLogExporter(os.path.abspath(s.traces_dir), max_bytes=s.traces_max_bytes,
                                   folder_max_bytes=s.traces_dir_max_bytes, min_free_bytes=s.traces_min_free_bytes)
    if name == "console":
        from opentelemetry.sdk._logs import export as log_export

        console = getattr(log_export, "ConsoleLogRecordExporter", None) or log_export.ConsoleLogExporter
        return console(out=sys.stderr)
    if name != "otlp":
        return None  # weave (no logs endpoint documented), none
    if s.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter

        kwargs: dict[str, Any] = {"headers": s.headers} if s.headers else {}
        if s.endpoint:
            kwargs["endpoint"] = s.endpoint
        return GrpcLogExporter(**kwargs)
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter

    kwargs = {"headers": s.headers} if s.headers else {}
    if s.endpoint:
        kwargs["endpoint"] = s.endpoint.rstrip("/") + "/v1/logs"
    return HttpLogExporter(**kwargs)


def shutdown(timeout_millis: int) -> bool:
    """Export what is queued and stop our logger provider (the exit flush); True when it
    finished in time."""
    provider = _state.provider
    if provider is None:
        return True
    ok = True
    try:
        ok = bool(provider.force_flush(timeout_millis))
    except Exception:
        ok = False
    try:
        provider.shutdown()
    except Exception as exc:
        _log.debug("logger provider shutdown: %s", exc)
    return ok
