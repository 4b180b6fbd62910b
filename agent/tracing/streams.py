"""Streams: transparent proxies whose span ends exactly once, however the stream ends.

A traced call that returns a stream hands its span to a ``StreamState``; the proxy around
the stream feeds chunks to the accumulator and ends the span when the stream is
exhausted, closed, left through ``with``, raises, is cancelled, is garbage-collected
unconsumed, or is still open at interpreter exit (``end_all_open``).

The proxies are ``wrapt.ObjectProxy``: attribute access, ``isinstance`` against the
SDK's stream class, ``with`` and ``close()`` keep working. The span is never made current
between chunks (no "Failed to detach context", no wrong parents), except for *generator
functions* decorated with ``op``, whose body is the call and runs under its span at each
step. Per chunk the proxy does one call to the inner iterator, one to the accumulator,
and nothing else: no span work. A stream whose spec asks for chunk times (``chunk_times``:
a GenAI call with metrics on) also reads the clock once per chunk into an array, which the
spec turns into metric points when the stream has ended.
"""

from __future__ import annotations

import sys
import time
from array import array
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import wrapt
from opentelemetry import context as otel_context
from opentelemetry import trace

from .. import _log, faults

if TYPE_CHECKING:
    from typing import Protocol

    class Call(Protocol):
        """What a stream needs of the call whose span it ends (``calls.Call`` is one).

        Written as a protocol so that the proxies never import the call module: the call
        module wraps results in streams, and the arrow goes one way only."""

        spec: Any
        span: Any
        started: float

        def finish(self, output: Any) -> None: ...

        def fail(self, exc: BaseException, output: Any = None) -> None: ...

_perf_counter = time.perf_counter

# Stream end reasons, recorded as weave_agent.stream.end_reason.
EXHAUSTED = "exhausted"
CLOSED = "closed"
EXITED = "exited"
ERROR = "error"
GARBAGE_COLLECTED = "garbage_collected"
INTERPRETER_EXIT = "interpreter_exit"


class Accumulator:
    """``step(state, chunk) -> state`` plus an optional ``finish(state) -> output``.

    ``initial`` is the first state, or a zero-argument callable making it (use one for a
    mutable state: each stream needs its own).

    ``batched=True`` lets the stream hand chunks to ``step`` several at a time (see
    ``StreamState.accumulate``), after the app has had them: only for chunks nobody can
    change once yielded. An SDK's chunk objects are the app's to change (LlamaIndex joins
    a streamed tool call's pieces into the first piece's object), and an app's generator
    may yield one object it changes between yields: the default, one chunk at a time,
    reads each chunk before the app gets it, and a step must keep no reference into it.
    """

    __slots__ = ("step", "finish", "initial", "batched")

    def __init__(
        self,
        step: Callable[[Any, Any], Any] | None,
        finish: Callable[[Any], Any] | None = None,
        initial: Any = None,
        batched: bool = False,
    ) -> None:
        self.step = step
        self.finish = finish
        self.initial = initial
        self.batched = batched

    def first_state(self) -> Any:
        return self.initial() if callable(self.initial) else self.initial

    @classmethod
    def coerce(cls, value: Any) -> Accumulator | None:
        if value is None or isinstance(value, Accumulator):
            return value
        if callable(value):
            return cls(value)
        raise TypeError("accumulator must be an Accumulator or a (state, chunk) -> state callable, got %r" % (value,))


_open: dict[int, StreamState] = {}

# Chunks accumulated at a time (``StreamState.accumulate``): enough to run the accumulator
# warm, few enough that holding them costs nothing noticeable.
BATCH = 32


