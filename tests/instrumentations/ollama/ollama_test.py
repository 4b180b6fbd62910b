"""The Ollama instrumentation, through the real SDK (ollama 0.6.x) and the recorded cassettes.

Every scenario runs sync and async (``Client`` and ``AsyncClient``); the module-level
``ollama.chat`` & co. run whether ``ollama`` was imported before the patch (here: the
test session imported it long before) or after it (a fresh interpreter under the
launcher). The SDK's result is checked to be what the SDK gives without the agent, then
the span and the metrics against the GenAI conventions. Cassettes replay with record mode
``none``: nothing here talks to the network.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import socket
import sys
from pathlib import Path
from typing import Any

import ollama
import pytest
from opentelemetry.trace import SpanKind, StatusCode

from weave_agent.hook.patcher import ModulePatcher, MultiPatcher
from weave_agent.instrumentations.ollama import ollama as ollama_mod
from weave_agent.instrumentations.ollama.streaming import OllamaStreamAccumulator
from weave_agent.testing import load_module

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]


ct = load_module("weave_tests_ollama_cassettes_test", HERE / "ollama_cassettes_test.py")  # replay(), client(), checks
rec = ct.rec
SCENARIOS = rec.SCENARIOS
MODES = ("sync", "async")
needs = ct.needs  # skips a scenario the installed SDK cannot make (the matrix's oldest release)
RUNNABLE = ct.RUNNABLE
CHAT = rec.CHAT_MODEL
CONTENT_KEYS = ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions",
                "gen_ai.tool.definitions")
LOCAL = {"server.address": "127.0.0.1", "server.port": 11434}
PATCHED = ("chat", "generate", "embed", "embeddings")


@pytest.fixture(autouse=True)
def _no_ambient_ollama_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OLLAMA_HOST", "OLLAMA_API_KEY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def traced(spans: Any, instrumentation: Any) -> Any:
    instrumentation("ollama")
    return spans


def call(name: str, mode: str, sdk: Any = None) -> Any:
    """Scenario ``name`` through the sync or async client (streams returned unconsumed)."""
    scenario = SCENARIOS[name]
    with ct.replay(name):
        if mode == "sync":
            return getattr(sdk or ct.client(name), scenario.method)(**scenario.kwargs)

        async def run() -> Any:
            return await getattr(sdk or ct.client(name, is_async=True), scenario.method)(**scenario.kwargs)

        return asyncio.run(run())


def consume(name: str, mode: str) -> list[Any]:
    """A streamed scenario, consumed whole (sync: the first ``next`` makes the request)."""
    scenario = SCENARIOS[name]
    with ct.replay(name):
        if mode == "sync":
            stream = getattr(ct.client(name), scenario.method)(**scenario.kwargs)
            assert isinstance(stream, type(x for x in ()))  # still a generator to the app
            return list(stream)

        async def run() -> list[Any]:
            stream = await getattr(ct.client(name, is_async=True), scenario.method)(**scenario.kwargs)
            assert hasattr(stream, "__anext__") and hasattr(stream, "aclose")
            return [part async for part in stream]

        return asyncio.run(run())


def content(span: Any, key: str) -> Any:
    return json.loads(span.attributes[key])


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "content": value}


def metadata(span: Any) -> dict[str, Any]:
    """The span's attributes without content and the stream bookkeeping."""
    return {k: v for k, v in span.attributes.items()
            if k not in CONTENT_KEYS and not k.startswith("weave_agent.stream.")
            and k != "gen_ai.response.time_to_first_chunk"}


def token_points(spans: Any) -> dict[str, int]:
    """The tokens the usage counters counted, per direction (a call without usage counts 0)."""
    totals = {d: sum(p.value for p in spans.metric_points("gen_ai.client.inference.usage.%s_tokens" % d))
              for d in ("input", "output")}
    totals["input"] += sum(p.sum for p in spans.metric_points("gen_ai.client.embeddings.operation.input_tokens"))
    return {d: n for d, n in totals.items() if n}


