"""The LiteLLM instrumentation, through the real ``litellm`` against local fakes of the
OpenAI, Azure OpenAI and Anthropic APIs (``fake_litellm_server.py``).

One process: importing LiteLLM costs seconds, so every test here shares one import. The
model price map is read from the copy LiteLLM ships (``LITELLM_LOCAL_MODEL_COST_MAP``, set
before the import), and every socket connection to anything but 127.0.0.1 fails the test.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import json
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # before litellm is imported: no price-map fetch

import litellm  # noqa: E402
import pytest  # noqa: E402
from litellm.litellm_core_utils.streaming_handler import CustomStreamWrapper  # noqa: E402
from opentelemetry.trace import SpanKind, StatusCode  # noqa: E402

from weave_agent.instrumentations.litellm import litellm as litellm_mod  # noqa: E402

HERE = Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location("weave_tests_fake_litellm_server", HERE / "fake_litellm_server.py")
assert spec is not None and spec.loader is not None
fakes = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = fakes
spec.loader.exec_module(fakes)

cspec = importlib.util.spec_from_file_location("weave_tests_litellm_cassettes_test", HERE / "litellm_cassettes_test.py")
assert cspec is not None and cspec.loader is not None
ct = sys.modules.get(cspec.name) or importlib.util.module_from_spec(cspec)
if cspec.name not in sys.modules:
    sys.modules[cspec.name] = ct
    cspec.loader.exec_module(ct)

KEY = "sk-test-litellm-000000000000"
ANTHROPIC_KEY = "sk-ant-test-litellm-0000000000"
AZURE_VERSION = "2024-10-21"
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
CONTENT_KEYS = ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions",
                "gen_ai.tool.definitions")


@pytest.fixture(scope="module")
def up() -> Any:
    with fakes.FakeUpstreams() as servers:
        yield servers


@pytest.fixture(autouse=True)
def _only_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing leaves the machine: a connection to anything but the fakes fails the test."""
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "::1", "localhost") and self.family in (socket.AF_INET, socket.AF_INET6):
            raise AssertionError("a test tried to connect to %r" % (address,))
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AZURE_API_BASE", "AZURE_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(litellm, "callbacks", [])


@pytest.fixture
def traced(spans: Any, instrumentation: Any) -> Any:
    instrumentation("litellm")
    instrumentation("openai")  # the double-count trap needs the OpenAI SDK's patcher on too
    return spans


def openai_call(up: Any, **kw: Any) -> dict[str, Any]:
    return {"model": "openai/gpt-4o-mini", "messages": QUESTION, "api_base": up.openai_base, "api_key": KEY, **kw}


def azure_call(up: Any, **kw: Any) -> dict[str, Any]:
    return {"model": "azure/gpt-4o-mini", "messages": QUESTION, "api_base": up.azure_base, "api_key": KEY,
            "api_version": AZURE_VERSION, **kw}


def anthropic_call(up: Any, **kw: Any) -> dict[str, Any]:
    return {"model": "anthropic/claude-haiku-4-5", "messages": QUESTION, "api_base": up.anthropic_base,
            "api_key": ANTHROPIC_KEY, "max_tokens": 64, **kw}


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def usage_spans(spans: Any) -> list[Any]:
    return [s for s in spans.finished() if "gen_ai.usage.input_tokens" in s.attributes]


def token_total(spans: Any, direction: str = "input") -> int:
    points = spans.metric_points("gen_ai.client.inference.usage.%s_tokens" % direction)
    return sum(p.value for p in points)


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


# -- every cassette, replayed under the agent -------------------------------------------------

