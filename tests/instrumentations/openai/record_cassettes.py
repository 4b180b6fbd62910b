"""Record the OpenAI cassettes against the local fake API (never against api.openai.com).

    /work/venv/bin/python tests/instrumentations/openai/record_cassettes.py [scenario ...]

For every scenario this starts nothing new: one ``FakeOpenAIServer`` serves them all.
Each scenario drives the real ``openai`` SDK (sync client) through vcrpy in record
mode and writes ``cassettes/<scenario>.yaml``. Before an interaction is written:

* its URI is moved from the fake server to the vendor's real host
  (``https://api.openai.com/v1``, the Azure endpoint, or the OpenAI-compatible
  ``base_url``) and the ``host`` header follows, so that replays with the SDK's
  default base URLs match on method, scheme, host, port, path and query;
* credentials and account headers are dropped from the request and the response
  (``FILTERED_HEADERS``) together with the recorder-only ``X-Fake-OpenAI-Behavior``.

Afterwards every cassette is checked for leaked keys, the fake host, and filtered
headers. The scenario table (``SCENARIOS``) is importable: replay tests use the same
client settings and call arguments (``make_client``, ``Scenario.kwargs``).
"""

from __future__ import annotations

import base64
import struct
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import pydantic  # noqa: E402
import vcr  # noqa: E402
import yaml  # noqa: E402
from fake_openai_server import BEHAVIOR_HEADER, FakeOpenAIServer  # noqa: E402
from openai import (  # noqa: E402
    APIError,
    AsyncAzureOpenAI,
    AsyncOpenAI,
    AuthenticationError,
    AzureOpenAI,
    InternalServerError,
    OpenAI,
    RateLimitError,
)

CASSETTE_DIR = HERE / "cassettes"

FAKE_API_KEY = "sk-test-0000"
INVALID_API_KEY = "sk-test-invalid-0000"
AZURE_API_KEY = "test-azure-key-0000"
AZURE_API_VERSION = "2024-10-21"
AZURE_ENDPOINT = "https://myresource.openai.azure.com"
AZURE_DEPLOYMENT = "my-gpt4o-deployment"
OPENAI_BASE_URL = "https://api.openai.com/v1"
COMPAT_BASE_URL = "https://llm.internal.example:8443/v1"
SECRETS = (FAKE_API_KEY, INVALID_API_KEY, AZURE_API_KEY)

MATCH_ON = ("method", "scheme", "host", "port", "path", "query")
FILTERED_HEADERS = (
    "authorization",
    "api-key",
    "x-api-key",
    "openai-organization",
    "openai-project",
    "cookie",
    "set-cookie",
)
TARGET_BASE_URLS = {"openai": OPENAI_BASE_URL, "azure": AZURE_ENDPOINT, "compat": COMPAT_BASE_URL}


# --------------------------------------------------------------------------------------
# Clients
# --------------------------------------------------------------------------------------


def make_client(target: str = "openai", *, is_async: bool = False, server: FakeOpenAIServer | None = None,
                **options: Any) -> Any:
    """The client a scenario uses: pointed at the fake server when recording, at the vendor's URL otherwise."""
    if target == "azure":
        azure_cls = AsyncAzureOpenAI if is_async else AzureOpenAI
        return azure_cls(api_key=options.pop("api_key", AZURE_API_KEY), api_version=AZURE_API_VERSION,
                         azure_endpoint=server.base_url if server else AZURE_ENDPOINT, **options)
    openai_cls = AsyncOpenAI if is_async else OpenAI
    options.setdefault("api_key", FAKE_API_KEY)
    if target == "compat":
        options["base_url"] = server.openai_base_url if server else COMPAT_BASE_URL
    elif server is not None:
        options["base_url"] = server.openai_base_url
    return openai_cls(**options)


# --------------------------------------------------------------------------------------
# Shared request material
# --------------------------------------------------------------------------------------