# -- chat -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_chat(traced: Any, mode: str) -> None:
    response = call("chat", mode)
    assert isinstance(response, ollama.ChatResponse)
    assert response.message.content == ct.CAPITAL_ANSWER  # the app's result is untouched
    span = traced.one(f"chat {CHAT}")
    assert span.kind is SpanKind.CLIENT and span.status.status_code is StatusCode.UNSET and span.parent is None
    assert metadata(span) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "ollama",
        "gen_ai.request.model": CHAT,
        **LOCAL,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.top_k": 40,
        "gen_ai.request.max_tokens": 64,
        "gen_ai.request.seed": 42,
        "gen_ai.request.stop_sequences": ("\n\n",),
        "gen_ai.response.model": CHAT,
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": response.prompt_eval_count,
        "gen_ai.usage.output_tokens": response.eval_count,
    }
    assert content(span, "gen_ai.input.messages") == [
        {"role": "system", "parts": [text("You are a concise geography assistant.")]},
        {"role": "user", "parts": [text("What is the capital of France?")]},
    ]
    assert content(span, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [text(ct.CAPITAL_ANSWER)], "finish_reason": "stop"}
    ]
    assert "gen_ai.tool.definitions" not in span.attributes and "gen_ai.system_instructions" not in span.attributes


@pytest.mark.parametrize("mode", MODES)
def test_chat_tools(traced: Any, mode: str) -> None:
    response = call("chat_tools", mode)
    assert response.message.tool_calls[0].function.name == "get_weather"
    span = traced.one(f"chat {CHAT}")
    assert span.attributes["gen_ai.response.finish_reasons"] == ("tool_call",)  # done_reason "stop" + tool calls
    assert content(span, "gen_ai.tool.definitions") == [{
        "type": "function",
        "name": "get_weather",
        "description": rec.WEATHER_TOOL["function"]["description"],
        "parameters": rec.WEATHER_TOOL["function"]["parameters"],
    }]
    assert content(span, "gen_ai.output.messages") == [{
        "role": "assistant",
        "parts": [{"type": "tool_call", "id": None, "name": "get_weather", "arguments": {"location": "Paris"}}],
        "finish_reason": "tool_call",
    }]


@pytest.mark.parametrize("mode", MODES)
def test_chat_tool_result(traced: Any, mode: str) -> None:
    assert call("chat_tool_result", mode).message.content == ct.TOOL_RESULT_ANSWER
    span = traced.one(f"chat {CHAT}")
    assert content(span, "gen_ai.input.messages") == [
        {"role": "user", "parts": [text("What's the weather like in Paris today?")]},
        {"role": "assistant", "parts": [
            {"type": "tool_call", "id": None, "name": "get_weather", "arguments": {"location": "Paris"}}]},
        {"role": "tool", "parts": [
            {"type": "tool_call_response", "id": None, "response": rec.TOOL_RESULT, "name": "get_weather"}]},
    ]
    assert span.attributes["gen_ai.response.finish_reasons"] == ("stop",)


@needs("chat_think")
@pytest.mark.parametrize("mode", MODES)
def test_chat_think_and_json(traced: Any, mode: str) -> None:
    response = call("chat_think", mode)
    span = traced.one(f"chat {rec.THINK_MODEL}")
    assert span.attributes["gen_ai.output.type"] == "json"
    assert "gen_ai.request.reasoning.level" not in span.attributes  # think=True names no level
    assert content(span, "gen_ai.output.messages") == [{
        "role": "assistant",
        "parts": [{"type": "reasoning", "content": response.message.thinking}, text(ct.CAPITAL_ANSWER)],
        "finish_reason": "stop",
    }]


@pytest.mark.parametrize("mode", MODES)
def test_hosted_api(traced: Any, mode: str) -> None:
    call("chat_hosted", mode)
    span = traced.one(f"chat {CHAT}")
    assert (span.attributes["server.address"], span.attributes["server.port"]) == ("ollama.com", 443)
    assert rec.API_KEY not in json.dumps([s.to_json() for s in traced.finished()])


