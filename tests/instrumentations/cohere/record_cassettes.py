"""Record the Cohere cassettes by driving the real SDK against the fake server.

Run from the repository root::

    python tests/instrumentations/cohere/record_cassettes.py [scenario ...]

Nothing here talks to api.cohere.com: the client is pointed at ``FakeCohereServer``
(``base_url=``) and vcrpy records the exchanges. Before a request is written its URI is
moved from the local server to ``https://api.cohere.com`` (and its ``host`` header
likewise), so the cassettes replay under a client built with the default URL.
Credentials and the fault header are dropped, and each cassette is checked afterwards:
neither fake key nor the local address may appear in it, and it holds one interaction.
Error scenarios are recorded with ``max_retries=0`` (the SDK retries 429 and 5xx).

``SCENARIOS`` is also imported by ``cohere_cassettes_test.py`` and ``cohere_test.py``.
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

API_URL = "https://api.cohere.com"
API_KEY = "cohere-test-0000"  # the key the fake server accepts
INVALID_API_KEY = "cohere-test-invalid"  # chat_error_401
SECRETS = (API_KEY, INVALID_API_KEY)
FAULT_HEADER = "x-fake-cohere-fault"  # as fake_cohere_server.FAULT_HEADER
FILTERED_HEADERS = ("authorization", "x-api-key", "api-key", "cookie", "set-cookie")
MATCH_ON = ("method", "scheme", "host", "port", "path", "query")

CHAT_MODEL = "command-a-03-2025"
V1_CHAT_MODEL = "command-r-plus-08-2024"
EMBED_MODEL = "embed-v4.0"
RERANK_MODEL = "rerank-v3.5"

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
TOOL_CALL_ID = "get_weather_1byjy32y4hvq"
TOOL_RESULT = '{"temperature": 18, "conditions": "sunny"}'
DOCUMENTS = [
    "Carson City is the capital city of the American state of Nevada.",
    "Washington, D.C. is the capital of the United States.",
    "Capital gains are profits from the sale of an asset.",
]


@dataclass(frozen=True)
class Scenario:
    """One cassette: ``client.<method>(**kwargs)`` on a v2 (``ClientV2``) or v1 (``Client``) client."""

    method: str  # chat, chat_stream, embed, rerank
    kwargs: dict[str, Any]
    api: str = "v2"
    api_key: str = API_KEY
    fault: str | None = None  # x-fake-cohere-fault value, stripped from the cassette
    error: str | None = None  # the exception class (cohere.errors) the call must raise
    doc: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def streaming(self) -> bool:
        return self.method == "chat_stream"


_CAPITAL = [{"role": "user", "content": "What is the capital of France?"}]
_WEATHER = [{"role": "user", "content": "What's the weather like in Paris today?"}]

SCENARIOS: dict[str, Scenario] = {
    "chat": Scenario(
        "chat",
        {
            "model": CHAT_MODEL,
            "messages": [{"role": "system", "content": "You are a concise geography assistant."}, *_CAPITAL],
            "temperature": 0.3,
            "p": 0.9,
            "k": 40,
            "max_tokens": 64,
            "seed": 7,
            "stop_sequences": ["\n\n"],
            "frequency_penalty": 0.1,
            "presence_penalty": 0.2,
        },
        doc="system + user; every sampling parameter; finish COMPLETE; tokens differ from billed_units",
    ),
    "chat_tools": Scenario(
        "chat",
        {"model": CHAT_MODEL, "messages": _WEATHER, "tools": [WEATHER_TOOL]},
        doc="tool_plan + one tool call get_weather({location: Paris}), finish TOOL_CALL",
    ),
    "chat_tool_result": Scenario(
        "chat",
        {
            "model": CHAT_MODEL,
            "messages": [
                *_WEATHER,
                {
                    "role": "assistant",
                    "tool_plan": "I will look up the weather in Paris.",
                    "tool_calls": [
                        {"id": TOOL_CALL_ID, "type": "function",
                         "function": {"name": "get_weather", "arguments": '{"location": "Paris"}'}}
                    ],
                },
                {"role": "tool", "tool_call_id": TOOL_CALL_ID,
                 "content": [{"type": "document", "document": {"data": TOOL_RESULT}}]},
            ],
            "tools": [WEATHER_TOOL],
        },
        doc="follow-up turn: the assistant's tool call and the tool's document result",
    ),
    "chat_stream": Scenario(
        "chat_stream",
        {"model": CHAT_MODEL, "messages": _CAPITAL, "temperature": 0.3, "max_tokens": 64},
        doc="message-start, content-start, 4 content-delta, content-end, message-end with usage",
    ),
    "chat_stream_tools": Scenario(
        "chat_stream",
        {"model": CHAT_MODEL, "messages": _WEATHER, "tools": [WEATHER_TOOL]},
        doc="tool-plan-delta x2, tool-call-start, tool-call-delta x3, tool-call-end, message-end TOOL_CALL",
    ),
    "embed": Scenario(
        "embed",
        {
            "model": EMBED_MODEL,
            "texts": ["What is the best French cheese?", "Paris is the capital of France."],
            "input_type": "search_document",
            "embedding_types": ["float"],
        },
        doc="two texts, two 8-float vectors, billed input tokens only (no output_dimension: cohere 5.x lacks it)",
    ),
    "rerank": Scenario(
        "rerank",
        {"model": RERANK_MODEL, "query": "What is the capital of the United States?", "documents": DOCUMENTS,
         "top_n": 2},
        doc="3 documents, top 2 results with relevance scores, 1 search unit",
    ),
    "chat_error_400": Scenario(
        "chat",
        {"model": "no-such-model", "messages": _CAPITAL},
        fault="bad_request",
        error="BadRequestError",
        doc="400 {message}: not retried",
    ),
    "chat_error_401": Scenario(
        "chat",
        {"model": CHAT_MODEL, "messages": _CAPITAL},
        api_key=INVALID_API_KEY,
        error="UnauthorizedError",
        doc="rejected key: 401 {message: invalid api token}",
    ),
    "chat_error_429": Scenario(
        "chat",
        {"model": CHAT_MODEL, "messages": _CAPITAL},
        fault="rate_limit",
        error="TooManyRequestsError",
        doc="429, recorded with max_retries=0 (the SDK retries 429 twice by default)",
    ),
    "chat_stream_error_400": Scenario(
        "chat_stream",
        {"model": "no-such-model", "messages": _CAPITAL},
        fault="bad_request",
        error="BadRequestError",
        doc="chat_stream raises at its first next(): an error status before any event",
    ),
    "v1_chat": Scenario(
        "chat",
        {
            "model": V1_CHAT_MODEL,
            "message": "What is the capital of France?",
            "preamble": "You are a concise geography assistant.",
            "chat_history": [
                {"role": "USER", "message": "Hello!"},
                {"role": "CHATBOT", "message": "Hi! How can I help?"},
            ],
            "temperature": 0.3,
            "max_tokens": 64,
        },
        api="v1",
        doc="v1 chat: message, preamble, chat_history; meta.tokens and meta.billed_units",
    ),
    "v1_chat_stream": Scenario(
        "chat_stream",
        {"model": V1_CHAT_MODEL, "message": "What is the capital of France?"},
        api="v1",
        doc="v1 NDJSON stream: stream-start, 4 text-generation, stream-end with the whole response",
    ),
    "v1_embed": Scenario(
        "embed",
        {"model": EMBED_MODEL, "texts": ["What is the best French cheese?", "Paris is the capital of France."],
         "input_type": "search_document"},
        api="v1",
        doc="v1 embed (Client.embed: one batch on the client's thread pool), embeddings_floats",
    ),
    "v1_rerank": Scenario(
        "rerank",
        {"model": RERANK_MODEL, "query": "What is the capital of the United States?", "documents": DOCUMENTS},
        api="v1",
        doc="v1 rerank: all 3 results",
    ),
}


def make_client(api: str = "v2", is_async: bool = False, api_key: str = API_KEY, base_url: str | None = None,
                **options: Any) -> Any:
    """A real SDK client; ``base_url=None`` means Cohere's default (``https://api.cohere.com``)."""
    import cohere

    if api == "v2":
        cls = cohere.AsyncClientV2 if is_async else cohere.ClientV2
    else:
        cls = cohere.AsyncClient if is_async else cohere.Client
    return cls(api_key=api_key, base_url=base_url, **options)


