"""One measurement of one variant of ``bench/run.py``, in that variant's own virtual environment.

    <venv python> bench/_peer_worker.py probe
    <venv python> bench/_peer_worker.py calls VARIANT CALLS STREAMS REPS CLOCK
    <venv python> bench/_peer_worker.py rss VARIANT CALLS

Prints one JSON document on its last line. Runs nothing but what the variant's environment holds
(openai, the OpenTelemetry SDK, the variant's instrumentation) plus ``_mock_vendors`` beside it.
The OpenAI client talks to an in-process ``httpx2.MockTransport``.

* ``calls``: builds the clients (resources loaded, as in an app that enables tracing after its
  imports), sets the span pipeline up (OpenTelemetry variants: a global ``TracerProvider`` with a
  ``BatchSpanProcessor`` to a no-op exporter that counts; ddtrace: a trace writer that counts and
  discards), enables the variant (timed: the import of its instrumentation and its enable call),
  checks one call and one stream (spans, content), then times REPS samples of CALLS calls and of
  STREAMS consumed streams (medians), and the floor: a bare call, a no-op ``wrapt`` wrapper, and
  one raw SDK span with the attributes of the variant's own call span (OpenTelemetry variants).
* ``rss``: the same set-up, CALLS calls, then ``ru_maxrss``.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import statistics
import sys
import time
from typing import Any

VARIANTS = ("baseline", "weave-agent", "otel-contrib", "openllmetry", "openinference", "ddtrace")
OTEL_VARIANTS = ("weave-agent", "otel-contrib", "openllmetry", "openinference")
DISTRIBUTIONS = (
    "openai",
    "httpx2",
    "opentelemetry-api",
    "opentelemetry-sdk",
    "opentelemetry-instrumentation",
    "wrapt",
    "weave-agent",
    "opentelemetry-instrumentation-openai-v2",
    "opentelemetry-util-genai",
    "opentelemetry-instrumentation-openai",
    "openinference-instrumentation-openai",
    "openinference-instrumentation",
    "ddtrace",
)
KEEP_SPANS = 4  # spans the sink keeps for the content check (the rest are only counted)
CONTENT_PROBES = ("why distributed tracing matters", "each span records what happened")  # prompt, completion


def versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for name in DISTRIBUTIONS:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def probe() -> dict:
    """Versions, and the folders each variant's bootstrap puts on ``PYTHONPATH``."""
    import importlib.util
    import platform

    def folder(module: str) -> str | None:
        try:
            spec = importlib.util.find_spec(module)
        except ImportError:
            return None
        return os.path.dirname(spec.origin) if spec is not None and spec.origin else None

    return {
        "python": platform.python_version(),
        "executable": sys.executable,
        "versions": versions(),
        "bootstrap_dirs": {
            "weave-agent": folder("weave_agent.sitecustomize_shim"),
            "otel": folder("opentelemetry.instrumentation.auto_instrumentation"),
            "ddtrace": folder("ddtrace.bootstrap.sitecustomize"),
        },
    }


# --- the span sinks: count everything, keep a few for the content check ---------------------


def otel_sink() -> Any:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class CountingExporter(SpanExporter):
        def __init__(self) -> None:
            self.count = 0
            self.kept: list[Any] = []

        def export(self, spans):  # type: ignore[no-untyped-def]
            self.count += len(spans)
            if len(self.kept) < KEEP_SPANS:
                self.kept.extend(spans[: KEEP_SPANS - len(self.kept)])
            return SpanExportResult.SUCCESS

    exporter = CountingExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    exporter.flush = provider.force_flush  # type: ignore[attr-defined]
    exporter.provider = provider  # type: ignore[attr-defined]
    return exporter


def ddtrace_sink() -> Any:
    """ddtrace's tracer writes finished traces to its ``TraceWriter``; this one counts and
    discards (no agent connection). ddtrace has no public writer option since 3.0: the
    tracer's span aggregator holds it."""
    from ddtrace.internal.writer import TraceWriter
    from ddtrace.trace import tracer

    class CountingWriter(TraceWriter):
        def __init__(self) -> None:
            self.count = 0
            self.kept: list[Any] = []

        def recreate(self, appsec_enabled=None, llmobs_enabled=None):  # type: ignore[no-untyped-def]
            return self

        def stop(self, timeout=None):  # type: ignore[no-untyped-def]
            return None

        def write(self, spans=None):  # type: ignore[no-untyped-def]
            if spans:
                self.count += len(spans)
                if len(self.kept) < KEEP_SPANS:
                    self.kept.extend(spans[: KEEP_SPANS - len(self.kept)])

        def flush_queue(self) -> None:
            return None

    writer = CountingWriter()
    old = tracer._span_aggregator.writer
    tracer._span_aggregator.writer = writer
    try:
        old.stop()
    except Exception:
        pass
    writer.flush = tracer.flush  # type: ignore[attr-defined]
    return writer


