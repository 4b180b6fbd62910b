"""Replay every Groq cassette through the real, uninstrumented SDK, sync and async.

These prove the cassettes are something ``groq`` parses as it parses api.groq.com:
response types, content, tool calls, reasoning, usage (``x_groq.usage`` on a stream's
last chunk), embeddings and exception classes. Offline: vcrpy in ``record_mode="none"``,
the client on its default base URL.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import inspect
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import groq
import pytest
import vcr
from groq import AsyncGroq, Groq
from groq._streaming import AsyncStream, Stream
from groq.types.chat import ChatCompletion, ChatCompletionChunk

HERE = Path(__file__).resolve().parent


def _load_recorder() -> Any:
    name = "_groq_record_cassettes"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE / "record_cassettes.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


rec = _load_recorder()
SCENARIOS: dict[str, Any] = rec.SCENARIOS
REPLAY = vcr.VCR(serializer="yaml", cassette_library_dir=str(rec.CASSETTE_DIR), record_mode="none",
                 match_on=rec.MATCH_ON)
CAPITAL = "The capital of France is Paris."

# What older releases in the range lack (the compatibility matrix, bench/compat.py, runs these
# tests on the oldest release the registry admits): create()'s newer parameters.
SDK_VERSION = importlib.metadata.version("groq")
CREATE_PARAMS = set(inspect.signature(groq.resources.chat.completions.Completions.create).parameters)


def unsupported(name: str) -> list[str]:
    """The arguments of scenario ``name`` this SDK release's ``create`` does not take."""
    scenario = SCENARIOS[name]
    if scenario.resource != "chat.completions":
        return []
    return sorted(set(scenario.kwargs) - CREATE_PARAMS)


def skip_unless_supported(name: str) -> None:
    """Skip a scenario whose arguments this SDK release's ``create`` does not take (its
    parameters come with the release that added them: reasoning_format, service_tier...)."""
    missing = unsupported(name)
    if missing:
        pytest.skip(f"groq {SDK_VERSION}: create() has no {', '.join(missing)} parameter (a later release added it)")


@pytest.fixture(autouse=True)
def _no_ambient_groq_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GROQ_API_KEY", "GROQ_BASE_URL", "GROQ_CUSTOM_HEADERS"):
        monkeypatch.delenv(var, raising=False)


@contextmanager
def replay(name: str) -> Any:
    with REPLAY.use_cassette(f"{name}.yaml", allow_playback_repeats=False) as cassette:
        yield cassette
    assert cassette.all_played, f"{name}: not every recorded interaction was requested"


def client(name: str, is_async: bool = False) -> Any:
    scenario = SCENARIOS[name]
    cls = AsyncGroq if is_async else Groq
    return cls(api_key=scenario.api_key, **scenario.client_options)  # the default base URL


def run(name: str, mode: str) -> Any:
    """Scenario ``name`` sync or async; a stream is drained into a list of chunks."""
    skip_unless_supported(name)
    scenario = SCENARIOS[name]
    with replay(name):
        if mode == "sync":
            result = rec.resource(client(name), scenario).create(**scenario.kwargs)
            if scenario.streaming:
                assert isinstance(result, Stream)
                return list(result)
            return result

        async def go() -> Any:
            result = await rec.resource(client(name, True), scenario).create(**scenario.kwargs)
            if scenario.streaming:
                assert isinstance(result, AsyncStream)
                return [chunk async for chunk in result]
            return result

        return asyncio.run(go())


def request_id(obj: Any) -> Any:
    """``x_groq.id``: a model, or a plain dict on releases whose ``ChatCompletion`` does not
    declare ``x_groq``."""
    groq_ = obj.x_groq
    return groq_["id"] if isinstance(groq_, dict) else groq_.id


def text_of(chunks: list[ChatCompletionChunk]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_chat_create(mode: str) -> None:
    completion = run("chat_create", mode)
    assert isinstance(completion, ChatCompletion)
    assert completion.choices[0].message.content == CAPITAL
    assert completion.choices[0].finish_reason == "stop"
    assert request_id(completion).startswith("req_")
    usage = completion.usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens and usage.queue_time


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_chat_stream_usage_only_in_x_groq(mode: str) -> None:
    chunks = run("chat_stream", mode)
    assert text_of(chunks) == CAPITAL
    assert chunks[0].x_groq.id == chunks[-1].x_groq.id  # first and last chunk carry it
    assert [c.choices[0].finish_reason for c in chunks][-1] == "stop"
    assert all(c.usage is None for c in chunks)
    assert [c.x_groq.usage is not None for c in chunks if c.x_groq] == [False, True]
    assert chunks[-1].x_groq.usage.prompt_tokens > 0


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_chat_stream_include_usage(mode: str) -> None:
    chunks = run("chat_stream_include_usage", mode)
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-2].x_groq.usage == chunks[-1].usage  # the same counts twice


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_tools(mode: str) -> None:
    (call,) = run("chat_tools", mode).choices[0].message.tool_calls
    assert (call.function.name, call.function.arguments) == ("get_weather", '{"location": "Paris"}')
    chunks = run("chat_stream_tools", mode)
    assert chunks[1].choices[0].delta.tool_calls[0].function.name == "get_weather"
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert run("chat_tool_result", mode).choices[0].message.content == "It is sunny in Paris."


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_reasoning(mode: str) -> None:
    completion = run("chat_reasoning", mode)
    assert completion.choices[0].message.reasoning and completion.choices[0].message.content == CAPITAL
    assert completion.usage.completion_tokens_details.reasoning_tokens > 0
    chunks = run("chat_stream_reasoning", mode)
    assert "".join(c.choices[0].delta.reasoning or "" for c in chunks if c.choices) == rec_reasoning()


def rec_reasoning() -> str:
    sys.path.insert(0, str(HERE))
    try:
        from fake_groq_server import REASONING
    finally:
        sys.path.remove(str(HERE))
    return REASONING


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_embeddings(mode: str) -> None:
    response = run("embeddings_create", mode)
    assert [len(d.embedding) for d in response.data] == [768, 768]
    assert response.usage.prompt_tokens > 0 and response.model == rec.EMBED_MODEL


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize(("name", "exc", "status"), [
    ("chat_error_401", groq.AuthenticationError, 401),
    ("chat_error_404", groq.NotFoundError, 404),
    ("chat_error_429", groq.RateLimitError, 429),
])
def test_http_errors(mode: str, name: str, exc: type, status: int) -> None:
    with pytest.raises(exc) as caught:
        run(name, mode)
    assert caught.value.status_code == status
    assert isinstance(caught.value.body, dict) and caught.value.body["error"]["code"]  # Groq's envelope


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_error_inside_a_stream(mode: str) -> None:
    with pytest.raises(groq.APIError) as caught:
        run("chat_stream_error", mode)
    assert type(caught.value) is groq.APIError
    assert caught.value.body["code"] == "tool_use_failed"


def test_every_cassette_has_a_scenario() -> None:
    assert sorted(p.stem for p in rec.CASSETTE_DIR.glob("*.yaml")) == sorted(SCENARIOS)
    for path in rec.CASSETTE_DIR.glob("*.yaml"):
        rec.verify_cassette(path)
