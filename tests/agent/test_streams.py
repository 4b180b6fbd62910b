"""Streams: every way a stream ends gives exactly one ended span."""

from __future__ import annotations

import asyncio
import gc
import json
import threading

import pytest
from opentelemetry import trace
from opentelemetry.trace import StatusCode

from weave_agent import op
from weave_agent.tracing.streams import Accumulator, open_count


class SDKStream:
    """Shaped like a vendor SDK stream: an iterator and a context manager, with extras."""

    def __init__(self, items, fail_at=None):
        self._it = iter(items)
        self.items = items
        self.fail_at = fail_at
        self.closed = False
        self.response = "raw-response"
        self.seen = 0

    def __iter__(self):
        return self

    def __next__(self):
        if self.fail_at is not None and self.seen == self.fail_at:
            raise ConnectionError("server went away")
        self.seen += 1
        return next(self._it)

    def close(self):
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class AsyncSDKStream:
    def __init__(self, items, fail_at=None, delay=0.0):
        self.items = list(items)
        self.fail_at = fail_at
        self.delay = delay
        self.closed = False
        self.i = 0

    def __aiter__(self):
        return self

    async def __anext__(self):
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_at is not None and self.i == self.fail_at:
            raise ConnectionError("server went away")
        if self.i >= len(self.items):
            raise StopAsyncIteration
        self.i += 1
        return self.items[self.i - 1]

    async def close(self):
        self.closed = True

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()


joined = Accumulator(lambda state, chunk: state + [chunk], finish=lambda state: "".join(state), initial=list)


@op(accumulator=joined)
def stream(items, fail_at=None):
    return SDKStream(items, fail_at)


@op(accumulator=joined)
async def astream(items, fail_at=None, delay=0.0):
    return AsyncSDKStream(items, fail_at, delay)


def ended(spans):
    found = spans.finished()
    assert len(found) == 1, [s.name for s in found]
    return found[0]


def test_exhausted(spans):
    s = stream(["a", "b", "c"])
    assert isinstance(s, SDKStream)
    assert s.response == "raw-response"  # attributes of the SDK object pass through
    assert list(s) == ["a", "b", "c"]
    span = ended(spans)
    assert span.attributes["output.value"] == '"abc"'
    assert span.attributes["weave_agent.stream.end_reason"] == "exhausted"
    assert span.attributes["weave_agent.stream.complete"] is True
    assert span.attributes["weave_agent.stream.chunks"] == 3
    assert span.attributes["weave_agent.stream.time_to_first_chunk"] >= 0
    assert open_count() == 0


def test_break_then_dropped(spans):
    s = stream(["a", "b", "c"])
    for chunk in s:
        if chunk == "a":
            break
    assert spans.finished() == []  # still open while referenced
    del s
    gc.collect()
    span = ended(spans)
    assert span.attributes["weave_agent.stream.end_reason"] == "garbage_collected"
    assert span.attributes["output.value"] == '"a"'
    assert span.attributes["weave_agent.stream.complete"] is False


def test_close(spans):
    s = stream(["a", "b"])
    next(s)
    s.close()
    assert s.closed
    assert ended(spans).attributes["weave_agent.stream.end_reason"] == "closed"


def test_with_block_exit(spans):
    with stream(["a", "b", "c"]) as s:
        assert isinstance(s, SDKStream)
        next(s)
    assert s.closed  # __exit__ forwarded
    span = ended(spans)
    assert span.attributes["weave_agent.stream.end_reason"] == "exited"
    assert span.attributes["output.value"] == '"a"'


def test_exception_mid_stream(spans):
    s = stream(["a", "b", "c"], fail_at=2)
    with pytest.raises(ConnectionError):
        list(s)
    span = ended(spans)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "ConnectionError"
    assert span.attributes["weave_agent.stream.end_reason"] == "error"
    assert span.attributes["output.value"] == '"ab"'  # the partial output


