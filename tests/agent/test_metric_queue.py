"""Metric points are queued on the call path (one entry per call) and recorded when a
reader collects: none lost, none late for a collection, and the queue never grows past
its bound."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from weave_agent.export import metric_queue, telemetry


def _points(reader: InMemoryMetricReader, name: str) -> list[Any]:
    data = reader.get_metrics_data()
    found = []
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == name:
                    found.extend(metric.data.data_points)
    return found


@pytest.fixture
def meter() -> Any:
    metric_queue.drain()  # points other tests left for their own providers
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    instruments = telemetry.Instruments(provider.get_meter("test"), enabled=True)
    yield instruments, reader
    metric_queue.drain()
    provider.shutdown()


def _call(instruments: Any, seconds: float, usage: Any = None) -> None:
    instruments.record_call("inference", seconds, {"gen_ai.operation.name": "chat"}, usage)


def test_points_wait_in_the_queue_and_every_collection_sees_them(meter: Any) -> None:
    instruments, reader = meter
    for i in range(10):
        _call(instruments, 0.5, (i, 1, None, None, None))
    assert metric_queue.pending() == 10  # one entry per call; nothing reached the SDK on the call path
    (duration,) = _points(reader, "gen_ai.client.inference.duration")
    assert duration.count == 10 and duration.sum == pytest.approx(5.0)
    (tokens,) = _points(reader, "gen_ai.client.inference.operation.input_tokens")
    assert tokens.count == 10 and tokens.sum == 45
    (used,) = _points(reader, "gen_ai.client.inference.usage.input_tokens")
    assert used.value == 45  # the calls' counter increments, summed into one add per series
    assert metric_queue.pending() == 0
    assert not _points(reader, "weave_agent.metrics.collect_hook")  # the hook observes nothing


def test_the_queue_is_bounded_and_loses_nothing(meter: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    instruments, reader = meter
    monkeypatch.setattr(metric_queue, "MAX_PENDING", 8)
    for _ in range(50):
        _call(instruments, 1.0)
        assert metric_queue.pending() <= 8
    (duration,) = _points(reader, "gen_ai.client.inference.duration")
    assert duration.count == 50


def test_a_bad_point_does_not_cost_the_others(meter: Any) -> None:
    instruments, reader = meter
    _call(instruments, 1.0)
    metric_queue._pending.append((object(), 1.0, None))  # not a histogram: its record() raises
    _call(instruments, 2.0)
    (duration,) = _points(reader, "gen_ai.client.inference.duration")
    assert duration.count == 2 and duration.sum == 3.0


def test_metrics_off_records_nothing_and_queues_nothing() -> None:
    from opentelemetry import metrics

    instruments = telemetry.Instruments(metrics.NoOpMeter("x"), enabled=False)
    _call(instruments, 1.0)
    instruments.record_stream({}, 0.1, None)
    assert metric_queue.pending() == 0


def test_a_forked_child_does_not_record_its_parents_points(meter: Any) -> None:
    import os

    instruments, _reader = meter
    _call(instruments, 1.0)
    pid = os.fork()
    if pid == 0:  # the child: exit status 0 only if the queue came over empty
        os._exit(0 if metric_queue.pending() == 0 else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert metric_queue.pending() == 1  # the parent's point is still the parent's
