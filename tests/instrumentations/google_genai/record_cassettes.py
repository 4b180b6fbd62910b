"""Record the Google Gen AI cassettes by driving the real SDK against the fake server.

Run from the repository root::

    /work/venvs/google_genai/bin/python tests/instrumentations/google_genai/record_cassettes.py [scenario ...]

Nothing here talks to Google: the client keeps its default base URL (so the cassettes
hold the real hosts and replay under a client built without options), and its HTTP client
(``http_options.httpx_client``) has a transport that sends every request to
``FakeGeminiServer`` on 127.0.0.1 instead. vcrpy records above the transport, so it
writes the URL the SDK asked for. Credentials (``x-goog-api-key``, ``authorization``) and
the fault header are dropped, and every cassette is checked afterwards.

``SCENARIOS`` and ``drive`` are imported by the cassette test and the instrumentation
tests, which replay every cassette with the same calls, sync and async.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CASSETTE_DIR = HERE / "cassettes"

GEMINI_HOST = "generativelanguage.googleapis.com"
GEMINI_API_VERSION = "v1beta"
VERTEX_HOST = "aiplatform.googleapis.com"
VERTEX_REGION_HOST = "us-central1-aiplatform.googleapis.com"
API_KEY = "gemini-test-0000"  # the key the fake server accepts
INVALID_API_KEY = "gemini-test-invalid"  # generate_error_400
VERTEX_TOKEN = "ya29.vertex-test-token"  # a bearer token the Vertex project client sends
PROJECT, LOCATION = "weave-test-project", "us-central1"
SECRETS = (API_KEY, INVALID_API_KEY, VERTEX_TOKEN)
FAULT_HEADER = "x-fake-gemini-fault"

MATCH_ON = ("method", "scheme", "host", "port", "path", "query")
FILTERED_HEADERS = ("x-goog-api-key", "authorization", "cookie", "set-cookie", "x-goog-user-project")

MODEL = "gemini-2.5-flash"
EMBED_MODEL = "gemini-embedding-001"
SYSTEM = "You are a concise geography assistant."
QUESTION = "What is the capital of France?"
WEATHER_QUESTION = "What's the weather like in Paris today?"

WEATHER_DECLARATION = {
    "name": "get_weather",
    "description": "Get the current weather in a given city.",
    "parameters": {
        "type": "OBJECT",
        "properties": {"location": {"type": "STRING", "description": "The city, e.g. Paris"}},
        "required": ["location"],
    },
}
CACHED_CONTENT = "cachedContents/geography-cache"
WEATHER_RESULT = {"temperature": 18, "conditions": "sunny"}


def get_weather(location: str) -> dict[str, Any]:
    """Get the current weather in a given city."""
    return dict(WEATHER_RESULT, location=location)


async def get_weather_async(location: str) -> dict[str, Any]:
    """Get the current weather in a given city."""
    return dict(WEATHER_RESULT, location=location)


get_weather_async.__name__ = "get_weather"  # the SDK declares a function by its __name__
# Real types, not the strings ``from __future__ import annotations`` leaves: google-genai 2.x
# converts the model's arguments with isinstance() against them.
get_weather.__annotations__ = get_weather_async.__annotations__ = {"location": str, "return": dict}


@dataclass(frozen=True)
class Scenario:
    """One cassette: ``kind`` says which SDK surface ``drive`` calls, with ``kwargs``."""

    kind: str  # generate | stream | embed | chat
    kwargs: dict[str, Any]
    target: str = "gemini"  # gemini | vertex (express mode, API key) | vertex_project (bearer token)
    interactions: int = 1
    api_key: str = API_KEY
    fault: str | None = None
    error: str | None = None  # the google.genai.errors class the call raises
    messages: tuple[str, ...] = field(default=())  # chat: the user's turns
    doc: str = ""


def _config(**kwargs: Any) -> dict[str, Any]:
    return kwargs


SCENARIOS: dict[str, Scenario] = {
    "generate_content": Scenario(
        "generate",
        {
            "model": MODEL,
            "contents": QUESTION,
            "config": _config(
                system_instruction=SYSTEM, temperature=0.2, top_p=0.9, top_k=40, max_output_tokens=64, seed=42,
                stop_sequences=["\n\n"], presence_penalty=0.5, frequency_penalty=0.25,
            ),
        },
        doc="system instruction + user text; sampling settings; STOP",
    ),
    "generate_content_thinking": Scenario(
        "generate",
        {
            "model": MODEL,
            "contents": [{"role": "user", "parts": [{"text": QUESTION}]}],
            "config": _config(thinking_config={"include_thoughts": True}, response_mime_type="text/plain",
                              cached_content=CACHED_CONTENT),
        },
        doc="a thought part, thoughtsTokenCount; cached content: cachedContentTokenCount",
    ),
    "generate_content_tools": Scenario(
        "generate",
        {
            "model": MODEL,
            "contents": WEATHER_QUESTION,
            "config": _config(tools=[{"function_declarations": [WEATHER_DECLARATION]}]),
        },
        doc="declared function (no Python callable: no AFC); a functionCall part",
    ),
    "generate_content_afc": Scenario(
        "generate",
        {"model": MODEL, "contents": WEATHER_QUESTION, "config": _config(tools=[get_weather])},
        interactions=2,
        doc="automatic function calling: functionCall, the SDK runs get_weather, then the text answer",
    ),
    "generate_content_stream": Scenario(
        "stream",
        {"model": MODEL, "contents": QUESTION, "config": _config(temperature=0.2, max_output_tokens=64)},
        doc="SSE: three text chunks, usage on each, STOP on the last",
    ),
    "generate_content_stream_afc": Scenario(
        "stream",
        {"model": MODEL, "contents": WEATHER_QUESTION, "config": _config(tools=[get_weather])},
        interactions=2,
        doc="streamed AFC: a functionCall chunk, the SDK runs get_weather, then a streamed text answer",
    ),
    "generate_content_stream_error": Scenario(
        "stream",
        {"model": MODEL, "contents": QUESTION},
        fault="stream_error",
        error="ServerError",
        doc="two chunks, then an error event {error: {code: 500, status: INTERNAL}}",
    ),
    "embed_content": Scenario(
        "embed",
        {
            "model": EMBED_MODEL,
            "contents": ["What is the best French cheese?", "Paris is the capital of France."],
            "config": _config(output_dimensionality=8),
        },
        doc="batchEmbedContents: two 8-float embeddings, usageMetadata",
    ),
    "chat": Scenario(
        "chat",
        {"model": MODEL, "config": _config(system_instruction=SYSTEM)},
        interactions=2,
        messages=(QUESTION, "And of Italy?"),
        doc="client.chats: two send_message turns, the second carries the history",
    ),
    "generate_error_400": Scenario(
        "generate",
        {"model": MODEL, "contents": QUESTION},
        api_key=INVALID_API_KEY,
        error="ClientError",
        doc="400 INVALID_ARGUMENT, reason API_KEY_INVALID",
    ),
    "generate_error_429": Scenario(
        "generate",
        {"model": MODEL, "contents": QUESTION},
        fault="resource_exhausted",
        error="ClientError",
        doc="429 RESOURCE_EXHAUSTED (no retry without retry_options)",
    ),
    "vertex_generate_content": Scenario(
        "generate",
        {"model": MODEL, "contents": QUESTION, "config": _config(temperature=0.2)},
        target="vertex",
        doc="Vertex AI express mode (API key): v1beta1/publishers/google/models/...",
    ),
    "vertex_project_stream": Scenario(
        "stream",
        {"model": MODEL, "contents": QUESTION},
        target="vertex_project",
        doc="Vertex AI with project and location (bearer token): regional host",
    ),
}


# --- driving the SDK (the tests call the same) ------------------------------------------------


def scenario_kwargs(scenario: Scenario) -> dict[str, Any]:
    kwargs = json.loads(json.dumps(scenario.kwargs, default=lambda f: f"<{f.__name__}>"))  # a fresh copy
    config = kwargs.get("config")
    if config is not None and "tools" in config:
        config["tools"] = [t if isinstance(t, dict) else get_weather for t in scenario.kwargs["config"]["tools"]]
    if scenario.fault:
        kwargs.setdefault("config", {})["http_options"] = {"headers": {FAULT_HEADER: scenario.fault}}
    return kwargs


def async_kwargs(scenario: Scenario) -> dict[str, Any]:
    """The async twin's arguments: AFC runs the coroutine function."""
    kwargs = scenario_kwargs(scenario)
    config = kwargs.get("config")
    if config is not None and "tools" in config:
        config["tools"] = [get_weather_async if t is get_weather else t for t in config["tools"]]
    return kwargs


