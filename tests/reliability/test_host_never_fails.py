"""The host never sees the agent fail: a property-based proof (issue 9, section 2).

Every example runs the same user code twice, once bare and once through the agent, and
compares what the caller observes: the returned object (the very same one), the raised
exception (the very same object, with the same traceback frames outside the agent and
wrapt), every item a stream or generator yields, its return value, and the side effects
(what the user function logged, the arguments it was given, their contents afterwards).

The inputs are the shapes an agent does not expect: None, huge ints and strings, NaN,
bytes, nested dicts/lists/objects with the field names the vendor extractors read,
objects whose attribute access, ``repr``/``str``, ``iter``, ``len``, ``bool`` or ``hash``
raise, exceptions whose ``str`` or ``status_code`` raise, BaseExceptions (SystemExit,
KeyboardInterrupt, CancelledError...), chunk streams that raise midway, streams left
early, closed, used with ``with``. The GenAI layer runs with the real vendor extractors
and accumulators (OpenAI, Anthropic, Mistral) around fake SDK methods returning these
odd responses and instances of the SDKs' own stream classes yielding odd chunks.

The agent is *expected* to log errors here (its boundary catches its own failures on odd
shapes), hence ``agent_errors_expected``; what must never happen is a difference the host
can see. ``-m soak`` runs many more examples.
"""

# The closures in the run loops are called within the iteration that defines them.
# ruff: noqa: B023

from __future__ import annotations

import asyncio
import gc
import os
import traceback
import types
from collections.abc import Callable
from typing import Any

import pytest
import wrapt
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import weave_agent
import weave_agent.instrumentations
from weave_agent.instrumentations.anthropic import anthropic as ant
from weave_agent.instrumentations.anthropic import streaming as ant_streaming
from weave_agent.instrumentations.mistral import mistral as mis
from weave_agent.instrumentations.openai import openai as oai
from weave_agent.instrumentations.openai import streaming as oai_streaming
from weave_agent.tracing import streams
from weave_agent.tracing.calls import op, wrap_with_spec
from weave_agent.tracing.genai import GenAISpec

CI_EXAMPLES = 60  # per parametrized case: ~600 examples in all, ~20 s
SOAK_EXAMPLES = 3000

pytestmark = pytest.mark.agent_errors_expected

_AGENT_DIRS = tuple(
    os.path.dirname(m.__file__) + os.sep for m in (weave_agent, weave_agent.instrumentations, wrapt)  # type: ignore[type-var]
)


def _profile(n: int, factor: float = 1) -> Callable[[Any], Any]:
    return settings(
        max_examples=int(n * factor),
        deadline=None,
        derandomize=n == CI_EXAMPLES,  # CI: the same examples every run; soak: new ones
        suppress_health_check=list(HealthCheck),
    )


def sizes(fn: Callable[..., Any]) -> Any:
    """Run ``fn(n)`` with the CI count, and with the soak count under ``-m soak``."""
    return pytest.mark.parametrize(
        "n", [pytest.param(CI_EXAMPLES, id="ci"), pytest.param(SOAK_EXAMPLES, id="soak", marks=pytest.mark.soak)]
    )(fn)


# --- odd shapes ---------------------------------------------------------------------------


class Boom(Exception):
    """What the odd objects raise (not an AttributeError: ``getattr(x, k, None)`` lets it out)."""


class RaisingAttr:
    """Every attribute access raises (``isinstance`` against other classes raises too)."""

    def __getattribute__(self, name: str) -> Any:
        raise Boom("attribute " + name)


class RaisingGetattr:
    """Missing attributes raise something other than AttributeError."""

    def __getattr__(self, name: str) -> Any:
        raise Boom("missing attribute " + name)


class RaisingRepr:
    def __repr__(self) -> str:
        raise Boom("repr")

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        raise Boom("format")


class RaisingIter:
    def __iter__(self) -> Any:
        raise Boom("iter")

    def __len__(self) -> int:
        raise Boom("len")

    def __bool__(self) -> bool:
        raise Boom("bool")

    def __eq__(self, other: object) -> bool:
        raise Boom("eq")

    def __hash__(self) -> int:
        raise Boom("hash")


