"""Record the LlamaIndex cassettes against the local fake OpenAI API.

    WEAVE_AGENT_TEST_ENVIRONMENT=llamaindex /work/venvs/llamaindex/bin/python \
        tests/instrumentations/llamaindex/record_cassettes.py [scenario ...]

Each scenario in ``scenarios.py`` drives real LlamaIndex objects pointed at
``FakeOpenAIServer`` (the OpenAI tests' fake) through vcrpy in record mode;
``cassettes/<name>.yaml`` holds every HTTP interaction of the scenario, in order. Before an
interaction is written its URI moves to api.openai.com (so replays with the default base
URL match) and credentials are dropped; afterwards every cassette is checked for keys and
local hosts. Nothing here ever talks to a real API.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
for folder in (HERE, HERE.parent / "openai"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import scenarios  # noqa: E402
import vcr  # noqa: E402
import yaml  # noqa: E402
from fake_openai_server import FakeOpenAIServer  # noqa: E402

CASSETTE_DIR = HERE / "cassettes"
MATCH_ON = ("method", "scheme", "host", "port", "path", "query")
FILTERED_HEADERS = ("authorization", "api-key", "openai-organization", "openai-project", "cookie", "set-cookie",
                    "x-request-id", "request-id", scenarios.BEHAVIOR_HEADER.lower())
REAL_HOST = "api.openai.com"


def _rewriter(base: str) -> Any:
    def before_record_request(request: Any) -> Any:
        if request.uri.startswith(base):
            request.uri = scenarios.OPENAI_BASE_URL + request.uri[len(base):]
            for name in list(request.headers):
                if name.lower() == "host":
                    request.headers[name] = REAL_HOST
        for name in list(request.headers):
            if name.lower() in FILTERED_HEADERS:
                del request.headers[name]
        return request

    return before_record_request


def _strip_response_headers(response: dict[str, Any]) -> dict[str, Any]:
    response["headers"] = {k: v for k, v in response["headers"].items() if k.lower() not in FILTERED_HEADERS}
    return response


def record(name: str, server: FakeOpenAIServer) -> Any:
    path = CASSETTE_DIR / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    recorder = vcr.VCR(
        record_mode="all",
        match_on=MATCH_ON,
        before_record_request=_rewriter(server.openai_base_url),
        before_record_response=_strip_response_headers,
        decode_compressed_response=True,
    )
    with recorder.use_cassette(str(path)):
        return scenarios.run(name, server.openai_base_url)


def check_cassette(path: Path) -> list[str]:
    problems = []
    text = path.read_text()
    for secret in scenarios.SECRETS:
        if secret in text:
            problems.append(f"{path.name}: contains the key {secret!r}")
    for host in ("127.0.0.1", "localhost"):
        if host in text:
            problems.append(f"{path.name}: mentions {host}")
    for interaction in yaml.safe_load(text)["interactions"]:
        host = interaction["request"]["uri"].split("/")[2]
        if host != REAL_HOST:
            problems.append(f"{path.name}: request to {host}")
        for where in ("request", "response"):
            for header in interaction[where]["headers"]:
                if header.lower() in FILTERED_HEADERS:
                    problems.append(f"{path.name}: {where} header {header!r} was not filtered")
    return problems


def main(argv: list[str]) -> int:
    names = argv or list(scenarios.SCENARIOS)
    with FakeOpenAIServer(lifetime=300) as server:
        for name in names:
            result = record(name, server)
            print(f"recorded cassettes/{name}.yaml: {result!r}"[:300])
    problems = [p for path in sorted(CASSETTE_DIR.glob("*.yaml")) for p in check_cassette(path)]
    for problem in problems:
        print("PROBLEM:", problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