class StreamState:
    """The accumulation of one stream and the span it will end."""

    __slots__ = ("call", "step", "finish", "state", "_n", "_first", "times", "stamp", "done", "source", "ctx",
                 "pending", "batch", "__weakref__")

    def __init__(self, call: Call, accumulator: Accumulator | None) -> None:
        self.call = call
        self.step = accumulator.step if accumulator is not None else None
        self.finish = accumulator.finish if accumulator is not None else None
        self.state = accumulator.first_state() if accumulator is not None else None
        self._n = 0
        self._first = 0.0
        # When the spec wants them: the time each chunk arrived (``perf_counter``; 8 bytes a
        # chunk, for GenAI calls only), and the bound ``append`` the per-chunk path calls
        # (it then keeps no other count).
        self.times: array[float] | None = array("d") if getattr(call.spec, "chunk_times", False) else None
        self.stamp: Callable[[float], None] | None = self.times.append if self.times is not None else None
        self.done = False
        self.source: Any = None  # the SDK's stream object, for specs that read its snapshot
        self.ctx: Any = None
        self.pending: list[Any] = []  # chunks the accumulator has not seen yet (see ``accumulate``)
        self.batch = BATCH if accumulator is not None and accumulator.batched else 1
        _open[id(self)] = self

    @property
    def n(self) -> int:
        """Chunks seen so far."""
        times = self.times
        return self._n if times is None else len(times)

    @property
    def first(self) -> float:
        """When the first chunk arrived (``perf_counter``; 0.0 before it)."""
        times = self.times
        return self._first if times is None or not times else times[0]

    def add(self, chunk: Any) -> None:
        """The per-chunk path (also inlined in the proxies' ``__next__``)."""
        stamp = self.stamp
        if stamp is not None:
            stamp(_perf_counter())
        else:
            n = self._n
            if n == 0:
                self._first = _perf_counter()
            self._n = n + 1
        if self.step is not None:
            pending = self.pending
            pending.append(chunk)
            if len(pending) >= self.batch:
                self.accumulate()

    def accumulate(self) -> None:
        """Run the accumulator over the chunks that wait for it.

        With a ``batched`` accumulator, chunks are accumulated ``BATCH`` at a time, not
        one by one: between two chunks
        the SDK parses the next one (tens of µs of its own code and data), which evicts
        the accumulator's from the CPU caches, and a step run cold cost several times
        what the same step costs in a loop. The span sees every chunk all the same: the
        stream's end accumulates what is left before it reads the output."""
        pending = self.pending
        if not pending:
            return
        step = self.step
        state = self.state
        try:
            if step is not None:
                for chunk in pending:
                    if faults.ON:
                        faults.fire("accumulator.step")
                    state = step(state, chunk)
                self.state = state
        except Exception:
            self.step_failed()
        finally:
            pending.clear()

    def step_failed(self) -> None:
        self.step = None
        self.finish = None
        self.state = None
        name = self.call.spec.name
        _log.error_once("accumulate:" + name, "the stream accumulator of %s failed; its output is not recorded", name)

    def end(self, reason: str, exc: BaseException | None = None) -> None:
        if self.done:
            return
        self.done = True
        _open.pop(id(self), None)
        call = self.call
        output = None
        self.accumulate()
        try:
            if faults.ON:
                faults.fire("accumulator.finish")
            output = self.finish(self.state) if self.finish is not None else self.state
        except Exception:
            _log.error_once("accumulate-finish:" + call.spec.name, "finishing the stream output of %s failed", call.spec.name)
        try:
            attrs: dict[str, Any] = {
                "weave_agent.stream.end_reason": reason,
                "weave_agent.stream.complete": reason == EXHAUSTED,
                "weave_agent.stream.chunks": self.n,
            }
            if self.n:
                attrs["weave_agent.stream.time_to_first_chunk"] = self.first - call.started
            call.span.set_attributes(attrs)
            on_stream = getattr(call.spec, "on_stream_end", None)
            if on_stream is not None:
                on_stream(call, self, reason)
        except Exception:
            _log.error_once("stream-end:" + call.spec.name, "recording the end of the stream of %s failed", call.spec.name)
        if exc is not None:
            call.fail(exc, output)
        else:
            call.finish(output)


def end_all_open(reason: str = INTERPRETER_EXIT) -> int:
    """End the span of every stream still open (at exit); returns how many."""
    states = list(_open.values())
    for st in states:
        try:
            st.end(reason)
        except Exception:
            pass
    return len(states)


def open_count() -> int:
    return len(_open)


def _is_stream_class(cls: type) -> bool:
    return hasattr(cls, "__next__") or hasattr(cls, "__anext__")


def looks_like_stream(result: Any) -> bool:
    """An iterator, an async iterator, or a context manager (that will yield one)."""
    cls = type(result)
    return _is_stream_class(cls) or hasattr(cls, "__enter__") or hasattr(cls, "__aenter__")


def wrap(result: Any, call: Call, accumulator: Accumulator | None) -> Any:
    """A transparent proxy around the stream ``result`` that ends ``call``'s span once."""
    return attach(result, StreamState(call, accumulator))


def attach(result: Any, st: StreamState) -> Any:
    """The proxy for ``result`` feeding ``st``. Instrumentations whose SDK hands the stream
    out later (a raw response's ``parse()``) create the ``StreamState`` at the call and
    attach the stream when it appears."""
    st.source = result
    cls = type(result)
    if hasattr(cls, "__next__") or (hasattr(cls, "__iter__") and not hasattr(cls, "__enter__") and not hasattr(cls, "__aiter__")):
        return StreamProxy(result, st)
    if hasattr(cls, "__anext__") or hasattr(cls, "__aiter__"):
        return AsyncStreamProxy(result, st)
    if hasattr(cls, "__enter__"):
        return ManagerProxy(result, st)
    if hasattr(cls, "__aenter__"):
        return AsyncManagerProxy(result, st)
    if hasattr(cls, "close"):
        return ClosingProxy(result, st)
    st.end(EXHAUSTED)
    return result


