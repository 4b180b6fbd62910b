"""An app that sets up OpenTelemetry itself keeps its providers, whenever it does so.

Before the app's first traced call (the agent's spans go to the app's providers from the
start), or after it: from the app's ``set_tracer_provider``/``set_meter_provider`` (or the
SDK's auto-configuration) on, every span and metric point, the agent's and the app's own,
goes where the app says, with no "Overriding of current TracerProvider" warning, while what
the agent recorded before stays in its own files. Each app runs for real against a local
fake OpenAI server, started by ``weave-run`` (``python -m weave_agent``) and from code
(``weave_agent.init()``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _subproc import run_python

HERE = Path(__file__).resolve().parent
_OPENAI_TESTS = str(HERE.parent / "instrumentations" / "openai")
if _OPENAI_TESTS not in sys.path:
    sys.path.insert(0, _OPENAI_TESTS)

from fake_openai_server import FakeOpenAIServer  # noqa: E402

# The app: one chat call, then (LATE) its own OpenTelemetry set-up, then a second call
# inside a span of its own, and a span from a tracer it took before the set-up.
APP = r'''
import json, os, sys
START = sys.argv[1]
LATE = sys.argv[2]
if START == "code":
    import weave_agent
    weave_agent.init()

import openai
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

client = openai.OpenAI(api_key="sk-test-0000", base_url=os.environ["APP_OPENAI"], max_retries=0)


def ask(text):
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": text}])


# the call's duration histogram, as the v1.41 conventions name it and as the newest do
DURATION = ("gen_ai.client.operation.duration", "gen_ai.client.inference.duration")
spans = InMemorySpanExporter()
reader = InMemoryMetricReader()


def set_up():
    if LATE in ("both", "tracer"):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(spans))
        trace.set_tracer_provider(provider)
    if LATE in ("both", "meter"):
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    if LATE == "auto":
        # what opentelemetry-instrument / a distro runs: the SDK's own configurator
        os.environ.update(OTEL_TRACES_EXPORTER="none", OTEL_METRICS_EXPORTER="none", OTEL_LOGS_EXPORTER="none")
        from opentelemetry.sdk._configuration import _OTelSDKConfigurator

        _OTelSDKConfigurator().configure()
        trace.get_tracer_provider().add_span_processor(SimpleSpanProcessor(spans))


early_tracer = trace.get_tracer("app.early")  # taken before anything is set up
if sys.argv[3] == "before":
    set_up()
ask("first")
if sys.argv[3] == "after":
    set_up()
with trace.get_tracer("app").start_as_current_span("app.work"):
    ask("second")
with early_tracer.start_as_current_span("app.early_work"):
    pass

finished = spans.get_finished_spans()
by_id = {s.context.span_id: s.name for s in finished}
points = {}
data = reader.get_metrics_data() if LATE in ("both", "meter") else None
for rm in (data.resource_metrics if data else []):
    for sm in rm.scope_metrics:
        for m in sm.metrics:
            if m.name in DURATION:
                points[m.name] = sum(p.count for p in m.data.data_points)
print("RESULT " + json.dumps({
    "app_spans": sorted(s.name for s in finished),
    "parents": sorted([s.name, by_id.get(s.parent.span_id, "") if s.parent else ""] for s in finished),
    "app_points": max(points.values(), default=0),
}))
'''


CHAT = "chat gpt-4o-mini"
DURATION = ("gen_ai.client.operation.duration", "gen_ai.client.inference.duration")


@pytest.fixture(scope="module")
def openai_url() -> Iterator[str]:
    with FakeOpenAIServer(lifetime=300) as server:
        yield server.openai_base_url


def _run(tmp_path: Path, openai_url: str, start: str, late: str, when: str) -> tuple[dict[str, Any], Any]:
    app = tmp_path / "app.py"
    app.write_text(APP)
    traces = tmp_path / "traces"
    argv = [str(app), start, late, when]
    env = {"APP_OPENAI": openai_url, "WEAVE_AGENT_TRACES_DIR": str(traces)}
    if start == "weave-run":
        argv = ["-m", "weave_agent", "--exporter", "file", *argv]
    else:
        env["WEAVE_AGENT_EXPORTER"] = "file"
    result = run_python(args=argv, env=env, cwd=tmp_path, timeout=90)
    assert result.returncode == 0, result
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, result
    return json.loads(lines[-1][len("RESULT "):]), result


def _agent_files(traces: Path) -> tuple[list[str], int]:
    """Span names in the agent's traces files, and the duration points in its metrics files."""
    names: list[str] = []
    points: dict[str, int] = {}
    for path in sorted(traces.glob("*.jsonl")) if traces.is_dir() else []:
        for line in path.read_text().splitlines():
            doc = json.loads(line)
            for rs in doc.get("resourceSpans", []):
                for ss in rs["scopeSpans"]:
                    names.extend(s["name"] for s in ss["spans"])
            for rm in doc.get("resourceMetrics", []):
                for sm in rm["scopeMetrics"]:
                    for m in sm["metrics"]:
                        if m["name"] in DURATION:
                            counts = (int(p["count"]) for p in m["histogram"]["dataPoints"])
                            points[m["name"]] = points.get(m["name"], 0) + sum(counts)
    return names, max(points.values(), default=0)