def span_text(span: Any) -> tuple[str, dict]:
    """(everything the span recorded as one string, {attribute: short value})."""
    if hasattr(span, "attributes"):  # OpenTelemetry
        attrs = dict(span.attributes or {})
        extra = ""
    else:  # ddtrace: tags, metrics and LLM Observability's meta struct
        attrs = dict(span.get_tags())
        attrs.update(span.get_metrics())
        extra = json.dumps(span._get_struct_tag("_llmobs"), default=str)
    return json.dumps(attrs, default=str) + extra, attrs


# --- the variants --------------------------------------------------------------------------------


def enable(variant: str) -> None:
    """Enable the variant in this process, the way its documentation shows it in code."""
    if variant == "weave-agent":
        import weave_agent

        weave_agent.init()
    elif variant == "otel-contrib":
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

        OpenAIInstrumentor().instrument()
    elif variant == "openllmetry":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor

        OpenAIInstrumentor().instrument()
    elif variant == "openinference":
        from openinference.instrumentation.openai import OpenAIInstrumentor

        OpenAIInstrumentor().instrument()
    elif variant == "ddtrace":
        from ddtrace.llmobs import LLMObs

        LLMObs.enable(ml_app="weave-bench", integrations_enabled=True, agentless_enabled=False)
    elif variant != "baseline":
        raise SystemExit("unknown variant %r" % variant)


def patched_targets() -> dict[str, bool]:
    """Which of the places the peers patch are wrapped now."""
    import inspect

    import openai
    from openai._base_client import SyncAPIClient
    from openai.resources.chat.completions import completions

    places = {
        "Completions.create": (completions.Completions, "create"),
        "OpenAI.request": (openai.OpenAI, "request"),
        "SyncAPIClient.request": (SyncAPIClient, "request"),
        "SyncAPIClient._process_response": (SyncAPIClient, "_process_response"),
    }
    out = {}
    for label, (cls, attr) in places.items():
        try:
            out[label] = type(inspect.getattr_static(cls, attr)).__name__ not in ("function", "builtin_function_or_method")
        except AttributeError:
            out[label] = False
    return out


class Client:
    """Two OpenAI clients on MockTransports: a chat completion and a 1,000-chunk stream."""

    def __init__(self) -> None:
        import httpx2
        import openai
        from _mock_vendors import JSON_HEADERS, MESSAGES, SSE_HEADERS, mock_transport, openai_bodies

        body, sse, self.chunks = openai_bodies()
        kw: dict[str, Any] = {"api_key": "sk-bench-not-a-key", "base_url": "https://api.openai.com/v1", "max_retries": 0}
        self.json = openai.OpenAI(http_client=httpx2.Client(transport=mock_transport(body, JSON_HEADERS)), **kw)
        self.sse = openai.OpenAI(http_client=httpx2.Client(transport=mock_transport(sse, SSE_HEADERS)), **kw)
        self.kwargs = {"model": "gpt-4o-mini", "messages": MESSAGES, "temperature": 0.2, "max_tokens": 256}
        self.json.chat.completions  # noqa: B018  (loads the resource modules, as an app's first use does)

    def call(self) -> Any:
        return self.json.chat.completions.create(**self.kwargs)

    def stream(self) -> Any:
        return self.sse.chat.completions.create(stream=True, stream_options={"include_usage": True}, **self.kwargs)


def setup(variant: str) -> tuple[Client, Any, float]:
    """Clients, the span sink, and the seconds the variant took to enable."""
    client = Client()
    sink = otel_sink() if variant in OTEL_VARIANTS else None
    t0 = time.perf_counter()
    enable(variant)
    enable_s = time.perf_counter() - t0
    if variant == "ddtrace":
        sink = ddtrace_sink()
    return client, sink, enable_s


def consume(stream: Any) -> int:
    n = 0
    for _ in stream:
        n += 1
    return n


