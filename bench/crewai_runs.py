"""What the CrewAI instrumentation costs one crew run, in one process.

    python bench/crewai_runs.py [--quick] [--rounds N] [--runs N]      (in CrewAI's environment)

One ``Crew.kickoff`` of the two-agent crew of the tests (a researcher with one tool, a
writer): three model calls through CrewAI's native OpenAI provider and the real OpenAI SDK
(2.x), answered by the OpenAI fake of the tests on 127.0.0.1, and one tool call. Three
variants, interleaved round by round (``_stats.interleave``), each sample the mean process
CPU time of ``--runs`` kickoffs:

* ``unpatched``: neither instrumentation;
* ``openai``: the OpenAI instrumentation alone (the three model-call spans);
* ``openai + crewai``: both (adds the crew, two agent and one tool span: seven spans a run).

The fake server runs in a thread of this process: its CPU time is in every sample alike.
Every variant exports through the same ``BatchSpanProcessor`` to a no-op exporter; CrewAI's
telemetry is off (``CREWAI_DISABLE_TELEMETRY``). Results: ``bench/results/crewai_runs.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
for _k in list(os.environ):
    if _k.startswith(("WEAVE_AGENT_", "OTEL_", "OPENAI_", "CREWAI_")):
        del os.environ[_k]
os.environ["CREWAI_DISABLE_TELEMETRY"] = "true"
os.environ["CREWAI_TRACING_ENABLED"] = "false"
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="weave-bench-crewai-")  # CrewAI's SQLite task outputs

from _stats import RESULTS_DIR, compare, interleave, machine, print_table, result_head, write_json  # noqa: E402
from crewai import LLM, Agent, Crew, Task  # noqa: E402
from crewai.tools import tool  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult  # noqa: E402

import weave_agent  # noqa: E402
from weave_agent.export import telemetry  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
clock = time.process_time


class NoOpExporter(SpanExporter):
    def __init__(self) -> None:
        self.count = 0

    def export(self, spans: Any) -> SpanExportResult:
        self.count += len(spans)
        return SpanExportResult.SUCCESS


def _fake_server() -> Any:
    path = os.path.join(REPO, "tests", "instrumentations", "openai", "fake_openai_server.py")
    spec = importlib.util.spec_from_file_location("weave_bench_openai_fake", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.FakeOpenAIServer(lifetime=3600)


@tool("get_weather")
def get_weather(city: str) -> str:
    """The weather in a city."""
    return "Sunny, 21 C in %s" % city


def make_crew(base_url: str) -> Crew:
    def llm() -> Any:
        return LLM(model="gpt-4o-mini", base_url=base_url, api_key="sk-bench-not-a-key-000000", max_retries=0)

    researcher = Agent(role="Researcher", goal="Find the weather", backstory="A meteorologist.", llm=llm(),
                       tools=[get_weather], verbose=False)
    writer = Agent(role="Writer", goal="Write one line", backstory="A poet.", llm=llm(), verbose=False)
    return Crew(agents=[researcher, writer], verbose=False, tasks=[
        Task(description="What is the weather in Paris?", expected_output="The weather.", agent=researcher),
        Task(description="Write one line about it.", expected_output="One line.", agent=writer),
    ])


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
    server = _fake_server()
    server.__enter__()
    try:
        def sample(patched: tuple[str, ...]) -> Any:
            def one() -> float:
                if patched:
                    weave_agent.patch(**{name: True for name in patched})
                try:
                    total = 0.0
                    for _ in range(runs):
                        crew = make_crew(server.openai_base_url)  # built outside the timed part
                        t0 = clock()
                        crew.kickoff()
                        total += clock() - t0
                    return total / runs
                finally:
                    for name in patched:
                        weave_agent.unpatch(name)
            return one

        variants = {
            "unpatched": sample(()),
            "openai": sample(("openai",)),
            "openai + crewai": sample(("openai", "crewai")),
        }
        samples = interleave(variants, rounds, warmup=1, progress="crewai_runs")
    finally:
        server.__exit__(None, None, None)
    provider.force_flush()
    figures = [
        compare("Crew.kickoff, 2 agents, 1 tool call: openai", samples["unpatched"], samples["openai"], "ms",
                scale=1e3, baseline_label="unpatched", variant_label="openai"),
        compare("Crew.kickoff, 2 agents, 1 tool call: openai + crewai", samples["unpatched"],
                samples["openai + crewai"], "ms", scale=1e3, baseline_label="unpatched",
                variant_label="openai + crewai"),
        compare("Crew.kickoff, 2 agents, 1 tool call: crewai alone", samples["openai"], samples["openai + crewai"],
                "ms", scale=1e3, baseline_label="openai", variant_label="openai + crewai"),
    ]
    print_table(figures)
    head = result_head("crewai_runs", args.quick, " ".join(sys.argv), time.time() - started, machine(),
                       rounds=rounds, runs=runs, spans_exported=exporter.count)
    path = write_json(os.path.join(RESULTS_DIR, "crewai_runs.json"), {**head, "figures": figures})
    print("\nspans exported: %d; results: %s" % (exporter.count, os.path.relpath(path)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
