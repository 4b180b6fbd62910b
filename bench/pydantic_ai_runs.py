"""What the Pydantic AI instrumentation costs: one agent run, in one process, and the import.

    python bench/pydantic_ai_runs.py [--quick] [--rounds N] [--runs N]

1. **A run.** One ``Agent.run`` of an agent with one ``@agent.tool`` over ``OpenAIChatModel``:
   two model calls (the first asks for the tool, the second answers from its result) through
   the real OpenAI SDK (Chat Completions), answered in process by an ``httpx2.MockTransport``
   (no socket, no server), and one tool call. Three variants, interleaved round by round
   (``_stats.interleave``), each sample the mean process CPU time of ``--runs`` runs on one
   event loop:

   * ``unpatched``: neither instrumentation (Pydantic AI's own instrumentation off, its
     default);
   * ``openai``: the OpenAI instrumentation alone (the two model-call spans);
   * ``openai + pydantic_ai``: both: Pydantic AI's own instrumentation turned on and sent to
     the agent (run, two ``chat`` and one tool span; the OpenAI spans stand down).

   Every variant exports through the same ``BatchSpanProcessor`` to a no-op exporter.

2. **The import.** ``import pydantic_ai`` plus ``from pydantic_ai.models.openai import
   OpenAIChatModel``, timed inside a child process (its CPU time, ``process_time``, around
   the imports: on a loaded machine wall clock moves by seconds), without the agent and under
   its start-up shim (``PYTHONPATH=sitecustomize_shim``, exporter ``none``), interleaved; the
   child also reports whether the OpenTelemetry SDK was imported (it must not be: the
   pipeline starts at the first run). Then the attribution: ``-X importtime`` of the same
   imports under the shim, the self time of every ``weave_agent`` module imported after
   Pydantic AI's import began (the instrumentation's own modules and what they import).

Results: ``bench/results/pydantic_ai_runs.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
for _k in list(os.environ):
    if _k.startswith(("WEAVE_AGENT_", "OTEL_", "OPENAI_", "LOGFIRE_")):
        del os.environ[_k]

import httpx2  # noqa: E402
import openai  # noqa: E402
from _stats import (  # noqa: E402
    RESULTS_DIR,
    clean_env,
    compare,
    interleave,
    machine,
    print_table,
    result_head,
    run,
    run_json,
    write_json,
)
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult  # noqa: E402
from pydantic_ai import Agent, RunContext  # noqa: E402
from pydantic_ai.models.openai import OpenAIChatModel  # noqa: E402
from pydantic_ai.providers.openai import OpenAIProvider  # noqa: E402

import weave_agent  # noqa: E402
from weave_agent.export import telemetry  # noqa: E402

clock = time.process_time
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USAGE = {"prompt_tokens": 40, "completion_tokens": 12, "total_tokens": 52}
IMPORT_CHILD = (
    "import sys, time, json\n"
    "t = time.process_time()\n"
    "import pydantic_ai\n"
    "from pydantic_ai.models.openai import OpenAIChatModel\n"
    "elapsed = time.process_time() - t\n"
    "print(json.dumps({'seconds': elapsed, 'sdk': 'opentelemetry.sdk.trace' in sys.modules}))\n"
)


class NoOpExporter(SpanExporter):
    def __init__(self) -> None:
        self.count = 0

    def export(self, spans: Any) -> SpanExportResult:
        self.count += len(spans)
        return SpanExportResult.SUCCESS


def handler(request: httpx2.Request) -> httpx2.Response:
    """Chat Completions: a tool call first, a text answer once the tool's result is in."""
    body = json.loads(request.content)
    messages = body.get("messages") or []
    if messages and messages[-1].get("role") == "tool":
        message: dict[str, Any] = {"role": "assistant", "content": "Sunny in Paris.", "refusal": None}
        finish = "stop"
    else:
        message = {"role": "assistant", "content": None, "refusal": None, "tool_calls": [
            {"id": "call_bench", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]}
        finish = "tool_calls"
    answer = {"id": "chatcmpl-bench%04d" % len(messages), "object": "chat.completion", "created": 1760000000,
              "model": "gpt-4o-mini-2024-07-18", "choices": [{"index": 0, "message": message, "logprobs": None,
                                                              "finish_reason": finish}],
              "usage": USAGE, "system_fingerprint": "fp_bench"}
    return httpx2.Response(200, json=answer, headers={"x-request-id": "req_bench"})


def make_agent() -> Agent:
    client = openai.AsyncOpenAI(api_key="sk-bench-not-a-key-000000", base_url="https://api.openai.com/v1",
                                http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler)))
    agent = Agent(OpenAIChatModel("gpt-4o-mini", provider=OpenAIProvider(openai_client=client)), name="weather",
                  instructions="Use the tool.")

    @agent.tool
    def get_weather(ctx: RunContext[None], city: str) -> str:
        """The weather in a city."""
        return "Sunny, 21 C in %s" % city

    return agent