ROUTED = {"openai": "openai", "azure": "azure.ai.openai", "anthropic": "anthropic"}


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("name", sorted(ct.SCENARIOS))
def test_cassette_one_span_per_call(traced: Any, name: str, mode: str) -> None:
    """Whatever the route (LiteLLM's client.post, the OpenAI SDK's with_raw_response, its own
    HTTP client), one LiteLLM span and at most one span with usage, fed to the metric once."""
    scenario = ct.SCENARIOS[name]
    result = ct.call(name, mode)
    finished = traced.finished()
    assert len(finished) == 1, [s.name for s in finished]
    span = finished[0]
    assert span.attributes["gen_ai.provider.name"] == ROUTED[scenario.target]
    assert span.attributes["litellm.request.model"] == scenario.kwargs["model"]
    if scenario.error:
        assert span.status.status_code == StatusCode.ERROR and span.attributes["error.type"] == "401"
        assert usage_spans(traced) == []
        return
    assert len(usage_spans(traced)) == 1
    usage = [c.usage for c in result if getattr(c, "usage", None)][-1] if scenario.streaming else result.usage
    expected = getattr(usage, "prompt_tokens", None) or getattr(usage, "input_tokens", None)
    assert span.attributes["gen_ai.usage.input_tokens"] == expected
    if scenario.function != "embedding":
        assert token_total(traced) == expected


