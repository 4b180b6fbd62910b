"""The Ollama stream accumulator: one chat or generate answer rebuilt from its NDJSON parts.

``chat(stream=True)`` and ``generate(stream=True)`` yield one ``ChatResponse`` /
``GenerateResponse`` per NDJSON line (a new object each time). Every part carries
``model``; a chat part carries a ``message`` whose ``content`` and ``thinking`` are
fragments, a generate part ``response`` and ``thinking`` fragments. Ollama sends a tool
call whole in one part (``message.tool_calls``, no id and no argument fragments). Only
the last part has ``done: true`` with ``done_reason`` and the counts
(``prompt_eval_count``, ``eval_count``): a stream cut short has no usage, and none is
invented.

The step runs once per part, before the app gets it, and keeps no reference into it
(strings; a tool call's arguments are copied): the app may change the parts afterwards.
Imports nothing else of this folder.
"""

from __future__ import annotations

import copy
from typing import Any

from weave_agent.export import telemetry
from weave_agent.streams import Accumulator


def _get(obj: Any, key: str) -> Any:
    """A field of an SDK model (or of a dict, as releases before 0.4 yielded)."""
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


class OllamaStreamAccumulator:
    """What the parts of one stream add up to. With ``capture`` off only the metadata is
    kept (model, finish reason, counts)."""

    __slots__ = ("model", "done", "done_reason", "input_tokens", "output_tokens", "role", "text", "thinking",
                 "tool_calls", "capture")

    def __init__(self, capture: bool = True) -> None:
        self.model: str | None = None
        self.done = False  # the final part (done: true) arrived
        self.done_reason: str | None = None
        self.input_tokens: int | None = None  # prompt_eval_count, final part only
        self.output_tokens: int | None = None  # eval_count, final part only
        self.role: str | None = None
        self.text: list[str] = []  # content (chat) or response (generate) fragments
        self.thinking: list[str] = []
        self.tool_calls: list[tuple[Any, Any]] = []  # (name, arguments), as sent
        self.capture = capture

    def add(self, part: Any) -> OllamaStreamAccumulator:
        """The accumulator's ``step``: fold one streamed part in."""
        model = _get(part, "model")
        if model:
            self.model = model
        if _get(part, "done"):
            self.done = True
            self.done_reason = _get(part, "done_reason") or self.done_reason
            self.input_tokens = _get(part, "prompt_eval_count")
            self.output_tokens = _get(part, "eval_count")
        message = _get(part, "message")
        if message is not None:  # chat
            role = _get(message, "role")
            if role:
                self.role = role
            if self.capture:
                self._fragments(_get(message, "content"), _get(message, "thinking"))
                for call in _get(message, "tool_calls") or ():
                    fn = _get(call, "function")
                    self.tool_calls.append((_get(fn, "name"), _frozen(_get(fn, "arguments"))))
        elif self.capture:  # generate
            self._fragments(_get(part, "response"), _get(part, "thinking"))
        return self

    def _fragments(self, text: Any, thinking: Any) -> None:
        if text and isinstance(text, str):
            self.text.append(text)
        if thinking and isinstance(thinking, str):
            self.thinking.append(thinking)


def _frozen(value: Any) -> Any:
    """``value`` as it is now, which the app can no longer change (a deep copy)."""
    try:
        return copy.deepcopy(value)
    except Exception:
        return value


def _new_stream_state() -> OllamaStreamAccumulator:
    return OllamaStreamAccumulator(capture=telemetry.settings().capture_content != "no_content")


# One part at a time (not ``batched``): a part is read before the app gets it and can change it.
STREAM_ACCUMULATOR = Accumulator(OllamaStreamAccumulator.add, None, _new_stream_state)
