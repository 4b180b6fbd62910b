"""A library imported again from scratch is traced again (issue 18, item 8).

Test suites and notebooks delete every ``openai.*`` module from ``sys.modules`` and import
the SDK again: the fresh module objects are a fresh import, and must be patched like the
first ones (with a debug line saying so). Each case runs in its own process, under
``weave-run``-like settings, so that the test session's own SDK modules stay untouched.
"""

from __future__ import annotations

import json

import pytest
from _subproc import clean_env, run_python

pytest.importorskip("openai")
pytest.importorskip("anthropic")

APP = r"""
import json, sys
import weave_agent

weave_agent.init()
from weave_agent.export import telemetry
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

memory = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(memory))
telemetry.use_providers(provider)

VENDOR = sys.argv[1]


def purge():
    for name in [n for n in sys.modules if n == VENDOR or n.startswith(VENDOR + ".")]:
        del sys.modules[name]


def call():
    import httpx2
    if VENDOR == "openai":
        import openai
        body = {"id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}
        transport = httpx2.MockTransport(lambda request: httpx2.Response(200, json=body))
        client = openai.OpenAI(api_key="k", http_client=httpx2.Client(transport=transport))
        return client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}])
    import anthropic
    body = {"id": "m1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 3, "output_tokens": 1}}
    transport = httpx2.MockTransport(lambda request: httpx2.Response(200, json=body))
    client = anthropic.Anthropic(api_key="k", http_client=httpx2.Client(transport=transport))
    return client.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=[{"role": "user", "content": "hello"}])


counts = []
for round in range(3):
    if round:
        purge()
    call()
    counts.append(len(memory.get_finished_spans()))
print(json.dumps(counts))
"""


@pytest.mark.parametrize("vendor", ["openai", "anthropic"])
def test_fresh_import_is_patched_again(vendor: str) -> None:
    result = run_python(APP, args=(vendor,), env=clean_env(WEAVE_AGENT_DEBUG="1"), timeout=120)
    assert result.returncode == 0, result.stderr
    counts = json.loads(result.stdout.strip().splitlines()[-1])
    assert counts == [1, 2, 3], (counts, result.stderr)  # one span per call, each import traced
    assert "imported again" in result.stderr, result.stderr