def test_server_from_host_and_ollama_host(traced: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    extractor = ollama_mod.ChatExtractor()

    def server(sdk: Any) -> tuple[Any, Any]:
        request = extractor.request({"model": "m", "messages": []}, sdk, capture=False)
        return request.server_address, request.server_port

    assert server(ollama.Client()) == ("127.0.0.1", 11434)  # the SDK's default
    assert server(ollama.Client(host="gpu-box:8080")) == ("gpu-box", 8080)
    assert server(ollama.AsyncClient(host="https://user:pw@ollama.internal")) == ("ollama.internal", 443)
    monkeypatch.setenv("OLLAMA_HOST", "0.0.0.0:9999")
    assert server(ollama.Client()) == ("0.0.0.0", 9999)


# -- the module-level functions: the default client's bound methods ---------------------------


def test_module_level_functions_imported_before_the_patch(traced: Any) -> None:
    # This session imported ollama before the instrumentation fixture patched: ollama.chat
    # was bound to the original method and has been rebound to the traced one.
    for name in PATCHED:
        assert getattr(ollama, name).__self__ is vars(ollama)["_client"]
    with ct.replay("chat"):
        ollama.chat(**SCENARIOS["chat"].kwargs)
    with ct.replay("chat_stream"):
        parts = list(ollama.chat(**SCENARIOS["chat_stream"].kwargs))
    with ct.replay("generate"):
        ollama.generate(**SCENARIOS["generate"].kwargs)
    with ct.replay("embed"):
        ollama.embed(**SCENARIOS["embed"].kwargs)
    with ct.replay("embeddings"):
        ollama.embeddings(**SCENARIOS["embeddings"].kwargs)
    assert [s.name for s in traced.finished()] == [
        f"chat {CHAT}", f"chat {CHAT}", f"text_completion {CHAT}", f"embeddings {rec.EMBED_MODEL}",
        f"embeddings {rec.EMBED_MODEL}"]
    assert traced.finished()[1].attributes["gen_ai.usage.output_tokens"] == parts[-1].eval_count


def _module_functions() -> dict[str, Any]:
    return {name: vars(ollama)[name] for name in PATCHED}


def _class_methods() -> dict[str, Any]:
    return {f"{cls.__name__}.{m}": vars(cls)[m] for cls in (ollama.Client, ollama.AsyncClient) for m in PATCHED}


def test_undo_restores_the_originals(spans: Any) -> None:
    from weave_agent import patch, unpatch

    methods, functions = _class_methods(), _module_functions()
    patch(ollama=True)
    try:
        for key, method in _class_methods().items():
            assert method is not methods[key] and method.__wrapped__ is methods[key]
        for name, fn in _module_functions().items():
            assert fn is not functions[name] and fn.__wrapped__ == functions[name]
        assert vars(ollama)["pull"].__func__ is vars(ollama.Client)["pull"]  # not traced, not touched
    finally:
        unpatch("ollama")
    assert _class_methods() == methods and all(_class_methods()[k] is methods[k] for k in methods)
    assert all(_module_functions()[n] is functions[n] for n in PATCHED)  # the very bound methods
    with ct.replay("chat"):
        ollama.chat(**SCENARIOS["chat"].kwargs)
    assert spans.finished() == []


# The other import order, in a fresh interpreter started by the launcher: ollama is imported
# by the app after the agent armed the row; ollama._client is patched before ollama/__init__
# binds the module-level names, so they are traced without any rebinding.
APP = r"""
import json, sys
sys.path.insert(0, {here!r})
assert "ollama" not in sys.modules
import ollama
import vcr
import record_cassettes as rec
replay = vcr.VCR(serializer="yaml", cassette_library_dir={cassettes!r}, record_mode="none", match_on=rec.MATCH_ON)
with replay.use_cassette("chat.yaml"):
    ollama.chat(**rec.SCENARIOS["chat"].kwargs)
with replay.use_cassette("chat_stream.yaml"):
    for part in ollama.chat(**rec.SCENARIOS["chat_stream"].kwargs):
        pass
with replay.use_cassette("generate_stream.yaml"):
    left_open = ollama.generate(**rec.SCENARIOS["generate_stream"].kwargs)
    next(left_open)  # still open when the interpreter exits
bound = type(ollama.chat).__name__
submodule_patched = hasattr(vars(sys.modules["ollama._client"].Client)["chat"], "__wrapped__")
import weave_agent
weave_agent.unpatch("ollama")  # the names bound through the patch go back to plain bound methods
print(json.dumps({{"bound_through_the_patch": bound, "submodule_patched": submodule_patched,
                  "after_unpatch": [type(ollama.chat).__name__, ollama.chat.__func__ is ollama.Client.chat,
                                    ollama.embed.__self__ is vars(ollama)["_client"]]}}))
"""


def _file_spans(folder: Path) -> list[dict[str, Any]]:
    """The spans of the OTLP-JSON traces files the launcher wrote, attributes decoded."""
    out = []
    for path in sorted(folder.glob("traces-*.jsonl")):
        for line in path.read_text().splitlines():
            for resource in json.loads(line).get("resourceSpans", ()):
                for scope in resource.get("scopeSpans", ()):
                    for span in scope.get("spans", ()):
                        attrs = {a["key"]: next(iter(a["value"].values())) for a in span.get("attributes", ())}
                        out.append({"name": span["name"], "attributes": attrs})
    return out


def test_module_level_functions_imported_after_the_agent_started(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "tests" / "agent"))
    try:
        from _subproc import run_python
    finally:
        sys.path.remove(str(REPO / "tests" / "agent"))
    app = tmp_path / "app.py"
    app.write_text(APP.format(here=str(HERE), cassettes=str(HERE / "cassettes")))
    traces = tmp_path / "traces"
    result = run_python(args=("-m", "weave_agent", "python", str(app)), cwd=tmp_path, timeout=90,
                        env={"WEAVE_AGENT_TRACES_DIR": str(traces), "WEAVE_AGENT_QUIET": "true"}).check()
    assert result.json() == {"bound_through_the_patch": "_BoundOpWrapper", "submodule_patched": True,
                             "after_unpatch": ["method", True, True]}
    spans = _file_spans(traces)
    found = [(s["name"], s["attributes"].get("gen_ai.request.stream"), s["attributes"].get("gen_ai.usage.output_tokens"),
              s["attributes"].get("weave_agent.stream.end_reason")) for s in spans]
    assert found == [
        (f"chat {CHAT}", None, "6", None),  # OTLP-JSON writes 64-bit ints as strings
        (f"chat {CHAT}", True, "6", "exhausted"),
        (f"text_completion {CHAT}", True, None, "interpreter_exit"),  # ended once, at exit, without usage
    ]
    assert all(s["attributes"]["gen_ai.provider.name"] == "ollama" for s in spans)


