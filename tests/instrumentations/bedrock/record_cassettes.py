"""Record the Bedrock cassettes by driving boto3 against the fake served on 127.0.0.1.

Run from the repository root::

    python tests/instrumentations/bedrock/record_cassettes.py [scenario ...]

Nothing here talks to AWS: the client's ``endpoint_url`` is ``fake_bedrock.serve()`` (the
same answers as the ``before-send`` fake the other tests use: JSON, raw bodies and binary
event streams) and vcrpy records the exchanges. Before a request is written its URI is
moved to ``https://bedrock-runtime.us-east-1.amazonaws.com`` (so the cassettes replay
under a client built with the default endpoint), the SigV4 ``Authorization`` header, the
security token and cookies are dropped, and afterwards every cassette is checked: neither
fake key nor the local address may appear in it. ``SCENARIOS`` is also imported by
``bedrock_cassettes_test.py``, which replays every cassette through boto3.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
CASSETTE_DIR = HERE / "cassettes"
HOST = "bedrock-runtime.us-east-1.amazonaws.com"
ACCESS_KEY = "AKIAFAKERECORDING001"
SECRET_KEY = "fAkEsEcReT/recording0123456789abcdefABCD"
MATCH_ON = ("method", "scheme", "host", "port", "path", "query")
FILTERED_HEADERS = ("authorization", "x-amz-security-token", "cookie", "set-cookie")
CLAUDE = "anthropic.claude-3-5-haiku-20241022-v1:0"
MESSAGES = [{"role": "user", "content": [{"text": "What is the capital of France?"}]}]
CLAUDE_BODY = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 256,
                          "messages": [{"role": "user", "content": "What is the capital of France?"}]})


def _fake() -> Any:
    name = "weave_tests_fake_bedrock"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE / "fake_bedrock.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@dataclass(frozen=True)
class Scenario:
    name: str
    call: Callable[[Any], Any]  # client -> what the app reads (the stream consumed, the body read)


def _events(stream: Any) -> list[Any]:
    return list(stream)


def _raises(call: Callable[[], Any]) -> Any:
    try:
        call()
    except Exception as exc:  # the ClientError the app gets
        return exc
    raise AssertionError("the scenario should have raised")


SCENARIOS = (
    Scenario("converse", lambda c: c.converse(modelId=CLAUDE, messages=MESSAGES)),
    Scenario("converse_stream", lambda c: _events(c.converse_stream(modelId=CLAUDE, messages=MESSAGES)["stream"])),
    Scenario("invoke_model", lambda c: c.invoke_model(modelId=CLAUDE, body=CLAUDE_BODY)["body"].read()),
    Scenario("invoke_model_stream", lambda c: _events(
        c.invoke_model_with_response_stream(modelId=CLAUDE, body=CLAUDE_BODY)["body"])),
    Scenario("converse_throttled", lambda c: _raises(lambda: c.converse(
        modelId=CLAUDE, messages=MESSAGES, additionalModelRequestFields={"fake_error": "throttling"}))),
)


def make_client(endpoint_url: str | None = None) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=endpoint_url,
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                        config=Config(retries={"max_attempts": 1, "mode": "standard"}))


def _to_aws(request: Any) -> Any:
    parts = urlsplit(request.uri)
    request.uri = urlunsplit(("https", HOST, parts.path, parts.query, ""))
    for key in list(request.headers):
        if key.lower() in FILTERED_HEADERS:
            del request.headers[key]
        elif key.lower() == "host":
            request.headers[key] = HOST
    return request


def record(names: list[str]) -> None:
    import vcr

    server, url = _fake().serve()
    try:
        recorder = vcr.VCR(record_mode="all", match_on=MATCH_ON, before_record_request=_to_aws,
                           decode_compressed_response=True)
        CASSETTE_DIR.mkdir(exist_ok=True)
        for scenario in SCENARIOS:
            if names and scenario.name not in names:
                continue
            path = CASSETTE_DIR / ("%s.yaml" % scenario.name)
            with recorder.use_cassette(str(path)):
                scenario.call(make_client(url))
            text = path.read_text()
            for secret in (ACCESS_KEY, SECRET_KEY, "127.0.0.1"):
                assert secret not in text, (path, secret)
            print("recorded", path.relative_to(HERE))
    finally:
        server.shutdown()


if __name__ == "__main__":
    record(sys.argv[1:])
