"""Groq: chat streams, rebuilt chunk by chunk, and raw responses followed to their end.

What a Groq stream looks like (``groq`` 1.x, checked on 1.7.0): ``data:`` blocks of
``ChatCompletionChunk`` (the OpenAI chunk shape) then ``data: [DONE]``. Groq adds to it:

* ``x_groq`` on the first chunk (``id``: the request id Groq support asks for) and on the
  last one, where ``x_groq.usage`` carries the whole call's usage. That is the only usage
  a Groq stream sends unless the request asked for ``stream_options={"include_usage":
  True}``: then one more chunk, with no choices, carries it in ``usage`` as well (the same
  counts: read once, never added up);
* ``delta.reasoning``: the reasoning of a reasoning model (``reasoning_format="parsed"``);
* ``delta.executed_tools``: the tools a compound model ran on Groq's side (web search,
  code execution), each once with its arguments and output.

Each chunk is read as it passes, before the app gets it, and nothing read keeps a
reference into it: text, reasoning and argument pieces are strings, the usage is copied.

Raw responses: ``with_raw_response.create`` and ``with_streaming_response.create`` both
return the SDK's ``APIResponse`` (``AsyncAPIResponse``), whose ``parse()`` gives the
completion or the stream. ``RawResponse`` follows it: a stream from ``parse()`` is
proxied into the call's span; a whole body read through ``parse()`` is the call's output,
and the span ends then; otherwise it ends when the response is closed (the SDK's context
manager closes it) or garbage-collected. Imports nothing from ``extract.py``.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any

from weave_agent import _log, streams
from weave_agent.export import telemetry
from weave_agent.genai import field
from weave_agent.streams import Accumulator

from ..openai_compatible import join_tool_call_deltas

# --- the SDK's classes, imported on first use ----------------------------------------------


class _SDK:
    loaded = False
    stream_types: tuple[type, ...] = ()
    api_responses: tuple[type, ...] = ()


def sdk() -> type[_SDK]:
    """The SDK classes the extractors recognise (imported on first use: the patcher module
    stays free of the SDK)."""
    if not _SDK.loaded:
        from groq._response import APIResponse, AsyncAPIResponse
        from groq._streaming import AsyncStream, Stream

        _SDK.stream_types = (Stream, AsyncStream)
        _SDK.api_responses = (APIResponse, AsyncAPIResponse)
        _SDK.loaded = True
    return _SDK


def _frozen(value: Any) -> Any:
    """``value`` as it is now (a deep copy), which the app can no longer change."""
    try:
        return copy.deepcopy(value)
    except Exception:
        return value


# --- chat completion chunks ----------------------------------------------------------------


class ChoiceState:
    """What one choice (one ``index``) has produced so far."""

    __slots__ = ("text", "reasoning", "tools", "executed", "finish")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.tools: dict[int, list[Any]] = {}  # tool-call index -> [id, name, [argument pieces]]
        self.executed: list[tuple[Any, Any, Any]] = []  # (type, arguments, output) of server-side tools
        self.finish: str | None = None


class GroqChatAcc:
    """A chat completion rebuilt from a Groq stream's chunks; ``capture`` says whether to
    keep content (text, reasoning, tool calls) or only what the span's metadata needs."""

    __slots__ = ("id", "model", "fingerprint", "request_id", "usage", "choices", "capture")

    def __init__(self) -> None:
        self.id = self.model = self.fingerprint = self.request_id = self.usage = None
        self.choices: dict[int, ChoiceState] = {}
        self.capture = telemetry.settings().capture_content != "no_content"

    def add(self, chunk: Any) -> GroqChatAcc:
        """The accumulator's step: fold one ``ChatCompletionChunk`` in."""
        if self.id is None:
            self.id = getattr(chunk, "id", None)
            self.model = getattr(chunk, "model", None)
            self.fingerprint = getattr(chunk, "system_fingerprint", None)
        usage = getattr(chunk, "usage", None)  # stream_options={"include_usage": True}: the extra last chunk
        groq = getattr(chunk, "x_groq", None)
        if groq is not None:  # a model, or a dict on SDK releases that do not declare it
            if self.request_id is None:
                self.request_id = field(groq, "id")
            if usage is None:
                usage = field(groq, "usage")  # the last chunk's, always sent
        if usage is not None:
            self.usage = _frozen(usage)
        for choice in getattr(chunk, "choices", None) or ():
            c = self.choices.get(choice.index)
            if c is None:
                c = self.choices[choice.index] = ChoiceState()
            if choice.finish_reason:
                c.finish = choice.finish_reason
            delta = choice.delta
            if delta is None or not self.capture:
                continue
            if delta.content:
                c.text.append(delta.content)
            reasoning = getattr(delta, "reasoning", None)
            if reasoning:
                c.reasoning.append(reasoning)
            if delta.tool_calls:
                join_tool_call_deltas(c.tools, delta.tool_calls)
            executed = getattr(delta, "executed_tools", None)
            if executed:
                for tool in executed:
                    c.executed.append((field(tool, "type"), field(tool, "arguments"), field(tool, "output")))
        return self

    def ordered(self) -> list[ChoiceState]:
        return [self.choices[i] for i in sorted(self.choices)]


# One chunk at a time (not ``batched``): a chunk is read before the app gets it and can change it.
CHAT_ACC = Accumulator(GroqChatAcc.add, None, GroqChatAcc)
NO_ACC = Accumulator(None)  # embeddings never stream; a raw response still ends when closed


# --- raw responses (with_raw_response / with_streaming_response) ---------------------------


def state(call: Any, accumulator: Any, source: Any) -> Any:
    st = streams.StreamState(call, accumulator)
    st.source = source
    return st


class RawResponse(streams.ClosingProxy):
    """An ``APIResponse``/``AsyncAPIResponse``: what its ``parse()`` returns is followed
    (module docstring); ``headers``, ``http_response`` and the rest are the SDK's own."""

    def __init__(self, wrapped: Any, st: Any) -> None:
        super().__init__(wrapped, st)
        self._self_stream = None

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        result = self.__wrapped__.parse(*args, **kwargs)
        if inspect.isawaitable(result):  # AsyncAPIResponse.parse is a coroutine

            async def parsed() -> Any:
                return self._adopt(await result)

            return parsed()
        return self._adopt(result)

    def _adopt(self, parsed: Any) -> Any:
        """A stream is proxied into the call's state (once: ``parse()`` caches, so a second
        call returns the same proxy); a whole body is the call's output and ends the span.
        Never raises: on an agent error the SDK's object is returned as it is."""
        try:
            st = self._self_st
            if isinstance(parsed, sdk().stream_types):
                current = self._self_stream
                if current is not None:
                    return current if current.__wrapped__ is parsed else parsed
                if st.done:
                    return parsed
                self._self_stream = streams.attach(parsed, st)
                return self._self_stream
            if not st.done and parsed is not None:
                st.state = parsed  # read by the extractor as a whole response
                st.end(streams.EXHAUSTED)
        except Exception:
            _log.error_once("groq-raw-parse", "tracing the parse() of a Groq raw response failed")
        return parsed

    def __del__(self) -> None:
        try:
            adopted = self._self_stream is not None
        except Exception:
            return
        if not adopted:  # a stream handed out by parse() ends the span itself
            super().__del__()