class RaisingDict(dict):  # type: ignore[type-arg]
    """A dict whose reading methods raise."""

    def get(self, *a: Any) -> Any:
        raise Boom("dict.get")

    def items(self) -> Any:
        raise Boom("dict.items")

    def __iter__(self) -> Any:
        raise Boom("dict iter")


class RaisingStr(str):
    def startswith(self, *a: Any) -> bool:  # type: ignore[override]
        raise Boom("str.startswith")

    def __str__(self) -> str:
        raise Boom("str")


class RaisingList(list):  # type: ignore[type-arg]
    def __iter__(self) -> Any:
        raise Boom("list iter")

    def __len__(self) -> int:
        raise Boom("list len")


class RaisingNext:
    """Looks like an iterator and a context manager, raises on both."""

    def __next__(self) -> Any:
        raise Boom("next")

    def __iter__(self) -> Any:
        return self

    def __enter__(self) -> Any:
        raise Boom("enter")

    def __exit__(self, *a: Any) -> Any:
        raise Boom("exit")


class Shape(types.SimpleNamespace):
    """An SDK-model-like object; its repr never recurses into odd members."""

    def __repr__(self) -> str:
        return "Shape(%s)" % ", ".join(sorted(vars(self)))


class Huge(str):
    """A 2 MB string that prints short in hypothesis' failure reports."""

    def __repr__(self) -> str:
        return "HUGE_TEXT"


class HugeBytes(bytes):
    def __repr__(self) -> str:
        return "HUGE_BYTES"


HUGE_TEXT = Huge("x" * 2_000_000)
HUGE_BYTES = HugeBytes(b"\x00\xff" * 500_000)

FIELDS = (
    "id", "model", "choices", "delta", "message", "content", "tool_calls", "function", "name", "arguments",
    "index", "finish_reason", "usage", "prompt_tokens", "completion_tokens", "total_tokens", "input_tokens",
    "output_tokens", "type", "response", "text", "data", "embedding", "role", "refusal", "status", "output",
    "stop_reason", "content_block", "partial_json", "thinking", "service_tier", "system_fingerprint", "object",
    "incomplete_details", "reason", "event", "cache_read_input_tokens", "cache_creation_input_tokens",
    "prompt_tokens_details", "cached_tokens", "completion_tokens_details", "reasoning_tokens", "logprobs",
    "call_id", "input", "output_text", "source", "url", "image_url", "parts", "error", "headers",
)  # fmt: skip
WORDS = (
    "response.output_text.delta", "response.completed", "response.incomplete", "response.failed",
    "response.created", "response.in_progress", "message_start", "message_delta", "message_stop",
    "content_block_start", "content_block_delta", "content_block_stop", "text_delta", "input_json_delta",
    "thinking_delta", "signature_delta", "tool_use", "text", "stop", "length", "tool_calls", "error",
    "end_turn", "max_tokens", "completed", "incomplete", "function", "assistant", "user", "system",
    "image_url", "data:image/png;base64,AAAA", "http://", "{\"a\": [1, {", "gpt-4o", "",
)  # fmt: skip

_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([10**100, -(2**63) - 1, 2**64]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(WORDS),
    st.binary(max_size=12),
    st.sampled_from([HUGE_TEXT, HUGE_BYTES]),
    st.builds(RaisingAttr),
    st.builds(RaisingGetattr),
    st.builds(RaisingRepr),
    st.builds(RaisingIter),
    st.builds(RaisingNext),
    st.builds(RaisingStr, st.sampled_from(WORDS)),
    st.just(object()),
)
_keys = st.one_of(st.sampled_from(FIELDS), st.text(max_size=4))


def _shape(d: dict[str, Any]) -> Shape:
    return Shape(**d)


odd = st.recursive(
    _leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=3).map(tuple),
        st.lists(children, max_size=3).map(RaisingList),
        st.dictionaries(_keys, children, max_size=4),
        st.dictionaries(st.sampled_from(FIELDS), children, max_size=4).map(RaisingDict),
        st.dictionaries(st.sampled_from(FIELDS), children, max_size=5).map(_shape),
    ),
    max_leaves=12,
)


class StrRaises(Exception):
    def __str__(self) -> str:
        raise Boom("exception str")


