"""Records the Anthropic cassettes: the real SDK against the local fake API, through vcrpy.

Run from the repository root::

    /work/venv/bin/python tests/instrumentations/anthropic/record_cassettes.py [SCENARIO ...]

Each scenario drives one SDK method (sync client) against ``fake_anthropic_server`` and writes
``cassettes/<scenario>.yaml``. Before a request is recorded its URI is rewritten to the vendor's
real host (api.anthropic.com, bedrock-runtime.us-east-1.amazonaws.com,
us-east5-aiplatform.googleapis.com), so the cassettes replay with the clients' default base URLs,
and every credential header is dropped. The SDK's own OpenTelemetry tracing is off while
recording (``ANTHROPIC_OPEN_TELEMETRY=false``), so no ``traceparent`` header is recorded.

This module is also the scenario table that ``cassettes_test.py`` replays: importing it has no
side effects and needs neither the server nor the network.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
CASSETTES = HERE / "cassettes"

API_KEY = "sk-ant-test-0000"
INVALID_API_KEY = "sk-ant-test-invalid-0000"
AWS_ACCESS_KEY = "AKIAFAKE"
AWS_SECRET_KEY = "fake"
AWS_REGION = "us-east-1"
VERTEX_ACCESS_TOKEN = "fake-token"
VERTEX_REGION = "us-east5"
VERTEX_PROJECT = "fake-project"

HOSTS = {
    "anthropic": "https://api.anthropic.com",
    "bedrock": f"https://bedrock-runtime.{AWS_REGION}.amazonaws.com",
    "vertex": f"https://{VERTEX_REGION}-aiplatform.googleapis.com",
}
MATCH_ON = ("method", "scheme", "host", "port", "path", "query")
# Request headers that carry credentials (vcrpy compares names case-insensitively).
FILTERED_REQUEST_HEADERS = (
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "cookie",
    "x-amz-security-token",
)
FILTERED_RESPONSE_HEADERS = ("set-cookie", "authorization", "x-api-key")
# Nothing of these may appear anywhere in a cassette file.
SECRETS = (
    API_KEY,
    INVALID_API_KEY,
    "sk-ant-",
    AWS_ACCESS_KEY,
    AWS_SECRET_KEY + '"',
    VERTEX_ACCESS_TOKEN,
    "Bearer ",
    "AWS4-HMAC-SHA256",
    "Credential=",
    "Signature=",
)

# --- request content shared by the scenarios -------------------------------------------------

HAIKU = "claude-haiku-4-5"  # the API answers with the snapshot, claude-haiku-4-5-20251001
SONNET = "claude-sonnet-4-6"  # no dated snapshot: the API answers with the same string
BEDROCK_MODEL = "anthropic.claude-3-5-sonnet-20241022-v2:0"
VERTEX_MODEL = "claude-haiku-4-5@20251001"

WEATHER_TOOL: dict[str, Any] = {
    "name": "get_weather",
    "description": "Get the current weather in a given location",
    "input_schema": {
        "type": "object",
        "properties": {
            "location": {"type": "string", "description": "The city and country, e.g. Paris, France"},
            "unit": {
                "type": "string",
                "enum": ["celsius", "fahrenheit"],
                "description": "The unit of temperature",
            },
        },
        "required": ["location"],
    },
}
WEATHER_QUESTION = "What's the weather like in Paris right now?"
TOOL_USE_ID = "toolu_01D7FLrfh4GYq7yT1ULFeyMV"
TOOL_RESULT_HISTORY: list[dict[str, Any]] = [
    {"role": "user", "content": WEATHER_QUESTION},
    {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "I'll use the get_weather tool to answer that."},
            {
                "type": "tool_use",
                "id": TOOL_USE_ID,
                "name": "get_weather",
                "input": {"location": "Paris, France", "unit": "celsius"},
            },
        ],
    },
    {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": TOOL_USE_ID, "content": "18°C and sunny"}],
    },
]

HANDBOOK = "\n".join(
    f"Section {number}: The weave agent patches LLM SDKs at import time, opens one span per call, "
    f"records the request parameters, the response usage and the stop reason, and exports the spans "
    f"over OTLP. Rule {number} says that a span never holds a credential and never blocks the call."
    for number in range(1, 19)
)
NOTES = "\n".join(
    f"Note {number}: streams end their span when the application reads the last event, closes the "
    f"stream or drops it; errors set the status and the error type; retries are counted."
    for number in range(1, 25)
)


def _city_info_model() -> type:
    from pydantic import BaseModel

    class CityInfo(BaseModel):
        name: str
        country: str
        population: int

    return CityInfo


# --- scenarios -------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one scenario's calls gave the application, for the replay test to check."""

    message: Any = None
    events: list[Any] = field(default_factory=list)
    text_stream: str | None = None
    final_text: str | None = None
    result: Any = None
    error: BaseException | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    platform: str  # anthropic | bedrock | vertex
    kind: str  # see run_sync / run_async
    sdk_method: str
    request: Callable[[], dict[str, Any]]
    client_options: dict[str, Any] = field(default_factory=dict)
    description: str = ""