def test_never_consumed_garbage_collected(spans):
    stream(["a"])
    gc.collect()
    span = ended(spans)
    assert span.attributes["weave_agent.stream.chunks"] == 0
    assert span.attributes["weave_agent.stream.end_reason"] == "garbage_collected"


def test_consumed_in_another_thread(spans):
    s = stream(["a", "b"])
    out = []
    t = threading.Thread(target=lambda: out.extend(s))
    t.start()
    t.join()
    assert out == ["a", "b"]
    assert ended(spans).attributes["output.value"] == '"ab"'


def test_span_not_current_between_chunks(spans):
    before = trace.get_current_span()
    s = stream(["a", "b"])
    assert trace.get_current_span() is before
    next(s)
    assert trace.get_current_span() is before


def test_accumulator_failure_never_reaches_the_caller(spans):
    def bad(state, chunk):
        raise ValueError("accumulator bug")

    @op(accumulator=bad)
    def f():
        return SDKStream(["x", "y"])

    assert list(f()) == ["x", "y"]
    span = ended(spans)
    assert "output.value" in span.attributes


test_accumulator_failure_never_reaches_the_caller = pytest.mark.agent_errors_expected(
    test_accumulator_failure_never_reaches_the_caller
)


def test_plain_callable_accumulator_and_non_stream_results(spans):
    @op(accumulator=lambda state, chunk: (state or 0) + chunk)
    def f(stream):
        return iter([1, 2, 3]) if stream else [1, 2, 3]

    assert f(False) == [1, 2, 3]  # a list is not a stream: recorded as is
    assert sum(f(True)) == 6
    first, second = spans.finished()
    assert first.attributes["output.value"] == "[1,2,3]"
    assert second.attributes["output.value"] == "6"


async def test_async_exhausted(spans):
    s = await astream(["a", "b"])
    assert isinstance(s, AsyncSDKStream)
    assert [c async for c in s] == ["a", "b"]
    assert ended(spans).attributes["output.value"] == '"ab"'


async def test_async_break_and_close(spans):
    s = await astream(["a", "b", "c"])
    async for _ in s:
        break
    await s.close()
    assert s.closed
    assert ended(spans).attributes["weave_agent.stream.end_reason"] == "closed"


async def test_async_with_exit(spans):
    async with await astream(["a", "b"]) as s:
        await s.__anext__()
    assert s.closed
    assert ended(spans).attributes["weave_agent.stream.end_reason"] == "exited"


async def test_async_exception_mid_stream(spans):
    s = await astream(["a", "b"], fail_at=1)
    with pytest.raises(ConnectionError):
        async for _ in s:
            pass
    span = ended(spans)
    assert span.status.status_code is StatusCode.ERROR and span.attributes["output.value"] == '"a"'


async def test_async_consumer_task_cancelled(spans):
    s = await astream(["a", "b", "c"], delay=0.05)
    got = []

    async def consume():
        async for c in s:
            got.append(c)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.07)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    span = ended(spans)
    assert span.attributes["error.type"] == "CancelledError"
    assert span.attributes["weave_agent.stream.chunks"] == len(got) == 1


async def test_async_consumed_in_another_task(spans):
    s = await astream(["a", "b"])

    async def consume():
        return [c async for c in s]

    assert await asyncio.create_task(consume()) == ["a", "b"]
    assert ended(spans).attributes["output.value"] == '"ab"'


async def test_async_never_consumed_gc(spans):
    await astream(["a"])
    gc.collect()
    assert ended(spans).attributes["weave_agent.stream.end_reason"] == "garbage_collected"


class Manager:
    """Shaped like ``client.messages.stream(...)``: a manager whose __enter__ gives the stream."""

    def __init__(self, items):
        self.items = items
        self.exited = False

    def __enter__(self):
        self.stream = SDKStream(self.items)
        return self.stream

    def __exit__(self, *exc):
        self.exited = True


