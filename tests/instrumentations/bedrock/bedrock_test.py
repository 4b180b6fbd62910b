"""The Bedrock instrumentation, through the real botocore (boto3 clients, real parsers).

Every request goes to ``fake_bedrock``'s ``before-send`` handler, which answers with the
bytes the service documents (JSON, raw InvokeModel bodies, binary event streams), so
botocore's serializer, signer, parsers and ``EventStream`` all run; each result is
compared with what the same client gives without the agent. The AWS credentials are fake
ones set here, and any socket connection fails the test: nothing goes to amazonaws.com.
botocore has no async client (aiobotocore is a separate distribution, not instrumented).
"""

from __future__ import annotations

import gc
import json
import logging
import socket
from pathlib import Path
from typing import Any

import boto3
import botocore.client
import botocore.session
import pytest
from botocore.eventstream import EventStream, NoInitialResponseError
from botocore.exceptions import ClientError, EventStreamError
from botocore.response import StreamingBody
from opentelemetry.trace import SpanKind, StatusCode

from weave_agent.testing import load_module

HERE = Path(__file__).resolve().parent


fake_bedrock = load_module("weave_tests_fake_bedrock", HERE / "fake_bedrock.py")

ACCESS_KEY = "AKIAFAKEBEDROCK00001"
SECRET_KEY = "fAkEsEcReTkEy/ForBedrockTests0123456789ab"
CLAUDE = "anthropic.claude-3-5-haiku-20241022-v1:0"
SERVER = {"server.address": "bedrock-runtime.us-east-1.amazonaws.com", "server.port": 443}
CONTENT_KEYS = ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions",
                "gen_ai.tool.definitions")
ORIGINAL = vars(botocore.client.BaseClient)["_make_api_call"]
# The Converse API came with botocore 1.34.116; older releases in the range (the compatibility
# matrix runs these tests on the oldest, 1.32.0) have InvokeModel and its stream only.
HAS_CONVERSE = "Converse" in botocore.session.get_session().get_service_model("bedrock-runtime").operation_names
# bedrock-agent-runtime (InvokeAgent) came after botocore 1.32 (the oldest release of the range).
HAS_AGENT = "bedrock-agent-runtime" in botocore.session.get_session().get_available_services()
needs_agent = pytest.mark.skipif(
    not HAS_AGENT, reason="botocore %s has no bedrock-agent-runtime service (added later)" % botocore.__version__)
needs_converse = pytest.mark.skipif(
    not HAS_CONVERSE, reason="botocore %s has no Converse API (added in 1.34.116)" % botocore.__version__)


@pytest.fixture(autouse=True)
def _fake_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials only; no profile, config file, metadata service or bearer token."""
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK",
                "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every connection attempt fails the test (the before-send fake answers instead)."""
    attempts: list[Any] = []
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        if isinstance(address, tuple) and address[0] == "127.0.0.1" and getattr(no_network, "local_ok", False):
            return real_connect(self, address)
        attempts.append(address)
        raise AssertionError("a test tried to connect to %r" % (address,))

    monkeypatch.setattr(socket.socket, "connect", connect)
    yield attempts
    assert attempts == []


def _client(service: str = "bedrock-runtime") -> Any:
    client = boto3.client(service, region_name="us-east-1")
    client.fake = fake_bedrock.install(client)  # type: ignore[attr-defined]
    return client


@pytest.fixture
def traced(instrumentation: Any, spans: Any) -> Any:
    instrumentation("bedrock")
    assert vars(botocore.client.BaseClient)["_make_api_call"] is not ORIGINAL
    return spans


@pytest.fixture
def client() -> Any:
    return _client()


def _messages(text: str = "What is the capital of France?") -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"text": text}]}]


def _strip(result: dict[str, Any]) -> dict[str, Any]:
    out = dict(result)
    out.pop("ResponseMetadata", None)
    return out


