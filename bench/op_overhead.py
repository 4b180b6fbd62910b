"""Per-call cost of ``op`` and per-chunk cost of a wrapped stream, in one process.

    python bench/op_overhead.py [--quick]

Figures (medians over interleaved rounds; every variant exports through the same
``BatchSpanProcessor`` to a no-op exporter):

* per call: a bare call, a raw SDK span with the same attributes (``start_span``, the
  span made current around the call, inputs and output serialized to JSON, ``end``),
  and ``@op``. Target: ``op`` at most 1.5x the raw span.
* per chunk, 10,000-chunk stream: bare iteration against the stream proxy (no
  accumulator, and a trivial accumulator). Target: under 1 µs a chunk above bare.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _stats import RESULTS_DIR, compare, interleave, machine, print_table, write_json  # noqa: E402
from opentelemetry import context, trace  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult  # noqa: E402

from weave_agent import op
from weave_agent.export import telemetry  # noqa: E402
from weave_agent.tracing.streams import Accumulator  # noqa: E402


class NoOpExporter(SpanExporter):
    def __init__(self) -> None:
        self.count = 0

    def export(self, spans):  # type: ignore[no-untyped-def]
        self.count += len(spans)
        return SpanExportResult.SUCCESS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rounds = 7 if args.quick else 25
    calls = 2000 if args.quick else 5000
    chunks = 10_000

    exporter = NoOpExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=100_000, schedule_delay_millis=200))
    telemetry.use_providers(provider)
    tracer = provider.get_tracer("bench")

    def trivial(x):  # type: ignore[no-untyped-def]
        return x

    traced = op(trivial)

    def raw(x):  # type: ignore[no-untyped-def]
        span = tracer.start_span(
            "trivial",
            attributes={
                "code.function.name": "trivial",
                "input.value": json.dumps({"x": x}),
                "input.mime_type": "application/json",
            },
        )
        token = context.attach(trace.set_span_in_context(span))
        try:
            result = trivial(x)
        finally:
            context.detach(token)
        span.set_attributes({"output.value": json.dumps(result), "output.mime_type": "application/json"})
        span.end()
        return result

    def per_call(fn):  # type: ignore[no-untyped-def]
        def sample() -> float:
            t0 = time.perf_counter()
            for i in range(calls):
                fn(i)
            return (time.perf_counter() - t0) / calls

        return sample

    data = list(range(chunks))
    proxy_only = op(lambda: iter(data), accumulator=Accumulator(None))
    with_acc = op(lambda: iter(data), accumulator=lambda state, chunk: chunk)

    def bare_iteration() -> float:
        t0 = time.perf_counter()
        for _ in iter(data):
            pass
        return (time.perf_counter() - t0) / chunks

    def wrapped_iteration(factory):  # type: ignore[no-untyped-def]
        def sample() -> float:
            stream = factory()
            t0 = time.perf_counter()
            for _ in stream:
                pass
            return (time.perf_counter() - t0) / chunks

        return sample

    call_samples = interleave(
        {"bare": per_call(trivial), "raw span": per_call(raw), "op": per_call(traced)}, rounds, progress="per call"
    )
    chunk_samples = interleave(
        {
            "bare": bare_iteration,
            "proxy": wrapped_iteration(proxy_only),
            "proxy+acc": wrapped_iteration(with_acc),
        },
        rounds,
        progress="per chunk",
    )
    provider.force_flush()

    figures = [
        compare("per call: raw SDK span vs bare", call_samples["bare"], call_samples["raw span"], "µs", scale=1e6,
                baseline_label="bare call", variant_label="raw span"),
        compare("per call: op vs bare", call_samples["bare"], call_samples["op"], "µs", scale=1e6,
                baseline_label="bare call", variant_label="op"),
        compare("per call: op vs raw SDK span", call_samples["raw span"], call_samples["op"], "µs", target=1.5,
                target_kind="ratio", scale=1e6, baseline_label="raw span", variant_label="op"),
        compare("per chunk: stream proxy vs bare iteration", chunk_samples["bare"], chunk_samples["proxy"], "µs",
                target=1.0, target_kind="diff", scale=1e6, baseline_label="bare", variant_label="proxy"),
        compare("per chunk: proxy + trivial accumulator vs bare", chunk_samples["bare"], chunk_samples["proxy+acc"],
                "µs", target=1.0, target_kind="diff", scale=1e6, baseline_label="bare", variant_label="proxy+acc"),
    ]
    if exporter.count == 0:
        raise SystemExit("no spans were exported: the benchmark is broken")
    print_table(figures)
    path = write_json(
        os.path.join(RESULTS_DIR, "op_overhead.json"),
        {"machine": machine(), "rounds": rounds, "calls": calls, "chunks": chunks, "figures": figures,
         "spans_exported": exporter.count},
    )
    print("\nspans exported: %d; results: %s" % (exporter.count, os.path.relpath(path)))


if __name__ == "__main__":
    main()