class StatusRaises(Exception):
    """An SDK-error look-alike whose ``status_code``/``type``/``response`` raise on access."""

    def __getattribute__(self, name: str) -> Any:
        if name in ("status_code", "type", "response", "body", "code"):
            raise Boom("exception attribute " + name)
        return super().__getattribute__(name)


class WithStatus(Exception):
    status_code: Any = None


class UserBase(BaseException):
    pass


_EXC_TYPES = (
    ValueError, KeyError, RuntimeError, TypeError, AttributeError, Boom, StrRaises, StatusRaises, WithStatus,
    StopIteration, StopAsyncIteration, GeneratorExit, KeyboardInterrupt, SystemExit, asyncio.CancelledError, UserBase,
)  # fmt: skip


class ExcSpec:
    """How to make the exception a run raises: a fresh instance per run (re-raising one
    instance would grow its traceback), the same type and arguments both times."""

    def __init__(self, cls: type[BaseException], args: list[Any], status: Any) -> None:
        self.cls, self.args, self.status = cls, args, status

    def make(self) -> BaseException:
        exc = self.cls(*self.args)
        if self.cls is WithStatus:
            exc.status_code = self.status  # type: ignore[attr-defined]
        return exc

    def __repr__(self) -> str:
        return "ExcSpec(%s, %d args)" % (self.cls.__name__, len(self.args))


exc_specs = st.builds(ExcSpec, st.sampled_from(_EXC_TYPES), st.lists(odd, max_size=2), odd)


# --- what the caller observes ---------------------------------------------------------------


def user_frames(exc: BaseException) -> list[tuple[str, str, int]]:
    """The traceback outside the agent and wrapt: what the user's code sees of it."""
    return [
        (f.f_code.co_filename, f.f_code.co_name, line)
        for f, line in traceback.walk_tb(exc.__traceback__)
        if not f.f_code.co_filename.startswith(_AGENT_DIRS)
    ]


