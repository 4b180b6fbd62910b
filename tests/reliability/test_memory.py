"""Memory: traced calls and streams leave nothing behind.

Method: the spans go to an exporter that counts and drops them (an exported span is the
user's data, not growth); the loop runs once to warm up (first-call caches: signatures,
the pipeline, the SDK's own lazy imports), then tracemalloc compares two snapshots taken
around ``n`` more iterations, after ``gc.collect()``. The bound is a constant,
``GROWTH_BOUND`` (32 KiB), the same for every ``n``: a leak of even one small object per
call (56 bytes or more) exceeds it at the CI sizes already, and by far at the soak sizes.

"Nothing left in any registry" is checked by name after the loop: the open-stream
registry (``streams._open``), the once-per-site log sites (``_log._seen``), GenAI's
framework-span watch list (``genai._watched``), LangChain's run table, the current
OpenTelemetry context.
"""

from __future__ import annotations

import asyncio
import gc
import json
import re
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest
from _proc_util import scaled
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

import weave_agent
from weave_agent import _log
from weave_agent.export import metric_queue, telemetry
from weave_agent.tracing import genai, streams

GROWTH_BOUND = 32 * 1024  # bytes, whatever n is


class DroppingExporter(SpanExporter):
    def __init__(self) -> None:
        self.count = 0

    def export(self, spans: Any) -> SpanExportResult:
        self.count += len(spans)
        return SpanExportResult.SUCCESS


@pytest.fixture
def dropped() -> Iterator[DroppingExporter]:
    exporter = DroppingExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.use_providers(provider)
    try:
        yield exporter
    finally:
        provider.shutdown()
        telemetry.reset()


def growth(step: Callable[[], None], n: int, warmup: int) -> int:
    """Bytes still allocated after ``n`` calls of ``step`` that were not before them."""
    for _ in range(warmup):
        step()
    # GenAI metric points earlier tests queued become series of the SDK's aggregation when
    # a reader next collects: collect them now, or they count as this window's growth.
    metric_queue.drain()
    gc.collect()
    tracemalloc.start()
    try:
        step()  # allocations tracemalloc itself makes on first sight of a code path
        gc.collect()
        before = tracemalloc.take_snapshot()
        for _ in range(n):
            step()
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    # Not growth: tracemalloc's own records, and the ``re`` module's pattern cache (up to
    # 512 entries the SDKs fill and churn: each replaced entry was allocated before the
    # first snapshot, untraced, so its replacement looks new; ~22 KiB, agent on or off).
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, re.__file__)]
    diff = after.filter_traces(ignore).compare_to(before.filter_traces(ignore), "lineno")
    grown = sum(d.size_diff for d in diff)
    if grown >= GROWTH_BOUND:  # what grew, for the failure report
        print("\n".join(str(d) for d in diff[:15]))
    return grown


def assert_registries_empty(sites_before: int) -> None:
    assert streams.open_count() == 0 and not streams._open
    assert len(_log._seen) == sites_before, sorted(_log._seen)
    assert not genai._watched
    assert not trace.get_current_span().get_span_context().is_valid


# --- @op calls -----------------------------------------------------------------------------


@weave_agent.op
def child(i: int) -> dict[str, Any]:
    return {"i": i, "text": "x" * 32}


@weave_agent.op
def parent(i: int) -> int:
    child(i)
    return i


@weave_agent.op
async def achild(i: int) -> int:
    return i


@weave_agent.op
def failing(i: int) -> None:
    raise ValueError("boom %d" % i)


@pytest.mark.parametrize("n", scaled(10_000, 100_000))
def test_traced_calls_leave_no_growth(dropped: DroppingExporter, n: int) -> None:
    """One iteration: a call with a nested call, a coroutine, and a call that raises."""
    loop = asyncio.new_event_loop()
    sites = len(_log._seen)

    def step() -> None:
        parent(1)
        loop.run_until_complete(achild(2))
        try:
            failing(3)
        except ValueError:
            pass

    # ``n`` counts traced calls: each step makes 4.
    steps = n // 4
    try:
        grown = growth(step, steps, warmup=200)
    finally:
        loop.close()
    print("traced calls: n=%d growth=%d bytes" % (n, grown))
    assert grown < GROWTH_BOUND, "%d calls left %d bytes" % (n, grown)
    assert dropped.count == (steps + 201) * 4  # every span was made and ended
    assert_registries_empty(sites)


