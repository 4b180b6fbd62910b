"""op: one span per call, right parent, errors recorded and re-raised untouched."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import gc
import json
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

import weave_agent
from weave_agent import op
from weave_agent.hook.patcher import SymbolPatcher


def test_plain_function_one_span_with_inputs_and_output(spans):
    @op
    def add(a, b=1, *rest, **extra):
        return a + b + sum(rest)

    assert add(1, 2, 3, 4, flag=True) == 10
    span = spans.one("test_plain_function_one_span_with_inputs_and_output.<locals>.add")
    assert json.loads(span.attributes["input.value"]) == {"a": 1, "b": 2, "rest": [3, 4], "flag": True}
    assert span.attributes["output.value"] == "10"
    assert span.kind is SpanKind.INTERNAL
    assert span.status.status_code is StatusCode.UNSET


def test_decorator_forms_name_kind_attributes(spans):
    @op(name="custom", kind="client", attributes={"team": "ml"})
    def f():
        return "x"

    f()
    span = spans.one("custom")
    assert span.kind is SpanKind.CLIENT
    assert span.attributes["team"] == "ml"
    with pytest.raises(ValueError, match="kind"):
        op(kind="sideways")


def test_postprocess_inputs_and_output(spans):
    @op(postprocess_inputs=lambda i: {"n": len(i["items"])}, postprocess_output=lambda o: {"first": o[0]})
    def f(items):
        return list(items)

    assert f([5, 6, 7]) == [5, 6, 7]
    span = spans.finished()[0]
    assert json.loads(span.attributes["input.value"]) == {"n": 3}
    assert json.loads(span.attributes["output.value"]) == {"first": 5}


def test_nesting_follows_the_caller(spans):
    @op
    def leaf(x):
        return x

    @op
    def root():
        return [leaf(1), leaf(2)]

    root()
    assert [(s.name.rsplit(".", 1)[-1], d) for s, d in spans.tree()] == [("root", 0), ("leaf", 1), ("leaf", 1)]


def test_parent_is_an_outer_user_span(spans):
    @op
    def f():
        return 1

    tracer = spans.provider.get_tracer("user")
    with tracer.start_as_current_span("user-root") as root:
        f()
    child = [s for s in spans.finished() if s.name.endswith(".f")][0]
    assert child.parent.span_id == root.get_span_context().span_id


def test_methods_staticmethods_classmethods_leave_self_out(spans):
    class Client:
        @op
        def method(self, a):
            return a

        @op
        @classmethod
        def cm(cls, a):
            return a

        @op
        @staticmethod
        def sm(a):
            return a

    c = Client()
    assert (c.method(1), Client.cm(2), c.cm(3), c.sm(4), Client.sm(5)) == (1, 2, 3, 4, 5)
    inputs = [json.loads(s.attributes["input.value"]) for s in spans.finished()]
    assert inputs == [{"a": 1}, {"a": 2}, {"a": 3}, {"a": 4}, {"a": 5}]


def test_op_as_make_new_value_of_a_symbol_patcher(spans, tmp_path):
    class Resource:
        def create(self, *, model):
            return model

        @staticmethod
        def helper(x):
            return x

        @classmethod
        def build(cls, x):
            return x

    originals = {k: Resource.__dict__[k] for k in ("create", "helper", "build")}
    patchers = [SymbolPatcher(lambda: Resource, "Resource.create".split(".", 1)[1], op(name="create")),
                SymbolPatcher(lambda: Resource, "helper", op(name="helper")),
                SymbolPatcher(lambda: Resource, "build", op(name="build"))]
    for p in patchers:
        assert p.attempt_patch()
    assert Resource().create(model="m") == "m"
    assert Resource.helper(1) == 1 and Resource().build(2) == 2
    assert [s.name for s in spans.finished()] == ["create", "helper", "build"]
    assert json.loads(spans.named("create")[0].attributes["input.value"]) == {"model": "m"}
    for p in patchers:
        assert p.undo_patch()
    for k, v in originals.items():
        assert Resource.__dict__[k] is v


def test_exception_recorded_and_reraised_unchanged(spans):
    err = KeyError("missing")

    @op
    def f():
        raise err

    with pytest.raises(KeyError) as info:
        f()
    assert info.value is err
    # the user's frame is still in the traceback
    frames = []
    tb = info.value.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    assert frames[-1] == "f"
    span = spans.finished()[0]
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "KeyError"
    assert [e.name for e in span.events] == ["exception"]


def test_threads_keep_their_parent(spans):
    @op
    def work(i):
        return i

    @op
    def fan_out():
        with ThreadPoolExecutor(4) as pool:
            ctx_runs = [pool.submit(contextvars.copy_context().run, work, i) for i in range(8)]
            return sorted(f.result() for f in ctx_runs)

    assert fan_out() == list(range(8))
    root = [s for s in spans.finished() if s.name.endswith("fan_out")][0]
    children = [s for s in spans.finished() if s.name.endswith("work")]
    assert len(children) == 8
    assert {c.parent.span_id for c in children} == {root.context.span_id}


def test_threads_without_context_copy_are_roots(spans):
    @op
    def work():
        return threading.get_ident()

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert spans.one().parent is None


async def test_coroutines_and_tasks(spans):
    @op
    async def leaf(i):
        await asyncio.sleep(0)
        return i

    @op
    async def root():
        return await asyncio.gather(*(leaf(i) for i in range(5)))

    assert await root() == [0, 1, 2, 3, 4]
    root_span = [s for s in spans.finished() if s.name.endswith("root")][0]
    leaves = [s for s in spans.finished() if s.name.endswith("leaf")]
    assert len(leaves) == 5 and {s.parent.span_id for s in leaves} == {root_span.context.span_id}
    assert asyncio.iscoroutinefunction(leaf)


async def test_coroutine_cancelled_ends_span_with_error(spans):
    started = asyncio.Event()

    @op
    async def slow():
        started.set()
        await asyncio.sleep(10)

    task = asyncio.create_task(slow())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    span = spans.one()
    assert span.attributes["error.type"] == "CancelledError"


def test_coroutine_never_awaited_makes_no_span(spans):
    @op
    async def f():
        return 1

    coro = f()
    coro.close()
    assert spans.finished() == []


def test_current_span_restored_after_call(spans):
    @op
    def f():
        return trace.get_current_span()

    before = trace.get_current_span()
    inner = f()
    assert inner.get_span_context().is_valid
    assert trace.get_current_span() is before


def test_agent_failure_never_reaches_the_app(spans, monkeypatch):
    from weave_agent.tracing import calls as op_module

    @op
    def f(x):
        return x * 2

    def broken(*a, **k):
        raise RuntimeError("agent bug")

    monkeypatch.setattr(op_module.GenericSpec, "start", broken)
    assert f(2) == 4  # no span, no exception
    monkeypatch.undo()
    monkeypatch.setattr(op_module.GenericSpec, "on_end", broken)
    assert f(3) == 6  # span ends anyway
    assert len(spans.finished()) == 1


pytestmark_errors = pytest.mark.agent_errors_expected
test_agent_failure_never_reaches_the_app = pytestmark_errors(test_agent_failure_never_reaches_the_app)


def test_signature_is_read_once(spans, monkeypatch):
    import inspect

    calls = []
    real = inspect.signature
    monkeypatch.setattr(inspect, "signature", lambda fn, *a, **k: calls.append(fn) or real(fn, *a, **k))

    @op
    def f(a):
        return a

    for i in range(5):
        f(i)
    assert len(calls) == 1


def test_wrapped_function_keeps_its_identity():
    def original(a: int) -> int:
        """doc"""
        return a

    wrapped = op(original)
    assert wrapped.__name__ == "original" and wrapped.__doc__ == "doc"
    assert wrapped.__wrapped__ is original
    import inspect

    assert inspect.signature(wrapped) == inspect.signature(original)


def test_unreferenced_generator_span_ends(spans):
    @op
    def gen():
        yield 1

    g = gen()
    del g
    gc.collect()
    span = spans.one()
    assert span.attributes["weave_agent.stream.end_reason"] == "garbage_collected"


def test_disabled_agent_calls_through(monkeypatch):
    import weave_agent.lifecycle as lifecycle
    from weave_agent.export import telemetry
    from weave_agent.settings import Settings

    telemetry.reset()
    monkeypatch.setattr(lifecycle, "_settings", Settings.load({"WEAVE_AGENT_ENABLED": "false"}))
    try:

        @op
        def f():
            return trace.get_current_span()

        assert not f().get_span_context().is_valid
    finally:
        telemetry.reset()


def test_public_api_exposes_op():
    assert weave_agent.op is op
    assert callable(weave_agent.flush) and callable(weave_agent.shutdown)
    assert sys.modules["weave_agent.tracing.calls"]


def _checks_args(fn):
    """A plain (sync) decorator around an ``async def``, as SDKs generate them."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)

    return wrapper


async def test_sync_decorator_around_async_def_ends_when_awaited(spans):
    @op
    async def child():
        return trace.get_current_span()

    class Resource:
        @_checks_args
        async def create(self, *, model):
            await asyncio.sleep(0.01)
            return model, await child()

    Resource.create = op(Resource.__dict__["create"])
    coro = Resource().create(model="m")
    assert asyncio.iscoroutine(coro)  # still a real coroutine: create_task accepts it
    model, inner_parent = await asyncio.create_task(coro)
    assert model == "m"
    parent = [s for s in spans.finished() if s.name.endswith("create")][0]
    assert parent.end_time - parent.start_time >= 10_000_000  # ended after the await, not at the call
    kid = [s for s in spans.finished() if s.name.endswith("child")][0]
    assert kid.parent.span_id == parent.context.span_id


async def test_sync_decorator_around_async_def_error(spans):
    @op
    @_checks_args
    async def fail():
        raise LookupError("x")

    with pytest.raises(LookupError):
        await fail()
    assert spans.one().attributes["error.type"] == "LookupError"