# -- streams ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_chat_stream(traced: Any, mode: str) -> None:
    parts = consume("chat_stream", mode)
    assert "".join(p.message.content for p in parts) == ct.CAPITAL_ANSWER
    span = traced.one(f"chat {CHAT}")
    assert span.kind is SpanKind.CLIENT and span.status.status_code is StatusCode.UNSET
    assert metadata(span) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "ollama",
        "gen_ai.request.model": CHAT,
        **LOCAL,
        "gen_ai.request.stream": True,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.response.model": CHAT,
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": parts[-1].prompt_eval_count,  # only the done part has them
        "gen_ai.usage.output_tokens": parts[-1].eval_count,
    }
    assert span.attributes["weave_agent.stream.chunks"] == len(parts)
    assert span.attributes["weave_agent.stream.end_reason"] == "exhausted"
    assert span.attributes["gen_ai.response.time_to_first_chunk"] >= 0
    assert content(span, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [text(ct.CAPITAL_ANSWER)], "finish_reason": "stop"}]
    assert len(traced.metric_points("gen_ai.client.inference.time_to_first_chunk")) == 1


@pytest.mark.parametrize("mode", MODES)
def test_chat_stream_tools(traced: Any, mode: str) -> None:
    consume("chat_stream_tools", mode)
    span = traced.one(f"chat {CHAT}")
    assert span.attributes["gen_ai.response.finish_reasons"] == ("tool_call",)
    assert content(span, "gen_ai.output.messages") == [{
        "role": "assistant",
        "parts": [{"type": "tool_call", "id": None, "name": "get_weather", "arguments": {"location": "Paris"}}],
        "finish_reason": "tool_call",
    }]


@needs("chat_think")
@pytest.mark.parametrize("mode", MODES)
def test_chat_stream_think(traced: Any, mode: str) -> None:
    parts = consume("chat_stream_think", mode)
    span = traced.one(f"chat {rec.THINK_MODEL}")
    assert content(span, "gen_ai.output.messages") == [{
        "role": "assistant",
        "parts": [{"type": "reasoning", "content": ct.CAPITAL_THINKING}, text(ct.CAPITAL_ANSWER)],
        "finish_reason": "stop",
    }]
    assert span.attributes["weave_agent.stream.chunks"] == len(parts)


def open_stream(mode: str = "sync") -> Any:
    kwargs = SCENARIOS["chat_stream"].kwargs
    return (ollama.Client() if mode == "sync" else ollama.AsyncClient()).chat(**kwargs)


def one_ended(spans: Any, reason: str, complete: bool = False) -> Any:
    span = spans.one(f"chat {CHAT}")
    assert span.end_time is not None
    assert span.attributes["weave_agent.stream.end_reason"] == reason
    assert span.attributes["weave_agent.stream.complete"] is complete
    return span


def test_stream_break_then_dropped(traced: Any) -> None:
    with ct.replay("chat_stream"):
        stream = open_stream()
        for _ in stream:
            break
        assert traced.finished() == []  # open while the app holds it
        del stream
        gc.collect()
    span = one_ended(traced, "garbage_collected")
    assert span.attributes["weave_agent.stream.chunks"] == 1
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)  # the reason never came
    assert "gen_ai.usage.input_tokens" not in span.attributes  # nor the counts: nothing invented


