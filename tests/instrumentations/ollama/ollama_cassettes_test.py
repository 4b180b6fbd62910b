"""Replay every Ollama cassette through the real, uninstrumented SDK.

These tests prove the cassettes are something ``ollama`` 0.6.3 parses the way it parses a
real Ollama server's answers: response types, content, thinking, tool calls (no id),
counts on the final part, NDJSON streams (sync and async), and the exception each error
raises. They run offline: vcrpy is in ``record_mode="none"`` and the clients use the
host each cassette was moved to (the SDK's default ``127.0.0.1:11434``, or
``https://ollama.com``).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import inspect
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ollama
import pytest
import vcr
import yaml

HERE = Path(__file__).resolve().parent
CASSETTE_DIR = HERE / "cassettes"


def _load_recorder() -> Any:
    name = "_ollama_record_cassettes"
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

REPLAY = vcr.VCR(serializer="yaml", cassette_library_dir=str(CASSETTE_DIR), record_mode="none",
                 match_on=rec.MATCH_ON)

CAPITAL_ANSWER = "The capital of France is Paris."
CAPITAL_THINKING = "The user asks for a capital. France: Paris."
SKY_ANSWER = "Sunlight scatters off air molecules, and blue light scatters most."
TOOL_RESULT_ANSWER = "It is 18 degrees and sunny in Paris right now."
CODE_ANSWER = "    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n"
MODES = ["sync", "async"]
SDK_VERSION = importlib.metadata.version("ollama")


def sdk_lacks(name: str) -> str | None:
    """Why the installed SDK cannot make scenario ``name`` (the compatibility matrix runs
    these tests on the oldest release in the range: ``think`` and ``dimensions`` are newer)."""
    scenario = SCENARIOS[name]
    params = inspect.signature(getattr(ollama.Client, scenario.method)).parameters
    missing = [k for k in scenario.kwargs if k not in params]
    return f"ollama {SDK_VERSION}: {scenario.method}() has no {', '.join(missing)}" if missing else None


def needs(name: str) -> pytest.MarkDecorator:
    """Skip a test of scenario ``name`` on an SDK release without one of its parameters."""
    return pytest.mark.skipif(sdk_lacks(name) is not None, reason=sdk_lacks(name) or "")


RUNNABLE = [name for name in SCENARIOS if sdk_lacks(name) is None]


@pytest.fixture(autouse=True)
def _no_ambient_ollama_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OLLAMA_HOST", "OLLAMA_API_KEY"):
        monkeypatch.delenv(var, raising=False)


@contextmanager
def replay(name: str) -> Iterator[Any]:
    with REPLAY.use_cassette(f"{name}.yaml", allow_playback_repeats=False) as cassette:
        yield cassette
    assert cassette.all_played, f"{name}: not every recorded interaction was requested"


def client(name: str, is_async: bool = False) -> Any:
    """The client the scenario's cassette replays under: no host for a local server (the
    SDK's default), ``https://ollama.com`` with the key for the hosted API."""
    scenario = SCENARIOS[name]
    options = {"headers": {"Authorization": f"Bearer {scenario.api_key}"}} if scenario.api_key else {}
    cls = ollama.AsyncClient if is_async else ollama.Client
    return cls(host=rec.HOSTED_URL if scenario.hosted else None, **options)


def call(name: str, mode: str, sdk: Any = None) -> Any:
    """Scenario ``name`` through the sync or async client; a stream is consumed into a list."""
    scenario = SCENARIOS[name]
    with replay(name):
        if mode == "sync":
            result = getattr(sdk or client(name), scenario.method)(**scenario.kwargs)
            return list(result) if scenario.streaming else result

        async def run() -> Any:
            result = await getattr(sdk or client(name, is_async=True), scenario.method)(**scenario.kwargs)
            return [part async for part in result] if scenario.streaming else result

        return asyncio.run(run())


def assert_counts(response: Any) -> None:
    assert response.done is True and response.done_reason == "stop"
    assert response.prompt_eval_count > 0 and response.eval_count > 0
    assert response.total_duration > 0


