"""A finish reason that never came is ``error`` (the newest GenAI conventions): a call that
failed, a stream closed, left or collected before the model said why it stopped. Reasons
that did arrive stay; a stream read to its end is left as the extractor read it (its output
messages ``unknown`` when the model gave no reason); an operation without finish reasons
(embeddings) gets none. What a stream's ``close()``
raises is recorded on the span (``error.type``, status ERROR) and still reaches the app."""

from __future__ import annotations

import asyncio
import gc
import json
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

from weave_agent.genai import OUTPUT_MESSAGES, Extractor, Request, Response, genai_op
from weave_agent.streams import Accumulator


class Chunks:
    """An SDK-like stream: each chunk a piece of text, the last one with a finish reason."""

    def __init__(self, pieces: list[tuple[str, str | None]], close_error: BaseException | None = None) -> None:
        self.pieces = list(pieces)
        self.close_error = close_error
        self.closed = False

    def __iter__(self) -> Chunks:
        return self

    def __next__(self) -> tuple[str, str | None]:
        if not self.pieces:
            raise StopIteration
        return self.pieces.pop(0)

    def close(self) -> None:
        self.closed = True
        if self.close_error is not None:
            raise self.close_error


class AsyncChunks:
    """The async kind: ``aclose()`` (and an async ``close()``, as async SDK streams have)."""

    def __init__(self, pieces: list[tuple[str, str | None]]) -> None:
        self.pieces = list(pieces)

    def __aiter__(self) -> AsyncChunks:
        return self

    async def __anext__(self) -> tuple[str, str | None]:
        if not self.pieces:
            raise StopAsyncIteration
        return self.pieces.pop(0)


class Fake(Extractor):
    provider = "fake"

    def __init__(self, operation: str = "chat") -> None:
        self.operation = operation

    def request(self, inputs: dict[str, Any], instance: Any, capture: bool) -> Request:
        return Request("fake-model")

    def response(self, output: Any, capture: bool) -> Response:
        if not isinstance(output, dict):
            return Response()
        attrs = {"gen_ai.response.finish_reasons": [output["finish"]]} if output["finish"] else {}
        message: dict[str, Any] = {"role": "assistant", "parts": [{"type": "text", "content": output["text"]}]}
        if output["finish"]:
            message["finish_reason"] = output["finish"]
        return Response(attrs, content={OUTPUT_MESSAGES: [message]})

    def is_stream(self, inputs: dict[str, Any], result: Any) -> bool:
        return isinstance(result, (Chunks, AsyncChunks))


def _step(state: dict[str, Any], chunk: tuple[str, str | None]) -> dict[str, Any]:
    state["text"] += chunk[0]
    state["finish"] = chunk[1] or state["finish"]
    return state


ACC = Accumulator(_step, initial=lambda: {"text": "", "finish": None})
PIECES = [("Hel", None), ("lo", None), ("", "stop")]


def traced(fn: Any, operation: str = "chat") -> Any:
    return genai_op(Fake(operation), ACC)(fn)


def _messages(span: Any) -> list[dict[str, Any]]:
    return json.loads(span.attributes.get(OUTPUT_MESSAGES, "[]"))


def test_a_stream_read_to_its_end_keeps_its_reason(spans: Any) -> None:
    assert list(traced(lambda: Chunks(PIECES))()) == PIECES
    span = spans.one("chat fake-model")
    assert span.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert [m["finish_reason"] for m in _messages(span)] == ["stop"]


ENDS = {"close": "closed", "break_then_dropped": "garbage_collected", "never_iterated": "garbage_collected",
        "interpreter_exit": "interpreter_exit"}


@pytest.mark.parametrize("how", list(ENDS))
def test_a_stream_cut_short_reports_error(spans: Any, how: str) -> None:
    from weave_agent.tracing import streams

    stream = traced(lambda: Chunks(PIECES))()
    if how == "close":
        next(stream)
        stream.close()
    elif how == "break_then_dropped":
        for _ in stream:
            break
    elif how == "interpreter_exit":
        next(stream)
        assert streams.end_all_open() >= 1  # what the exit flush calls for the streams still open
    del stream
    gc.collect()
    span = spans.one("chat fake-model")
    assert span.attributes["weave_agent.stream.end_reason"] == ENDS[how]
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)
    assert all(m["finish_reason"] == "error" for m in _messages(span))
    assert span.status.status_code is StatusCode.UNSET  # ended by the app: not a failure