class Run:
    """One run's observations. ``made`` holds the exceptions the user's code raised."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.made: list[BaseException] = []
        self.effects: list[Any] = []

    def raised(self, spec: ExcSpec) -> BaseException:
        exc = spec.make()
        self.made.append(exc)
        return exc

    def seal(self) -> None:
        """Keep the user frames of each exception and drop the tracebacks: they hold the
        frames that hold the streams, which must be collectable for the open-stream check."""
        self.frames = [user_frames(e) if kind == "raise" else None for kind, e in self.events]
        for kind, e in self.events:
            if kind == "raise":
                for x in (e, e.__cause__, e.__context__):
                    if x is not None:
                        x.__traceback__ = None
        for e in self.made:
            e.__traceback__ = None


def _same(a: Any, b: Any) -> bool:
    return a is b


def _snapshot(values: Any) -> list[Any]:
    """Shallow contents of the containers the user passed, to prove the agent left them alone."""
    out = []
    for v in values:
        if type(v) is list:
            out.append(("list", list(v)))
        elif type(v) is dict:
            out.append(("dict", list(dict.items(v))))
        else:
            out.append(("obj", v))
    return out


def assert_same_snapshot(a: list[Any], b: list[Any]) -> None:
    assert len(a) == len(b)
    for (ka, va), (kb, vb) in zip(a, b, strict=True):
        assert ka == kb
        if ka == "obj":
            assert va is vb
        elif ka == "list":
            assert len(va) == len(vb) and all(x is y for x, y in zip(va, vb, strict=True))
        else:
            assert len(va) == len(vb)
            assert all(k1 is k2 and v1 is v2 for (k1, v1), (k2, v2) in zip(va, vb, strict=True))


def assert_same_runs(bare: Run, traced: Run) -> None:
    """The traced run is indistinguishable from the bare one."""
    assert len(bare.events) == len(traced.events), (bare.events, traced.events)
    for i, ((kind_a, a), (kind_b, b)) in enumerate(zip(bare.events, traced.events, strict=True)):
        assert kind_a == kind_b, (bare.events, traced.events)
        if kind_a == "raise":
            ia, ib = _index(bare.made, a), _index(traced.made, b)
            # the very object the user's code raised (or, for an exception the runtime made
            # from it, like PEP 479's RuntimeError, the same kind of object)
            assert ia == ib, ("not the exception the user's code raised", a, b)
            if ia < 0:
                assert type(a) is type(b)
            assert bare.frames[i] == traced.frames[i]
            assert _index(bare.made, a.__cause__) == _index(traced.made, b.__cause__)
            assert _index(bare.made, a.__context__) == _index(traced.made, b.__context__)
        elif kind_a == "snapshot":
            assert_same_snapshot(a, b)
        elif kind_a in ("len", "type"):
            assert a == b
        else:
            assert a is b, (kind_a, a, b)
    assert len(bare.effects) == len(traced.effects)
    for ea, eb in zip(bare.effects, traced.effects, strict=True):
        assert_same_snapshot(ea, eb)


def _index(made: list[BaseException], exc: Any) -> int:
    for i, m in enumerate(made):
        if m is exc:
            return i
    return -1 if exc is not None else -2


# --- consuming what a call returned, the same way in both runs -------------------------------


class Consume:
    """How the caller reads a stream/generator: ``mode`` and after how many items."""

    def __init__(self, mode: str, k: int, sends: list[Any], throw: ExcSpec) -> None:
        self.mode, self.k, self.sends, self.throw = mode, k, sends, throw

    def __repr__(self) -> str:
        return "Consume(%s, %d)" % (self.mode, self.k)


consumes = st.builds(
    Consume,
    st.sampled_from(["exhaust", "close", "with", "drop", "send", "throw"]),
    st.integers(0, 4),
    st.lists(odd, max_size=4),
    exc_specs,
)


def consume_sync(it: Any, how: Consume, run: Run) -> None:
    ev = run.events
    if how.mode == "with":
        try:
            with it as entered:
                for i, item in enumerate(entered):
                    ev.append(("yield", item))
                    if i + 1 >= how.k:
                        break
        except BaseException as exc:
            ev.append(("raise", exc))
        return
    n = 0
    while True:
        try:
            if how.mode == "send" and n and hasattr(it, "send"):
                item = it.send(how.sends[n % len(how.sends)] if how.sends else None)
            elif how.mode == "throw" and n >= how.k and hasattr(it, "throw"):
                item = it.throw(run.raised(how.throw))
            else:
                item = next(it)
        except StopIteration as stop:
            ev.append(("stop", stop.value))
            return
        except BaseException as exc:
            ev.append(("raise", exc))
            return
        ev.append(("yield", item))
        n += 1
        if how.mode in ("close", "drop") and n >= how.k:
            break
    if how.mode == "close":
        try:
            ev.append(("closed", it.close()))
        except BaseException as exc:
            ev.append(("raise", exc))


async def consume_async(it: Any, how: Consume, run: Run) -> None:
    ev = run.events
    if how.mode == "with":
        try:
            async with it as entered:
                i = 0
                async for item in entered:
                    ev.append(("yield", item))
                    i += 1
                    if i >= how.k:
                        break
        except BaseException as exc:
            ev.append(("raise", exc))
        return
    n = 0
    while True:
        try:
            if how.mode == "send" and n and hasattr(it, "asend"):
                item = await it.asend(how.sends[n % len(how.sends)] if how.sends else None)
            elif how.mode == "throw" and n >= how.k and hasattr(it, "athrow"):
                item = await it.athrow(run.raised(how.throw))
            else:
                item = await it.__anext__()
        except StopAsyncIteration:
            ev.append(("stop", None))
            return
        except BaseException as exc:
            ev.append(("raise", exc))
            return
        ev.append(("yield", item))
        n += 1
        if how.mode in ("close", "drop") and n >= how.k:
            break
    if how.mode == "close":
        try:
            ev.append(("closed", await it.aclose()))
        except BaseException as exc:
            ev.append(("raise", exc))


def run_async(coro: Any) -> None:
    asyncio.run(coro)


def _check_spans(spans: Any, before_open: int) -> None:
    """At most one span per call, and no stream left open once the caller is done with it
    (a dropped stream ends when its proxy is collected: ``drop`` is checked after ``del``)."""
    assert len(spans.finished()) <= 1, [s.name for s in spans.finished()]
    if streams.open_count() > before_open:
        gc.collect()  # a stream kept alive by a reference cycle (an exception's frames)
    assert streams.open_count() <= before_open


# --- plain ops: sync, async, generators, async generators, returned streams ---------------------


class Plain:
    """One call of a user function: its arguments, and what it does."""

    def __init__(
        self,
        args: list[Any],
        kwargs: dict[str, Any],
        result: Any,
        exc: ExcSpec | None,
        items: list[Any],
        item_exc: ExcSpec | None,
        mutate: Any,
    ) -> None:
        self.args, self.kwargs, self.result, self.exc = args, kwargs, result, exc
        self.items, self.item_exc, self.mutate = items, item_exc, mutate

    def __repr__(self) -> str:
        return "Plain(%d args, kwargs=%s, exc=%r, %d items, item_exc=%r)" % (
            len(self.args), sorted(self.kwargs), self.exc, len(self.items), self.item_exc,
        )  # fmt: skip


plains = st.builds(
    Plain,
    st.lists(odd, max_size=3),
    st.dictionaries(st.sampled_from(["a", "b", "x", "model", "messages", "stream", "self"]), odd, max_size=3),
    odd,
    st.none() | exc_specs,
    st.lists(odd, max_size=5),
    st.none() | exc_specs,
    odd,
)


def _user_effects(p: Plain, run: Run, args: Any, kwargs: Any) -> None:
    run.effects.append(_snapshot(args))
    run.effects.append(_snapshot(kwargs.values()))
    for a in list(args) + list(kwargs.values()):
        if type(a) is list:
            a.append(p.mutate)  # a side effect on the caller's own object


def sync_fn(p: Plain, run: Run) -> Callable[..., Any]:
    def user_function(*args: Any, **kwargs: Any) -> Any:
        _user_effects(p, run, args, kwargs)
        if p.exc is not None:
            raise run.raised(p.exc)
        return p.result

    return user_function


def gen_fn(p: Plain, run: Run) -> Callable[..., Any]:
    def user_generator(*args: Any, **kwargs: Any) -> Any:
        _user_effects(p, run, args, kwargs)
        for item in p.items:
            received = yield item
            run.events.append(("received", received))
        if p.item_exc is not None:
            raise run.raised(p.item_exc)
        return p.result

    return user_generator


def async_fn(p: Plain, run: Run) -> Callable[..., Any]:
    async def user_coroutine(*args: Any, **kwargs: Any) -> Any:
        _user_effects(p, run, args, kwargs)
        await asyncio.sleep(0)
        if p.exc is not None:
            raise run.raised(p.exc)
        return p.result

    return user_coroutine


def agen_fn(p: Plain, run: Run) -> Callable[..., Any]:
    async def user_async_generator(*args: Any, **kwargs: Any) -> Any:
        _user_effects(p, run, args, kwargs)
        for item in p.items:
            received = yield item
            run.events.append(("received", received))
            await asyncio.sleep(0)
        if p.item_exc is not None:
            raise run.raised(p.item_exc)

    return user_async_generator


def _fresh(p: Plain) -> tuple[list[Any], dict[str, Any]]:
    """The same argument objects for both runs, in fresh outer containers (so that one
    run's appends to a list argument are not seen by the other run)."""
    args = [list(a) if type(a) is list else a for a in p.args]
    kwargs = {k: list(v) if type(v) is list else v for k, v in p.kwargs.items()}
    return args, kwargs


def call_and_record(fn: Callable[..., Any], args: list[Any], kwargs: dict[str, Any], run: Run) -> tuple[bool, Any]:
    try:
        result = fn(*args, **kwargs)
    except BaseException as exc:
        run.events.append(("raise", exc))
        return False, None
    return True, result


async def acall_and_record(fn: Callable[..., Any], args: list[Any], kwargs: dict[str, Any], run: Run) -> tuple[bool, Any]:
    try:
        result = await fn(*args, **kwargs)
    except BaseException as exc:
        run.events.append(("raise", exc))
        return False, None
    return True, result


def _accumulator(kind: int) -> Any:
    if kind == 0:
        return None
    if kind == 1:
        return streams.Accumulator(lambda s, c: s + [c], None, list)
    if kind == 2:
        return lambda s, c: c  # the last chunk is the output: an odd object, serialized at the end

    def raising(s: Any, c: Any) -> Any:
        raise Boom("user accumulator")

    return raising


def _after(args: list[Any], kwargs: dict[str, Any], run: Run) -> None:
    run.events.append(("snapshot", _snapshot(args)))
    run.events.append(("snapshot", _snapshot(kwargs.values())))


@sizes
@pytest.mark.parametrize("shape", ["sync", "async", "generator", "async_generator", "returned_stream"])
def test_plain_op_is_invisible(spans: Any, shape: str, n: int) -> None:
    @_profile(n)
    @given(p=plains, how=consumes, acc=st.integers(0, 3))
    def check(p: Plain, how: Consume, acc: int) -> None:
        runs = []
        for traced in (False, True):
            spans.clear()
            before_open = streams.open_count()
            run = Run()
            args, kwargs = _fresh(p)
            if shape == "sync":
                fn = sync_fn(p, run)
                fn = op(fn, accumulator=_accumulator(acc)) if traced else fn
                ok, result = call_and_record(fn, args, kwargs, run)
                if ok:
                    run.events.append(("return", result))
            elif shape == "returned_stream":
                # a function returning an iterator (a generator raising midway) with an accumulator
                g = gen_fn(p, run)

                def returns_stream(*args: Any, **kwargs: Any) -> Any:
                    return g(*args, **kwargs)

                fn = op(returns_stream, accumulator=_accumulator(acc) or list.__add__) if traced else returns_stream
                ok, result = call_and_record(fn, args, kwargs, run)
                if ok:
                    consume_sync(result, how, run)
                    del result
            elif shape == "generator":
                fn = gen_fn(p, run)
                fn = op(fn, accumulator=_accumulator(acc)) if traced else fn
                ok, result = call_and_record(fn, args, kwargs, run)
                if ok:
                    consume_sync(result, how, run)
                    del result
            else:

                async def main() -> None:
                    if shape == "async":
                        fn = async_fn(p, run)
                        fn = op(fn) if traced else fn
                        ok, result = await acall_and_record(fn, args, kwargs, run)
                        if ok:
                            run.events.append(("return", result))
                    else:
                        fn = agen_fn(p, run)
                        fn = op(fn, accumulator=_accumulator(acc)) if traced else fn
                        ok, result = call_and_record(fn, args, kwargs, run)
                        if ok:
                            await consume_async(result, how, run)
                            if how.mode != "drop":
                                return
                            await result.aclose()  # what asyncio.run's shutdown would do, made explicit

                run_async(main())
            _after(args, kwargs, run)
            run.seal()
            if traced:
                _check_spans(spans, before_open)
            runs.append(run)
        assert_same_runs(*runs)

    check()


# --- the GenAI layer with the real vendor extractors and accumulators ---------------------------


class _OpenAIStream(oai_streaming._sdk().stream_types[0]):  # type: ignore[misc,valid-type]
    """An instance of the SDK's own ``Stream`` class, yielding odd chunks."""

    def __init__(self, chunks: Any, run: Run) -> None:  # the SDK's __init__ wants a response
        self._chunks, self._run = chunks, run

    def __next__(self) -> Any:
        return next(self._chunks)

    def __iter__(self) -> Any:
        return self

    def close(self) -> None:
        self._run.events.append(("closed", None))

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *a: Any) -> None:
        self.close()