def check(client: Client, sink: Any) -> dict:
    """One call and one stream: the spans they made and whether the prompt and the completion
    are in them."""
    client.call()
    chunks = consume(client.stream())
    out: dict[str, Any] = {"chunks": chunks, "spans": 0, "content": False, "call_span": None}
    if sink is None:
        return out
    sink.flush()
    out["spans"] = sink.count
    texts = [span_text(s) for s in sink.kept]
    out["content"] = any(all(p in t for p in CONTENT_PROBES) for t, _ in texts)
    if sink.kept:
        first = sink.kept[0]
        _, attrs = texts[0]
        out["call_span"] = {"name": first.name, "attributes": len(attrs), "names": sorted(attrs)}
        if hasattr(first, "attributes"):
            out["_otel_span"] = first
    out["span_names"] = [s.name for s in sink.kept]
    return out


def timed(clock: Any, fn: Any, n: int) -> float:
    t0 = clock()
    for _ in range(n):
        fn()
    return (clock() - t0) / n


def floor(clock: Any, span: Any, reps: int) -> dict[str, float]:
    """A bare call, a no-op ``wrapt`` wrapper, and (given the variant's own call span) one raw
    SDK span with its attributes (values precomputed), made current around the call."""
    import wrapt

    def trivial() -> None:
        return None

    def passthrough(wrapped, instance, args, kwargs):  # type: ignore[no-untyped-def]
        return wrapped(*args, **kwargs)

    wrapped = wrapt.FunctionWrapper(trivial, passthrough)
    variants: dict[str, Any] = {"bare call": (trivial, 20_000), "no-op wrapt wrapper": (wrapped, 20_000)}
    if span is not None:
        from opentelemetry import context, trace

        tracer = trace.get_tracer("bench.raw_span")
        attrs = dict(span.attributes or {})
        name, kind = span.name, span.kind

        def raw() -> None:
            s = tracer.start_span(name, kind=kind, attributes=attrs)
            token = context.attach(trace.set_span_in_context(s))
            try:
                trivial()
            finally:
                context.detach(token)
            s.end()

        variants["raw SDK span"] = (raw, 1000)
    out: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(reps):
        for k, (fn, n) in variants.items():
            out[k].append(timed(clock, fn, n))
    return {k: statistics.median(v) for k, v in out.items()}


def calls(variant: str, n_calls: int, n_streams: int, reps: int, clock_name: str) -> dict:
    clock = {"cpu": time.process_time, "wall": time.perf_counter}[clock_name]
    client, sink, enable_s = setup(variant)
    result: dict[str, Any] = {"variant": variant, "enable_s": enable_s, "patched": patched_targets()}
    checked = check(client, sink)
    span = checked.pop("_otel_span", None)
    result["check"] = checked
    for _ in range(20):
        client.call()
    consume(client.stream())
    per_call, per_chunk = [], []
    streams = 0
    for _ in range(reps):
        per_call.append(timed(clock, client.call, n_calls))
        its = []
        for _ in range(n_streams):
            s = client.stream()
            t0 = clock()
            n = consume(s)
            its.append((clock() - t0) / n)
            streams += 1
        per_chunk.append(statistics.median(its))
    result["per_call_s"] = statistics.median(per_call)
    result["per_chunk_s"] = statistics.median(per_chunk)
    result["calls_and_streams"] = 2 + 20 + 1 + reps * n_calls + streams
    result["spans"] = 0
    if sink is not None:
        sink.flush()
        result["spans"] = sink.count  # before the floor's raw spans
    result["floor_s"] = floor(clock, span, reps)
    return result


def rss(variant: str, n_calls: int) -> dict:
    client, sink, _ = setup(variant)
    for _ in range(n_calls):
        client.call()
    spans = 0
    if sink is not None:
        sink.flush()
        spans = sink.count
    gc.collect()
    return {"variant": variant, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "spans": spans,
            "calls": n_calls}


def main(argv: list[str]) -> None:
    mode = argv[0]
    if mode == "probe":
        out = probe()
    elif mode == "calls":
        out = calls(argv[1], int(argv[2]), int(argv[3]), int(argv[4]), argv[5])
    elif mode == "rss":
        out = rss(argv[1], int(argv[2]))
    else:
        raise SystemExit("usage: _peer_worker.py probe | calls VARIANT CALLS STREAMS REPS CLOCK | rss VARIANT CALLS")
    sys.stdout.flush()
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main(sys.argv[1:])
