"""The examples under ``weave-run``, exported to a real Phoenix over OTLP (http/protobuf and
grpc), and their spans read back from Phoenix's REST API.

Phoenix runs in its own cached virtual environment (see ``_phoenix.py``); each run sends
its spans to a project of its own (resource attribute ``openinference.project.name``).
The vendor HTTP is replayed from the examples' cassettes: nothing leaves the machine.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from _phoenix import LAUNCHER, Phoenix, free_port, is_loopback, listeners

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
MODEL = "gpt-4o-mini"
PLACEHOLDER_KEY = "replay-only"  # the examples' api_key when replaying
PROTOCOLS = ["http/protobuf", "grpc"]
RUN_TIMEOUT = 180.0
# an OpenAI-style key anywhere ("task-" and the like do not count)
SK_KEY = re.compile(r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_-]")


def clean_env(**extra: str) -> dict[str, str]:
    strip = ("WEAVE_AGENT_", "OTEL_", "OPENAI_", "PYTHON", "PYTEST_", "LANGCHAIN_", "LANGSMITH_", "PHOENIX_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(strip)}
    env.update(PYTHONIOENCODING="utf-8", PYTHONDONTWRITEBYTECODE="1", **extra)
    return env


def weave_run() -> list[str]:
    script = Path(sys.executable).with_name("weave-run")
    return [str(script)] if script.exists() else [sys.executable, "-m", "weave_agent"]


def run_example(phoenix: Phoenix, script: str, protocol: str, tmp_path: Path) -> tuple[str, str]:
    """``weave-run python examples/<script>`` exporting to Phoenix; the project name and stdout."""
    project = "e2e-%s-%s-%s" % (Path(script).stem, protocol.split("/")[0], uuid.uuid4().hex[:10])
    env = clean_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=phoenix.endpoint(protocol),
        OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
        OTEL_RESOURCE_ATTRIBUTES="openinference.project.name=%s" % project,
        WEAVE_AGENT_TRACES_DIR=str(tmp_path / "weave-traces"),  # unused with an endpoint
        WEAVE_AGENT_EXIT_TIMEOUT="60",  # a loaded machine: let the exit flush finish
    )
    argv = [*weave_run(), "python", str(EXAMPLES / script)]
    started = time.monotonic()
    try:
        r = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        pytest.fail("%s did not finish within %.0f s; stderr:\n%s" % (argv, RUN_TIMEOUT, exc.stderr), pytrace=False)
    assert r.returncode == 0, "%s exited %d after %.1f s\nstdout:\n%s\nstderr:\n%s\nPhoenix log:\n%s" % (
        argv, r.returncode, time.monotonic() - started, r.stdout, r.stderr, phoenix.log_tail()
    )
    assert not (tmp_path / "weave-traces").exists(), "spans went to local files, not to Phoenix"
    return project, r.stdout


def read_spans(phoenix: Phoenix, project: str, expected: int) -> tuple[dict[str, dict[str, Any]], str]:
    """The project's spans by name-independent id, checked to be ``expected`` many."""
    spans, text = phoenix.spans(project, expected)
    assert len(spans) == expected, "project %s: %d spans in Phoenix, expected %d: %s\nPhoenix log:\n%s" % (
        project, len(spans), expected, [s.get("name") for s in spans] or text[:2000], phoenix.log_tail()
    )
    return {s["context"]["span_id"]: s for s in spans}, text


def assert_no_secret(text: str) -> None:
    assert PLACEHOLDER_KEY not in text, "the placeholder API key reached Phoenix"
    match = SK_KEY.search(text)
    assert match is None, "an sk- key reached Phoenix: ...%s..." % text[max(0, match.start() - 80) : match.end() + 80]
    assert "Bearer " not in text


def shape(spans: dict[str, dict[str, Any]]) -> list[tuple[str, int]]:
    """(name, depth) depth-first, children by start time: the tree as Phoenix holds it."""
    children: dict[str | None, list[dict[str, Any]]] = {}
    for s in spans.values():
        children.setdefault(s["parent_id"], []).append(s)
    out: list[tuple[str, int]] = []

    def walk(parent: str | None, depth: int) -> None:
        for s in sorted(children.get(parent, []), key=lambda s: s["start_time"]):
            out.append((s["name"], depth))
            walk(s["context"]["span_id"], depth + 1)

    walk(None, 0)
    assert len(out) == len(spans), "spans outside the tree (orphans): %s" % sorted(
        (s["name"], s["parent_id"]) for s in spans.values()
    )
    return out


