"""The Cohere stream accumulators: what the events of ``chat_stream`` add up to.

v2 (``V2Client.chat_stream``, checked on cohere 7.3.1): typed events, in order
``message-start`` (``id``), then per content block ``content-start`` / ``content-delta``
(``delta.message.content.text`` or ``.thinking``) / ``content-end``, ``tool-plan-delta``
(``delta.message.tool_plan``), per tool call ``tool-call-start`` (``delta.message.tool_calls``
with ``id`` and ``function.name``) / ``tool-call-delta`` (argument pieces) /
``tool-call-end``, citations, and ``message-end`` (``delta.finish_reason``,
``delta.usage``). Usage is on ``message-end`` only.

v1 (``BaseCohere.chat_stream``): ``stream-start`` (``generation_id``),
``text-generation`` (``text``), ``tool-calls-generation``, ``stream-end`` whose
``response`` is the whole ``NonStreamedChatResponse`` (usage in ``meta``).

The step runs once per event, on the consumer's thread, before the app sees it: a few
attribute reads and appends; it keeps strings and numbers only (never a reference into
an event the app may change). Imports nothing of this folder.
"""

from __future__ import annotations

from typing import Any

from weave_agent.export import telemetry
from weave_agent.streams import Accumulator


def _f(obj: Any, name: str) -> Any:
    """A field of an event part: a model, or a dict where the SDK release does not know the
    part (cohere 5.x types tool-call deltas as ``delta.tool_call`` and keeps today's
    ``delta.message`` as a plain dict)."""
    if obj is None:
        return None
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _usage_numbers(usage: Any) -> tuple[Any, ...] | None:
    """(tokens in, tokens out, billed in, billed out, cached) as sent; floats stay floats here.
    ``usage`` is a ``Usage``/``ApiMeta``, or a dict (the ``meta`` the Bedrock client adds to a
    v2 answer, which the v2 type does not declare)."""
    if usage is None:
        return None
    tokens = _f(usage, "tokens")
    billed = _f(usage, "billed_units")
    return (
        _f(tokens, "input_tokens"),
        _f(tokens, "output_tokens"),
        _f(billed, "input_tokens"),
        _f(billed, "output_tokens"),
        _f(usage, "cached_tokens"),
    )


class V2ChatStream:
    """One v2 chat answer, rebuilt from its events. With ``capture`` off only the
    metadata is kept (id, finish reason, usage)."""

    __slots__ = ("id", "finish_reason", "usage", "text", "thinking", "tool_plan", "tool_calls", "capture", "error")

    def __init__(self, capture: bool = True) -> None:
        self.id: str | None = None
        self.finish_reason: str | None = None
        self.usage: tuple[Any, ...] | None = None  # see _usage_numbers
        self.text: list[str] = []
        self.thinking: list[str] = []
        self.tool_plan: list[str] = []
        self.tool_calls: list[list[Any]] = []  # [id, name, argument pieces], by index order
        self.capture = capture
        self.error: str | None = None  # message-end's delta.error, if the server sent one

    def add(self, event: Any) -> V2ChatStream:
        kind = getattr(event, "type", None)
        if kind == "content-delta":  # nearly every event: inlined, a text delta first
            if self.capture:
                content = getattr(getattr(getattr(event, "delta", None), "message", None), "content", None)
                text = getattr(content, "text", None)
                if text:
                    self.text.append(text)
                else:
                    thinking = getattr(content, "thinking", None)
                    if thinking:
                        self.thinking.append(thinking)
        elif kind == "tool-call-delta":
            if self.capture and self.tool_calls:
                arguments = _f(_f(_tool_call_of(event), "function"), "arguments")
                if isinstance(arguments, str):
                    self.tool_calls[-1][2].append(arguments)
        elif kind == "message-start":
            self.id = getattr(event, "id", None)
        elif kind == "content-start":
            if self.capture:
                content = _content_of(event)
                text = getattr(content, "text", None)
                if text:
                    self.text.append(text)
                thinking = getattr(content, "thinking", None)
                if thinking:
                    self.thinking.append(thinking)
        elif kind == "tool-plan-delta":
            if self.capture:
                delta = getattr(event, "delta", None)
                plan = _f(_f(delta, "message"), "tool_plan") or _f(delta, "tool_plan")
                if plan:
                    self.tool_plan.append(plan)
        elif kind == "tool-call-start":
            if self.capture:
                call = _tool_call_of(event)
                fn = _f(call, "function")
                arguments = _f(fn, "arguments")
                self.tool_calls.append([_f(call, "id"), _f(fn, "name"), [arguments] if isinstance(arguments, str) else []])
        elif kind == "message-end":
            delta = getattr(event, "delta", None)
            reason = getattr(delta, "finish_reason", None)
            if reason:
                self.finish_reason = str(reason)
            self.usage = _usage_numbers(getattr(delta, "usage", None))
            error = getattr(delta, "error", None)
            if error:
                self.error = str(error)
        return self


def _content_of(event: Any) -> Any:
    message = getattr(getattr(event, "delta", None), "message", None)
    return getattr(message, "content", None)


def _tool_call_of(event: Any) -> Any:
    delta = getattr(event, "delta", None)
    return _f(_f(delta, "message"), "tool_calls") or _f(delta, "tool_call")


class V1ChatStream:
    """One v1 chat answer: the text pieces, and what ``stream-end``'s whole response says."""

    __slots__ = ("generation_id", "response_id", "finish_reason", "usage", "text", "final_text", "tool_calls",
                 "capture")

    def __init__(self, capture: bool = True) -> None:
        self.generation_id: str | None = None
        self.response_id: str | None = None
        self.finish_reason: str | None = None
        self.usage: tuple[Any, ...] | None = None  # see _usage_numbers, from the response's meta
        self.text: list[str] = []
        self.final_text: str | None = None
        self.tool_calls: list[tuple[Any, Any]] = []  # (name, parameters as a copy)
        self.capture = capture

    def add(self, event: Any) -> V1ChatStream:
        kind = getattr(event, "event_type", None)
        if kind == "text-generation":
            if self.capture:
                text = getattr(event, "text", None)
                if text:
                    self.text.append(text)
        elif kind == "stream-start":
            self.generation_id = getattr(event, "generation_id", None)
        elif kind == "stream-end":
            response = getattr(event, "response", None)
            self.response_id = getattr(response, "response_id", None)
            self.generation_id = getattr(response, "generation_id", None) or self.generation_id
            reason = getattr(event, "finish_reason", None) or getattr(response, "finish_reason", None)
            if reason:
                self.finish_reason = str(reason)
            self.usage = _usage_numbers(getattr(response, "meta", None))
            if self.capture:
                text = getattr(response, "text", None)
                self.final_text = text if isinstance(text, str) else None
                for call in getattr(response, "tool_calls", None) or ():
                    params = getattr(call, "parameters", None)
                    self.tool_calls.append((getattr(call, "name", None), dict(params) if isinstance(params, dict) else None))
        return self


def _capture() -> bool:
    return telemetry.settings().capture_content != "no_content"


def _new_v2() -> V2ChatStream:
    return V2ChatStream(capture=_capture())


def _new_v1() -> V1ChatStream:
    return V1ChatStream(capture=_capture())


# One event at a time (not ``batched``): each event is read before the app gets it, and
# the app may change the event objects afterwards.
V2_STREAM_ACCUMULATOR = Accumulator(V2ChatStream.add, None, _new_v2)
V1_STREAM_ACCUMULATOR = Accumulator(V1ChatStream.add, None, _new_v1)