def _untraced(call: Any) -> Any:
    """What ``call(client)`` gives without the agent (patched out for the duration)."""
    current = vars(botocore.client.BaseClient)["_make_api_call"]
    botocore.client.BaseClient._make_api_call = ORIGINAL  # type: ignore[method-assign]
    try:
        return call(_client())
    finally:
        botocore.client.BaseClient._make_api_call = current  # type: ignore[method-assign]


def _json(span: Any, key: str) -> Any:
    return json.loads(span.attributes[key])


# --- Converse ----------------------------------------------------------------------------------


@needs_converse
def test_converse_span(traced: Any, client: Any) -> None:
    kwargs = dict(
        modelId=CLAUDE,
        messages=_messages(),
        system=[{"text": "Answer in one sentence."}],
        inferenceConfig={"maxTokens": 256, "temperature": 1, "topP": 0.9, "stopSequences": ["\n\n"]},
        additionalModelRequestFields={"top_k": 40},
    )
    result = client.converse(**kwargs)
    assert _strip(result) == _strip(_untraced(lambda c: c.converse(**kwargs)))
    span = traced.one()
    assert span.name == "chat " + CLAUDE and span.kind == SpanKind.CLIENT
    attrs = dict(span.attributes)
    expected = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "aws.bedrock",
        "gen_ai.request.model": CLAUDE,
        "gen_ai.request.max_tokens": 256,
        "gen_ai.request.temperature": 1.0,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.top_k": 40,
        "gen_ai.request.stop_sequences": ("\n\n",),
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 6,
        **SERVER,
    }
    assert {k: attrs.get(k) for k in expected} == expected
    assert type(attrs["gen_ai.request.temperature"]) is float
    assert "gen_ai.request.stream" not in attrs
    assert _json(span, "gen_ai.system_instructions") == [{"type": "text", "content": "Answer in one sentence."}]
    assert _json(span, "gen_ai.input.messages") == [
        {"role": "user", "parts": [{"type": "text", "content": "What is the capital of France?"}]}]
    assert _json(span, "gen_ai.output.messages") == [{"role": "assistant", "finish_reason": "stop", "parts": [
        {"type": "text", "content": "Paris is the capital of France."}]}]
    assert span.status.status_code == StatusCode.UNSET
    assert sum(p.value for p in traced.metric_points("gen_ai.client.inference.usage.input_tokens")) == 12
    assert sum(p.value for p in traced.metric_points("gen_ai.client.inference.usage.output_tokens")) == 6
    (duration,) = traced.metric_points("gen_ai.client.inference.duration")
    assert duration.attributes["gen_ai.request.model"] == CLAUDE and "error.type" not in duration.attributes
    # the fake keys never reach an exported attribute
    assert not any(ACCESS_KEY in str(v) or SECRET_KEY in str(v) for v in attrs.values())


TOOLS = {"tools": [{"toolSpec": {"name": "get_weather", "description": "The weather in a city.",
                                 "inputSchema": {"json": {"type": "object",
                                                          "properties": {"city": {"type": "string"}}}}}}]}


@needs_converse
def test_converse_tools_and_results(traced: Any, client: Any) -> None:
    first = client.converse(modelId=CLAUDE, messages=_messages("Weather in Paris?"), toolConfig=TOOLS)
    assert first["stopReason"] == "tool_use"
    history = _messages("Weather in Paris?") + [first["output"]["message"], {"role": "user", "content": [
        {"toolResult": {"toolUseId": "tooluse_1", "content": [{"json": {"temp_c": 21}}]}}]}]
    client.converse(modelId=CLAUDE, messages=history, toolConfig=TOOLS)
    one, two = traced.finished()
    assert one.attributes["gen_ai.response.finish_reasons"] == ("tool_call",)
    assert _json(one, "gen_ai.tool.definitions") == [{"type": "function", "name": "get_weather",
                                                     "description": "The weather in a city.",
                                                     "parameters": TOOLS["tools"][0]["toolSpec"]["inputSchema"]["json"]}]
    assert _json(one, "gen_ai.output.messages")[0]["parts"] == [
        {"type": "text", "content": "Let me check."},
        {"type": "tool_call", "id": "tooluse_1", "name": "get_weather", "arguments": {"city": "Paris"}}]
    inputs = _json(two, "gen_ai.input.messages")
    assert inputs[1]["parts"][1]["type"] == "tool_call"
    assert inputs[2] == {"role": "user", "parts": [
        {"type": "tool_call_response", "id": "tooluse_1", "response": {"temp_c": 21}}]}