class _OpenAIAsyncStream(oai_streaming._sdk().stream_types[1]):  # type: ignore[misc,valid-type]
    def __init__(self, chunks: Any, run: Run) -> None:
        self._chunks, self._run = chunks, run

    async def __anext__(self) -> Any:
        return await self._chunks.__anext__()

    def __aiter__(self) -> Any:
        return self

    async def close(self) -> None:
        self._run.events.append(("closed", None))

    aclose = close

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *a: Any) -> None:
        await self.close()


def _same_api(base: type, name: str, module: str | None = None) -> type:
    ns = {k: v for k, v in vars(_OpenAIStream if "Async" not in name else _OpenAIAsyncStream).items()
          if k in ("__init__", "__next__", "__iter__", "close", "__enter__", "__exit__", "__anext__", "__aiter__",
                   "aclose", "__aenter__", "__aexit__")}  # fmt: skip
    cls = type(name, (base,), ns)
    if module:
        cls.__module__ = module
    return cls


_anthropic_stream_types = ant_streaming._stream_classes()
_AnthropicStream = _same_api(_anthropic_stream_types[0], "_AnthropicStream")
_AnthropicAsyncStream = _same_api(_anthropic_stream_types[1], "_AnthropicAsyncAsyncStream")
# Mistral recognises its EventStream classes by name and package.
_MistralStream = _same_api(object, "EventStream", "mistralai.fake")
_MistralAsyncStream = _same_api(object, "EventStreamAsync", "mistralai.fake")


