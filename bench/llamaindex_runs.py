"""What the LlamaIndex instrumentation costs: one chat and one agent run, and its import.

    WEAVE_AGENT_TEST_ENVIRONMENT=llamaindex python bench/llamaindex_runs.py [--quick] [--rounds N] [--runs N]

Run from LlamaIndex's own environment (``pip install -e .[test-llamaindex] -c
constraints/test-llamaindex.txt``). Per run, in one process: ``OpenAI(...).chat`` (one model
call) and a ``FunctionAgent`` run with one function tool (two streamed model calls and the
tool) through the real ``llama-index-llms-openai`` and OpenAI SDK, answered in process by an
``httpx.MockTransport`` (no socket, no server). Three variants, interleaved round by round
(``_stats.interleave``), each sample the mean process CPU time of ``--runs`` runs:
``unpatched``; ``openai`` (the SDK spans alone); ``openai + llamaindex`` (adds LlamaIndex's
model-call, tool and agent spans, and the handlers every dispatcher span and event passes).

Import: fresh interpreters (byte-code cached), alternating, each timing in process CPU time what
``weave_agent.patch(llamaindex=True)`` costs right after ``import llama_index.core`` (what
the import hook does when the trigger module loads): ``cold`` with nothing of the agent's
tracing loaded yet (the first instrumentation of a process pays the agent's shared modules:
OpenTelemetry, ``weave_agent.genai``), ``own`` with those already loaded (this
instrumentation's own modules and handlers, plus the arming's version check), ``modules``
(this instrumentation's modules and ``attempt_patch`` alone). Next to it, ``import llama_index.core`` itself.
Results: ``bench/results/llamaindex_runs.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
for _k in list(os.environ):
    if _k.startswith(("WEAVE_AGENT_", "OTEL_", "OPENAI_")):
        del os.environ[_k]

import httpx  # noqa: E402
from _stats import RESULTS_DIR, compare, interleave, machine, print_table, result_head, summary, write_json  # noqa: E402
from llama_index.core.agent.workflow import FunctionAgent  # noqa: E402
from llama_index.core.base.llms.types import ChatMessage  # noqa: E402
from llama_index.core.tools import FunctionTool  # noqa: E402
from llama_index.llms.openai import OpenAI  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult  # noqa: E402

import weave_agent  # noqa: E402
from weave_agent.export import telemetry  # noqa: E402

clock = time.process_time
USAGE = {"prompt_tokens": 40, "completion_tokens": 12, "total_tokens": 52}


class NoOpExporter(SpanExporter):
    def __init__(self) -> None:
        self.count = 0

    def export(self, spans: Any) -> SpanExportResult:
        self.count += len(spans)
        return SpanExportResult.SUCCESS


def _chunk(delta: dict[str, Any], finish: str | None = None, usage: Any = None) -> str:
    body = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1760000000,
            "model": "gpt-4o-mini-2024-07-18", "choices": [] if usage else
            [{"index": 0, "delta": delta, "finish_reason": finish}], "usage": usage}
    return "data: %s\n\n" % json.dumps(body)


def handler(request: httpx.Request) -> httpx.Response:
    """Chat Completions: a tool call first when tools are offered, a text answer after."""
    body = json.loads(request.content)
    calls_tool = bool(body.get("tools")) and body["messages"][-1].get("role") != "tool"
    if calls_tool:
        message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_bench", "type": "function", "function": {"name": "get_weather",
                                                                  "arguments": "{\"city\":\"Paris\"}"}}]}
        finish = "tool_calls"
    else:
        message, finish = {"role": "assistant", "content": "Sunny in Paris."}, "stop"
    if not body.get("stream"):
        return httpx.Response(200, json={
            "id": "chatcmpl-bench", "object": "chat.completion", "created": 1760000000,
            "model": "gpt-4o-mini-2024-07-18", "usage": USAGE,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}]})
    if calls_tool:
        call = message["tool_calls"][0]
        chunks = [_chunk({"role": "assistant", "tool_calls": [{"index": 0, **call}]}), _chunk({}, finish)]
    else:
        chunks = [_chunk({"role": "assistant", "content": w}) for w in ("Sunny ", "in ", "Paris.")]
        chunks.append(_chunk({}, finish))
    chunks += [_chunk({}, usage=USAGE), "data: [DONE]\n\n"]
    return httpx.Response(200, content="".join(chunks).encode(), headers={"content-type": "text/event-stream"})


def get_weather(city: str) -> str:
    """The weather in a city."""
    return "Sunny, 21 C in %s" % city


def make_llm() -> OpenAI:
    return OpenAI(model="gpt-4o-mini", api_key="sk-bench-not-a-key-000000", api_base="https://api.openai.com/v1",
                  http_client=httpx.Client(transport=httpx.MockTransport(handler)),
                  async_http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
                  additional_kwargs={"stream_options": {"include_usage": True}})


_CHILD = r"""
import sys, time
t0 = time.process_time()
import llama_index.core
t1 = time.process_time()
import weave_agent
if sys.argv[1] in ("own", "modules"):
    import weave_agent.genai, weave_agent.export.telemetry, weave_agent.tracing.serialize
