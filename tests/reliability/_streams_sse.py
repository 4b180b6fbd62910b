"""Vendor SSE bodies served in-process, with the faults a real connection has.

The bodies are the recorded cassettes' own bytes (``tests/instrumentations/<vendor>/
cassettes``), so every SDK parses exactly what the vendor sends. They are served through
``httpx.MockTransport`` (no socket, no port, nothing to stop) one SSE event per body
chunk, which lets a test decide what happens after event *k*: the connection drops
(``httpx.RemoteProtocolError``, what httpx raises for a body cut short; ``Feed.dropped``
keeps it, so a test can find it in what the app got, raised as is or wrapped by the SDK) or,
for async clients, the server goes silent until the consuming task is cancelled.

``Feed.closed`` counts the response bodies the SDK closed: a stream proxy that forgot to
forward ``close``/``__exit__`` leaves it at zero (the connection leaks).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml

CASSETTES = Path(__file__).resolve().parents[1] / "instrumentations"


def sse_events(cassette: str) -> list[bytes]:
    """The SSE events of the (single, 200) streamed response in ``<vendor>/cassettes/<name>.yaml``."""
    doc = yaml.safe_load((CASSETTES / cassette).read_text(encoding="utf-8"))
    (interaction,) = [i for i in doc["interactions"] if i["response"]["status"]["code"] == 200]
    body: str = interaction["response"]["body"]["string"]
    return [(event.strip("\n") + "\n\n").encode() for event in body.split("\n\n") if event.strip()]


class Feed:
    """One server: every request gets ``events`` as ``text/event-stream``.

    ``drop_after=k``: the body breaks after ``k`` events. ``hang_after=k`` (async only):
    after ``k`` events nothing more arrives until the reader is cancelled. ``http`` is the
    HTTP package the vendor's SDK is built on (``httpx``, or ``httpx2`` for anthropic 2.x,
    which refuses ``httpx`` objects): the transport and the errors come from it.
    """

    def __init__(self, events: list[bytes], drop_after: int | None = None, hang_after: int | None = None) -> None:
        self.events = events
        self.drop_after = drop_after
        self.hang_after = hang_after
        self.http: Any = httpx
        self.requests = 0
        self.closed = 0
        self.hung = False  # the reader is waiting on a silent server
        self.dropped: BaseException | None = None  # the transport error raised where the body broke

    def handler(self, request: Any) -> Any:
        self.requests += 1
        return self.http.Response(
            200,
            headers={"content-type": "text/event-stream; charset=utf-8", "request-id": "req_stream_exits"},
            stream=_body_class(self.http)(self),
        )

    def drop(self, http: Any) -> BaseException:
        """The error ``http`` raises for a body cut short, remembered in ``dropped``."""
        self.dropped = http.RemoteProtocolError(
            "peer closed connection without sending complete message body (incomplete chunked read)"
        )
        return self.dropped

    def client(self, is_async: bool, http: Any = httpx) -> Any:
        self.http = http
        transport = http.MockTransport(self.handler)
        return http.AsyncClient(transport=transport) if is_async else http.Client(transport=transport)


_BODIES: dict[str, type] = {}


def _body_class(http: Any) -> type:
    """The streamed body, as a byte stream class of ``http`` (httpx or httpx2)."""
    if http.__name__ in _BODIES:
        return _BODIES[http.__name__]

    class Body(http.SyncByteStream, http.AsyncByteStream):  # type: ignore[misc,name-defined]
        def __init__(self, feed: Feed) -> None:
            self.feed = feed

        def __iter__(self) -> Iterator[bytes]:
            for i, event in enumerate(self.feed.events):
                if i == self.feed.drop_after:
                    raise self.feed.drop(http)
                yield event

        async def __aiter__(self) -> AsyncIterator[bytes]:
            for i, event in enumerate(self.feed.events):
                if i == self.feed.hang_after:
                    self.feed.hung = True
                    await asyncio.Event().wait()  # silent until cancelled
                if i == self.feed.drop_after:
                    raise self.feed.drop(http)
                await asyncio.sleep(0)  # a real socket read yields to the loop
                yield event

        def close(self) -> None:
            self.feed.closed += 1

        async def aclose(self) -> None:
            self.feed.closed += 1

    _BODIES[http.__name__] = Body
    return Body




def clients(vendor: str, feed: Feed, is_async: bool) -> Any:
    """The vendor's real SDK client (sync or async) talking to ``feed``; no retries."""
    if vendor in ("openai", "langchain"):
        import openai

        cls: Any = openai.AsyncOpenAI if is_async else openai.OpenAI
        http = feed.client(is_async)
        return cls(api_key="sk-test-stream-exits", base_url="http://127.0.0.1:9/v1", http_client=http, max_retries=0)
    if vendor == "anthropic":
        import anthropic

        cls = anthropic.AsyncAnthropic if is_async else anthropic.Anthropic
        http = feed.client(is_async, _anthropic_http())
        return cls(api_key="sk-ant-test-stream-exits", base_url="http://127.0.0.1:9", http_client=http, max_retries=0)
    if vendor == "mistral":
        from mistralai.client import Mistral

        http = feed.client(is_async)
        kw = {"async_client": http} if is_async else {"client": http}
        return Mistral(api_key="test-stream-exits", server_url="http://127.0.0.1:9", **kw)
    raise ValueError(vendor)


