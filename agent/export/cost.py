"""What each model call cost: ``weave_agent.cost.usd`` on the LLM spans the agent exports.

The price source is ``genai-prices`` (Pydantic's maintained table of LLM API prices, the
one Logfire and Pydantic AI use): the agent keeps no prices of its own. Its data ships
inside the package and is read from there only: the agent builds its own snapshot from
the bundled table, so nothing is fetched at run time, and an ``UpdatePrices`` the app may
run for itself does not change the agent's figures between two runs of one release.

A span is priced from what it already carries: ``gen_ai.provider.name`` (mapped to the
source's provider ids below: a provider the map does not name is not priced; when the span
names its ``server.address``, the provider whose API lives there, and none for a server the
source does not know),
``gen_ai.response.model`` (else ``gen_ai.request.model``) and ``gen_ai.usage.*``, at the
span's start time (prices change on dates the table knows). The conventions' input
tokens include the cached ones (read and written) and their output tokens include the
reasoning ones; the source's ``Usage`` means the same (its ``cache_read_tokens``,
``cache_write_tokens`` and ``output_reasoning_tokens`` are parts of ``input_tokens`` and
``output_tokens``, each priced at its own rate where the provider has one). A provider or
model the source does not know, or counts it rejects, give no attribute: never a guess.

It runs where the spans are exported: ``PricingSpanExporter`` wraps the agent's exporter,
so the price table (a ~1.6 MB module of dataclasses, plus ``httpx2`` that the package's
updater imports) is loaded by the batch processor's worker thread on the first batch
that holds a model call, never on the app's thread. Spans that go to a TracerProvider the
app set itself (``handoff``) pass through the app's processors, not this exporter: they
carry no cost.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from .. import _log

ATTRIBUTE = "weave_agent.cost.usd"
SOURCE_ATTRIBUTE = "weave_agent.cost.source"  # "genai-prices <version>"

# gen_ai.provider.name (the conventions' well-known values, and the few more the
# instrumentations write) -> genai-prices' provider id. Azure serves OpenAI's models and
# Google Anthropic's: the source falls back to those itself.
PROVIDERS: Mapping[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "mistral_ai": "mistral",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "aws.bedrock": "aws",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "groq": "groq",
    "cohere": "cohere",
    "x_ai": "x-ai",
    "deepseek": "deepseek",
    "perplexity": "perplexity",
}

_INPUT = "gen_ai.usage.input_tokens"
_OUTPUT = "gen_ai.usage.output_tokens"
_CACHE_READ = "gen_ai.usage.cache_read.input_tokens"
_CACHE_WRITE = ("gen_ai.usage.cache_write.input_tokens", "gen_ai.usage.cache_creation.input_tokens")
_REASONING = "gen_ai.usage.reasoning.output_tokens"
_SERVICE_TIER = "openai.response.service_tier"


class _Prices:
    """The source, loaded once: its snapshot of the bundled table and its version."""

    __slots__ = ("snapshot", "usage", "source")

    def __init__(self) -> None:
        import genai_prices
        from genai_prices.data import providers
        from genai_prices.data_snapshot import DataSnapshot

        self.snapshot = DataSnapshot(providers=providers, from_auto_update=False)
        self.usage = genai_prices.Usage
        self.source = "genai-prices " + genai_prices.__version__


_prices: _Prices | None = None
_failed = False
# Held while the table loads, and by a fork meanwhile (``_before_fork``): a child forked in
# the middle of an import on another thread would inherit a module lock that no thread of
# its own ever releases, and its own first batch would wait on it forever.
_loading = threading.Lock()
_fork_held = threading.local()


def _before_fork() -> None:
    _fork_held.lock = _loading.acquire(timeout=10)


def _after_fork() -> None:
    if getattr(_fork_held, "lock", False):
        _fork_held.lock = False
        _loading.release()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork, after_in_child=_after_fork)


def prices() -> _Prices | None:
    """The loaded source, loading it on first use; None when it cannot be loaded (not
    installed, broken): then nothing is priced, and one line says why."""
    global _prices, _failed
    if _prices is None and not _failed:
        with _loading:
            if _prices is None and not _failed:
                try:
                    _prices = _Prices()
                except Exception as exc:
                    _failed = True
                    _log.warn_once("cost-source", "pricing is off: genai-prices could not be loaded (%s: %s)",
                                   type(exc).__name__, exc)
    return _prices


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def priceable(attributes: Mapping[str, Any]) -> bool:
    """Whether a span says enough to be priced (cheap: no table needed)."""
    return (attributes.get("gen_ai.provider.name") in PROVIDERS and ATTRIBUTE not in attributes
            and (_count(attributes.get(_INPUT)) is not None or _count(attributes.get(_OUTPUT)) is not None))


def price(attributes: Mapping[str, Any], start_time_ns: int | None = None) -> float | None:
    """The call's cost in USD as the source prices it, or None (unknown provider or
    model, no usage, counts the source rejects)."""
    if not priceable(attributes):
        return None
    model = attributes.get("gen_ai.response.model") or attributes.get("gen_ai.request.model")
    if not isinstance(model, str) or not model:
        return None
    p = prices()
    if p is None:
        return None
    counts = {
        "input_tokens": _count(attributes.get(_INPUT)),
        "output_tokens": _count(attributes.get(_OUTPUT)),
        "cache_read_tokens": _count(attributes.get(_CACHE_READ)),
        "cache_write_tokens": next((c for c in (_count(attributes.get(k)) for k in _CACHE_WRITE) if c is not None),
                                   None),
        "output_reasoning_tokens": _count(attributes.get(_REASONING)),
    }
    tier = attributes.get(_SERVICE_TIER)
    context = {"service_tier": tier} if isinstance(tier, str) and tier else None
    when = None
    if start_time_ns:
        from datetime import datetime, timezone

        when = datetime.fromtimestamp(start_time_ns / 1e9, tz=timezone.utc)
    try:
        provider = PROVIDERS[attributes["gen_ai.provider.name"]]
        address = attributes.get("server.address")
        if isinstance(address, str) and address:
            # The server says whose prices apply: the OpenAI SDK pointed at Groq or DeepSeek is
            # billed by them, and one pointed at a server the source does not know (a local
            # model, a proxy) gets no price rather than OpenAI's.
            provider = p.snapshot.find_provider(None, None, "https://" + address).id
        usage = p.usage(**{k: v for k, v in counts.items() if v is not None})
        calc = p.snapshot.calc(usage, model, provider, None, when, context)
    except LookupError:
        return None  # a provider or model the source does not know
    except (ValueError, ArithmeticError) as exc:
        _log.debug("cost: %s %r not priced: %s", attributes.get("gen_ai.provider.name"), model, exc)
        return None
    return float(calc.total_price)


def source() -> str | None:
    """``genai-prices <version>`` once loaded."""
    p = prices()
    return p.source if p is not None else None


def priced_span(span: ReadableSpan) -> ReadableSpan:
    """``span``, or a copy of it with the cost attributes when it can be priced."""
    attributes = span.attributes or {}
    if not priceable(attributes):
        return span
    usd = price(attributes, span.start_time)
    if usd is None:
        return span
    added = dict(attributes)
    added[ATTRIBUTE] = usd
    added[SOURCE_ATTRIBUTE] = source() or ""
    return ReadableSpan(
        name=span.name, context=span.context, parent=span.parent, resource=span.resource, attributes=added,
        events=span.events, links=span.links, kind=span.kind, status=span.status, start_time=span.start_time,
        end_time=span.end_time, instrumentation_scope=span.instrumentation_scope,
    )


class PricingSpanExporter(SpanExporter):
    """Adds the cost to the model-call spans of each batch, then hands the batch on. Runs
    on the exporting thread; a span that cannot be priced goes on as it was, and nothing
    here can fail an export."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.inner.export([self._priced(s) for s in spans])

    @staticmethod
    def _priced(span: ReadableSpan) -> ReadableSpan:
        try:
            return priced_span(span)
        except Exception:
            _log.warn_once("cost-export", "pricing a span failed; it goes out without a cost", exc_info=True)
            return span

    def shutdown(self, timeout_millis: float | None = None) -> None:
        import inspect

        if timeout_millis is not None and "timeout_millis" in inspect.signature(self.inner.shutdown).parameters:
            self.inner.shutdown(timeout_millis=timeout_millis)  # type: ignore[call-arg]
        else:
            self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)

    def __getattr__(self, name: str) -> Any:
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)  # _endpoint, paths, spans_written, last_failure, ...
