"""Calls become spans: ``op`` and the wrappers behind it.

The work around a call is split in two:

* ``OpSpec`` says *what* to record: the span name and start attributes from the bound
  inputs, the attributes from the output, what an error adds. ``op()`` builds the generic
  spec (inputs/outputs as JSON); instrumentations subclass it (``weave_agent.tracing.genai``).
* The wrappers here say *when*: sync, coroutine, generator and async-generator
  functions, and results that stream (handed to ``weave_agent.tracing.streams``).

Every step the agent adds runs inside ``try``: if one fails, it is logged once per site
and the wrapped call runs or returns exactly as it would without the agent. What the
wrapped function returns or raises is passed through untouched (same object; the
exception re-raised with a bare ``raise``).
"""

from __future__ import annotations

import inspect
import time
import types
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, overload

import wrapt
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from .. import _log, faults
from ..export import telemetry
from . import streams
from .serialize import exception_attributes, to_json
from .streams import Accumulator

# A stream still open at interpreter exit ends with what it had, before the exit flush
# exports: the call module wires the two, so neither the pipeline nor the proxies import
# the other.
telemetry.before_exit(streams.end_all_open)

F = TypeVar("F", bound=Callable[..., Any])

_KINDS = {
    "internal": SpanKind.INTERNAL,
    "client": SpanKind.CLIENT,
    "server": SpanKind.SERVER,
    "producer": SpanKind.PRODUCER,
    "consumer": SpanKind.CONSUMER,
}

_set_span_in_context = trace.set_span_in_context
_attach = otel_context.attach
_get_value = otel_context.get_value

# "One model call, one LLM span" across instrumentations: a gateway (LiteLLM) that calls an
# SDK we also instrument (the OpenAI SDK for its OpenAI and Azure routes) records the model
# call itself, and the SDK's spans started inside it step aside (the call runs untraced).
# Set in the context while a span whose spec ``owns_model_call`` is current, or by
# ``owned_model_call()`` around a call the gateway leaves to a tracer of its own.
MODEL_CALL_OWNED = otel_context.create_key("weave_agent.model_call_owned")
_detach = otel_context.detach
_perf_counter = time.perf_counter
_CoroutineType = types.CoroutineType


def _kind(kind: SpanKind | str | None) -> SpanKind:
    if kind is None:
        return SpanKind.INTERNAL
    if isinstance(kind, SpanKind):
        return kind
    try:
        return _KINDS[str(kind).lower()]
    except KeyError:
        raise ValueError("op(kind=...) accepts a SpanKind or one of %s, got %r" % (", ".join(_KINDS), kind)) from None


class Call:
    """One traced call in flight: what the spec needs to finish the span."""

    __slots__ = ("spec", "span", "inputs", "started", "meta")

    def __init__(self, spec: OpSpec, span: Any, inputs: dict[str, Any], started: float, meta: Any = None) -> None:
        self.spec = spec
        self.span = span
        self.inputs = inputs
        self.started = started
        self.meta = meta  # what the spec's start() wants to keep for on_end()

    def finish(self, output: Any) -> None:
        """End the span with ``output``: spec attributes, then ``span.end()``, exactly once."""
        span = self.span
        try:
            self.spec.on_end(self, output)
        except Exception:
            _log.error_once("op-end:" + self.spec.name, "recording the result of %s failed", self.spec.name)
        span.end()

    def fail(self, exc: BaseException, output: Any = None) -> None:
        span = self.span
        try:
            error_type = self.spec.error_type(exc)
            span.set_attribute("error.type", error_type)
            description, exc_attributes = exception_attributes(exc)  # secret shapes removed
            span.record_exception(exc, exc_attributes)
            span.set_status(Status(StatusCode.ERROR, description))
            self.spec.on_error(self, exc, error_type, output)
        except Exception:
            _log.error_once("op-error:" + self.spec.name, "recording the error of %s failed", self.spec.name)
        span.end()


