"""The Google Gen AI instrumentation, through the real SDK and the recorded cassettes.

Every scenario runs through the sync client, the async client over aiohttp (what
``client.aio`` uses whenever aiohttp is installed) and over the SDK's httpx client (as
without aiohttp). The SDK's result is checked to be what the cassette test expects, then
the spans (exact shape, attributes, content, usage) and the metrics. Cassettes replay
with record mode ``none``: nothing here talks to the network (a test forbids sockets).
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

import pytest
from google.genai import _api_client, _extra_utils, errors, models, types
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from weave_agent.instrumentations.google_genai import extract
from weave_agent.instrumentations.google_genai import google_genai as gg
from weave_agent.testing import load_module

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]


ct = load_module("weave_tests_google_genai_cassettes_test", HERE / "google_genai_cassettes_test.py")  # replay(), run()
rec = ct.rec
SCENARIOS = rec.SCENARIOS
MODES = ct.MODES
MODEL = rec.MODEL
CAPITAL = "The capital of France is Paris."
CONTENT_KEYS = ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions",
                "gen_ai.tool.definitions")
# google-genai 3 reads the Gemini API's embedding usageMetadata; 2.x has no field for it
EMBED_USAGE = "usage_metadata" in types.EmbedContentResponse.model_fields
GEMINI = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "gcp.gemini", "gen_ai.request.model": MODEL,
          "server.address": rec.GEMINI_HOST, "server.port": 443}


@pytest.fixture(autouse=True)
def _no_ambient_google_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ct.ENV:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def traced(spans: Any, instrumentation: Any) -> Any:
    instrumentation("google_genai")
    return spans


def metadata(span: Any) -> dict[str, Any]:
    """The span's attributes without content and the stream bookkeeping."""
    return {k: v for k, v in span.attributes.items()
            if k not in CONTENT_KEYS and not k.startswith("weave_agent.stream.")
            and k != "gen_ai.response.time_to_first_chunk"}


def content(span: Any, key: str) -> Any:
    return json.loads(span.attributes[key])


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "content": value}


def token_points(spans: Any) -> dict[str, int]:
    totals = {d: sum(p.value for p in spans.metric_points("gen_ai.client.inference.usage.%s_tokens" % d))
              for d in ("input", "output")}
    return {d: n for d, n in totals.items() if n}


# -- generate_content -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_generate_content(traced: Any, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    response = ct.run("generate_content", mode, monkeypatch)
    assert isinstance(response, types.GenerateContentResponse) and response.text == CAPITAL

    assert traced.shape() == [(f"chat {MODEL}", 0)]
    span = traced.one()
    assert span.kind is SpanKind.CLIENT and span.status.status_code is StatusCode.UNSET
    assert metadata(span) == {
        **GEMINI,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.top_k": 40,
        "gen_ai.request.max_tokens": 64,
        "gen_ai.request.seed": 42,
        "gen_ai.request.presence_penalty": 0.5,
        "gen_ai.request.frequency_penalty": 0.25,
        "gen_ai.request.stop_sequences": ("\n\n",),
        "gen_ai.response.id": response.response_id,
        "gen_ai.response.model": MODEL,
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 16,
        "gen_ai.usage.output_tokens": 7,
    }
    assert content(span, "gen_ai.system_instructions") == [text(rec.SYSTEM)]
    assert content(span, "gen_ai.input.messages") == [{"role": "user", "parts": [text(rec.QUESTION)]}]
    assert content(span, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [text(CAPITAL)], "finish_reason": "stop"}]
    assert "gen_ai.tool.definitions" not in span.attributes
    assert token_points(traced) == {"input": 16, "output": 7}