@op(accumulator=joined)
def managed(items):
    return Manager(items)


def test_context_manager_stream(spans):
    with managed(["a", "b", "c"]) as s:
        assert isinstance(s, SDKStream)
        assert next(s) == "a"
        assert spans.finished() == []
    span = ended(spans)
    assert span.attributes["weave_agent.stream.end_reason"] == "exited"
    assert span.attributes["output.value"] == '"a"'


def test_context_manager_never_entered(spans):
    managed(["a"])
    gc.collect()
    assert ended(spans).attributes["weave_agent.stream.end_reason"] == "garbage_collected"


class AsyncManager:
    def __init__(self, items):
        self.items = items

    async def __aenter__(self):
        return AsyncSDKStream(self.items)

    async def __aexit__(self, *exc):
        return None


async def test_async_context_manager_stream(spans):
    @op(accumulator=joined)
    def amanaged(items):
        return AsyncManager(items)

    async with amanaged(["a", "b"]) as s:
        assert [c async for c in s] == ["a", "b"]
    span = ended(spans)
    assert span.attributes["output.value"] == '"ab"'


def test_generator_function_children_and_early_close(spans):
    @op
    def child(i):
        return i

    @op(accumulator=lambda s, c: (s or []) + [c])
    def gen(n):
        for i in range(n):
            yield child(i)

    g = gen(5)
    assert next(g) == 0 and next(g) == 1
    assert trace.get_current_span() is trace.INVALID_SPAN  # not current between steps
    g.close()
    tree = [(s.name.rsplit(".", 1)[-1], d) for s, d in spans.tree()]
    assert tree == [("gen", 0), ("child", 1), ("child", 1)]
    parent = spans.named([s.name for s in spans.finished() if s.name.endswith("gen")][0])[0]
    assert parent.attributes["weave_agent.stream.end_reason"] == "closed"
    assert json.loads(parent.attributes["output.value"]) == [0, 1]


def test_generator_raising(spans):
    @op
    def gen():
        yield 1
        raise RuntimeError("boom")

    g = gen()
    assert next(g) == 1
    with pytest.raises(RuntimeError):
        next(g)
    assert ended(spans).status.status_code is StatusCode.ERROR


def test_generator_send(spans):
    @op
    def echo():
        received = yield "ready"
        while True:
            received = yield received * 2

    g = echo()
    assert next(g) == "ready"
    assert g.send(3) == 6
    g.close()
    assert ended(spans).attributes["weave_agent.stream.chunks"] == 2


async def test_async_generator_function(spans):
    @op
    async def child():
        return 1

    @op
    async def agen(n):
        for i in range(n):
            yield await child() + i

    assert [x async for x in agen(3)] == [1, 2, 3]
    tree = [(s.name.rsplit(".", 1)[-1], d) for s, d in spans.tree()]
    assert tree == [("agen", 0), ("child", 1), ("child", 1), ("child", 1)]


async def test_async_generator_aclose(spans):
    @op
    async def agen():
        yield 1
        yield 2

    g = agen()
    assert await g.__anext__() == 1
    await g.aclose()
    assert ended(spans).attributes["weave_agent.stream.end_reason"] == "closed"


class RawResponse:
    """Shaped like an SDK's raw HTTP response: read by the user later, then closed."""

    def __init__(self):
        self.closed = False
        self.headers = {"content-type": "text/event-stream"}

    def close(self):
        self.closed = True


class AsyncRawResponse(RawResponse):
    async def close(self):
        self.closed = True


class _RawSpec:
    """A spec whose is_stream says yes to a closeable result (as an SDK instrumentation may)."""

    @staticmethod
    def make(fn):
        from weave_agent.tracing.calls import GenericSpec, wrap_with_spec

        class Spec(GenericSpec):
            def is_stream(self, inputs, result):
                return isinstance(result, RawResponse)

        return wrap_with_spec(fn, Spec("raw", "raw", None, None, None, joined, None))