def _req(**kwargs: Any) -> Callable[[], dict[str, Any]]:
    return lambda: dict(kwargs)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "messages_create",
        "anthropic",
        "create",
        "messages.create",
        _req(
            model=HAIKU,
            max_tokens=256,
            system="You are a terse assistant. Answer on one line.",
            stop_sequences=[", 5"],
            metadata={"user_id": "user-1234"},
            messages=[{"role": "user", "content": "Count from 1 to 10, separated by commas."}],
        ),
        description="system prompt, stop_sequences, metadata; stops on the stop sequence",
    ),
    Scenario(
        "messages_create_sampling",
        "anthropic",
        "create",
        "messages.create (extra_body, anthropic-version 2023-06-01)",
        _req(
            model=HAIKU,
            max_tokens=128,
            system="You are a poet.",
            messages=[{"role": "user", "content": "Write a haiku about HTTP."}],
            extra_headers={"anthropic-version": "2023-06-01"},
            extra_body={"temperature": 0.7, "top_k": 40},
        ),
        description="temperature and top_k, which only anthropic-version 2023-06-01 accepts",
    ),
    Scenario(
        "messages_create_cache",
        "anthropic",
        "create",
        "messages.create",
        _req(
            model=SONNET,
            max_tokens=200,
            system=[
                {"type": "text", "text": "You answer questions about the attached handbook."},
                {"type": "text", "text": HANDBOOK, "cache_control": {"type": "ephemeral"}},
            ],
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": NOTES, "cache_control": {"type": "ephemeral"}},
                        {"type": "text", "text": "Summarize the handbook and the notes in one sentence."},
                    ],
                }
            ],
        ),
        description="two cache breakpoints: cache_read_input_tokens and cache_creation_input_tokens > 0",
    ),
    Scenario(
        "messages_stream_raw",
        "anthropic",
        "create_stream",
        "messages.create(stream=True)",
        _req(
            model=SONNET,
            max_tokens=200,
            messages=[{"role": "user", "content": "Write a haiku about packets."}],
        ),
        description="text deltas, a ping on the wire, message_delta with usage",
    ),
    Scenario(
        "messages_stream_helper",
        "anthropic",
        "stream_text",
        "messages.stream",
        _req(
            model=HAIKU,
            max_tokens=200,
            system="Answer in one sentence.",
            messages=[{"role": "user", "content": "What is the capital of France?"}],
        ),
        description="MessageStreamManager: text_stream, until_done, get_final_message, get_final_text",
    ),
    Scenario(
        "messages_tool_use",
        "anthropic",
        "create",
        "messages.create",
        _req(
            model=HAIKU,
            max_tokens=512,
            tools=[WEATHER_TOOL],
            messages=[{"role": "user", "content": WEATHER_QUESTION}],
        ),
        description="text + tool_use block, stop_reason tool_use",
    ),
    Scenario(
        "messages_tool_result",
        "anthropic",
        "create",
        "messages.create",
        _req(model=HAIKU, max_tokens=512, tools=[WEATHER_TOOL], messages=TOOL_RESULT_HISTORY),
        description="tool_result follow-up answered with text",
    ),
    Scenario(
        "messages_tool_use_stream",
        "anthropic",
        "stream_events",
        "messages.stream",
        _req(
            model=HAIKU,
            max_tokens=512,
            tools=[WEATHER_TOOL],
            tool_choice={"type": "tool", "name": "get_weather"},
            messages=[{"role": "user", "content": WEATHER_QUESTION}],
        ),
        description="streamed tool_use: input_json_delta pieces rebuilt into the input dict",
    ),
    Scenario(
        "messages_thinking",
        "anthropic",
        "create",
        "messages.create",
        _req(
            model=HAIKU,
            max_tokens=2048,
            thinking={"type": "enabled", "budget_tokens": 1024},
            messages=[{"role": "user", "content": "What is 27 * 453?"}],
        ),
        description="extended thinking: thinking block with signature, then text",
    ),
    Scenario(
        "messages_thinking_stream",
        "anthropic",
        "stream_events",
        "messages.stream",
        _req(
            model=HAIKU,
            max_tokens=2048,
            thinking={"type": "enabled", "budget_tokens": 1024},
            messages=[{"role": "user", "content": "What is 27 * 453?"}],
        ),
        description="thinking_delta, signature_delta, then text_delta",
    ),
    Scenario(
        "messages_parse",
        "anthropic",
        "parse",
        "messages.parse(output_format=<pydantic model>)",
        lambda: {
            "model": HAIKU,
            "max_tokens": 256,
            "output_format": _city_info_model(),
            "messages": [{"role": "user", "content": "Give me facts about the capital of France."}],
        },
        description="structured output: output_config.format json_schema, parsed_output",
    ),
    Scenario(
        "beta_messages_create",
        "anthropic",
        "beta_create",
        "beta.messages.create(betas=[...])",
        _req(
            model=HAIKU,
            max_tokens=256,
            betas=["interleaved-thinking-2025-05-14", "context-management-2025-06-27"],
            messages=[{"role": "user", "content": "What is the capital of France?"}],
        ),
        description="anthropic-beta header, /v1/messages?beta=true, BetaMessage",
    ),
    Scenario(
        "messages_count_tokens",
        "anthropic",
        "count_tokens",
        "messages.count_tokens",
        _req(
            model=HAIKU,
            system="You are a terse assistant.",
            tools=[WEATHER_TOOL],
            messages=[{"role": "user", "content": WEATHER_QUESTION}],
        ),
        description="POST /v1/messages/count_tokens",
    ),
    Scenario(
        "messages_stream_error",
        "anthropic",
        "create_stream",
        "messages.create(stream=True)",
        _req(
            model=HAIKU,
            max_tokens=200,
            messages=[{"role": "user", "content": "Write a haiku about load balancers. [[overloaded-midstream]]"}],
        ),
        description="HTTP 200 stream with an `error` event (overloaded_error) after two text deltas",
    ),
    Scenario(
        "messages_error_400",
        "anthropic",
        "create",
        "messages.create",
        _req(
            model=HAIKU,
            max_tokens=128,
            messages=[{"role": "user", "content": "Write a haiku about HTTP."}],
            extra_body={"temperature": 0.7},
        ),
        description="invalid_request_error: temperature with anthropic-version 2026-10-21",
    ),
    Scenario(
        "messages_error_529",
        "anthropic",
        "create",
        "messages.create",
        _req(
            model=HAIKU,
            max_tokens=128,
            messages=[{"role": "user", "content": "Write a haiku about queues. [[overloaded]]"}],
        ),
        client_options={"max_retries": 0},
        description="overloaded_error, HTTP 529 (x-should-retry: true; record and replay with max_retries=0)",
    ),
    Scenario(
        "messages_error_401",
        "anthropic",
        "create",
        "messages.create",
        _req(
            model=HAIKU,
            max_tokens=128,
            messages=[{"role": "user", "content": "Write a haiku about keys."}],
        ),
        client_options={"api_key": INVALID_API_KEY},
        description="authentication_error, HTTP 401",
    ),
    Scenario(
        "bedrock_messages_create",
        "bedrock",
        "create",
        "AnthropicBedrock.messages.create",
        _req(
            model=BEDROCK_MODEL,
            max_tokens=256,
            messages=[{"role": "user", "content": "Write a haiku about rivers."}],
        ),
        description="POST /model/{model}/invoke",
    ),
    Scenario(
        "bedrock_messages_stream",
        "bedrock",
        "stream_text",
        "AnthropicBedrock.messages.stream",
        _req(
            model=BEDROCK_MODEL,
            max_tokens=256,
            messages=[{"role": "user", "content": "What is the capital of France?"}],
        ),
        description="POST /model/{model}/invoke-with-response-stream, AWS event stream framing",
    ),
    Scenario(
        "vertex_messages_create",
        "vertex",
        "create",
        "AnthropicVertex.messages.create",
        _req(
            model=VERTEX_MODEL,
            max_tokens=256,
            messages=[{"role": "user", "content": "Write a haiku about clouds."}],
        ),
        description="POST .../publishers/anthropic/models/{model}:rawPredict",
    ),
    Scenario(
        "vertex_messages_stream",
        "vertex",
        "create_stream",
        "AnthropicVertex.messages.create(stream=True)",
        _req(
            model=VERTEX_MODEL,
            max_tokens=256,
            messages=[{"role": "user", "content": "What is the capital of France?"}],
        ),
        description="POST .../models/{model}:streamRawPredict, server-sent events",
    ),
)
SCENARIOS_BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}