@needs_converse
def test_converse_cached_tokens(traced: Any, client: Any) -> None:
    client.converse(modelId="us.anthropic.claude-cache-test-v1:0", messages=_messages())
    attrs = traced.one().attributes
    if "cacheReadInputTokens" not in client.meta.service_model.shape_for("TokenUsage").members:
        # an older botocore whose service model predates prompt caching drops the counts
        assert attrs["gen_ai.usage.input_tokens"] == 12 and "gen_ai.usage.cache_read.input_tokens" not in attrs
        return
    # Bedrock's inputTokens leave out the cached ones; the conventions' input tokens include them
    assert attrs["gen_ai.usage.input_tokens"] == 12 + 100 + 20
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 100
    assert any(attrs.get(k) == 20 for k in ("gen_ai.usage.cache_creation.input_tokens",
                                             "gen_ai.usage.cache_write.input_tokens"))


@needs_converse
def test_image_bytes_never_on_the_span(traced: Any, client: Any) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    client.converse(modelId=CLAUDE, messages=[{"role": "user", "content": [
        {"text": "What is this?"}, {"image": {"format": "png", "source": {"bytes": png}}}]}])
    span = traced.one()
    parts = _json(span, "gen_ai.input.messages")[0]["parts"]
    assert parts[0]["type"] == "text" and parts[1].get("modality") == "image"
    import base64

    assert base64.b64encode(png).decode() not in span.attributes["gen_ai.input.messages"]


