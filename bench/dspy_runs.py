"""What the DSPy instrumentation costs: one program run on each engine, and its import.

    python bench/dspy_runs.py [--quick] [--rounds N] [--runs N]

One run of the tests' app (``tests/instrumentations/dspy``): a module with a predictor and
a ReAct agent with one tool, four LM calls and two tool calls (``get_weather``, ReAct's
``finish``), 17 spans when traced. DSPy's native engine talks to OpenAI over raw sockets,
so the model is the tests' fake OpenAI server on 127.0.0.1, in this process (its threads'
CPU time is in every sample alike). Variants, interleaved round by round
(``_stats.interleave``), each sample the mean process CPU time of ``--runs`` runs:

* native engine: ``unpatched``, ``dspy``;
* ``engine="litellm"``: ``litellm`` (LiteLLM's spans alone), ``litellm + dspy`` (DSPy's tree,
  whose LM spans own the model calls: LiteLLM's step aside).

Import: fresh interpreters, each timing in process CPU time ``import dspy`` and then what
``weave_agent.patch(dspy=True)`` costs right after it (what the import hook does when the
trigger modules load): ``cold`` with nothing of the agent's tracing loaded yet (the first
instrumentation of a process pays the agent's shared modules: OpenTelemetry,
``weave_agent.genai``), ``own`` with those already loaded (this instrumentation's modules).
Results: ``bench/results/dspy_runs.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
for _k in list(os.environ):
    if _k.startswith(("WEAVE_AGENT_", "OTEL_", "OPENAI_")):
        del os.environ[_k]
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # no price-map fetch (DSPy's and LiteLLM's)

import dspy  # noqa: E402
from _stats import RESULTS_DIR, compare, interleave, machine, print_table, result_head, summary, write_json  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult  # noqa: E402

import weave_agent  # noqa: E402
from weave_agent.export import telemetry  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
clock = time.process_time


def _load_fake() -> Any:
    path = os.path.join(REPO, "tests", "instrumentations", "dspy", "fake_dspy_server.py")
    spec = importlib.util.spec_from_file_location("bench_fake_dspy_server", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fake = _load_fake()


class NoOpExporter(SpanExporter):
    def __init__(self) -> None:
        self.count = 0

    def export(self, spans: Any) -> SpanExportResult:
        self.count += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def get_weather(city: str) -> str:
    """The weather in a city."""
    return "Sunny, 21 C in %s" % city


class TripPlanner(dspy.Module):
    def __init__(self) -> None:
        super().__init__()
        self.classify = dspy.Predict("question -> topic")
        self.agent = dspy.ReAct("question -> answer", tools=[get_weather], max_iters=3)

    def forward(self, question: str) -> Any:
        self.classify(question=question)
        return self.agent(question=question)


_CHILD = r"""
import os, sys, time
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
t0 = time.process_time()
import dspy
import dspy.clients.execution
t1 = time.process_time()
import weave_agent
if sys.argv[1] == "own":
    import weave_agent.genai, weave_agent.export.telemetry, weave_agent.tracing.serialize
t2 = time.process_time()
weave_agent.patch(dspy=True)
t3 = time.process_time()
assert hasattr(dspy.clients.execution.execute, "__wrapped__")
print((t1 - t0) * 1e3, (t3 - t2) * 1e3)
"""


def import_costs(rounds: int) -> dict[str, list[float]]:
    env = {k: v for k, v in os.environ.items()}
    env["WEAVE_AGENT_EXPORTER"] = "none"
    out: dict[str, list[float]] = {"import dspy": [], "patch dspy, cold": [], "patch dspy, own": []}
    for _ in range(rounds):
        for mode in ("cold", "own"):
            done = subprocess.run([sys.executable, "-c", _CHILD, mode], env=env, capture_output=True, text=True,
                                  check=True)
            lib, patch = (float(x) for x in done.stdout.split())
            out["import dspy"].append(lib)
            out["patch dspy, %s" % mode].append(patch)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--runs", type=int, default=None)
    args = parser.parse_args()
    rounds = args.rounds or (5 if args.quick else 15)
    runs = args.runs or (5 if args.quick else 20)
    started = time.time()

    exporter = NoOpExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=100_000, schedule_delay_millis=200))
    telemetry.use_providers(provider)

    with fake.running() as server:
        lms = {engine: dspy.LM("openai/gpt-4o-mini", api_base=server.base_url, api_key="sk-bench-not-a-key-0000",
                               cache=False, num_retries=0, **({"engine": "litellm"} if engine == "litellm" else {}))
               for engine in ("native", "litellm")}
        app = TripPlanner()

        def sample(engine: str, patched: tuple[str, ...]) -> Any:
            def one() -> float:
                if patched:
                    weave_agent.patch(**{name: True for name in patched})
                try:
                    with dspy.context(lm=lms[engine]):
                        t0 = clock()
                        for _ in range(runs):
                            assert app(question="What is the weather in Paris?").answer == fake.ANSWERS["answer"]
                        return (clock() - t0) / runs
                finally:
                    for name in patched:
                        weave_agent.unpatch(name)
            return one

        variants = {
            "native unpatched": sample("native", ()),
            "native dspy": sample("native", ("dspy",)),
            "litellm litellm": sample("litellm", ("litellm",)),
            "litellm litellm + dspy": sample("litellm", ("litellm", "dspy")),
        }
        samples = interleave(variants, rounds, warmup=1, progress="dspy_runs")
    provider.force_flush()
    figures = [
        compare("native engine, 4 LM calls + 2 tools: dspy", samples["native unpatched"], samples["native dspy"],
                "ms", scale=1e3, baseline_label="unpatched", variant_label="dspy"),
        compare("engine=litellm, 4 LM calls + 2 tools: dspy", samples["litellm litellm"],
                samples["litellm litellm + dspy"], "ms", scale=1e3, baseline_label="litellm",
                variant_label="litellm + dspy"),
    ]
    print_table(figures)
    imports = import_costs(max(3, rounds // 2))
    import_summary = {k: summary(v) for k, v in imports.items()}
    print("\nimport cost (process CPU ms, median of %d fresh interpreters):" % len(imports["patch dspy, own"]))
    for k, v in import_summary.items():
        print("  %-28s %8.1f" % (k, v["median"]))
    head = result_head("dspy_runs", args.quick, " ".join(sys.argv), time.time() - started, machine(),
                       rounds=rounds, runs=runs, spans_exported=exporter.count)
    path = write_json(os.path.join(RESULTS_DIR, "dspy_runs.json"), {**head, "figures": figures, "import_ms": import_summary})
    print("\nspans exported: %d; results: %s" % (exporter.count, os.path.relpath(path)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
