"""The usage summary under ``weave-run show``'s trees: per model, the calls, tokens in and
out, mean duration and mean time to the first chunk of the streamed calls.

It is what the GenAI metrics are for, read from the metrics lines of the files shown,
under the newest names (``gen_ai.client.inference.duration``, the
``gen_ai.client.inference.usage.*_tokens`` counters, ``.time_to_first_chunk``, the
embeddings' ``gen_ai.client.embeddings.*``) and the v1.41 ones of older files
(``gen_ai.client.operation.duration``, ``gen_ai.client.token.usage``,
``gen_ai.client.operation.time_to_first_chunk``). A process that wrote both
(``WEAVE_AGENT_GENAI_CONVENTIONS=both``) is read from the newest names only. Files without
metrics (traces written before the agent wrote metrics locally, a Collector file of spans
only) get the same summary computed from the spans, and say so.
It covers every call in the files read: metrics cannot be split by trace, so ``--trace``
and ``--last`` do not narrow it. The cost per model is the sum of the spans'
``weave_agent.cost.usd`` (the metrics carry no cost), over the same files.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .viewer import MetricPoint, Span, fmt_cost, fmt_duration

# The newest names (inference and embeddings)...
DURATIONS = frozenset({"gen_ai.client.inference.duration", "gen_ai.client.embeddings.duration"})
INPUT_TOKENS = frozenset({"gen_ai.client.inference.usage.input_tokens", "gen_ai.client.embeddings.operation.input_tokens"})
OUTPUT_TOKENS = "gen_ai.client.inference.usage.output_tokens"
FIRST_CHUNK = "gen_ai.client.inference.time_to_first_chunk"
NEWEST = DURATIONS | INPUT_TOKENS | {OUTPUT_TOKENS, FIRST_CHUNK}
# ... and v1.41's.
DURATION = "gen_ai.client.operation.duration"
TOKENS = "gen_ai.client.token.usage"
OLD_FIRST_CHUNK = "gen_ai.client.operation.time_to_first_chunk"
OLD = frozenset({DURATION, TOKENS, OLD_FIRST_CHUNK})
# The operations that are one call to a model (the ones the GenAI metrics record).
MODEL_CALLS = frozenset({"chat", "text_completion", "embeddings", "generate_content"})

_MODEL_MIN = 12


class Usage:
    """One model's row."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.calls = 0
        self.errors = 0
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.duration_sum = 0.0  # seconds, over duration_n calls
        self.duration_n = 0
        self.streams = 0
        self.first_chunk_sum = 0.0  # seconds, over first_chunk_n streams
        self.first_chunk_n = 0
        self.cost_usd: float | None = None  # None: no call of this model was priced

    def add_tokens(self, kind: Any, count: float) -> None:
        if kind == "input":
            self.input_tokens = (self.input_tokens or 0) + int(count)
        elif kind == "output":
            self.output_tokens = (self.output_tokens or 0) + int(count)

    @property
    def mean_duration(self) -> float | None:
        return self.duration_sum / self.duration_n if self.duration_n else None

    @property
    def mean_first_chunk(self) -> float | None:
        return self.first_chunk_sum / self.first_chunk_n if self.first_chunk_n else None

    def as_json(self) -> dict[str, Any]:
        mean, first = self.mean_duration, self.mean_first_chunk
        return {
            "model": self.model,
            "calls": self.calls,
            "errors": self.errors,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd,
            "mean_duration_ms": None if mean is None else mean * 1000,
            "streamed_calls": self.streams,
            "mean_time_to_first_chunk_ms": None if first is None else first * 1000,
        }


def _model(attributes: dict[str, Any]) -> str:
    return str(attributes.get("gen_ai.request.model") or attributes.get("gen_ai.response.model") or "?")


def _rows(by_model: dict[str, Usage]) -> list[Usage]:
    return sorted(by_model.values(), key=lambda u: (-u.calls, u.model))


def from_metrics(points: Iterable[MetricPoint]) -> list[Usage]:
    """Delta points add up (the same point read twice counts once); a cumulative series
    counts by its latest point."""
    deltas: dict[tuple[str, int], MetricPoint] = {}
    latest: dict[str, MetricPoint] = {}
    for p in points:
        if p.delta:
            deltas[(p.series, p.time)] = p
        elif p.series not in latest or p.time >= latest[p.series].time:
            latest[p.series] = p
    chosen = (*deltas.values(), *latest.values())
    newest = {p.resource for p in chosen if p.metric in NEWEST}
    by_model: dict[str, Usage] = {}
    for p in chosen:
        if p.metric in OLD and p.resource in newest:
            continue  # the same calls under the newest names
        if p.metric not in NEWEST and p.metric not in OLD or not p.count:
            continue
        row = by_model.setdefault(_model(p.attributes), Usage(_model(p.attributes)))
        if p.metric in INPUT_TOKENS or p.metric == OUTPUT_TOKENS:
            if p.sum is not None:
                row.add_tokens("input" if p.metric in INPUT_TOKENS else "output", p.sum)
        elif p.metric == DURATION or p.metric in DURATIONS:
            row.calls += p.count
            if p.attributes.get("error.type"):
                row.errors += p.count
            if p.sum is not None:
                row.duration_sum += p.sum
                row.duration_n += p.count
        elif p.metric == TOKENS:
            if p.sum is not None:
                row.add_tokens(p.attributes.get("gen_ai.token.type"), p.sum)
        else:
            row.streams += p.count
            if p.sum is not None:
                row.first_chunk_sum += p.sum
                row.first_chunk_n += p.count
    return _rows(by_model)