@pytest.mark.parametrize("mode", MODES)
def test_thoughts_are_reasoning_and_cached_tokens(traced: Any, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    response = ct.run("generate_content_thinking", mode, monkeypatch)
    usage = response.usage_metadata
    span = traced.one(f"chat {MODEL}")
    assert span.attributes["gen_ai.usage.input_tokens"] == usage.prompt_token_count == 7
    # output = candidates + thoughts; the thoughts are the reasoning tokens
    assert span.attributes["gen_ai.usage.output_tokens"] == usage.candidates_token_count + usage.thoughts_token_count
    assert span.attributes["gen_ai.usage.reasoning.output_tokens"] == usage.thoughts_token_count == 13
    assert span.attributes["gen_ai.usage.cache_read.input_tokens"] == usage.cached_content_token_count == 6
    assert span.attributes["gen_ai.output.type"] == "text"
    assert content(span, "gen_ai.output.messages") == [{
        "role": "assistant",
        "parts": [{"type": "reasoning", "content": "The user asks for a capital city; France's is Paris."},
                  text(CAPITAL)],
        "finish_reason": "stop",
    }]


@pytest.mark.parametrize("mode", MODES)
def test_declared_functions_are_tool_definitions(traced: Any, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    response = ct.run("generate_content_tools", mode, monkeypatch)
    assert response.function_calls[0].name == "get_weather"
    assert traced.shape() == [(f"chat {MODEL}", 0)]  # declarations only: no function runs, no loop span
    span = traced.one()
    assert span.attributes["gen_ai.response.finish_reasons"] == ("tool_call",)
    (definition,) = content(span, "gen_ai.tool.definitions")
    assert definition["type"] == "function" and definition["name"] == "get_weather"
    assert definition["description"] == rec.WEATHER_DECLARATION["description"]
    assert definition["parameters"]["properties"]["location"]["type"] == "STRING"
    assert content(span, "gen_ai.output.messages") == [{
        "role": "assistant",
        "parts": [{"type": "tool_call", "id": None, "name": "get_weather", "arguments": {"location": "Paris"}}],
        "finish_reason": "tool_call",
    }]


# -- automatic function calling: one span per model call, one per function run, one trace ----


@pytest.mark.parametrize("mode", MODES)
def test_automatic_function_calling(traced: Any, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    response = ct.run("generate_content_afc", mode, monkeypatch)
    assert response.text == "It is sunny in Paris, 18 degrees."

    loop = f"automatic_function_calling {MODEL}"
    assert traced.shape() == [(loop, 0), (f"chat {MODEL}", 1), ("execute_tool get_weather", 1), (f"chat {MODEL}", 1)]
    parent, first, tool, second = (s for s, _ in traced.tree())
    assert len({s.context.trace_id for s in (parent, first, tool, second)}) == 1
    assert first.end_time <= tool.start_time and tool.end_time <= second.start_time  # in order
    assert parent.kind is SpanKind.INTERNAL and tool.kind is SpanKind.INTERNAL
    assert first.attributes["gen_ai.response.finish_reasons"] == ("tool_call",)
    assert second.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert dict(tool.attributes) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "get_weather",
        "gen_ai.tool.type": "function",
        "gen_ai.tool.description": "Get the current weather in a given city.",
        "gen_ai.tool.call.arguments": '{"location":"Paris"}',
        "gen_ai.tool.call.result": '{"temperature":18,"conditions":"sunny","location":"Paris"}',
    }
    # the Python function is a tool definition; the second call carries the function's result
    assert content(first, "gen_ai.tool.definitions") == [
        {"type": "function", "name": "get_weather", "description": "Get the current weather in a given city."}]
    assert content(second, "gen_ai.input.messages") == [
        {"role": "user", "parts": [text(rec.WEATHER_QUESTION)]},
        {"role": "assistant", "parts": [
            {"type": "tool_call", "id": None, "name": "get_weather", "arguments": {"location": "Paris"}}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": None,
                                    "response": {"result": dict(rec.WEATHER_RESULT, location="Paris")}}]},
    ]
    # each model call carries its own usage: counted once each
    assert [s.attributes["gen_ai.usage.input_tokens"] for s in (first, second)] == [9, 9]
    assert token_points(traced) == {"input": 18, "output": 21}


def test_automatic_function_calling_under_the_apps_span(traced: Any) -> None:
    scenario = SCENARIOS["generate_content_afc"]
    tracer = traced.provider.get_tracer("app")
    with tracer.start_as_current_span("app") as app, ct.replay("generate_content_afc"):
        rec.drive(ct.client(scenario), scenario)
    assert traced.shape()[:2] == [("app", 0), (f"automatic_function_calling {MODEL}", 1)]
    assert {s.context.trace_id for s in traced.finished()} == {app.get_span_context().trace_id}


def test_a_failing_function_is_an_error_span(traced: Any) -> None:
    def get_weather(location: str) -> dict[str, Any]:
        """Get the current weather in a given city."""
        raise LookupError("no weather station in " + location)

    get_weather.__annotations__ = {"location": str, "return": dict}  # real types for google-genai 2.x

    scenario = SCENARIOS["generate_content_afc"]
    kwargs = rec.scenario_kwargs(scenario)
    kwargs["config"]["tools"] = [get_weather]
    client = ct.client(scenario)
    with ct.replay("generate_content_afc"):
        response = client.models.generate_content(**kwargs)
    assert response.text  # the SDK handed the model the error and went on, as without the agent
    tool = traced.one("execute_tool get_weather")
    assert tool.status.status_code is StatusCode.ERROR
    assert tool.attributes["error.type"] == "LookupError"
    assert "gen_ai.tool.call.result" not in tool.attributes


@pytest.mark.parametrize("mode", MODES)
def test_stream_automatic_function_calling(traced: Any, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    chunks = ct.run("generate_content_stream_afc", mode, monkeypatch)
    assert "".join(c.text or "" for c in chunks if not c.function_calls) == "It is sunny in Paris, 18 degrees."
    loop = f"automatic_function_calling {MODEL}"
    assert traced.shape() == [(loop, 0), (f"chat {MODEL}", 1), ("execute_tool get_weather", 1), (f"chat {MODEL}", 1)]
    _, first, tool, second = (s for s, _ in traced.tree())
    # the SDK runs a function as soon as its chunk arrives, while the first stream is open
    assert first.start_time <= tool.start_time and tool.end_time <= second.start_time
    assert first.attributes["gen_ai.request.stream"] is True
    assert first.attributes["gen_ai.response.finish_reasons"] == ("tool_call",)
    assert content(second, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [text("It is sunny in Paris, 18 degrees.")], "finish_reason": "stop"}]


def test_afc_disabled_or_no_function_gets_no_loop_span(traced: Any) -> None:
    assert gg.afc_wanted({"tools": [rec.get_weather]}) is True
    assert gg.afc_wanted({"tools": [rec.get_weather], "automatic_function_calling": {"disable": True}}) is False
    assert gg.afc_wanted(types.GenerateContentConfig(
        tools=[rec.get_weather],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(maximum_remote_calls=0))) is False
    assert gg.afc_wanted({"tools": [{"function_declarations": [rec.WEATHER_DECLARATION]}]}) is False
    assert gg.afc_wanted(None) is False


# -- chats, embeddings, Vertex AI ----------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_chat_turns(traced: Any, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ct.run("chat", mode, monkeypatch)
    assert traced.shape() == [(f"chat {MODEL}", 0), (f"chat {MODEL}", 0)]
    first, second = traced.finished()
    assert content(second, "gen_ai.input.messages") == [
        {"role": "user", "parts": [text(rec.QUESTION)]},
        {"role": "assistant", "parts": [text(CAPITAL)]},
        {"role": "user", "parts": [text("And of Italy?")]},
    ]
    assert content(second, "gen_ai.system_instructions") == [text(rec.SYSTEM)]


@pytest.mark.parametrize("mode", MODES)
def test_embed_content(traced: Any, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ct.run("embed_content", mode, monkeypatch)
    span = traced.one(f"embeddings {rec.EMBED_MODEL}")
    assert span.kind is SpanKind.CLIENT
    assert metadata(span) == {
        "gen_ai.operation.name": "embeddings",
        "gen_ai.provider.name": "gcp.gemini",
        "gen_ai.request.model": rec.EMBED_MODEL,
        "server.address": rec.GEMINI_HOST,
        "server.port": 443,
        "gen_ai.embeddings.dimension.count": 8,
        **({"gen_ai.usage.input_tokens": 14} if EMBED_USAGE else {}),
    }
    assert content(span, "gen_ai.input.messages") == [
        {"role": "user", "parts": [text(t) for t in SCENARIOS["embed_content"].kwargs["contents"]]}]


@pytest.mark.parametrize("mode", MODES)
def test_vertex_ai(traced: Any, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ct.run("vertex_generate_content", mode, monkeypatch)
    span = traced.one(f"chat {MODEL}")
    assert span.attributes["gen_ai.provider.name"] == "gcp.vertex_ai"
    assert (span.attributes["server.address"], span.attributes["server.port"]) == (rec.VERTEX_HOST, 443)
    traced.clear()
    ct.run("vertex_project_stream", mode, monkeypatch)
    span = traced.one(f"chat {MODEL}")
    assert span.attributes["gen_ai.provider.name"] == "gcp.vertex_ai"
    assert span.attributes["server.address"] == rec.VERTEX_REGION_HOST
    assert span.attributes["gen_ai.usage.output_tokens"] == 7


# -- streams: every exit ---------------------------------------------------------------------


def open_stream(name: str = "generate_content_stream") -> Any:
    scenario = SCENARIOS[name]
    return ct.client(scenario).models.generate_content_stream(**rec.scenario_kwargs(scenario))


def one_ended(spans: Any, reasons: tuple[str, ...], complete: bool = False) -> Any:
    span = spans.one(f"chat {MODEL}")
    assert span.end_time is not None
    assert span.attributes["weave_agent.stream.end_reason"] in reasons
    assert span.attributes["weave_agent.stream.complete"] is complete
    return span


@pytest.mark.parametrize("mode", MODES)
def test_stream_exhausted(traced: Any, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    chunks = ct.run("generate_content_stream", mode, monkeypatch)
    assert "".join(c.text for c in chunks) == CAPITAL
    span = one_ended(traced, ("exhausted",), complete=True)
    assert metadata(span) == {
        **GEMINI,
        "gen_ai.request.stream": True,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.max_tokens": 64,
        "gen_ai.response.id": chunks[0].response_id,
        "gen_ai.response.model": MODEL,
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 7,
        "gen_ai.usage.output_tokens": 7,
    }
    assert span.attributes["weave_agent.stream.chunks"] == 3
    assert span.attributes["gen_ai.response.time_to_first_chunk"] >= 0
    assert content(span, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [text(CAPITAL)], "finish_reason": "stop"}]
    assert len(traced.metric_points("gen_ai.client.inference.time_per_output_chunk")) >= 1


def test_stream_closed(traced: Any) -> None:
    with ct.replay("generate_content_stream"):
        stream = open_stream()
        assert next(stream).text == "The capital "
        stream.close()
    span = one_ended(traced, ("closed", "garbage_collected"))
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)  # the model never said why it stopped


def test_stream_break_then_dropped(traced: Any) -> None:
    with ct.replay("generate_content_stream"):
        for _chunk in open_stream():
            break
        gc.collect()
    span = one_ended(traced, ("closed", "garbage_collected"))
    assert content(span, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [text("The capital ")], "finish_reason": "error"}]


def test_stream_never_iterated_sends_nothing(traced: Any) -> None:
    from weave_agent import streams

    with ct.replay("generate_content_stream") as cassette:
        stream = open_stream()
        del stream
        gc.collect()
        assert cassette.play_count == 0
        rec.drive(ct.client(SCENARIOS["generate_content_stream"]), SCENARIOS["generate_content_stream"])
    assert len(traced.finished()) == 1 and streams.open_count() == 0  # the generator made no request, no span


@pytest.mark.parametrize("mode", MODES)
def test_stream_error_mid_way(traced: Any, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(errors.ServerError) as info:
        _stream_error(mode, monkeypatch)
    span = one_ended(traced, ("error",))
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "500" and info.value.code == 500
    # what came before the error stays on the span
    assert content(span, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [text("The capital of France ")], "finish_reason": "error"}]
    assert span.attributes["gen_ai.usage.input_tokens"] == 7


def _stream_error(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = SCENARIOS["generate_content_stream_error"]
    if mode == "async_httpx":
        monkeypatch.setattr(_api_client, "has_aiohttp", False)
    client = ct.client(scenario)
    with ct.replay("generate_content_stream_error"):
        if mode == "sync":
            for _ in client.models.generate_content_stream(**rec.scenario_kwargs(scenario)):
                pass
            return

        async def consume() -> None:
            async for _ in await client.aio.models.generate_content_stream(**rec.scenario_kwargs(scenario)):
                pass

        asyncio.run(consume())


def test_async_stream_break_and_cancel(traced: Any) -> None:
    scenario = SCENARIOS["generate_content_stream"]

    async def broken() -> None:
        client = ct.client(scenario)
        stream = await client.aio.models.generate_content_stream(**rec.scenario_kwargs(scenario))
        async for _chunk in stream:
            break
        await stream.aclose()

    async def cancelled() -> None:
        started = asyncio.Event()

        async def reader() -> None:
            client = ct.client(scenario)
            async for _chunk in await client.aio.models.generate_content_stream(**rec.scenario_kwargs(scenario)):
                started.set()
                await asyncio.Event().wait()  # never set: the task is cancelled while the stream is open

        task = asyncio.create_task(reader())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    for body in (broken, cancelled):
        with ct.replay("generate_content_stream"):
            asyncio.run(body())
        gc.collect()
        span = one_ended(traced, ("closed", "garbage_collected", "error"))
        assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)
        traced.clear()


def test_stream_span_is_not_current_between_chunks(traced: Any) -> None:
    current = []
    with ct.replay("generate_content_stream"):
        for _chunk in open_stream():
            current.append(trace.get_current_span().get_span_context().span_id)
    span = traced.one(f"chat {MODEL}")
    assert span.context.span_id not in current


def test_stream_open_at_interpreter_exit(traced: Any) -> None:
    from weave_agent import streams

    with ct.replay("generate_content_stream"):
        stream = open_stream()
        next(stream)
        assert streams.end_all_open() == 1  # what the agent's exit hook runs
        one_ended(traced, ("interpreter_exit",))
        stream.close()
    assert len(traced.finished()) == 1


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("name", "status"), [("generate_error_400", "400"), ("generate_error_429", "429")])
def test_api_errors(traced: Any, mode: str, name: str, status: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(errors.ClientError) as info:
        ct.run(name, mode, monkeypatch)
    assert type(info.value) is errors.ClientError and str(info.value.code) == status  # the SDK's own exception
    span = traced.one(f"chat {MODEL}")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == status
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)
    points = traced.metric_points("gen_ai.client.inference.duration")
    assert [p.attributes.get("error.type") for p in points] == [status]
    assert token_points(traced) == {}


