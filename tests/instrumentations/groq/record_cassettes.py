"""Record the Groq cassettes by driving the real SDK against the fake server.

Run from the repository root::

    /work/venvs/groq/bin/python tests/instrumentations/groq/record_cassettes.py [scenario ...]

Nothing here talks to api.groq.com: the client is pointed at ``FakeGroqServer``
(``Groq(base_url=...)``) and vcrpy records the exchanges. Before a request is written its
URI is moved from the local server to ``https://api.groq.com`` (and its ``host`` header
likewise), so the cassettes replay under a client built with the default base URL.
Credentials and the fault header are dropped; every cassette is checked afterwards:
neither fake key nor the local address may appear in it, and it holds one interaction.

``SCENARIOS`` is also imported by ``groq_cassettes_test.py`` and ``groq_test.py``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
CASSETTE_DIR = HERE / "cassettes"

API_URL = "https://api.groq.com"
API_KEY = "gsk_test_0000"  # the key the fake server accepts
INVALID_API_KEY = "gsk_test_invalid"  # chat_error_401
SECRETS = (API_KEY, INVALID_API_KEY)
FAULT_HEADER = "x-fake-groq-fault"  # fake_groq_server.FAULT_HEADER
MATCH_ON = ("method", "scheme", "host", "port", "path", "query")
FILTERED_HEADERS = ("authorization", "x-api-key", "api-key", "cookie", "set-cookie")

CHAT_MODEL = "llama-3.3-70b-versatile"
REASONING_MODEL = "qwen/qwen3-32b"
EMBED_MODEL = "nomic-embed-text-v1_5"

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
TOOL_CALL_ID = "call_8d2kq3x0rbq1"
TOOL_RESULT = '{"temperature": 18, "conditions": "sunny"}'
CAPITAL = [{"role": "user", "content": "What is the capital of France?"}]
WEATHER = [{"role": "user", "content": "What's the weather like in Paris today?"}]


@dataclass(frozen=True)
class Scenario:
    """One cassette: ``client.<resource>.create(**kwargs)``."""

    resource: str  # "chat.completions" or "embeddings"
    kwargs: dict[str, Any]
    streaming: bool = False
    api_key: str = API_KEY
    fault: str | None = None  # x-fake-groq-fault, stripped from the cassette
    error: str | None = None  # the groq exception class the call (or its stream) raises
    client_options: dict[str, Any] = field(default_factory=dict)
    doc: str = ""


SCENARIOS: dict[str, Scenario] = {
    "chat_create": Scenario(
        "chat.completions",
        {
            "model": CHAT_MODEL,
            "messages": [{"role": "system", "content": "You are a concise geography assistant."}, *CAPITAL],
            "temperature": 0.2,
            "top_p": 0.9,
            "max_tokens": 64,
            "seed": 42,
            "stop": ["\n\n"],
        },
        doc="system + user; temperature, top_p, max_tokens, seed, stop (parameters every SDK release in the range has)",
    ),
    "chat_stream": Scenario(
        "chat.completions",
        {"model": CHAT_MODEL, "messages": CAPITAL, "temperature": 0.2, "max_tokens": 64, "stream": True},
        streaming=True,
        doc="role delta with x_groq.id, content deltas, last chunk finish_reason stop + x_groq.usage, [DONE]",
    ),
    "chat_stream_include_usage": Scenario(
        "chat.completions",
        {"model": CHAT_MODEL, "messages": CAPITAL, "stream": True,
         "extra_body": {"stream_options": {"include_usage": True}}},
        streaming=True,
        doc="as chat_stream, plus a last chunk with no choices and usage (the same counts)",
    ),
    "chat_tools": Scenario(
        "chat.completions",
        {"model": CHAT_MODEL, "messages": WEATHER, "tools": [WEATHER_TOOL], "tool_choice": "auto"},
        doc="one tool call get_weather({location: Paris}), finish_reason tool_calls",
    ),
    "chat_stream_tools": Scenario(
        "chat.completions",
        {"model": CHAT_MODEL, "messages": WEATHER, "tools": [WEATHER_TOOL], "stream": True},
        streaming=True,
        doc="the whole tool call in one delta, finish_reason tool_calls + x_groq.usage",
    ),
    "chat_tool_result": Scenario(
        "chat.completions",
        {
            "model": CHAT_MODEL,
            "messages": [
                *WEATHER,
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": TOOL_CALL_ID, "type": "function",
                     "function": {"name": "get_weather", "arguments": '{"location": "Paris"}'}}]},
                {"role": "tool", "tool_call_id": TOOL_CALL_ID, "content": TOOL_RESULT},
            ],
            "tools": [WEATHER_TOOL],
        },
        doc="the follow-up turn: the assistant's tool call and the tool message",
    ),
    "chat_reasoning": Scenario(
        "chat.completions",
        {"model": REASONING_MODEL, "messages": CAPITAL, "reasoning_format": "parsed", "reasoning_effort": "default",
         "max_completion_tokens": 256, "service_tier": "flex"},
        doc="message.reasoning, completion_tokens_details.reasoning_tokens; max_completion_tokens, service_tier",
    ),
    "chat_stream_reasoning": Scenario(
        "chat.completions",
        {"model": REASONING_MODEL, "messages": CAPITAL, "reasoning_format": "parsed", "stream": True},
        streaming=True,
        doc="delta.reasoning pieces, then content pieces",
    ),
    "embeddings_create": Scenario(
        "embeddings",
        {"model": EMBED_MODEL, "input": ["What is the best French cheese?", "Paris is the capital of France."]},
        doc="two 768-float embeddings, usage prompt_tokens/total_tokens",
    ),
    "chat_error_401": Scenario(
        "chat.completions",
        {"model": CHAT_MODEL, "messages": CAPITAL},
        api_key=INVALID_API_KEY,
        error="AuthenticationError",
        doc="401 invalid_api_key",
    ),
    "chat_error_404": Scenario(
        "chat.completions",
        {"model": "llama-9-nonexistent", "messages": CAPITAL},
        error="NotFoundError",
        doc="404 model_not_found",
    ),
    "chat_error_429": Scenario(
        "chat.completions",
        {"model": CHAT_MODEL, "messages": CAPITAL},
        fault="rate_limit",
        error="RateLimitError",
        client_options={"max_retries": 0},
        doc="429 rate_limit_exceeded with retry-after (max_retries=0: one interaction)",
    ),
    "chat_stream_error": Scenario(
        "chat.completions",
        {"model": CHAT_MODEL, "messages": WEATHER, "stream": True},
        streaming=True,
        fault="stream_error",
        error="APIError",
        doc="HTTP 200, two chunks, then an error data block (tool_use_failed): the stream raises APIError",
    ),
}


# -- vcrpy hooks -------------------------------------------------------------------------


def _rewrite_request(base_url: str) -> Any:
    local, public = urlsplit(base_url), urlsplit(API_URL)

    def before_record_request(request: Any) -> Any:
        parts = urlsplit(request.uri)
        if (parts.scheme, parts.netloc) == (local.scheme, local.netloc):
            request.uri = urlunsplit((public.scheme, public.netloc, parts.path, parts.query, ""))
        for name in list(request.headers):
            lowered = name.lower()
            if lowered in FILTERED_HEADERS or lowered == FAULT_HEADER:
                del request.headers[name]
            elif lowered == "host":
                request.headers[name] = public.netloc
        return request

    return before_record_request


def before_record_response(response: Any) -> Any:
    headers = response["headers"]
    for name in list(headers):
        if name.lower() in FILTERED_HEADERS or name.lower() == "server":
            del headers[name]
    return response


def recording_vcr(base_url: str) -> Any:
    import vcr

    return vcr.VCR(
        serializer="yaml",
        cassette_library_dir=str(CASSETTE_DIR),
        record_mode="all",
        match_on=MATCH_ON,
        filter_headers=list(FILTERED_HEADERS),
        before_record_request=_rewrite_request(base_url),
        before_record_response=before_record_response,
        decode_compressed_response=True,
    )


# -- recording ---------------------------------------------------------------------------


def resource(client: Any, scenario: Scenario) -> Any:
    target = client
    for name in scenario.resource.split("."):
        target = getattr(target, name)
    return target


def run_scenario(client: Any, scenario: Scenario) -> Any:
    """Call the SDK as the scenario says (sync); drain streams; return the result or the
    expected exception."""
    import groq

    kwargs = dict(scenario.kwargs)
    if scenario.fault:
        kwargs["extra_headers"] = {FAULT_HEADER: scenario.fault}
    try:
        result = resource(client, scenario).create(**kwargs)
        if scenario.streaming:
            with result as stream:
                result = list(stream)
    except groq.APIError as exc:
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
    interactions = yaml.safe_load(text)["interactions"]
    if len(interactions) != 1:
        raise AssertionError(f"{path.name}: {len(interactions)} interactions, expected 1")
    for interaction in interactions:
        if not interaction["request"]["uri"].startswith(API_URL + "/openai/v1/"):
            raise AssertionError(f"{path.name}: uri {interaction['request']['uri']}")
        names = {h.lower() for h in interaction["request"]["headers"]} | {
            h.lower() for h in interaction["response"]["headers"]
        }
        leaked = names & set(FILTERED_HEADERS)
        if leaked:
            raise AssertionError(f"{path.name}: headers {sorted(leaked)} not filtered")


def record(names: list[str]) -> None:
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    import groq
    from fake_groq_server import FakeGroqServer

    CASSETTE_DIR.mkdir(exist_ok=True)
    with FakeGroqServer(api_keys=(API_KEY,), max_lifetime=300) as server:
        my_vcr = recording_vcr(server.url)
        for name in names:
            scenario = SCENARIOS[name]
            path = CASSETTE_DIR / f"{name}.yaml"
            path.unlink(missing_ok=True)
            client = groq.Groq(api_key=scenario.api_key, base_url=server.url, **scenario.client_options)
            with my_vcr.use_cassette(path.name):
                outcome = run_scenario(client, scenario)
            verify_cassette(path)
            summary = f"{len(outcome)} chunks" if isinstance(outcome, list) else type(outcome).__name__
            print(f"recorded {path.relative_to(HERE)}: {scenario.resource}.create -> {summary}")


def main(argv: list[str]) -> int:
    names = argv or list(SCENARIOS)
    unknown = sorted(set(names) - set(SCENARIOS))
    if unknown:
        print(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    record(names)
    print(json.dumps({"recorded": names}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
