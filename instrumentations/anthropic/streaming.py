"""Anthropic: streams, rebuilt event by event.

The accumulator of the raw event stream (``messages.create(stream=True)``) and of the
``messages.stream()`` helper, which reads the SDK's own snapshot. Also the patch's state
and the SDK's stream classes, read by every other file here. Imports nothing from
``extract.py``: the extractor turns an accumulated stream into a response, not the other
way round.

Each event is read as it passes, before the app gets it, and nothing read keeps a
reference into it (strings and counts; a block's initial ``input`` is copied): the app may
change the event objects afterwards (LlamaIndex sets the tool-use block's ``input`` as the
JSON arrives), and the span still records what the SDK yielded.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from weave_agent.export import telemetry
from weave_agent.genai import text_part as _text
from weave_agent.streams import Accumulator

# --- the patch's state and the SDK's stream classes ----------------------------------------


class _State:
    active = False  # the patch is applied: wrappers that outlive an undo call through
    stream_classes: tuple[type, ...] | None = None


def _stream_classes() -> tuple[type, ...]:
    classes = _State.stream_classes
    if classes is None:
        from anthropic._streaming import AsyncStream, Stream

        classes = _State.stream_classes = (Stream, AsyncStream)
    return classes


# --- streams -------------------------------------------------------------------------------


class _Acc:
    """A stream's events so far (``create(stream=True)``), or, for ``stream()``, the entered
    ``MessageStream`` whose own snapshot is read when the span ends (``source``)."""

    __slots__ = ("id", "model", "stop_reason", "usage", "blocks", "capture", "source", "delta_seen", "error")

    def __init__(self) -> None:
        self.id: Any = None
        self.model: Any = None
        self.stop_reason: Any = None
        self.usage: list[Any] = [None, None, None, None, None]  # input, output, cache read, write, thinking
        self.blocks: dict[int, list[Any]] = {}  # index -> [type, pieces, id, name, input at start]
        self.capture = telemetry.settings().capture_content != "no_content"
        self.source: Any = None
        self.delta_seen = False
        self.error: BaseException | None = None  # an SDK error that left the stream() manager's block


def _frozen(value: Any) -> Any:
    """``value`` as it is now (a deep copy), or the value itself if it cannot be copied."""
    if value is None:
        return None
    try:
        return copy.deepcopy(value)
    except Exception:
        return value


def _take_usage(acc: _Acc, usage: Any) -> None:
    if usage is None:
        return
    counts = acc.usage
    for i, name in enumerate(
        ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
    ):
        value = getattr(usage, name, None)
        if value is not None:
            counts[i] = value
    details = getattr(usage, "output_tokens_details", None)
    if details is not None:
        thinking = getattr(details, "thinking_tokens", None)
        if thinking is not None:
            counts[4] = thinking


def _step(acc: _Acc, event: Any) -> _Acc:
    kind = event.type
    if kind == "content_block_delta":
        if acc.capture:
            block = acc.blocks.get(event.index)
            if block is not None:
                delta = event.delta
                dkind = delta.type
                if dkind == "text_delta":
                    block[1].append(delta.text)
                elif dkind == "input_json_delta":
                    block[1].append(delta.partial_json)
                elif dkind == "thinking_delta":
                    block[1].append(delta.thinking)
        return acc
    if kind == "message_start":
        message = event.message
        acc.id = message.id
        acc.model = message.model
        _take_usage(acc, message.usage)
    elif kind == "content_block_start":
        if acc.capture:
            block = event.content_block
            btype = block.type
            pieces: list[str] = []
            if btype == "text" and block.text:
                pieces.append(block.text)
            elif btype == "thinking" and block.thinking:
                pieces.append(block.thinking)
            initial = getattr(block, "input", None)
            acc.blocks[event.index] = [
                btype,
                pieces,
                getattr(block, "id", None),
                getattr(block, "name", None),
                _frozen(initial),  # the app may set it later (LlamaIndex does)
            ]
    elif kind == "message_delta":
        acc.delta_seen = True
        stop = event.delta.stop_reason
        if stop:
            acc.stop_reason = stop
        _take_usage(acc, event.usage)
    return acc


def _arguments(pieces: list[str], initial: Any) -> Any:
    if not pieces:
        return initial
    raw = "".join(pieces)
    try:
        return json.loads(raw)
    except ValueError:
        return raw  # cut mid-stream: what arrived


def _acc_parts(acc: _Acc) -> list[Any]:
    parts: list[Any] = []
    for index in sorted(acc.blocks):
        btype, pieces, bid, name, initial = acc.blocks[index]
        if btype == "text":
            parts.append(_text("".join(pieces)))
        elif btype == "thinking":
            parts.append({"type": "reasoning", "content": "".join(pieces)})
        elif btype == "tool_use":
            parts.append({"type": "tool_call", "id": bid, "name": name, "arguments": _arguments(pieces, initial)})
        elif btype in ("server_tool_use", "mcp_tool_use"):
            parts.append(
                {"type": "server_tool_call", "id": bid, "name": name, "arguments": _arguments(pieces, initial)}
            )
        elif btype != "redacted_thinking":
            parts.append({"type": btype})
    return parts


def _snapshot(source: Any) -> Any:
    """The message a ``MessageStream`` accumulated, or None."""
    read = getattr(source, "_current_snapshot_or_none", None)
    if read is not None:
        return read()
    if hasattr(type(source), "current_message_snapshot"):
        try:
            return source.current_message_snapshot
        except AssertionError:  # nothing received yet
            return None
    return None


def _stream_request_id(source: Any) -> Any:
    try:
        return source.response.headers.get("request-id")
    except Exception:
        return None


# --- the accumulators the specs use --------------------------------------------------------


# One event at a time (not ``batched``): an event is read before the app gets it and can change it.
_RAW_STREAM = Accumulator(_step, None, _Acc)
_HELPER_STREAM = Accumulator(None, None, _Acc)  # the MessageStream accumulates; read at the end