def test_closeable_result_ends_on_close(spans):
    traced = _RawSpec.make(lambda: RawResponse())
    raw = traced()
    assert isinstance(raw, RawResponse) and raw.headers["content-type"] == "text/event-stream"
    assert spans.finished() == []  # open until the response is closed
    raw.close()
    assert raw.closed
    assert ended(spans).attributes["weave_agent.stream.end_reason"] == "closed"
    raw.close()  # a second close ends nothing twice
    assert len(spans.finished()) == 1


def test_closeable_result_ends_when_collected(spans):
    traced = _RawSpec.make(lambda: RawResponse())
    raw = traced()
    del raw
    gc.collect()
    assert ended(spans).attributes["weave_agent.stream.end_reason"] == "garbage_collected"


def test_async_closeable_result_ends_when_close_is_awaited(spans):
    traced = _RawSpec.make(lambda: AsyncRawResponse())
    raw = traced()

    async def close():
        pending = raw.close()
        assert spans.finished() == []
        await pending

    asyncio.run(close())
    assert raw.closed
    assert ended(spans).attributes["weave_agent.stream.end_reason"] == "closed"


def test_manager_enter_runs_under_the_calls_span(spans):
    seen = {}

    class SendsOnEnter(Manager):
        def __enter__(self):
            seen["parent"] = trace.get_current_span().get_span_context().span_id
            return super().__enter__()

    @op(accumulator=joined)
    def managed_send(items):
        return SendsOnEnter(items)

    before = trace.get_current_span()
    with managed_send(["a"]) as s:
        assert trace.get_current_span() is before  # not left current inside the block
        list(s)
    assert seen["parent"] == spans.one().context.span_id


# --- batched accumulation: the SDK accumulators see chunks BATCH at a time --------------

from weave_agent.tracing import streams as _streams  # noqa: E402


def _counting_accumulator(batched: bool):
    calls: list[int] = []  # how many chunks the stream had handed out when each step ran

    def step(state, chunk):
        calls.append(len(state) + 1)
        return state + [chunk]

    return calls, Accumulator(step, finish=lambda state: "".join(state), initial=list, batched=batched)


@pytest.mark.parametrize("n", [1, _streams.BATCH - 1, _streams.BATCH, 3 * _streams.BATCH + 5])
def test_a_batched_accumulator_sees_every_chunk_in_order(spans, n):
    calls, acc = _counting_accumulator(batched=True)

    @op(accumulator=acc)
    def f():
        return SDKStream([chr(97 + i % 26) for i in range(n)])

    s = f()
    for i, _chunk in enumerate(s, 1):
        # steps run only when a whole batch is waiting: none before the first batch
        assert len(calls) == i // _streams.BATCH * _streams.BATCH
    assert "".join(json.loads(ended(spans).attributes["output.value"])) == "".join(chr(97 + i % 26) for i in range(n))
    assert calls == list(range(1, n + 1))


def test_a_batched_stream_ended_early_keeps_every_chunk_it_gave(spans):
    _calls, acc = _counting_accumulator(batched=True)

    @op(accumulator=acc)
    def f():
        return SDKStream(list("abcdefgh"))

    s = f()
    assert [next(s), next(s), next(s)] == ["a", "b", "c"]
    s.close()
    span = ended(spans)
    assert json.loads(span.attributes["output.value"]) == "abc"
    assert span.attributes["weave_agent.stream.complete"] is False


def test_an_apps_accumulator_steps_each_chunk_as_it_comes(spans):
    """The default (an app's own accumulator): a generator that yields one object it
    changes between yields is accumulated value by value."""
    box = ["?"]

    @op(accumulator=Accumulator(lambda state, chunk: state + chunk[0], initial=""))
    def f():
        for letter in "xyz":
            box[0] = letter
            yield box

    assert [c[0] for c in f()] == ["x", "y", "z"]
    assert ended(spans).attributes["output.value"] == '"xyz"'