def messages_text(value: str) -> str:
    """The text parts of a ``gen_ai.*.messages`` attribute (a JSON string)."""
    return " ".join(
        part.get("content", "") for message in json.loads(value) for part in message.get("parts", []) if part.get("type") == "text"
    )


def assert_llm_attributes(span: dict[str, Any]) -> None:
    a = span["attributes"]
    assert span["span_kind"] == "LLM", span
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == MODEL
    assert a["gen_ai.response.model"].startswith(MODEL)
    assert a["llm.model_name"].startswith(MODEL)  # Phoenix's own, derived from gen_ai.*


# --- the cassettes: what the spans must say -------------------------------------------


def cassette(name: str) -> list[dict[str, Any]]:
    return list(yaml.safe_load((EXAMPLES / "cassettes" / name).read_text())["interactions"])


def quickstart_recorded() -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    """The answer, the haiku and the usage of both recorded responses."""
    first, second = cassette("quickstart.yaml")
    body = json.loads(first["response"]["body"]["string"])
    chunks = [
        json.loads(line[len("data: ") :])
        for line in second["response"]["body"]["string"].splitlines()
        if line.startswith("data: {")
    ]
    haiku = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    (usage,) = [c["usage"] for c in chunks if c.get("usage")]
    return body["choices"][0]["message"]["content"], haiku, body["usage"], usage


def chain_recorded() -> tuple[str, dict[str, Any]]:
    (only,) = cassette("langchain_chain.yaml")
    body = json.loads(only["response"]["body"]["string"])
    return body["choices"][0]["message"]["content"], body["usage"]


def assert_usage(span: dict[str, Any], usage: dict[str, Any]) -> None:
    a = span["attributes"]
    assert a["gen_ai.usage.input_tokens"] == usage["prompt_tokens"], a
    assert a["gen_ai.usage.output_tokens"] == usage["completion_tokens"], a
    assert a["llm.token_count.prompt"] == usage["prompt_tokens"]
    assert a["llm.token_count.completion"] == usage["completion_tokens"]


# --- the server itself ------------------------------------------------------------------


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads listeners from Linux /proc")
def test_phoenix_listens_on_loopback_only(phoenix: Phoenix) -> None:
    assert phoenix.proc is not None
    found = listeners(phoenix.proc.pid)
    ports = {int(a.rsplit(":", 1)[1]) for a in found}
    assert {phoenix.port, phoenix.grpc_port} <= ports, (found, phoenix.port, phoenix.grpc_port)
    assert all(is_loopback(a) for a in found), "Phoenix listens beyond loopback: %s" % found