def test_stream_close(traced: Any) -> None:
    with ct.replay("chat_stream"):
        stream = open_stream()
        next(stream)
        next(stream)
        stream.close()  # forwarded: the generator closes the HTTP response
        stream.close()  # twice: still one span
        with pytest.raises(StopIteration):
            next(stream)
    span = one_ended(traced, "closed")
    assert span.attributes["weave_agent.stream.chunks"] == 2
    assert content(span, "gen_ai.output.messages")[0]["parts"] == [text("The capital")]


def test_stream_never_iterated(traced: Any) -> None:
    stream = open_stream()  # the sync request is made at the first next(): none here
    del stream
    gc.collect()
    assert one_ended(traced, "garbage_collected").attributes["weave_agent.stream.chunks"] == 0


def test_stream_span_is_not_current_between_chunks(traced: Any) -> None:
    from opentelemetry import trace

    with ct.replay("chat_stream"):
        stream = open_stream()
        next(stream)
        assert not trace.get_current_span().get_span_context().is_valid
        list(stream)
    one_ended(traced, "exhausted", complete=True)


def test_async_stream_exits(traced: Any) -> None:
    async def run() -> None:
        with ct.replay("chat_stream"):
            stream = await open_stream("async")  # aclose()
            await stream.__anext__()
            await stream.aclose()
        with ct.replay("chat_stream"):
            stream = await open_stream("async")  # break, then dropped
            async for _ in stream:
                break
            del stream
            gc.collect()
        stream = await open_stream("async")  # never iterated (nothing requested yet)
        del stream
        gc.collect()

    asyncio.run(run())
    reasons = [s.attributes["weave_agent.stream.end_reason"] for s in traced.finished()]
    assert reasons == ["closed", "garbage_collected", "garbage_collected"]


def test_async_stream_cancelled(traced: Any) -> None:
    """The task reading the stream is cancelled while it waits for the next part (a server
    that sent one part and then nothing): the span ends once, then, with what came."""
    import httpx

    first = json.dumps({"model": CHAT, "created_at": "x", "message": {"role": "assistant", "content": "Hi"},
                        "done": False}) + "\n"

    class Stalled(httpx.AsyncByteStream):
        async def __aiter__(self) -> Any:
            yield first.encode()
            await asyncio.Event().wait()  # the next part never comes

    transport = httpx.MockTransport(lambda request: httpx.Response(
        200, headers={"content-type": "application/x-ndjson"}, stream=Stalled()))
    received: list[Any] = []

    async def run() -> None:
        stream = await ollama.AsyncClient(transport=transport).chat(**SCENARIOS["chat_stream"].kwargs)

        async def read() -> None:
            async for part in stream:
                received.append(part)

        task = asyncio.ensure_future(read())
        while not received:
            await asyncio.sleep(0.001)
        assert traced.finished() == []
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await stream.aclose()  # after the end: still one span

    asyncio.run(run())
    span = traced.one(f"chat {CHAT}")
    assert span.attributes["weave_agent.stream.chunks"] == 1
    assert span.attributes["weave_agent.stream.end_reason"] == "error"
    assert span.status.status_code is StatusCode.ERROR and span.attributes["error.type"] == "CancelledError"
    assert content(span, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [text("Hi")], "finish_reason": "error"}]


@pytest.mark.parametrize("mode", MODES)
def test_stream_error_midway(traced: Any, mode: str) -> None:
    # HTTP 200, two parts, then {"error": ...}: the SDK raises ResponseError mid-stream
    scenario = SCENARIOS["chat_stream_error"]
    received: list[Any] = []
    with ct.replay("chat_stream_error"), pytest.raises(ollama.ResponseError) as caught:
        if mode == "sync":
            for part in ollama.Client().chat(**scenario.kwargs):
                received.append(part)
        else:

            async def run() -> None:
                async for part in await ollama.AsyncClient().chat(**scenario.kwargs):
                    received.append(part)

            asyncio.run(run())
    assert type(caught.value) is ollama.ResponseError and "unexpected EOF" in caught.value.error
    assert len(received) == 2
    span = traced.one(f"chat {CHAT}")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "ResponseError"  # an error line has no HTTP status
    assert span.attributes["weave_agent.stream.end_reason"] == "error"
    assert content(span, "gen_ai.output.messages") == [  # what came, and "error" for the missing reason
        {"role": "assistant", "parts": [text("The capital")], "finish_reason": "error"}]
    assert "gen_ai.usage.input_tokens" not in span.attributes
    (duration,) = traced.metric_points("gen_ai.client.inference.duration")
    assert duration.attributes["error.type"] == "ResponseError"


