"""Record the Ollama cassettes by driving the real SDK against the fake server.

Run from the repository root::

    python tests/instrumentations/ollama/record_cassettes.py [scenario ...]

Nothing here talks to a real Ollama: the client is pointed at ``FakeOllamaServer``
(``ollama.Client(host=...)``) and vcrpy records the exchanges. Before a request is
written its URI is moved from the fake server's port to where the scenario's client
would really send it: ``http://127.0.0.1:11434`` (the SDK's default host, a local
Ollama) or ``https://ollama.com`` (the hosted API, which needs a key). So the cassettes
replay under ``ollama.Client()`` and the module-level ``ollama.chat`` with no host given.
Credentials are filtered out and the cassettes are checked afterwards: neither key, the
fake server's port nor the fault header may appear in them.

``SCENARIOS`` is also imported by ``ollama_cassettes_test.py``, which replays every
cassette with the same calls.
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

LOCAL_URL = "http://127.0.0.1:11434"  # the SDK's default (no host, no OLLAMA_HOST)
HOSTED_URL = "https://ollama.com"
API_KEY = "ollama-test-0000"  # the key the fake server accepts (ollama.com's hosted API)
INVALID_API_KEY = "ollama-test-invalid"
SECRETS = (API_KEY, INVALID_API_KEY)
FAULT_HEADER = "x-fake-ollama-fault"  # same value as fake_ollama_server.FAULT_HEADER

MATCH_ON = ("method", "scheme", "host", "port", "path", "query")
FILTERED_HEADERS = ("authorization", "x-api-key", "api-key", "cookie", "set-cookie")

CHAT_MODEL = "llama3.2"
THINK_MODEL = "qwen3"
EMBED_MODEL = "all-minilm"
CODE_MODEL = "codellama:code"
MISSING_MODEL = "missing-model"

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
TOOL_RESULT = '{"temperature": 18, "conditions": "sunny"}'
CODE_PROMPT = "def fibonacci(n: int) -> int:\n"
CODE_SUFFIX = "\n\nprint(fibonacci(10))\n"


@dataclass(frozen=True)
class Scenario:
    """One cassette: ``Client(...).<method>(**kwargs)``."""

    method: str  # chat | generate | embed | embeddings
    kwargs: dict[str, Any]
    streaming: bool = False
    hosted: bool = False  # ollama.com with a key, else a local server
    api_key: str | None = None  # sent as Authorization: Bearer <key>
    fault: str | None = None  # x-fake-ollama-fault value, stripped from the cassette
    error: str | None = None  # class in ollama the call (or the stream) must raise
    doc: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return HOSTED_URL if self.hosted else LOCAL_URL

    def client_options(self) -> dict[str, Any]:
        """What ``ollama.Client``/``AsyncClient`` are given besides the host."""
        headers = {}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        if self.fault:
            headers[FAULT_HEADER] = self.fault
        return {"headers": headers} if headers else {}


def _user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


_CAPITAL = [_user("What is the capital of France?")]
_WEATHER = [_user("What's the weather like in Paris today?")]

SCENARIOS: dict[str, Scenario] = {
    "chat": Scenario(
        "chat",
        {
            "model": CHAT_MODEL,
            "messages": [{"role": "system", "content": "You are a concise geography assistant."}, *_CAPITAL],
            "options": {"temperature": 0.2, "top_p": 0.9, "top_k": 40, "num_predict": 64, "seed": 42,
                        "stop": ["\n\n"]},
        },
        doc="system + user; options temperature, top_p, top_k, num_predict, seed, stop",
    ),
    "chat_stream": Scenario(
        "chat",
        {"model": CHAT_MODEL, "messages": _CAPITAL, "stream": True, "options": {"temperature": 0.2}},
        streaming=True,
        doc="NDJSON: one part per word, then an empty done part with done_reason and the counts",
    ),
    "chat_tools": Scenario(
        "chat",
        {"model": CHAT_MODEL, "messages": _WEATHER, "tools": [WEATHER_TOOL]},
        doc="one tool call get_weather({location: Paris}) without an id, done_reason stop",
    ),
    "chat_tool_result": Scenario(
        "chat",
        {
            "model": CHAT_MODEL,
            "messages": [
                *_WEATHER,
                {"role": "assistant", "content": "",
                 "tool_calls": [{"function": {"name": "get_weather", "arguments": {"location": "Paris"}}}]},
                {"role": "tool", "content": TOOL_RESULT, "tool_name": "get_weather"},
            ],
            "tools": [WEATHER_TOOL],
        },
        doc="the follow-up turn: the assistant's tool call and the tool message (tool_name, no id)",
    ),
    "chat_stream_tools": Scenario(
        "chat",
        {"model": CHAT_MODEL, "messages": _WEATHER, "tools": [WEATHER_TOOL], "stream": True},
        streaming=True,
        doc="a part holding the whole tool call, then the done part",
    ),
    "chat_think": Scenario(
        "chat",
        {"model": THINK_MODEL, "messages": _CAPITAL, "think": True, "format": "json"},
        doc="think=True: message.thinking beside message.content; format json",
    ),
    "chat_stream_think": Scenario(
        "chat",
        {"model": THINK_MODEL, "messages": _CAPITAL, "think": True, "stream": True},
        streaming=True,
        doc="thinking fragments first, then content fragments, then the done part",
    ),
    "chat_hosted": Scenario(
        "chat",
        {"model": CHAT_MODEL, "messages": _CAPITAL},
        hosted=True,
        api_key=API_KEY,
        doc="ollama.com's hosted API with Authorization: Bearer (filtered from the cassette)",
    ),
    "chat_error_401": Scenario(
        "chat",
        {"model": CHAT_MODEL, "messages": _CAPITAL},
        hosted=True,
        api_key=INVALID_API_KEY,
        error="ResponseError",
        doc="a rejected key: 401 {error: unauthorized}",
    ),
    "chat_error_404": Scenario(
        "chat",
        {"model": MISSING_MODEL, "messages": _CAPITAL},
        error="ResponseError",
        doc='a model that is not pulled: 404 {error: model "missing-model" not found, try pulling it first}',
    ),
    "chat_stream_error_404": Scenario(
        "chat",
        {"model": MISSING_MODEL, "messages": _CAPITAL, "stream": True},
        streaming=True,
        error="ResponseError",
        doc="the same on a stream: raised at the first next() (the sync request is made there)",
    ),
    "chat_stream_error": Scenario(
        "chat",
        {"model": CHAT_MODEL, "messages": _CAPITAL, "stream": True},
        streaming=True,
        fault="stream_error",
        error="ResponseError",
        doc="HTTP 200, two parts, then an {error: ...} line: the SDK raises ResponseError mid-stream",
    ),
    "generate": Scenario(
        "generate",
        {"model": CHAT_MODEL, "prompt": "Why is the sky blue?", "system": "Answer in one sentence.",
         "options": {"temperature": 0.5, "num_predict": 100}},
        doc="prompt + system; the final object carries context and the counts",
    ),
    "generate_stream": Scenario(
        "generate",
        {"model": CHAT_MODEL, "prompt": "Why is the sky blue?", "stream": True},
        streaming=True,
        doc="NDJSON response fragments, then the done part with context and counts",
    ),
    "generate_suffix": Scenario(
        "generate",
        {"model": CODE_MODEL, "prompt": CODE_PROMPT, "suffix": CODE_SUFFIX, "options": {"temperature": 0}},
        doc="fill-in-the-middle between prompt and suffix",
    ),
    "embed": Scenario(
        "embed",
        {"model": EMBED_MODEL, "input": ["What is the best French cheese?", "Paris is the capital of France."]},
        doc="two inputs, two 384-float vectors, prompt_eval_count",
    ),
    "embed_dimensions": Scenario(
        "embed",
        {"model": "nomic-embed-text", "input": "Paris is the capital of France.", "dimensions": 256},
        doc="one input, dimensions=256",
    ),
    "embeddings": Scenario(
        "embeddings",
        {"model": EMBED_MODEL, "prompt": "Paris is the capital of France."},
        doc="the older endpoint: {embedding: [...]}, no model, no counts",
    ),
}


# -- vcrpy hooks -------------------------------------------------------------


def _rewrite_request(local_url: str, scenario: Scenario):
    local = urlsplit(local_url)
    public = urlsplit(scenario.url)

    def before_record_request(request):
        parts = urlsplit(request.uri)
        if (parts.scheme, parts.netloc) == (local.scheme, local.netloc):
            request.uri = urlunsplit((public.scheme, public.netloc, parts.path, parts.query, ""))
        for name in list(request.headers):
            lowered = name.lower()
            if lowered in FILTERED_HEADERS or lowered == FAULT_HEADER:
                del request.headers[name]
            elif lowered == "host":
                request.headers[name] = public.netloc
            elif lowered == "user-agent":  # names the recording machine's platform and Python
                request.headers[name] = "ollama-python"
        return request

    return before_record_request


def before_record_response(response):
    headers = response["headers"]
    for name in list(headers):
        if name.lower() in FILTERED_HEADERS or name.lower() == "server":
            del headers[name]
    return response


def recording_vcr(local_url: str, scenario: Scenario):
    import vcr

    return vcr.VCR(
        serializer="yaml",
        cassette_library_dir=str(CASSETTE_DIR),
        record_mode="all",
        match_on=MATCH_ON,
        filter_headers=list(FILTERED_HEADERS),
        before_record_request=_rewrite_request(local_url, scenario),
        before_record_response=before_record_response,
        decode_compressed_response=True,
    )


# -- recording ---------------------------------------------------------------


def run_scenario(client: Any, scenario: Scenario) -> Any:
    """Call the SDK the way the scenario says (sync); drain streams."""
    import ollama

    try:
        result = getattr(client, scenario.method)(**scenario.kwargs)
        if scenario.streaming:
            result = list(result)
    except ollama.ResponseError as exc:
        if scenario.error == "ResponseError":
            return exc
        raise
    if scenario.error:
        raise AssertionError(f"expected {scenario.error}, got {result!r}")
    return result


def verify_cassette(path: Path, port: int | None = None) -> None:
    import yaml

    text = path.read_text()
    for secret in (*SECRETS, FAULT_HEADER, *([f":{port}"] if port else [])):
        if secret in text:
            raise AssertionError(f"{path.name}: contains {secret!r}")
    interactions = yaml.safe_load(text)["interactions"]
    if len(interactions) != 1:
        raise AssertionError(f"{path.name}: {len(interactions)} interactions, expected 1")
    for interaction in interactions:
        request = interaction["request"]
        if not (request["uri"].startswith(LOCAL_URL + "/api/") or request["uri"].startswith(HOSTED_URL + "/api/")):
            raise AssertionError(f"{path.name}: uri {request['uri']}")
        sent = {h.lower() for h in request["headers"]}
        received = {h.lower() for h in interaction["response"]["headers"]}
        leaked = (sent | received) & set(FILTERED_HEADERS)
        if leaked:
            raise AssertionError(f"{path.name}: headers {sorted(leaked)} not filtered")


def record(names: list[str]) -> None:
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    import ollama
    from fake_ollama_server import FakeOllamaServer

    CASSETTE_DIR.mkdir(exist_ok=True)
    with FakeOllamaServer(api_key=API_KEY, max_lifetime=300) as server:
        port = int(server.url.rsplit(":", 1)[1])
        for name in names:
            scenario = SCENARIOS[name]
            path = CASSETTE_DIR / f"{name}.yaml"
            path.unlink(missing_ok=True)
            client = ollama.Client(host=server.url, **scenario.client_options())
            with recording_vcr(server.url, scenario).use_cassette(path.name):
                outcome = run_scenario(client, scenario)
            verify_cassette(path, port)
            summary = f"{len(outcome)} parts" if isinstance(outcome, list) else type(outcome).__name__
            print(f"recorded {path.relative_to(HERE)}: {scenario.method} -> {summary}")


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