# -- chat: the exact span, per route --------------------------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_openai_route_chat(traced: Any, up: Any, mode: str) -> None:
    if mode == "sync":
        response = litellm.completion(**openai_call(up, temperature=0.2, max_tokens=64))
    else:
        response = run(litellm.acompletion(**openai_call(up, temperature=0.2, max_tokens=64)))
    assert isinstance(response, litellm.ModelResponse)
    assert response.choices[0].message.content
    span = traced.one("chat gpt-4o-mini")
    assert span.kind == SpanKind.CLIENT
    a = dict(span.attributes)
    assert {k: a[k] for k in a if k not in CONTENT_KEYS and k != "litellm.response.cost"} == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "litellm.request.model": "openai/gpt-4o-mini",
        "litellm.provider": "openai",
        "server.address": "127.0.0.1",
        "server.port": port_of(up.openai_base),
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.max_tokens": 64,
        "gen_ai.response.id": response.id,
        "gen_ai.response.model": response.model,
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": response.usage.prompt_tokens,
        "gen_ai.usage.output_tokens": response.usage.completion_tokens,
        "gen_ai.usage.cache_read.input_tokens": 0,
        "gen_ai.usage.reasoning.output_tokens": 0,
    }
    assert a["litellm.response.cost"] == pytest.approx(response._hidden_params["response_cost"])
    assert json.loads(a["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "What is the capital of France?"}]}
    ]
    out = json.loads(a["gen_ai.output.messages"])
    assert out[0]["parts"] == [{"type": "text", "content": response.choices[0].message.content}]
    assert token_total(traced) == response.usage.prompt_tokens


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_azure_route_is_one_span(traced: Any, up: Any, mode: str) -> None:
    """Azure chat goes through the OpenAI SDK's with_raw_response.create, which the OpenAI
    instrumentation patches: still one span, one usage, one token count."""
    if mode == "sync":
        response = litellm.completion(**azure_call(up))
    else:
        response = run(litellm.acompletion(**azure_call(up)))
    assert up.openai.requests[-1]["path"].startswith("/openai/deployments/gpt-4o-mini/chat/completions")
    assert len(traced.finished()) == 1
    span = traced.one("chat gpt-4o-mini")
    assert span.attributes["gen_ai.provider.name"] == "azure.ai.openai"
    assert span.attributes["litellm.request.model"] == "azure/gpt-4o-mini"
    assert len(usage_spans(traced)) == 1
    assert token_total(traced) == response.usage.prompt_tokens


def test_anthropic_route(traced: Any, up: Any) -> None:
    """LiteLLM's own HTTP client (no SDK underneath); it rewrites Anthropic's msg_ id."""
    response = litellm.completion(**anthropic_call(up))
    span = traced.one("chat claude-haiku-4-5")
    a = span.attributes
    assert a["gen_ai.provider.name"] == "anthropic"
    assert a["gen_ai.request.model"] == "claude-haiku-4-5"
    assert a["litellm.request.model"] == "anthropic/claude-haiku-4-5"
    assert a["gen_ai.response.id"] == response.id and response.id.startswith("chatcmpl-")
    assert a["gen_ai.usage.input_tokens"] == response.usage.prompt_tokens
    assert a["gen_ai.usage.output_tokens"] == response.usage.completion_tokens
    assert a["gen_ai.usage.cache_write.input_tokens"] == response.usage.cache_creation_input_tokens  # Anthropic's
    assert a["server.port"] == port_of(up.anthropic_base)
    assert len(usage_spans(traced)) == 1


# -- embeddings, with and without encoding_format ------------------------------------------


@pytest.mark.parametrize("encoding_format", [None, "float"])
@pytest.mark.parametrize("route", ["openai", "azure"])
def test_embedding_is_one_span(traced: Any, up: Any, route: str, encoding_format: Any) -> None:
    """Without encoding_format LiteLLM posts with client.post; with it (and always on Azure)
    it calls Embeddings.create through with_raw_response, which the OpenAI patcher sees."""
    kw: dict[str, Any] = {"input": ["hello", "world"], "api_key": KEY}
    if encoding_format:
        kw["encoding_format"] = encoding_format
    if route == "openai":
        response = litellm.embedding(model="text-embedding-3-small", api_base=up.openai_base, **kw)
    else:
        response = litellm.embedding(model="azure/text-embedding-3-small", api_base=up.azure_base,
                                     api_version=AZURE_VERSION, **kw)
    assert len(response.data) == 2
    assert len(traced.finished()) == 1
    span = traced.one("embeddings text-embedding-3-small")
    a = span.attributes
    assert a["gen_ai.provider.name"] == ("openai" if route == "openai" else "azure.ai.openai")
    assert a["litellm.request.model"] == ("text-embedding-3-small" if route == "openai" else "azure/text-embedding-3-small")
    assert a["gen_ai.embeddings.dimension.count"] == len(response.data[0]["embedding"])
    assert a["gen_ai.usage.input_tokens"] == response.usage.prompt_tokens
    if encoding_format:
        assert a["gen_ai.request.encoding_formats"] == (encoding_format,)
    embedded = sum(p.sum for p in traced.metric_points("gen_ai.client.embeddings.operation.input_tokens"))
    assert embedded in (0, response.usage.prompt_tokens)  # recorded once at most


def test_aembedding(traced: Any, up: Any) -> None:
    run(litellm.aembedding(model="text-embedding-3-small", input=["hi"], api_base=up.openai_base, api_key=KEY,
                           encoding_format="float"))
    assert [s.name for s in traced.finished()] == ["embeddings text-embedding-3-small"]
    assert traced.finished()[0].attributes["litellm.provider"] == "openai"


# -- text_completion, responses, Router ----------------------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_text_completion(traced: Any, up: Any, mode: str) -> None:
    kw = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hello", "api_base": up.openai_base, "api_key": KEY}
    response = litellm.text_completion(**kw) if mode == "sync" else run(litellm.atext_completion(**kw))
    assert len(traced.finished()) == 1  # atext_completion runs text_completion: not a second span
    span = traced.one("text_completion gpt-3.5-turbo-instruct")
    assert span.attributes["gen_ai.provider.name"] == "openai"
    assert span.attributes["litellm.provider"] == "text-completion-openai"
    assert span.attributes["gen_ai.usage.output_tokens"] == response.usage.completion_tokens
    assert json.loads(span.attributes["gen_ai.output.messages"])[0]["parts"][0]["content"] == response.choices[0].text


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_responses(traced: Any, up: Any, mode: str) -> None:
    kw = {"model": "openai/gpt-4o-mini", "input": "What is the capital of France?", "instructions": "Be brief.",
          "api_base": up.openai_base, "api_key": KEY}
    response = litellm.responses(**kw) if mode == "sync" else run(litellm.aresponses(**kw))
    span = traced.one("chat gpt-4o-mini")
    a = span.attributes
    assert a["gen_ai.response.id"] == response.id
    assert a["gen_ai.usage.input_tokens"] == response.usage.input_tokens
    assert json.loads(a["gen_ai.system_instructions"]) == [{"type": "text", "content": "Be brief."}]
    assert len(usage_spans(traced)) == 1


def test_responses_stream(traced: Any, up: Any) -> None:
    stream = litellm.responses(model="openai/gpt-4o-mini", input="What is the capital of France?", stream=True,
                               api_base=up.openai_base, api_key=KEY)
    events = list(stream)
    completed = [e for e in events if getattr(e.type, "value", e.type) == "response.completed"]
    assert completed
    span = traced.one("chat gpt-4o-mini")
    a = span.attributes
    assert a["gen_ai.request.stream"] is True
    assert a["weave_agent.stream.end_reason"] == "exhausted"
    assert a["gen_ai.usage.input_tokens"] == completed[-1].response.usage.input_tokens
    assert len(usage_spans(traced)) == 1


def test_router(traced: Any, up: Any) -> None:
    router = litellm.Router(model_list=[
        {"model_name": "fast", "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": up.openai_base,
                                                  "api_key": KEY}},
    ])
    router.completion(model="fast", messages=QUESTION)
    run(router.acompletion(model="fast", messages=QUESTION))
    names = [s.name for s in traced.finished()]
    assert names == ["chat gpt-4o-mini", "chat gpt-4o-mini"]
    assert len(usage_spans(traced)) == 2


