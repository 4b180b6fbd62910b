"""``WEAVE_AGENT_FAULT_INJECTION``: every extractor and accumulator raises, the app does not notice.

A real app (the OpenAI, Anthropic and Mistral SDKs, over real HTTP to the local fake
vendor servers, plain calls, streams read to the end, left early, used with ``with``,
an API error) runs bare and under ``weave-run`` with the switch on: the same stdout and
exit code, and stderr holds at most the agent's one-line notices, never a traceback.

With every site failing, the first one (the request extractor) leaves each call
untraced, so the later sites would never run; ``faults.SITES`` narrows the faults so that
the stream wrapping, accumulator and response sites fail in a traced call too. In process,
each site is failed on its own and shown to have fired and been contained.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _subproc import run_python

from weave_agent import faults

HERE = Path(__file__).resolve().parent
VENDOR_TESTS = HERE.parent / "instrumentations"
for _vendor in ("openai", "anthropic", "mistral"):
    if str(VENDOR_TESTS / _vendor) not in sys.path:
        sys.path.insert(0, str(VENDOR_TESTS / _vendor))

from fake_anthropic_server import FakeAnthropicServer  # noqa: E402
from fake_mistral_server import FakeMistralServer  # noqa: E402
from fake_openai_server import FakeOpenAIServer  # noqa: E402

APP = r'''
import asyncio, os, sys

import anthropic, openai
from mistralai.client import Mistral

oa = openai.OpenAI(api_key="sk-test-0000", base_url=os.environ["APP_OPENAI"], max_retries=0)
an = anthropic.Anthropic(api_key="sk-ant-test-0000", base_url=os.environ["APP_ANTHROPIC"], max_retries=0)
mi = Mistral(api_key="mistral-test-0000", server_url=os.environ["APP_MISTRAL"])
MSG = [{"role": "user", "content": "Say hello to the fault injection test"}]


def show(label, value):
    print(label, repr(value))


r = oa.chat.completions.create(model="gpt-4o-mini", messages=MSG)
show("openai.chat", (r.id, r.choices[0].message.content, r.usage.total_tokens))
s = oa.chat.completions.create(model="gpt-4o-mini", messages=MSG, stream=True, stream_options={"include_usage": True})
show("openai.stream", [c.choices[0].delta.content if c.choices else c.usage.total_tokens for c in s])
with oa.chat.completions.create(model="gpt-4o-mini", messages=MSG, stream=True) as s:
    show("openai.stream.with.first", next(iter(s)).choices[0].delta.content)
s = oa.chat.completions.create(model="gpt-4o-mini", messages=MSG, stream=True)
show("openai.stream.break", next(s).id)
s.close()
r = oa.completions.create(model="gpt-3.5-turbo-instruct", prompt="Once upon a time", stream=True)
show("openai.completions.stream", "".join(c.choices[0].text for c in r))
r = oa.responses.create(model="gpt-4o-mini", input="Hello there", stream=True)
show("openai.responses.stream", [e.type for e in r])
r = oa.embeddings.create(model="text-embedding-3-small", input="hello")
show("openai.embeddings", len(r.data[0].embedding))
bad = openai.OpenAI(api_key="sk-invalid-0000", base_url=os.environ["APP_OPENAI"], max_retries=0)
try:
    bad.chat.completions.create(model="gpt-4o-mini", messages=MSG)
except openai.APIStatusError as e:
    show("openai.error", (type(e).__name__, e.status_code))

m = an.messages.create(model="claude-3-5-haiku-latest", max_tokens=64, messages=MSG)
show("anthropic.create", (m.id, m.content[0].text, m.usage.output_tokens))
s = an.messages.create(model="claude-3-5-haiku-latest", max_tokens=64, messages=MSG, stream=True)
show("anthropic.raw.stream", [e.type for e in s])
with an.messages.stream(model="claude-3-5-haiku-latest", max_tokens=64, messages=MSG) as s:
    show("anthropic.helper", "".join(s.text_stream))
    show("anthropic.helper.final", s.get_final_message().usage.output_tokens)

r = mi.chat.complete(model="mistral-small-latest", messages=MSG)
show("mistral.chat", (r.id, r.choices[0].message.content))
with mi.chat.stream(model="mistral-small-latest", messages=MSG) as s:
    show("mistral.stream", [e.data.choices[0].delta.content for e in s])


async def main():
    aoa = openai.AsyncOpenAI(api_key="sk-test-0000", base_url=os.environ["APP_OPENAI"], max_retries=0)
    s = await aoa.chat.completions.create(model="gpt-4o-mini", messages=MSG, stream=True)
    show("openai.async.stream", [c.choices[0].delta.content async for c in s if c.choices])
    aan = anthropic.AsyncAnthropic(api_key="sk-ant-test-0000", base_url=os.environ["APP_ANTHROPIC"], max_retries=0)
    async with aan.messages.stream(model="claude-3-5-haiku-latest", max_tokens=64, messages=MSG) as s:
        show("anthropic.async.helper", [t async for t in s.text_stream])
    r = await mi.chat.stream_async(model="mistral-small-latest", messages=MSG)
    show("mistral.async.stream", [e.data.choices[0].delta.content async for e in r])

asyncio.run(main())
print("done")
sys.exit(3)  # an exit status of its own, to compare too
'''

_NOT_REQUEST = frozenset(faults.EXTRACTOR_SITES + faults.ACCUMULATOR_SITES + faults.OP_SITES) - {
    "extractor.request",
    "op.start",
}
# Sites set: None (every site; the request extractor fails first: calls run untraced),
# every site but the request (is_stream fails: no stream proxies, response still fails),
# and the stream path (proxies in place, accumulators and the response extractor fail).
SITE_SETS = {
    "all": None,
    "all-but-request": sorted(_NOT_REQUEST),
    "streams": sorted(
        faults.ACCUMULATOR_SITES + ("extractor.response", "extractor.partial_response", "extractor.error_type")
    ),
}

_DRIVER = (
    "import runpy, sys, weave_agent.faults as f; f.SITES = frozenset(%r); "
    "sys.argv = [%r]; runpy.run_path(%r, run_name='__main__')"
)


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, str]]:
    with FakeOpenAIServer(lifetime=120) as o, FakeAnthropicServer(lifetime=120) as a, FakeMistralServer() as m:
        yield {"APP_OPENAI": o.openai_base_url, "APP_ANTHROPIC": a.url, "APP_MISTRAL": m.url}


def _traces(folder: Path) -> str:
    return "".join(p.read_text() for p in folder.rglob("*") if p.is_file())


def test_app_output_is_unchanged_under_fault_injection(servers: dict[str, str], tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(APP)
    bare = run_python(args=[str(app)], env=servers, cwd=tmp_path, timeout=60)
    assert bare.returncode == 3 and bare.stdout.endswith("done\n"), bare
    assert bare.stderr == "", bare
    for name, sites in SITE_SETS.items():
        traces = tmp_path / ("traces-" + name)
        if sites is None:
            target = [sys.executable, str(app)]
        else:
            target = [sys.executable, "-c", _DRIVER % (sites, str(app), str(app))]
        env = dict(servers, WEAVE_AGENT_FAULT_INJECTION="true")
        traced = run_python(
            args=["-m", "weave_agent", "--exporter", "file", "--traces-dir", str(traces), *target],
            env=env,
            cwd=tmp_path,
            timeout=90,
        )
        assert traced.returncode == bare.returncode, (name, traced)
        assert traced.stdout == bare.stdout, (name, traced)
        assert "Traceback" not in traced.stderr, (name, traced)
        notices = traced.err_lines
        assert notices and all(line.startswith("weave-agent: ") for line in notices), (name, traced)
        # the faults fired and were contained: one line per agent site, not one per call
        assert len(notices) == len(set(notices)), (name, traced)
        assert any("failed" in line for line in notices), (name, traced)
        if sites is not None:
            # a traced run: the instrumentations really were in the calls
            assert "gen_ai.operation.name" in _traces(traces), (name, traced)


# --- in process: each site fails on its own, and is contained ----------------------------------


@pytest.fixture
def fired(monkeypatch: pytest.MonkeyPatch, spans: Any) -> Iterator[list[str]]:
    """Turn the switch on after the pipeline is set up, recording each site that fires."""
    seen: list[str] = []
    real = faults.fire

    def fire(site: str) -> None:
        seen.append(site)
        real(site)

    monkeypatch.setattr(faults, "fire", fire)
    faults.configure(True)
    try:
        yield seen
    finally:
        faults.configure(False)
        faults.SITES = None


def _openai_calls(base_url: str) -> list[Any]:
    import openai

    client = openai.OpenAI(api_key="sk-test-0000", base_url=base_url, max_retries=0)
    bad = openai.OpenAI(api_key="sk-invalid-0000", base_url=base_url, max_retries=0)
    msg = [{"role": "user", "content": "hello there"}]
    out: list[Any] = []
    r = client.chat.completions.create(model="gpt-4o-mini", messages=msg)
    out.append((r.id, r.choices[0].message.content))
    s = client.chat.completions.create(model="gpt-4o-mini", messages=msg, stream=True)
    out.append([c.choices[0].delta.content for c in s if c.choices])
    try:
        bad.chat.completions.create(model="gpt-4o-mini", messages=msg, stream=True)
    except openai.APIStatusError as e:
        out.append((type(e).__name__, e.status_code))
    return out


@pytest.mark.agent_errors_expected
@pytest.mark.parametrize("site", faults.EXTRACTOR_SITES + faults.ACCUMULATOR_SITES + faults.OP_SITES)
def test_each_site_fires_and_is_contained(site: str, fired: list[str], spans: Any, instrumentation: Any) -> None:
    import weave_agent

    with FakeOpenAIServer(lifetime=60) as server:
        faults.configure(False)
        expected = _openai_calls(server.openai_base_url)
        instrumentation("openai")

        @weave_agent.op(accumulator=lambda s, c: c)
        def user_stream(n: int) -> Any:
            yield from range(n)
            return _openai_calls(server.openai_base_url)

        def run_all() -> Any:
            gen = user_stream(3)
            items = []
            try:
                while True:
                    items.append(next(gen))
            except StopIteration as stop:
                return items, stop.value

        spans.clear()
        faults.configure(True)
        faults.SITES = frozenset([site])
        if site == "extractor.partial_response":
            # only a stream that fails after output: an OpenAI stream broken off mid-way
            _assert_partial_response_contained(server.openai_base_url)
        else:
            assert run_all() == ([0, 1, 2], expected)
    assert site in fired
    assert spans.finished(), "calls still traced (or untraced for the start sites), never broken"


def _assert_partial_response_contained(base_url: str) -> None:
    import openai
    from fake_openai_server import BEHAVIOR_HEADER

    client = openai.OpenAI(api_key="sk-test-0000", base_url=base_url, max_retries=0)
    s = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hello there"}],
        stream=True,
        extra_headers={BEHAVIOR_HEADER: "stream_error"},
    )
    got = []
    with pytest.raises(openai.APIError):
        for c in s:
            got.append(c)
    assert got


def test_switch_is_off_by_default(spans: Any) -> None:
    import weave_agent

    @weave_agent.op
    def f(x: int) -> int:
        return x + 1

    assert f(1) == 2
    assert faults.ON is False and faults.SITES is None
    assert len(spans.finished()) == 1