def make_client(scenario: Scenario, **http: Any) -> Any:
    """A client for ``scenario.target``, with its default base URL; ``http``: more HttpOptions.

    The Gemini API's version is named (``v1beta``, the REST reference's): google-genai 3
    defaults to ``v1``, 2.x to ``v1beta``, and the cassettes replay under both."""
    from google import genai
    from google.genai import types

    if scenario.target == "gemini":
        http = {"api_version": GEMINI_API_VERSION, **http}
    options = types.HttpOptions(**http) if http else None
    if scenario.target == "vertex":
        return genai.Client(vertexai=True, api_key=scenario.api_key, http_options=options)
    if scenario.target == "vertex_project":
        from google.oauth2.credentials import Credentials

        return genai.Client(vertexai=True, project=PROJECT, location=LOCATION,
                            credentials=Credentials(token=VERTEX_TOKEN), http_options=options)
    return genai.Client(api_key=scenario.api_key, http_options=options)


def drive(client: Any, scenario: Scenario) -> Any:
    """The scenario through the sync client; streams drained into a list, chats give the last reply."""
    kwargs = scenario_kwargs(scenario)
    if scenario.kind == "generate":
        return client.models.generate_content(**kwargs)
    if scenario.kind == "stream":
        return list(client.models.generate_content_stream(**kwargs))
    if scenario.kind == "embed":
        return client.models.embed_content(**kwargs)
    chat = client.chats.create(**kwargs)
    return [chat.send_message(m) for m in scenario.messages]