# -- streams ----------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["openai", "azure", "anthropic"])
def test_stream_exhausted(traced: Any, up: Any, route: str) -> None:
    make = {"openai": openai_call, "azure": azure_call, "anthropic": anthropic_call}[route]
    stream = litellm.completion(**make(up, stream=True, stream_options={"include_usage": True}))
    assert isinstance(stream, CustomStreamWrapper)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text
    assert len(traced.finished()) == 1
    span = traced.finished()[0]
    a = span.attributes
    assert a["gen_ai.request.stream"] is True
    assert a["litellm.provider"] == route
    assert a["weave_agent.stream.end_reason"] == "exhausted"
    assert json.loads(a["gen_ai.output.messages"])[0]["parts"] == [{"type": "text", "content": text}]
    assert len(usage_spans(traced)) == 1  # the usage the stream carried, once


def test_async_stream(traced: Any, up: Any) -> None:
    async def consume() -> str:
        stream = await litellm.acompletion(**anthropic_call(up, stream=True))
        assert isinstance(stream, CustomStreamWrapper)
        return "".join([c.choices[0].delta.content or "" async for c in stream])

    text = run(consume())
    span = traced.one("chat claude-haiku-4-5")
    assert span.attributes["weave_agent.stream.end_reason"] == "exhausted"
    assert json.loads(span.attributes["gen_ai.output.messages"])[0]["parts"][0]["content"] == text


def test_stream_break_then_collected(traced: Any, up: Any) -> None:
    stream = litellm.completion(**openai_call(up, stream=True))
    for _ in stream:
        break
    assert traced.finished() == []  # still open while the app holds the stream
    del stream
    gc.collect()
    span = traced.one("chat gpt-4o-mini")
    assert span.attributes["weave_agent.stream.end_reason"] == "garbage_collected"


@pytest.mark.skipif(not hasattr(CustomStreamWrapper, "close"),
                    reason="this litellm: CustomStreamWrapper has no close() (an app cannot close it either)")
def test_stream_closed(traced: Any, up: Any) -> None:
    stream = litellm.completion(**openai_call(up, stream=True))
    next(iter(stream))
    stream.close()
    span = traced.one("chat gpt-4o-mini")
    assert span.attributes["weave_agent.stream.end_reason"] == "closed"
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)  # cut short


def test_stream_never_iterated(traced: Any, up: Any) -> None:
    stream = litellm.completion(**openai_call(up, stream=True))
    del stream
    gc.collect()
    assert traced.one("chat gpt-4o-mini").attributes["weave_agent.stream.end_reason"] == "garbage_collected"