def call_kwargs(scenario: Scenario) -> dict[str, Any]:
    kwargs = dict(scenario.kwargs)
    options: dict[str, Any] = {}
    if scenario.fault:
        options["additional_headers"] = {FAULT_HEADER: scenario.fault}
    if scenario.error:
        options["max_retries"] = 0
    if options:
        kwargs["request_options"] = options
    return kwargs


def run_scenario(client: Any, scenario: Scenario) -> Any:
    """Call the SDK the way the scenario says (sync); drain streams; return the exception expected."""
    call = getattr(client, scenario.method)
    try:
        result = call(**call_kwargs(scenario))
        if scenario.streaming:
            result = list(result)
    except Exception as exc:
        if scenario.error and type(exc).__name__ == scenario.error:
            return exc
        raise
    if scenario.error:
        raise AssertionError(f"expected {scenario.error}, got {result!r}")
    return result


# -- vcrpy hooks -------------------------------------------------------------


def _rewrite_request(base_url: str) -> Any:
    local = urlsplit(base_url)
    public = urlsplit(API_URL)

    def before_record_request(request: Any) -> Any:
        parts = urlsplit(request.uri)
        if (parts.scheme, parts.netloc) == (local.scheme, local.netloc):
            request.uri = urlunsplit((public.scheme, public.netloc, parts.path, parts.query, ""))
        for name in list(request.headers):
            lowered = name.lower()
            if lowered in FILTERED_HEADERS or lowered == FAULT_HEADER or lowered.startswith("x-fern-platform"):
                del request.headers[name]
            elif lowered == "host":
                request.headers[name] = public.netloc
        return request

    return before_record_request