def assert_parts(parts: list[Any], model: str) -> None:
    """A stream: every part of the model, only the last one done and with the counts."""
    assert parts
    for part in parts[:-1]:
        assert part.model == model and part.done is False
        assert part.prompt_eval_count is None and part.eval_count is None
    assert parts[-1].model == model
    assert_counts(parts[-1])


# -- cassette hygiene --------------------------------------------------------


def test_every_cassette_has_a_scenario() -> None:
    assert {p.stem for p in CASSETTE_DIR.glob("*.yaml")} == set(SCENARIOS)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_cassette_is_clean(name: str) -> None:
    path = CASSETTE_DIR / f"{name}.yaml"
    rec.verify_cassette(path)  # no key, no fault header, filtered headers, one interaction
    interaction = yaml.safe_load(path.read_text())["interactions"][0]
    request, response = interaction["request"], interaction["response"]
    scenario = SCENARIOS[name]
    assert request["method"] == "POST"
    assert request["uri"] == f"{scenario.url}/api/{scenario.method}"
    body = json.loads(request["body"])
    assert body["model"] == scenario.kwargs["model"]
    if scenario.method in ("chat", "generate"):
        assert body["stream"] is scenario.streaming  # the SDK always sends it
    content_type = response["headers"]["content-type"][0]
    if scenario.error and not (scenario.streaming and response["status"]["code"] == 200):
        assert response["status"]["code"] >= 400 and "error" in json.loads(response["body"]["string"])
    elif scenario.streaming:
        assert response["status"]["code"] == 200 and content_type == "application/x-ndjson"
        lines = response["body"]["string"].splitlines()
        assert all(json.loads(line) for line in lines)
    else:
        assert response["status"]["code"] == 200 and content_type == "application/json; charset=utf-8"


# -- chat ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_chat(mode: str) -> None:
    response = call("chat", mode)
    assert isinstance(response, ollama.ChatResponse)
    assert response.model == rec.CHAT_MODEL
    assert response.message.role == "assistant" and response.message.content == CAPITAL_ANSWER
    assert response.message.tool_calls is None and getattr(response.message, "thinking", None) is None
    assert_counts(response)


@pytest.mark.parametrize("mode", MODES)
def test_chat_stream(mode: str) -> None:
    parts = call("chat_stream", mode)
    assert all(isinstance(p, ollama.ChatResponse) for p in parts)
    assert_parts(parts, rec.CHAT_MODEL)
    assert "".join(p.message.content for p in parts) == CAPITAL_ANSWER
    assert parts[-1].message.content == ""


@pytest.mark.parametrize("mode", MODES)
def test_chat_tools(mode: str) -> None:
    response = call("chat_tools", mode)
    (tool_call,) = response.message.tool_calls
    assert isinstance(tool_call, ollama.Message.ToolCall)
    assert tool_call.function.name == "get_weather"
    assert tool_call.function.arguments == {"location": "Paris"}  # an object, not a JSON string
    assert "id" not in tool_call.model_dump()  # Ollama's tool calls carry no id
    assert response.message.content == "" and response.done_reason == "stop"


@pytest.mark.parametrize("mode", MODES)
def test_chat_tool_result(mode: str) -> None:
    response = call("chat_tool_result", mode)
    assert response.message.content == TOOL_RESULT_ANSWER
    body = json.loads(yaml.safe_load((CASSETTE_DIR / "chat_tool_result.yaml").read_text())
                      ["interactions"][0]["request"]["body"])
    assert body["messages"][2] == {"role": "tool", "content": rec.TOOL_RESULT, "tool_name": "get_weather"}


@pytest.mark.parametrize("mode", MODES)
def test_chat_stream_tools(mode: str) -> None:
    parts = call("chat_stream_tools", mode)
    assert_parts(parts, rec.CHAT_MODEL)
    (with_call,) = [p for p in parts if p.message.tool_calls]
    (tool_call,) = with_call.message.tool_calls
    assert (tool_call.function.name, tool_call.function.arguments) == ("get_weather", {"location": "Paris"})


