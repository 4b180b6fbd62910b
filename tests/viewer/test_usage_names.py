"""The usage summary reads the GenAI metrics under the newest names (issue 17, item 7): the
``gen_ai.client.inference.*`` duration and time to first chunk, the usage counters (sums),
the embeddings' own; the v1.41 names of older files; and a process that wrote both
(``WEAVE_AGENT_GENAI_CONVENTIONS=both``) once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from _otlp import T0, attr, histogram, line, metric_line, point, show, span

A = "a" * 32
ROOT = "0" * 15 + "1"
CHAT = dict(gen_ai__operation__name="chat", gen_ai__request__model="gpt-4o")
EMBED = dict(gen_ai__operation__name="embeddings", gen_ai__request__model="text-embedding-3-small")


def counter(name: str, value: int, start_ms: float = 0, end_ms: float = 1000, **attrs: Any) -> dict[str, Any]:
    """A monotonic sum (a usage counter) with one point."""
    dp = {"startTimeUnixNano": str(T0 + int(start_ms * 1e6)), "timeUnixNano": str(T0 + int(end_ms * 1e6)),
          "asInt": str(value), "attributes": [attr(k.replace("__", "."), v) for k, v in attrs.items()]}
    return {"name": name, "unit": "{token}", "sum": {"dataPoints": [dp], "aggregationTemporality": 1,
                                                     "isMonotonic": True}}


def newest(service: str = "svc") -> str:
    return metric_line(
        histogram("gen_ai.client.inference.duration", point(2, 1.0, **CHAT)),
        histogram("gen_ai.client.inference.time_to_first_chunk", point(1, 0.2, **CHAT)),
        counter("gen_ai.client.inference.usage.input_tokens", 120, gen_ai__token__modality="unknown", **CHAT),
        counter("gen_ai.client.inference.usage.output_tokens", 30, gen_ai__token__modality="unknown", **CHAT),
        histogram("gen_ai.client.inference.operation.input_tokens", point(2, 120, **CHAT), unit="{token}"),
        histogram("gen_ai.client.embeddings.duration", point(1, 0.1, **EMBED)),
        histogram("gen_ai.client.embeddings.operation.input_tokens", point(1, 8, **EMBED), unit="{token}"),
        service=service,
    )


def old(service: str = "svc") -> str:
    return metric_line(
        histogram("gen_ai.client.operation.duration", point(2, 1.0, **CHAT)),
        histogram("gen_ai.client.operation.time_to_first_chunk", point(1, 0.2, **CHAT)),
        histogram("gen_ai.client.token.usage", point(2, 120, gen_ai__token__type="input", **CHAT),
                  point(2, 30, gen_ai__token__type="output", **CHAT), unit="{token}"),
        service=service,
    )


def rows(tmp_path: Path, metrics: str) -> dict[str, dict[str, Any]]:
    (tmp_path / "t.jsonl").write_text(line(span(A, ROOT, "chat gpt-4o", 0, 100, **CHAT)))
    (tmp_path / "m.jsonl").write_text(metrics)
    r = show(str(tmp_path), "--json")
    assert r.code == 0 and r.err == "", r
    usage = r.usage()
    assert usage is not None and usage["source"] == "metrics", usage
    return {u["model"]: u for u in usage["usage"]}


def test_the_newest_names(tmp_path: Path) -> None:
    found = rows(tmp_path, newest())
    chat = found["gpt-4o"]
    assert (chat["calls"], chat["input_tokens"], chat["output_tokens"]) == (2, 120, 30)
    assert chat["mean_duration_ms"] == 500.0 and chat["streamed_calls"] == 1
    embed = found["text-embedding-3-small"]
    assert (embed["calls"], embed["input_tokens"], embed["output_tokens"]) == (1, 8, None)


def test_the_v1_41_names_of_older_files(tmp_path: Path) -> None:
    chat = rows(tmp_path, old())["gpt-4o"]
    assert (chat["calls"], chat["input_tokens"], chat["output_tokens"], chat["streamed_calls"]) == (2, 120, 30, 1)


def test_a_process_that_wrote_both_counts_once_and_two_processes_add_up(tmp_path: Path) -> None:
    both = newest("both-names")[:-1] + "\n" + old("both-names")  # one process, every name
    chat = rows(tmp_path, both + old("older-run"))["gpt-4o"]
    assert (chat["calls"], chat["input_tokens"], chat["output_tokens"], chat["streamed_calls"]) == (4, 240, 60, 2)


def test_a_logs_file_beside_the_others_is_no_line_to_skip(tmp_path: Path) -> None:
    (tmp_path / "logs-x.jsonl").write_text('{"resourceLogs": []}\n')
    assert rows(tmp_path, newest())["gpt-4o"]["calls"] == 2