@pytest.mark.parametrize("mode", MODES)
def test_stream_request_rejected(traced: Any, mode: str) -> None:
    # A 404 on a stream: the sync generator raises at its first next(), the async call at
    # the first __anext__ of the generator it returned.
    with pytest.raises(ollama.ResponseError) as caught:
        consume("chat_stream_error_404", mode)
    assert caught.value.status_code == 404
    span = traced.one(f"chat {rec.MISSING_MODEL}")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "404" and span.attributes["gen_ai.request.stream"] is True


# -- generate ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_generate(traced: Any, mode: str) -> None:
    response = call("generate", mode)
    assert response.response == ct.SKY_ANSWER
    span = traced.one(f"text_completion {CHAT}")
    assert metadata(span) == {
        "gen_ai.operation.name": "text_completion",
        "gen_ai.provider.name": "ollama",
        "gen_ai.request.model": CHAT,
        **LOCAL,
        "gen_ai.request.temperature": 0.5,
        "gen_ai.request.max_tokens": 100,
        "gen_ai.response.model": CHAT,
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": response.prompt_eval_count,
        "gen_ai.usage.output_tokens": response.eval_count,
    }
    assert content(span, "gen_ai.system_instructions") == [text("Answer in one sentence.")]  # given apart
    assert content(span, "gen_ai.input.messages") == [{"role": "user", "parts": [text("Why is the sky blue?")]}]
    assert content(span, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [text(ct.SKY_ANSWER)], "finish_reason": "stop"}]


@pytest.mark.parametrize("mode", MODES)
def test_generate_stream(traced: Any, mode: str) -> None:
    parts = consume("generate_stream", mode)
    span = traced.one(f"text_completion {CHAT}")
    assert span.attributes["gen_ai.request.stream"] is True
    assert span.attributes["gen_ai.usage.output_tokens"] == parts[-1].eval_count
    assert content(span, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [text(ct.SKY_ANSWER)], "finish_reason": "stop"}]


@pytest.mark.parametrize("mode", MODES)
def test_generate_suffix(traced: Any, mode: str) -> None:
    call("generate_suffix", mode)
    span = traced.one(f"text_completion {rec.CODE_MODEL}")
    assert span.attributes["gen_ai.request.temperature"] == 0.0  # options {"temperature": 0}: a double
    assert content(span, "gen_ai.input.messages") == [{"role": "user", "parts": [
        text(rec.CODE_PROMPT), {"type": "generic", "generic_type": "fim_suffix", "content": rec.CODE_SUFFIX}]}]


# -- embeddings -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_embed(traced: Any, mode: str) -> None:
    response = call("embed", mode)
    span = traced.one(f"embeddings {rec.EMBED_MODEL}")
    assert metadata(span) == {
        "gen_ai.operation.name": "embeddings",
        "gen_ai.provider.name": "ollama",
        "gen_ai.request.model": rec.EMBED_MODEL,
        **LOCAL,
        "gen_ai.response.model": rec.EMBED_MODEL,
        "gen_ai.embeddings.dimension.count": 384,
        "gen_ai.usage.input_tokens": response.prompt_eval_count,
    }
    assert content(span, "gen_ai.input.messages") == [
        {"role": "user", "parts": [text(t) for t in SCENARIOS["embed"].kwargs["input"]]}]
    assert token_points(traced) == {"input": response.prompt_eval_count}


@needs("embed_dimensions")
@pytest.mark.parametrize("mode", MODES)
def test_embed_dimensions(traced: Any, mode: str) -> None:
    call("embed_dimensions", mode)
    span = traced.one("embeddings nomic-embed-text")
    assert span.attributes["gen_ai.embeddings.dimension.count"] == 256
    assert content(span, "gen_ai.input.messages") == [{"role": "user", "parts": [
        text(SCENARIOS["embed_dimensions"].kwargs["input"])]}]


@pytest.mark.parametrize("mode", MODES)
def test_embeddings_legacy(traced: Any, mode: str) -> None:
    call("embeddings", mode)
    span = traced.one(f"embeddings {rec.EMBED_MODEL}")
    assert metadata(span) == {
        "gen_ai.operation.name": "embeddings",
        "gen_ai.provider.name": "ollama",
        "gen_ai.request.model": rec.EMBED_MODEL,
        **LOCAL,
        "gen_ai.embeddings.dimension.count": 384,  # no model, no counts in the answer
    }


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("name", "status"), [("chat_error_404", "404"), ("chat_error_401", "401")])
def test_http_errors(traced: Any, mode: str, name: str, status: str) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        call(name, mode)
    assert type(caught.value) is ollama.ResponseError and str(caught.value.status_code) == status  # the SDK's own
    span = traced.one(f"chat {SCENARIOS[name].kwargs['model']}")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == status
    assert [e.name for e in span.events] == ["exception"]
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)
    (duration,) = traced.metric_points("gen_ai.client.inference.duration")
    assert duration.attributes["error.type"] == status
    assert token_points(traced) == {}
    assert rec.INVALID_API_KEY not in json.dumps([s.to_json() for s in traced.finished()])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("mode", MODES)