@needs("chat_think")
@pytest.mark.parametrize("mode", MODES)
def test_chat_think(mode: str) -> None:
    response = call("chat_think", mode)
    assert response.model == rec.THINK_MODEL
    assert response.message.thinking == CAPITAL_THINKING and response.message.content == CAPITAL_ANSWER


@needs("chat_think")
@pytest.mark.parametrize("mode", MODES)
def test_chat_stream_think(mode: str) -> None:
    parts = call("chat_stream_think", mode)
    assert_parts(parts, rec.THINK_MODEL)
    assert "".join(p.message.thinking or "" for p in parts) == CAPITAL_THINKING
    assert "".join(p.message.content for p in parts) == CAPITAL_ANSWER


@pytest.mark.parametrize("mode", MODES)
def test_chat_hosted(mode: str) -> None:
    response = call("chat_hosted", mode)
    assert response.message.content == CAPITAL_ANSWER


# -- errors ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("name", "status", "message"), [
    ("chat_error_401", 401, "unauthorized"),
    ("chat_error_404", 404, 'model "missing-model" not found, try pulling it first'),
    ("chat_stream_error_404", 404, 'model "missing-model" not found, try pulling it first'),
])
def test_http_errors(mode: str, name: str, status: int, message: str) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        call(name, mode)
    assert caught.value.status_code == status and caught.value.error == message


@pytest.mark.parametrize("mode", MODES)
def test_stream_error_midway(mode: str) -> None:
    scenario = SCENARIOS["chat_stream_error"]
    received: list[Any] = []
    with replay("chat_stream_error"), pytest.raises(ollama.ResponseError) as caught:
        if mode == "sync":
            for part in client("chat_stream_error").chat(**scenario.kwargs):
                received.append(part)
        else:

            async def run() -> None:
                async for part in await client("chat_stream_error", True).chat(**scenario.kwargs):
                    received.append(part)

            asyncio.run(run())
    assert len(received) == 2 and caught.value.status_code == -1  # an error line: no HTTP status
    assert "unexpected EOF" in caught.value.error


# -- generate ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_generate(mode: str) -> None:
    response = call("generate", mode)
    assert isinstance(response, ollama.GenerateResponse)
    assert response.response == SKY_ANSWER and response.context
    assert_counts(response)


@pytest.mark.parametrize("mode", MODES)
def test_generate_stream(mode: str) -> None:
    parts = call("generate_stream", mode)
    assert_parts(parts, rec.CHAT_MODEL)
    assert "".join(p.response for p in parts) == SKY_ANSWER
    assert parts[-1].context and parts[0].context is None


@pytest.mark.parametrize("mode", MODES)
def test_generate_suffix(mode: str) -> None:
    assert call("generate_suffix", mode).response == CODE_ANSWER


# -- embeddings ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_embed(mode: str) -> None:
    response = call("embed", mode)
    assert isinstance(response, ollama.EmbedResponse)
    assert response.model == rec.EMBED_MODEL and response.prompt_eval_count > 0
    assert [len(v) for v in response.embeddings] == [384, 384]
    assert response.embeddings[0] != response.embeddings[1]


@needs("embed_dimensions")
@pytest.mark.parametrize("mode", MODES)
def test_embed_dimensions(mode: str) -> None:
    assert [len(v) for v in call("embed_dimensions", mode).embeddings] == [256]


@pytest.mark.parametrize("mode", MODES)
def test_embeddings(mode: str) -> None:
    response = call("embeddings", mode)
    assert isinstance(response, ollama.EmbeddingsResponse)
    assert len(response.embedding) == 384


def test_module_level_functions_replay_under_the_default_client() -> None:
    # ollama.chat is the default client's method: no host, the SDK's 127.0.0.1:11434
    with replay("chat"):
        response = ollama.chat(**SCENARIOS["chat"].kwargs)
    assert response.message.content == CAPITAL_ANSWER