def wrap_generator(gen: Any, call: Call, accumulator: Accumulator | None, is_async: bool) -> Any:
    st = StreamState(call, accumulator)
    st.ctx = trace.set_span_in_context(call.span)
    return AsyncGeneratorProxy(gen, st) if is_async else GeneratorProxy(gen, st)


class _Proxy(wrapt.ObjectProxy):  # type: ignore[misc]
    """What every stream proxy shares: its ``StreamState``, and ending the span when the
    proxy is garbage-collected before the stream ended."""

    # A manager that handed its stream out (``__enter__``) no longer owns the span: the app
    # may drop the manager and keep reading the stream (``s = mgr.__enter__()``).
    _self_handed_off = False

    def __init__(self, wrapped: Any, st: StreamState) -> None:
        super().__init__(wrapped)
        self._self_st = st

    def __del__(self) -> None:
        try:
            st = self._self_st
        except Exception:
            return
        if not st.done and not self._self_handed_off:
            try:
                st.end(GARBAGE_COLLECTED)
            except Exception:
                pass


def _close_then_end(method: Callable[[], Any], st: StreamState) -> Any:
    """Call the SDK's ``close``/``aclose``; end the span when it has closed (after the
    await, if it returned a coroutine)."""
    try:
        result = method()
    except BaseException as exc:
        st.end(CLOSED, exc)  # the span records what close() raised
        raise
    if hasattr(result, "__await__"):

        async def awaiting() -> Any:
            try:
                closed = await result
            except BaseException as exc:
                st.end(CLOSED, exc)
                raise
            st.end(CLOSED)
            return closed

        return awaiting()
    st.end(CLOSED)
    return result


def _not_a_manager(wrapped: Any, kind: str) -> Exception:
    """What ``with`` raises for the wrapped stream itself when it is no context manager (a
    generator): the proxy has the methods, and the app must see what this Python raises
    without it (a TypeError; before 3.11, an AttributeError naming the method)."""
    if sys.version_info < (3, 11):
        return AttributeError("__aenter__" if kind else "__enter__")
    return TypeError("%r object does not support the %scontext manager protocol" % (type(wrapped).__name__, kind))


class StreamProxy(_Proxy):
    """A sync iterator (also usable with ``with``)."""

    def __init__(self, wrapped: Any, st: StreamState) -> None:
        super().__init__(wrapped, st)
        self._self_next = wrapped.__next__ if hasattr(type(wrapped), "__next__") else iter(wrapped).__next__

    def __iter__(self) -> Any:
        return self

    def __next__(self) -> Any:
        st = self._self_st
        try:
            chunk = self._self_next()
        except StopIteration:
            st.end(EXHAUSTED)
            raise
        except BaseException as exc:
            st.end(ERROR, exc)
            raise
        stamp = st.stamp
        if stamp is not None:
            stamp(_perf_counter())
        else:
            n = st._n
            if n == 0:
                st._first = _perf_counter()
            st._n = n + 1
        if st.step is not None:
            pending = st.pending
            pending.append(chunk)
            if len(pending) >= st.batch:
                st.accumulate()
        return chunk

    def close(self) -> Any:
        return _close_then_end(self.__wrapped__.close, self._self_st)

    def __enter__(self) -> Any:
        if not hasattr(type(self.__wrapped__), "__enter__"):
            raise _not_a_manager(self.__wrapped__, "")
        entered = self.__wrapped__.__enter__()
        return self if entered is self.__wrapped__ else entered

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(exc_type, exc, tb)
        finally:
            self._self_st.end(EXITED)


class AsyncStreamProxy(_Proxy):
    """An async iterator (also usable with ``async with``)."""

    def __init__(self, wrapped: Any, st: StreamState) -> None:
        super().__init__(wrapped, st)
        self._self_anext = wrapped.__anext__ if hasattr(type(wrapped), "__anext__") else wrapped.__aiter__().__anext__

    def __aiter__(self) -> Any:
        return self

    async def __anext__(self) -> Any:
        st = self._self_st
        try:
            chunk = await self._self_anext()
        except StopAsyncIteration:
            st.end(EXHAUSTED)
            raise
        except BaseException as exc:
            st.end(ERROR, exc)
            raise
        stamp = st.stamp
        if stamp is not None:
            stamp(_perf_counter())
        else:
            n = st._n
            if n == 0:
                st._first = _perf_counter()
            st._n = n + 1
        if st.step is not None:
            pending = st.pending
            pending.append(chunk)
            if len(pending) >= st.batch:
                st.accumulate()
        return chunk

    def close(self) -> Any:
        return _close_then_end(self.__wrapped__.close, self._self_st)

    def aclose(self) -> Any:
        return _close_then_end(self.__wrapped__.aclose, self._self_st)

    async def __aenter__(self) -> Any:
        if not hasattr(type(self.__wrapped__), "__aenter__"):
            raise _not_a_manager(self.__wrapped__, "asynchronous ")
        entered = await self.__wrapped__.__aenter__()
        return self if entered is self.__wrapped__ else entered

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            self._self_st.end(EXITED)