def test_no_server_listening(traced: Any, mode: str) -> None:
    import httpx

    port = _free_port()  # nothing listens there: ConnectionError (older releases let httpx.ConnectError through)
    with pytest.raises((ConnectionError, httpx.ConnectError)) as caught:
        if mode == "sync":
            ollama.Client(host=f"127.0.0.1:{port}").chat(model=CHAT, messages=[])
        else:
            asyncio.run(ollama.AsyncClient(host=f"127.0.0.1:{port}").chat(model=CHAT, messages=[]))
    span = traced.one(f"chat {CHAT}")
    assert span.attributes["error.type"] == type(caught.value).__name__ and span.attributes["server.port"] == port


def test_request_refused_without_a_model(traced: Any) -> None:
    import pydantic

    with pytest.raises((pydantic.ValidationError, ollama.RequestError)) as caught:
        ollama.Client().chat(model="")  # the SDK refuses before any request (RequestError before 0.5)
    span = traced.one("chat")
    assert span.attributes["error.type"] == type(caught.value).__name__
    assert "gen_ai.request.model" not in span.attributes


# -- nothing leaves the machine ----------------------------------------------------------------


def test_nothing_leaves_the_machine(traced: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every scenario, sync and async, with the agent on: no socket connects and no name is
    resolved (the cassettes answer in-process; the agent and the SDK send nothing else)."""
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise OSError("the network is off in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    for name in RUNNABLE:
        scenario = SCENARIOS[name]
        for mode in MODES:
            try:
                consume(name, mode) if scenario.streaming else call(name, mode)
            except ollama.ResponseError:
                assert scenario.error
    assert attempts == []
    assert len(traced.finished()) == 2 * len(RUNNABLE)


# -- secrets, metrics, capture off ------------------------------------------------------------


def test_no_api_key_in_anything_exported(traced: Any) -> None:
    for name in RUNNABLE:
        try:
            consume(name, "sync") if SCENARIOS[name].streaming else call(name, "sync")
        except ollama.ResponseError:
            pass
    exported = traced.finished()
    assert len(exported) == len(RUNNABLE)
    dump = json.dumps([s.to_json() for s in exported])
    for secret in rec.SECRETS:
        assert secret not in dump
    assert "authorization" not in dump.lower() and "bearer" not in dump.lower()


def test_metrics(traced: Any) -> None:
    response = call("chat", "sync")
    (duration,) = traced.metric_points("gen_ai.client.inference.duration")
    assert duration.count == 1 and duration.sum > 0
    assert dict(duration.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "ollama",
        "gen_ai.request.model": CHAT,
        "gen_ai.response.model": CHAT,
        **LOCAL,
    }
    assert token_points(traced) == {"input": response.prompt_eval_count, "output": response.eval_count}


def test_content_off_records_no_content(traced: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import weave_agent.lifecycle as lifecycle
    from weave_agent.export import telemetry
    from weave_agent.settings import Settings

    monkeypatch.setattr(lifecycle, "_settings",
                        Settings.load({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "false"}))
    telemetry.reset()
    telemetry.use_providers(traced.provider, traced.meter_provider)
    call("chat_tools", "sync")
    consume("chat_stream_tools", "sync")
    call("generate", "async")
    call("embed", "sync")
    finished = traced.finished()
    assert len(finished) == 4
    for span in finished:
        assert not [k for k in span.attributes if k in CONTENT_KEYS]
        assert span.attributes["gen_ai.usage.input_tokens"] > 0


# -- patching: version range, unknown structure -------------------------------------------------


def test_version_range() -> None:
    from weave_agent.hook.registry import builtin, supports

    row = builtin()["ollama"]
    assert row.triggers == ollama_mod.TRIGGERS and row.distribution == "ollama"
    assert supports(row, "0.6.3") and supports(row, "0.4.0")
    assert supports(row, "0.3.3") is False and supports(row, "1.0.0") is False


def test_outside_the_range_declines_with_one_debug_line(
        spans: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from weave_agent import patch, unpatch
    from weave_agent.hook import arming

    before = _class_methods()
    monkeypatch.setattr(arming, "installed_version", lambda dist: "0.3.3" if dist == "ollama" else None)
    with caplog.at_level(logging.DEBUG, logger="weave_agent"):
        patch(ollama=True)
    try:
        assert all(_class_methods()[k] is before[k] for k in before)
        lines = [r.getMessage() for r in caplog.records if "ollama" in r.getMessage()]
        assert lines == ["weave-agent: ollama 0.3.3 is not supported (supported: >=0.4,<1): not patched"]
        with ct.replay("chat"):
            ollama.chat(**SCENARIOS["chat"].kwargs)
        assert spans.finished() == []
    finally:
        unpatch("ollama")


def test_unknown_structure_declines_with_one_debug_line(caplog: pytest.LogCaptureFixture, monkeypatch: Any) -> None:
    before = _class_methods()
    monkeypatch.setattr(ollama_mod, "METHODS", {**ollama_mod.METHODS, "no_such_method": (None, None)})
    patcher = MultiPatcher([ModulePatcher(ollama_mod.CLIENT_MODULE, ollama_mod._client_patchers,
                                          ollama_mod._missing)])
    with caplog.at_level(logging.DEBUG, logger="weave_agent"):
        assert patcher.attempt_patch() is False
    assert all(_class_methods()[k] is before[k] for k in before)  # nothing patched
    lines = [r.getMessage() for r in caplog.records if "ollama._client" in r.getMessage()]
    assert len(lines) == 1 and "Client.no_such_method" in lines[0]
    assert patcher.undo_patch() is True


# -- the extractors and the accumulator, on their own ------------------------------------------


def test_images_tools_as_functions_and_options_models() -> None:
    def get_time(city: str) -> str:
        """Get the local time in a city.

        Args:
          city: The city's name
        """
        return "12:00"

    from ollama._types import Image  # not exported by the package in older releases

    messages = [ollama.Message(role="user", content="What is this?", images=[Image(value=b"\x89PNG....")]),
                {"role": "user", "content": "And this?", "images": ["aGVsbG8=", "/tmp/cat.png"]}]
    request = ollama_mod.ChatExtractor().request(
        {"model": "llava", "messages": messages, "tools": [get_time], "think": "high",
         "options": ollama.Options(temperature=1, num_predict=-1, stop=["END"])}, None, capture=True)
    assert request.attributes == {"gen_ai.request.temperature": 1.0, "gen_ai.request.stop_sequences": ["END"],
                                  "gen_ai.request.reasoning.level": "high"}  # num_predict -1: no limit
    assert type(request.attributes["gen_ai.request.temperature"]) is float
    assert request.content["gen_ai.input.messages"] == [
        {"role": "user", "parts": [text("What is this?"),
                                   {"type": "generic", "generic_type": "blob", "modality": "image", "byte_size": 8}]},
        {"role": "user", "parts": [text("And this?"),
                                   {"type": "generic", "generic_type": "blob", "modality": "image", "byte_size": 5},
                                   {"type": "generic", "generic_type": "image_file", "modality": "image"}]},
    ]
    (tool,) = request.content["gen_ai.tool.definitions"]
    assert (tool["type"], tool["name"], tool["description"]) == ("function", "get_time", "Get the local time in a city.")
    assert tool["parameters"]["properties"]["city"] == {"type": "string", "description": "The city's name"}
    assert request.content["gen_ai.tool.definitions"] and "gen_ai.output.type" not in request.attributes


def test_accumulator_without_capture_keeps_metadata_only() -> None:
    acc = OllamaStreamAccumulator(capture=False)
    acc.add(ollama.ChatResponse(model=CHAT, message=ollama.Message(role="assistant", content="secret"), done=False))
    acc.add(ollama.ChatResponse(model=CHAT, message=ollama.Message(role="assistant", content=""), done=True,
                                done_reason="length", prompt_eval_count=3, eval_count=9))
    assert acc.text == [] and acc.done_reason == "length"
    response = ollama_mod.ChatExtractor().response(acc, capture=True)
    assert response.content is None and response.attributes == {"gen_ai.response.finish_reasons": ["length"]}
    assert (response.usage.input_tokens, response.usage.output_tokens, response.model) == (3, 9, CHAT)


def test_accumulator_keeps_no_reference_into_the_parts() -> None:
    call_part = ollama.ChatResponse(model=CHAT, done=False, message=ollama.Message(
        role="assistant", tool_calls=[{"function": {"name": "f", "arguments": {"a": 1}}}]))
    acc = OllamaStreamAccumulator()
    acc.add(call_part)
    call_part.message.tool_calls[0].function.arguments["a"] = 2  # the app changes what it got
    assert acc.tool_calls == [("f", {"a": 1})]
