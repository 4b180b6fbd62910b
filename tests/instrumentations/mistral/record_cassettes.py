"""Record the Mistral cassettes by driving the real SDK against the fake server.

Run from the repository root::

    /work/venv/bin/python tests/instrumentations/mistral/record_cassettes.py [scenario ...]

Nothing here talks to api.mistral.ai: the client is pointed at
``FakeMistralServer`` (``Mistral(server_url=...)``) and vcrpy records the
exchanges. Before a request is written its URI is rewritten from the local
server to ``https://api.mistral.ai`` (and its ``host`` header likewise), so
the cassettes replay under a client built with the default server URL.
Credentials and cookies are filtered out, and the cassettes are checked
afterwards: neither fake key, nor the local address, may appear in them.

``SCENARIOS`` is also imported by ``cassettes_test.py``, which replays every
cassette with the same calls.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
CASSETTE_DIR = HERE / "cassettes"

API_URL = "https://api.mistral.ai"
API_KEY = "mistral-test-0000"  # the key the fake server accepts
INVALID_API_KEY = "mistral-test-invalid"  # used by chat_error_401
SECRETS = (API_KEY, INVALID_API_KEY)
FAULT_HEADER = "x-fake-mistral-fault"  # same value as fake_mistral_server.FAULT_HEADER

MATCH_ON = ("method", "scheme", "host", "port", "path", "query")
FILTERED_HEADERS = ("authorization", "x-api-key", "api-key", "cookie", "set-cookie")

CHAT_MODEL = "mistral-small-latest"
EMBED_MODEL = "mistral-embed"
FIM_MODEL = "codestral-latest"

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a given city.",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string", "description": "The city, e.g. Paris"}},
            "required": ["location"],
        },
    },
}
TOOL_CALL_ID = "D681PevKs"
TOOL_RESULT = '{"temperature": 18, "conditions": "sunny"}'
FIM_PROMPT = "def fibonacci(n: int) -> int:\n"
FIM_SUFFIX = "\n\nprint(fibonacci(10))\n"


@dataclass(frozen=True)
class Scenario:
    """One cassette: ``client.<resource>.<method>(**kwargs)``."""

    resource: str  # "chat", "fim" or "embeddings"
    method: str  # the sync name; the async twin is f"{method}_async"
    kwargs: dict[str, Any]
    streaming: bool = False
    api_key: str = API_KEY
    fault: str | None = None  # x-fake-mistral-fault value, stripped from the cassette
    error: str | None = None  # name in mistralai.client.errors the call must raise
    doc: str = ""


def _user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


_CAPITAL = [_user("What is the capital of France?")]

SCENARIOS: dict[str, Scenario] = {
    "chat_complete": Scenario(
        "chat",
        "complete",
        {
            "model": CHAT_MODEL,
            "messages": [
                {"role": "system", "content": "You are a concise geography assistant."},
                _user("What is the capital of France?"),
            ],
            "temperature": 0.2,
            "top_p": 0.9,
            "max_tokens": 64,
            "random_seed": 42,
            "stop": ["\n\n"],
        },
        doc="system + user; temperature, top_p, max_tokens, random_seed, stop",
    ),
    "chat_stream": Scenario(
        "chat",
        "stream",
        {
            "model": CHAT_MODEL,
            "messages": _CAPITAL,
            "temperature": 0.2,
            "max_tokens": 64,
        },
        streaming=True,
        doc="role delta, several content deltas, last chunk with finish_reason stop + usage, [DONE]",
    ),
    "chat_tools": Scenario(
        "chat",
        "complete",
        {
            "model": CHAT_MODEL,
            "messages": [_user("What's the weather like in Paris today?")],
            "tools": [WEATHER_TOOL],
            "tool_choice": "auto",
        },
        doc="one tool call get_weather({location: Paris}), finish_reason tool_calls",
    ),
    "chat_tool_result": Scenario(
        "chat",
        "complete",
        {
            "model": CHAT_MODEL,
            "messages": [
                _user("What's the weather like in Paris today?"),
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [
                        {
                            "id": TOOL_CALL_ID,
                            "type": "function",
                            "function": {
                                "name": "get_weather",
                                "arguments": '{"location": "Paris"}',
                            },
                        }
                    ],
                },
                {
                    "role": "tool",
                    "name": "get_weather",
                    "tool_call_id": TOOL_CALL_ID,
                    "content": TOOL_RESULT,
                },
            ],
            "tools": [WEATHER_TOOL],
        },
        doc="follow-up turn carrying the assistant tool call and the tool message",
    ),
    "chat_stream_tools": Scenario(
        "chat",
        "stream",
        {
            "model": CHAT_MODEL,
            "messages": [_user("What's the weather like in Paris today?")],
            "tools": [WEATHER_TOOL],
            "tool_choice": "any",
        },
        streaming=True,
        doc="role delta, then one delta holding the whole tool call with finish_reason tool_calls + usage",
    ),
    "embeddings_create": Scenario(
        "embeddings",
        "create",
        {
            "model": EMBED_MODEL,
            "inputs": [
                "What is the best French cheese?",
                "Paris is the capital of France.",
            ],
        },
        doc="two inputs, two 1024-float embeddings, usage without completion tokens",
    ),
    "fim_complete": Scenario(
        "fim",
        "complete",
        {
            "model": FIM_MODEL,
            "prompt": FIM_PROMPT,
            "suffix": FIM_SUFFIX,
            "temperature": 0.0,
            "max_tokens": 64,
        },
        doc="fill-in-the-middle between prompt and suffix",
    ),
    "fim_stream": Scenario(
        "fim",
        "stream",
        {
            "model": FIM_MODEL,
            "prompt": FIM_PROMPT,
            "suffix": FIM_SUFFIX,
            "max_tokens": 64,
        },
        streaming=True,
        doc="FIM as SSE chunks, same chunk format as chat",
    ),
    "chat_error_401": Scenario(
        "chat",
        "complete",
        {"model": CHAT_MODEL, "messages": _CAPITAL},
        api_key=INVALID_API_KEY,
        error="SDKError",
        doc="rejected API key: 401 {message: Unauthorized, request_id}",
    ),
    "chat_error_422": Scenario(
        "chat",
        "complete",
        {"model": CHAT_MODEL, "messages": _CAPITAL, "top_p": None},
        error="HTTPValidationError",
        doc="top_p null: 422 {object: error, message: {detail: [...]}, type: invalid_request_error}",
    ),
    "chat_error_500": Scenario(
        "chat",
        "complete",
        {"model": CHAT_MODEL, "messages": _CAPITAL},
        fault="internal_server_error",
        error="SDKError",
        doc="500 {object: error, type: internal_server_error}; the SDK does not retry by default",
    ),
    "chat_stream_error": Scenario(
        "chat",
        "stream",
        {"model": CHAT_MODEL, "messages": _CAPITAL},
        streaming=True,
        fault="stream_finish_error",
        doc="HTTP 200 stream whose last chunk has finish_reason error (in-band error, no exception)",
    ),
    "chat_stream_error_422": Scenario(
        "chat",
        "stream",
        {"model": CHAT_MODEL, "messages": _CAPITAL, "temperature": None},
        streaming=True,
        error="HTTPValidationError",
        doc="stream() itself raises: error status before any event",
    ),
}


# -- vcrpy hooks -------------------------------------------------------------


def _rewrite_request(base_url: str):
    local = urlsplit(base_url)
    public = urlsplit(API_URL)

    def before_record_request(request):
        parts = urlsplit(request.uri)
        if (parts.scheme, parts.netloc) == (local.scheme, local.netloc):
            # drop the "#stream" fragment some SDK paths carry: it never goes on the wire
            request.uri = urlunsplit((public.scheme, public.netloc, parts.path, parts.query, ""))
        for name in list(request.headers):
            lowered = name.lower()
            if lowered in FILTERED_HEADERS or lowered == FAULT_HEADER:
                del request.headers[name]
            elif lowered == "host":
                request.headers[name] = public.netloc
        return request

    return before_record_request


def before_record_response(response):
    headers = response["headers"]
    for name in list(headers):
        if name.lower() in FILTERED_HEADERS or name.lower() == "server":
            del headers[name]
    return response


def recording_vcr(base_url: str):
    import vcr

    return vcr.VCR(
        serializer="yaml",
        cassette_library_dir=str(CASSETTE_DIR),
        record_mode="once",
        match_on=MATCH_ON,
        filter_headers=list(FILTERED_HEADERS),
        before_record_request=_rewrite_request(base_url),
        before_record_response=before_record_response,
        decode_compressed_response=True,
    )


# -- recording ---------------------------------------------------------------


def run_scenario(client: Any, scenario: Scenario) -> Any:
    """Call the SDK the way the scenario says (sync); drain streams."""
    from mistralai.client import errors

    call = getattr(getattr(client, scenario.resource), scenario.method)
    kwargs = dict(scenario.kwargs)
    if scenario.fault:
        kwargs["http_headers"] = {FAULT_HEADER: scenario.fault}
    try:
        result = call(**kwargs)
        if scenario.streaming:
            with result as stream:
                result = list(stream)
    except errors.MistralError as exc:
        if scenario.error and type(exc).__name__ == scenario.error:
            return exc
        raise
    if scenario.error:
        raise AssertionError(f"expected {scenario.error}, got {result!r}")
    return result


def verify_cassette(path: Path) -> None:
    import yaml

    text = path.read_text()
    for secret in (*SECRETS, "127.0.0.1", "localhost", FAULT_HEADER):
        if secret in text:
            raise AssertionError(f"{path.name}: contains {secret!r}")
    data = yaml.safe_load(text)
    interactions = data["interactions"]
    if len(interactions) != 1:
        raise AssertionError(f"{path.name}: {len(interactions)} interactions, expected 1")
    for interaction in interactions:
        request = interaction["request"]
        if not request["uri"].startswith(API_URL + "/v1/"):
            raise AssertionError(f"{path.name}: uri {request['uri']}")
        sent = {h.lower() for h in request["headers"]}
        received = {h.lower() for h in interaction["response"]["headers"]}
        leaked = (sent | received) & set(FILTERED_HEADERS)
        if leaked:
            raise AssertionError(f"{path.name}: headers {sorted(leaked)} not filtered")


def record(names: list[str]) -> None:
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    from fake_mistral_server import FakeMistralServer
    from mistralai.client import Mistral

    CASSETTE_DIR.mkdir(exist_ok=True)
    with FakeMistralServer(api_keys=(API_KEY,), max_lifetime=300) as server:
        my_vcr = recording_vcr(server.url)
        for name in names:
            scenario = SCENARIOS[name]
            path = CASSETTE_DIR / f"{name}.yaml"
            path.unlink(missing_ok=True)
            client = Mistral(api_key=scenario.api_key, server_url=server.url)
            with my_vcr.use_cassette(path.name):
                outcome = run_scenario(client, scenario)
            verify_cassette(path)
            summary = type(outcome).__name__ if not isinstance(outcome, list) else f"{len(outcome)} events"
            print(f"recorded {path.relative_to(HERE)}: {scenario.resource}.{scenario.method} -> {summary}")


def main(argv: list[str]) -> int:
    names = argv or list(SCENARIOS)
    unknown = sorted(set(names) - set(SCENARIOS))
    if unknown:
        print(
            f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(SCENARIOS)}",
            file=sys.stderr,
        )
        return 2
    record(names)
    print(json.dumps({"recorded": names}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
