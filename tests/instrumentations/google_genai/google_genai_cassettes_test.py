"""Replay every Google Gen AI cassette through the real, uninstrumented SDK.

These tests prove the cassettes are what ``google-genai`` parses the way it parses the
Gemini API and Vertex AI: response types, text, thoughts, function calls, usage, stream
chunks, embeddings, and the exception classes, through the sync client (httpx2, or httpx
before google-genai 3), the async client over aiohttp (used whenever it is installed) and
over the SDK's httpx client (aiohttp absent). Offline: vcrpy in record mode ``none``, the
clients with their default base URLs.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from google.genai import _api_client, errors, types

HERE = Path(__file__).resolve().parent
CASSETTE_DIR = HERE / "cassettes"


def _load_recorder() -> Any:
    name = "_google_genai_record_cassettes"
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
REPLAY = rec.replay_vcr()
# sync; async over aiohttp; async over the SDK's httpx client (as when aiohttp is not installed)
MODES = ("sync", "aiohttp", "async_httpx")
ENV = (
    "GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_USE_ENTERPRISE",
    "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION", "GOOGLE_GENAI_API_VERSION", "GOOGLE_GENAI_HTTP_CLIENT",
    "GOOGLE_GEMINI_BASE_URL", "GOOGLE_VERTEX_BASE_URL",
)


@pytest.fixture(autouse=True)
def _no_ambient_google_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ENV:
        monkeypatch.delenv(var, raising=False)


@contextmanager
def replay(name: str) -> Any:
    with REPLAY.use_cassette(f"{name}.yaml", allow_playback_repeats=False) as cassette:
        yield cassette
    assert cassette.all_played, f"{name}: not every recorded interaction was requested"


_clients: dict[tuple[str, str], Any] = {}


def client(scenario: Any) -> Any:
    """One client per target and key for the whole run: building one loads the CA bundle
    three times (httpx, aiohttp, websockets: about 0.3 s here), and a dropped client closes
    its HTTP client under any stream still open. Whether the async calls go over aiohttp is
    decided per request (``_use_aiohttp``), so one client serves both async transports."""
    key = (scenario.target, scenario.api_key)
    if key not in _clients:
        _clients[key] = rec.make_client(scenario)
    return _clients[key]


def run(name: str, mode: str, monkeypatch: pytest.MonkeyPatch | None = None) -> Any:
    """Scenario ``name`` through the sync client or ``client.aio`` (streams drained)."""
    scenario = SCENARIOS[name]
    if mode == "async_httpx":
        assert monkeypatch is not None
        monkeypatch.setattr(_api_client, "has_aiohttp", False)
    sdk = client(scenario)
    with replay(name):
        if mode == "sync":
            return rec.drive(sdk, scenario)
        if mode == "aiohttp":
            assert sdk._api_client._use_aiohttp()
        else:
            assert not sdk._api_client._use_aiohttp()
        return asyncio.run(rec.drive_async(sdk, scenario))


def test_every_cassette_has_a_scenario() -> None:
    assert sorted(p.stem for p in CASSETTE_DIR.glob("*.yaml")) == sorted(SCENARIOS)


@pytest.mark.parametrize("mode", MODES)
def test_generate_content(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    response = run("generate_content", mode, monkeypatch)
    assert isinstance(response, types.GenerateContentResponse)
    assert response.text == "The capital of France is Paris."
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    assert response.model_version == rec.MODEL and response.response_id
    usage = response.usage_metadata
    assert (usage.prompt_token_count, usage.candidates_token_count, usage.total_token_count) == (16, 7, 23)


@pytest.mark.parametrize("mode", MODES)
def test_thinking_and_cached_tokens(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    response = run("generate_content_thinking", mode, monkeypatch)
    thought, answer = response.candidates[0].content.parts
    assert thought.thought is True and answer.text == "The capital of France is Paris."
    usage = response.usage_metadata
    assert (usage.prompt_token_count, usage.thoughts_token_count, usage.cached_content_token_count) == (7, 13, 6)


@pytest.mark.parametrize("mode", MODES)
def test_declared_function_call(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    response = run("generate_content_tools", mode, monkeypatch)
    (call,) = response.function_calls
    assert (call.name, call.args) == ("get_weather", {"location": "Paris"})


@pytest.mark.parametrize("mode", MODES)
def test_automatic_function_calling(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    response = run("generate_content_afc", mode, monkeypatch)
    assert response.text == "It is sunny in Paris, 18 degrees."
    history = response.automatic_function_calling_history
    assert [c.role for c in history] == ["user", "model", "user"]
    assert history[2].parts[0].function_response.response == {"result": dict(rec.WEATHER_RESULT, location="Paris")}


@pytest.mark.parametrize("mode", MODES)
def test_stream(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    chunks = run("generate_content_stream", mode, monkeypatch)
    assert [c.text for c in chunks] == ["The capital ", "of France ", "is Paris."]
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert chunks[-1].usage_metadata.candidates_token_count == 7


@pytest.mark.parametrize("mode", MODES)
def test_stream_automatic_function_calling(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    chunks = run("generate_content_stream_afc", mode, monkeypatch)
    # google-genai 2.x before 2.33 keeps the function-call chunk to itself; later releases yield it
    calls = [c for c in chunks if c.function_calls]
    assert [c.function_calls[0].name for c in calls] in ([], ["get_weather"])
    assert "".join(c.text or "" for c in chunks if not c.function_calls) == "It is sunny in Paris, 18 degrees."


@pytest.mark.parametrize("mode", MODES)
def test_stream_error_mid_way(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []
    scenario = SCENARIOS["generate_content_stream_error"]
    if mode == "async_httpx":
        monkeypatch.setattr(_api_client, "has_aiohttp", False)
    sdk = client(scenario)
    with replay("generate_content_stream_error"), pytest.raises(errors.ServerError) as info:
        if mode == "sync":
            for chunk in sdk.models.generate_content_stream(**rec.scenario_kwargs(scenario)):
                seen.append(chunk)
        else:

            async def consume() -> None:
                async for chunk in await sdk.aio.models.generate_content_stream(**rec.scenario_kwargs(scenario)):
                    seen.append(chunk)

            asyncio.run(consume())
    assert info.value.code == 500 and info.value.status == "INTERNAL"
    assert [c.text for c in seen] == ["The capital ", "of France "]


@pytest.mark.parametrize("mode", MODES)
def test_embed_content(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    response = run("embed_content", mode, monkeypatch)
    assert isinstance(response, types.EmbedContentResponse)
    assert [len(e.values) for e in response.embeddings] == [8, 8]


@pytest.mark.parametrize("mode", MODES)
def test_chat(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = run("chat", mode, monkeypatch)
    assert first.text == second.text == "The capital of France is Paris."


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("name", "code", "status"), [("generate_error_400", 400, "INVALID_ARGUMENT"),
                                                      ("generate_error_429", 429, "RESOURCE_EXHAUSTED")])
def test_errors(mode: str, name: str, code: int, status: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(errors.ClientError) as info:
        run(name, mode, monkeypatch)
    assert (info.value.code, info.value.status) == (code, status)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["vertex_generate_content", "vertex_project_stream"])
def test_vertex_ai(mode: str, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    result = run(name, mode, monkeypatch)
    text = result.text if not isinstance(result, list) else "".join(c.text for c in result)
    assert text == "The capital of France is Paris."