class _Manager:
    """``client.messages.stream(...)``: a context manager that yields the stream."""

    def __init__(self, stream: Any, enter_exc: ExcSpec | None, run: Run) -> None:
        self._stream, self._enter_exc, self._run = stream, enter_exc, run

    def __enter__(self) -> Any:
        if self._enter_exc is not None:
            raise self._run.raised(self._enter_exc)
        return self._stream

    def __exit__(self, *a: Any) -> None:
        self._run.events.append(("exited", None))

    async def __aenter__(self) -> Any:
        return self.__enter__()

    async def __aexit__(self, *a: Any) -> None:
        self.__exit__()


class Vendor:
    def __init__(self, name: str, spec: GenAISpec, stream: Any, astream: Any, manager: bool = False) -> None:
        self.name, self.spec, self.stream, self.astream, self.manager = name, spec, stream, astream, manager

    def __repr__(self) -> str:
        return self.name


def _vendors() -> list[Vendor]:
    O1, O2 = _OpenAIStream, _OpenAIAsyncStream
    A1, A2 = _AnthropicStream, _AnthropicAsyncStream
    M1, M2 = _MistralStream, _MistralAsyncStream
    return [
        Vendor("openai.chat", GenAISpec(oai.ChatExtractor(), oai._CHAT_ACC), O1, O2),
        Vendor("openai.responses", GenAISpec(oai.ResponsesExtractor(), oai._RESPONSES_ACC), O1, O2),
        Vendor("openai.completions", GenAISpec(oai.CompletionsExtractor(), oai._COMPLETION_ACC), O1, O2),
        Vendor("openai.embeddings", GenAISpec(oai.EmbeddingsExtractor(), oai._NO_ACC), O1, O2),
        Vendor("anthropic.create", ant._Spec(ant.MessagesExtractor("create"), ant._RAW_STREAM), A1, A2),
        Vendor("anthropic.stream", ant._Spec(ant.MessagesExtractor("stream"), ant._HELPER_STREAM), A1, A2, True),
        Vendor("mistral.chat", mis.MistralSpec(mis.ChatExtractor(False), None), M1, M2),
        Vendor("mistral.chat.stream", mis.MistralSpec(mis.ChatExtractor(True), mis.STREAM_ACCUMULATOR), M1, M2),
        Vendor("mistral.fim.stream", mis.MistralSpec(mis.FimExtractor(True), mis.STREAM_ACCUMULATOR), M1, M2),
        Vendor("mistral.embeddings", mis.MistralSpec(mis.EmbeddingsExtractor(), None), M1, M2),
    ]


