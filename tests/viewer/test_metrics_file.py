"""The ``file`` exporter writes the GenAI metrics too (issue 15, item 7): OTLP-JSON
``ExportMetricsServiceRequest`` lines in ``metrics-<time>-<pid>.jsonl`` beside the
process's ``traces-<time>-<pid>.jsonl``, as the Collector's ``file`` exporter writes them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from _otlp import WEAVE_RUN, clean_env
from google.protobuf.json_format import Parse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from weave_agent.export.telemetry import DURATION_BUCKETS, TOKEN_BUCKETS

_NAME = re.compile(r"(traces|metrics)-(\d{8}T\d{6})-(\d+)(?:\.\d+)?\.jsonl")


def _attrs(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {a["key"]: next(iter(a["value"].values())) for a in items}


def metric_points(path: Path) -> list[tuple[str, str, dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """(name, unit, resource, point attributes, point) of every line; each line is checked
    against the OTLP protobuf schema (unknown fields refused)."""
    out = []
    for text in path.read_text(encoding="utf-8").splitlines():
        doc = json.loads(text)
        assert set(doc) == {"resourceMetrics"}, doc
        Parse(text, ExportMetricsServiceRequest())
        for rm in doc["resourceMetrics"]:
            resource = _attrs(rm["resource"]["attributes"])
            for sm in rm["scopeMetrics"]:
                for m in sm["metrics"]:
                    body = m.get("histogram") or m.get("sum") or {}
                    if "sum" in m:
                        assert m["sum"]["isMonotonic"]  # the usage counters
                    for p in body.get("dataPoints", []):
                        assert body["aggregationTemporality"] == 1  # delta: lines add up
                        out.append((m["name"], m["unit"], resource, _attrs(p["attributes"]), p))
    return out


def span_attrs(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    resource: dict[str, Any] = {}
    spans = []
    for text in path.read_text(encoding="utf-8").splitlines():
        for rs in json.loads(text)["resourceSpans"]:
            resource = _attrs(rs["resource"]["attributes"])
            for ss in rs["scopeSpans"]:
                spans.extend(_attrs(s["attributes"]) for s in ss["spans"])
    return resource, spans


def test_quickstart_writes_genai_histograms_beside_its_spans(quickstart: Path) -> None:
    folder = quickstart / "weave-traces"
    names = sorted(p.name for p in folder.iterdir())
    assert len(names) == 2, names
    (metrics, traces) = [_NAME.fullmatch(n) for n in names]
    assert metrics and traces and metrics.group(1) == "metrics" and traces.group(1) == "traces"
    assert metrics.group(2, 3) == traces.group(2, 3)  # one process, one stamp: the viewer pairs them by name

    points = metric_points(folder / names[0])
    span_resource, spans = span_attrs(folder / names[1])
    chats = [s for s in spans if s.get("gen_ai.operation.name") == "chat"]
    assert len(chats) == 2

    by_name: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    for name, unit, resource, attrs, p in points:
        by_name.setdefault(name, []).append((attrs, p))
        assert resource == span_resource and resource["service.name"] == "quickstart"
        assert unit == ("{token}" if "tokens" in name else "s")
        assert attrs["gen_ai.operation.name"] == "chat" and attrs["gen_ai.request.model"] == "gpt-4o-mini"
        assert attrs["gen_ai.provider.name"] == "openai"
        if "asInt" in p:  # a usage counter
            assert attrs["gen_ai.token.modality"] == "unknown"
            continue
        bounds = TOKEN_BUCKETS if "tokens" in name else DURATION_BUCKETS
        assert p["explicitBounds"] == list(bounds) and sum(int(c) for c in p["bucketCounts"]) == int(p["count"])
    assert set(by_name) == {
        "gen_ai.client.inference.duration", "gen_ai.client.inference.time_to_first_chunk",
        "gen_ai.client.inference.time_per_output_chunk", "gen_ai.client.inference.operation.input_tokens",
        "gen_ai.client.inference.operation.output_tokens", "gen_ai.client.inference.usage.input_tokens",
        "gen_ai.client.inference.usage.output_tokens", "gen_ai.client.inference.usage.cache_read.input_tokens",
        "gen_ai.client.inference.usage.cache_write.input_tokens",
        "gen_ai.client.inference.usage.reasoning.output_tokens",
    }

    def total(name: str, **match: str) -> tuple[int, float]:
        found = [p for a, p in by_name[name] if all(a.get(k.replace("__", ".")) == v for k, v in match.items())]
        if found and "asInt" in found[0]:
            return len(found), sum(int(p["asInt"]) for p in found)
        return sum(int(p["count"]) for p in found), sum(float(p["sum"]) for p in found)

    assert total("gen_ai.client.inference.duration")[0] == 2
    tokens_in = sum(int(s["gen_ai.usage.input_tokens"]) for s in chats)
    tokens_out = sum(int(s["gen_ai.usage.output_tokens"]) for s in chats)
    assert total("gen_ai.client.inference.operation.input_tokens") == (2, tokens_in)
    assert total("gen_ai.client.inference.operation.output_tokens") == (2, tokens_out)
    assert total("gen_ai.client.inference.usage.input_tokens")[1] == tokens_in
    assert total("gen_ai.client.inference.usage.output_tokens")[1] == tokens_out
    (streamed,) = [s for s in chats if s.get("gen_ai.request.stream")]
    assert total("gen_ai.client.inference.time_to_first_chunk") == (1, streamed["gen_ai.response.time_to_first_chunk"])
    # One point per gap between the streamed response's chunks.
    assert total("gen_ai.client.inference.time_per_output_chunk")[0] == int(streamed["weave_agent.stream.chunks"]) - 1


def _run(tmp_path: Path, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "app.py").write_text(textwrap.dedent(code))
    done = subprocess.run([WEAVE_RUN, "python", "app.py"], cwd=tmp_path, env=clean_env(**env), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done


def test_no_metrics_file_when_metrics_are_off_or_nothing_was_measured(tmp_path: Path) -> None:
    quickstart = Path(__file__).resolve().parents[2] / "examples" / "quickstart.py"
    env = clean_env(OTEL_METRICS_EXPORTER="none")
    env.pop("OPENAI_API_KEY", None)
    done = subprocess.run([WEAVE_RUN, "python", str(quickstart)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert [p.name[:7] for p in (tmp_path / "weave-traces").iterdir()] == ["traces-"]
    # no model call: spans, and no (empty) metrics file
    plain = tmp_path / "plain"
    plain.mkdir()
    _run(plain, """
        from weave_agent import op

        @op
        def work(x):
            return x * 2

        print(work(21))
    """)
    assert [p.name[:7] for p in (plain / "weave-traces").iterdir()] == ["traces-"]


def test_a_forked_child_writes_its_own_metrics_and_not_its_parents(tmp_path: Path) -> None:
    """Delta temporality: what the parent measured before the fork is written by the
    parent only; the child's file holds the child's own calls."""
    _run(tmp_path, """
        import os, sys
        import weave_agent
        from weave_agent import op
        from weave_agent.export import telemetry

        @op
        def start():
            return 1

        start()
        def record(seconds, attributes):
            telemetry.instruments().record_call("inference", seconds, attributes)
        record(0.5, {"gen_ai.operation.name": "chat", "gen_ai.request.model": "parent-model"})
        assert weave_agent.flush(5.0)
        record(0.5, {"gen_ai.operation.name": "chat", "gen_ai.request.model": "parent-model"})  # queued at the fork
        pid = os.fork()
        if pid == 0:
            record(0.25, {"gen_ai.operation.name": "chat", "gen_ai.request.model": "child-model"})
            sys.exit(0)
        os.waitpid(pid, 0)
        record(0.5, {"gen_ai.operation.name": "chat", "gen_ai.request.model": "parent-model"})
        print(os.getpid(), pid)
    """)
    files = {m.group(3): p for p in (tmp_path / "weave-traces").iterdir()
             if (m := _NAME.fullmatch(p.name)) and m.group(1) == "metrics"}
    assert len(files) == 2, files
    calls: dict[str, dict[str, int]] = {}
    for pid, path in files.items():
        for name, _unit, _res, attrs, p in metric_points(path):
            if name == "gen_ai.client.inference.duration" and int(p["count"]):
                model = attrs["gen_ai.request.model"]
                calls.setdefault(pid, {})[model] = calls.get(pid, {}).get(model, 0) + int(p["count"])
    assert sorted(calls.values(), key=str) == [{"child-model": 1}, {"parent-model": 3}], calls


def test_metrics_files_rotate_under_the_process_stamp(tmp_path: Path) -> None:
    """Traces and metrics share the file handling: a file past max_bytes rotates into
    ``...-<pid>.1.jsonl``, every part keeping the process's stamp (the viewer pairs by it)."""
    code = """
        import sys
        from weave_agent.export.otlp_json import LineFile
        f = LineFile(sys.argv[1], "metrics", 100)
        for i in range(3):
            f.write({"resourceMetrics": [], "pad": "x" * 80})
        print("\\n".join(f.paths))
    """
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code), str(tmp_path)], capture_output=True, text=True,
                          timeout=60, env=clean_env())
    assert done.returncode == 0, done.stderr
    paths = done.stdout.split()
    assert [re.sub(r"\d{8}T\d{6}-\d+", "S-P", Path(p).name) for p in paths] == [
        "metrics-S-P.jsonl", "metrics-S-P.1.jsonl", "metrics-S-P.2.jsonl"]
    assert len({_NAME.fullmatch(Path(p).name).group(2) for p in paths}) == 1  # type: ignore[union-attr]
    assert all(len(Path(p).read_text().splitlines()) == 1 for p in paths)
