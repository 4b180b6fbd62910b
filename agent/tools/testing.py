"""pytest plugin for integration authors: ``pytest -p weave_agent.testing``.

Fixtures:

* ``spans``: an in-memory recorder of every span (and GenAI metric and event) the agent
  makes in the test: ``spans.finished()``, ``spans.named(...)``, ``spans.by_operation("chat")``,
  ``spans.tree()`` (``(span, depth)`` pairs, parents first), ``spans.metric_points(name)``,
  ``spans.logs(event_name)`` (the GenAI events: OpenTelemetry log records).
* ``instrumentation``: ``instrumentation("openai")`` patches one named instrumentation
  for this test and undoes it afterwards.
* ``vcr_config``: filters credentials (``authorization``, ``api-key``, ``x-api-key``,
  ``openai-organization``, cookies...) from recorded requests and responses.
* ``connections``: every address a socket of the test's process connected to during the
  test, for the checklist's "no request leaves for the network" (a vendor SDK that
  fetches model metadata, telemetry or a price table on its own shows up here, whatever
  HTTP client or raw socket it uses).

And a function: ``load_module(name, path)`` imports a helper that sits beside a test
file (a fake server, the scenarios, a record script) once per process under ``name``: test
folders are not packages, and every vendor folder has a ``scenarios.py`` of its own.

Option ``--trace-server URL`` also sends the tests' spans to a real OTLP/HTTP endpoint.
A test fails when the agent logged an error during it (its safety boundary caught one
of its own bugs).

Every span a test records through ``spans`` is checked against the GenAI semantic
conventions when the test ends (``weave_agent.tools.conventions_check``: the message,
system-instruction and tool-definition schemas, attribute types, the span's conditions),
and the test fails on the first violation, naming the span, the attribute and the JSON
path. A test that records odd spans on purpose (a user's own broken attribute, content
cut by the size cap) opts out with ``@pytest.mark.conventions_unchecked``. Option
``--spans-dump PATH`` appends every checked span (test id, name, attributes) to PATH as
JSON lines, for checking them with other tools (``bench/semconv_schemas.py`` runs the
conventions' own JSON schemas over them).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from .. import _log
from ..export import telemetry
from . import conventions_check

FILTERED_HEADERS = (
    "authorization",
    "api-key",
    "x-api-key",
    "openai-organization",
    "openai-project",
    "cookie",
    "set-cookie",
    "x-goog-api-key",
    "x-amz-security-token",
    "wandb-api-key",
)


def load_module(name: str, path: str | os.PathLike[str]) -> ModuleType:
    """The module in the file ``path``, imported as ``name`` the first time and taken from
    ``sys.modules`` after that (a fake server's state and a scenario's constants are then
    the same objects for every test file that loads them)."""
    import importlib.util
    import sys

    module = sys.modules.get(name)
    if module is not None:
        return module
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError("cannot load %s from %s" % (name, path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]  # a broken helper is not half-imported for the next test file
        raise
    return module


class SpanRecorder:
    """The spans and metrics the agent produced during one test."""

    def __init__(self, extra_exporter: Any = None) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        if extra_exporter is not None:
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            self.provider.add_span_processor(BatchSpanProcessor(extra_exporter))
        self.metric_reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.metric_reader])
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs import export as log_export

        memory = getattr(log_export, "InMemoryLogRecordExporter", None) or log_export.InMemoryLogExporter
        self.log_exporter = memory()
        self.logger_provider = LoggerProvider(shutdown_on_exit=False)
        self.logger_provider.add_log_record_processor(log_export.SimpleLogRecordProcessor(self.log_exporter))

    def logs(self, event_name: str | None = None) -> list[Any]:
        """The log records the agent emitted (its GenAI events), oldest first, or those of
        one event name: each with ``event_name``, ``attributes``, ``trace_id``, ``span_id``."""
        records = [getattr(r, "log_record", r) for r in self.log_exporter.get_finished_logs()]
        if event_name is None:
            return records
        return [r for r in records if _event_name(r) == event_name]

    def finished(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.finished() if s.name == name]

    def by_operation(self, operation: str) -> list[ReadableSpan]:
        return [s for s in self.finished() if (s.attributes or {}).get("gen_ai.operation.name") == operation]

    def one(self, name: str | None = None) -> ReadableSpan:
        found = self.finished() if name is None else self.named(name)
        assert len(found) == 1, "expected exactly one span%s, got %s" % (
            "" if name is None else " named %r" % name,
            [s.name for s in self.finished()],
        )
        return found[0]

    def tree(self) -> list[tuple[ReadableSpan, int]]:
        """Every span with its depth, depth-first, children in start order."""
        spans = sorted(self.finished(), key=lambda s: s.start_time or 0)
        ids = {s.context.span_id for s in spans}
        children: dict[int | None, list[ReadableSpan]] = {}
        for s in spans:
            parent = s.parent.span_id if s.parent is not None and s.parent.span_id in ids else None
            children.setdefault(parent, []).append(s)
        out: list[tuple[ReadableSpan, int]] = []

        def visit(parent: int | None, depth: int) -> None:
            for s in children.get(parent, []):
                out.append((s, depth))
                visit(s.context.span_id, depth + 1)

        visit(None, 0)
        return out

    def shape(self) -> list[tuple[str, int]]:
        """``tree()`` as ``(name, depth)`` pairs, for exact assertions."""
        return [(s.name, d) for s, d in self.tree()]

    def metric_points(self, name: str) -> list[Any]:
        data = self.metric_reader.get_metrics_data()
        points: list[Any] = []
        if data is None:
            return points
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        points.extend(metric.data.data_points)
        return points

    def clear(self) -> None:
        self.exporter.clear()
        self.log_exporter.clear()


def _event_name(record: Any) -> Any:
    return getattr(record, "event_name", None) or (record.attributes or {}).get("event.name")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("weave-agent")
    group.addoption(
        "--trace-server",
        action="store",
        default=None,
        metavar="URL",
        help="also send the tests' spans to this OTLP/HTTP endpoint (e.g. http://localhost:6006)",
    )
    group.addoption(
        "--spans-dump",
        action="store",
        default=None,
        metavar="PATH",
        help="append every span the spans fixture checked (test id, name, attributes) to PATH as JSON lines",
    )


def _drop_headers(headers: Any) -> None:
    for key in list(headers):
        if key.lower() in FILTERED_HEADERS:
            del headers[key]


def _filter_response(response: dict[str, Any]) -> dict[str, Any]:
    _drop_headers(response.get("headers", {}))
    return response


class _ErrorCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _dump_spans(path: str, test: str, spans: list[ReadableSpan]) -> None:
    import json

    with open(path, "a", encoding="utf-8") as f:
        for span in spans:
            attributes = {k: list(v) if isinstance(v, tuple) else v for k, v in (span.attributes or {}).items()}
            f.write(json.dumps({"test": test, "name": span.name, "attributes": attributes}, ensure_ascii=False))
            f.write("\n")


def _check_conventions(request: pytest.FixtureRequest, spans: list[ReadableSpan]) -> None:
    """Fail the test on the first span that breaks the GenAI conventions (unless marked)."""
    if request.node.get_closest_marker("conventions_unchecked"):
        return
    dump = request.config.getoption("--spans-dump", default=None)
    if dump:
        _dump_spans(dump, request.node.nodeid, spans)
    violation = conventions_check.check_spans(spans)
    if violation is not None:
        pytest.fail("a span breaks the GenAI semantic conventions: %s" % violation, pytrace=False)


class _Fixtures:
    """The fixtures, registered as their own plugin in ``pytest_configure``: with
    ``-p weave_agent.testing`` this module is registered before entry-point plugins such as
    pytest-recording, whose own (empty) ``vcr_config`` would otherwise win."""

    @pytest.fixture
    def spans(self, request: pytest.FixtureRequest) -> Iterator[SpanRecorder]:
        extra = None
        url = request.config.getoption("--trace-server", default=None)
        if url:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            extra = OTLPSpanExporter(endpoint=url.rstrip("/") + "/v1/traces")
        recorder = SpanRecorder(extra)
        telemetry.use_providers(recorder.provider, recorder.meter_provider, recorder.logger_provider)
        try:
            yield recorder
        finally:
            recorder.provider.shutdown()
            recorder.logger_provider.shutdown()
            telemetry.reset()
        _check_conventions(request, recorder.finished())


    @pytest.fixture
    def instrumentation(self, spans: SpanRecorder) -> Iterator[Callable[[str], None]]:
        """``instrumentation("openai")``: patch that one instrumentation for this test."""
        from ..hook.arming import patch, unpatch

        names: list[str] = []

        def enable(name: str) -> None:
            patch(**{name: True})
            names.append(name)

        try:
            yield enable
        finally:
            for name in names:
                unpatch(name)


    @pytest.fixture(scope="module")
    def vcr_config(self) -> dict[str, Any]:
        return {
            "filter_headers": list(FILTERED_HEADERS),
            "before_record_response": _filter_response,
            "decode_compressed_response": True,
            "record_mode": "none",
            "match_on": ["method", "scheme", "host", "port", "path", "query"],
        }


    @pytest.fixture
    def connections(self, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
        """Every address a socket of this process connects to during the test."""
        import socket

        seen: list[Any] = []
        real = socket.socket.connect

        def connect(sock: socket.socket, address: Any) -> Any:
            seen.append(address)
            return real(sock, address)

        monkeypatch.setattr(socket.socket, "connect", connect)
        return seen

    @pytest.fixture(autouse=True)
    def _weave_agent_no_errors(self, request: pytest.FixtureRequest) -> Iterator[None]:
        """Fail the test if the agent logged an error (a bug caught at its boundary)."""
        _log._seen.clear()
        collector = _ErrorCollector()
        logger = logging.getLogger(_log.LOGGER_NAME)
        logger.addHandler(collector)
        try:
            yield
        finally:
            logger.removeHandler(collector)
        if collector.records and not request.node.get_closest_marker("agent_errors_expected"):
            messages = "; ".join(r.getMessage() for r in collector.records)
            pytest.fail("weave-agent logged errors during the test: " + messages, pytrace=False)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "agent_errors_expected: the test provokes errors inside the agent on purpose")
    config.addinivalue_line(
        "markers", "conventions_unchecked: the test records spans that break the GenAI conventions on purpose"
    )
    config.pluginmanager.register(_Fixtures(), "weave_agent.testing.fixtures")