def test_error_type_without_code_is_the_class_name() -> None:
    assert extract.GenerateContentExtractor().error_type(ValueError("x")) == "ValueError"


# -- nothing leaves, no secret, content off ---------------------------------------------------


def test_no_request_leaves_and_no_secret_is_exported(traced: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise OSError("the test forbids the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    for name, scenario in SCENARIOS.items():
        for mode in ("sync", "aiohttp"):
            try:
                ct.run(name, mode, monkeypatch)
            except errors.APIError:
                assert scenario.error, name
    assert attempts == []  # every request went to the cassette, none anywhere else
    chats = [s for s in traced.finished() if s.attributes.get("gen_ai.provider.name")]
    assert len(chats) == 2 * sum(s.interactions for s in SCENARIOS.values())  # one span per request
    dump = json.dumps([json.loads(s.to_json()) for s in traced.finished()])
    for secret in rec.SECRETS:
        assert secret not in dump
    assert "bearer" not in dump.lower()


def test_content_off_records_no_content(traced: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import weave_agent.lifecycle as lifecycle
    from weave_agent.export import telemetry
    from weave_agent.settings import Settings

    monkeypatch.setattr(
        lifecycle, "_settings", Settings.load({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "false"})
    )
    telemetry.reset()
    telemetry.use_providers(traced.provider, traced.meter_provider)
    ct.run("generate_content", "sync")
    ct.run("generate_content_afc", "aiohttp")
    ct.run("generate_content_stream", "sync")
    finished = traced.finished()
    assert len(finished) == 6
    for span in finished:
        assert not set(span.attributes) & {*CONTENT_KEYS, "gen_ai.tool.call.arguments", "gen_ai.tool.call.result"}
    assert all("gen_ai.usage.input_tokens" in s.attributes for s in finished if s.name.startswith("chat"))


# -- extractors on their own: parts the cassettes do not carry ----------------------------------


def test_parts_media_code_and_roles() -> None:
    messages = extract.input_messages([
        "Describe this.",
        types.Part.from_bytes(data=b"\x89PNG....", mime_type="image/png"),
        types.Part.from_uri(file_uri="gs://bucket/cat.jpg", mime_type="image/jpeg"),
        types.Content(role="model", parts=[
            types.Part(executable_code=types.ExecutableCode(code="print(1)", language="PYTHON")),
            types.Part(code_execution_result=types.CodeExecutionResult(outcome="OUTCOME_OK", output="1")),
        ]),
    ])
    user, model = messages
    assert user["role"] == "user" and [p["type"] for p in user["parts"]][0] == "text"
    assert "iVBOR" not in json.dumps(messages) and "PNG...." not in json.dumps(messages)  # no media bytes
    assert user["parts"][2] == {"type": "uri", "modality": "image", "uri": "gs://bucket/cat.jpg",
                                "mime_type": "image/jpeg"}
    assert model["role"] == "assistant"
    assert [p["type"] for p in model["parts"]] == ["server_tool_call", "server_tool_call_response"]
    assert extract.tool_definitions([types.Tool(google_search=types.GoogleSearch())]) == [
        {"type": "google_search", "name": "google_search"}]
    assert extract.model_id("models/gemini-2.5-flash") == "gemini-2.5-flash"
    assert extract.model_id("projects/p/locations/l/publishers/google/models/gemini-2.5-pro") == "gemini-2.5-pro"
    assert extract.model_id("tunedModels/123") == "tunedModels/123"
    assert extract.finish_reason(types.FinishReason.MAX_TOKENS, False) == "length"
    assert extract.finish_reason(types.FinishReason.SAFETY, False) == "content_filter"


# -- patching: undo, version range, decline --------------------------------------------------


def _targets() -> dict[str, Any]:
    out = {f"{cls}.{m}": vars(getattr(models, cls))[m] for cls in gg.CLASSES for m in gg.PER_REQUEST + gg.LOOPS}
    out.update({n: getattr(_extra_utils, n) for n in gg.TOOL_FUNCTIONS})
    return out


def test_undo_restores_the_originals(spans: Any) -> None:
    from weave_agent import patch, unpatch

    before = _targets()
    patch(google_genai=True)
    try:
        during = _targets()
        assert all(during[k] is not before[k] and during[k].__wrapped__ is before[k] for k in before)
    finally:
        unpatch("google_genai")
    assert all(_targets()[k] is before[k] for k in before)
    ct.run("generate_content_afc", "sync")
    assert spans.finished() == []


def test_version_range() -> None:
    from weave_agent.hook.registry import builtin, supports

    row = builtin()["google_genai"]
    assert row.triggers == gg.TRIGGERS and row.distribution == "google-genai"
    assert supports(row, "3.6.1") and supports(row, "2.33.0") and supports(row, "2.0.0")
    assert supports(row, "1.75.0") is False and supports(row, "4.0.0") is False


def test_outside_the_range_declines_with_one_debug_line(
    spans: Any, instrumentation: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from weave_agent.hook import arming

    before = _targets()
    monkeypatch.setattr(arming, "installed_version", lambda dist: "1.75.0" if dist == "google-genai" else None)
    with caplog.at_level(logging.DEBUG, logger="weave_agent"):
        instrumentation("google_genai")
    assert _targets() == before
    lines = [r.getMessage() for r in caplog.records if "google" in r.getMessage()]
    assert lines == ["weave-agent: google-genai 1.75.0 is not supported (supported: >=2.0,<4): not patched"]
    ct.run("generate_content", "sync")
    assert spans.finished() == []


def test_moved_private_method_declines_with_one_debug_line(caplog: pytest.LogCaptureFixture,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from weave_agent.patcher import ModulePatcher

    before = _targets()
    monkeypatch.delattr(models.AsyncModels, "_generate_content_stream")  # as if a release moved it
    patcher = ModulePatcher(gg.MODELS_MODULE, gg._models_patchers, gg._models_missing)
    with caplog.at_level(logging.DEBUG, logger="weave_agent"):
        assert patcher.attempt_patch() is False
    assert all(vars(models.Models)[m] is before[f"Models.{m}"] for m in ("_generate_content", "generate_content"))
    lines = [r.getMessage() for r in caplog.records if "google.genai.models" in r.getMessage()]
    assert len(lines) == 1 and "AsyncModels._generate_content_stream" in lines[0]
    assert patcher.undo_patch() is True


# -- the import hook, in a fresh interpreter: google is a namespace package -----------------------

CHILD = r"""
import json, sys
sys.path.insert(0, {here!r})
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
import weave_agent
weave_agent.init()
from google import genai  # the namespace package google, then google.genai: the hook keys on google.genai.models
import record_cassettes as rec
scenario = rec.SCENARIOS["generate_content"]
with rec.replay_vcr().use_cassette("generate_content.yaml"):
    rec.drive(rec.make_client(scenario), scenario)
import google.genai.models as m
print(json.dumps({{
    "patched": hasattr(vars(m.Models)["_generate_content"], "__wrapped__"),
    "spans": [[s.name, s.attributes.get("gen_ai.provider.name")] for s in exporter.get_finished_spans()],
    "namespace": getattr(sys.modules["google"], "__file__", None),
}}))
"""


def test_hook_fires_on_the_namespace_package_in_a_fresh_interpreter(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "tests" / "agent"))
    try:
        from _subproc import run_python
    finally:
        sys.path.remove(str(REPO / "tests" / "agent"))
    code = CHILD.format(here=str(HERE))
    result = run_python(code, cwd=tmp_path, env={"WEAVE_AGENT_QUIET": "true"}, timeout=60).check()
    assert result.json() == {"patched": True, "spans": [[f"chat {MODEL}", "gcp.gemini"]], "namespace": None}


def test_vertex_embeddings_usage_from_each_statistics() -> None:
    response = types.EmbedContentResponse(embeddings=[
        types.ContentEmbedding(values=[0.1, 0.2, 0.3], statistics=types.ContentEmbeddingStatistics(token_count=5)),
        types.ContentEmbedding(values=[0.3, 0.2, 0.1], statistics=types.ContentEmbeddingStatistics(token_count=7)),
    ])
    out = extract.EmbedContentExtractor().response(response, False)
    assert out.usage is not None and out.usage.input_tokens == 12 and out.usage.output_tokens is None
    assert out.attributes == {"gen_ai.embeddings.dimension.count": 3}
