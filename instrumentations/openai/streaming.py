"""OpenAI: streams, rebuilt chunk by chunk, and raw responses followed to their end.

The accumulators (chat completion chunks, Responses API events, legacy completion
chunks) and the proxies for ``with_raw_response``/``with_streaming_response`` (see the
docstring of ``openai.py``). Imports nothing from ``extract.py``: the extractors use these,
not the other way round.

Each chunk is read as it passes, before the app gets it, and nothing read keeps a
reference into it: the text and argument pieces are strings, and an object kept whole
(usage, the Responses API's final response) is copied. The app may change the chunk
objects afterwards (LlamaIndex joins the pieces of a streamed tool call *into the first
piece's object*), and the span still records what the SDK yielded.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any

import wrapt

from weave_agent import _log, streams
from weave_agent.export import telemetry
from weave_agent.streams import Accumulator

from ..openai_compatible import join_tool_call_deltas

# --- the SDK's classes, imported on first use ----------------------------------------------


class _SDK:
    """The SDK classes the extractors recognise, imported on first use."""

    loaded = False
    stream_types: tuple[type, ...] = ()
    api_responses: tuple[type, ...] = ()
    legacy: tuple[type, ...] = ()


def _sdk() -> type[_SDK]:
    if not _SDK.loaded:
        from openai._legacy_response import LegacyAPIResponse
        from openai._response import APIResponse, AsyncAPIResponse
        from openai._streaming import AsyncStream, Stream

        _SDK.stream_types = (Stream, AsyncStream)
        _SDK.api_responses = (APIResponse, AsyncAPIResponse)
        _SDK.legacy = (LegacyAPIResponse,)
        _SDK.loaded = True
    return _SDK


def _frozen(value: Any) -> Any:
    """``value`` as it is now (a deep copy: usage and its details, a final response), which
    the app can no longer change; the value itself if it cannot be copied. Once per stream."""
    try:
        return copy.deepcopy(value)
    except Exception:
        return value


# --- chat completions ----------------------------------------------------------------------


class _ChoiceAcc:
    __slots__ = ("text", "refusal", "tools", "finish")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.refusal: list[str] = []
        self.tools: dict[int, list[Any]] = {}  # index -> [id, name, [argument pieces]]
        self.finish: str | None = None


class _ChatAcc:
    """A chat completion rebuilt from ``ChatCompletionChunk``s."""

    __slots__ = ("id", "model", "service_tier", "fingerprint", "usage", "choices", "capture")

    def __init__(self) -> None:
        self.id = self.model = self.service_tier = self.fingerprint = self.usage = None
        self.choices: dict[int, _ChoiceAcc] = {}
        self.capture = telemetry.settings().capture_content != "no_content"


def _chat_step(acc: _ChatAcc, chunk: Any) -> _ChatAcc:
    if acc.id is None:
        acc.id = getattr(chunk, "id", None)
        acc.model = getattr(chunk, "model", None)
    if acc.service_tier is None:  # the same on every chunk: read until one has it
        acc.service_tier = getattr(chunk, "service_tier", None) or None
    if acc.fingerprint is None:
        acc.fingerprint = getattr(chunk, "system_fingerprint", None) or None
    usage = getattr(chunk, "usage", None)
    if usage is not None:
        acc.usage = _frozen(usage)
    for choice in getattr(chunk, "choices", None) or ():
        index = choice.index
        c = acc.choices.get(index)
        if c is None:
            c = acc.choices[index] = _ChoiceAcc()
        reason = choice.finish_reason
        if reason:
            c.finish = reason
        delta = choice.delta
        if delta is None or not acc.capture:
            continue
        text = delta.content
        if text:
            c.text.append(text)
        refusal = getattr(delta, "refusal", None)
        if refusal:
            c.refusal.append(refusal)
        calls = delta.tool_calls
        if calls:
            join_tool_call_deltas(c.tools, calls)
    return acc


def _raw(output: Any) -> Any:
    """The object to read: a non-stream raw ``LegacyAPIResponse`` is parsed (its body is already
    read, and ``parse()`` caches per type: the user's later ``parse()`` gets this very object)."""
    if isinstance(output, _sdk().legacy):
        raw: Any = output  # isinstance against a tuple of types narrows to object
        return None if _is_sse(raw) else raw.parse()
    return output


def _state(call: Any, accumulator: Any, source: Any) -> Any:
    st = streams.StreamState(call, accumulator)
    st.source = source
    return st


def _is_sse(raw: Any) -> bool:
    return raw.headers.get("content-type", "").startswith("text/event-stream")


def _adopt(proxy: Any, parsed: Any) -> Any:
    """What a raw response's ``parse()`` gave: a stream is proxied into the call's state (once:
    ``parse()`` caches, so a second call returns the same proxy); a whole body becomes the
    call's output. Never raises: on an agent error the SDK's object is returned as it is."""
    try:
        st = proxy._self_st
        if isinstance(parsed, _sdk().stream_types):
            current = proxy._self_stream
            if current is not None:
                return current if current.__wrapped__ is parsed else parsed
            if st.done:
                return parsed
            proxy._self_stream = streams.attach(parsed, st)
            return proxy._self_stream
        if not st.done and st.n == 0 and parsed is not None:
            st.state = parsed  # the accumulators' output may be the SDK object itself
    except Exception:
        _log.error_once("openai-raw-parse", "tracing the parse() of an OpenAI raw response failed")
    return parsed


class _RawStreamResponse(wrapt.ObjectProxy):  # type: ignore[misc]
    """``with_raw_response.create(stream=True)``: a ``LegacyAPIResponse`` whose ``parse()``
    returns the stream. The span follows that stream; if ``parse()`` is never called, it ends
    when the raw response is garbage-collected."""

    def __init__(self, wrapped: Any, st: Any) -> None:
        super().__init__(wrapped)
        self._self_st = st
        self._self_stream = None

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        return _adopt(self, self.__wrapped__.parse(*args, **kwargs))

    def __del__(self) -> None:
        try:
            st, adopted = self._self_st, self._self_stream is not None
        except Exception:
            return
        if not adopted and not st.done:
            try:
                st.end(streams.GARBAGE_COLLECTED)
            except Exception:
                pass


class _StreamedResponse(streams.ClosingProxy):
    """``with_streaming_response.create(...)``: an ``APIResponse`` read later by the user and
    closed when the SDK's context manager exits; the span ends then (or when a stream read
    through ``parse()`` ends first). A body read through ``parse()`` is recorded."""

    def __init__(self, wrapped: Any, st: Any) -> None:
        super().__init__(wrapped, st)
        self._self_stream = None

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        result = self.__wrapped__.parse(*args, **kwargs)
        if inspect.isawaitable(result):  # AsyncAPIResponse.parse is a coroutine

            async def parsed() -> Any:
                return _adopt(self, await result)

            return parsed()
        return _adopt(self, result)

    def __del__(self) -> None:
        try:
            adopted = self._self_stream is not None
        except Exception:
            return
        if not adopted:
            super().__del__()


# --- the Responses API ---------------------------------------------------------------------


_RESPONSE_DONE = frozenset(("response.completed", "response.incomplete", "response.failed"))
_RESPONSE_STARTED = frozenset(("response.created", "response.in_progress"))


class _ResponsesAcc:
    """The Responses API stream: the final event's ``response``, or what came before it."""

    __slots__ = ("response", "started", "text", "capture")

    def __init__(self) -> None:
        self.response: Any = None
        self.started: Any = None
        self.text: list[str] = []
        self.capture = telemetry.settings().capture_content != "no_content"


def _responses_step(acc: _ResponsesAcc, event: Any) -> _ResponsesAcc:
    kind = getattr(event, "type", None)
    if kind == "response.output_text.delta":
        if acc.capture:
            acc.text.append(event.delta)
    elif kind in _RESPONSE_DONE:
        acc.response = _frozen(event.response)
    elif kind in _RESPONSE_STARTED:
        acc.started = _frozen(event.response)
    return acc


# --- legacy completions --------------------------------------------------------------------


class _CompletionAcc:
    __slots__ = ("id", "model", "usage", "choices", "capture")

    def __init__(self) -> None:
        self.id = self.model = self.usage = None
        self.choices: dict[int, list[Any]] = {}  # index -> [[text pieces], finish_reason]
        self.capture = telemetry.settings().capture_content != "no_content"


def _completion_step(acc: _CompletionAcc, chunk: Any) -> _CompletionAcc:
    if acc.id is None:
        acc.id = getattr(chunk, "id", None)
        acc.model = getattr(chunk, "model", None)
    usage = getattr(chunk, "usage", None)
    if usage is not None:
        acc.usage = _frozen(usage)
    for choice in getattr(chunk, "choices", None) or ():
        c = acc.choices.get(choice.index)
        if c is None:
            c = acc.choices[choice.index] = [[], None]
        if choice.text and acc.capture:
            c[0].append(choice.text)
        if choice.finish_reason:
            c[1] = choice.finish_reason
    return acc


# --- the accumulators the patcher pairs with each method -----------------------------------


# One chunk at a time (not ``batched``): a chunk is read before the app gets it and can change it.
_CHAT_ACC = Accumulator(_chat_step, None, _ChatAcc)
_RESPONSES_ACC = Accumulator(_responses_step, None, _ResponsesAcc)
_COMPLETION_ACC = Accumulator(_completion_step, None, _CompletionAcc)
_NO_ACC = Accumulator(None)  # embeddings never stream; a streamed raw response still ends on close
