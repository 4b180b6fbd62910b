"""``weave-run show`` prints a usage summary per model under the trees (issue 15, item 7):
from the GenAI metrics in the files read, or from the spans when the files hold none."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from _otlp import WEAVE_RUN, clean_env, histogram, line, metric_line, point, show, span

A, B = "a" * 32, "b" * 32
ROOT = "0" * 15 + "1"
DURATION = "gen_ai.client.operation.duration"
TOKENS = "gen_ai.client.token.usage"
FIRST = "gen_ai.client.operation.time_to_first_chunk"
TITLE_METRICS = "usage by model, from the GenAI metrics (every call in the files read)"
TITLE_SPANS = "usage by model, from the spans (the files hold no GenAI metrics)"


def summary(lines: list[str]) -> list[str]:
    """The lines from the summary's title on."""
    starts = [i for i, x in enumerate(lines) if x.startswith("usage by model")]
    assert len(starts) == 1, lines
    return lines[starts[0]:]


def _traces_file(folder: Path) -> Path:
    (path,) = folder.glob("traces-*.jsonl")
    return path


def test_quickstart_summary_from_its_metrics(quickstart: Path) -> None:
    """The path the exit line names (the traces file): its process's metrics file is read too."""
    last = (quickstart / "stderr.txt").read_text().splitlines()[-1]
    named = last.rsplit(" ", 1)[1]
    assert named.startswith("weave-traces/traces-"), last
    for width in (80, 100):
        done = subprocess.run([WEAVE_RUN, "show", named], cwd=quickstart, env=clean_env(COLUMNS=str(width)),
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and done.stderr == "", done.stderr
        lines = done.stdout.splitlines()
        assert all(len(x) <= width for x in lines), lines
        table = summary(lines)
        assert lines[lines.index(table[0]) - 1] == ""  # a blank line after the trees
        assert table[:2] == [TITLE_METRICS,
                             "model        calls  tokens in  tokens out        cost  mean time  first chunk"], table
        assert len(table) == 3 and re.fullmatch(
            r"gpt-4o-mini      2         47          19  \$0\.0000\d{3}  +[\d.]+ m?s  +[\d.]+ m?s", table[2]), table

    js = subprocess.run([WEAVE_RUN, "show", "--json", named], cwd=quickstart, env=clean_env(), capture_output=True,
                        text=True, timeout=60)
    objects = [json.loads(x) for x in js.stdout.splitlines()]
    assert js.returncode == 0 and len(objects) == 2 and "trace_id" in objects[0], js.stdout
    usage = objects[1]
    assert usage["source"] == "metrics" and set(usage) == {"usage", "source"}
    (row,) = usage["usage"]
    assert {k: row[k] for k in ("model", "calls", "errors", "input_tokens", "output_tokens", "streamed_calls")} == {
        "model": "gpt-4o-mini", "calls": 2, "errors": 0, "input_tokens": 47, "output_tokens": 19, "streamed_calls": 1}
    # the streamed call's time to first chunk is the span's, recorded by the same code
    chats = objects[0]["spans"][0]["children"]
    (streamed,) = [c for c in chats if c["attributes"].get("gen_ai.request.stream")]
    assert row["mean_time_to_first_chunk_ms"] == streamed["attributes"]["gen_ai.response.time_to_first_chunk"] * 1000
    assert 0 < row["mean_duration_ms"] < objects[0]["duration_ms"]


def test_without_the_metrics_file_the_summary_comes_from_the_spans(quickstart: Path, tmp_path: Path) -> None:
    """Older traces, or a Collector file of spans only: the same summary, from the spans."""
    traces = _traces_file(quickstart / "weave-traces")
    copy = tmp_path / traces.name
    copy.write_bytes(traces.read_bytes())
    r = show(str(copy), "--json")
    usage = r.usage()
    assert r.code == 0 and usage is not None and usage["source"] == "spans", r
    from_metrics = show(str(traces), "--json").usage()
    assert from_metrics is not None and from_metrics["source"] == "metrics"
    keys = ("model", "calls", "errors", "input_tokens", "output_tokens", "streamed_calls", "mean_time_to_first_chunk_ms")
    assert [{k: u[k] for k in keys} for u in usage["usage"]] == [{k: u[k] for k in keys} for u in from_metrics["usage"]]
    assert summary(show(str(copy)).lines)[0] == TITLE_SPANS


def test_metrics_add_up_delta_and_take_the_latest_cumulative(tmp_path: Path) -> None:
    """Delta points add up (a line read twice counts once); a cumulative series counts by
    its latest point; the Collector's string enums and exponential histograms are read."""
    chat = dict(gen_ai__operation__name="chat", gen_ai__request__model="gpt-4o")
    (tmp_path / "t.jsonl").write_text(line(span(A, ROOT, "chat gpt-4o", 0, 100, **chat)))
    delta = metric_line(
        histogram(DURATION, point(2, 1.0, 0, 1000, **chat), point(1, 3.0, 0, 1000, error__type="Timeout", **chat)),
        histogram(TOKENS, point(3, 300, gen_ai__token__type="input", **chat),
                  point(3, 30, gen_ai__token__type="output", **chat), unit="{token}"),
    )
    later = metric_line(histogram(DURATION, point(1, 2.0, 1000, 2000, **chat)),
                        histogram(FIRST, point(1, 0.25, 1000, 2000, **chat)))
    claude = dict(gen_ai__operation__name="chat", gen_ai__request__model="claude-sonnet-4-5")
    cumulative = [metric_line(histogram(DURATION, point(n, 0.5 * n, 0, 1000 * n, **claude),
                                        temporality="AGGREGATION_TEMPORALITY_CUMULATIVE")) for n in (1, 2, 3)]
    exponential = json.loads(metric_line(histogram(TOKENS, point(3, 900, gen_ai__token__type="input", **claude),
                                                   temporality=2, unit="{token}")))
    metric = exponential["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]
    metric["exponentialHistogram"] = metric.pop("histogram")
    (tmp_path / "m.jsonl").write_text(delta + later + delta + "".join(cumulative) + json.dumps(exponential) + "\n")
    r = show(str(tmp_path), "--json")
    assert r.code == 0 and r.err == "", r
    usage = r.usage()
    assert usage is not None and usage["source"] == "metrics"
    rows = {u["model"]: u for u in usage["usage"]}
    assert list(rows) == ["gpt-4o", "claude-sonnet-4-5"]  # most calls first
    g, c = rows["gpt-4o"], rows["claude-sonnet-4-5"]
    assert (g["calls"], g["errors"], g["input_tokens"], g["output_tokens"]) == (4, 1, 300, 30)
    assert g["mean_duration_ms"] == 1500.0 and g["streamed_calls"] == 1 and g["mean_time_to_first_chunk_ms"] == 250.0
    assert (c["calls"], c["errors"], c["input_tokens"], c["output_tokens"]) == (3, 0, 900, None)
    assert c["mean_duration_ms"] == 500.0 and c["streamed_calls"] == 0 and c["mean_time_to_first_chunk_ms"] is None

    text = summary(show(str(tmp_path)).lines)
    assert text == [
        TITLE_METRICS,
        "model              calls  errors  tokens in  tokens out  mean time  first chunk",
        "gpt-4o                 4       1        300          30     1.50 s       250 ms",
        "claude-sonnet-4-5      3       0        900           -     500 ms            -",
    ]


def test_spans_count_a_framework_call_over_an_sdk_call_once(tmp_path: Path) -> None:
    """LangChain's chat span over the OpenAI SDK's: one call, with the tokens the one
    span that carries them has; errors and time to first chunk from the inner span."""
    chat = dict(gen_ai__operation__name="chat", gen_ai__request__model="gpt-4o-mini")
    (tmp_path / "t.jsonl").write_text(line(
        span(A, ROOT, "invoke_agent helper", 0, 1000, gen_ai__operation__name="invoke_agent"),
        span(A, "1" * 16, "chat gpt-4o-mini", 0, 400, ROOT, **chat),
        span(A, "2" * 16, "chat gpt-4o-mini", 100, 300, "1" * 16, gen_ai__usage__input_tokens=10,
             gen_ai__usage__output_tokens=5, gen_ai__response__time_to_first_chunk=0.05, **chat),
        span(A, "3" * 16, "chat gpt-4o-mini", 500, 600, ROOT, error="APIError: overloaded", **chat),
        span(A, "4" * 16, "execute_tool search", 600, 900, ROOT, gen_ai__operation__name="execute_tool"),
    ))
    usage = show(str(tmp_path), "--json").usage()
    assert usage is not None and usage["source"] == "spans"
    (row,) = usage["usage"]
    assert row == {"model": "gpt-4o-mini", "calls": 2, "errors": 1, "input_tokens": 10, "output_tokens": 5,
                   "cost_usd": None, "mean_duration_ms": pytest.approx(150.0), "streamed_calls": 1,
                   "mean_time_to_first_chunk_ms": 50.0}


def test_the_summary_covers_every_file_read_not_only_the_traces_shown(tmp_path: Path) -> None:
    chat = dict(gen_ai__operation__name="chat", gen_ai__request__model="m1")
    (tmp_path / "t.jsonl").write_text(line(span(A, ROOT, "chat m1", 0, 10, **chat))
                                      + line(span(B, ROOT, "chat m1", 20, 40, **chat)))
    r = show(str(tmp_path), "--last", "1", "--json")
    assert [t["trace_id"] for t in r.traces()] == [B]
    usage = r.usage()
    assert usage is not None and usage["usage"][0]["calls"] == 2
    # no trace selected: neither trees nor summary
    none = show(str(tmp_path), "--trace", "ffff")
    assert none.code == 1 and none.out == ""


def test_no_model_call_no_summary(tmp_path: Path) -> None:
    (tmp_path / "t.jsonl").write_text(line(span(A, ROOT, "work", 0, 10), span(A, "1" * 16, "step", 1, 5, ROOT)))
    r = show(str(tmp_path))
    assert r.code == 0 and not any(x.startswith("usage") for x in r.lines), r
    js = show(str(tmp_path), "--json")
    assert js.usage() is None and len(js.json()) == 1


def test_a_traces_file_brings_the_metrics_of_its_own_process_only(tmp_path: Path) -> None:
    """``traces-<time>-<pid>.jsonl`` pairs with ``metrics-<time>-<pid>[.N].jsonl``: not with
    the metrics of an earlier run that had the same pid (containers), nor other files."""
    chat = dict(gen_ai__operation__name="chat", gen_ai__request__model="m1")
    (tmp_path / "traces-20260101T000000-7.jsonl").write_text(line(span(A, ROOT, "chat m1", 0, 10, **chat)))
    (tmp_path / "metrics-20260101T000000-7.jsonl").write_text(metric_line(histogram(DURATION, point(1, 0.5, **chat))))
    (tmp_path / "metrics-20260101T000000-7.1.jsonl").write_text(
        metric_line(histogram(DURATION, point(2, 1.0, 1000, 2000, **chat))))
    (tmp_path / "metrics-20250505T000000-7.jsonl").write_text(
        metric_line(histogram(DURATION, point(50, 9.0, 5000, 6000, **chat))))
    (tmp_path / "metrics-20260101T000000-77.jsonl").write_text(
        metric_line(histogram(DURATION, point(70, 9.0, 7000, 8000, **chat))))
    usage = show(str(tmp_path / "traces-20260101T000000-7.jsonl"), "--json").usage()
    assert usage is not None and usage["source"] == "metrics" and usage["usage"][0]["calls"] == 3, usage
    # the folder: every file in it
    everything = show(str(tmp_path), "--json").usage()
    assert everything is not None and everything["usage"][0]["calls"] == 123


def test_a_collector_file_with_spans_and_metrics_in_one(tmp_path: Path) -> None:
    chat = dict(gen_ai__operation__name="chat", gen_ai__request__model="m1")
    path = tmp_path / "collector.json"
    path.write_text(line(span(A, ROOT, "chat m1", 0, 10, **chat))
                    + metric_line(histogram(DURATION, point(1, 0.01, **chat), temporality=2))
                    + json.dumps({"resourceLogs": []}) + "\n")
    r = show(str(path), "--json")
    assert r.code == 0 and r.err == "", r
    usage = r.usage()
    assert usage is not None and usage["source"] == "metrics"
    assert usage["usage"][0]["mean_duration_ms"] == pytest.approx(10.0)


def test_a_long_model_name_is_cut_to_the_width(tmp_path: Path) -> None:
    model = "ft:gpt-4o-mini-2024-07-18:acme-corp:support-triage-v3:9ZqXy1Ab"
    chat = dict(gen_ai__operation__name="chat", gen_ai__request__model=model)
    (tmp_path / "t.jsonl").write_text(line(span(A, ROOT, "chat " + model, 0, 10, gen_ai__usage__input_tokens=1,
                                                gen_ai__usage__output_tokens=2, **chat)))
    for width in (80, 100, 160):
        lines = show(str(tmp_path), width=width).lines
        assert all(len(x) <= width for x in lines), (width, lines)
        table = summary(lines)
        assert table[2].startswith("ft:gpt-4o-mini") and table[2].endswith("  -")
        assert (model in table[2]) == (width >= 160), table