# --- streams ---------------------------------------------------------------------------------


@weave_agent.op(accumulator=lambda text, chunk: (text or "") + chunk)
def stream(k: int) -> Iterator[str]:
    return ("tok%d " % i for i in range(k))


@weave_agent.op
def gen(k: int) -> Iterator[str]:
    yield from ("tok%d " % i for i in range(k))


@weave_agent.op(accumulator=lambda text, chunk: (text or "") + chunk)
async def astream(k: int) -> Any:
    async def chunks() -> Any:
        for i in range(k):
            yield "tok%d " % i

    return chunks()


@pytest.mark.parametrize("n", scaled(2_000, 10_000))
def test_traced_streams_leave_no_growth(dropped: DroppingExporter, n: int) -> None:
    """Streams ended every way a stream ends: exhausted, ``break`` then ``close()``,
    never consumed and dropped (garbage-collected), a generator op, an async stream."""
    loop = asyncio.new_event_loop()
    sites = len(_log._seen)

    async def consume_async() -> None:
        s = await astream(4)
        async for _ in s:
            pass

    def step() -> None:
        assert "".join(stream(4)) == "tok0 tok1 tok2 tok3 "
        s = stream(4)
        for _ in s:
            break
        s.close()
        stream(4)  # dropped unconsumed: its span ends when it is collected
        assert list(gen(3)) == ["tok0 ", "tok1 ", "tok2 "]
        loop.run_until_complete(consume_async())

    steps = n // 5  # ``n`` counts streams: each step makes 5
    try:
        grown = growth(step, steps, warmup=100)
    finally:
        loop.close()
    print("traced streams: n=%d growth=%d bytes" % (n, grown))
    assert grown < GROWTH_BOUND, "%d streams left %d bytes" % (n, grown)
    assert dropped.count == (steps + 101) * 5
    assert_registries_empty(sites)


# --- the OpenAI instrumentation ---------------------------------------------------------------

CHAT = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1795556979, "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris.", "refusal": None},
                 "logprobs": None, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 22, "completion_tokens": 6, "total_tokens": 28},
}
CHUNKS = [
    {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
    {"choices": [{"index": 0, "delta": {"content": "Par"}, "finish_reason": None}]},
    {"choices": [{"index": 0, "delta": {"content": "is."}, "finish_reason": "stop"}]},
    {"choices": [], "usage": {"prompt_tokens": 22, "completion_tokens": 2, "total_tokens": 24}},
]
SSE = "".join(
    "data: %s\n\n" % json.dumps({"id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 1795556979,
                                 "model": "gpt-4o-mini-2024-07-18", **c})
    for c in CHUNKS
) + "data: [DONE]\n\n"


def _handler(request: httpx.Request) -> httpx.Response:
    if json.loads(request.content).get("stream"):
        return httpx.Response(200, content=SSE.encode(), headers={"content-type": "text/event-stream"})
    return httpx.Response(200, json=CHAT)


@pytest.mark.parametrize("n", scaled(900, 9_000))
def test_openai_calls_and_streams_leave_no_growth(dropped: DroppingExporter, n: int) -> None:
    """Through the real SDK: a chat completion, a stream read to the end, a stream
    closed after its first chunk."""
    weave_agent.patch(openai=True)
    client = openai.OpenAI(api_key="sk-test", max_retries=0,
                           http_client=httpx.Client(transport=httpx.MockTransport(_handler)))
    messages = [{"role": "user", "content": "Capital of France?"}]
    sites = len(_log._seen)

    def step() -> None:
        client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        text = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, stream=True, stream_options={"include_usage": True})
            if c.choices)
        assert text == "Paris."
        with client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True) as s:
            next(iter(s))

    steps = n // 3
    try:
        grown = growth(step, steps, warmup=30)
    finally:
        weave_agent.unpatch("openai")
        client.close()
    print("openai: n=%d growth=%d bytes" % (n, grown))
    assert grown < GROWTH_BOUND, "%d OpenAI calls left %d bytes" % (n, grown)
    assert dropped.count == (steps + 31) * 3
    assert_registries_empty(sites)