VENDORS = _vendors()

REQUEST_KEYS = (
    "model", "messages", "stream", "tools", "temperature", "max_tokens", "max_completion_tokens", "input", "prompt",
    "instructions", "response_format", "stop", "stop_sequences", "system", "extra_body", "n", "top_p", "top_k",
    "seed", "frequency_penalty", "presence_penalty", "tool_choice", "stream_options", "text", "reasoning",
    "suffix", "encoding_format", "dimensions", "output_format", "thinking",
)  # fmt: skip


class Call:
    """One SDK call: the request, the resource it is made on, and what the "server" does."""

    def __init__(
        self,
        kwargs: dict[str, Any],
        client: Any,
        outcome: str,
        response: Any,
        exc: ExcSpec | None,
        chunks: list[Any],
        chunk_exc: ExcSpec | None,
    ) -> None:
        self.kwargs, self.client, self.outcome, self.response = kwargs, client, outcome, response
        self.exc, self.chunks, self.chunk_exc = exc, chunks, chunk_exc

    def __repr__(self) -> str:
        return "Call(%s, kwargs=%s, %d chunks, exc=%r, chunk_exc=%r)" % (
            self.outcome, sorted(self.kwargs), len(self.chunks), self.exc, self.chunk_exc,
        )  # fmt: skip


