"""What a LiteLLM stream's chunks add up to.

``completion(stream=True)`` (and ``await acompletion(stream=True)``) returns a
``CustomStreamWrapper`` (``litellm.litellm_core_utils.streaming_handler``) whatever the
provider: it translates every provider's stream into OpenAI-shaped ``ModelResponseStream``
chunks (``id``, ``model``, ``choices[].delta`` with ``content``, ``reasoning_content``,
``tool_calls``, ``finish_reason``; ``usage`` on a last chunk when the caller asked for it
with ``stream_options={"include_usage": True}``). ``text_completion(stream=True)`` yields
``TextCompletionResponse`` chunks (``choices[].text``). The Responses API streams typed
events; its ``response.completed`` event carries the whole response.

Each step keeps strings and counts only (the usage object is copied): LiteLLM may hand
out chunk objects the app changes afterwards. Imports nothing else of this folder.
"""

from __future__ import annotations

import copy
from typing import Any

from weave_agent.export import telemetry
from weave_agent.streams import Accumulator


def _frozen(value: Any) -> Any:
    try:
        return copy.deepcopy(value)
    except Exception:
        return value


def _own(obj: Any, name: str) -> Any:
    """``obj.name`` read where pydantic keeps it (the instance's ``__dict__``, then its
    extras: LiteLLM's stream choices and deltas hold most fields as extras), ``None`` when
    absent. Not ``getattr``: pydantic's ``__getattr__`` serves extras in Python and raises
    and catches an exception for an absent name (``usage``, ``reasoning_content`` on most
    chunks), which cost the step about 20 us a chunk."""
    stored = getattr(obj, "__dict__", None)
    if stored is not None and name in stored:
        return stored[name]
    extra = getattr(obj, "__pydantic_extra__", None)
    if extra:
        return extra.get(name)
    if stored is None:  # not a pydantic model (a test's stand-in): plain attributes
        return getattr(obj, name, None)
    return None


class ChoiceState:
    """What one choice (one ``index``) has produced so far."""

    __slots__ = ("text", "reasoning", "tool_calls", "open_calls", "finish_reason")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.tool_calls: list[list[Any]] = []  # [id, name, argument pieces]
        self.open_calls: dict[int, list[Any]] = {}
        self.finish_reason: str | None = None


class ChatStream:
    """One chat (or text) completion rebuilt from the chunks of a LiteLLM stream."""

    __slots__ = ("id", "model", "usage", "choices", "capture", "provider", "cost")

    def __init__(self, capture: bool = True) -> None:
        self.id: str | None = None
        self.model: str | None = None
        self.usage: Any = None
        self.choices: dict[int, ChoiceState] = {}
        self.capture = capture
        self.provider: str | None = None  # the routed provider LiteLLM reports on its chunks
        self.cost: Any = None

    def add(self, chunk: Any) -> ChatStream:
        if self.id is None:
            self.id = _own(chunk, "id")
        model = _own(chunk, "model")
        if model:
            self.model = model
        usage = _own(chunk, "usage")
        if usage is not None:
            self.usage = _frozen(usage)
        for choice in _own(chunk, "choices") or ():
            index = _own(choice, "index") or 0
            state = self.choices.get(index)
            if state is None:
                state = self.choices[index] = ChoiceState()
            reason = _own(choice, "finish_reason")
            if reason:
                state.finish_reason = str(reason)
            if not self.capture:
                continue
            delta = _own(choice, "delta")
            if delta is None:  # a text_completion chunk
                text = _own(choice, "text")
                if text:
                    state.text.append(text)
                continue
            content = _own(delta, "content")
            if isinstance(content, str) and content:
                state.text.append(content)
            reasoning = _own(delta, "reasoning_content")
            if isinstance(reasoning, str) and reasoning:
                state.reasoning.append(reasoning)
            calls = _own(delta, "tool_calls")
            if calls:
                self._tool_calls(state, calls)
        return self

    @staticmethod
    def _tool_calls(state: ChoiceState, calls: Any) -> None:
        for call in calls:
            index = getattr(call, "index", None)
            index = index if isinstance(index, int) else len(state.tool_calls)
            call_id = getattr(call, "id", None)
            fn = getattr(call, "function", None)
            name = getattr(fn, "name", None) if fn is not None else None
            arguments = getattr(fn, "arguments", None) if fn is not None else None
            entry = state.open_calls.get(index)
            if entry is None or (call_id and entry[0] not in (None, call_id)):
                entry = [None, None, []]
                state.tool_calls.append(entry)
                state.open_calls[index] = entry
            if call_id:
                entry[0] = call_id
            if name:
                entry[1] = name
            if isinstance(arguments, str):
                entry[2].append(arguments)

    def ordered(self) -> list[ChoiceState]:
        return [self.choices[i] for i in sorted(self.choices)]


class ResponsesStream:
    """A Responses API stream: the response of its ``response.completed`` (or failed,
    incomplete) event, else the id and model of ``response.created``."""

    __slots__ = ("response", "id", "model", "text")

    def __init__(self) -> None:
        self.response: Any = None
        self.id: str | None = None
        self.model: str | None = None
        self.text: list[str] = []

    def add(self, event: Any) -> ResponsesStream:
        kind = getattr(event, "type", None)
        kind = getattr(kind, "value", kind)
        if kind in ("response.completed", "response.incomplete", "response.failed"):
            self.response = getattr(event, "response", None)
        elif kind == "response.created":
            response = getattr(event, "response", None)
            self.id = getattr(response, "id", None)
            self.model = getattr(response, "model", None)
        elif kind == "response.output_text.delta":
            delta = getattr(event, "delta", None)
            if isinstance(delta, str):
                self.text.append(delta)
        return self


def _new_chat_stream() -> ChatStream:
    return ChatStream(capture=telemetry.settings().capture_content != "no_content")


# One chunk at a time (not ``batched``): a chunk is read before the app gets it.
CHAT_ACCUMULATOR = Accumulator(ChatStream.add, None, _new_chat_stream)
RESPONSES_ACCUMULATOR = Accumulator(ResponsesStream.add, None, ResponsesStream)
NO_ACCUMULATOR = Accumulator(None)  # embeddings never stream
