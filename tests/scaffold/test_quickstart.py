"""``examples/quickstart.py`` as a user runs it: ``weave-run python examples/quickstart.py``
(and plain ``python``), in a subprocess with no ``OPENAI_API_KEY``, replaying its cassette.

The OTLP-JSON file it writes must hold the ``answer`` op span with two ``chat gpt-4o-mini``
children (one streamed), the token usage the cassette carries, and no key.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("openai")
pytest.importorskip("vcr")
yaml = pytest.importorskip("yaml")

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "examples" / "quickstart.py"
CASSETTE = REPO / "examples" / "cassettes" / "quickstart.yaml"
OPENAI_TESTS = REPO / "tests" / "instrumentations" / "openai"
MODEL = "gpt-4o-mini"
PLACEHOLDER_KEY = "replay-only"


def clean_env(**extra: str) -> dict[str, str]:
    strip = ("WEAVE_AGENT_", "OTEL_", "OPENAI_", "PYTHON", "PYTEST_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(strip)}
    env.update(PYTHONIOENCODING="utf-8", PYTHONDONTWRITEBYTECODE="1", **extra)
    return env


def weave_run() -> list[str]:
    script = Path(sys.executable).with_name("weave-run")
    return [str(script)] if script.exists() else [sys.executable, "-m", "weave_agent"]


def run(argv: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=clean_env(**env), capture_output=True, text=True, timeout=120)


def recorded() -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    """The answer, the haiku and the usage of both recorded responses."""
    first, second = yaml.safe_load(CASSETTE.read_text())["interactions"]
    body = json.loads(first["response"]["body"]["string"])
    chunks = [
        json.loads(line[len("data: ") :])
        for line in second["response"]["body"]["string"].splitlines()
        if line.startswith("data: {")
    ]
    haiku = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    usage = [c["usage"] for c in chunks if c.get("usage")]
    assert len(usage) == 1
    return body["choices"][0]["message"]["content"], haiku, body["usage"], usage[0]


def spans_in(folder: Path) -> tuple[list[dict[str, Any]], str]:
    files = sorted(folder.glob("traces-*.jsonl"))  # (metrics-*.jsonl beside it holds the GenAI metrics)
    assert len(files) == 1, files
    text = files[0].read_text()
    spans = []
    for line in text.splitlines():
        for rs in json.loads(line)["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                spans.extend(ss["spans"])
    return spans, text


def attrs(span: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for a in span.get("attributes", []):
        kind, value = next(iter(a["value"].items()))
        if kind == "arrayValue":
            value = [next(iter(v.values())) for v in value.get("values", [])]
        elif kind == "intValue":
            value = int(value)
        out[a["key"]] = value
    return out


def check_trace(
    folder: Path,
    secrets: tuple[str, ...],
    stream_usage: dict[str, Any] | None,
    plain_usage: dict[str, Any] | None,
    server: str = "api.openai.com",
) -> None:
    spans, text = spans_in(folder)
    assert len(spans) == 3, [s["name"] for s in spans]
    (op,) = [s for s in spans if s["name"] == "answer"]
    assert not op.get("parentSpanId")
    assert json.loads(attrs(op)["input.value"]) == {"question": "What is the capital of France?"}
    chats = [s for s in spans if s["name"] == "chat " + MODEL]
    assert len(chats) == 2
    for chat in chats:
        assert chat["parentSpanId"] == op["spanId"] and chat["traceId"] == op["traceId"]
        a = attrs(chat)
        assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.provider.name"] == "openai"
        assert a["gen_ai.request.model"] == MODEL and a["server.address"] == server
        assert a["gen_ai.response.finish_reasons"] == ["stop"]
    plain, streamed = sorted(chats, key=lambda s: int(s["startTimeUnixNano"]))
    p, s = attrs(plain), attrs(streamed)
    assert "gen_ai.request.stream" not in p and s["gen_ai.request.stream"] is True
    assert s["weave_agent.stream.end_reason"] == "exhausted" and "gen_ai.response.time_to_first_chunk" in s
    for a, usage in ((p, plain_usage), (s, stream_usage)):
        if usage is not None:
            assert a["gen_ai.usage.input_tokens"] == usage["prompt_tokens"]
            assert a["gen_ai.usage.output_tokens"] == usage["completion_tokens"]
        else:
            assert a["gen_ai.usage.input_tokens"] > 0 and a["gen_ai.usage.output_tokens"] > 0
    for secret in secrets + ("Bearer", "authorization", "api_key", "api-key"):
        assert secret.lower() not in text.lower(), secret


@pytest.mark.slow
def test_quickstart_under_weave_run_replays_offline(tmp_path: Path) -> None:
    traces = tmp_path / "traces"
    done = run([*weave_run(), "python", str(QUICKSTART)], cwd=tmp_path, WEAVE_AGENT_TRACES_DIR=str(traces))
    assert done.returncode == 0, done.stderr
    text, haiku, usage, stream_usage = recorded()
    assert done.stdout == "%s\n\n%s\n" % (text, haiku)
    assert "The capital of France is Paris." in done.stdout
    err = done.stderr.splitlines()
    assert err[0].startswith("quickstart: OPENAI_API_KEY is not set: replaying the HTTP recorded in ")
    assert len(err) == 2 and err[-1].startswith("weave-agent: 3 spans written to ")
    assert "traces/traces-" in err[-1]  # WEAVE_AGENT_TRACES_DIR, shown relative to the working directory
    check_trace(traces, (PLACEHOLDER_KEY,), stream_usage, usage)
    assert not (tmp_path / "weave-traces").exists()


@pytest.mark.slow
def test_quickstart_with_plain_python(tmp_path: Path) -> None:
    """``weave_agent.init()`` in the script starts the agent without the launcher."""
    done = run([sys.executable, str(QUICKSTART)], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "The capital of France is Paris." in done.stdout
    assert "weave-agent: 3 spans written to weave-traces/traces-" in done.stderr
    _, _, usage, stream_usage = recorded()
    check_trace(tmp_path / "weave-traces", (PLACEHOLDER_KEY,), stream_usage, usage)


@pytest.mark.slow
def test_quickstart_with_a_key_calls_the_api(tmp_path: Path) -> None:
    """With OPENAI_API_KEY the script calls the API as configured: here OPENAI_BASE_URL
    points it at the local fake server (never the real one)."""
    sys.path.insert(0, str(OPENAI_TESTS))
    try:
        from fake_openai_server import FakeOpenAIServer
    finally:
        sys.path.remove(str(OPENAI_TESTS))
    key = "sk-test-quickstart-0000"
    with FakeOpenAIServer(lifetime=60) as server:
        done = run(
            [*weave_run(), "python", str(QUICKSTART)],
            cwd=tmp_path,
            OPENAI_API_KEY=key,
            OPENAI_BASE_URL=server.openai_base_url,
            WEAVE_AGENT_TRACES_DIR=str(tmp_path / "traces"),
        )
        requests = len(server.requests)
    assert done.returncode == 0, done.stderr
    assert requests == 2
    assert "The capital of France is Paris." in done.stdout and "replaying" not in done.stderr
    check_trace(tmp_path / "traces", (key,), None, None, server="127.0.0.1")


def test_cassette_holds_no_credentials() -> None:
    text = CASSETTE.read_text()
    for needle in ("sk-", "Bearer", "authorization", "127.0.0.1", "localhost"):
        assert needle not in text, needle
    uris = [i["request"]["uri"] for i in yaml.safe_load(text)["interactions"]]
    assert uris == ["https://api.openai.com/v1/chat/completions"] * 2
