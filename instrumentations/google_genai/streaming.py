"""The Gemini stream accumulator: one ``GenerateContentResponse`` rebuilt from its chunks.

``generate_content_stream`` yields ``GenerateContentResponse`` chunks (checked on
google-genai 2.33 and 3.6): each has ``candidates`` whose ``content.parts`` are the new
pieces (text, thought text with ``thought=True``, a whole ``function_call``, inline data),
``finish_reason`` on the candidate's last chunk, ``usage_metadata`` on every chunk (the
running totals: the last one counts), ``response_id`` and ``model_version``. The Vertex AI
API leaves a candidate's ``index`` out when it is 0.

The step reads each chunk before the app gets it (not batched: a chunk is a pydantic
model the app may change) and keeps strings and ints only, plus the parts it cannot split
(a function call, inline data) by reference: the SDK makes new objects for every chunk.
With capture off only the metadata is kept.
"""

from __future__ import annotations

from typing import Any

from weave_agent.export import telemetry
from weave_agent.streams import Accumulator


class CandidateState:
    """What one candidate (one ``index``) has produced so far."""

    __slots__ = ("parts", "finish_reason")

    def __init__(self) -> None:
        # In order: ["text", [pieces]], ["thought", [pieces]] or ["part", the SDK's Part];
        # consecutive pieces of the same kind are joined at the end.
        self.parts: list[list[Any]] = []
        self.finish_reason: Any = None


class GeminiStreamState:
    """One streamed ``generate_content`` call, rebuilt."""

    __slots__ = ("response_id", "model_version", "usage", "candidates", "capture", "function_call")

    def __init__(self, capture: bool = True) -> None:
        self.response_id: str | None = None
        self.model_version: str | None = None
        self.usage: tuple[Any, ...] | None = None  # the last chunk's counts (see USAGE_FIELDS)
        self.candidates: dict[int, CandidateState] = {}
        self.capture = capture
        self.function_call = False  # a candidate asked for a function (finish reason tool_call)

    def add(self, chunk: Any) -> GeminiStreamState:
        """The accumulator's ``step``: fold one ``GenerateContentResponse`` chunk in."""
        if self.response_id is None:
            self.response_id = getattr(chunk, "response_id", None)
        model = getattr(chunk, "model_version", None)
        if model:
            self.model_version = model
        usage = getattr(chunk, "usage_metadata", None)
        if usage is not None:
            self.usage = tuple(getattr(usage, name, None) for name in USAGE_FIELDS)
        for candidate in getattr(chunk, "candidates", None) or ():
            index = getattr(candidate, "index", None) or 0
            state = self.candidates.get(index)
            if state is None:
                state = self.candidates[index] = CandidateState()
            reason = getattr(candidate, "finish_reason", None)
            if reason is not None:
                state.finish_reason = reason
            content = getattr(candidate, "content", None)
            for part in getattr(content, "parts", None) or ():
                if getattr(part, "function_call", None) is not None:
                    self.function_call = True
                if self.capture:
                    self._part(state, part)
        return self

    @staticmethod
    def _part(state: CandidateState, part: Any) -> None:
        text = getattr(part, "text", None)
        if isinstance(text, str):
            kind = "thought" if getattr(part, "thought", None) else "text"
            last = state.parts[-1] if state.parts else None
            if last is not None and last[0] == kind:
                last[1].append(text)
            else:
                state.parts.append([kind, [text]])
            return
        state.parts.append(["part", part])

    def ordered(self) -> list[CandidateState]:
        return [self.candidates[i] for i in sorted(self.candidates)]


# The usage counts a chunk carries, in the order ``GeminiStreamState.usage`` keeps them.
USAGE_FIELDS = (
    "prompt_token_count",
    "candidates_token_count",
    "cached_content_token_count",
    "thoughts_token_count",
    "tool_use_prompt_token_count",
)


def _new_stream_state() -> GeminiStreamState:
    return GeminiStreamState(capture=telemetry.settings().capture_content != "no_content")


STREAM_ACCUMULATOR = Accumulator(GeminiStreamState.add, None, _new_stream_state)
