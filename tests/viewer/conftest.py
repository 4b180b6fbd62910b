"""Fixtures for the viewer tests: OTLP-JSON recorded by a real app under ``weave-run``."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # ``from _otlp import ...`` under any import mode
    sys.path.insert(0, _HERE)

from _otlp import WEAVE_RUN, clean_env  # noqa: E402

# Nested @op calls, model calls (the app's own OpenTelemetry spans with GenAI attributes,
# as an SDK instrumentation would make them), a streamed generator, an error; two traces.
APP = textwrap.dedent(
    '''
    import json, time
    from opentelemetry import trace
    from weave_agent import op

    def chat(model, prompt, tin, tout, stream=False):
        with trace.get_tracer("fake-llm").start_as_current_span("chat " + model, kind=trace.SpanKind.CLIENT) as s:
            s.set_attribute("gen_ai.operation.name", "chat")
            s.set_attribute("gen_ai.request.model", model)
            s.set_attribute("gen_ai.response.model", model + "-2024")
            s.set_attribute("gen_ai.usage.input_tokens", tin)
            s.set_attribute("gen_ai.usage.output_tokens", tout)
            s.set_attribute("gen_ai.input.messages", json.dumps([{"role": "user", "content": prompt}]))
            s.set_attribute("gen_ai.output.messages", json.dumps([{"role": "assistant", "content": "echo " + prompt}]))
            if stream:
                s.set_attribute("gen_ai.request.stream", True)
            time.sleep(0.005)
            return "echo " + prompt

    @op
    def retrieve(q):
        time.sleep(0.002)
        return ["doc1", "doc2"]

    @op
    def answer(question):
        retrieve(question)
        return chat("gpt-4o-mini", question, 12, 30)

    @op
    def tokens(n):
        for i in range(n):
            time.sleep(0.001)
            yield "t%d" % i

    @op
    def fail(x):
        chat("gpt-4o", "x", 5, 0, stream=True)
        raise ValueError("boom: bad input %s" % x)

    @op
    def main():
        answer("What is the capital of France?")
        list(tokens(3))
        try:
            fail(1)
        except ValueError:
            pass

    main()
    time.sleep(0.01)
    answer("second")
    '''
)


@pytest.fixture(scope="session")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the OTLP-JSON file the app above wrote under ``weave-run``."""
    work = tmp_path_factory.mktemp("recorded")
    (work / "app.py").write_text(APP)
    done = subprocess.run(
        [WEAVE_RUN, "python", "app.py"], cwd=work, env=clean_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "weave-agent: 10 spans written to weave-traces/traces-" in done.stderr, done.stderr
    (work / "stderr.txt").write_text(done.stderr)
    return work


QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart.py"


@pytest.fixture(scope="session")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder where ``weave-run python examples/quickstart.py`` ran (the recorded HTTP
    replayed by the real OpenAI SDK): its ``weave-traces`` holds the traces file and the
    metrics file the agent wrote."""
    work = tmp_path_factory.mktemp("quickstart")
    env = clean_env()
    env.pop("OPENAI_API_KEY", None)
    done = subprocess.run([WEAVE_RUN, "python", str(QUICKSTART)], cwd=work, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "weave-agent: 3 spans written to weave-traces/traces-" in done.stderr, done.stderr
    (work / "stderr.txt").write_text(done.stderr)
    return work