def import_samples(rounds: int) -> tuple[dict[str, list[float]], bool]:
    cwd = tempfile.mkdtemp(prefix="pydantic-ai-import-")
    argv = [sys.executable, "-c", IMPORT_CHILD]
    plain = clean_env()
    shim = clean_env({"PYTHONPATH": os.path.join(REPO, "sitecustomize_shim"), "WEAVE_AGENT_EXPORTER": "none",
                      "OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none",
                      "OTEL_LOGS_EXPORTER": "none"})
    sdk_loaded = []

    def child(env: dict[str, str]) -> Any:
        def one() -> float:
            out: Any = run_json(argv, env, cwd)
            if env is shim:
                sdk_loaded.append(out["sdk"])
            return float(out["seconds"])
        return one

    samples = interleave({"without the agent": child(plain), "under the agent": child(shim)}, rounds, warmup=1,
                         progress="pydantic_ai_import")
    return samples, any(sdk_loaded)


def agent_import_share(rounds: int) -> list[float]:
    """Per round, the self time (seconds) of the ``weave_agent`` modules imported after
    ``pydantic_ai`` began importing, from ``-X importtime`` under the shim."""
    cwd = tempfile.mkdtemp(prefix="pydantic-ai-importtime-")
    argv = [sys.executable, "-X", "importtime", "-c",
            "import sys\nsys.stderr.write('MARK\\n')\nsys.stderr.flush()\n"
            "import pydantic_ai\nfrom pydantic_ai.models.openai import OpenAIChatModel"]
    env = clean_env({"PYTHONPATH": os.path.join(REPO, "sitecustomize_shim"), "WEAVE_AGENT_EXPORTER": "none"})
    out = []
    for _ in range(rounds):
        total, started = 0, False
        for line in run(argv, env, cwd).stderr.splitlines():
            started = started or line == "MARK"  # importtime prints each module when it is done
            if not started or not line.startswith("import time:") or "|" not in line:
                continue
            fields = [f.strip() for f in line[len("import time:"):].split("|")]
            if len(fields) != 3 or not fields[0].isdigit():
                continue
            if fields[2].startswith("weave_agent"):
                total += int(fields[0])
        out.append(total / 1e6)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--runs", type=int, default=None)
    args = parser.parse_args()
    rounds = args.rounds or (7 if args.quick else 21)
    runs = args.runs or (30 if args.quick else 100)
    started = time.time()

    exporter = NoOpExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=100_000, schedule_delay_millis=200))
    telemetry.use_providers(provider)
    agent = make_agent()
    loop = asyncio.new_event_loop()

    async def batch() -> None:
        for _ in range(runs):
            result = await agent.run("What is the weather in Paris?")
            assert result.output == "Sunny in Paris."

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
        "openai + pydantic_ai": sample(("openai", "pydantic_ai")),
    }
    samples = interleave(variants, rounds, warmup=1, progress="pydantic_ai_runs")
    provider.force_flush()
    imports, sdk_at_import = import_samples(rounds)
    ours = agent_import_share(rounds)
    figures = [
        compare("Agent.run, 1 tool call: openai", samples["unpatched"], samples["openai"], "ms", scale=1e3,
                baseline_label="unpatched", variant_label="openai"),
        compare("Agent.run, 1 tool call: openai + pydantic_ai", samples["unpatched"], samples["openai + pydantic_ai"],
                "ms", scale=1e3, baseline_label="unpatched", variant_label="openai + pydantic_ai"),
        compare("import pydantic_ai (+ OpenAIChatModel), CPU", imports["without the agent"],
                imports["under the agent"], "ms", scale=1e3, baseline_label="without the agent",
                variant_label="under the agent"),
        compare("weave_agent modules imported with it (-X importtime self)", None, ours, "ms", scale=1e3,
                variant_label="under the agent"),
    ]
    print_table(figures)
    head = result_head("pydantic_ai_runs", args.quick, " ".join(sys.argv), time.time() - started, machine(),
                       rounds=rounds, runs=runs, spans_exported=exporter.count,
                       sdk_imported_at_import=sdk_at_import)
    path = write_json(os.path.join(RESULTS_DIR, "pydantic_ai_runs.json"), {**head, "figures": figures})
    print("\nspans exported: %d; OpenTelemetry SDK imported by the import under the agent: %s; results: %s"
          % (exporter.count, sdk_at_import, os.path.relpath(path)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
