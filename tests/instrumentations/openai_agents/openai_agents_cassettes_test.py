"""The OpenAI Agents SDK's runs replayed from the cassettes (record mode none), against
OpenAI's own base URL: without the agent the SDK parses every recorded body and answers
from the tool's result; with it, each run is the exact tree, usage once per model call.
``record_cassettes.py`` recorded them against the local fake.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import agents
import pytest
import vcr
from opentelemetry.trace import SpanKind

from weave_agent.testing import load_module

HERE = Path(__file__).resolve().parent
MATCH_ON = ("method", "scheme", "host", "port", "path", "query")


scenarios = load_module("weave_tests_openai_agents_scenarios", HERE / "scenarios.py")
ANSWER = "Here is what I found: get_weather returned Sunny, 21 C in Paris."


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in list(os.environ):
        if var.startswith(("OPENAI_", "AZURE_OPENAI_")):
            monkeypatch.delenv(var, raising=False)
    agents.set_trace_processors([])
    yield


def replay(name: str) -> Any:
    cassette = vcr.VCR(record_mode="none", match_on=MATCH_ON).use_cassette(str(HERE / "cassettes" / f"{name}.yaml"))
    with cassette as played:
        result = scenarios.run(name)
    assert played.all_played and played.play_count == 2
    return result


@pytest.mark.parametrize("name", scenarios.SCENARIOS)
def test_the_sdk_parses_every_cassette(spans: Any, name: str) -> None:
    result = replay(name)
    assert result.final_output == ANSWER
    assert [type(item).__name__ for item in result.new_items] == [
        "ToolCallItem", "ToolCallOutputItem", "MessageOutputItem"]
    assert spans.finished() == []  # nothing patched here


@pytest.mark.parametrize("name", scenarios.SCENARIOS)
def test_each_run_is_one_tree(spans: Any, instrumentation: Any, name: str) -> None:
    instrumentation("openai")
    instrumentation("openai_agents")
    assert replay(name).final_output == ANSWER
    chat = "chat " + scenarios.MODEL
    assert spans.shape() == [
        ("invoke_workflow Agent workflow", 0),
        ("invoke_agent Assistant", 1),
        (chat, 2),
        ("execute_tool get_weather", 2),
        (chat, 2),
    ]
    model_calls = [s for s in spans.finished() if s.kind is SpanKind.CLIENT]
    assert len(model_calls) == 2
    assert all(s.attributes["server.address"] == "api.openai.com" for s in model_calls)
    with_usage = [s for s in spans.finished() if "gen_ai.usage.input_tokens" in (s.attributes or {})]
    assert with_usage == model_calls
    counted = spans.metric_points("gen_ai.client.inference.usage.input_tokens")
    assert counted
    assert sum(p.value for p in counted) == sum(s.attributes["gen_ai.usage.input_tokens"] for s in with_usage)
