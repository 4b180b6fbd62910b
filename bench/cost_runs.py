"""What pricing costs (``agent/export/cost.py``): on the app's thread, on the exporting
thread, and the price table's import.

    python bench/cost_runs.py [--runs N] [--spans N]

* ``caller``: fresh interpreters (``--runs`` each, pricing on and off, interleaved), each
  timing on its main thread the first LLM span (start, attributes, end) after the pipeline
  is set up (``telemetry.tracer()``, outside the timing) and then 200 more; the file
  exporter writes them. Pricing on and off should cost the caller the same.
* ``exporter``: in this process, with the table loaded, the per-span cost of
  ``PricingSpanExporter``'s work on a priced span (a copy with the two attributes) and on
  a span that is not an LLM call (looked at, passed on), over ``--spans`` spans.
* ``import``: fresh interpreters, the first ``cost.prices()`` (``import genai_prices``, its
  ``httpx2``, the bundled table, the snapshot), wall and process CPU time.

Results: ``bench/results/cost_runs.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

_CALLER = r'''
import json, os, sys, time
import weave_agent
from weave_agent.export import telemetry
weave_agent.init()
tracer = telemetry.tracer()
def one():
    with tracer.start_as_current_span("chat gpt-4o-mini") as s:
        s.set_attribute("gen_ai.operation.name", "chat")
        s.set_attribute("gen_ai.provider.name", "openai")
        s.set_attribute("gen_ai.request.model", "gpt-4o-mini")
        s.set_attribute("gen_ai.usage.input_tokens", 1000)
        s.set_attribute("gen_ai.usage.output_tokens", 200)
t0 = time.perf_counter(); one(); first = time.perf_counter() - t0
t0 = time.perf_counter()
for _ in range(200):
    one()
more = (time.perf_counter() - t0) / 200
print(json.dumps({"first_us": first * 1e6, "next_us": more * 1e6, "on_caller": "genai_prices" in sys.modules}))
'''

_IMPORT = r'''
import json, time
from weave_agent.export import cost
w, c = time.perf_counter(), time.process_time()
assert cost.prices() is not None
print(json.dumps({"wall_ms": (time.perf_counter() - w) * 1000, "cpu_ms": (time.process_time() - c) * 1000}))
'''


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEAVE_AGENT_", "OTEL_"))}
    env.update(extra)
    return env


def _run(code: str, env: dict[str, str]) -> dict:
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def caller(runs: int) -> dict:
    samples: dict[str, list[dict]] = {"on": [], "off": []}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(runs):
            for mode in ("on", "off"):
                env = _env(WEAVE_AGENT_EXPORTER="file", WEAVE_AGENT_TRACES_DIR=folder, WEAVE_AGENT_QUIET="true",
                           WEAVE_AGENT_PRICING="true" if mode == "on" else "false")
                samples[mode].append(_run(_CALLER, env))
    return {mode: {"first_span_us_median": statistics.median(s["first_us"] for s in ss),
                   "next_span_us_median": statistics.median(s["next_us"] for s in ss),
                   "table_loaded_when_first_span_ended": sum(s["on_caller"] for s in ss), "runs": len(ss)}
            for mode, ss in samples.items()}


def exporter(spans: int) -> dict:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from weave_agent.export import cost

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench")
    for i in range(spans):
        with tracer.start_as_current_span("chat") as s:
            s.set_attribute("gen_ai.operation.name", "chat")
            s.set_attribute("gen_ai.provider.name", "openai")
            s.set_attribute("gen_ai.request.model", "gpt-4o-mini")
            s.set_attribute("gen_ai.response.model", "gpt-4o-mini-2024-07-18")
            s.set_attribute("gen_ai.usage.input_tokens", 1000 + i)
            s.set_attribute("gen_ai.usage.output_tokens", 200)
            s.set_attribute("gen_ai.usage.cache_read.input_tokens", 512)
        with tracer.start_as_current_span("execute_tool") as s:
            s.set_attribute("gen_ai.operation.name", "execute_tool")
    finished = memory.get_finished_spans()
    llm, other = finished[0::2], finished[1::2]
    assert cost.prices() is not None
    wrapper = cost.PricingSpanExporter(InMemorySpanExporter())
    out = {}
    for name, batch in (("llm_span_us", llm), ("other_span_us", other)):
        t0 = time.perf_counter()
        wrapper.export(batch)
        out[name] = (time.perf_counter() - t0) / len(batch) * 1e6
    assert cost.ATTRIBUTE in wrapper.inner.get_finished_spans()[0].attributes
    return out


def table_import(runs: int) -> dict:
    samples = [_run(_IMPORT, _env()) for _ in range(runs)]
    return {"wall_ms_median": statistics.median(s["wall_ms"] for s in samples),
            "cpu_ms_median": statistics.median(s["cpu_ms"] for s in samples), "runs": runs}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--spans", type=int, default=2000)
    args = p.parse_args()
    import genai_prices

    results = {"python": sys.version.split()[0], "genai_prices": genai_prices.__version__,
               "caller": caller(args.runs), "exporter": exporter(args.spans), "import": table_import(args.runs)}
    print(json.dumps(results, indent=2))
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "cost_runs.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
