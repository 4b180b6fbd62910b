"""``weave_agent.cost.usd``: each LLM span priced from the bundled genai-prices table.

The expected figures are computed here from the source's own table (the model's
``ModelPrice`` at the call's time, per million tokens), never copied from our output; the
pipeline tests run a real app in a fresh interpreter and read the spans it wrote.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from weave_agent.export import cost

genai_prices = pytest.importorskip("genai_prices")
from genai_prices.data import providers as TABLE  # noqa: E402

T0_NS = 1_765_000_000_000_000_000  # 2025-12-06: the start time every priced span below has
WHEN = datetime.fromtimestamp(T0_NS / 1e9, tz=timezone.utc)


def _table_price(provider_id: str, model_id: str) -> Any:
    """The source's ``ModelPrice`` of one model, looked up by its ids (not by matching a
    model name, which is what the code under test does)."""
    provider = next(p for p in TABLE if p.id == provider_id)
    model = next(m for m in provider.models if m.id == model_id)
    return model.get_prices(WHEN)


def _rate(price: Any, key: str) -> Decimal:
    value = getattr(price, key, None)
    if value is None:
        return Decimal(0)
    assert isinstance(value, Decimal), "%s is tiered: pick a model with flat prices for this test" % key
    return value


def _expected(price: Any, inp: int, out: int, read: int = 0, write: int = 0, reasoning: int = 0) -> float:
    """The provider's bill for one call: input tokens include the cached ones, each part at
    its own rate where the table has one (else at the input rate); output tokens include
    reasoning; plus the fee per request where there is one."""
    read_rate, write_rate = getattr(price, "cache_read_mtok", None), getattr(price, "cache_write_mtok", None)
    plain_in = inp - (read if read_rate is not None else 0) - (write if write_rate is not None else 0)
    reasoning_rate = getattr(price, "output_reasoning_mtok", None)
    plain_out = out - (reasoning if reasoning_rate is not None else 0)
    total = (Decimal(plain_in) * _rate(price, "input_mtok") + Decimal(read) * _rate(price, "cache_read_mtok")
             * (read_rate is not None) + Decimal(write) * _rate(price, "cache_write_mtok") * (write_rate is not None)
             + Decimal(plain_out) * _rate(price, "output_mtok")
             + Decimal(reasoning) * _rate(price, "output_reasoning_mtok") * (reasoning_rate is not None))
    per_request = _rate(price, "requests_kcount") / 1000  # a fee per call (Perplexity's Sonar), per thousand
    return float(total / 1_000_000 + per_request)


def _attrs(provider: str, model: str, inp: int, out: int, **more: Any) -> dict[str, Any]:
    a: dict[str, Any] = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": provider,
                         "gen_ai.request.model": model, "gen_ai.usage.input_tokens": inp,
                         "gen_ai.usage.output_tokens": out}
    a.update(more)
    return a


# (our gen_ai.provider.name, the model name a response carries, the source's provider id and model id)
KNOWN = [
    ("openai", "gpt-4o-mini-2024-07-18", "openai", "gpt-4o-mini"),
    ("anthropic", "claude-3-5-haiku-20241022", "anthropic", "claude-3-5-haiku-latest"),
    ("gcp.gemini", "gemini-2.0-flash", "google", "gemini-2.0-flash"),
    ("mistral_ai", "mistral-large-latest", "mistral", "mistral-large"),
    ("groq", "llama-3.3-70b-versatile", "groq", "llama-3.3-70b-versatile"),
    ("cohere", "command-r-plus", "cohere", "command-r-plus"),
    ("x_ai", "grok-3", "x-ai", "grok-3"),
    ("deepseek", "deepseek-chat", "deepseek", "deepseek-chat"),
    ("aws.bedrock", "amazon.nova-lite-v1:0", "aws", "amazon.nova-lite-v1:0"),
    # a cross-region inference profile of Anthropic's model on Bedrock, at Bedrock's price
    ("aws.bedrock", "us.anthropic.claude-3-5-haiku-20241022-v1:0", "aws",
     "regional.anthropic.claude-3-5-haiku-20241022-v1:0"),
    ("gcp.vertex_ai", "claude-3-5-haiku@20241022", "google", "claude-3-5-haiku"),  # Claude on Vertex AI
    ("azure.ai.openai", "gpt-4o-2024-08-06", "openai", "gpt-4o"),  # Azure OpenAI: the source falls back to OpenAI's
    ("perplexity", "sonar", "perplexity", "sonar"),
]


@pytest.mark.parametrize(("ours", "model", "provider_id", "model_id"), KNOWN, ids=["%s:%s" % k[:2] for k in KNOWN])
def test_known_models_are_priced_as_the_source_says(ours: str, model: str, provider_id: str, model_id: str) -> None:
    price = _table_price(provider_id, model_id)
    got = cost.price(_attrs(ours, model, 1200, 345), T0_NS)
    assert got == pytest.approx(_expected(price, 1200, 345), rel=1e-12, abs=0)
    assert got and got > 0


def test_response_model_wins_over_the_request_model() -> None:
    """The model that answered is the one billed (``gpt-4o`` asked, a dated snapshot answered)."""
    price = _table_price("openai", "gpt-4o-mini")
    a = _attrs("openai", "some-alias-the-table-does-not-know", 1000, 10,
               **{"gen_ai.response.model": "gpt-4o-mini-2024-07-18"})
    assert cost.price(a, T0_NS) == pytest.approx(_expected(price, 1000, 10), rel=1e-12, abs=0)


def test_cached_input_tokens_at_the_cache_rates() -> None:
    """OpenAI: cached reads at their rate; Anthropic: reads and writes at theirs. Our input
    tokens include both (the instrumentations add Anthropic's apart counts back in)."""
    price = _table_price("openai", "gpt-4o-mini")
    assert price.cache_read_mtok is not None and price.cache_read_mtok < price.input_mtok
    got = cost.price(_attrs("openai", "gpt-4o-mini", 5000, 100, **{"gen_ai.usage.cache_read.input_tokens": 4096}),
                     T0_NS)
    assert got == pytest.approx(_expected(price, 5000, 100, read=4096), rel=1e-12, abs=0)
    assert got < cost.price(_attrs("openai", "gpt-4o-mini", 5000, 100), T0_NS)  # type: ignore[operator]

    price = _table_price("anthropic", "claude-3-5-haiku-latest")
    assert price.cache_write_mtok is not None and price.cache_read_mtok is not None
    for write_name in ("gen_ai.usage.cache_write.input_tokens", "gen_ai.usage.cache_creation.input_tokens"):
        a = _attrs("anthropic", "claude-3-5-haiku-20241022", 3000, 50,
                   **{"gen_ai.usage.cache_read.input_tokens": 1000, write_name: 1500})
        got = cost.price(a, T0_NS)
        assert got == pytest.approx(_expected(price, 3000, 50, read=1000, write=1500), rel=1e-12, abs=0)


def test_reasoning_tokens_are_output_tokens_at_the_providers_rate() -> None:
    """Gemini's thoughts and OpenAI's reasoning are billed as output: a span that says how
    many of its output tokens were reasoning costs the same as the plain count."""
    for ours, model, pid, mid in (("gcp.gemini", "gemini-2.5-flash", "google", "gemini-2.5-flash"),
                                  ("openai", "o3-mini", "openai", "o3-mini")):
        price = _table_price(pid, mid)
        a = _attrs(ours, model, 800, 2000, **{"gen_ai.usage.reasoning.output_tokens": 1500})
        got = cost.price(a, T0_NS)
        assert got == pytest.approx(_expected(price, 800, 2000, reasoning=1500), rel=1e-12, abs=0)
        assert got == cost.price(_attrs(ours, model, 800, 2000), T0_NS)


def test_unknown_model_or_provider_is_not_priced() -> None:
    assert cost.price(_attrs("openai", "gpt-nonexistent-9000", 10, 10), T0_NS) is None
    assert cost.price(_attrs("ollama", "llama3.2", 10, 10), T0_NS) is None  # local: no price
    assert cost.price(_attrs("_OTHER", "gpt-4o-mini", 10, 10), T0_NS) is None
    a = _attrs("openai", "gpt-4o-mini", 10, 10)
    del a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]
    assert cost.price(a, T0_NS) is None  # no usage
    # counts the source rejects (cached more than the whole input): no figure rather than a wrong one
    assert cost.price(_attrs("openai", "gpt-4o-mini", 10, 10, **{"gen_ai.usage.cache_read.input_tokens": 50}),
                      T0_NS) is None