@pytest.mark.parametrize("start", ["weave-run", "code"])
def test_providers_set_after_the_first_call_take_over(tmp_path: Path, openai_url: str, start: str) -> None:
    out, result = _run(tmp_path, openai_url, start, "both", "after")
    assert "Overriding" not in result.stderr, result
    # the app's exporter: the second call (under the app's span) and the app's own spans,
    # also the one from a tracer taken before the set-up
    assert out["app_spans"] == sorted([CHAT, "app.work", "app.early_work"]), result
    assert [CHAT, "app.work"] in out["parents"], out
    # the agent's files: the first call only, its span and its metric point
    names, points = _agent_files(tmp_path / "traces")
    assert names == [CHAT], (names, result)
    assert points == 1, result
    assert out["app_points"] == 1, out


def test_a_late_tracer_provider_alone(tmp_path: Path, openai_url: str) -> None:
    out, result = _run(tmp_path, openai_url, "weave-run", "tracer", "after")
    assert "Overriding" not in result.stderr, result
    assert out["app_spans"] == sorted([CHAT, "app.work", "app.early_work"]), result
    names, points = _agent_files(tmp_path / "traces")
    assert names == [CHAT], (names, result)
    assert points == 2, result  # the app set no MeterProvider: the agent's metrics stay in its files


def test_a_late_meter_provider_alone(tmp_path: Path, openai_url: str) -> None:
    out, result = _run(tmp_path, openai_url, "weave-run", "meter", "after")
    assert "Overriding" not in result.stderr, result
    names, points = _agent_files(tmp_path / "traces")
    assert sorted(names) == sorted([CHAT, CHAT, "app.work", "app.early_work"]), (names, result)
    assert points == 1, result
    assert out["app_points"] == 1, out


def test_late_sdk_auto_configuration_takes_over(tmp_path: Path, openai_url: str) -> None:
    out, result = _run(tmp_path, openai_url, "weave-run", "auto", "after")
    assert "Overriding" not in result.stderr, result
    assert out["app_spans"] == sorted([CHAT, "app.work", "app.early_work"]), result
    names, points = _agent_files(tmp_path / "traces")
    assert names == [CHAT], (names, result)
    assert points == 1, result  # the second point went to the configured MeterProvider


@pytest.mark.parametrize("start", ["weave-run", "code"])
def test_providers_set_before_the_first_call_get_everything(tmp_path: Path, openai_url: str, start: str) -> None:
    out, result = _run(tmp_path, openai_url, start, "both", "before")
    assert "Overriding" not in result.stderr, result
    assert out["app_spans"] == sorted([CHAT, CHAT, "app.work", "app.early_work"]), result
    assert out["app_points"] == 2, out
    names, points = _agent_files(tmp_path / "traces")
    assert names == [] and points == 0, result
