"""Per-call and per-chunk cost of the vendor instrumentations, through the real SDKs, in one process.

    python bench/vendors.py [--quick] [--vendor openai|anthropic|mistral|all] [--strict] [--no-docs]
                            [--content on|off] [--metrics on|off] [--clock cpu|wall] [--json PATH]

No network: every client talks to an in-process ``httpx2.MockTransport`` that returns bodies built
once as bytes (a ~200-token chat completion with usage; a 1,000-chunk server-sent-event stream
ending with usage). Per vendor, interleaved rounds (medians of process CPU time by default):

* per call: a bare Python call and one raw SDK span with the same attributes as the
  instrumentation's span (the floor); the SDK's non-streaming call unpatched and patched
  (``weave_agent.patch(<vendor>=True)`` before the sample, ``weave_agent.unpatch`` after it);
  OpenAI also async; and the agent's work alone (the instrumentation's own wrapper around a
  method that returns the SDK's prebuilt response at once). Targets: <= 40 µs added, and the
  added time <= 3x one raw SDK span (raw span minus bare call, paired per round).
* per chunk: a 1,000-chunk stream created and consumed, unpatched and patched (iteration after
  the call returned, divided by the chunks the SDK yielded), and the agent's work alone (a real
  stream call whose SDK stream then yields the SDK's own prebuilt chunk objects). Target:
  <= 1 µs added per chunk.
* where the per-call time goes: the agent-alone call with content capture and metrics on/off,
  and with a no-op tracer provider.

Every patched variant exports through a ``BatchSpanProcessor`` to a no-op exporter; metrics go to
a ``MeterProvider`` with an ``InMemoryMetricReader``; content capture is the agent's default
(``span_only``). A vendor whose instrumentation is unknown or does not patch is reported "not
available yet" and skipped; a patched variant that produced no span fails the run.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import inspect
import logging
import os
import re
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# The agent's defaults as a user has them: no WEAVE_AGENT_*/OTEL_* overrides, no SDK-side
# tracing switched on from the environment.
for _k in list(os.environ):
    if _k.startswith(("WEAVE_AGENT_", "OTEL_", "MISTRAL_SDK_TELEMETRY", "ANTHROPIC_OPEN_TELEMETRY")):
        del os.environ[_k]

import httpx2  # noqa: E402
import wrapt  # noqa: E402
from _mock_vendors import (  # noqa: E402
    JSON_HEADERS,
    MESSAGES,
    QUESTION,
    SSE_HEADERS,
    STREAM_CHUNKS,
    SYSTEM,
    anthropic_bodies,
    bedrock_bodies,
    before_send,
    groq_bodies,
    httpx_mock_transport,
    mistral_bodies,
    mock_transport,
    openai_bodies,
)
from _stats import RESULTS_DIR, compare, format_table, interleave, machine, write_json  # noqa: E402
from opentelemetry import context, trace  # noqa: E402
from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import (  # noqa: E402
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

import weave_agent  # noqa: E402
from weave_agent.export import telemetry  # noqa: E402
from weave_agent.hook import arming  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(REPO, "docs", "benchmarks.md")
BEGIN, END = "<!-- vendors:begin -->", "<!-- vendors:end -->"

PER_CALL_TARGET_US = 40.0
PER_CALL_RAW_RATIO = 3.0
PER_CHUNK_TARGET_US = 1.0
CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}
clock = time.process_time


# --- the vendors ------------------------------------------------------------------------------


class Vendor:
    """One SDK: how to build its clients, make a call, open a stream; what the agent patches."""

    name = ""
    sync_call_label = ""
    stream_label = ""
    has_async = False
    chunks = STREAM_CHUNKS
    iter_attr = "_iterator"  # the SDK stream's attribute its ``__next__`` reads the parsed items from
    kwargs: dict[str, Any] = {}  # the call's arguments

    def targets(self) -> list[tuple[type, str]]:
        """(class, attribute) the benchmark calls; each must be a wrapt wrapper once patched.
        The first one is the non-streaming call."""
        raise NotImplementedError

    def resource(self) -> Any:
        """The SDK resource object whose method ``call()`` uses (the bound instance)."""
        raise NotImplementedError

    def call(self) -> Any:
        raise NotImplementedError

    def stream(self) -> Any:
        raise NotImplementedError

    def text_of(self, result: Any) -> str:
        raise NotImplementedError

    async def acall(self) -> Any:
        raise NotImplementedError

    async def astream(self) -> Any:
        raise NotImplementedError

    def feed(self, inner: Any, prebuilt: list[Any]) -> None:
        """Make the SDK stream ``inner`` (opened, not yet read) yield ``prebuilt`` instead of
        parsing its HTTP body."""
        inner.response.close()
        setattr(inner, self.iter_attr, iter(prebuilt))


class OpenAIVendor(Vendor):
    name = "openai"
    sync_call_label = "client.chat.completions.create"
    stream_label = "create(stream=True, stream_options={include_usage})"
    has_async = True

    def __init__(self) -> None:
        import openai
        import openai.resources.chat.completions.completions as mod

        body, sse, self.chunks = openai_bodies()
        kw: dict[str, Any] = {"api_key": "sk-bench-not-a-key", "base_url": "https://api.openai.com/v1", "max_retries": 0}
        self.json = openai.OpenAI(http_client=httpx2.Client(transport=mock_transport(body, JSON_HEADERS)), **kw)
        self.sse = openai.OpenAI(http_client=httpx2.Client(transport=mock_transport(sse, SSE_HEADERS)), **kw)
        self.ajson = openai.AsyncOpenAI(
            http_client=httpx2.AsyncClient(transport=mock_transport(body, JSON_HEADERS)), **kw)
        self.asse = openai.AsyncOpenAI(
            http_client=httpx2.AsyncClient(transport=mock_transport(sse, SSE_HEADERS)), **kw)
        self.mod = mod
        self.kwargs = {"model": "gpt-4o-mini", "messages": MESSAGES, "temperature": 0.2, "max_tokens": 256}

    def targets(self) -> list[tuple[type, str]]:
        return [(self.mod.Completions, "create"), (self.mod.AsyncCompletions, "create")]

    def resource(self) -> Any:
        return self.json.chat.completions

    def call(self) -> Any:
        return self.json.chat.completions.create(**self.kwargs)

    def stream(self) -> Any:
        return self.sse.chat.completions.create(stream=True, stream_options={"include_usage": True}, **self.kwargs)

    async def acall(self) -> Any:
        return await self.ajson.chat.completions.create(**self.kwargs)

    async def astream(self) -> Any:
        return await self.asse.chat.completions.create(
            stream=True, stream_options={"include_usage": True}, **self.kwargs)

    def text_of(self, result: Any) -> str:
        return result.choices[0].message.content


class AnthropicVendor(Vendor):
    name = "anthropic"
    sync_call_label = "client.messages.create"
    stream_label = "messages.create(stream=True)"

    def __init__(self) -> None:
        import anthropic
        import anthropic.resources.messages.messages as mod

        body, sse, self.chunks = anthropic_bodies()
        kw: dict[str, Any] = {"api_key": "sk-ant-bench-not-a-key", "max_retries": 0}
        self.json = anthropic.Anthropic(http_client=httpx2.Client(transport=mock_transport(body, JSON_HEADERS)), **kw)
        self.sse = anthropic.Anthropic(http_client=httpx2.Client(transport=mock_transport(sse, SSE_HEADERS)), **kw)
        self.mod = mod
        self.kwargs = {"model": "claude-sonnet-4-5", "max_tokens": 256, "system": SYSTEM,
                       "messages": [{"role": "user", "content": QUESTION}]}

    def targets(self) -> list[tuple[type, str]]:
        return [(self.mod.Messages, "create")]

    def resource(self) -> Any:
        return self.json.messages

    def call(self) -> Any:
        return self.json.messages.create(**self.kwargs)

    def stream(self) -> Any:
        return self.sse.messages.create(stream=True, **self.kwargs)

    def text_of(self, result: Any) -> str:
        return result.content[0].text


class MistralVendor(Vendor):
    name = "mistral"
    sync_call_label = "client.chat.complete"
    stream_label = "client.chat.stream"
    iter_attr = "generator"

    def __init__(self) -> None:
        import mistralai.client.chat as mod
        from mistralai.client import Mistral

        body, sse, self.chunks = mistral_bodies()
        self.json = Mistral(api_key="bench-not-a-key", client=httpx2.Client(transport=mock_transport(body, JSON_HEADERS)))
        self.sse = Mistral(api_key="bench-not-a-key", client=httpx2.Client(transport=mock_transport(sse, SSE_HEADERS)))
        self.mod = mod
        self.kwargs = {"model": "mistral-small-latest", "messages": MESSAGES, "temperature": 0.2, "max_tokens": 256}

    def targets(self) -> list[tuple[type, str]]:
        return [(self.mod.Chat, "complete"), (self.mod.Chat, "stream")]

    def resource(self) -> Any:
        return self.json.chat

    def call(self) -> Any:
        return self.json.chat.complete(**self.kwargs)

    def stream(self) -> Any:
        return self.sse.chat.stream(**self.kwargs)

    def text_of(self, result: Any) -> str:
        return result.choices[0].message.content


class BedrockVendor(Vendor):
    """AWS Bedrock through boto3: botocore's real serializer, signer and parsers, answered by a
    ``before-send`` handler (nothing is sent). The patched target is botocore's
    ``BaseClient._make_api_call``, which every AWS call goes through (the cost for the other
    services: ``bench/bedrock_other_calls.py``)."""

    name = "bedrock"
    sync_call_label = "client.converse"
    stream_label = "client.converse_stream"

    def __init__(self) -> None:
        import boto3
        import botocore.client

        body, events, self.chunks = bedrock_bodies()
        self.client = boto3.client("bedrock-runtime", region_name="us-east-1", aws_access_key_id="AKIABENCHNOTAKEY0001",
                                   aws_secret_access_key="bench-not-a-secret")
        self.client.meta.events.register_first("before-send.bedrock-runtime.*", before_send({
            "converse": (body, "application/json"),
            "converse-stream": (events, "application/vnd.amazon.eventstream")}))
        self.mod = botocore.client
        self.params = {"modelId": "anthropic.claude-3-5-haiku-20241022-v1:0",
                       "messages": [{"role": "user", "content": [{"text": QUESTION}]}],
                       "system": [{"text": SYSTEM}], "inferenceConfig": {"temperature": 0.2, "maxTokens": 256}}
        # the patched target's own arguments (the agent-alone measurement calls it with them)
        self.kwargs = {"operation_name": "Converse", "api_params": self.params}

    def targets(self) -> list[tuple[type, str]]:
        return [(self.mod.BaseClient, "_make_api_call")]

    def resource(self) -> Any:
        return self.client

    def call(self) -> Any:
        return self.client.converse(**self.params)

    def stream(self) -> Any:
        return self.client.converse_stream(**self.params)["stream"]

    def feed(self, inner: Any, prebuilt: list[Any]) -> None:
        inner._raw_stream.close()
        inner._event_generator = iter(prebuilt)
        inner._parse_event = lambda event: event  # the prebuilt events are parsed already

    def text_of(self, result: Any) -> str:
        return result["output"]["message"]["content"][0]["text"]


VENDORS: dict[str, type[Vendor]] = {"openai": OpenAIVendor, "anthropic": AnthropicVendor, "mistral": MistralVendor}
VENDORS["bedrock"] = BedrockVendor


class GroqVendor(Vendor):
    """Groq: a Stainless SDK shaped like openai 1.x, on ``httpx`` (so ``httpx.MockTransport``);
    the stream's usage arrives in the last chunk's ``x_groq.usage``."""

    name = "groq"
    sync_call_label = "client.chat.completions.create"
    stream_label = "create(stream=True)"
    has_async = True

    def __init__(self) -> None:
        import groq
        import groq.resources.chat.completions as mod
        import httpx

        body, sse, self.chunks = groq_bodies()
        kw: dict[str, Any] = {"api_key": "gsk-bench-not-a-key", "max_retries": 0}
        self.json = groq.Groq(http_client=httpx.Client(transport=httpx_mock_transport(body, JSON_HEADERS)), **kw)
        self.sse = groq.Groq(http_client=httpx.Client(transport=httpx_mock_transport(sse, SSE_HEADERS)), **kw)
        self.ajson = groq.AsyncGroq(
            http_client=httpx.AsyncClient(transport=httpx_mock_transport(body, JSON_HEADERS)), **kw)
        self.asse = groq.AsyncGroq(
            http_client=httpx.AsyncClient(transport=httpx_mock_transport(sse, SSE_HEADERS)), **kw)
        self.mod = mod
        self.kwargs = {"model": "llama-3.3-70b-versatile", "messages": MESSAGES, "temperature": 0.2,
                       "max_completion_tokens": 256}

    def targets(self) -> list[tuple[type, str]]:
        return [(self.mod.Completions, "create"), (self.mod.AsyncCompletions, "create")]

    def resource(self) -> Any:
        return self.json.chat.completions

    def call(self) -> Any:
        return self.json.chat.completions.create(**self.kwargs)

    def stream(self) -> Any:
        return self.sse.chat.completions.create(stream=True, **self.kwargs)

    async def acall(self) -> Any:
        return await self.ajson.chat.completions.create(**self.kwargs)

    async def astream(self) -> Any:
        return await self.asse.chat.completions.create(stream=True, **self.kwargs)

    def text_of(self, result: Any) -> str:
        return result.choices[0].message.content



VENDORS["groq"] = GroqVendor


class OllamaVendor(Vendor):
    """Ollama's ``Client.chat`` on httpx (``host`` plus an ``httpx.MockTransport``); a stream
    is a generator that makes its request at the first ``next()``, so ``feed`` swaps the
    client's httpx client for one whose next stream answers with the prebuilt parts as NDJSON
    lines (the SDK still parses each line into a ``ChatResponse``, patched or not)."""

    name = "ollama"
    sync_call_label = "client.chat"
    stream_label = "client.chat(stream=True)"

    def __init__(self) -> None:
        import httpx
        import ollama
        import ollama._client  # noqa: F401  (the attribute ollama._client is the default client)
        from _mock_vendors import ollama_bodies

        body, ndjson, self.chunks = ollama_bodies()

        def transport(content: bytes, headers: dict[str, str]) -> Any:
            return httpx.MockTransport(lambda request: httpx.Response(200, headers=headers, content=content))

        self.json = ollama.Client(host="127.0.0.1:11434", transport=transport(body, JSON_HEADERS))
        self.sse = ollama.Client(host="127.0.0.1:11434",
                                 transport=transport(ndjson, {"content-type": "application/x-ndjson"}))
        self.mod = sys.modules["ollama._client"]
        self.kwargs = {"model": "llama3.2", "messages": MESSAGES, "options": {"temperature": 0.2, "num_predict": 256}}

    def targets(self) -> list[tuple[type, str]]:
        return [(self.mod.Client, "chat")]

    def resource(self) -> Any:
        return self.json

    def call(self) -> Any:
        return self.json.chat(**self.kwargs)

    def stream(self) -> Any:
        return self.sse.chat(stream=True, **self.kwargs)

    def feed(self, inner: Any, prebuilt: list[Any]) -> None:
        import contextlib
        import types

        client, real = self.sse, self.sse._client
        lines = [p.model_dump_json(exclude_none=True) for p in prebuilt]

        class OneShot:
            @contextlib.contextmanager
            def stream(self, *args: Any, **kwargs: Any) -> Any:
                client._client = real  # the next stream reads its HTTP body again
                yield types.SimpleNamespace(raise_for_status=lambda: None, iter_lines=lambda: iter(lines))

        client._client = OneShot()

    def text_of(self, result: Any) -> str:
        return result.message.content


VENDORS["ollama"] = OllamaVendor


class GoogleGenAIVendor(Vendor):
    """Google Gen AI's ``client.models.generate_content`` on httpx2 (``http_options.httpx_client``
    with a ``MockTransport``). The patched targets are the private per-request methods
    ``Models._generate_content`` and ``_generate_content_stream`` (the public call runs the
    automatic function calling loop around them, passed straight through when no Python
    function is given). A stream is the SDK's generator: ``feed`` makes the next stream's HTTP
    layer hand out the prebuilt chunks' JSON (the SDK still turns each into a
    ``GenerateContentResponse``, patched or not)."""

    name = "google_genai"
    sync_call_label = "client.models.generate_content"
    stream_label = "client.models.generate_content_stream"

    def __init__(self) -> None:
        import google.genai.models as mod
        from _mock_vendors import gemini_bodies
        from google import genai
        from google.genai import types

        body, sse, self.chunks = gemini_bodies()

        def client(content: bytes, headers: dict[str, str]) -> Any:
            options = types.HttpOptions(httpx_client=httpx2.Client(transport=mock_transport(content, headers)))
            return genai.Client(api_key="bench-not-a-key", http_options=options)

        self.json = client(body, JSON_HEADERS)
        self.sse = client(sse, SSE_HEADERS)
        self.mod = mod
        self.kwargs = {"model": "gemini-2.5-flash", "contents": QUESTION,
                       "config": types.GenerateContentConfig(system_instruction=SYSTEM, temperature=0.2,
                                                             max_output_tokens=256)}

    def targets(self) -> list[tuple[type, str]]:
        return [(self.mod.Models, "_generate_content"), (self.mod.Models, "_generate_content_stream")]

    def resource(self) -> Any:
        return self.json.models

    def call(self) -> Any:
        return self.json.models.generate_content(**self.kwargs)

    def stream(self) -> Any:
        return self.sse.models.generate_content_stream(**self.kwargs)

    def feed(self, inner: Any, prebuilt: list[Any]) -> None:
        from google.genai.types import HttpResponse

        api = self.sse._api_client
        bodies = [HttpResponse(headers={}, body=c.model_dump_json(exclude_none=True, by_alias=True)) for c in prebuilt]

        def once(*args: Any, **kwargs: Any) -> Any:
            del api.request_streamed  # the next stream reads its HTTP body again
            return iter(bodies)

        api.request_streamed = once

    def text_of(self, result: Any) -> str:
        return result.text


VENDORS["google_genai"] = GoogleGenAIVendor

class CohereVendor(Vendor):
    """Cohere's v2 chat through ``Client(...).v2`` (a ``V2Client``): a ``ClientV2`` rebinds
    ``chat`` on the instance when built, so one built before ``patch()`` stays untraced, and
    this benchmark patches after building its clients. ``chat_stream`` is a generator
    function: ``feed`` hands the prebuilt events to the next stream through a one-shot raw
    client (the generator reads ``self._raw_client`` on its first step)."""

    name = "cohere"
    sync_call_label = "client.v2.chat"
    stream_label = "client.v2.chat_stream"

    def __init__(self) -> None:
        import cohere
        import cohere.v2.client as mod
        import httpx
        from _mock_vendors import cohere_bodies

        body, sse, self.chunks = cohere_bodies()

        def transport(content: bytes, headers: dict[str, str]) -> Any:
            return httpx.MockTransport(lambda request: httpx.Response(200, headers=headers, content=content))

        self.json = cohere.Client(api_key="bench-not-a-key",
                                  httpx_client=httpx.Client(transport=transport(body, JSON_HEADERS))).v2
        self.sse = cohere.Client(api_key="bench-not-a-key",
                                 httpx_client=httpx.Client(transport=transport(sse, SSE_HEADERS))).v2
        self.mod = mod
        self.kwargs = {"model": "command-a-03-2025", "messages": MESSAGES, "temperature": 0.2, "max_tokens": 256}

    def targets(self) -> list[tuple[type, str]]:
        return [(self.mod.V2Client, "chat"), (self.mod.V2Client, "chat_stream")]

    def resource(self) -> Any:
        return self.json

    def call(self) -> Any:
        return self.json.chat(**self.kwargs)

    def stream(self) -> Any:
        return self.sse.chat_stream(**self.kwargs)

    def feed(self, inner: Any, prebuilt: list[Any]) -> None:
        import contextlib
        import types

        client, real = self.sse, self.sse._raw_client

        class OneShot:
            @contextlib.contextmanager
            def chat_stream(self, **kwargs: Any) -> Any:
                client._raw_client = real  # the next stream parses its body again
                yield types.SimpleNamespace(data=iter(prebuilt))

        client._raw_client = OneShot()

    def text_of(self, result: Any) -> str:
        return result.message.content[0].text


VENDORS["cohere"] = CohereVendor


class LiteLLMVendor(Vendor):
    """LiteLLM's OpenAI route: ``litellm.completion(client=openai.OpenAI(...))`` over the same
    ``httpx2.MockTransport`` bodies as OpenAI (LiteLLM posts through the SDK's ``client.post``);
    its ``CustomStreamWrapper`` turns the 1,000 SSE chunks into ``ModelResponseStream``s.
    Needs ``LITELLM_LOCAL_MODEL_COST_MAP=True`` (set here unless set) so ``import litellm``
    reads its bundled price map instead of fetching one."""

    name = "litellm"
    sync_call_label = "litellm.completion"
    stream_label = "completion(stream=True)"
    has_async = True

    def __init__(self) -> None:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        import litellm
        import litellm.chat_completions.dispatch as mod
        import openai

        body, sse, self.chunks = openai_bodies()
        kw: dict[str, Any] = {"api_key": "sk-bench-not-a-key", "max_retries": 0}
        self.litellm = litellm
        self.mod = mod
        self.json = openai.OpenAI(http_client=httpx2.Client(transport=mock_transport(body, JSON_HEADERS)), **kw)
        self.sse = openai.OpenAI(http_client=httpx2.Client(transport=mock_transport(sse, SSE_HEADERS)), **kw)
        self.ajson = openai.AsyncOpenAI(
            http_client=httpx2.AsyncClient(transport=mock_transport(body, JSON_HEADERS)), **kw)
        self.asse = openai.AsyncOpenAI(
            http_client=httpx2.AsyncClient(transport=mock_transport(sse, SSE_HEADERS)), **kw)
        self.kwargs = {"model": "openai/gpt-4o-mini", "messages": MESSAGES, "temperature": 0.2, "max_tokens": 256,
                       "client": self.json}

    def targets(self) -> list[tuple[Any, str]]:
        return [(self.mod, "completion"), (self.mod, "acompletion")]

    def resource(self) -> Any:
        return self.litellm  # the functions are module-level: the package stands for the bound object

    def call(self) -> Any:
        return self.litellm.completion(**self.kwargs)

    def stream(self) -> Any:
        return self.litellm.completion(stream=True, **{**self.kwargs, "client": self.sse})

    async def acall(self) -> Any:
        return await self.litellm.acompletion(**{**self.kwargs, "client": self.ajson})

    async def astream(self) -> Any:
        return await self.litellm.acompletion(stream=True, **{**self.kwargs, "client": self.asse})

    def text_of(self, result: Any) -> str:
        return result.choices[0].message.content

    def feed(self, inner: Any, prebuilt: list[Any]) -> None:
        """The wrapper reads the provider's chunks from ``completion_stream``; LiteLLM's own
        chunks are OpenAI-shaped, so it takes the prebuilt ones as they are."""
        inner.completion_stream = iter(prebuilt)


VENDORS["litellm"] = LiteLLMVendor


class NotAvailable(Exception):
    """The vendor's instrumentation is unknown, does not patch, or makes no usable span."""


# --- telemetry plumbing -----------------------------------------------------------------------


class NoOpExporter(SpanExporter):
    def __init__(self) -> None:
        self.count = 0

    def export(self, spans):  # type: ignore[no-untyped-def]
        self.count += len(spans)
        return SpanExportResult.SUCCESS


class CountingBatchProcessor(BatchSpanProcessor):
    """A ``BatchSpanProcessor`` that also counts ended spans per benchmark variant."""

    def __init__(self, exporter: SpanExporter) -> None:
        super().__init__(exporter, max_queue_size=200_000, max_export_batch_size=512, schedule_delay_millis=200)
        self.label = "-"
        self.ended: dict[str, int] = {}

    def on_end(self, span):  # type: ignore[no-untyped-def]
        label = self.label
        self.ended[label] = self.ended.get(label, 0) + 1
        super().on_end(span)


class StartSnapshot(SpanProcessor):
    """Records each span's attributes as they were when it started (for the raw-span floor)."""

    def __init__(self) -> None:
        self.at_start: dict[int, dict[str, Any]] = {}

    def on_start(self, span, parent_context=None):  # type: ignore[no-untyped-def]
        self.at_start[span.context.span_id] = dict(span.attributes or {})


class ErrorCollector(logging.Handler):
    """The agent logs an ERROR when its safety boundary caught one of its own failures."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _patched(vendor: Vendor) -> bool:
    return all(isinstance(inspect.getattr_static(cls, attr), wrapt.FunctionWrapper) for cls, attr in vendor.targets())


def patch(vendor: Vendor) -> None:
    weave_agent.patch(**{vendor.name: True})
    if not _patched(vendor):
        weave_agent.unpatch(vendor.name)
        raise NotAvailable("weave_agent.patch(%s=True) left %s unpatched (armed: %s)" % (
            vendor.name, ", ".join("%s.%s" % (c.__name__, a) for c, a in vendor.targets()), arming.armed()))


def unpatch(vendor: Vendor, originals: list[Any]) -> None:
    weave_agent.unpatch(vendor.name)
    now = [inspect.getattr_static(cls, attr) for cls, attr in vendor.targets()]
    if any(a is not b for a, b in zip(now, originals, strict=True)):
        raise SystemExit("weave_agent.unpatch(%r) did not restore the SDK's methods: the benchmark is broken"
                         % vendor.name)


def consume(stream: Any) -> int:
    n = 0
    for _ in stream:
        n += 1
    return n


async def aconsume(stream: Any) -> int:
    n = 0
    async for _ in stream:
        n += 1
    return n


# --- the sanity check: what one patched call records ------------------------------------------


class Shape:
    """The span one patched non-streaming call made: name, kind, attributes at start and end."""

    def __init__(self, name: str, kind: Any, start: dict[str, Any], end: dict[str, Any]) -> None:
        self.name, self.kind, self.start, self.end = name, kind, start, end


def check(vendor: Vendor, originals: list[Any], meter_provider: MeterProvider | None) -> tuple[Shape, dict[str, Any]]:
    """Patch, make one call and one stream into an in-memory exporter, and check the spans
    say what the response said. Raises NotAvailable when they do not."""
    exporter = InMemorySpanExporter()
    snap = StartSnapshot()
    provider = TracerProvider()
    provider.add_span_processor(snap)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.use_providers(provider, meter_provider)
    bare_result = vendor.call()
    bare_chunks = consume(vendor.stream())
    patch(vendor)
    try:
        result = vendor.call()
        chunks = consume(vendor.stream())
    except Exception as exc:
        raise NotAvailable("a patched call raised %r" % (exc,)) from exc
    finally:
        unpatch(vendor, originals)
    if vendor.text_of(result) != vendor.text_of(bare_result) or chunks != bare_chunks:
        raise NotAvailable("the patched SDK returned something else than the unpatched one")
    if bare_chunks != vendor.chunks:
        raise SystemExit("%s: the SDK yielded %d chunks, expected %d: the mock stream is wrong"
                         % (vendor.name, bare_chunks, vendor.chunks))
    spans = exporter.get_finished_spans()
    if len(spans) != 2:
        raise NotAvailable("expected 2 spans (a call and a stream), got %d" % len(spans))
    call_span, stream_span = spans
    ca, sa = dict(call_span.attributes or {}), dict(stream_span.attributes or {})
    problems = []
    if ca.get("gen_ai.usage.output_tokens") != 200:
        problems.append("call span without gen_ai.usage.output_tokens=200")
    capture = telemetry.settings().capture_content != "no_content"
    if capture and "gen_ai.output.messages" not in ca:
        problems.append("call span without gen_ai.output.messages (content capture is on)")
    if sa.get("weave_agent.stream.chunks") != vendor.chunks or sa.get("weave_agent.stream.complete") is not True:
        problems.append("stream span chunks=%r complete=%r" % (sa.get("weave_agent.stream.chunks"),
                                                                sa.get("weave_agent.stream.complete")))
    if not sa.get("gen_ai.usage.output_tokens"):
        problems.append("stream span without usage")
    if problems:
        raise NotAvailable("; ".join(problems))
    start = snap.at_start[call_span.context.span_id]
    end = {k: v for k, v in ca.items() if k not in start}
    provider.shutdown()
    info = {
        "call_span": {"name": call_span.name, "attributes": len(ca),
                      "attribute_bytes": sum(len(str(v)) for v in ca.values()),
                      "start_attributes": sorted(start), "end_attributes": sorted(end)},
        "stream_span": {"name": stream_span.name, "attributes": len(sa), "chunks": sa.get("weave_agent.stream.chunks"),
                        "attribute_bytes": sum(len(str(v)) for v in sa.values())},
    }
    return Shape(call_span.name, call_span.kind, start, end), info


# --- where the per-call time goes -----------------------------------------------------------------


def breakdown(vendor: Vendor, agent_alone: Callable[[str], Callable[[], float]], instant_calls: Callable[[], float],
              provider: TracerProvider, meter_provider: MeterProvider | None, args: argparse.Namespace) -> dict[str, Any]:
    """The agent-alone call under four settings (content capture on/off x metrics on/off) and
    without a recording span (a no-op tracer provider), medians of a few interleaved rounds:
    the differences say what content, metrics and the span itself cost per call."""
    from weave_agent.settings import Settings

    state = telemetry._state  # internal: swap the settings in place, as use_providers() does
    saved = state.settings
    configs = {
        "full (content on, metrics on)": ("span_only", provider, meter_provider),
        "content off, metrics on": ("no_content", provider, meter_provider),
        "content on, metrics off": ("span_only", provider, None),
        "content off, metrics off": ("no_content", provider, None),
        "content on, metrics off, no-op tracer": ("span_only", trace.NoOpTracerProvider(), None),
        "content off, metrics off, no-op tracer": ("no_content", trace.NoOpTracerProvider(), None),
    }

    def under(config: tuple[str, Any, Any]) -> Callable[[], float]:
        sample = agent_alone("breakdown")

        def run() -> float:
            mode, tp, mp = config
            telemetry.use_providers(tp, mp)
            state.settings = Settings.load(capture_content=mode)
            try:
                return sample()
            finally:
                telemetry.use_providers(provider, meter_provider)
                state.settings = saved

        return run

    variants = {k: under(c) for k, c in configs.items()}
    variants["instant"] = instant_calls
    samples = interleave(variants, 5 if args.quick else 9, warmup=1, progress=vendor.name + " breakdown")
    med = {k: statistics.median(v) * 1e6 for k, v in samples.items()}
    parts = {
        "total": med["full (content on, metrics on)"] - med["instant"],
        "metrics": med["full (content on, metrics on)"] - med["content on, metrics off"],
        "content capture (building, serializing, span attributes)":
            med["content on, metrics off"] - med["content off, metrics off"],
        "  of which the agent's Python (no-op tracer)":
            med["content on, metrics off, no-op tracer"] - med["content off, metrics off, no-op tracer"],
        "span (OTel SDK start/end, export queue and thread)":
            med["content off, metrics off"] - med["content off, metrics off, no-op tracer"],
        "the rest of the agent (wrapper, binding, extraction without content)":
            med["content off, metrics off, no-op tracer"] - med["instant"],
    }
    return {"medians_us": med, "parts_us": parts}


# --- one vendor ---------------------------------------------------------------------------------


def run_vendor(vendor: Vendor, args: argparse.Namespace, proc: CountingBatchProcessor, provider: TracerProvider,
               meter_provider: MeterProvider | None) -> tuple[list[dict], dict]:
    originals = [inspect.getattr_static(cls, attr) for cls, attr in vendor.targets()]
    if _patched(vendor):
        raise SystemExit("%s is already patched before the benchmark started" % vendor.name)
    shape, info = check(vendor, originals, meter_provider)
    telemetry.use_providers(provider, meter_provider)
    tracer = provider.get_tracer("bench.raw_span")
    name = vendor.name
    # Samples of about 40 ms (calls) and 60 ms (streams), whatever the SDK's own speed.
    vendor.call()
    t0 = time.perf_counter()
    for _ in range(5):
        vendor.call()
    per_call = (time.perf_counter() - t0) / 5
    t0 = time.perf_counter()
    consume(vendor.stream())
    per_stream = time.perf_counter() - t0
    scale = 0.35 if args.quick else 1.0
    calls = max(5, min(100, int(0.04 * scale / per_call)))
    streams = max(1, min(3, int(0.06 * scale / per_stream)))

    def trivial(x: Any) -> Any:
        return x

    def raw(x: Any) -> Any:
        # The floor: what any tracer pays for this span (attribute values already built).
        span = tracer.start_span(shape.name, kind=shape.kind, attributes=shape.start)
        token = context.attach(trace.set_span_in_context(span))
        try:
            result = trivial(x)
        finally:
            context.detach(token)
        span.set_attributes(shape.end)
        span.end()
        return result

    def loop(fn: Callable[[Any], Any], n: int) -> Callable[[], float]:
        def sample() -> float:
            t0 = clock()
            for i in range(n):
                fn(i)
            return (clock() - t0) / n

        return sample

    def labelled(label: str, sample: Callable[[], Any], patched: bool) -> Callable[[], Any]:
        """Patch (or not), one untimed warm call, the timed sample, unpatch; spans counted per label."""

        def run() -> Any:
            if patched:
                patch(vendor)
            proc.label = label
            try:
                return sample()
            finally:
                proc.label = "-"
                if patched:
                    unpatch(vendor, originals)

        return run

    def sdk_calls(fn: Callable[[], Any]) -> Callable[[], float]:
        def sample() -> float:
            fn()  # warm: a fresh patch reads its signature on the first call
            t0 = clock()
            for _ in range(calls):
                fn()
            return (clock() - t0) / calls

        return sample

    loop_ = asyncio.new_event_loop()

    def sdk_acalls(fn: Callable[[], Any]) -> Callable[[], float]:
        async def many() -> float:
            await fn()
            t0 = clock()
            for _ in range(calls):
                await fn()
            return (clock() - t0) / calls

        return lambda: loop_.run_until_complete(many())

    def sdk_streams(open_stream: Callable[[], Any]) -> Callable[[], tuple[float, float]]:
        def sample() -> tuple[float, float]:
            consume(open_stream())  # warm
            whole = it = 0.0
            n = 0
            for _ in range(streams):
                t0 = clock()
                s = open_stream()
                t1 = clock()
                n += consume(s)
                t2 = clock()
                whole += t2 - t0
                it += t2 - t1
            return whole / n, it / n

        return sample

    prebuilt = list(vendor.stream())  # the SDK's own parsed chunk objects
    response = vendor.call()  # the SDK's own parsed response
    resource = vendor.resource()
    owner, attr = vendor.targets()[0]

    instant_hits = [0]

    def instant(self: Any, *a: Any, **kw: Any) -> Any:
        instant_hits[0] += 1
        return response

    how = {"mode": "wrapper"}

    def alone_fn() -> Callable[..., Any]:
        """The instrumentation's own wrapper (taken from the patched SDK method) around
        ``instant``, a method that returns the SDK's prebuilt response at once. A vendor
        wrapper that calls the SDK method it closed over instead of the one it wraps
        (mistral's dispatch) is replaced by the agent's ``wrap_with_spec`` with that
        instrumentation's own spec (``_self_weave_spec``)."""
        patched_fn = inspect.getattr_static(owner, attr)
        fn = wrapt.FunctionWrapper(instant, patched_fn._self_wrapper).__get__(resource, owner)
        before = instant_hits[0]
        fn(**vendor.kwargs)
        if instant_hits[0] != before:
            how["mode"] = "wrapper"
            return fn
        spec = getattr(patched_fn, "_self_weave_spec", None)
        if spec is None:
            raise NotAvailable("the patched %s.%s does not call what it wraps, and has no _self_weave_spec"
                               % (owner.__name__, attr))
        from weave_agent.tracing.calls import wrap_with_spec

        how["mode"] = "wrap_with_spec(instant, the instrumentation's _self_weave_spec)"
        return wrap_with_spec(instant, spec).__get__(resource, owner)

    def agent_alone(label: str) -> Callable[[], float]:
        """The agent's per-call work without the SDK's: the same extraction, span, content
        and metrics, around a method that returns at once."""

        def sample() -> float:
            fn = alone_fn()
            kwargs = vendor.kwargs
            for _ in range(20):
                fn(**kwargs)  # warm
            n = 400 if not args.quick else 200
            t0 = clock()
            for _ in range(n):
                fn(**kwargs)
            return (clock() - t0) / n

        return labelled(label, sample, True)

    def instant_calls() -> float:
        kwargs = vendor.kwargs
        n = 20_000
        t0 = clock()
        for _ in range(n):
            instant(resource, **kwargs)
        return (clock() - t0) / n

    def prebuilt_streams() -> float:
        """A real (patched or unpatched) stream call whose SDK stream then yields the prebuilt
        chunks: what is left per chunk is the SDK's ``__next__`` and, patched, the agent's
        proxy and accumulator (the span still ends, with the output rebuilt from them)."""
        s = vendor.stream()
        inner = getattr(s, "__wrapped__", s)
        vendor.feed(inner, prebuilt)
        t0 = clock()
        n = consume(s)
        return (clock() - t0) / n

    def sdk_prebuilt() -> float:
        prebuilt_streams()  # warm
        return statistics.median(prebuilt_streams() for _ in range(5))

    def sdk_astreams(open_stream: Callable[[], Any]) -> Callable[[], tuple[float, float]]:
        async def many() -> tuple[float, float]:
            await aconsume(await open_stream())
            whole = it = 0.0
            n = 0
            for _ in range(streams):
                t0 = clock()
                s = await open_stream()
                t1 = clock()
                n += await aconsume(s)
                t2 = clock()
                whole += t2 - t0
                it += t2 - t1
            return whole / n, it / n

        return lambda: loop_.run_until_complete(many())

    call_variants = {
        "bare": labelled("bare", loop(trivial, 20_000), False),
        "raw span": labelled("raw span", loop(raw, 2000 if not args.quick else 1000), False),
        "unpatched": labelled("unpatched", sdk_calls(vendor.call), False),
        "patched": labelled("patched", sdk_calls(vendor.call), True),
        "instant": labelled("instant", instant_calls, False),
        "patched alone": agent_alone("patched alone"),
    }
    stream_variants = {
        "unpatched stream": labelled("unpatched stream", sdk_streams(vendor.stream), False),
        "patched stream": labelled("patched stream", sdk_streams(vendor.stream), True),
    }
    chunk_variants = {
        "unpatched prebuilt": labelled("unpatched prebuilt", sdk_prebuilt, False),
        "patched prebuilt": labelled("patched prebuilt", sdk_prebuilt, True),
    }
    if vendor.has_async:
        call_variants["unpatched async"] = labelled("unpatched async", sdk_acalls(vendor.acall), False)
        call_variants["patched async"] = labelled("patched async", sdk_acalls(vendor.acall), True)
        stream_variants["unpatched async stream"] = labelled("unpatched async stream", sdk_astreams(vendor.astream),
                                                             False)
        stream_variants["patched async stream"] = labelled("patched async stream", sdk_astreams(vendor.astream), True)

    t0 = time.perf_counter()
    cs = interleave(call_variants, args.rounds, warmup=2, progress=name + " per call")
    ss = interleave(stream_variants, args.stream_rounds, warmup=1, progress=name + " per chunk")
    ps = interleave(chunk_variants, args.rounds, warmup=2, progress=name + " per chunk, prebuilt")
    elapsed = time.perf_counter() - t0
    loop_.run_until_complete(loop_.shutdown_asyncgens())
    loop_.close()

    us = 1e6
    floor = [r - b for r, b in zip(cs["raw span"], cs["bare"], strict=True)]
    figs = [
        compare(f"{name}: raw SDK span vs bare call", cs["bare"], cs["raw span"], "µs", scale=us,
                baseline_label="a bare Python call", variant_label="one raw SDK span with the instrumentation's "
                "%d attributes (precomputed), made current around the call" % (len(shape.start) + len(shape.end))),
    ]
    for mode, u, p in (("sync", "unpatched", "patched"), ("async", "unpatched async", "patched async")):
        if u not in cs:
            continue
        label = vendor.sync_call_label + (" (async)" if mode == "async" else "")
        figs.append(compare(f"{name}: per call, patched vs unpatched ({mode})", cs[u], cs[p], "µs",
                            target=PER_CALL_TARGET_US, target_kind="diff", scale=us,
                            baseline_label=label + " unpatched", variant_label=label + " patched"))
        added = [pp - uu for pp, uu in zip(cs[p], cs[u], strict=True)]
        ratios = [a / f if f > 0 else float("inf") for a, f in zip(added, floor, strict=True)]
        med_ratio = (sorted(added)[len(added) // 2] / sorted(floor)[len(floor) // 2]) if floor else None
        figs.append(compare(f"{name}: per call, added / raw span ({mode})", None, ratios, "x",
                            target=PER_CALL_RAW_RATIO, target_kind="value",
                            variant_label="(patched - unpatched) / (raw span - bare), paired per round",
                            note="ratio of the medians: %.2f" % med_ratio if med_ratio is not None else ""))
    figs.append(compare(f"{name}: per call, agent's work alone (sync)", cs["instant"], cs["patched alone"], "µs",
                        target=PER_CALL_TARGET_US, target_kind="diff", scale=us,
                        baseline_label="a method returning the SDK's prebuilt response at once",
                        variant_label="the same method under the instrumentation's own wrapper (taken from the "
                        "patched %s)" % vendor.sync_call_label,
                        note="no HTTP, no SDK parsing: what the agent adds, with less noise than the SDK call; "
                        "harness: %s" % how["mode"]))
    alone = [pa - ins for pa, ins in zip(cs["patched alone"], cs["instant"], strict=True)]
    figs.append(compare(f"{name}: per call, agent's work alone / raw span", None,
                        [a / f if f > 0 else float("inf") for a, f in zip(alone, floor, strict=True)], "x",
                        target=PER_CALL_RAW_RATIO, target_kind="value",
                        variant_label="(agent alone - instant) / (raw span - bare), paired per round"))
    for mode, u, p in (("sync", "unpatched stream", "patched stream"),
                       ("async", "unpatched async stream", "patched async stream")):
        if u not in ss:
            continue
        label = vendor.stream_label + (" (async)" if mode == "async" else "")
        figs.append(compare(f"{name}: per chunk, iteration ({mode})", [x[1] for x in ss[u]], [x[1] for x in ss[p]],
                            "µs", target=PER_CHUNK_TARGET_US, target_kind="diff", scale=us,
                            baseline_label=label + " unpatched, consumed", variant_label="patched",
                            note="time from the call's return to the stream's end / %d chunks" % vendor.chunks))
        figs.append(compare(f"{name}: per chunk, call + iteration ({mode})", [x[0] for x in ss[u]],
                            [x[0] for x in ss[p]], "µs", scale=us, baseline_label="unpatched",
                            variant_label="patched", note="the whole stream call / %d chunks" % vendor.chunks))
    figs.append(compare(f"{name}: per chunk, agent's work alone (sync)", ps["unpatched prebuilt"],
                        ps["patched prebuilt"], "µs", target=PER_CHUNK_TARGET_US, target_kind="diff", scale=us,
                        baseline_label="a real unpatched stream call whose SDK stream then yields %d prebuilt "
                        "chunk objects" % len(prebuilt), variant_label="the same, patched",
                        note="no SSE parsing nor model building: the SDK's __next__ plus, patched, the proxy "
                        "and the accumulator; median of 5 streams per sample"))
    info["elapsed_s"] = round(elapsed, 1)
    info["calls_per_sample"], info["streams_per_sample"] = calls, streams
    info["agent_alone_harness"] = how["mode"]
    info["sdk_call_ms"], info["sdk_stream_ms"] = round(per_call * 1e3, 3), round(per_stream * 1e3, 2)
    info["breakdown"] = breakdown(vendor, agent_alone, instant_calls, provider, meter_provider, args)
    info["variants"] = list(call_variants) + list(stream_variants) + list(chunk_variants)
    info["shape"] = {"name": shape.name, "start": list(shape.start), "end": list(shape.end)}
    return figs, info


# --- report -------------------------------------------------------------------------------------


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("openai", "anthropic", "mistralai", "httpx2", "pydantic", "opentelemetry-sdk", "wrapt",
                 "weave-agent"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "-"
    return out


def _md_fmt(x: float | None, unit: str) -> str:
    if x is None:
        return "-"
    a = abs(x)
    digits = 0 if a >= 1000 else 1 if a >= 100 else 2 if a >= 1 else 3
    return f"{x:.{digits}f} {unit}"


def docs_section(payload: dict, command: str) -> str:
    m = payload["machine"]
    v = payload["versions"]
    load = m.get("load_avg")
    lines = [
        BEGIN,
        "## Vendor SDK overhead (`bench/vendors.py`)",
        "",
        "* date: %s; git commit %s (plus uncommitted changes, if any)" % (m["time"], (m.get("git_commit") or "-")[:12]),
        "* machine: %s, %s CPUs; load average at the start %s" % (
            m["platform"], m["cpu_count"], ", ".join("%.2f" % x for x in load) if load else "-"),
        "* python %s; %s" % (m["python"], ", ".join("%s %s" % kv for kv in v.items())),
        "* command: `%s` (%d interleaved rounds per call, %d per chunk; SDK calls and streams per sample sized "
        "to about 40 and 60 ms; medians of process CPU time (`--clock %s`); took %.0f s)" % (
            command, payload["config"]["rounds"], payload["config"]["stream_rounds"], payload["config"]["clock"],
            payload["elapsed_s"]),
        "* telemetry: the agent's defaults (content capture `%s`), spans through a `BatchSpanProcessor` to a "
        "no-op exporter, metrics: %s; the SDKs talk to an in-process `httpx2.MockTransport`" % (
            payload["settings"]["capture_content"], payload["config"]["metrics"]),
        "",
        "| figure | baseline | variant | added [95% CI] | ratio | target | result |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for f in payload["figures"]:
        u = f["unit"]
        base = _md_fmt(f["baseline"]["median"], u) if f["baseline"] else "-"
        diff = "-"
        if f["diff"] is not None:
            lo, hi = f["diff_ci95"]
            diff = "%s [%s, %s]" % (_md_fmt(f["diff"], u), _md_fmt(lo, "").strip(), _md_fmt(hi, "").strip())
        ratio = "%.2f" % f["ratio"] if f["ratio"] is not None else "-"
        target = "-"
        if f["target"] is not None:
            target = {"diff": "added <= %g %s", "value": "<= %g %s", "ratio": "ratio <= %g%s"}[f["target_kind"]] % (
                f["target"], u if f["target_kind"] != "ratio" else "")
        lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            f["name"], base, _md_fmt(f["variant"]["median"], u), diff, ratio, target, f["result"] or "info"))
    for name, reason in payload["not_available"].items():
        lines.append("")
        lines.append("%s: not available yet (%s)." % (name, reason))
    details = payload["details"]
    if details:
        names = list(details)
        parts = list(next(iter(details.values()))["breakdown"]["parts_us"])
        lines += [
            "",
            "Where the agent's per-call time goes (the agent-alone call under other settings, medians of "
            "interleaved rounds, µs of process CPU; differences, so they add up only roughly):",
            "",
            "| part | " + " | ".join(names) + " |",
            "|---|" + "---:|" * len(names),
        ]
        for part in parts:
            lines.append("| %s | %s |" % (part.strip(), " | ".join(
                "%.1f" % details[n]["breakdown"]["parts_us"][part] for n in names)))
    lines += [
        "",
        "Targets: a patched non-streaming call adds at most %g µs and at most %gx one raw SDK span (the raw span "
        "minus a bare call, same attributes); a consumed stream adds at most %g µs per chunk (iteration after the "
        "call returned, divided by the chunks the SDK yielded)." % (
            PER_CALL_TARGET_US, PER_CALL_RAW_RATIO, PER_CHUNK_TARGET_US),
        END,
    ]
    return "\n".join(lines)


def write_docs(section: str) -> None:
    if os.path.exists(DOCS):
        with open(DOCS) as f:
            text = f.read()
    else:
        text = ("# Benchmarks\n\nFigures from the commands in `bench/` (see `bench/README.md` for how they are "
                "taken). Each section is written by its benchmark and names its machine, versions, command and "
                "date; it is replaced whole on the next full run.\n")
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    os.makedirs(os.path.dirname(DOCS), exist_ok=True)
    tmp = DOCS + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, DOCS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (about 30 s); noisier; no docs")
    parser.add_argument("--vendor", choices=(*VENDORS, "all"), default="all")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--no-docs", action="store_true", help="do not touch docs/benchmarks.md")
    parser.add_argument("--content", choices=("on", "off"), default="on",
                        help="content capture: on (the default, span_only) or off (no_content)")
    parser.add_argument("--metrics", choices=("on", "off"), default="on",
                        help="on: a MeterProvider with an InMemoryMetricReader (default); off: no meter provider")
    parser.add_argument("--clock", choices=tuple(CLOCKS), default="cpu",
                        help="cpu: process CPU time (default; robust to other load), wall: perf_counter")
    parser.add_argument("--json", default=os.path.join(RESULTS_DIR, "vendors.json"))
    args = parser.parse_args()
    if args.content == "off":
        os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "no_content"
    global clock
    clock = CLOCKS[args.clock]
    args.rounds = 10 if args.quick else 30
    args.stream_rounds = 8 if args.quick else 20
    command = "python bench/vendors.py" + (" --quick" if args.quick else "") + (
        " --vendor " + args.vendor if args.vendor != "all" else "") + (
        " --content off" if args.content == "off" else "") + (" --metrics off" if args.metrics == "off" else "") + (
        " --clock wall" if args.clock == "wall" else "")
    started = time.perf_counter()

    errors = ErrorCollector()
    logging.getLogger("weave_agent").addHandler(errors)
    exporter = NoOpExporter()
    proc = CountingBatchProcessor(exporter)
    provider = TracerProvider()
    provider.add_span_processor(proc)
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()]) if args.metrics == "on" else None

    names = list(VENDORS) if args.vendor == "all" else [args.vendor]
    figures: list[dict] = []
    details: dict[str, Any] = {}
    not_available: dict[str, str] = {}
    spans: dict[str, dict[str, int]] = {}
    for name in names:
        try:
            vendor = VENDORS[name]()
        except Exception as exc:
            not_available[name] = "the SDK client could not be built: %r" % (exc,)
            print("%s: not available (%s); skipped" % (name, not_available[name]), file=sys.stderr)
            continue
        try:
            weave_agent.patch(**{name: False})  # raises ValueError on an unknown name
        except Exception as exc:
            not_available[name] = str(exc)
            print("%s: not available yet (%s); skipped" % (name, exc), file=sys.stderr)
            continue
        before = len(errors.messages)
        proc.ended = {}
        try:
            figs, info = run_vendor(vendor, args, proc, provider, meter_provider)
        except NotAvailable as exc:
            try:
                weave_agent.unpatch(name)
            except Exception:
                pass
            not_available[name] = str(exc)
            print("%s: not available yet (%s); skipped" % (name, exc), file=sys.stderr)
            continue
        provider.force_flush()
        spans[name] = dict(proc.ended)
        for label in info["variants"]:
            if label.startswith("patched") and not proc.ended.get(label):
                raise SystemExit("%s: the variant %r produced no span: the instrumentation is broken" % (name, label))
        for label in proc.ended:
            if not label.startswith(("patched", "raw span", "breakdown")) and proc.ended[label]:
                raise SystemExit("%s: the unpatched variant %r produced %d spans: the benchmark is broken"
                                 % (name, label, proc.ended[label]))
        info["agent_errors"] = errors.messages[before:]
        if info["agent_errors"]:
            print("%s: the agent logged errors during the run: %s" % (name, "; ".join(info["agent_errors"][:5])),
                  file=sys.stderr)
        info["spans_ended"] = spans[name]
        details[name] = info
        figures += figs
    provider.force_flush()
    total_ended = sum(sum(d.values()) for d in spans.values())
    if figures and exporter.count == 0:
        raise SystemExit("no spans were exported: the benchmark is broken")
    if exporter.count != total_ended:
        print("warning: %d spans ended but %d exported (queue overflow?)" % (total_ended, exporter.count),
              file=sys.stderr)
    elapsed = time.perf_counter() - started

    print(format_table(figures))
    for name, reason in not_available.items():
        print("\n%s: not available yet (%s)" % (name, reason))
    for name, d in details.items():
        print("\n%s: where the agent's per-call time goes (agent alone, medians, µs of process CPU):" % name)
        for part, value in d["breakdown"]["parts_us"].items():
            print("  %-72s %7.1f" % (part, value))
    for name, d in details.items():
        print("\n%s: spans ended per variant %s; call span %r: %d attributes (%d characters of values)" % (
            name, d["spans_ended"], d["call_span"]["name"], d["call_span"]["attributes"],
            d["call_span"]["attribute_bytes"]))
    s = telemetry.settings()
    payload = {
        "machine": machine(),
        "versions": versions(),
        "command": command,
        "config": {"rounds": args.rounds, "stream_rounds": args.stream_rounds, "clock": args.clock, "stream_chunks": STREAM_CHUNKS, "vendors": names,
                   "metrics": "MeterProvider(metric_readers=[InMemoryMetricReader()])" if args.metrics == "on"
                   else "none",
                   "spans": "TracerProvider + BatchSpanProcessor(max_queue_size=200000) -> no-op exporter"},
        "settings": {"capture_content": s.capture_content, "max_value_size": s.max_value_size},
        "elapsed_s": round(elapsed, 1),
        "figures": figures,
        "not_available": not_available,
        "details": details,
        "spans_exported": exporter.count,
        "spans_ended": total_ended,
    }
    path = write_json(args.json, payload)
    print("\nspans ended %d, exported %d; took %.0f s; results: %s" % (
        total_ended, exporter.count, elapsed, os.path.relpath(path)))
    if not args.quick and not args.no_docs and figures:
        write_docs(docs_section(payload, command))
        print("docs: %s (section %s)" % (os.path.relpath(DOCS), BEGIN))
    provider.shutdown()
    gc.collect()
    missed = [f["name"] for f in figures if f["result"] == "MISS"]
    if missed:
        print("MISS: " + ", ".join(missed))
    return 1 if (args.strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