_chunk = st.one_of(odd, st.dictionaries(st.sampled_from(FIELDS), odd, max_size=6).map(_shape))
genai_calls = st.builds(
    Call,
    st.dictionaries(st.sampled_from(REQUEST_KEYS), odd, max_size=6),
    odd,
    st.sampled_from(["return", "raise", "stream"]),
    st.one_of(odd, st.dictionaries(st.sampled_from(FIELDS), odd, max_size=8).map(_shape)),
    exc_specs,
    st.lists(_chunk, max_size=6),
    st.none() | exc_specs,
)


class Resource:
    """What an SDK method is bound to (``self._client`` is what extractors read addresses from)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.sdk_configuration = client


def _sync_chunks(c: Call, run: Run) -> Any:
    def chunks() -> Any:
        yield from c.chunks
        if c.chunk_exc is not None:
            raise run.raised(c.chunk_exc)

    return chunks()


def _async_chunks(c: Call, run: Run) -> Any:
    async def chunks() -> Any:
        for chunk in c.chunks:
            await asyncio.sleep(0)
            yield chunk
        if c.chunk_exc is not None:
            raise run.raised(c.chunk_exc)

    return chunks()


def _sdk_method(v: Vendor, c: Call, run: Run, is_async: bool) -> Callable[..., Any]:
    def answer(kwargs: dict[str, Any]) -> Any:
        run.effects.append(_snapshot(kwargs.values()))
        if c.outcome == "raise":
            raise run.raised(c.exc)  # type: ignore[arg-type]
        if c.outcome == "return":
            return c.response
        stream = (v.astream if is_async else v.stream)(_async_chunks(c, run) if is_async else _sync_chunks(c, run), run)
        return _Manager(stream, c.exc if c.response is None else None, run) if v.manager else stream

    if is_async:

        async def create_async(self: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(0)
            return answer(kwargs)

        return create_async

    def create(self: Any, **kwargs: Any) -> Any:
        return answer(kwargs)

    return create


def _consume_genai(result: Any, c: Call, how: Consume, run: Run) -> None:
    if c.outcome == "stream":
        consume_sync(result, how, run)
    else:
        run.events.append(("return", result))


@sizes
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_genai_op_is_invisible(spans: Any, is_async: bool, n: int) -> None:
    @_profile(n, factor=2.5)
    @given(vendor=st.sampled_from(VENDORS), c=genai_calls, how=consumes)
    def check(vendor: Vendor, c: Call, how: Consume) -> None:
        # An iterator-and-context-manager returned by a streaming method is a stream: the
        # agent wraps it by design (the same object would not come back), and the
        # "stream" outcome is where streams are compared.
        assume(not (c.outcome == "return" and vendor.spec.accumulator is not None and type(c.response) is RaisingNext))
        if how.mode in ("send", "throw"):
            how.mode = "exhaust"  # SDK streams have no send/throw
        runs = []
        for traced in (False, True):
            spans.clear()
            before_open = streams.open_count()
            run = Run()
            kwargs = dict(c.kwargs)
            raw = _sdk_method(vendor, c, run, is_async)
            cls = type("Resource", (Resource,), {"create": wrap_with_spec(raw, vendor.spec) if traced else raw})
            resource = cls(c.client)
            if is_async:

                async def main() -> None:
                    ok, result = await acall_and_record(resource.create, [], kwargs, run)
                    if not ok:
                        return
                    if c.outcome != "stream":
                        run.events.append(("return", result))
                        return
                    await consume_async(result, how, run)
                    if how.mode == "drop":
                        await result.aclose() if hasattr(result, "aclose") else None

                run_async(main())
            else:
                ok, result = call_and_record(resource.create, [], kwargs, run)
                if ok:
                    _consume_genai(result, c, how, run)
                del result
            run.events.append(("snapshot", _snapshot(kwargs.values())))
            run.seal()
            if traced:
                _check_spans(spans, before_open)
            runs.append(run)
        assert_same_runs(*runs)

    check()
