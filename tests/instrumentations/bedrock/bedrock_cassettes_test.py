"""The recorded cassettes, replayed through boto3 with vcrpy (record mode ``none``).

Without the agent: botocore parses every recorded body (JSON, the raw InvokeModel body,
the binary event streams, the throttling error) into what the scenario expects, which
proves the cassettes. With the agent: each replay gives its one span. The client is built
with the default endpoint, so a request that missed its cassette would have gone to AWS:
vcrpy refuses it, and the socket guard fails the test before any connection.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from opentelemetry.trace import StatusCode

from weave_agent.testing import load_module

HERE = Path(__file__).resolve().parent


rec = load_module("weave_tests_bedrock_record", HERE / "record_cassettes.py")
TEXT = "Paris is the capital of France."


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK", "AWS_ENDPOINT_URL",
                "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    def refuse(self: socket.socket, address: Any) -> None:
        raise AssertionError("a cassette test tried to connect to %r" % (address,))

    monkeypatch.setattr(socket.socket, "connect", refuse)


def replay(name: str) -> Any:
    import vcr

    scenario = next(s for s in rec.SCENARIOS if s.name == name)
    player = vcr.VCR(record_mode="none", match_on=rec.MATCH_ON)
    with player.use_cassette(str(rec.CASSETTE_DIR / ("%s.yaml" % name))) as cassette:
        out = scenario.call(rec.make_client())
        assert cassette.all_played
    return out


def check(name: str, out: Any) -> None:
    """What botocore parsed from each cassette."""
    if name == "converse":
        assert out["output"]["message"]["content"][0]["text"] == TEXT
        assert out["usage"]["outputTokens"] == 6 and out["stopReason"] == "end_turn"
    elif name == "converse_stream":
        text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in out if "contentBlockDelta" in e)
        assert text == TEXT and out[-1]["metadata"]["usage"]["inputTokens"] == 12
    elif name == "invoke_model":
        assert json.loads(out)["content"][0]["text"] == TEXT
    elif name == "invoke_model_stream":
        payloads = [json.loads(e["chunk"]["bytes"]) for e in out]
        assert payloads[0]["type"] == "message_start"
        assert payloads[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == 6
    elif name == "converse_throttled":
        assert isinstance(out, ClientError) and out.response["Error"]["Code"] == "ThrottlingException"
    else:
        raise AssertionError(name)


# Converse came with botocore 1.34.116: older releases in the range replay the InvokeModel ones.
HAS_CONVERSE = "Converse" in __import__("botocore.session").session.get_session().get_service_model(
    "bedrock-runtime").operation_names
NAMES = [pytest.param(s.name, marks=pytest.mark.skipif(
    not HAS_CONVERSE and s.name.startswith("converse"), reason="this botocore has no Converse API (added in 1.34.116)"))
    for s in rec.SCENARIOS]


@pytest.mark.parametrize("name", NAMES)
def test_cassette_parses_without_the_agent(name: str) -> None:
    check(name, replay(name))


@pytest.mark.parametrize("name", NAMES)
def test_cassette_gives_one_span(instrumentation: Any, spans: Any, name: str) -> None:
    instrumentation("bedrock")
    out = replay(name)
    check(name, out)
    span = spans.one()
    assert span.name == "chat " + rec.CLAUDE
    assert span.attributes["server.address"] == rec.HOST
    if name == "converse_throttled":
        assert span.status.status_code == StatusCode.ERROR and span.attributes["error.type"] == "ThrottlingException"
    else:
        assert span.attributes["gen_ai.usage.input_tokens"] == 12
        assert span.attributes["gen_ai.usage.output_tokens"] == 6
        assert span.attributes["gen_ai.response.finish_reasons"] == ("stop",)