def cassette_path(name: str) -> Path:
    return CASSETTES / f"{name}.yaml"


# --- clients -----------------------------------------------------------------------------------


def make_client(platform: str, *, asynchronous: bool = False, base_url: str | None = None, **options: Any) -> Any:
    """A client of `platform` with fake credentials; the vendor's default base URL unless given."""
    import anthropic

    kwargs: dict[str, Any] = dict(options)
    if platform == "anthropic":
        cls = anthropic.AsyncAnthropic if asynchronous else anthropic.Anthropic
        kwargs.setdefault("api_key", API_KEY)
        if base_url is not None:
            kwargs["base_url"] = base_url
    elif platform == "bedrock":
        cls = anthropic.AsyncAnthropicBedrock if asynchronous else anthropic.AnthropicBedrock
        kwargs.update(aws_access_key=AWS_ACCESS_KEY, aws_secret_key=AWS_SECRET_KEY, aws_region=AWS_REGION)
        if base_url is not None:
            kwargs["base_url"] = base_url
    elif platform == "vertex":
        cls = anthropic.AsyncAnthropicVertex if asynchronous else anthropic.AnthropicVertex
        kwargs.update(access_token=VERTEX_ACCESS_TOKEN, region=VERTEX_REGION, project_id=VERTEX_PROJECT)
        if base_url is not None:
            kwargs["base_url"] = f"{base_url}/v1"
    else:
        raise ValueError(f"unknown platform {platform!r}")
    return cls(**kwargs)