def tiny_png(width: int = 8, height: int = 8, rgb: tuple[int, int, int] = (220, 40, 40)) -> bytes:
    """A valid solid-colour PNG, built with the stdlib."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


IMAGE_DATA_URI = "data:image/png;base64," + base64.b64encode(tiny_png()).decode("ascii")

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and country, e.g. Paris, France"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location", "unit"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_local_time",
        "description": "Get the current local time in a given IANA timezone",
        "parameters": {
            "type": "object",
            "properties": {"timezone": {"type": "string", "description": "IANA timezone, e.g. Europe/Paris"}},
            "required": ["timezone"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}
RESPONSES_WEATHER_TOOL = {"type": "function", **WEATHER_TOOL["function"]}

# A follow-up turn: the assistant's tool calls and the tool results (ids as the API issues them).
WEATHER_CALL_ID = "call_Qm3rT8vXw2LpZc9KdF4hJy1N"
TIME_CALL_ID = "call_B7nV5sG2kWq8XeR1tYu6MzPa"
TOOL_RESULT_MESSAGES = [
    {"role": "user", "content": "What's the weather and the local time in Paris?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": WEATHER_CALL_ID, "type": "function",
             "function": {"name": "get_weather", "arguments": '{"location":"Paris, France","unit":"celsius"}'}},
            {"id": TIME_CALL_ID, "type": "function",
             "function": {"name": "get_local_time", "arguments": '{"timezone":"Europe/Paris"}'}},
        ],
    },
    {"role": "tool", "tool_call_id": WEATHER_CALL_ID,
     "content": '{"temperature": 18, "unit": "celsius", "condition": "partly cloudy"}'},
    {"role": "tool", "tool_call_id": TIME_CALL_ID, "content": '{"time": "14:05", "timezone": "Europe/Paris"}'},
]

LONG_SYSTEM_PROMPT = "You are a support assistant for the weave-agent project. " + " ".join(
    f"Rule {i}: answer briefly and cite no sources." for i in range(1, 141)
)


class CalendarEvent(pydantic.BaseModel):
    name: str
    date: str
    participants: list[str]


class CityInfo(pydantic.BaseModel):
    city: str
    country: str
    population: int


# --------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    sdk_method: str  # how the scenario calls the SDK (documentation and report)
    kwargs: dict[str, Any]
    drive: Callable[[Any, dict[str, Any]], Any]  # sync driver used while recording
    target: str = "openai"  # "openai" | "azure" | "compat"
    client_options: dict[str, Any] = field(default_factory=dict)
    behavior: str | None = None  # forced failure on the fake server (recording only)
    extra: bool = False  # not in the original brief

    @property
    def cassette(self) -> Path:
        return CASSETTE_DIR / f"{self.name}.yaml"


def _create(client: Any, kwargs: dict[str, Any]) -> Any:
    return client.chat.completions.create(**kwargs)


def _create_stream(client: Any, kwargs: dict[str, Any]) -> Any:
    return list(client.chat.completions.create(**kwargs))


def _chat_stream_helper(client: Any, kwargs: dict[str, Any]) -> Any:
    with client.chat.completions.stream(**kwargs) as stream:
        events = list(stream)
        return events, stream.get_final_completion()


def _chat_parse(client: Any, kwargs: dict[str, Any]) -> Any:
    return client.chat.completions.parse(**kwargs)


def _expect(exc: type[BaseException], fn: Callable[[Any, dict[str, Any]], Any]) -> Callable[[Any, dict[str, Any]], Any]:
    def drive(client: Any, kwargs: dict[str, Any]) -> Any:
        try:
            fn(client, kwargs)
        except exc as err:
            return err
        raise AssertionError(f"expected {exc.__name__}")

    return drive


def _responses_create(client: Any, kwargs: dict[str, Any]) -> Any:
    return client.responses.create(**kwargs)


def _responses_stream(client: Any, kwargs: dict[str, Any]) -> Any:
    return list(client.responses.create(**kwargs))


def _responses_stream_helper(client: Any, kwargs: dict[str, Any]) -> Any:
    with client.responses.stream(**kwargs) as stream:
        events = list(stream)
        return events, stream.get_final_response()


def _responses_parse(client: Any, kwargs: dict[str, Any]) -> Any:
    return client.responses.parse(**kwargs)


def _embeddings(client: Any, kwargs: dict[str, Any]) -> Any:
    return client.embeddings.create(**kwargs)


def _completions(client: Any, kwargs: dict[str, Any]) -> Any:
    return client.completions.create(**kwargs)


def _completions_stream(client: Any, kwargs: dict[str, Any]) -> Any:
    return list(client.completions.create(**kwargs))


def _raw_response(client: Any, kwargs: dict[str, Any]) -> Any:
    raw = client.chat.completions.with_raw_response.create(**kwargs)
    return raw.headers, raw.parse()


def _streaming_response(client: Any, kwargs: dict[str, Any]) -> Any:
    with client.chat.completions.with_streaming_response.create(**kwargs) as response:
        return list(response.iter_lines())


GPT = "gpt-4o-mini"
CAPITAL_Q = "What is the capital of France?"

_SCENARIO_LIST = [
    Scenario(
        "chat_create", "client.chat.completions.create",
        dict(model=GPT, messages=[{"role": "system", "content": "You are a concise assistant."},
                                  {"role": "user", "content": CAPITAL_Q}],
             temperature=0.2, top_p=0.9, max_tokens=64, seed=42, stop=["\n\n", "END"],
             presence_penalty=0.1, frequency_penalty=0.2),
        _create,
    ),
    Scenario(
        "chat_create_n2", "client.chat.completions.create(n=2)",
        dict(model=GPT, messages=[{"role": "user", "content": CAPITAL_Q}], n=2, temperature=0.8),
        _create,
    ),
    Scenario(
        "chat_stream", "client.chat.completions.create(stream=True)",
        dict(model=GPT, messages=[{"role": "user", "content": "Count from 1 to 10."}], stream=True),
        _create_stream,
    ),
    Scenario(
        "chat_stream_usage", "client.chat.completions.create(stream=True, stream_options={'include_usage': True})",
        dict(model=GPT, messages=[{"role": "user", "content": "Count from 1 to 10."}], stream=True,
             stream_options={"include_usage": True}),
        _create_stream,
    ),
    Scenario(
        "chat_tools", "client.chat.completions.create(tools=[...])",
        dict(model=GPT, messages=[{"role": "user", "content": "What's the weather like in Paris today?"}],
             tools=[WEATHER_TOOL], tool_choice="auto"),
        _create,
    ),
    Scenario(
        "chat_parallel_tools", "client.chat.completions.create(tools=[2 tools])",
        dict(model=GPT, messages=[{"role": "user", "content": "What's the weather and the local time in Paris?"}],
             tools=[WEATHER_TOOL, TIME_TOOL], parallel_tool_calls=True),
        _create,
    ),
    Scenario(
        "chat_tool_result", "client.chat.completions.create(messages=[..., assistant tool_calls, tool results])",
        dict(model=GPT, messages=TOOL_RESULT_MESSAGES, tools=[WEATHER_TOOL, TIME_TOOL]),
        _create,
    ),
    Scenario(
        "chat_stream_tools", "client.chat.completions.create(stream=True, tools=[...])",
        dict(model=GPT, messages=[{"role": "user", "content": "What's the weather like in Paris today?"}],
             tools=[WEATHER_TOOL], stream=True),
        _create_stream,
    ),
    Scenario(
        "chat_json", "client.chat.completions.create(response_format={'type': 'json_object'})",
        dict(model=GPT, messages=[{"role": "system", "content": "You are a helpful assistant designed to output JSON."},
                                  {"role": "user", "content": CAPITAL_Q}],
             response_format={"type": "json_object"}),
        _create,
    ),
    Scenario(
        "chat_parse", "client.chat.completions.parse(response_format=CalendarEvent)",
        dict(model=GPT, messages=[{"role": "system", "content": "Extract the event information."},
                                  {"role": "user", "content": "Alice and Bob are going to a science fair on Friday."}],
             response_format=CalendarEvent),
        _chat_parse,
    ),
    Scenario(
        "chat_stream_helper", "with client.chat.completions.stream(...) as stream",
        dict(model=GPT, messages=[{"role": "user", "content": "Write a haiku about the sea."}]),
        _chat_stream_helper,
    ),
    Scenario(
        "chat_image_input", "client.chat.completions.create(messages=[user: text + image_url data URI])",
        dict(model=GPT, messages=[{"role": "user", "content": [
            {"type": "text", "text": "What is in this image?"},
            {"type": "image_url", "image_url": {"url": IMAGE_DATA_URI, "detail": "low"}},
        ]}], max_tokens=100),
        _create,
    ),
    Scenario(
        "chat_stream_error", "client.chat.completions.create(stream=True) -> SSE error event mid-stream",
        dict(model=GPT, messages=[{"role": "user", "content": "Write a haiku about the sea."}], stream=True),
        _expect(APIError, _create_stream),
        behavior="stream_error",
    ),
    Scenario(
        "chat_error_401", "client.chat.completions.create (invalid key) -> AuthenticationError",
        dict(model=GPT, messages=[{"role": "user", "content": "Hello!"}]),
        _expect(AuthenticationError, _create),
        client_options={"api_key": INVALID_API_KEY},
    ),
    Scenario(
        "chat_error_429", "client.chat.completions.create (max_retries=0) -> RateLimitError",
        dict(model=GPT, messages=[{"role": "user", "content": "Hello!"}]),
        _expect(RateLimitError, _create),
        client_options={"max_retries": 0},
        behavior="rate_limit",
    ),
    Scenario(
        "chat_error_500", "client.chat.completions.create (max_retries=0) -> InternalServerError",
        dict(model=GPT, messages=[{"role": "user", "content": "Hello!"}]),
        _expect(InternalServerError, _create),
        client_options={"max_retries": 0},
        behavior="server_error",
    ),
    Scenario(
        "responses_create", "client.responses.create",
        dict(model=GPT, instructions="You are a concise assistant.", input=CAPITAL_Q, temperature=0.3,
             max_output_tokens=64),
        _responses_create,
    ),
    Scenario(
        "responses_stream", "client.responses.create(stream=True)",
        dict(model=GPT, instructions="You are a poet.", input="Write a haiku about the sea.", stream=True),
        _responses_stream,
    ),
    Scenario(
        "responses_stream_helper", "with client.responses.stream(...) as stream",
        dict(model=GPT, instructions="You are a concise assistant.", input="Tell me a joke."),
        _responses_stream_helper,
    ),
    Scenario(
        "responses_parse", "client.responses.parse(text_format=CityInfo)",
        dict(model=GPT, input=[{"role": "system", "content": "Extract the city information."},
                               {"role": "user", "content": "Tell me about Paris, the capital of France."}],
             text_format=CityInfo),
        _responses_parse,
    ),
    Scenario(
        "responses_tools", "client.responses.create(tools=[function])",
        dict(model=GPT, input="What's the weather like in Paris today?", tools=[RESPONSES_WEATHER_TOOL]),
        _responses_create,
    ),
    Scenario(
        "embeddings_create", "client.embeddings.create (SDK default encoding_format=base64)",
        dict(model="text-embedding-3-small",
             input=["The food was delicious and the waiter was friendly.", "The capital of France is Paris."]),
        _embeddings,
    ),
    Scenario(
        "completions_create", "client.completions.create (legacy)",
        dict(model="gpt-3.5-turbo-instruct", prompt="Q: What is the capital of France?\nA:", max_tokens=32,
             temperature=0),
        _completions,
    ),
    Scenario(
        "completions_stream", "client.completions.create(stream=True) (legacy)",
        dict(model="gpt-3.5-turbo-instruct", prompt="Count from 1 to 10:", max_tokens=32, stream=True),
        _completions_stream,
    ),
    Scenario(
        "azure_chat_create", "AzureOpenAI(...).chat.completions.create(model=<deployment>)",
        dict(model=AZURE_DEPLOYMENT, messages=[{"role": "system", "content": "You are a concise assistant."},
                                               {"role": "user", "content": CAPITAL_Q}],
             temperature=0.2, max_tokens=64),
        _create,
        target="azure",
    ),
    Scenario(
        "compat_chat_create", "OpenAI(base_url=<compatible server>).chat.completions.create",
        dict(model="llama-3.1-8b-instruct", messages=[{"role": "user", "content": CAPITAL_Q}], temperature=0.7,
             max_tokens=64),
        _create,
        target="compat",
    ),
    Scenario(
        "raw_response_chat", "client.chat.completions.with_raw_response.create",
        dict(model=GPT, messages=[{"role": "user", "content": "Tell me a joke."}]),
        _raw_response,
    ),
    Scenario(
        "streaming_response_chat", "with client.chat.completions.with_streaming_response.create(stream=True)",
        dict(model=GPT, messages=[{"role": "user", "content": "Count from 1 to 10."}], stream=True),
        _streaming_response,
    ),
    # Not in the original brief: non-zero cache and reasoning token counts.
    Scenario(
        "chat_cached_prompt", "client.chat.completions.create(prompt_cache_key=..., long system prompt)",
        dict(model=GPT, messages=[{"role": "system", "content": LONG_SYSTEM_PROMPT},
                                  {"role": "user", "content": CAPITAL_Q}],
             prompt_cache_key="weave-agent-tests"),
        _create,
        extra=True,
    ),
    Scenario(
        "responses_reasoning", "client.responses.create(model='o4-mini', reasoning={...})",
        dict(model="o4-mini", input=CAPITAL_Q, reasoning={"effort": "low", "summary": "auto"}),
        _responses_create,
        extra=True,
    ),
]
SCENARIOS: dict[str, Scenario] = {s.name: s for s in _SCENARIO_LIST}


# --------------------------------------------------------------------------------------
# Recording
# --------------------------------------------------------------------------------------


def _rewriter(server: FakeOpenAIServer, target: str) -> Callable[[Any], Any]:
    source = server.base_url if target == "azure" else server.openai_base_url
    destination = TARGET_BASE_URLS[target]
    netloc = urlsplit(destination).netloc
    dropped = {h.lower() for h in FILTERED_HEADERS} | {BEHAVIOR_HEADER.lower()}

    def before_record_request(request: Any) -> Any:
        # vcrpy applies this hook more than once to the same request: keep it idempotent.
        if request.uri.startswith(source):
            request.uri = destination + request.uri[len(source):]
        elif not request.uri.startswith(destination):
            raise RuntimeError(f"unexpected request to {request.uri} (expected {source}...)")
        for name in list(request.headers):
            if name.lower() in dropped:
                del request.headers[name]
            elif name.lower() == "host":
                request.headers[name] = netloc
        return request

    return before_record_request


def _strip_response_headers(response: dict[str, Any]) -> dict[str, Any]:
    dropped = {h.lower() for h in FILTERED_HEADERS}
    response["headers"] = {k: v for k, v in response["headers"].items() if k.lower() not in dropped}
    return response


def record(scenario: Scenario, server: FakeOpenAIServer) -> Any:
    scenario.cassette.parent.mkdir(parents=True, exist_ok=True)
    if scenario.cassette.exists():
        scenario.cassette.unlink()
    options = dict(scenario.client_options)
    if scenario.behavior:
        options["default_headers"] = {BEHAVIOR_HEADER: scenario.behavior}
    recorder = vcr.VCR(
        record_mode="all",
        match_on=MATCH_ON,
        filter_headers=list(FILTERED_HEADERS),
        before_record_request=_rewriter(server, scenario.target),
        before_record_response=_strip_response_headers,
        decode_compressed_response=True,
    )
    seen = len(server.requests)
    client = make_client(scenario.target, server=server, **options)
    try:
        with recorder.use_cassette(str(scenario.cassette)) as cassette:
            result = scenario.drive(client, dict(scenario.kwargs))
            recorded = len(cassette)
    finally:
        client.close()
    sent = len(server.requests) - seen
    if recorded != 1 or sent != 1:
        raise AssertionError(f"{scenario.name}: expected one interaction, recorded {recorded}, server saw {sent}")
    return result


def check_cassette(path: Path) -> list[str]:
    """Problems in a cassette file: leaked keys, the fake host, filtered headers, unexpected hosts."""
    problems = []
    text = path.read_text()
    for secret in SECRETS:
        if secret in text:
            problems.append(f"{path.name}: contains the key {secret!r}")
    for host in ("127.0.0.1", "localhost"):
        if host in text:
            problems.append(f"{path.name}: mentions {host}")
    data = yaml.safe_load(text)
    allowed_hosts = {urlsplit(u).netloc for u in TARGET_BASE_URLS.values()}
    for interaction in data["interactions"]:
        request, response = interaction["request"], interaction["response"]
        if urlsplit(request["uri"]).netloc not in allowed_hosts:
            problems.append(f"{path.name}: request to {request['uri']}")
        for where, headers in (("request", request["headers"]), ("response", response["headers"])):
            for name in headers:
                if name.lower() in FILTERED_HEADERS or name.lower() == BEHAVIOR_HEADER.lower():
                    problems.append(f"{path.name}: {where} header {name!r} was not filtered")
    return problems


def main(argv: list[str]) -> int:
    names = argv or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        print(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    with FakeOpenAIServer(lifetime=300) as server:
        for name in names:
            record(SCENARIOS[name], server)
            print(f"recorded {SCENARIOS[name].cassette.relative_to(HERE)}")
    problems = [p for path in sorted(CASSETTE_DIR.glob("*.yaml")) for p in check_cassette(path)]
    for problem in problems:
        print("PROBLEM:", problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
