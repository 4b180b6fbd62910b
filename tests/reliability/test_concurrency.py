"""Concurrency: exactly one span per call, with the right parent, in threads, asyncio
tasks and thread pools, for ``@op`` functions and for a real vendor SDK call (OpenAI chat
completions through the instrumentation, over ``httpx.MockTransport``: no network).

What the agent promises for thread pools (README, "Tracing your own functions"): a call
is nested under its caller in threads *given a contextvars copy*. A plain
``executor.submit(fn)`` runs ``fn`` in the worker's own (empty) context: its span is the
root of a new trace, never a child of whatever span another task left behind in that
reused worker thread. Both are asserted below.

Parents are checked through the span's own inputs: each leaf carries the index of the
thread/task that made it (the ``@op`` input ``owner``; for OpenAI the request model
``m-<owner>``), and its parent must be the root span of that same owner.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai
import pytest
from opentelemetry import trace

import weave_agent

# The body of tests/instrumentations/openai/cassettes/chat_create.yaml (a documented
# chat.completion object), trimmed of nothing the SDK parses.
CHAT_BODY = {
    "id": "chatcmpl-LKbfCR8IMFgVPBXgXHp9T1NEStGXH",
    "object": "chat.completion",
    "created": 1795556979,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "The capital of France is Paris.", "refusal": None,
                        "annotations": []},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 22,
        "completion_tokens": 6,
        "total_tokens": 28,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0,
                                      "rejected_prediction_tokens": 0},
    },
    "service_tier": "default",
    "system_fingerprint": "fp_560af6e559",
}

THREADS, CALLS_PER_THREAD = 16, 200
TASKS = 1000
OPENAI_EVERY = 10  # one call in ten goes through the OpenAI SDK (its spans cost ~1 ms each)


def _handler(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=CHAT_BODY, headers={"x-request-id": "req_test"})


def sync_client() -> openai.OpenAI:
    return openai.OpenAI(
        api_key="sk-test", max_retries=0, http_client=httpx.Client(transport=httpx.MockTransport(_handler))
    )


def async_client() -> openai.AsyncOpenAI:
    async def handler(request: httpx.Request) -> httpx.Response:
        return _handler(request)

    return openai.AsyncOpenAI(
        api_key="sk-test", max_retries=0, http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler))
    )


MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]


@weave_agent.op(name="root")
def sync_root(owner: int, work: Any) -> Any:
    return work()


@weave_agent.op(name="leaf")
def sync_leaf(owner: int, j: int) -> int:
    return owner * 1000 + j


@weave_agent.op(name="root")
async def async_root(owner: int, work: Any) -> Any:
    return await work()


@weave_agent.op(name="leaf")
async def async_leaf(owner: int, j: int) -> int:
    await asyncio.sleep(0)  # let the other tasks run between the span's start and end
    return owner * 1000 + j


@pytest.fixture
def traced(spans: Any, instrumentation: Any) -> Any:
    instrumentation("openai")
    return spans


def _owner(span: Any) -> int:
    """The thread/task index a span was made for, from its own inputs."""
    if span.name in ("root", "leaf"):
        return int(json.loads(span.attributes["input.value"])["owner"])
    model = span.attributes["gen_ai.request.model"]
    assert model.startswith("m-"), span.name
    return int(model[2:])


def check_forest(finished: list[Any], owners: int, leaves: int, chats: int) -> dict[int, Any]:
    """Every owner has one root (a trace of its own) holding exactly its own leaves and
    chat spans; nothing else exists. Returns the root span of each owner."""
    by_kind = Counter("chat" if s.name.startswith("chat ") else s.name for s in finished)
    assert by_kind == {"root": owners, "leaf": owners * leaves, "chat": owners * chats}, by_kind
    roots = {}
    for s in finished:
        if s.name == "root":
            assert s.parent is None, "a root got a parent: context leaked from another thread/task"
            roots[_owner(s)] = s
    assert sorted(roots) == list(range(owners))
    assert len({r.context.trace_id for r in roots.values()}) == owners  # one trace per owner
    children: Counter[int] = Counter()
    for s in finished:
        if s.name == "root":
            continue
        root = roots[_owner(s)]
        assert s.parent is not None and s.parent.span_id == root.context.span_id, (
            "%s of owner %d has the wrong parent" % (s.name, _owner(s))
        )
        assert s.context.trace_id == root.context.trace_id
        children[_owner(s)] += 1
    assert children == dict.fromkeys(range(owners), leaves + chats)
    return roots


def test_threads_each_keep_their_own_parent(traced: Any) -> None:
    """16 threads x 200 calls started together: 3,200 leaf spans (one in ten an OpenAI
    chat), each under its own thread's root; after its calls each thread's current span
    is its root again, and after the root, nothing."""
    client = sync_client()
    barrier = threading.Barrier(THREADS)
    seen: dict[int, tuple[int, int, bool]] = {}
    errors: list[BaseException] = []

    def body(owner: int) -> int:
        me = trace.get_current_span().get_span_context().span_id
        for j in range(CALLS_PER_THREAD):
            if j % OPENAI_EVERY == 0:
                client.chat.completions.create(model="m-%d" % owner, messages=MESSAGES)
            else:
                assert sync_leaf(owner, j) == owner * 1000 + j
        after = trace.get_current_span().get_span_context().span_id
        return me if after == me else -1

    def thread(owner: int) -> None:
        try:
            barrier.wait(10)
            inside = sync_root(owner, lambda: body(owner))
            seen[owner] = (inside, 0, trace.get_current_span().get_span_context().is_valid)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=thread, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    chats = CALLS_PER_THREAD // OPENAI_EVERY
    roots = check_forest(traced.finished(), THREADS, CALLS_PER_THREAD - chats, chats)
    for owner, (inside, _, leaked) in seen.items():
        assert inside == roots[owner].context.span_id, "thread %d's current span after its calls" % owner
        assert not leaked, "thread %d still has a current span after its root ended" % owner
    assert len(traced.finished()) == THREADS * (CALLS_PER_THREAD + 1)
    client.close()


async def test_asyncio_tasks_each_keep_their_own_parent(traced: Any) -> None:
    """1,000 tasks interleaved at every await: each task's leaves (and one OpenAI chat
    through the async client) are children of that task's root, never of another's."""
    client = async_client()
    leaves = 3
    inside: dict[int, int] = {}
    after: dict[int, bool] = {}

    async def body(owner: int) -> None:
        for j in range(leaves):
            assert await async_leaf(owner, j) == owner * 1000 + j
        await client.chat.completions.create(model="m-%d" % owner, messages=MESSAGES)
        inside[owner] = trace.get_current_span().get_span_context().span_id

    async def task(owner: int) -> None:
        await asyncio.sleep(0)
        await async_root(owner, lambda: body(owner))
        after[owner] = trace.get_current_span().get_span_context().is_valid

    with trace.get_tracer("test").start_as_current_span("not-a-parent-of-tasks-made-outside"):
        pass
    await asyncio.wait_for(asyncio.gather(*(task(i) for i in range(TASKS))), 120)
    assert not trace.get_current_span().get_span_context().is_valid
    roots = check_forest(traced.finished(), TASKS, leaves, 1)
    assert all(inside[o] == roots[o].context.span_id for o in range(TASKS)), "a task's current span is not its root"
    assert not any(after.values()), "a task kept a current span after its root ended"
    await client.close()


def _submit_all(pool: ThreadPoolExecutor, owner: int, n: int, copy: bool, client: openai.OpenAI) -> list[Any]:
    def unit(j: int) -> int:
        if j % OPENAI_EVERY == 0:
            client.chat.completions.create(model="m-%d" % owner, messages=MESSAGES)
            return owner * 1000 + j
        return sync_leaf(owner, j)

    if copy:  # what users do to keep the parent: run each unit in a copy of the caller's context
        futures = [pool.submit(contextvars.copy_context().run, unit, j) for j in range(n)]
    else:
        futures = [pool.submit(unit, j) for j in range(n)]
    return [f.result(30) for f in futures]


@pytest.mark.parametrize("copy", [True, False], ids=["copy_context", "plain_submit"])
def test_thread_pool_fan_out_from_an_op(traced: Any, copy: bool) -> None:
    """Four ``@op`` roots run at once, each fanning 50 units out to one shared pool of 8
    reused worker threads. With ``copy_context().run`` every unit is a child of the root
    that submitted it; with a plain ``submit`` every unit is a root of its own trace (the
    documented behaviour): never a child of another root whose unit ran in that worker."""
    client = sync_client()
    owners, n = 4, 50
    pool = ThreadPoolExecutor(8)
    worker_spans: list[bool] = []
    try:
        def fan_out(owner: int) -> list[Any]:
            return sync_root(owner, lambda: _submit_all(pool, owner, n, copy, client))

        with ThreadPoolExecutor(owners) as outer:
            results = list(outer.map(fan_out, range(owners)))
        for owner, got in enumerate(results):
            assert [r % 1000 for r in got] == list(range(n)) and all(r // 1000 == owner for r in got)
        # Nothing is left current in the reused workers.
        worker_spans = [f.result() for f in [pool.submit(lambda: trace.get_current_span().get_span_context().is_valid)
                                             for _ in range(16)]]
    finally:
        pool.shutdown(wait=True)
        client.close()
    assert not any(worker_spans)
    finished = traced.finished()
    chats = len(range(0, n, OPENAI_EVERY))
    if copy:
        check_forest(finished, owners, n - chats, chats)
        return
    by_kind = Counter("chat" if s.name.startswith("chat ") else s.name for s in finished)
    assert by_kind == {"root": owners, "leaf": owners * (n - chats), "chat": owners * chats}, by_kind
    units = [s for s in finished if s.name != "root"]
    assert all(s.parent is None for s in units), "a plain submit got a parent from another context"
    trace_ids = {s.context.trace_id for s in finished}
    assert len(trace_ids) == len(finished)  # every span is the root of its own trace