def run_sync(scenario: Scenario, client: Any) -> Outcome:
    """Runs the scenario's call with a sync client, reading every stream to its end."""
    import anthropic

    outcome = Outcome()
    request = scenario.request()
    try:
        if scenario.kind == "create":
            outcome.message = client.messages.create(**request)
        elif scenario.kind == "create_stream":
            stream = client.messages.create(stream=True, **request)
            with stream:
                for event in stream:
                    outcome.events.append(event)
        elif scenario.kind == "stream_text":
            with client.messages.stream(**request) as stream:
                outcome.text_stream = "".join(stream.text_stream)
                stream.until_done()
                outcome.message = stream.get_final_message()
                outcome.final_text = stream.get_final_text()
        elif scenario.kind == "stream_events":
            with client.messages.stream(**request) as stream:
                for event in stream:
                    outcome.events.append(event)
                outcome.message = stream.get_final_message()
        elif scenario.kind == "parse":
            outcome.message = client.messages.parse(**request)
        elif scenario.kind == "beta_create":
            outcome.message = client.beta.messages.create(**request)
        elif scenario.kind == "count_tokens":
            outcome.result = client.messages.count_tokens(**request)
        else:
            raise ValueError(f"unknown kind {scenario.kind!r}")
    except anthropic.APIStatusError as error:
        outcome.error = error
    return outcome


async def run_async(scenario: Scenario, client: Any) -> Outcome:
    """Runs the scenario's call with an async client, reading every stream to its end."""
    import anthropic

    outcome = Outcome()
    request = scenario.request()
    try:
        if scenario.kind == "create":
            outcome.message = await client.messages.create(**request)
        elif scenario.kind == "create_stream":
            stream = await client.messages.create(stream=True, **request)
            async with stream:
                async for event in stream:
                    outcome.events.append(event)
        elif scenario.kind == "stream_text":
            async with client.messages.stream(**request) as stream:
                outcome.text_stream = "".join([text async for text in stream.text_stream])
                await stream.until_done()
                outcome.message = await stream.get_final_message()
                outcome.final_text = await stream.get_final_text()
        elif scenario.kind == "stream_events":
            async with client.messages.stream(**request) as stream:
                async for event in stream:
                    outcome.events.append(event)
                outcome.message = await stream.get_final_message()
        elif scenario.kind == "parse":
            outcome.message = await client.messages.parse(**request)
        elif scenario.kind == "beta_create":
            outcome.message = await client.beta.messages.create(**request)
        elif scenario.kind == "count_tokens":
            outcome.result = await client.messages.count_tokens(**request)
        else:
            raise ValueError(f"unknown kind {scenario.kind!r}")
    except anthropic.APIStatusError as error:
        outcome.error = error
    return outcome