async def drive_async(client: Any, scenario: Scenario) -> Any:
    """The scenario through ``client.aio``."""
    kwargs = async_kwargs(scenario)
    models = client.aio.models
    if scenario.kind == "generate":
        return await models.generate_content(**kwargs)
    if scenario.kind == "stream":
        return [chunk async for chunk in await models.generate_content_stream(**kwargs)]
    if scenario.kind == "embed":
        return await models.embed_content(**kwargs)
    chat = client.aio.chats.create(**kwargs)
    return [await chat.send_message(m) for m in scenario.messages]


# --- vcrpy hooks ---------------------------------------------------------------------------


def before_record_request(request: Any) -> Any:
    """The transport moved the request to 127.0.0.1: give it back the host it was built for
    (its ``host`` header), drop credentials and the fault header."""
    from urllib.parse import urlsplit, urlunsplit

    host = next((v for k, v in request.headers.items() if k.lower() == "host"), None)
    parts = urlsplit(request.uri)
    if host and parts.hostname == "127.0.0.1":
        request.uri = urlunsplit(("https", host, parts.path, parts.query, ""))
    for name in list(request.headers):
        if name.lower() in FILTERED_HEADERS or name.lower() == FAULT_HEADER:
            del request.headers[name]
    return request


def before_record_response(response: Any) -> Any:
    headers = response["headers"]
    for name in list(headers):
        if name.lower() in FILTERED_HEADERS or name.lower() in ("server", "date"):
            del headers[name]
    return response


