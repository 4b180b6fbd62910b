"""AWS Bedrock: what a stream's events add up to.

Both streaming operations answer in AWS's binary event-stream encoding, which botocore
decodes into an ``EventStream`` yielding one new dict per event (so the accumulators are
``batched``):

* ``ConverseStream``: ``{"messageStart": {...}}``, ``{"contentBlockStart": {...}}``,
  ``{"contentBlockDelta": {...}}``, ``{"contentBlockStop": ...}``, ``{"messageStop":
  {"stopReason"}}`` and last ``{"metadata": {"usage", "metrics"}}``. ``ConverseAcc`` joins
  them into the shape of a whole ``Converse`` answer, so one reader serves both.
* ``InvokeModelWithResponseStream``: ``{"chunk": {"bytes": b"<model family's JSON>"}}``.
  The step only keeps the bytes (one append a chunk); the payloads are parsed once, when
  the stream ends (``extract.py`` reads them per model family).

Imports nothing of this folder.
"""

from __future__ import annotations

from typing import Any

from weave_agent.streams import Accumulator


class ConverseAcc:
    """One ``converse_stream``: the content blocks by index, the stop reason, the usage."""

    __slots__ = ("role", "blocks", "stop_reason", "usage", "metrics")

    def __init__(self) -> None:
        self.role = "assistant"
        # index -> [kind, text pieces, tool use id, tool name, input pieces]
        self.blocks: dict[int, list[Any]] = {}
        self.stop_reason: Any = None
        self.usage: Any = None
        self.metrics: Any = None

    def _block(self, index: Any, kind: str) -> list[Any]:
        block = self.blocks.get(index)
        if block is None:
            block = self.blocks[index] = [kind, [], None, None, []]
        return block

    def as_response(self) -> dict[str, Any]:
        """The events joined into what ``converse`` would have answered."""
        content: list[dict[str, Any]] = []
        for index in sorted(self.blocks, key=lambda i: i if isinstance(i, int) else 0):
            kind, texts, tool_id, name, pieces = self.blocks[index]
            if kind == "toolUse":
                content.append({"toolUse": {"toolUseId": tool_id, "name": name, "input": "".join(pieces)}})
            elif kind == "reasoningContent":
                content.append({"reasoningContent": {"reasoningText": {"text": "".join(texts)}}})
            else:
                content.append({"text": "".join(texts)})
        out: dict[str, Any] = {"output": {"message": {"role": self.role, "content": content}}}
        if self.stop_reason is not None:
            out["stopReason"] = self.stop_reason
        if self.usage is not None:
            out["usage"] = self.usage
        return out


def converse_step(state: ConverseAcc, event: Any) -> ConverseAcc:
    if not isinstance(event, dict):
        return state
    delta = event.get("contentBlockDelta")
    if delta is not None:  # the usual event first
        d = delta.get("delta") or {}
        index = delta.get("contentBlockIndex", 0)
        if "text" in d:
            state._block(index, "text")[1].append(d["text"])
        elif "toolUse" in d:
            state._block(index, "toolUse")[4].append((d["toolUse"] or {}).get("input") or "")
        elif "reasoningContent" in d:
            text = (d["reasoningContent"] or {}).get("text")
            if isinstance(text, str):
                state._block(index, "reasoningContent")[1].append(text)
        return state
    start = event.get("contentBlockStart")
    if start is not None:
        tool = (start.get("start") or {}).get("toolUse")
        if tool is not None:
            block = state._block(start.get("contentBlockIndex", 0), "toolUse")
            block[0], block[2], block[3] = "toolUse", tool.get("toolUseId"), tool.get("name")
        return state
    stop = event.get("messageStop")
    if stop is not None:
        state.stop_reason = stop.get("stopReason")
        return state
    meta = event.get("metadata")
    if meta is not None:
        state.usage = meta.get("usage")
        state.metrics = meta.get("metrics")
        return state
    begin = event.get("messageStart")
    if begin is not None and begin.get("role"):
        state.role = begin["role"]
    return state


class InvokeAcc:
    """One ``invoke_model_with_response_stream``: the payloads, parsed when it ends."""

    __slots__ = ("payloads",)

    def __init__(self) -> None:
        self.payloads: list[bytes] = []


def invoke_step(state: InvokeAcc, event: Any) -> InvokeAcc:
    chunk = event.get("chunk") if isinstance(event, dict) else None
    if chunk is not None:
        data = chunk.get("bytes")
        if isinstance(data, (bytes, bytearray, str)):
            state.payloads.append(data)  # type: ignore[arg-type]
    return state


CONVERSE_ACCUMULATOR = Accumulator(converse_step, initial=ConverseAcc, batched=True)
INVOKE_ACCUMULATOR = Accumulator(invoke_step, initial=InvokeAcc, batched=True)


class AgentAcc:
    """One ``bedrock-agent-runtime`` ``invoke_agent`` answer: the ``chunk`` events' text
    (raw UTF-8, not JSON) and the usage of each model call the agent made, from its
    ``trace`` events (sent when the app asked for ``enableTrace``)."""

    __slots__ = ("parts", "input_tokens", "output_tokens")

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None


def agent_step(state: AgentAcc, event: Any) -> AgentAcc:
    if not isinstance(event, dict):
        return state
    chunk = event.get("chunk")
    if chunk is not None:
        data = chunk.get("bytes")
        if isinstance(data, (bytes, bytearray)):
            state.parts.append(bytes(data))
        return state
    part = event.get("trace")
    trace = part.get("trace") if isinstance(part, dict) else None
    if isinstance(trace, dict):
        for step in trace.values():  # orchestrationTrace, preProcessingTrace, ...
            output = step.get("modelInvocationOutput") if isinstance(step, dict) else None
            usage = ((output or {}).get("metadata") or {}).get("usage") if isinstance(output, dict) else None
            if isinstance(usage, dict):
                for key, attr in (("inputTokens", "input_tokens"), ("outputTokens", "output_tokens")):
                    value = usage.get(key)
                    if type(value) is int:
                        setattr(state, attr, (getattr(state, attr) or 0) + value)
    return state


AGENT_ACCUMULATOR = Accumulator(agent_step, initial=AgentAcc, batched=True)
