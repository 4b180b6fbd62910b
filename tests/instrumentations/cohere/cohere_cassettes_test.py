"""The Cohere cassettes replay through the real SDK, without the agent, sync and async.

This proves the cassettes (the SDK parses every recorded body into its own types), so
``cohere_test.py`` only has to check spans. Replays use record mode ``none``: a request
that matches no cassette fails, nothing goes to the network.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cohere
import pytest
import vcr

from weave_agent.testing import load_module

HERE = Path(__file__).resolve().parent


rec = load_module("weave_tests_cohere_record", HERE / "record_cassettes.py")
fake = load_module("weave_tests_cohere_fake_server", HERE / "fake_cohere_server.py")
SCENARIOS = rec.SCENARIOS

_REPLAY = vcr.VCR(
    serializer="yaml",
    cassette_library_dir=str(rec.CASSETTE_DIR),
    record_mode="none",
    match_on=rec.MATCH_ON,
)


@contextmanager
def replay(name: str) -> Iterator[Any]:
    with _REPLAY.use_cassette(f"{name}.yaml", allow_playback_repeats=False) as cassette:
        yield cassette


def client(name: str, is_async: bool = False, **options: Any) -> Any:
    scenario = SCENARIOS[name]
    return rec.make_client(scenario.api, is_async=is_async, api_key=scenario.api_key, **options)


def call(name: str, is_async: bool = False, **options: Any) -> Any:
    """Replay scenario ``name`` through a fresh client: the result (a list of events for a
    stream), or the exception the scenario expects."""
    scenario = SCENARIOS[name]
    kwargs = rec.call_kwargs(scenario)
    with replay(name):
        if not is_async:
            return rec.run_scenario(client(name, **options), scenario)

        async def run() -> Any:
            method = getattr(client(name, is_async=True, **options), scenario.method)
            try:
                if scenario.streaming:
                    return [event async for event in method(**kwargs)]
                return await method(**kwargs)
            except Exception as exc:
                if scenario.error and type(exc).__name__ == scenario.error:
                    return exc
                raise

        return asyncio.run(run())


# -- what the SDK parses (shared with cohere_test.py) -----------------------------------------


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name)


def check(name: str, result: Any) -> None:
    scenario = SCENARIOS[name]
    if scenario.error:
        assert type(result).__name__ == scenario.error
        assert isinstance(result, cohere.core.ApiError)
        return
    if name == "chat":
        assert result.message.content[0].text == fake.ANSWER
        assert result.finish_reason == "COMPLETE"
        assert result.usage.tokens.input_tokens == 496.0 and result.usage.billed_units.input_tokens == 12.0
    elif name == "chat_tools":
        call = result.message.tool_calls[0]
        assert (call.id, call.function.name, call.function.arguments) == (fake.TOOL_CALL_ID, "get_weather",
                                                                           fake.TOOL_ARGS)
        assert result.finish_reason == "TOOL_CALL" and result.message.tool_plan == fake.TOOL_PLAN
    elif name == "chat_tool_result":
        assert result.message.content[0].text == fake.ANSWER
    elif name == "chat_stream":
        assert [e.type for e in result][:2] == ["message-start", "content-start"]
        text = "".join(e.delta.message.content.text for e in result if e.type == "content-delta")
        assert text == fake.ANSWER
        assert result[-1].type == "message-end" and result[-1].delta.usage.tokens.output_tokens == 8.0
    elif name == "chat_stream_tools":
        # cohere 5.x does not know today's tool-call delta and keeps delta.message as a dict
        args = "".join(_field(_field(_field(_field(e.delta, "message"), "tool_calls"), "function"), "arguments")
                       for e in result if e.type == "tool-call-delta")
        assert args == fake.TOOL_ARGS
        assert result[-1].delta.finish_reason == "TOOL_CALL"
    elif name == "embed":
        assert len(result.embeddings.float_) == 2 and len(result.embeddings.float_[0]) == 8
        assert result.meta.billed_units.input_tokens == 4.0
    elif name == "rerank":
        assert [r.index for r in result.results] == [0, 1]
        assert result.meta.billed_units.search_units == 1.0
    elif name == "v1_chat":
        assert result.text == fake.ANSWER and result.meta.tokens.input_tokens == 75.0
    elif name == "v1_chat_stream":
        assert [e.event_type for e in result][0] == "stream-start"
        assert "".join(e.text for e in result if e.event_type == "text-generation") == fake.ANSWER
        assert result[-1].event_type == "stream-end" and result[-1].response.text == fake.ANSWER
    elif name == "v1_embed":
        assert len(result.embeddings) == 2 and len(result.embeddings[0]) == fake.EMBED_DIM
    elif name == "v1_rerank":
        assert len(result.results) == 3
    else:  # pragma: no cover - a new scenario needs its check
        raise AssertionError(f"no check for {name}")


@pytest.fixture(autouse=True)
def _no_ambient_cohere_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("CO_API_URL", "CO_API_KEY", "COHERE_API_KEY"):
        monkeypatch.delenv(var, raising=False)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_cassette_replays_through_the_sdk(name: str, is_async: bool) -> None:
    check(name, call(name, is_async))


def test_every_cassette_is_recorded_and_clean() -> None:
    for name in SCENARIOS:
        rec.verify_cassette(rec.CASSETTE_DIR / f"{name}.yaml")
    assert {p.stem for p in rec.CASSETTE_DIR.glob("*.yaml")} == set(SCENARIOS)