def test_a_reason_that_arrived_stays_when_the_stream_is_closed_after_it(spans: Any) -> None:
    stream = traced(lambda: Chunks(PIECES + [("", None)]))()
    for _ in range(3):
        next(stream)
    stream.close()
    span = spans.one("chat fake-model")
    assert span.attributes["gen_ai.response.finish_reasons"] == ("stop",)


class Boom(RuntimeError):
    pass


class Failing(Chunks):
    def __next__(self) -> tuple[str, str | None]:
        if len(self.pieces) < len(PIECES):
            raise Boom("the connection broke mid-stream")
        return super().__next__()


def test_a_stream_that_fails_midway_reports_error(spans: Any) -> None:
    stream = traced(lambda: Failing(PIECES))()
    next(stream)
    with pytest.raises(Boom):
        next(stream)
    span = spans.one("chat fake-model")
    assert span.attributes["weave_agent.stream.end_reason"] == "error"
    assert span.attributes["error.type"] == "Boom"
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)
    assert [m["finish_reason"] for m in _messages(span)] == ["error"]


def test_a_failed_call_reports_error(spans: Any) -> None:
    def fails() -> None:
        raise Boom("no")

    with pytest.raises(Boom):
        traced(fails)()
    span = spans.one("chat fake-model")
    assert span.attributes["error.type"] == "Boom"
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)


@pytest.mark.parametrize("streamed", [False, True], ids=["return", "stream"])
def test_a_call_that_ended_well_without_a_reason_says_unknown(spans: Any, streamed: bool) -> None:
    """An OpenAI-compatible server that sends ``finish_reason: null``: the call succeeded, so
    not ``error``; the conventions require a reason on each output message (an open
    string), so ``unknown``; ``gen_ai.response.finish_reasons`` stays absent (no guess)."""
    if streamed:
        assert list(traced(lambda: Chunks([("Hel", None), ("lo", None)]))()) == [("Hel", None), ("lo", None)]
    else:
        assert traced(lambda: {"text": "Hello", "finish": None})() == {"text": "Hello", "finish": None}
    span = spans.one("chat fake-model")
    assert [m["finish_reason"] for m in _messages(span)] == ["unknown"]
    assert "gen_ai.response.finish_reasons" not in span.attributes


def test_an_operation_without_finish_reasons_gets_none(spans: Any) -> None:
    def fails() -> None:
        raise Boom("no")

    with pytest.raises(Boom):
        traced(fails, "embeddings")()
    assert "gen_ai.response.finish_reasons" not in spans.one("embeddings fake-model").attributes


def test_what_close_raises_is_recorded_and_reaches_the_app(spans: Any) -> None:
    inner = Chunks(PIECES, close_error=Boom("the connection broke while closing"))
    stream = traced(lambda: inner)()
    next(stream)
    with pytest.raises(Boom):
        stream.close()
    assert inner.closed
    span = spans.one("chat fake-model")
    assert span.attributes["error.type"] == "Boom"
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]
    assert span.attributes["weave_agent.stream.end_reason"] == "closed"
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)


@pytest.mark.parametrize("method", ["aclose", "close"])
def test_what_an_async_close_raises_is_recorded(spans: Any, method: str) -> None:
    class Closing(AsyncChunks):
        async def aclose(self) -> None:
            raise Boom("aclose failed")

        async def close(self) -> None:
            raise Boom("close failed")

    async def go() -> None:
        stream = traced(lambda: Closing(PIECES))()
        await stream.__anext__()
        with pytest.raises(Boom):
            await getattr(stream, method)()

    asyncio.run(go())
    span = spans.one("chat fake-model")
    assert span.attributes["error.type"] == "Boom"
    assert span.status.status_code is StatusCode.ERROR