def test_the_server_says_whose_prices_apply() -> None:
    """The OpenAI SDK pointed at Groq is billed by Groq; pointed at a local server, nobody's
    price is a fact: no cost. OpenAI's own host (and a port) changes nothing."""
    groq = _table_price("groq", "llama-3.3-70b-versatile")
    a = _attrs("openai", "llama-3.3-70b-versatile", 900, 90, **{"server.address": "api.groq.com"})
    assert cost.price(a, T0_NS) == pytest.approx(_expected(groq, 900, 90), rel=1e-12, abs=0)
    a = _attrs("openai", "gpt-4o-mini", 900, 90, **{"server.address": "127.0.0.1", "server.port": 8000})
    assert cost.price(a, T0_NS) is None
    a = _attrs("openai", "gpt-4o-mini", 900, 90, **{"server.address": "api.openai.com", "server.port": 443})
    assert cost.price(a, T0_NS) == pytest.approx(_expected(_table_price("openai", "gpt-4o-mini"), 900, 90),
                                                 rel=1e-12, abs=0)
    a = _attrs("azure.ai.openai", "gpt-4o-2024-08-06", 900, 90, **{"server.address": "myres.openai.azure.com"})
    assert cost.price(a, T0_NS) == pytest.approx(_expected(_table_price("openai", "gpt-4o"), 900, 90),
                                                 rel=1e-12, abs=0)