AsyncRunner = Callable[[Scenario, Any], Awaitable[Outcome]]

# --- vcrpy -------------------------------------------------------------------------------------


def vendor_base(path: str) -> str:
    """The real host of the vendor that serves `path`."""
    if path.startswith("/model/"):
        return HOSTS["bedrock"]
    if path.startswith("/v1/projects/"):
        return HOSTS["vertex"]
    return HOSTS["anthropic"]


def rewrite_request(request: Any) -> Any:
    """vcrpy `before_record_request`: the vendor's real URI and Host; no local address left."""
    parts = urlsplit(request.uri)
    if parts.hostname in ("127.0.0.1", "localhost"):
        base = urlsplit(vendor_base(parts.path))
        request.uri = urlunsplit((base.scheme, base.netloc, parts.path, parts.query, parts.fragment))
        if "host" in request.headers:
            request.headers["host"] = base.netloc
    return request


def scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    """vcrpy `before_record_response`: drops credential-bearing response headers."""
    headers = response.get("headers", {})
    for name in list(headers):
        if name.lower() in FILTERED_RESPONSE_HEADERS:
            del headers[name]
    return response


def recording_vcr() -> Any:
    import vcr

    return vcr.VCR(
        serializer="yaml",
        record_mode="all",
        match_on=MATCH_ON,
        filter_headers=list(FILTERED_REQUEST_HEADERS),
        before_record_request=rewrite_request,
        before_record_response=scrub_response,
        decode_compressed_response=True,
    )


def find_secrets(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return [secret for secret in SECRETS if secret in text]


# --- main ----------------------------------------------------------------------------------------


def record(names: list[str], *, verbose: bool = False) -> int:
    # The SDK's own tracing: off for clients constructed from here on (read at construction).
    os.environ["ANTHROPIC_OPEN_TELEMETRY"] = "false"
    for variable in ("ANTHROPIC_BASE_URL", "ANTHROPIC_BEDROCK_BASE_URL", "ANTHROPIC_VERTEX_BASE_URL"):
        os.environ.pop(variable, None)
    sys.path.insert(0, str(HERE))
    from fake_anthropic_server import FakeAnthropicServer

    CASSETTES.mkdir(exist_ok=True)
    recorder = recording_vcr()
    failures = 0
    started = time.monotonic()
    with FakeAnthropicServer(lifetime=300, verbose=verbose) as server:
        for name in names:
            scenario = SCENARIOS_BY_NAME[name]
            path = cassette_path(name)
            if path.exists():
                path.unlink()
            client = make_client(scenario.platform, base_url=server.url, **scenario.client_options)
            with recorder.use_cassette(str(path)) as cassette:
                outcome = run_sync(scenario, client)
            client.close()
            secrets = find_secrets(path) if path.exists() else []
            traceparent = path.exists() and "traceparent" in path.read_text(encoding="utf-8").lower()
            status = "error " + type(outcome.error).__name__ if outcome.error else "ok"
            print(f"{name:28} {len(cassette.requests)} request(s)  {status}")
            if not path.exists() or not cassette.requests or secrets or traceparent:
                failures += 1
                print(f"  !! missing cassette, secrets {secrets} or traceparent={traceparent}", file=sys.stderr)
    print(f"recorded {len(names)} cassette(s) in {time.monotonic() - started:.1f}s into {CASSETTES}")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="*", help="scenario names (default: all)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--verbose", action="store_true", help="log the fake server's requests")
    args = parser.parse_args(argv)
    if args.list:
        for scenario in SCENARIOS:
            print(f"{scenario.name:28} {scenario.sdk_method:58} {scenario.description}")
        return 0
    unknown = [name for name in args.scenarios if name not in SCENARIOS_BY_NAME]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    return record(args.scenarios or [scenario.name for scenario in SCENARIOS], verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())