def test_stream_error_midway(traced: Any, up: Any) -> None:
    stream = litellm.completion(**openai_call(up, stream=True, extra_headers={fakes.BEHAVIOR_HEADER: "stream_error"}))
    with pytest.raises(Exception) as caught:
        for _ in stream:
            pass
    span = traced.one("chat gpt-4o-mini")
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["error.type"]
    assert span.attributes["weave_agent.stream.end_reason"] == "error"
    assert caught.value is not None


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_api_error(traced: Any, up: Any, mode: str) -> None:
    kw = openai_call(up, api_key="sk-invalid-litellm-0000000000", max_retries=0)
    with pytest.raises(litellm.AuthenticationError) as caught:
        if mode == "sync":
            litellm.completion(**kw)
        else:
            run(litellm.acompletion(**kw))
    span = traced.one("chat gpt-4o-mini")
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["error.type"] == "401"
    assert caught.value.status_code == 401
    exported = json.dumps([dict(e.attributes) for e in span.events]) + str(span.status.description)
    assert "sk-invalid-litellm-0000000000" not in exported  # the key the server echoed is scrubbed
    assert token_total(traced) == 0


# -- content capture off, LiteLLM's own OpenTelemetry, the patch itself --------------------------


def test_content_capture_off(traced: Any, up: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import weave_agent.lifecycle as lifecycle
    from weave_agent.export import telemetry
    from weave_agent.settings import Settings

    monkeypatch.setattr(
        lifecycle, "_settings", Settings.load({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "false"})
    )
    telemetry.reset()
    telemetry.use_providers(traced.provider, traced.meter_provider)
    litellm.completion(**openai_call(up))
    list(litellm.completion(**anthropic_call(up, stream=True)))
    litellm.responses(model="openai/gpt-4o-mini", input="Hi", instructions="Be brief.", api_base=up.openai_base,
                      api_key=KEY)
    finished = traced.finished()
    assert len(finished) == 3
    for span in finished:
        assert not set(CONTENT_KEYS) & set(span.attributes)
        assert span.attributes.get("gen_ai.usage.input_tokens") or span.attributes["gen_ai.request.stream"]


def test_litellm_otel_callback_means_no_agent_span(traced: Any, up: Any, monkeypatch: pytest.MonkeyPatch,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(litellm, "callbacks", ["otel"])
    assert litellm_mod.litellm_traces()
    monkeypatch.setattr(litellm, "callbacks", ["weave_otel"])  # its own, string checked without the logger
    monkeypatch.setattr(litellm_mod, "litellm_traces", lambda: True)  # no exporter of LiteLLM's in tests
    with caplog.at_level(logging.DEBUG, logger="weave_agent"):
        litellm.completion(**azure_call(up))
        run(litellm.acompletion(**azure_call(up)))
    assert [s for s in traced.finished() if s.instrumentation_scope.name == "weave_agent"] == []
    assert any("LiteLLM's own OpenTelemetry callback" in r.getMessage() for r in caplog.records)


def test_undo_restores_the_originals(spans: Any) -> None:
    from litellm import main
    from litellm.chat_completions import dispatch

    from weave_agent import patch, unpatch

    before = (dispatch.completion, dispatch.acompletion, litellm.completion, main.text_completion)
    patch(litellm=True)
    try:
        assert litellm.completion is dispatch.completion is not before[0]
        assert main.text_completion is not before[3]
    finally:
        unpatch("litellm")
    assert (dispatch.completion, dispatch.acompletion, litellm.completion, main.text_completion) == before


def test_version_range() -> None:
    from weave_agent.hook.registry import builtin, supports

    row = builtin()["litellm"]
    assert row.distribution == "litellm"
    assert "litellm.chat_completions.dispatch" in row.triggers and "litellm.main" in row.triggers
    assert supports(row, "1.110.2")
    assert supports(row, "1.104.0")  # the first release with the three dispatch modules
    assert supports(row, "1.103.5") is False and supports(row, "2.0.0") is False
