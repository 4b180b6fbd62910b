"""The Ollama stream accumulator: one chat or generate answer rebuilt from its NDJSON parts.

``chat(stream=True)`` and ``generate(stream=True)`` yield one ``ChatResponse`` /
``GenerateResponse`` per NDJSON line (a new pydantic object each time). Every part carries
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
        """The accumulator's ``step``: fold one streamed part (a ``ChatResponse`` or a
        ``GenerateResponse``) in. Plain ``getattr`` reads: this runs once per part."""
        model = getattr(part, "model", None)
        if model:
            self.model = model
        if getattr(part, "done", None):
            self.done = True
            self.done_reason = getattr(part, "done_reason", None) or self.done_reason
            self.input_tokens = getattr(part, "prompt_eval_count", None)
            self.output_tokens = getattr(part, "eval_count", None)
        message = getattr(part, "message", None)
        if message is not None:  # chat
            self.role = getattr(message, "role", None) or self.role
            if self.capture:
                text = getattr(message, "content", None)
                if text:
                    self.text.append(text)
                thinking = getattr(message, "thinking", None)
                if thinking:
                    self.thinking.append(thinking)
                calls = getattr(message, "tool_calls", None)
                if calls:
                    for call in calls:
                        fn = getattr(call, "function", None)
                        self.tool_calls.append((getattr(fn, "name", None), _frozen(getattr(fn, "arguments", None))))
        elif self.capture:  # generate
            text = getattr(part, "response", None)
            if text:
                self.text.append(text)
            thinking = getattr(part, "thinking", None)
            if thinking:
                self.thinking.append(thinking)
        return self


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
