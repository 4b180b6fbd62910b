"""Pydantic AI's runs replayed from the cassettes (record mode none), against OpenAI's own
base URL: without the agent Pydantic AI and the OpenAI SDK parse every recorded body and
answer from the tool's result; with it, each run is the exact tree, usage once per model
call. ``record_cassettes.py`` recorded them against the local fake.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import vcr
from opentelemetry.trace import SpanKind

from weave_agent.testing import load_module

HERE = Path(__file__).resolve().parent
MATCH_ON = ("method", "scheme", "host", "port", "path", "query")


scenarios = load_module("weave_tests_pydantic_ai_scenarios", HERE / "scenarios.py")
CHAT = "chat " + scenarios.MODEL


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in list(os.environ):
        if var.startswith(("OPENAI_", "LOGFIRE_")):
            monkeypatch.delenv(var, raising=False)
    yield


def replay(name: str) -> str:
    cassette = vcr.VCR(record_mode="none", match_on=MATCH_ON).use_cassette(str(HERE / "cassettes" / f"{name}.yaml"))
    with cassette as played:
        output = scenarios.run(name)
    assert played.all_played and played.play_count == 2
    return output


@pytest.mark.parametrize("name", scenarios.SCENARIOS)
def test_the_sdk_parses_every_cassette(spans: Any, name: str) -> None:
    assert replay(name) == scenarios.ANSWER
    assert spans.finished() == []  # nothing patched here


@pytest.mark.parametrize("name", scenarios.SCENARIOS)
def test_each_run_is_one_tree(spans: Any, instrumentation: Any, name: str) -> None:
    instrumentation("openai")
    instrumentation("pydantic_ai")
    assert replay(name) == scenarios.ANSWER
    assert spans.shape() == [
        ("invoke_agent weather", 0),
        (CHAT, 1),
        ("execute_tool get_weather", 1),
        (CHAT, 1),
    ]
    model_calls = [s for s in spans.finished() if s.kind is SpanKind.CLIENT]
    assert len(model_calls) == 2
    assert all(s.attributes["server.address"] == "api.openai.com" for s in model_calls)
    with_usage = [s for s in spans.finished() if "gen_ai.usage.input_tokens" in (s.attributes or {})]
    assert with_usage == model_calls
    counted = spans.metric_points("gen_ai.client.inference.usage.input_tokens")
    assert counted
    assert sum(p.value for p in counted) == sum(s.attributes["gen_ai.usage.input_tokens"] for s in with_usage)
