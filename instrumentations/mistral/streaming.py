"""The Mistral stream accumulator: the worked example of a stream accumulator.

A streamed call returns its answer in pieces. The agent's stream proxy hands every piece
(here a ``CompletionEvent``) to ``step(state, chunk)`` and, when the stream ends however
it ends, gives the final state to the extractor, which reads it as it would read a whole
response. This module is that state for ``chat.stream`` and ``fim.stream``:

* ``MistralStreamAccumulator()`` is the state of one stream (``initial``: one per stream,
  since it is mutable);
* ``MistralStreamAccumulator.add`` is the ``step``: it takes one event, updates the state
  in place and returns it;
* there is no ``finish``: the extractor reads the state directly.

What a Mistral stream looks like (``mistralai`` 2.x/3.x, checked on 3.7.0): every event's
``.data`` is a ``CompletionChunk`` with ``id``, ``model``, ``choices`` and, on the last
chunk only, ``usage``. Each choice carries its ``index``, a ``delta`` (``role``,
``content``, ``tool_calls``) and, on its last chunk, a ``finish_reason``. ``content`` is a
string or a list of chunks (``text``, ``thinking``). Mistral sends a tool call whole in
one delta (no argument fragments as OpenAI does), but the code below also joins fragments
that share an index, so it stays right if that changes.

The step runs once per chunk, on the caller's thread, between two reads of the stream:
keep it small, allocation-light, and free of anything that may raise on an odd chunk
(an exception here is caught by the proxy, but the output is then lost). It runs before
the app gets the chunk, and keeps no reference into it (strings; the usage and a tool
call's dict arguments are copied): the app may change the chunk objects afterwards, and
the span still records what the SDK yielded.
"""

from __future__ import annotations

import copy
from typing import Any

from weave_agent.export import telemetry
from weave_agent.streams import Accumulator


def _frozen(value: Any) -> Any:
    """``value`` as it is now (a deep copy), which the app can no longer change; the value
    itself if it cannot be copied."""
    try:
        return copy.deepcopy(value)
    except Exception:
        return value


def _field(obj: Any, name: str) -> Any:
    """``obj.name``; the SDK's ``UNSET`` sentinel (a field the server did not send) reads as None."""
    value = getattr(obj, name, None)
    return None if value is None or type(value).__name__ == "Unset" else value


class ChoiceState:
    """What one choice (one ``index``) has produced so far."""

    __slots__ = ("role", "text", "reasoning", "tool_calls", "open_calls", "finish_reason")

    def __init__(self) -> None:
        self.role: str | None = None
        self.text: list[str] = []  # content pieces, joined once at the end
        self.reasoning: list[str] = []  # "thinking" pieces (reasoning models)
        # One entry per tool call, in order: [id, name, argument pieces (str) or a dict].
        self.tool_calls: list[list[Any]] = []
        self.open_calls: dict[int, list[Any]] = {}  # tool-call index -> its entry above
        self.finish_reason: str | None = None


class MistralStreamAccumulator:
    """One chat or FIM completion, rebuilt from the events of a Mistral stream.

    ``capture`` says whether to keep content (text, reasoning, tool calls). With capture
    off only what the span's metadata needs is kept: id, model, finish reasons, usage.
    """

    __slots__ = ("id", "model", "usage", "choices", "capture")

    def __init__(self, capture: bool = True) -> None:
        self.id: str | None = None
        self.model: str | None = None
        self.usage: Any = None  # the SDK's UsageInfo, from the last chunk
        self.choices: dict[int, ChoiceState] = {}  # by choice index (n > 1 interleaves them)
        self.capture = capture

    def add(self, event: Any) -> MistralStreamAccumulator:
        """The accumulator's ``step``: fold one ``CompletionEvent`` (or a bare chunk) in."""
        chunk = getattr(event, "data", event)
        if self.id is None:
            self.id = getattr(chunk, "id", None)
        model = getattr(chunk, "model", None)
        if model:
            self.model = model
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.usage = _frozen(usage)  # on the last chunk only
        for choice in getattr(chunk, "choices", None) or ():
            index = getattr(choice, "index", 0) or 0
            state = self.choices.get(index)
            if state is None:
                state = self.choices[index] = ChoiceState()
            reason = getattr(choice, "finish_reason", None)
            if reason:
                state.finish_reason = str(reason)
            delta = getattr(choice, "delta", None)
            if delta is None:
                continue
            role = _field(delta, "role")
            if role:
                state.role = role
            if self.capture:
                self._content(state, _field(delta, "content"))
                calls = _field(delta, "tool_calls")
                if calls:
                    self._tool_calls(state, calls)
        return self

    @staticmethod
    def _content(state: ChoiceState, content: Any) -> None:
        if not content:
            return
        if isinstance(content, str):
            state.text.append(content)
            return
        for part in content:  # a list of content chunks
            kind = getattr(part, "type", None)
            if kind == "text":
                text = getattr(part, "text", None)
                if text:
                    state.text.append(text)
            elif kind == "thinking":
                for piece in getattr(part, "thinking", None) or ():
                    text = getattr(piece, "text", None)
                    if text:
                        state.reasoning.append(text)

    @staticmethod
    def _tool_calls(state: ChoiceState, calls: Any) -> None:
        for call in calls:
            index = getattr(call, "index", None)
            index = index if isinstance(index, int) else len(state.tool_calls)
            call_id = _field(call, "id")
            if call_id == "null":  # the SDK's default when the server sent no id
                call_id = None
            fn = getattr(call, "function", None)
            name = getattr(fn, "name", None) if fn is not None else None
            arguments = getattr(fn, "arguments", None) if fn is not None else None
            # A delta continues the open call at its index, unless it carries another
            # id: then it starts a new call (the SDK reads a missing index as 0).
            entry = state.open_calls.get(index)
            if entry is None or (call_id is not None and entry[0] not in (None, call_id)):
                entry = [None, None, []]
                state.tool_calls.append(entry)
                state.open_calls[index] = entry
            if call_id:
                entry[0] = call_id
            if name:
                entry[1] = name
            if isinstance(arguments, str):
                if isinstance(entry[2], list):
                    entry[2].append(arguments)
            elif arguments is not None:  # already parsed (a dict)
                entry[2] = _frozen(arguments)

    # --- read by the extractor when the stream has ended ------------------------------

    def ordered(self) -> list[ChoiceState]:
        return [self.choices[i] for i in sorted(self.choices)]

    @staticmethod
    def arguments(entry: list[Any]) -> Any:
        """A tool call's arguments: the joined JSON string pieces, or the dict as sent."""
        args = entry[2]
        return "".join(args) if isinstance(args, list) else args


# --- the accumulator the patcher pairs with streamed methods -------------------------------


def _new_stream_state() -> MistralStreamAccumulator:
    return MistralStreamAccumulator(capture=telemetry.settings().capture_content != "no_content")


# One event at a time (not ``batched``): an event is read before the app gets it and can change it.
STREAM_ACCUMULATOR = Accumulator(MistralStreamAccumulator.add, None, _new_stream_state)
