"""Replay every LiteLLM cassette through the real, uninstrumented ``litellm``.

These tests prove the cassettes are something ``litellm`` parses the way it parses the
providers' own answers: response types, content, usage, stream chunks (sync and async) and
the exception classes. They run offline: vcrpy is in ``record_mode="none"`` and
``api_base`` is each provider's public host, which the cassettes were rewritten to.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # before litellm is imported: no price-map fetch

import litellm  # noqa: E402
import pytest  # noqa: E402
import vcr  # noqa: E402

HERE = Path(__file__).resolve().parent


def _load_recorder() -> Any:
    name = "weave_tests_litellm_record_cassettes"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE / "record_cassettes.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


rec = _load_recorder()
SCENARIOS: dict[str, Any] = rec.SCENARIOS
REPLAY = vcr.VCR(serializer="yaml", cassette_library_dir=str(rec.CASSETTE_DIR), record_mode="none",
                 match_on=rec.MATCH_ON)
EXPECTED = {
    "completion": litellm.ModelResponse,
    "embedding": litellm.EmbeddingResponse,
    "text_completion": litellm.TextCompletionResponse,
}


@contextmanager
def replay(name: str) -> Iterator[Any]:
    with REPLAY.use_cassette(f"{name}.yaml", allow_playback_repeats=False) as cassette:
        yield cassette
    assert cassette.all_played, f"{name}: not every recorded interaction was requested"


def call(name: str, mode: str) -> Any:
    """Scenario ``name`` through ``litellm.<function>`` (or its async twin); streams drained;
    the scenario's expected exception returned instead of raised."""
    scenario = SCENARIOS[name]
    kwargs = rec.call_kwargs(scenario, rec.PUBLIC[scenario.target])

    async def run_async() -> Any:
        result = await getattr(litellm, "a" + scenario.function)(**kwargs)
        if scenario.streaming:
            return [chunk async for chunk in result]
        return result

    with replay(name):
        try:
            if mode == "sync":
                result = getattr(litellm, scenario.function)(**kwargs)
                return list(result) if scenario.streaming else result
            return asyncio.run(run_async())
        except Exception as exc:
            if scenario.error and type(exc).__name__ == scenario.error:
                return exc
            raise


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_cassette_replays(name: str, mode: str) -> None:
    scenario = SCENARIOS[name]
    result = call(name, mode)
    if scenario.error:
        assert type(result).__name__ == scenario.error
        assert result.status_code == 401
        return
    if scenario.streaming:
        text = "".join(c.choices[0].delta.content or "" for c in result if c.choices)
        assert "Paris" in text
        assert [c.usage for c in result if getattr(c, "usage", None)]  # include_usage: the last chunk has it
        return
    if scenario.function == "responses":
        assert result.id and result.usage.input_tokens > 0
        assert "Paris" in result.output[0].content[0].text
        return
    assert isinstance(result, EXPECTED[scenario.function])
    assert result.usage.prompt_tokens > 0
    if scenario.function == "completion":
        assert "Paris" in result.choices[0].message.content
    elif scenario.function == "embedding":
        assert len(result.data[0]["embedding"]) == 1536
    else:
        assert result.choices[0].text