class ManagerProxy(_Proxy):
    """A context manager that yields the stream (``client.messages.stream(...)``).

    The entered stream is proxied too, so that chunks read through it accumulate; the
    span ends when the manager exits (or when that stream ends first).
    """

    def __enter__(self) -> Any:
        st = self._self_st
        # SDK stream helpers send the request here: under the call's span, so that HTTP
        # spans and the propagated trace context have it as their parent.
        token = otel_context.attach(trace.set_span_in_context(st.call.span))
        try:
            entered = self.__wrapped__.__enter__()
        except BaseException as exc:
            otel_context.detach(token)
            st.end(ERROR, exc)
            raise
        otel_context.detach(token)
        st.source = entered
        if hasattr(type(entered), "__next__") or hasattr(type(entered), "__iter__"):
            self._self_handed_off = True
            return StreamProxy(entered, st)
        return entered

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(exc_type, exc, tb)
        finally:
            self._self_st.end(EXITED)


class AsyncManagerProxy(_Proxy):
    """``async with client.messages.stream(...) as stream``."""

    async def __aenter__(self) -> Any:
        st = self._self_st
        token = otel_context.attach(trace.set_span_in_context(st.call.span))
        try:
            entered = await self.__wrapped__.__aenter__()
        except BaseException as exc:
            otel_context.detach(token)
            st.end(ERROR, exc)
            raise
        otel_context.detach(token)
        st.source = entered
        if hasattr(type(entered), "__anext__") or hasattr(type(entered), "__aiter__"):
            self._self_handed_off = True
            return AsyncStreamProxy(entered, st)
        return entered

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            self._self_st.end(EXITED)


class ClosingProxy(_Proxy):
    """A result that is read later and then closed, not iterated (a raw HTTP response
    returned inside a context manager that closes it on exit). The span ends when
    ``close()`` returns (awaited, if it is a coroutine), or when it is garbage-collected."""

    def close(self) -> Any:
        return _close_then_end(self.__wrapped__.close, self._self_st)


_attach = otel_context.attach
_detach = otel_context.detach


class GeneratorProxy(StreamProxy):
    """A generator function's generator: each step runs under the call's span."""

    def __next__(self) -> Any:
        return self.send(None)

    def send(self, value: Any) -> Any:
        st = self._self_st
        token = _attach(st.ctx)
        try:
            chunk = self.__wrapped__.send(value)
        except StopIteration:
            _detach(token)
            st.end(EXHAUSTED)
            raise
        except BaseException as exc:
            _detach(token)
            st.end(ERROR, exc)
            raise
        _detach(token)
        st.add(chunk)
        return chunk

    def throw(self, *args: Any) -> Any:
        st = self._self_st
        token = _attach(st.ctx)
        try:
            chunk = self.__wrapped__.throw(*args)
        except StopIteration:
            _detach(token)
            st.end(EXHAUSTED)
            raise
        except BaseException as exc:
            _detach(token)
            st.end(ERROR, exc)
            raise
        _detach(token)
        st.add(chunk)
        return chunk

    def close(self) -> Any:
        st = self._self_st
        token = _attach(st.ctx)
        try:
            return self.__wrapped__.close()
        finally:
            _detach(token)
            st.end(CLOSED)


class AsyncGeneratorProxy(AsyncStreamProxy):
    """An async generator function's generator: each step runs under the call's span."""

    async def __anext__(self) -> Any:
        return await self.asend(None)

    async def asend(self, value: Any) -> Any:
        st = self._self_st
        token = _attach(st.ctx)
        try:
            chunk = await self.__wrapped__.asend(value)
        except StopAsyncIteration:
            _detach(token)
            st.end(EXHAUSTED)
            raise
        except BaseException as exc:
            _detach(token)
            st.end(ERROR, exc)
            raise
        _detach(token)
        st.add(chunk)
        return chunk

    async def athrow(self, *args: Any) -> Any:
        st = self._self_st
        token = _attach(st.ctx)
        try:
            chunk = await self.__wrapped__.athrow(*args)
        except StopAsyncIteration:
            _detach(token)
            st.end(EXHAUSTED)
            raise
        except BaseException as exc:
            _detach(token)
            st.end(ERROR, exc)
            raise
        _detach(token)
        st.add(chunk)
        return chunk

    async def aclose(self) -> Any:
        st = self._self_st
        try:
            return await self.__wrapped__.aclose()
        finally:
            st.end(CLOSED)
