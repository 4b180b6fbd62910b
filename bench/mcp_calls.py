"""Per-call cost of the MCP instrumentation: a ``tools/call`` over the in-process transport,
patched vs unpatched, in interleaved rounds.

    python bench/mcp_calls.py            # 15 rounds of 300 calls per variant and mode
    python bench/mcp_calls.py --quick    # 5 rounds of 100

``bench/vendors.py`` measures model SDKs against a fake HTTP API; MCP has no model API, so
this measures what an app pays per tool call: one long-lived ``mcp.Client(server)``
session per mode (``auto``: the in-process ``DirectDispatcher``; ``legacy``: JSON-RPC over
in-memory streams), the server the SDK's own ``MCPServer`` with one tool. Variants, each
sample the process CPU time per call (median of the rounds), the order rotated every round
as ``_stats.interleave`` does (the loop is async here: the sessions stay open across
rounds, so the rotation is written out below):

* ``unpatched``: no agent, no TracerProvider (the SDK's own spans are no-ops): the app as
  it runs without weave-agent;
* ``unpatched, SDK spans``: no agent, the SDK's own spans recorded by a TracerProvider
  with a batch processor and an exporter that drops (an app that set up OpenTelemetry);
* ``patched``: the agent (its client span, the SDK's server span enriched), the same
  provider, content capture on (the default).

The figure that matters is ``patched - unpatched, SDK spans``: what the agent adds to an
app whose spans are recorded anyway (the SDK's client span it replaces included).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _stats import compare, format_table  # noqa: E402
from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult  # noqa: E402


class DropExporter(SpanExporter):
    def __init__(self) -> None:
        self.count = 0

    def export(self, spans: Any) -> SpanExportResult:
        self.count += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def build_server() -> Any:
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("bench")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    return server


async def main(args: argparse.Namespace) -> list[dict[str, Any]]:
    from mcp import Client
    from mcp.shared import _otel as sdk_otel

    from weave_agent import patch, unpatch
    from weave_agent.export import telemetry

    exporter = DropExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=200_000))
    recording = provider.get_tracer("mcp-python-sdk")
    silent = trace.NoOpTracer()
    telemetry.use_providers(provider)
    trace.set_tracer_provider(provider)  # the global provider an app (or the agent) sets

    def configure(variant: str) -> None:
        sdk_otel._tracer = silent if variant == "unpatched" else recording  # type: ignore[assignment]
        if variant == "patched":
            patch(mcp=True)
        else:
            unpatch("mcp")

    figures = []
    for mode in ("auto", "legacy"):
        async with Client(build_server(), mode=mode) as client:

            async def sample(variant: str) -> float:
                configure(variant)
                t0 = time.process_time()
                for _ in range(args.calls):
                    await client.call_tool("add", {"a": 1, "b": 2})
                return (time.process_time() - t0) / args.calls

            variants = ["unpatched", "unpatched, SDK spans", "patched"]
            samples: dict[str, list[float]] = {v: [] for v in variants}
            for r in range(args.warmup + args.rounds):
                k = r % len(variants)
                for v in variants[k:] + variants[:k]:
                    value = await sample(v)
                    if r >= args.warmup:
                        samples[v].append(value)
            unpatch("mcp")
        label = "tools/call, in process (%s)" % ("direct" if mode == "auto" else "legacy JSON-RPC")
        figures.append(compare(label + ": patched vs no agent", samples["unpatched"], samples["patched"], "µs",
                               scale=1e6, baseline_label="unpatched", variant_label="patched"))
        figures.append(compare(label + ": patched vs SDK spans", samples["unpatched, SDK spans"], samples["patched"],
                               "µs", scale=1e6, baseline_label="unpatched, SDK spans", variant_label="patched"))
    provider.shutdown()
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 rounds of 100 calls")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--calls", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=1)
    ns = parser.parse_args()
    ns.rounds = ns.rounds or (5 if ns.quick else 15)
    ns.calls = ns.calls or (100 if ns.quick else 300)
    t = time.perf_counter()
    result = asyncio.run(main(ns))
    print(format_table(result))
    print("%d rounds x %d calls per variant and mode, process CPU per call, %.0f s" % (
        ns.rounds, ns.calls, time.perf_counter() - t))