def test_the_exporter_adds_the_cost_to_the_spans_it_exports() -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(cost.PricingSpanExporter(memory)))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("invoke_agent"):
        with tracer.start_as_current_span("chat gpt-4o-mini", start_time=T0_NS) as s:
            for k, v in _attrs("openai", "gpt-4o-mini", 1000, 200).items():
                s.set_attribute(k, v)
        with tracer.start_as_current_span("chat mystery", start_time=T0_NS) as s:
            for k, v in _attrs("openai", "mystery-model", 1000, 200).items():
                s.set_attribute(k, v)
    by_name = {s.name: s for s in memory.get_finished_spans()}
    priced = by_name["chat gpt-4o-mini"]
    assert priced.attributes[cost.ATTRIBUTE] == pytest.approx(
        _expected(_table_price("openai", "gpt-4o-mini"), 1000, 200), rel=1e-12, abs=0)
    assert priced.attributes[cost.SOURCE_ATTRIBUTE] == "genai-prices " + genai_prices.__version__
    assert priced.context == priced.context and priced.attributes["gen_ai.usage.input_tokens"] == 1000
    assert cost.ATTRIBUTE not in by_name["chat mystery"].attributes
    assert cost.ATTRIBUTE not in by_name["invoke_agent"].attributes
    provider.shutdown()


# --- the pipeline in a real process ----------------------------------------------------------

APP = r'''
import json, sys, threading, time
imported_on = []
def audit(event, args):
    if event == "import" and args[0] == "genai_prices":
        imported_on.append(threading.current_thread().name)
sys.addaudithook(audit)

import weave_agent
from weave_agent.export import telemetry
weave_agent.init()
tracer = telemetry.tracer()
t0 = time.perf_counter()
with tracer.start_as_current_span("chat gpt-4o-mini") as s:
    s.set_attribute("gen_ai.operation.name", "chat")
    s.set_attribute("gen_ai.provider.name", "openai")
    s.set_attribute("gen_ai.request.model", "gpt-4o-mini")
    s.set_attribute("gen_ai.usage.input_tokens", 1000)
    s.set_attribute("gen_ai.usage.output_tokens", 200)
caller_ms = (time.perf_counter() - t0) * 1000
loaded_on_caller = "genai_prices" in sys.modules and "MainThread" in imported_on
# Not weave_agent.flush(): the SDK's force_flush exports on the thread that calls it. Wait
# for the batch processor's own export (OTEL_BSP_SCHEDULE_DELAY below) to write the file.
import glob, os
deadline = time.monotonic() + 30
while time.monotonic() < deadline and not any(
        os.path.getsize(f) for f in glob.glob(os.environ["WEAVE_AGENT_TRACES_DIR"] + "/traces-*.jsonl")):
    time.sleep(0.02)
print(json.dumps({"imported_on": imported_on, "caller_ms": caller_ms, "loaded_on_caller": loaded_on_caller}))
'''