def test_launcher_exits_when_its_parent_dies(phoenix_python: Path, tmp_path: Path) -> None:
    """The watchdog: a Phoenix whose parent (here, a stand-in for the test process) is
    killed exits by itself instead of outliving the run."""
    parent = subprocess.Popen(
        [
            sys.executable, "-c",
            "import os, subprocess, sys, time\n"
            "env = {k: v for k, v in os.environ.items() if not k.startswith(('PHOENIX_', 'PYTHON'))}\n"
            "env.update(PHOENIX_WORKING_DIR=sys.argv[3], PHOENIX_HOST='127.0.0.1', PHOENIX_PORT=sys.argv[4],\n"
            "           PHOENIX_GRPC_PORT=sys.argv[5], PHOENIX_TELEMETRY_ENABLED='false')\n"
            "child = subprocess.Popen([sys.argv[1], sys.argv[2], str(os.getpid())], env=env,\n"
            "                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)\n"
            "print(child.pid, flush=True)\n"
            "time.sleep(600)\n",
            str(phoenix_python), str(LAUNCHER), str(tmp_path), str(free_port()), str(free_port()),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        time.sleep(1.0)
        assert _alive(child), "the launcher died before its parent did"
    finally:
        parent.kill()
        parent.wait(timeout=10)
    deadline = time.monotonic() + 30
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _alive(child):
        os.killpg(child, 9)
        pytest.fail("the launcher outlived its parent by 30 s")


def _alive(pid: int) -> bool:
    """Running (not a zombie: the orphan is reaped by init, or shows state Z meanwhile)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


# --- the examples -------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_quickstart_in_phoenix(phoenix: Phoenix, protocol: str, tmp_path: Path) -> None:
    answer, haiku, usage, stream_usage = quickstart_recorded()
    project, stdout = run_example(phoenix, "quickstart.py", protocol, tmp_path)
    assert answer in stdout and haiku in stdout
    spans, text = read_spans(phoenix, project, 3)
    assert_no_secret(text)

    assert shape(spans) == [("answer", 0), ("chat " + MODEL, 1), ("chat " + MODEL, 1)]
    (root,) = [s for s in spans.values() if s["parent_id"] is None]
    assert len({s["context"]["trace_id"] for s in spans.values()}) == 1
    assert "What is the capital of France?" in root["attributes"]["input.value"]
    assert answer in json.loads(root["attributes"]["output.value"])

    chats = sorted((s for s in spans.values() if s is not root), key=lambda s: s["start_time"])
    for chat in chats:
        assert chat["parent_id"] == root["context"]["span_id"]
        assert_llm_attributes(chat)
    call, streamed = chats
    assert not call["attributes"].get("gen_ai.request.stream")
    assert streamed["attributes"]["gen_ai.request.stream"] is True
    assert_usage(call, usage)
    assert_usage(streamed, stream_usage)
    assert "What is the capital of France?" in messages_text(call["attributes"]["gen_ai.input.messages"])
    assert messages_text(call["attributes"]["gen_ai.output.messages"]) == answer
    assert "haiku about the sea" in messages_text(streamed["attributes"]["gen_ai.input.messages"])
    assert messages_text(streamed["attributes"]["gen_ai.output.messages"]) == haiku
    # and Phoenix made its own message view of them
    assert call["attributes"]["llm.output_messages.0.message.content"] == answer


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_langchain_chain_in_phoenix(phoenix: Phoenix, protocol: str, tmp_path: Path) -> None:
    answer, usage = chain_recorded()
    project, stdout = run_example(phoenix, "langchain_chain.py", protocol, tmp_path)
    assert answer in stdout
    spans, text = read_spans(phoenix, project, 5)
    assert_no_secret(text)

    by_name: dict[str, list[dict[str, Any]]] = {}
    for s in spans.values():
        by_name.setdefault(s["name"], []).append(s)
    (root,) = by_name["RunnableSequence"]
    (prompt,) = by_name["ChatPromptTemplate"]
    (parser,) = by_name["StrOutputParser"]
    chats = by_name["chat " + MODEL]
    assert len(chats) == 2, sorted(by_name)
    (lc_chat,) = [s for s in chats if s["parent_id"] == root["context"]["span_id"]]
    (sdk_chat,) = [s for s in chats if s["parent_id"] == lc_chat["context"]["span_id"]]
    assert root["parent_id"] is None
    for child in (prompt, parser):
        assert child["parent_id"] == root["context"]["span_id"]
    assert len({s["context"]["trace_id"] for s in spans.values()}) == 1
    shape(spans)  # no orphans

    assert json.loads(root["attributes"]["output.value"]) == answer
    for chat in (lc_chat, sdk_chat):
        assert_llm_attributes(chat)
        assert chat["attributes"]["gen_ai.request.temperature"] == 0
        assert "Tell me a fact about otters." in messages_text(chat["attributes"]["gen_ai.input.messages"])
        assert messages_text(chat["attributes"]["gen_ai.output.messages"]) == answer
    for chat in (lc_chat, sdk_chat):  # the prompt's system message stays in the chat history, first
        first = json.loads(chat["attributes"]["gen_ai.input.messages"])[0]
        assert first["role"] == "system" and first["parts"][0]["content"] == "You answer in one short sentence."
        assert "gen_ai.system_instructions" not in chat["attributes"]
    # the tokens once: on the SDK's span, not on LangChain's
    assert_usage(sdk_chat, usage)
    assert not [k for k in lc_chat["attributes"] if k.startswith("gen_ai.usage.")]
