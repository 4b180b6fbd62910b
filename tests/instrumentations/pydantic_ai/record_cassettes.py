"""Record the Pydantic AI cassettes against the local fake OpenAI API.

    /work/venvs/pydantic_ai/bin/python tests/instrumentations/pydantic_ai/record_cassettes.py [scenario ...]

Each scenario of ``scenarios.py`` runs the test app's agent, whose OpenAI client points at the
fake (``fake_pydantic_ai_server.py``, on 127.0.0.1) through vcrpy in record mode;
``cassettes/<name>.yaml`` holds every HTTP interaction of the run, in order (two model
calls each). Before an interaction is written its URI moves to ``api.openai.com`` (so
replays with the SDK's default base URL match) and credentials are dropped; afterwards every
cassette is checked for the key and local hosts. Nothing here talks to a real API (Pydantic
AI's prices are the ``genai-prices`` data it ships; it fetches none).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from weave_agent.testing import load_module

HERE = Path(__file__).resolve().parent


import vcr  # noqa: E402
import yaml  # noqa: E402

scenarios = load_module("weave_tests_pydantic_ai_scenarios", HERE / "scenarios.py")
FakeOpenAIServer = load_module("weave_tests_pydantic_ai_fake", HERE / "fake_pydantic_ai_server.py").FakeOpenAIServer

CASSETTE_DIR = HERE / "cassettes"
MATCH_ON = ("method", "scheme", "host", "port", "path", "query")
FILTERED_HEADERS = ("authorization", "api-key", "openai-organization", "openai-project", "cookie", "set-cookie",
                    "x-request-id", "x-fake-openai-behavior")


def _rewriter(source: str) -> Any:
    destination = scenarios.OPENAI_BASE_URL

    def before_record_request(request: Any) -> Any:
        if request.uri.startswith(source):
            request.uri = destination + request.uri[len(source):]
        for name in list(request.headers):
            if name.lower() in FILTERED_HEADERS:
                del request.headers[name]
            elif name.lower() == "host":
                request.headers[name] = "api.openai.com"
        return request

    return before_record_request


def _strip_response_headers(response: dict[str, Any]) -> dict[str, Any]:
    response["headers"] = {k: v for k, v in response["headers"].items() if k.lower() not in FILTERED_HEADERS}
    return response


def record(name: str, server: Any) -> Any:
    path = CASSETTE_DIR / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    recorder = vcr.VCR(record_mode="all", match_on=MATCH_ON, filter_headers=list(FILTERED_HEADERS),
                       before_record_request=_rewriter(server.openai_base_url),
                       before_record_response=_strip_response_headers, decode_compressed_response=True)
    with recorder.use_cassette(str(path)):
        return scenarios.run(name, server.openai_base_url)


def check_cassette(path: Path) -> list[str]:
    problems = []
    text = path.read_text()
    for secret in scenarios.SECRETS:
        if secret in text:
            problems.append(f"{path.name}: contains the key")
    for host in ("127.0.0.1", "localhost"):
        if host in text:
            problems.append(f"{path.name}: mentions {host}")
    interactions = yaml.safe_load(text)["interactions"]
    if len(interactions) != 2:
        problems.append(f"{path.name}: {len(interactions)} interactions, not 2")
    for interaction in interactions:
        if interaction["request"]["uri"].split("/")[2] != "api.openai.com":
            problems.append(f"{path.name}: request to {interaction['request']['uri']}")
        for where in ("request", "response"):
            for header in interaction[where]["headers"]:
                if header.lower() in FILTERED_HEADERS:
                    problems.append(f"{path.name}: {where} header {header!r} was not filtered")
    return problems


def main(argv: list[str]) -> int:
    with FakeOpenAIServer(lifetime=300) as server:
        for name in argv or scenarios.SCENARIOS:
            result = record(name, server)
            print(f"recorded cassettes/{name}.yaml: {result!r}"[:300])
    problems = [p for path in sorted(CASSETTE_DIR.glob("*.yaml")) for p in check_cassette(path)]
    for problem in problems:
        print("PROBLEM:", problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