def _spans(folder: Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted(folder.glob("traces-*.jsonl")):
        for line in path.read_text().splitlines():
            for rs in json.loads(line)["resourceSpans"]:
                for ss in rs["scopeSpans"]:
                    for span in ss["spans"]:
                        out.append({a["key"]: next(iter(a["value"].values())) for a in span["attributes"]})
    return out


def test_the_agent_prices_off_the_callers_thread(run_py: Any, tmp_path: Path) -> None:
    """The span leaves the app's thread unpriced; the batch processor's worker loads the
    table and writes the cost into the exported copy."""
    done = run_py(APP, env={"WEAVE_AGENT_EXPORTER": "file", "WEAVE_AGENT_TRACES_DIR": str(tmp_path / "t"),
                            "WEAVE_AGENT_QUIET": "true", "OTEL_BSP_SCHEDULE_DELAY": "50"}).check()
    report = done.json()
    assert report["imported_on"] and "MainThread" not in report["imported_on"], report
    assert not report["loaded_on_caller"]
    (span,) = _spans(tmp_path / "t")
    assert span[cost.ATTRIBUTE] == pytest.approx(_expected(_table_price("openai", "gpt-4o-mini"), 1000, 200),
                                                 rel=1e-9, abs=0)
    assert span[cost.SOURCE_ATTRIBUTE] == "genai-prices " + genai_prices.__version__


def test_the_setting_turns_pricing_off(run_py: Any, tmp_path: Path) -> None:
    done = run_py(APP, env={"WEAVE_AGENT_EXPORTER": "file", "WEAVE_AGENT_TRACES_DIR": str(tmp_path / "t"),
                            "WEAVE_AGENT_QUIET": "true", "WEAVE_AGENT_PRICING": "false",
                            "OTEL_BSP_SCHEDULE_DELAY": "50"}).check()
    assert done.json()["imported_on"] == []  # the table is never loaded
    (span,) = _spans(tmp_path / "t")
    assert cost.ATTRIBUTE not in span and span["gen_ai.usage.input_tokens"] == "1000"


HANDOFF = r'''
import glob, json, os, time
import weave_agent
from weave_agent.export import telemetry
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
weave_agent.init()
tracer = telemetry.tracer()
def chat():
    with tracer.start_as_current_span("chat gpt-4o-mini") as s:
        s.set_attribute("gen_ai.operation.name", "chat")
        s.set_attribute("gen_ai.provider.name", "openai")
        s.set_attribute("gen_ai.request.model", "gpt-4o-mini")
        s.set_attribute("gen_ai.usage.input_tokens", 1000)
        s.set_attribute("gen_ai.usage.output_tokens", 200)
chat()  # the agent's provider: its exporter
memory = InMemorySpanExporter()
app = TracerProvider()
app.add_span_processor(SimpleSpanProcessor(memory))
trace.set_tracer_provider(app)  # the app's own set-up, later
chat()  # the app's provider: the app's processors
print(json.dumps([dict(s.attributes) for s in memory.get_finished_spans()]))
'''


def test_spans_the_apps_own_provider_exports_carry_no_cost(run_py: Any, tmp_path: Path) -> None:
    """What README says: the agent prices what its own exporter sends; a span that went to
    the TracerProvider the app set up passes through the app's pipeline untouched."""
    done = run_py(HANDOFF, env={"WEAVE_AGENT_EXPORTER": "file", "WEAVE_AGENT_TRACES_DIR": str(tmp_path / "t"),
                                "WEAVE_AGENT_QUIET": "true"}).check()
    (apps,) = done.json()
    assert apps["gen_ai.usage.input_tokens"] == 1000 and cost.ATTRIBUTE not in apps
    (ours,) = _spans(tmp_path / "t")  # written by the exit flush
    assert cost.ATTRIBUTE in ours
