"""Replays every Anthropic cassette through the real SDK, with no instrumentation, sync and async.

What an instrumentation test will see on replay is what these tests pin down: the types the SDK
builds, text, tool_use input rebuilt from input_json_delta, thinking blocks, usage, the final
message of streams, and the exception classes of error answers. Cassettes are replayed with
record_mode "none", matched on method, scheme, host, port, path and query, with the clients'
default base URLs. Re-record with ``record_cassettes.py`` (see CASSETTES.md).
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version

anthropic = pytest.importorskip("anthropic")
vcr = pytest.importorskip("vcr")
yaml = pytest.importorskip("yaml")

HERE = Path(__file__).resolve().parent
# The compatibility matrix (bench/compat.py) runs these tests on the oldest release of the
# registry's range too: the few SDK surfaces that changed since are checked by release.
SDK = Version(anthropic.__version__)
API_MESSAGE = SDK >= Version("2.5.0")  # APIStatusError.api_message; OverloadedError an InternalServerError


def _load_recorder() -> Any:
    # Loaded by path under a private name: other vendors' folders may have a record_cassettes.py too.
    name = "_weave_tests_anthropic_record_cassettes"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE / "record_cassettes.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


rec = _load_recorder()
SCENARIO_NAMES = [scenario.name for scenario in rec.SCENARIOS]
HAIKU_SNAPSHOT = "claude-haiku-4-5-20251001"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in (
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_BEDROCK_BASE_URL",
        "ANTHROPIC_VERTEX_BASE_URL",
        "ANTHROPIC_CUSTOM_HEADERS",
        "AWS_BEARER_TOKEN_BEDROCK",
    ):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("ANTHROPIC_OPEN_TELEMETRY", "false")


def _without_beta_flag(request: Any) -> Any:
    """anthropic before 2.3.0 posts beta messages to ``/v1/messages?beta=true``; the recordings
    come from a later release, which posts the same request to ``/v1/messages``."""
    if request.query == [("beta", "true")]:
        request.uri = request.uri.split("?", 1)[0]
    return request


def replay_vcr() -> Any:
    return vcr.VCR(
        serializer="yaml",
        record_mode="none",
        match_on=list(rec.MATCH_ON),
        before_record_request=_without_beta_flag if SDK < Version("2.3.0") else None,
    )


def _needs(scenario: Any) -> None:
    if scenario.platform == "bedrock":
        # AnthropicBedrock signs with botocore (SigV4) and decodes its stream with botocore.
        pytest.importorskip("botocore", reason="install anthropic[bedrock] to replay the Bedrock cassettes")


def replay(name: str, mode: str) -> Any:
    """Replays the cassette `name` with a sync or an async client; every interaction must play."""
    scenario = rec.SCENARIOS_BY_NAME[name]
    _needs(scenario)
    path = rec.cassette_path(name)
    assert path.exists(), f"missing cassette {path}: run record_cassettes.py"
    # max_retries=0 everywhere: a request missing from a cassette fails at once, not after backoff.
    options = {**scenario.client_options, "max_retries": 0}
    with replay_vcr().use_cassette(str(path)) as cassette:
        if mode == "sync":
            client = rec.make_client(scenario.platform, **options)
            try:
                outcome = rec.run_sync(scenario, client)
            finally:
                client.close()
        else:

            async def run() -> Any:
                client = rec.make_client(scenario.platform, asynchronous=True, **options)
                try:
                    return await rec.run_async(scenario, client)
                finally:
                    await client.close()

            outcome = asyncio.run(run())
        assert cassette.all_played, f"{name}: not every recorded interaction was replayed"
    return outcome


# --- shared assertions -------------------------------------------------------------------------


def assert_message(
    message: Any, *, model: str = HAIKU_SNAPSHOT, id_prefix: str = "msg_01", stop_reason: str = "end_turn"
) -> None:
    assert isinstance(message, anthropic.types.Message), type(message)
    assert message.id.startswith(id_prefix)
    assert message.type == "message"
    assert message.role == "assistant"
    assert message.model == model
    assert message.stop_reason == stop_reason
    usage = message.usage
    assert isinstance(usage, anthropic.types.Usage)
    assert usage.input_tokens > 0 and usage.output_tokens > 0
    assert usage.service_tier == "standard"


def text_of(message: Any) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


def raw_event_types(events: list[Any]) -> list[str]:
    return [event.type for event in events]


def assert_raw_stream(events: list[Any], *, model: str) -> Any:
    """The raw events of a complete stream; returns the message_delta event."""
    types = raw_event_types(events)
    assert types[0] == "message_start" and types[-1] == "message_stop"
    assert "ping" not in types  # on the wire, but the SDK drops ping events
    start = events[0]
    assert isinstance(start, anthropic.types.RawMessageStartEvent)
    assert start.message.model == model
    assert start.message.content == [] and start.message.stop_reason is None
    delta = events[-2]
    assert isinstance(delta, anthropic.types.RawMessageDeltaEvent)
    assert delta.delta.stop_reason == "end_turn"
    assert delta.usage.output_tokens > 1
    return delta


# --- per-scenario checks -----------------------------------------------------------------------


def check_messages_create(outcome: Any) -> None:
    message = outcome.message
    assert_message(message, stop_reason="stop_sequence")
    assert message.stop_sequence == ", 5"
    assert [block.type for block in message.content] == ["text"]
    assert isinstance(message.content[0], anthropic.types.TextBlock)
    assert message.content[0].text == "1, 2, 3, 4"
    assert message.usage.cache_read_input_tokens == 0 and message.usage.cache_creation_input_tokens == 0
    assert message._request_id.startswith("req_011C")


def check_messages_create_sampling(outcome: Any) -> None:
    assert_message(outcome.message)
    assert outcome.message.stop_sequence is None
    assert text_of(outcome.message).startswith("Packets cross the dark")


def check_messages_create_cache(outcome: Any) -> None:
    message = outcome.message
    assert_message(message, model="claude-sonnet-4-6")
    usage = message.usage
    assert usage.cache_read_input_tokens > 0
    assert usage.cache_creation_input_tokens > 0
    assert usage.cache_creation.ephemeral_5m_input_tokens == usage.cache_creation_input_tokens
    assert usage.cache_creation.ephemeral_1h_input_tokens == 0
    assert usage.input_tokens < usage.cache_read_input_tokens


def check_messages_stream_raw(outcome: Any) -> None:
    events = outcome.events
    delta = assert_raw_stream(events, model="claude-sonnet-4-6")
    deltas = [event for event in events if event.type == "content_block_delta"]
    assert len(deltas) >= 3
    assert all(isinstance(event.delta, anthropic.types.TextDelta) for event in deltas)
    text = "".join(event.delta.text for event in deltas)
    assert text == "Packets cross the dark\nA quiet server answers\nLight returns as text"
    assert delta.usage.input_tokens == events[0].message.usage.input_tokens


def check_messages_stream_helper(outcome: Any) -> None:
    assert outcome.text_stream == "The capital of France is Paris."
    assert outcome.final_text == outcome.text_stream
    message = outcome.message
    assert isinstance(message, anthropic.types.ParsedMessage)
    assert_message(message)
    assert message.usage.output_tokens > 1  # the message_delta total, not message_start's placeholder


def check_messages_tool_use(outcome: Any) -> None:
    message = outcome.message
    assert_message(message, stop_reason="tool_use")
    assert [block.type for block in message.content] == ["text", "tool_use"]
    tool_use = message.content[1]
    assert isinstance(tool_use, anthropic.types.ToolUseBlock)
    assert tool_use.id.startswith("toolu_01")
    assert tool_use.name == "get_weather"
    assert tool_use.input == {"location": "Paris, France", "unit": "celsius"}


def check_messages_tool_result(outcome: Any) -> None:
    assert_message(outcome.message)
    assert [block.type for block in outcome.message.content] == ["text"]
    assert text_of(outcome.message) == "It's currently 18°C and sunny in Paris, France."


def check_messages_tool_use_stream(outcome: Any) -> None:
    events = outcome.events
    partial = [
        event.delta.partial_json
        for event in events
        if event.type == "content_block_delta" and event.delta.type == "input_json_delta"
    ]
    assert len(partial) >= 4 and partial[0] == ""  # an empty first piece, as the API sends
    assert "".join(partial) == '{"location":"Paris, France","unit":"celsius"}'
    snapshots = [event.snapshot for event in events if event.type == "input_json"]
    assert snapshots[-1] == {"location": "Paris, France", "unit": "celsius"}
    start = next(event for event in events if event.type == "content_block_start")
    assert start.content_block.type == "tool_use" and start.content_block.input == {}
    stop = next(event for event in events if event.type == "content_block_stop")
    assert stop.content_block.input == {"location": "Paris, France", "unit": "celsius"}
    message = outcome.message
    assert_message(message, stop_reason="tool_use")
    assert [block.type for block in message.content] == ["tool_use"]  # tool_choice forced: no text
    assert message.content[0].input == {"location": "Paris, France", "unit": "celsius"}
    assert events[-1].type == "message_stop" and events[-1].message.stop_reason == "tool_use"


def _assert_thinking_message(message: Any) -> None:
    assert_message(message)
    assert [block.type for block in message.content] == ["thinking", "text"]
    thinking = message.content[0]
    assert isinstance(thinking, anthropic.types.ThinkingBlock)
    assert "12,231" in thinking.thinking
    assert len(thinking.signature) > 100
    assert message.content[1].text == "27 * 453 = 12,231."
    assert message.usage.output_tokens_details is not None
    assert 0 < message.usage.output_tokens_details.thinking_tokens < message.usage.output_tokens


def check_messages_thinking(outcome: Any) -> None:
    _assert_thinking_message(outcome.message)


def check_messages_thinking_stream(outcome: Any) -> None:
    events = outcome.events
    delta_types = [event.delta.type for event in events if event.type == "content_block_delta"]
    assert delta_types.index("signature_delta") > delta_types.index("thinking_delta")
    assert delta_types.index("text_delta") > delta_types.index("signature_delta")
    assert delta_types.count("thinking_delta") >= 2
    thinking = "".join(event.thinking for event in events if event.type == "thinking")
    text = "".join(event.text for event in events if event.type == "text")
    signature = [event.signature for event in events if event.type == "signature"]
    _assert_thinking_message(outcome.message)
    assert thinking == outcome.message.content[0].thinking
    assert signature == [outcome.message.content[0].signature]
    assert text == outcome.message.content[1].text


def check_messages_parse(outcome: Any) -> None:
    message = outcome.message
    assert isinstance(message, anthropic.types.ParsedMessage)
    assert_message(message)
    parsed = message.parsed_output
    assert type(parsed).__name__ == "CityInfo"
    assert (parsed.name, parsed.country, parsed.population) == ("Paris", "France", 2102650)
    assert message.content[0].parsed_output == parsed


def check_beta_messages_create(outcome: Any) -> None:
    message = outcome.message
    assert isinstance(message, anthropic.types.beta.BetaMessage)
    assert message.model == HAIKU_SNAPSHOT and message.stop_reason == "end_turn"
    assert text_of(message) == "The capital of France is Paris."
    assert message.container is None and message.context_management is None
    assert isinstance(message.usage, anthropic.types.beta.BetaUsage)


def check_messages_count_tokens(outcome: Any) -> None:
    assert isinstance(outcome.result, anthropic.types.MessageTokensCount)
    assert outcome.result.input_tokens > 10


def check_messages_stream_error(outcome: Any) -> None:
    error = outcome.error
    # An `error` event arrives on an HTTP 200 stream: the SDK raises a plain APIStatusError
    # (no subclass maps status 200), with the envelope's type.
    assert type(error) is anthropic.APIStatusError
    assert error.status_code == 200
    assert error.type == "overloaded_error"
    assert error.api_message == "Overloaded" if API_MESSAGE else "'message': 'Overloaded'" in error.message
    assert error.request_id.startswith("req_011C")
    assert raw_event_types(outcome.events) == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
    ]


def check_messages_error_400(outcome: Any) -> None:
    error = outcome.error
    assert type(error) is anthropic.BadRequestError
    assert error.status_code == 400
    assert error.type == "invalid_request_error"
    assert error.api_message == "temperature: Extra inputs are not permitted" if API_MESSAGE else (
        "temperature: Extra inputs are not permitted" in error.message
    )
    assert error.request_id.startswith("req_011C")
    assert error.body["request_id"] == error.request_id


def check_messages_error_529(outcome: Any) -> None:
    error = outcome.error
    assert type(error) is anthropic.OverloadedError
    assert isinstance(error, anthropic.InternalServerError) or not API_MESSAGE  # a subclass since 2.5.0
    assert error.status_code == 529
    assert error.type == "overloaded_error"
    assert error.response.headers["x-should-retry"] == "true"


def check_messages_error_401(outcome: Any) -> None:
    error = outcome.error
    assert type(error) is anthropic.AuthenticationError
    assert error.status_code == 401
    assert error.type == "authentication_error"
    assert error.api_message == "invalid x-api-key" if API_MESSAGE else "invalid x-api-key" in error.message


def check_bedrock_messages_create(outcome: Any) -> None:
    message = outcome.message
    assert_message(message, model="claude-3-5-sonnet-20241022", id_prefix="msg_bdrk_01")
    assert text_of(message).startswith("Packets cross the dark")
    assert message._request_id is None  # Bedrock sends x-amzn-RequestId, not request-id


def check_bedrock_messages_stream(outcome: Any) -> None:
    assert outcome.text_stream == "The capital of France is Paris."
    assert outcome.final_text == outcome.text_stream
    assert_message(outcome.message, model="claude-3-5-sonnet-20241022", id_prefix="msg_bdrk_01")


def check_vertex_messages_create(outcome: Any) -> None:
    assert_message(outcome.message, id_prefix="msg_vrtx_01")
    assert text_of(outcome.message).startswith("Packets cross the dark")


def check_vertex_messages_stream(outcome: Any) -> None:
    assert_raw_stream(outcome.events, model=HAIKU_SNAPSHOT)
    assert outcome.events[0].message.id.startswith("msg_vrtx_01")
    text = "".join(event.delta.text for event in outcome.events if event.type == "content_block_delta")
    assert text == "The capital of France is Paris."


CHECKS = {name[len("check_") :]: check for name, check in dict(globals()).items() if name.startswith("check_")}


# --- tests -------------------------------------------------------------------------------------


def test_every_scenario_has_a_check_and_a_cassette() -> None:
    assert sorted(CHECKS) == sorted(SCENARIO_NAMES)
    on_disk = sorted(path.stem for path in rec.CASSETTES.glob("*.yaml"))
    assert on_disk == sorted(SCENARIO_NAMES), "cassettes and scenarios differ: re-record or remove"


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_replay(name: str, mode: str) -> None:
    outcome = replay(name, mode)
    expects_error = name.startswith("messages_error_") or name == "messages_stream_error"
    assert (outcome.error is not None) == expects_error, outcome.error
    CHECKS[name](outcome)


def test_stream_helper_until_done_then_final_text() -> None:
    """until_done() alone consumes the stream; the final message and text are there after it."""
    scenario = rec.SCENARIOS_BY_NAME["messages_stream_helper"]
    with replay_vcr().use_cassette(str(rec.cassette_path(scenario.name))):
        client = rec.make_client("anthropic", max_retries=0)
        with client.messages.stream(**scenario.request()) as stream:
            stream.until_done()
            assert stream.get_final_text() == "The capital of France is Paris."
            assert stream.get_final_message().stop_reason == "end_turn"
            assert list(stream.text_stream) == []


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_cassette_hygiene(name: str) -> None:
    """Real vendor hosts, no local address, no credential, no trace header."""
    path = rec.cassette_path(name)
    text = path.read_text(encoding="utf-8")
    assert rec.find_secrets(path) == []
    assert "127.0.0.1" not in text and "localhost" not in text
    assert "traceparent" not in text.lower()
    data = yaml.safe_load(text)
    platform = rec.SCENARIOS_BY_NAME[name].platform
    for interaction in data["interactions"]:
        request = interaction["request"]
        assert request["uri"].startswith(rec.HOSTS[platform] + "/")
        headers = {key.lower() for key in request["headers"]}
        assert headers.isdisjoint(rec.FILTERED_REQUEST_HEADERS)
        response_headers = {key.lower() for key in interaction["response"]["headers"]}
        assert "set-cookie" not in response_headers