class _Binder:
    """Inputs by parameter name, from a signature read once per function."""

    __slots__ = ("names", "varargs", "fn", "ready")

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.names: tuple[str, ...] = ()
        self.varargs = "args"
        self.ready = False

    def _read(self) -> None:
        names = []
        try:
            for p in inspect.signature(self.fn).parameters.values():
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                    names.append(p.name)
                elif p.kind is p.VAR_POSITIONAL:
                    self.varargs = p.name
        except (TypeError, ValueError):
            pass  # builtins without a signature: positional inputs become "args"
        self.names = tuple(names)
        self.ready = True

    def bind(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        if not self.ready:
            self._read()
        if args:
            names = self.names[1:] if instance is not None and self.names else self.names
            inputs = dict(zip(names, args, strict=False))
            if len(args) > len(names):
                inputs[self.varargs] = list(args[len(names) :])
            if kwargs:
                inputs.update(kwargs)
            return inputs
        return dict(kwargs)


class OpSpec:
    """What to record around a call. Subclass and override the ``on_*`` hooks.

    ``start`` returns the span name and the attributes set when the span starts (samplers
    read them); ``on_end`` adds attributes from the output (for a stream: from what the
    accumulator produced); ``on_error`` adds what an exception means. Each runs inside the
    agent's safety boundary.
    """

    kind: SpanKind = SpanKind.INTERNAL
    accumulator: Accumulator | None = None
    # A gateway's spec: SDK calls made while its span is current record no span of their own.
    owns_model_call = False
    # An SDK's spec: no span inside a call a gateway owns (the gateway's span records it).
    yields_to_owner = False

    def __init__(self, name: str, kind: SpanKind | str | None = None, accumulator: Any = None) -> None:
        self.name = name
        self.kind = _kind(kind)
        self.accumulator = Accumulator.coerce(accumulator)

    def start(self, inputs: dict[str, Any], instance: Any = None) -> tuple[str, Mapping[str, Any] | None, Any]:
        """Span name, start attributes, and what ``on_end`` will need (``call.meta``).
        ``instance`` is the bound object (for an SDK method, the resource that knows its
        client), never recorded as an input."""
        return self.name, None, None


    def on_end(self, call: Call, output: Any) -> None:
        pass

    def on_error(self, call: Call, exc: BaseException, error_type: str, output: Any) -> None:
        pass

    def error_type(self, exc: BaseException) -> str:
        return type(exc).__qualname__

    def is_stream(self, inputs: dict[str, Any], result: Any) -> bool:
        """Whether ``result`` is a stream to accumulate (only asked when there is an accumulator)."""
        return streams.looks_like_stream(result)

    def wrap_stream(self, result: Any, call: Call) -> Any:
        """The object returned in place of a ``result`` that ``is_stream`` accepted: by default
        the agent's transparent stream proxies (``weave_agent.tracing.streams.wrap``)."""
        return streams.wrap(result, call, self.accumulator)


class GenericSpec(OpSpec):
    """The spec ``op()`` builds: inputs and output as JSON (``input.value``/``output.value``)."""

    def __init__(
        self,
        name: str,
        qualname: str,
        kind: SpanKind | str | None,
        postprocess_inputs: Callable[[dict[str, Any]], Any] | None,
        postprocess_output: Callable[[Any], Any] | None,
        accumulator: Any,
        attributes: Mapping[str, Any] | None,
    ) -> None:
        super().__init__(name, kind, accumulator)
        self.postprocess_inputs = postprocess_inputs
        self.postprocess_output = postprocess_output
        base = {"code.function.name": qualname}
        if attributes:
            base.update(attributes)
        self.attributes = base

    def start(self, inputs: dict[str, Any], instance: Any = None) -> tuple[str, Mapping[str, Any] | None, Any]:
        if faults.ON:
            faults.fire("op.start")
        s = telemetry.settings()
        if s.capture_content == "no_content":
            return self.name, self.attributes, None
        attrs = dict(self.attributes)
        value = self.postprocess_inputs(inputs) if self.postprocess_inputs is not None else inputs
        attrs["input.value"] = to_json(value, s.max_value_size)
        attrs["input.mime_type"] = "application/json"
        return self.name, attrs, None

    def on_end(self, call: Call, output: Any) -> None:
        if faults.ON:
            faults.fire("op.end")
        s = telemetry.settings()
        if s.capture_content == "no_content":
            return
        value = self.postprocess_output(output) if self.postprocess_output is not None else output
        call.span.set_attributes(
            {"output.value": to_json(value, s.max_value_size), "output.mime_type": "application/json"}
        )

    def on_error(self, call: Call, exc: BaseException, error_type: str, output: Any) -> None:
        if output is not None:  # what a stream produced before it failed
            self.on_end(call, output)


# --- the wrappers -----------------------------------------------------------------


def _begin(spec: OpSpec, binder: _Binder, instance: Any, args: Any, kwargs: Any) -> Call | None:
    """Start the span; None if the agent failed or a gateway's span already records this
    model call (the caller then runs the call bare)."""
    if spec.yields_to_owner and _get_value(MODEL_CALL_OWNED):
        return None
    try:
        inputs = binder.bind(instance, args, kwargs)
        name, attributes, meta = spec.start(inputs, instance)
        span = telemetry.tracer().start_span(name, kind=spec.kind, attributes=attributes)
        return Call(spec, span, inputs, _perf_counter(), meta)
    except Exception:
        _log.error_once("op-start:" + spec.name, "starting the span of %s failed; the call runs untraced", spec.name)
        return None


def _current(call: Call) -> Any:
    """The context the call runs in: its span current (and, for a gateway, the model call owned)."""
    ctx = _set_span_in_context(call.span)
    if call.spec.owns_model_call:
        ctx = otel_context.set_value(MODEL_CALL_OWNED, True, ctx)
    return ctx


def owned_model_call() -> Any:
    """Attach a context in which SDK spans step aside (a gateway calling through untraced
    because a tracer of its own records the call); ``otel_context.detach`` the token."""
    return _attach(otel_context.set_value(MODEL_CALL_OWNED, True))


def _complete(call: Call, result: Any) -> Any:
    """Finish a call that returned: wrap a stream, or end the span now."""
    spec = call.spec
    if spec.accumulator is not None:
        try:
            if spec.is_stream(call.inputs, result):
                return spec.wrap_stream(result, call)
        except Exception:
            _log.error_once("op-stream:" + spec.name, "wrapping the stream of %s failed", spec.name)
    call.finish(result)
    return result


def _sync_wrapper(spec: OpSpec, binder: _Binder) -> Callable[..., Any]:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        call = _begin(spec, binder, instance, args, kwargs)
        if call is None:
            return wrapped(*args, **kwargs)
        token = _attach(_current(call))
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            _detach(token)
            call.fail(exc)
            raise
        _detach(token)
        if type(result) is _CoroutineType:
            # An ``async def`` under a plain decorator (SDKs' argument checkers): the
            # call happens when the coroutine is awaited, so the span waits for it.
            return _await_coroutine(call, result)
        return _complete(call, result)

    return wrapper


async def _await_coroutine(call: Call, coro: Any) -> Any:
    token = _attach(_current(call))
    try:
        result = await coro
    except BaseException as exc:
        _detach(token)
        call.fail(exc)
        raise
    _detach(token)
    return _complete(call, result)


def _async_wrapper(spec: OpSpec, binder: _Binder) -> Callable[..., Any]:
    # The span starts when the coroutine is awaited, in the awaiting task's context; a
    # coroutine that is never awaited makes no span and leaves nothing open.
    async def wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        call = _begin(spec, binder, instance, args, kwargs)
        if call is None:
            return await wrapped(*args, **kwargs)
        token = _attach(_current(call))
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            _detach(token)
            call.fail(exc)
            raise
        _detach(token)
        return _complete(call, result)

    return wrapper


def _generator_wrapper(spec: OpSpec, binder: _Binder, is_async: bool) -> Callable[..., Any]:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        call = _begin(spec, binder, instance, args, kwargs)
        if call is None:
            return wrapped(*args, **kwargs)
        try:
            gen = wrapped(*args, **kwargs)
        except BaseException as exc:
            call.fail(exc)
            raise
        try:
            return streams.wrap_generator(gen, call, spec.accumulator, is_async)
        except Exception:
            _log.error_once("op-gen:" + spec.name, "wrapping the generator of %s failed", spec.name)
            call.finish(None)
            return gen

    return wrapper


def _unwrap_descriptor(fn: Any) -> Any:
    return fn.__func__ if isinstance(fn, (staticmethod, classmethod)) else fn


def wrap_with_spec(fn: Any, spec: OpSpec) -> Any:
    """Wrap ``fn`` (function, method, staticmethod or classmethod) so each call is traced by ``spec``."""
    target = _unwrap_descriptor(fn)
    binder = _Binder(target)
    if inspect.isasyncgenfunction(target):
        wrapper = _generator_wrapper(spec, binder, is_async=True)
    elif inspect.isgeneratorfunction(target):
        wrapper = _generator_wrapper(spec, binder, is_async=False)
    elif inspect.iscoroutinefunction(target):
        wrapper = _async_wrapper(spec, binder)
    else:
        wrapper = _sync_wrapper(spec, binder)
    wrapped = _OpWrapper(fn, wrapper)
    return wrapped


class _BoundOpWrapper(wrapt.BoundFunctionWrapper):  # type: ignore[misc]
    """``obj.method`` (or ``Class.method``) of a traced method pickles as a bound method
    does: by reference to the object and the name (wrapt's proxies refuse to pickle)."""

    def __reduce_ex__(self, protocol: Any) -> Any:
        owner = self._self_instance if self._self_instance is not None else self._self_owner
        return getattr, (owner, self.__name__)


class _OpWrapper(wrapt.FunctionWrapper):  # type: ignore[misc]
    """A traced function pickles by reference, like the function it replaces, so that an
    ``@op`` function can still be sent to a ``multiprocessing`` pool or ``ProcessPoolExecutor``
    (the receiving process imports it, and gets the traced one)."""

    __bound_function_wrapper__ = _BoundOpWrapper

    def __reduce_ex__(self, protocol: Any) -> Any:
        # A string means "the global of this name in the object's ``__module__``" (the
        # wrapped function's): pickle looks it up and checks it is this very wrapper.
        return self.__qualname__


@overload
def op(fn: F) -> F: ...


@overload
def op(
    fn: None = None,
    *,
    name: str | None = None,
    kind: SpanKind | str | None = None,
    postprocess_inputs: Callable[[dict[str, Any]], Any] | None = None,
    postprocess_output: Callable[[Any], Any] | None = None,
    accumulator: Any = None,
    attributes: Mapping[str, Any] | None = None,
) -> Callable[[F], F]: ...


def op(
    fn: Any = None,
    *,
    name: str | None = None,
    kind: SpanKind | str | None = None,
    postprocess_inputs: Callable[[dict[str, Any]], Any] | None = None,
    postprocess_output: Callable[[Any], Any] | None = None,
    accumulator: Any = None,
    attributes: Mapping[str, Any] | None = None,
) -> Any:
    """Trace each call of ``fn`` as one span; usable as ``@op``, ``@op(...)`` and as a
    ``SymbolPatcher``'s ``make_new_value``.

    ``accumulator`` (a ``(state, chunk) -> state`` callable or an ``Accumulator``) makes a
    returned stream (iterator, async iterator, or a context manager yielding one) a
    transparent proxy whose span ends when the stream ends, however it ends.
    ``postprocess_inputs``/``postprocess_output`` choose what is recorded; ``attributes``
    are added to every span.
    """
    _kind(kind)  # fail at decoration time on a bad kind

    def decorate(f: Any) -> Any:
        target = _unwrap_descriptor(f)
        if not callable(target):
            raise TypeError("op() wraps functions and methods, got %r" % (f,))
        qualname = getattr(target, "__qualname__", None) or getattr(target, "__name__", None) or repr(target)
        spec = GenericSpec(
            name or qualname, qualname, kind, postprocess_inputs, postprocess_output, accumulator, attributes
        )
        return wrap_with_spec(f, spec)

    if fn is not None:
        return decorate(fn)
    return decorate