def test_content_capture_off(traced: Any, client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import weave_agent.lifecycle as lifecycle
    from weave_agent.export import telemetry
    from weave_agent.settings import Settings

    monkeypatch.setattr(
        lifecycle, "_settings", Settings.load({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "false"})
    )
    telemetry.reset()
    telemetry.use_providers(traced.provider, traced.meter_provider)
    if HAS_CONVERSE:
        client.converse(modelId=CLAUDE, messages=_messages(), system=[{"text": "secret system"}], toolConfig=TOOLS)
    client.invoke_model(modelId=CLAUDE, body=json.dumps({"anthropic_version": "bedrock-2023-05-31",
                                                          "max_tokens": 10, "messages": _messages()}))
    assert [s.name for s in traced.finished()] == ["chat " + CLAUDE] * (2 if HAS_CONVERSE else 1)
    for span in traced.finished():
        assert not set(CONTENT_KEYS) & set(span.attributes), span.name
        assert span.attributes["gen_ai.usage.output_tokens"] == 6


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("op", [pytest.param("converse", marks=needs_converse),
                                pytest.param("converse_stream", marks=needs_converse), "invoke_model"])
def test_service_error_is_the_apps(traced: Any, client: Any, op: str) -> None:
    def call(c: Any) -> Any:
        if op == "invoke_model":
            return c.invoke_model(modelId=CLAUDE, body=json.dumps({"fake_error": "throttling", "messages": []}))
        return getattr(c, op)(modelId=CLAUDE, messages=_messages(),
                              additionalModelRequestFields={"fake_error": "throttling"})

    with pytest.raises(ClientError) as raised:
        call(client)
    with pytest.raises(ClientError) as bare:
        _untraced(call)
    exc = raised.value
    assert type(exc) is type(bare.value) and type(exc).__name__ == "ThrottlingException"
    assert exc.response == bare.value.response and str(exc) == str(bare.value)
    span = traced.one()
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["error.type"] == "ThrottlingException"
    assert "gen_ai.usage.input_tokens" not in span.attributes
    (duration,) = traced.metric_points("gen_ai.client.inference.duration")
    assert duration.attributes["error.type"] == "ThrottlingException"
    assert not traced.metric_points("gen_ai.client.inference.usage.input_tokens") or all(
        p.value == 0 for p in traced.metric_points("gen_ai.client.inference.usage.input_tokens"))


# --- ConverseStream ------------------------------------------------------------------------------


def _stream(client: Any, **extra: Any) -> Any:
    return client.converse_stream(modelId=CLAUDE, messages=_messages(), **extra)


@needs_converse
def test_converse_stream_exhausted(traced: Any, client: Any) -> None:
    result = _stream(client)
    assert isinstance(result["stream"], EventStream)
    events = list(result["stream"])
    assert events == list(_untraced(lambda c: _stream(c))["stream"])
    span = traced.one()
    attrs = span.attributes
    assert span.name == "chat " + CLAUDE
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["weave_agent.stream.end_reason"] == "exhausted"
    assert attrs["gen_ai.usage.input_tokens"] == 12 and attrs["gen_ai.usage.output_tokens"] == 6
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert _json(span, "gen_ai.output.messages")[0]["parts"] == [
        {"type": "text", "content": "Paris is the capital of France."}]
    assert attrs["weave_agent.stream.chunks"] == len(events)


@needs_converse
def test_converse_stream_tool_call_joined(traced: Any, client: Any) -> None:
    list(_stream(client, toolConfig=TOOLS)["stream"])
    span = traced.one()
    assert span.attributes["gen_ai.response.finish_reasons"] == ("tool_call",)
    assert _json(span, "gen_ai.output.messages")[0]["parts"][1] == {
        "type": "tool_call", "id": "tooluse_1", "name": "get_weather", "arguments": {"city": "Paris"}}


@needs_converse
def test_converse_stream_close(traced: Any, client: Any) -> None:
    result = _stream(client)
    stream = result["stream"]
    first = next(iter(stream))
    assert first == {"messageStart": {"role": "assistant"}}
    stream.close()
    assert client.fake.bodies[-1].closed  # the SDK's close() reached the connection
    span = traced.one()
    assert span.attributes["weave_agent.stream.end_reason"] == "closed"
    assert "gen_ai.usage.input_tokens" not in span.attributes  # the metadata event never came


@needs_converse
def test_converse_stream_break_and_gc(traced: Any, client: Any) -> None:
    result = _stream(client)
    for _event in result["stream"]:
        break
    assert traced.finished() == []  # still open while the app holds it
    del result, _event
    gc.collect()
    span = traced.one()
    assert span.attributes["weave_agent.stream.end_reason"] == "garbage_collected"
    assert span.attributes["weave_agent.stream.chunks"] == 1


@needs_converse
def test_converse_stream_never_iterated(traced: Any, client: Any) -> None:
    _stream(client)
    gc.collect()
    assert traced.one().attributes["weave_agent.stream.end_reason"] == "garbage_collected"


@needs_converse
def test_converse_stream_error_midstream(traced: Any, client: Any) -> None:
    def consume(c: Any) -> tuple[list[Any], BaseException]:
        got: list[Any] = []
        with pytest.raises(EventStreamError) as raised:
            for e in _stream(c, additionalModelRequestFields={"fake_error": "midstream"})["stream"]:
                got.append(e)
        return got, raised.value

    got, exc = consume(client)
    bare_got, bare = _untraced(consume)
    assert got == bare_got and type(exc) is type(bare) and exc.response == bare.response
    span = traced.one()
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["error.type"] == "throttlingException"
    assert span.attributes["weave_agent.stream.end_reason"] == "error"
    parts = _json(span, "gen_ai.output.messages")[0]["parts"]
    assert parts == [{"type": "text", "content": "Paris is the capital of France."}]  # the partial output


@needs_converse
def test_converse_stream_get_initial_response(traced: Any, client: Any) -> None:
    """Bedrock sends no initial-response event: the call raises as without the agent and
    the stream goes on the same way."""
    def initial(c: Any) -> list[Any]:
        stream = _stream(c)["stream"]
        with pytest.raises(NoInitialResponseError):
            stream.get_initial_response()
        return list(stream)

    assert initial(client) == _untraced(initial)
    assert traced.one().attributes["weave_agent.stream.end_reason"] == "exhausted"


# --- InvokeModel, per model family ------------------------------------------------------------------

PROMPT = "What is the capital of France?"
FAMILIES = {
    # model id: (request body, operation, response id, response model)
    CLAUDE: ({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 256, "temperature": 0.5,
              "system": "Be brief.", "messages": [{"role": "user", "content": PROMPT}]},
             "chat", "msg_bdrk_01", "claude-3-5-haiku-20241022"),
    "us.amazon.nova-lite-v1:0": ({"schemaVersion": "messages-v1", "messages": _messages(PROMPT),
                                  "system": [{"text": "Be brief."}],
                                  "inferenceConfig": {"maxTokens": 256, "temperature": 0.5}},
                                 "chat", None, None),
    "amazon.titan-text-express-v1": ({"inputText": PROMPT,
                                      "textGenerationConfig": {"maxTokenCount": 256, "temperature": 0.5}},
                                     "text_completion", None, None),
    "meta.llama3-8b-instruct-v1:0": ({"prompt": PROMPT, "max_gen_len": 256, "temperature": 0.5},
                                     "text_completion", None, None),
    "cohere.command-r-v1:0": ({"message": PROMPT, "preamble": "Be brief.", "max_tokens": 256, "temperature": 0.5},
                              "chat", "resp-co-1", None),
    "mistral.mistral-7b-instruct-v0:2": ({"prompt": "<s>[INST] " + PROMPT + " [/INST]", "max_tokens": 256,
                                          "temperature": 0.5}, "text_completion", None, None),
    "mistral.mistral-large-2407-v1:0": ({"messages": [{"role": "user", "content": PROMPT}], "max_tokens": 256,
                                         "temperature": 0.5}, "chat", None, None),
}


@pytest.mark.parametrize("model", list(FAMILIES))
def test_invoke_model_family(traced: Any, client: Any, model: str) -> None:
    body, operation, response_id, response_model = FAMILIES[model]
    result = client.invoke_model(modelId=model, body=json.dumps(body))
    fresh = result["body"]
    assert isinstance(fresh, StreamingBody)
    raw = fresh.read()
    assert raw == fake_bedrock.answer("/model/%s/invoke" % model, json.dumps(body).encode())[2]  # every byte
    assert fresh.read() == b""  # read once, as botocore's own body
    span = traced.one()
    attrs = span.attributes
    assert span.name == "%s %s" % (operation, model)
    assert attrs["gen_ai.operation.name"] == operation and attrs["gen_ai.provider.name"] == "aws.bedrock"
    assert attrs["gen_ai.request.max_tokens"] == 256 and attrs["gen_ai.request.temperature"] == 0.5
    assert attrs["gen_ai.usage.input_tokens"] == 12 and attrs["gen_ai.usage.output_tokens"] == 6
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert attrs.get("gen_ai.response.id") == response_id
    assert attrs.get("gen_ai.response.model") == response_model
    assert _json(span, "gen_ai.output.messages")[0]["parts"] == [
        {"type": "text", "content": "Paris is the capital of France."}]
    messages = _json(span, "gen_ai.input.messages")
    assert PROMPT in messages[-1]["parts"][0]["content"]
    if operation == "chat" and "mistral" not in model:
        assert _json(span, "gen_ai.system_instructions") == [{"type": "text", "content": "Be brief."}]


def test_invoke_model_body_reads_like_the_sdks(traced: Any, client: Any) -> None:
    body = json.dumps(FAMILIES[CLAUDE][0])
    ours = client.invoke_model(modelId=CLAUDE, body=body)["body"]
    theirs = _untraced(lambda c: c.invoke_model(modelId=CLAUDE, body=body))["body"]
    assert type(ours) is type(theirs)
    assert list(ours.iter_chunks(16)) == list(theirs.iter_chunks(16))
    assert client.fake.bodies[-1].closed  # the connection was released after the read
    assert traced.one().attributes["gen_ai.usage.output_tokens"] == 6


def test_invoke_model_unknown_family_keeps_model_and_usage(traced: Any, client: Any) -> None:
    arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abcdef123456"
    client.invoke_model(modelId=arn, body=b"\x00not json")
    attrs = traced.one().attributes
    assert attrs["gen_ai.request.model"] == arn and attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.usage.input_tokens"] == 12 and attrs["gen_ai.usage.output_tokens"] == 6  # the headers


@pytest.mark.parametrize(("model", "body", "dims"), [
    ("amazon.titan-embed-text-v2:0", {"inputText": "Paris", "dimensions": 4}, 4),
    ("cohere.embed-english-v3", {"texts": ["Paris"], "input_type": "search_document"}, 3),
])
def test_invoke_model_embeddings(traced: Any, client: Any, model: str, body: dict[str, Any], dims: int) -> None:
    result = client.invoke_model(modelId=model, body=json.dumps(body))
    assert json.loads(result["body"].read())
    span = traced.one()
    assert span.name == "embeddings " + model
    assert span.attributes["gen_ai.operation.name"] == "embeddings"
    assert span.attributes["gen_ai.embeddings.dimension.count"] == dims
    assert span.attributes["gen_ai.usage.input_tokens"] in (5, 12)  # the body's count, else the header's


# --- InvokeModelWithResponseStream ---------------------------------------------------------------


@pytest.mark.parametrize("model", [m for m in FAMILIES if "large" not in m])
def test_invoke_stream_family(traced: Any, client: Any, model: str) -> None:
    body, operation, response_id, response_model = FAMILIES[model]
    result = client.invoke_model_with_response_stream(modelId=model, body=json.dumps(body))
    assert isinstance(result["body"], EventStream)
    payloads = [json.loads(e["chunk"]["bytes"]) for e in result["body"]]
    bare = _untraced(lambda c: c.invoke_model_with_response_stream(modelId=model, body=json.dumps(body)))
    assert payloads == [json.loads(e["chunk"]["bytes"]) for e in bare["body"]]
    span = traced.one()
    attrs = span.attributes
    assert span.name == "%s %s" % (operation, model) and attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.usage.input_tokens"] == 12 and attrs["gen_ai.usage.output_tokens"] == 6
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert _json(span, "gen_ai.output.messages")[0]["parts"] == [
        {"type": "text", "content": "Paris is the capital of France."}]
    if response_model:
        assert attrs["gen_ai.response.model"] == response_model


def test_invoke_stream_error_midstream(traced: Any, client: Any) -> None:
    body = json.dumps(dict(FAMILIES[CLAUDE][0], fake_error="midstream"))
    stream = client.invoke_model_with_response_stream(modelId=CLAUDE, body=body)["body"]
    got = []
    with pytest.raises(EventStreamError) as raised:
        for e in stream:
            got.append(e)
    assert len(got) == 3 and raised.value.response["Error"]["Code"] == "modelStreamErrorException"
    span = traced.one()
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["error.type"] == "modelStreamErrorException"
    assert _json(span, "gen_ai.output.messages")[0]["parts"] == [{"type": "text", "content": "Paris"}]


def test_invoke_stream_close(traced: Any, client: Any) -> None:
    stream = client.invoke_model_with_response_stream(modelId=CLAUDE, body=json.dumps(FAMILIES[CLAUDE][0]))["body"]
    next(iter(stream))
    stream.close()
    assert traced.one().attributes["weave_agent.stream.end_reason"] == "closed"


# --- only bedrock-runtime, only these operations; the patch itself ----------------------------------


def test_other_services_untraced(traced: Any) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    seen: list[str] = []

    def answer(request: Any, **kwargs: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        seen.append(request.url)
        raw = b'<?xml version="1.0" encoding="UTF-8"?><ListAllMyBucketsResult><Buckets></Buckets></ListAllMyBucketsResult>'
        return AWSResponse(request.url, 200, {"Content-Type": "application/xml"}, fake_bedrock.RawBody(raw))

    s3.meta.events.register_first("before-send.s3.*", answer)
    assert s3.list_buckets()["Buckets"] == []
    control = boto3.client("bedrock", region_name="us-east-1")  # Bedrock's control plane: not a model call
    control.meta.events.register_first("before-send.bedrock.*", lambda request, **kw: __import__(
        "botocore.awsrequest").awsrequest.AWSResponse(request.url, 200, {"Content-Type": "application/json"},
                                                     fake_bedrock.RawBody(b'{"modelSummaries": []}')))
    assert control.list_foundation_models()["modelSummaries"] == []
    assert seen and traced.finished() == []
    routes = vars(botocore.client.BaseClient)["_make_api_call"]._self_weave_routes
    assert set(routes) == {"Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream", "InvokeAgent"}


def test_unpatch_restores_the_original(instrumentation: Any, spans: Any) -> None:
    from weave_agent.hook.arming import unpatch

    instrumentation("bedrock")
    assert vars(botocore.client.BaseClient)["_make_api_call"] is not ORIGINAL
    unpatch("bedrock")
    assert vars(botocore.client.BaseClient)["_make_api_call"] is ORIGINAL
    _client().invoke_model(modelId=CLAUDE, body=json.dumps(FAMILIES[CLAUDE][0]))
    assert spans.finished() == []


def test_version_range_and_decline(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
                                   spans: Any) -> None:
    from weave_agent.hook import arming
    from weave_agent.hook.registry import builtin, supports
    from weave_agent.instrumentations.bedrock import bedrock as bedrock_mod

    row = builtin()["bedrock"]
    assert row.triggers == bedrock_mod.TRIGGERS and row.distribution == "botocore"
    assert supports(row, "1.44.18") and supports(row, "1.32.0")
    assert supports(row, "1.31.57") is False and supports(row, "2.0.0") is False
    monkeypatch.setattr(arming, "installed_version", lambda dist: "1.31.57" if dist == "botocore" else None)
    with caplog.at_level(logging.DEBUG, logger="weave_agent"):
        arming.patch(bedrock=True)
    try:
        assert vars(botocore.client.BaseClient)["_make_api_call"] is ORIGINAL
        lines = [r.getMessage() for r in caplog.records if "botocore" in r.getMessage()]
        assert len(lines) == 1 and "not supported" in lines[0]
    finally:
        arming.unpatch("bedrock")


def test_anthropic_bedrock_is_traced_once(instrumentation: Any, spans: Any) -> None:
    """AnthropicBedrock signs with botocore and sends with its own HTTP client: the anthropic
    instrumentation's span is the only one (no _make_api_call, no second span or usage)."""
    anthropic = pytest.importorskip("anthropic")
    import anthropic._base_client as base

    httpx = base.httpx2 if hasattr(base, "httpx2") else base.httpx

    def handler(request: Any) -> Any:
        assert request.url.host == "bedrock-runtime.us-east-1.amazonaws.com"
        return httpx.Response(200, json=fake_bedrock._invoke_answer(CLAUDE, {}))

    instrumentation("bedrock")
    instrumentation("anthropic")
    client = anthropic.AnthropicBedrock(aws_access_key=ACCESS_KEY, aws_secret_key=SECRET_KEY, aws_region="us-east-1",
                                        http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    message = client.messages.create(model=CLAUDE, max_tokens=64, messages=[{"role": "user", "content": PROMPT}])
    assert message.content[0].text == "Paris is the capital of France."
    llm = [s for s in spans.finished() if s.attributes.get("gen_ai.operation.name")]
    assert len(llm) == 1 and llm[0].attributes["gen_ai.provider.name"] == "aws.bedrock"
    assert sum(1 for s in llm if "gen_ai.usage.input_tokens" in s.attributes) == 1


def test_invoke_stream_span_not_current_between_chunks(traced: Any, client: Any) -> None:
    from opentelemetry import trace

    stream = client.invoke_model_with_response_stream(modelId=CLAUDE, body=json.dumps(FAMILIES[CLAUDE][0]))["body"]
    seen = set()
    for _event in stream:
        seen.add(trace.get_current_span().get_span_context().span_id)
    span = traced.one()
    assert span.context.span_id not in seen
    assert span.attributes["weave_agent.stream.end_reason"] == "exhausted"


def test_invoke_stream_open_at_interpreter_exit(traced: Any, client: Any) -> None:
    from weave_agent.tracing import streams

    stream = client.invoke_model_with_response_stream(modelId=CLAUDE, body=json.dumps(FAMILIES[CLAUDE][0]))["body"]
    next(iter(stream))
    assert streams.end_all_open() == 1  # what the agent's exit hook runs
    span = traced.one()
    assert span.attributes["weave_agent.stream.end_reason"] == "interpreter_exit"
    assert span.attributes["weave_agent.stream.chunks"] == 1


# --- bedrock-agent-runtime InvokeAgent ---------------------------------------------------------


def _agent_call(c: Any, text: str = PROMPT, trace_on: bool = True) -> Any:
    return c.invoke_agent(agentId="AGENT123", agentAliasId="ALIAS1", sessionId="session-42", inputText=text,
                          enableTrace=trace_on)


@needs_agent
def test_invoke_agent_span(traced: Any) -> None:
    client = _client("bedrock-agent-runtime")
    result = _agent_call(client)
    assert isinstance(result["completion"], EventStream) and result["sessionId"] == "session-42"
    events = list(result["completion"])
    bare = list(_untraced(lambda c: _agent_call(_client("bedrock-agent-runtime")))["completion"])
    assert events == bare
    assert b"".join(e["chunk"]["bytes"] for e in events if "chunk" in e) == b"Paris is the capital of France."
    span = traced.one()
    attrs = span.attributes
    assert span.name == "invoke_agent" and span.kind == SpanKind.CLIENT
    assert attrs["gen_ai.operation.name"] == "invoke_agent" and attrs["gen_ai.provider.name"] == "aws.bedrock"
    assert attrs["gen_ai.agent.id"] == "AGENT123" and attrs["gen_ai.conversation.id"] == "session-42"
    assert attrs["server.address"] == "bedrock-agent-runtime.us-east-1.amazonaws.com"
    assert attrs["gen_ai.usage.input_tokens"] == 720 and attrs["gen_ai.usage.output_tokens"] == 65
    assert _json(span, "gen_ai.input.messages") == [{"role": "user", "parts": [{"type": "text", "content": PROMPT}]}]
    assert _json(span, "gen_ai.output.messages")[0]["parts"] == [
        {"type": "text", "content": "Paris is the capital of France."}]
    assert attrs["weave_agent.stream.end_reason"] == "exhausted"


@needs_agent
def test_invoke_agent_without_trace_has_no_usage(traced: Any) -> None:
    list(_agent_call(_client("bedrock-agent-runtime"), trace_on=False)["completion"])
    assert "gen_ai.usage.input_tokens" not in traced.one().attributes


@needs_agent
def test_invoke_agent_error(traced: Any) -> None:
    with pytest.raises(ClientError) as raised:
        _agent_call(_client("bedrock-agent-runtime"), text="fail")
    assert type(raised.value).__name__ == "ThrottlingException"
    span = traced.one()
    assert span.status.status_code == StatusCode.ERROR and span.attributes["error.type"] == "ThrottlingException"


@needs_agent
def test_other_bedrock_agent_operations_untraced(traced: Any) -> None:
    client = boto3.client("bedrock-agent-runtime", region_name="us-east-1")
    client.meta.events.register_first("before-send.bedrock-agent-runtime.*", lambda request, **kw: __import__(
        "botocore.awsrequest").awsrequest.AWSResponse(request.url, 200, {"Content-Type": "application/json"},
                                                     fake_bedrock.RawBody(b'{"sessionSummaries": []}')))
    assert client.list_sessions()["sessionSummaries"] == []
    assert traced.finished() == []