def before_record_response(response: Any) -> Any:
    headers = response["headers"]
    for name in list(headers):
        if name.lower() in FILTERED_HEADERS or name.lower() in ("server", "date"):
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


def verify_cassette(path: Path) -> None:
    import yaml

    text = path.read_text()
    for secret in (*SECRETS, "127.0.0.1", "localhost", FAULT_HEADER):
        if secret in text:
            raise AssertionError(f"{path.name}: contains {secret!r}")
    interactions = yaml.safe_load(text)["interactions"]
    if len(interactions) != 1:
        raise AssertionError(f"{path.name}: {len(interactions)} interactions, expected 1")
    request = interactions[0]["request"]
    if not request["uri"].startswith(API_URL + "/v"):
        raise AssertionError(f"{path.name}: uri {request['uri']}")
    sent = {h.lower() for h in request["headers"]}
    received = {h.lower() for h in interactions[0]["response"]["headers"]}
    leaked = (sent | received) & set(FILTERED_HEADERS)
    if leaked:
        raise AssertionError(f"{path.name}: headers {sorted(leaked)} not filtered")


def record(names: list[str]) -> None:
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    from fake_cohere_server import FakeCohereServer

    CASSETTE_DIR.mkdir(exist_ok=True)
    with FakeCohereServer(api_keys=(API_KEY,), max_lifetime=300) as server:
        my_vcr = recording_vcr(server.url)
        for name in names:
            scenario = SCENARIOS[name]
            path = CASSETTE_DIR / f"{name}.yaml"
            path.unlink(missing_ok=True)
            client = make_client(scenario.api, api_key=scenario.api_key, base_url=server.url)
            with my_vcr.use_cassette(path.name):
                outcome = run_scenario(client, scenario)
            verify_cassette(path)
            summary = f"{len(outcome)} events" if isinstance(outcome, list) else type(outcome).__name__
            print(f"recorded {path.relative_to(HERE)}: {scenario.api} {scenario.method} -> {summary}")


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
