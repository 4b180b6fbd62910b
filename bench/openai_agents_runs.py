"""What the OpenAI Agents SDK instrumentation costs one agent run, in one process.

    python bench/openai_agents_runs.py [--quick] [--rounds N] [--runs N]

One ``Runner.run`` of an agent with one function tool: two model calls (the first asks
for the tool, the second answers from its result) through the real OpenAI SDK (Responses
API), answered in process by an ``httpx2.MockTransport`` (no socket, no server), and one
tool call. Three variants, interleaved round by round (``_stats.interleave``), each
sample the mean process CPU time of ``--runs`` runs on one event loop:

* ``unpatched``: neither instrumentation;
* ``openai``: the OpenAI instrumentation alone (the two model-call spans);
* ``openai + openai_agents``: both (adds the run, agent and tool spans and the wrappers on
  every SDK span object: five spans a run in all).

A run's CPU time varies by milliseconds on a loaded machine, more than a few spans cost, so
a second measurement isolates what the instrumentation adds per SDK step: ``with
agent_span(...)``/``function_span(...)``/``response_span()`` blocks (the SDK's span objects,
``--steps`` per sample, the SDK's tracing on) unpatched and patched, per step.

Every variant exports through the same ``BatchSpanProcessor`` to a no-op exporter. The
SDK's own tracing stays on with no processor (``set_trace_processors([])``: nothing is
uploaded), as in an app that keeps its traces local. Results: ``bench/results/openai_agents_runs.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
for _k in list(os.environ):
    if _k.startswith(("WEAVE_AGENT_", "OTEL_", "OPENAI_")):
        del os.environ[_k]

import agents  # noqa: E402
import httpx2  # noqa: E402
import openai  # noqa: E402
from _stats import RESULTS_DIR, compare, interleave, machine, print_table, result_head, write_json  # noqa: E402
from agents import Agent, OpenAIResponsesModel, Runner, function_tool  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult  # noqa: E402

import weave_agent  # noqa: E402
from weave_agent.export import telemetry  # noqa: E402

clock = time.process_time
USAGE = {"input_tokens": 40, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 12,
         "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 52}


class NoOpExporter(SpanExporter):
    def __init__(self) -> None:
        self.count = 0

    def export(self, spans: Any) -> SpanExportResult:
        self.count += len(spans)
        return SpanExportResult.SUCCESS


def _response(n: int, output: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": "resp_bench%04d" % n, "object": "response", "created_at": 1760000000, "status": "completed",
            "model": "gpt-4o-mini-2024-07-18", "output": output, "parallel_tool_calls": True, "tool_choice": "auto",
            "tools": [], "temperature": 1.0, "top_p": 1.0, "text": {"format": {"type": "text"}},
            "truncation": "disabled", "usage": USAGE, "error": None, "incomplete_details": None,
            "instructions": None, "metadata": {}}


def handler(request: httpx2.Request) -> httpx2.Response:
    """The Responses API: a function call first, a text answer once the tool's result is in."""
    body = json.loads(request.content)
    items = body.get("input") or []
    if isinstance(items, list) and items and items[-1].get("type") == "function_call_output":
        output = [{"id": "msg_bench", "type": "message", "status": "completed", "role": "assistant",
                   "content": [{"type": "output_text", "text": "Sunny in Paris.", "annotations": []}]}]
    else:
        output = [{"id": "fc_bench", "type": "function_call", "status": "completed", "call_id": "call_bench",
                   "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}]
    return httpx2.Response(200, json=_response(len(items), output), headers={"x-request-id": "req_bench"})


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return "Sunny, 21 C in %s" % city


def make_agent() -> Agent:
    client = openai.AsyncOpenAI(api_key="sk-bench-not-a-key-000000", base_url="https://api.openai.com/v1",
                                http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler)))
    return Agent(name="Assistant", instructions="Use the tool.", tools=[get_weather],
                 model=OpenAIResponsesModel(model="gpt-4o-mini", openai_client=client))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--steps", type=int, default=2000)
    args = parser.parse_args()
    rounds = args.rounds or (7 if args.quick else 21)
    runs = args.runs or (30 if args.quick else 100)
    started = time.time()

    agents.set_trace_processors([])
    exporter = NoOpExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=100_000, schedule_delay_millis=200))
    telemetry.use_providers(provider)
    agent = make_agent()
    loop = asyncio.new_event_loop()

    async def batch() -> None:
        for _ in range(runs):
            result = await Runner.run(agent, "What is the weather in Paris?")
            assert result.final_output == "Sunny in Paris."

    def sample(patched: tuple[str, ...]) -> Any:
        def one() -> float:
            if patched:
                weave_agent.patch(**{name: True for name in patched})
            try:
                t0 = clock()
                loop.run_until_complete(batch())
                return (clock() - t0) / runs
            finally:
                for name in patched:
                    weave_agent.unpatch(name)
        return one

    variants = {
        "unpatched": sample(()),
        "openai": sample(("openai",)),
        "openai + openai_agents": sample(("openai", "openai_agents")),
    }
    samples = interleave(variants, rounds, warmup=1, progress="openai_agents_runs")

    from agents.tracing import agent_span, function_span, response_span, trace

    def steps(kind: str, patched: bool) -> Any:
        make = {"agent": lambda: agent_span(name="Assistant", tools=["get_weather"]),
                "function": lambda: function_span("get_weather", input="{}"),
                "response (no span of ours)": lambda: response_span()}[kind]

        def one() -> float:
            if patched:
                weave_agent.patch(openai_agents=True)
            try:
                with trace("bench"):
                    t0 = clock()
                    for _ in range(args.steps):
                        with make():
                            pass
                    return (clock() - t0) / args.steps
            finally:
                if patched:
                    weave_agent.unpatch("openai_agents")
        return one

    kinds = ("agent", "function", "response (no span of ours)")
    step_variants = {"%s %s" % (k, p): steps(k, p == "patched") for k in kinds for p in ("unpatched", "patched")}
    step_samples = interleave(step_variants, rounds, warmup=1, progress="openai_agents_steps")
    provider.force_flush()
    figures = [
        compare("Runner.run, 1 tool call: openai", samples["unpatched"], samples["openai"], "ms", scale=1e3,
                baseline_label="unpatched", variant_label="openai"),
        compare("Runner.run, 1 tool call: openai + openai_agents", samples["unpatched"],
                samples["openai + openai_agents"], "ms", scale=1e3, baseline_label="unpatched",
                variant_label="openai + openai_agents"),
        compare("Runner.run, 1 tool call: openai_agents alone", samples["openai"], samples["openai + openai_agents"],
                "ms", scale=1e3, baseline_label="openai", variant_label="openai + openai_agents"),
    ]
    figures += [
        compare("SDK step, %s span object" % k, step_samples["%s unpatched" % k], step_samples["%s patched" % k], "us",
                scale=1e6, baseline_label="unpatched", variant_label="patched")
        for k in kinds
    ]
    print_table(figures)
    head = result_head("openai_agents_runs", args.quick, " ".join(sys.argv), time.time() - started, machine(),
                       rounds=rounds, runs=runs, steps=args.steps, spans_exported=exporter.count)
    path = write_json(os.path.join(RESULTS_DIR, "openai_agents_runs.json"), {**head, "figures": figures})
    print("\nspans exported: %d; results: %s" % (exporter.count, os.path.relpath(path)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