def recording_vcr() -> Any:
    import vcr

    return vcr.VCR(
        serializer="yaml",
        cassette_library_dir=str(CASSETTE_DIR),
        record_mode="all",
        match_on=MATCH_ON,
        filter_headers=list(FILTERED_HEADERS),
        before_record_request=before_record_request,
        before_record_response=before_record_response,
        decode_compressed_response=True,
    )


def _same_method(r1: Any, r2: Any) -> None:
    """vcrpy's aiohttp stub records the method as the SDK spelled it (``post``; aiohttp sends
    ``POST``): compared without case."""
    assert r1.method.upper() == r2.method.upper(), f"{r1.method} != {r2.method}"


def replay_vcr() -> Any:
    """The VCR every test replays with: record mode ``none``, matched on method (any case),
    scheme, host, port, path and query; each recorded interaction played once, in order."""
    import vcr

    replay = vcr.VCR(
        serializer="yaml",
        cassette_library_dir=str(CASSETTE_DIR),
        record_mode="none",
        match_on=REPLAY_MATCH_ON,
    )
    replay.register_matcher("method_any_case", _same_method)
    return replay


REPLAY_MATCH_ON = ("method_any_case", "scheme", "host", "port", "path", "query")


def local_transport(url: str) -> Any:
    """An httpx2 transport that sends every request to the fake server at ``url``."""
    from urllib.parse import urlsplit

    import httpx2

    target = urlsplit(url)

    class ToLocal(httpx2.HTTPTransport):
        def handle_request(self, request: Any) -> Any:
            request.url = request.url.copy_with(scheme="http", host=target.hostname, port=target.port)
            return super().handle_request(request)

    return ToLocal()


def verify_cassette(path: Path, scenario: Scenario) -> None:
    import yaml

    text = path.read_text()
    for secret in (*SECRETS, "127.0.0.1", "localhost", FAULT_HEADER):
        if secret in text:
            raise AssertionError(f"{path.name}: contains {secret!r}")
    interactions = yaml.safe_load(text)["interactions"]
    if len(interactions) != scenario.interactions:
        raise AssertionError(f"{path.name}: {len(interactions)} interactions, expected {scenario.interactions}")
    host = {"gemini": GEMINI_HOST, "vertex": VERTEX_HOST, "vertex_project": VERTEX_REGION_HOST}[scenario.target]
    for interaction in interactions:
        if not interaction["request"]["uri"].startswith(f"https://{host}/"):
            raise AssertionError(f"{path.name}: uri {interaction['request']['uri']}")
        sent = {h.lower() for h in interaction["request"]["headers"]}
        received = {h.lower() for h in interaction["response"]["headers"]}
        leaked = (sent | received) & set(FILTERED_HEADERS)
        if leaked:
            raise AssertionError(f"{path.name}: headers {sorted(leaked)} not filtered")


def record(names: list[str]) -> None:
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    import httpx2
    from fake_gemini_server import FakeGeminiServer
    from google.genai import errors

    CASSETTE_DIR.mkdir(exist_ok=True)
    with FakeGeminiServer(api_keys=(API_KEY,), max_lifetime=300) as server:
        my_vcr = recording_vcr()
        for name in names:
            scenario = SCENARIOS[name]
            path = CASSETTE_DIR / f"{name}.yaml"
            path.unlink(missing_ok=True)
            client = make_client(scenario, httpx_client=httpx2.Client(transport=local_transport(server.url)))
            with my_vcr.use_cassette(path.name):
                try:
                    outcome: Any = drive(client, scenario)
                except errors.APIError as exc:
                    if type(exc).__name__ != scenario.error:
                        raise
                    outcome = exc
            if scenario.error and not isinstance(outcome, errors.APIError):
                raise AssertionError(f"{name}: expected {scenario.error}, got {outcome!r}")
            verify_cassette(path, scenario)
            print(f"recorded {path.relative_to(HERE)}: {scenario.kind} -> {type(outcome).__name__}")


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