def from_spans(spans: Iterable[Span]) -> list[Usage]:
    """The model calls are the spans of a model operation (``gen_ai.operation.name``)
    with no such span under them: a framework's span around the SDK's span (LangChain
    over OpenAI) is one call, not two. Tokens come from whichever of them carries
    ``gen_ai.usage.*`` (exactly one does); time to first chunk from
    ``gen_ai.response.time_to_first_chunk``."""
    spans = list(spans)
    model_spans = [s for s in spans if s.attributes.get("gen_ai.operation.name") in MODEL_CALLS]
    by_id = {(s.trace_id, s.span_id): s for s in spans}
    wrappers: set[tuple[str, str]] = set()
    for s in model_spans:
        parent = by_id.get((s.trace_id, s.parent_id))
        seen = 0
        while parent is not None and seen < len(by_id):
            if parent.attributes.get("gen_ai.operation.name") in MODEL_CALLS:
                wrappers.add((parent.trace_id, parent.span_id))
            parent = by_id.get((parent.trace_id, parent.parent_id)) if parent.parent_id else None
            seen += 1
    by_model: dict[str, Usage] = {}
    for s in model_spans:
        row = by_model.setdefault(_model(s.attributes), Usage(_model(s.attributes)))
        tin, tout = s.tokens
        if tin is not None:
            row.add_tokens("input", tin)
        if tout is not None:
            row.add_tokens("output", tout)
        if (s.trace_id, s.span_id) in wrappers:
            continue
        row.calls += 1
        row.errors += s.error() is not None
        row.duration_sum += s.duration_ns / 1e9
        row.duration_n += 1
        first = s.attributes.get("gen_ai.response.time_to_first_chunk")
        if isinstance(first, (int, float)) and not isinstance(first, bool):
            row.streams += 1
            row.first_chunk_sum += float(first)
            row.first_chunk_n += 1
    return _rows(by_model)


def add_costs(rows: list[Usage], spans: Iterable[Span]) -> None:
    """Each row's cost: the sum of ``weave_agent.cost.usd`` over the spans of its model
    (only the span that carries a call's usage is priced, so a call counts once)."""
    by_model = {r.model: r for r in rows}
    for s in spans:
        cost = s.cost
        row = by_model.get(_model(s.attributes)) if cost is not None else None
        if row is not None and cost is not None:
            row.cost_usd = (row.cost_usd or 0.0) + cost


def summarize(points: list[MetricPoint], spans: Iterable[Span]) -> tuple[str, list[Usage]]:
    """``("metrics", rows)`` from the metrics when the files hold any, else ``("spans", rows)``;
    the cost from the spans either way."""
    spans = list(spans)
    source, rows = "spans", []
    if points:
        rows = from_metrics(points)
        if rows:
            source = "metrics"
    if not rows:
        rows = from_spans(spans)
    add_costs(rows, spans)
    return source, rows


TITLES = {
    "metrics": "usage by model, from the GenAI metrics (every call in the files read)",
    "spans": "usage by model, from the spans (the files hold no GenAI metrics)",
}


def as_json(source: str, rows: list[Usage]) -> dict[str, Any]:
    return {"usage": [r.as_json() for r in rows], "source": source}


def _seconds(value: float | None) -> str:
    return "-" if value is None else fmt_duration(int(value * 1e9))


def render(source: str, rows: list[Usage], console: Any) -> None:
    """The table, laid out for the console: a long model name is cut before anything else."""
    from rich.text import Text

    errors = any(r.errors for r in rows)
    priced = any(r.cost_usd is not None for r in rows)
    head = (["calls"] + (["errors"] if errors else []) + ["tokens in", "tokens out"] + (["cost"] if priced else [])
            + ["mean time", "first chunk"])
    cells = [
        [str(r.calls)] + ([str(r.errors)] if errors else [])
        + ["-" if r.input_tokens is None else str(r.input_tokens), "-" if r.output_tokens is None else str(r.output_tokens)]
        + ([fmt_cost(r.cost_usd) or "-"] if priced else [])
        + [_seconds(r.mean_duration), _seconds(r.mean_first_chunk)]
        for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(head)]
    rest = sum(w + 2 for w in widths)
    w_model = max(len("model"), *(len(r.model) for r in rows))
    w_model = max(min(w_model, console.width - rest), min(w_model, _MODEL_MIN))
    title = TITLES[source]
    if len(title) > console.width:
        title = title.split(" (")[0]
    console.print(Text(title[: console.width], style="bold", no_wrap=True, overflow="ellipsis"))
    line = Text("model".ljust(w_model), style="dim", no_wrap=True, overflow="ellipsis")
    for h, w in zip(head, widths, strict=True):
        line.append("  " + h.rjust(w), style="dim")
    console.print(line)
    for r, row_cells in zip(rows, cells, strict=True):
        model = r.model if len(r.model) <= w_model else r.model[: w_model - 1] + "…"
        line = Text(model.ljust(w_model), style="magenta", no_wrap=True, overflow="ellipsis")
        for i, (c, w) in enumerate(zip(row_cells, widths, strict=True)):
            style = "red" if errors and i == 1 and c != "0" else ""
            line.append("  " + c.rjust(w), style=style)
        console.print(line)
    costs = [r.cost_usd for r in rows if r.cost_usd is not None]
    if len(costs) > 1:
        console.print(Text("total cost %s" % fmt_cost(sum(costs)), style="bold", no_wrap=True, overflow="ellipsis"))