def _anthropic_http() -> Any:
    """The HTTP package the installed anthropic SDK is built on."""
    import anthropic._base_client as base

    return base.httpx2


# --- the vendors' stream calls -----------------------------------------------------------


class Vendor:
    """One streaming API: how to open it with the real SDK and read a chunk's text.

    ``open(client, is_async)`` returns the stream, the ``stream()`` manager, or (async
    ``create``) a coroutine giving the stream. ``error_cassette``: a recorded 200 stream
    ending in an SSE ``error`` event the SDK raises on, with the ``error.type`` it gets.
    """

    def __init__(
        self,
        id: str,
        instrumentation: str,
        cassette: str,
        open: Any,
        text: Any,
        manager: bool = False,
        error_cassette: str | None = None,
        error_type: str | None = None,
    ) -> None:
        self.id, self.instrumentation, self.cassette, self.open, self.text = id, instrumentation, cassette, open, text
        self.manager, self.error_cassette, self.error_type = manager, error_cassette, error_type
        self.vendor = instrumentation

    def __repr__(self) -> str:
        return self.id


def _user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def _openai_chat(client: Any, is_async: bool) -> Any:
    return client.chat.completions.create(
        model="gpt-4o-mini", messages=_user("Count from 1 to 10."), stream=True, stream_options={"include_usage": True}
    )


def _openai_chat_text(chunk: Any) -> str:
    return "".join(c.delta.content or "" for c in chunk.choices)


def _openai_responses(client: Any, is_async: bool) -> Any:
    return client.responses.create(
        model="gpt-4o-mini", input="Write a haiku about the sea.", instructions="You are a poet.", stream=True
    )


def _openai_responses_text(event: Any) -> str:
    return event.delta if event.type == "response.output_text.delta" else ""


def _anthropic_create(client: Any, is_async: bool) -> Any:
    return client.messages.create(
        model="claude-sonnet-4-6", max_tokens=200, messages=_user("Write a haiku about packets."), stream=True
    )


def _anthropic_stream(client: Any, is_async: bool) -> Any:
    return client.messages.stream(
        model="claude-haiku-4-5", max_tokens=200, system="Answer in one sentence.",
        messages=_user("What is the capital of France?"),
    )


def _anthropic_text(event: Any) -> str:
    if event.type == "content_block_delta" and event.delta.type == "text_delta":
        return str(event.delta.text)
    return ""


def _mistral_chat(client: Any, is_async: bool) -> Any:
    method = client.chat.stream_async if is_async else client.chat.stream
    return method(model="mistral-small-latest", messages=_user("What is the capital of France?"),
                  temperature=0.2, max_tokens=64)


def _mistral_text(event: Any) -> str:
    return "".join(c.delta.content for c in event.data.choices if isinstance(c.delta.content, str))


VENDORS = [
    Vendor("openai_chat", "openai", "openai/cassettes/chat_stream_usage.yaml", _openai_chat, _openai_chat_text,
           error_cassette="openai/cassettes/chat_stream_error.yaml", error_type="APIError"),
    Vendor("openai_responses", "openai", "openai/cassettes/responses_stream.yaml", _openai_responses,
           _openai_responses_text),
    Vendor("anthropic_create", "anthropic", "anthropic/cassettes/messages_stream_raw.yaml", _anthropic_create,
           _anthropic_text, error_cassette="anthropic/cassettes/messages_stream_error.yaml",
           error_type="overloaded_error"),
    Vendor("anthropic_stream", "anthropic", "anthropic/cassettes/messages_stream_helper.yaml", _anthropic_stream,
           _anthropic_text, manager=True, error_cassette="anthropic/cassettes/messages_stream_error.yaml",
           error_type="overloaded_error"),
    Vendor("mistral_chat", "mistral", "mistral/cassettes/chat_stream.yaml", _mistral_chat, _mistral_text),
]
