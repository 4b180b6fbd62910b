"""Record the LiteLLM cassettes by driving the real ``litellm`` against the local fakes.

Run from the repository root::

    LITELLM_LOCAL_MODEL_COST_MAP=True python tests/instrumentations/litellm/record_cassettes.py [scenario ...]

Nothing here talks to a provider: LiteLLM is pointed at ``fake_litellm_server.FakeUpstreams``
(``api_base=``) and vcrpy records the exchanges. Before a request is written its URI is
moved from the local fake to the provider's public host (and its ``host`` header likewise),
so the cassettes replay with ``api_base`` set to that host. Credentials, cookies and the
fake's behaviour header are dropped, and every cassette is checked afterwards: no key, no
local address, one interaction.

``SCENARIOS`` is also imported by ``litellm_cassettes_test.py``, which replays every
cassette through LiteLLM without the agent.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
CASSETTE_DIR = HERE / "cassettes"

API_KEY = "sk-test-litellm-000000000000"
ANTHROPIC_KEY = "sk-ant-test-litellm-0000000000"
INVALID_KEY = "sk-invalid-litellm-0000000000"
SECRETS = (API_KEY, ANTHROPIC_KEY, INVALID_KEY)
AZURE_VERSION = "2024-10-21"
BEHAVIOR_HEADER = "X-Fake-OpenAI-Behavior"

MATCH_ON = ("method", "scheme", "host", "port", "path", "query")
FILTERED_HEADERS = ("authorization", "x-api-key", "api-key", "cookie", "set-cookie", "openai-organization",
                    "openai-project", "anthropic-organization-id")

# Where each route's API lives: what a replay passes as api_base.
PUBLIC = {
    "openai": "https://api.openai.com/v1",
    "azure": "https://weave-test.openai.azure.com",
    "anthropic": "https://api.anthropic.com",
}

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@dataclass(frozen=True)
class Scenario:
    """One cassette: ``litellm.<function>(**kwargs)`` routed to ``target``."""

    target: str  # "openai", "azure" or "anthropic"
    function: str  # completion, embedding, text_completion, responses (async twin: "a" + name)
    kwargs: dict[str, Any] = field(default_factory=dict)
    streaming: bool = False
    api_key: str = API_KEY
    error: str | None = None  # the litellm exception class the call raises
    doc: str = ""


SCENARIOS: dict[str, Scenario] = {
    "chat_openai": Scenario("openai", "completion", {"model": "openai/gpt-4o-mini", "messages": QUESTION,
                                                     "temperature": 0.2, "max_tokens": 64},
                            doc="OpenAI route: LiteLLM posts /chat/completions through the OpenAI SDK's client.post"),
    "chat_openai_stream": Scenario("openai", "completion",
                                   {"model": "openai/gpt-4o-mini", "messages": QUESTION, "stream": True,
                                    "stream_options": {"include_usage": True}}, streaming=True,
                                   doc="SSE chunks, usage on the last one"),
    "chat_azure": Scenario("azure", "completion", {"model": "azure/gpt-4o-mini", "messages": QUESTION,
                                                   "api_version": AZURE_VERSION},
                           doc="Azure route: AzureOpenAI ... with_raw_response.create"),
    "chat_anthropic": Scenario("anthropic", "completion", {"model": "anthropic/claude-haiku-4-5",
                                                           "messages": QUESTION, "max_tokens": 64},
                               api_key=ANTHROPIC_KEY, doc="Anthropic route: LiteLLM's own HTTP client, /v1/messages"),
    "chat_anthropic_stream": Scenario("anthropic", "completion",
                                      {"model": "anthropic/claude-haiku-4-5", "messages": QUESTION,
                                       "max_tokens": 64, "stream": True, "stream_options": {"include_usage": True}},
                                      streaming=True, api_key=ANTHROPIC_KEY, doc="Anthropic's SSE events"),
    "embedding_openai": Scenario("openai", "embedding", {"model": "text-embedding-3-small", "input": ["hello"]},
                                 doc="no encoding_format: client.post"),
    "embedding_openai_float": Scenario("openai", "embedding", {"model": "text-embedding-3-small", "input": ["hello"],
                                                               "encoding_format": "float"},
                                       doc="encoding_format: Embeddings.create through with_raw_response"),
    "embedding_azure": Scenario("azure", "embedding", {"model": "azure/text-embedding-3-small", "input": ["hello"],
                                                       "api_version": AZURE_VERSION}, doc="Azure embeddings"),
    "text_completion": Scenario("openai", "text_completion", {"model": "gpt-3.5-turbo-instruct",
                                                              "prompt": "Say hello"},
                                doc="legacy completions: Completions.create through with_raw_response"),
    "responses": Scenario("openai", "responses", {"model": "openai/gpt-4o-mini",
                                                  "input": "What is the capital of France?",
                                                  "instructions": "Be brief."}, doc="the Responses API"),
    "chat_error_401": Scenario("openai", "completion", {"model": "openai/gpt-4o-mini", "messages": QUESTION,
                                                        "max_retries": 0},
                               api_key=INVALID_KEY, error="AuthenticationError", doc="rejected key: 401"),
}


def call_kwargs(scenario: Scenario, api_base: str) -> dict[str, Any]:
    return {**scenario.kwargs, "api_base": api_base, "api_key": scenario.api_key}


def run_scenario(scenario: Scenario, api_base: str) -> Any:
    """Call LiteLLM as the scenario says (sync); drain streams; return the result or the
    expected exception."""
    import litellm

    try:
        result = getattr(litellm, scenario.function)(**call_kwargs(scenario, api_base))
        if scenario.streaming:
            result = list(result)
    except Exception as exc:
        if scenario.error and type(exc).__name__ == scenario.error:
            return exc
        raise
    if scenario.error:
        raise AssertionError(f"expected {scenario.error}, got {result!r}")
    return result


def _rewrite(local: str, target: str) -> Any:
    here = urlsplit(local)
    public = urlsplit(PUBLIC[target])

    def before_record_request(request: Any) -> Any:
        parts = urlsplit(request.uri)
        if parts.netloc == here.netloc:
            request.uri = urlunsplit((public.scheme, public.netloc, parts.path, parts.query, ""))
        for name in list(request.headers):
            lowered = name.lower()
            if lowered in FILTERED_HEADERS or lowered == BEHAVIOR_HEADER.lower():
                del request.headers[name]
            elif lowered == "host":
                request.headers[name] = public.netloc
        return request

    return before_record_request


def before_record_response(response: dict[str, Any]) -> dict[str, Any]:
    headers = response["headers"]
    for name in list(headers):
        if name.lower() in FILTERED_HEADERS:
            del headers[name]
    return response


def verify_cassette(path: Path, target: str) -> None:
    import yaml

    text = path.read_text()
    for secret in (*SECRETS, "127.0.0.1", "localhost", BEHAVIOR_HEADER):
        if secret in text:
            raise AssertionError(f"{path.name}: contains {secret!r}")
    interactions = yaml.safe_load(text)["interactions"]
    if len(interactions) != 1:
        raise AssertionError(f"{path.name}: {len(interactions)} interactions, expected 1")
    host = urlsplit(PUBLIC[target]).netloc
    if urlsplit(interactions[0]["request"]["uri"]).netloc != host:
        raise AssertionError(f"{path.name}: uri {interactions[0]['request']['uri']}")


def record(names: list[str]) -> None:
    import vcr

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    spec = importlib.util.spec_from_file_location("weave_tests_fake_litellm_server", HERE / "fake_litellm_server.py")
    assert spec is not None and spec.loader is not None
    fakes = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = fakes
    spec.loader.exec_module(fakes)
    CASSETTE_DIR.mkdir(exist_ok=True)
    with fakes.FakeUpstreams(lifetime=300) as up:
        bases = {"openai": up.openai_base, "azure": up.azure_base, "anthropic": up.anthropic_base}
        for name in names:
            scenario = SCENARIOS[name]
            path = CASSETTE_DIR / f"{name}.yaml"
            path.unlink(missing_ok=True)
            recorder = vcr.VCR(
                serializer="yaml",
                cassette_library_dir=str(CASSETTE_DIR),
                record_mode="all",
                match_on=MATCH_ON,
                filter_headers=list(FILTERED_HEADERS),
                before_record_request=_rewrite(bases[scenario.target], scenario.target),
                before_record_response=before_record_response,
                decode_compressed_response=True,
            )
            with recorder.use_cassette(path.name):
                outcome = run_scenario(scenario, bases[scenario.target])
            verify_cassette(path, scenario.target)
            summary = f"{len(outcome)} chunks" if isinstance(outcome, list) else type(outcome).__name__
            print(f"recorded {path.relative_to(HERE)}: litellm.{scenario.function} -> {summary}")


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