t2 = time.process_time()
if sys.argv[1] == "modules":  # this instrumentation's modules and handlers, nothing of the arming
    from weave_agent.instrumentations.llamaindex import llamaindex_patcher
    llamaindex_patcher.attempt_patch()
else:
    weave_agent.patch(llamaindex=True)
t3 = time.process_time()
from llama_index.core.instrumentation import get_dispatcher
assert len(get_dispatcher().span_handlers) == 2
print((t1 - t0) * 1e3, (t3 - t2) * 1e3)
"""


def import_costs(rounds: int) -> dict[str, list[float]]:
    import tempfile

    # Byte-code cached as in any installed environment (a first, untimed child writes it).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["WEAVE_AGENT_EXPORTER"] = "none"
    env["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), "weave-agent-bench-pycache")
    subprocess.run([sys.executable, "-c", _CHILD, "cold"], env=env, capture_output=True, check=True)
    out: dict[str, list[float]] = {"import llama_index.core": [], "patch llamaindex, cold": [],
                                   "patch llamaindex, own": [], "patch llamaindex, modules": []}
    for _ in range(rounds):
        for mode in ("cold", "own", "modules"):
            done = subprocess.run([sys.executable, "-c", _CHILD, mode], env=env, capture_output=True, text=True,
                                  check=True)
            lib, patch = (float(x) for x in done.stdout.split())
            out["import llama_index.core"].append(lib)
            out["patch llamaindex, %s" % mode].append(patch)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--runs", type=int, default=None)
    args = parser.parse_args()
    rounds = args.rounds or (5 if args.quick else 15)
    runs = args.runs or (20 if args.quick else 60)
    started = time.time()

    exporter = NoOpExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=100_000, schedule_delay_millis=200))
    telemetry.use_providers(provider)
    llm = make_llm()
    agent = FunctionAgent(name="weather_agent", tools=[FunctionTool.from_defaults(get_weather)], llm=llm)
    messages = [ChatMessage(role="user", content="What is the weather in Paris?")]
    loop = asyncio.new_event_loop()

    def chats() -> None:
        for _ in range(runs):
            assert llm.chat(messages).message.content == "Sunny in Paris."

    def agent_runs() -> None:
        async def go() -> None:
            for _ in range(runs):
                result = await agent.run(user_msg="What is the weather in Paris?")
                assert "Sunny" in str(result)
        loop.run_until_complete(go())

    def sample(work: Any, patched: tuple[str, ...]) -> Any:
        def one() -> float:
            if patched:
                weave_agent.patch(**{name: True for name in patched})
            try:
                t0 = clock()
                work()
                return (clock() - t0) / runs
            finally:
                for name in patched:
                    weave_agent.unpatch(name)
        return one

    variants = {}
    for label, work in (("chat", chats), ("agent", agent_runs)):
        variants["%s unpatched" % label] = sample(work, ())
        variants["%s openai" % label] = sample(work, ("openai",))
        variants["%s openai + llamaindex" % label] = sample(work, ("openai", "llamaindex"))
    samples = interleave(variants, rounds, warmup=1, progress="llamaindex_runs")
    provider.force_flush()
    figures = []
    for label, what in (("chat", "OpenAI.chat, 1 model call"), ("agent", "FunctionAgent.run, 2 streamed calls + 1 tool")):
        figures.append(compare("%s: llamaindex alone" % what, samples["%s openai" % label],
                               samples["%s openai + llamaindex" % label], "ms", scale=1e3,
                               baseline_label="openai", variant_label="openai + llamaindex"))
        figures.append(compare("%s: openai + llamaindex" % what, samples["%s unpatched" % label],
                               samples["%s openai + llamaindex" % label], "ms", scale=1e3,
                               baseline_label="unpatched", variant_label="openai + llamaindex"))
    print_table(figures)
    imports = import_costs(max(3, rounds // 2))
    import_summary = {k: summary(v) for k, v in imports.items()}
    print("\nimport cost (process CPU ms, median of %d fresh interpreters):" % len(imports["patch llamaindex, own"]))
    for k, v in import_summary.items():
        print("  %-28s %8.1f" % (k, v["median"]))
    head = result_head("llamaindex_runs", args.quick, " ".join(sys.argv), time.time() - started, machine(),
                       rounds=rounds, runs=runs, spans_exported=exporter.count)
    path = write_json(os.path.join(RESULTS_DIR, "llamaindex_runs.json"),
                      {**head, "figures": figures, "import_ms": import_summary})
    print("\nspans exported: %d; results: %s" % (exporter.count, os.path.relpath(path)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
