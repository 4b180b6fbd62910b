"""``weave-run show``: draw the local OTLP-JSON trace files as trees in the terminal.

    weave-run show [PATH...] [--last N] [--trace ID] [--follow] [--json] [--full]

Reads the files the agent's ``file`` exporter writes (default ``./weave-traces`` or
``WEAVE_AGENT_TRACES_DIR``) or any OTLP-JSON the Collector's ``file`` exporter wrote: one
``ExportTraceServiceRequest`` per line. A PATH is a file or a folder (its ``*.json`` and
``*.jsonl`` files); a traces file the agent wrote brings its process's metrics file
(``metrics-<time>-<pid>.jsonl``). Under the trees, a usage summary per model (``usage``),
from the GenAI metrics lines of the files read, else from their spans. A line that does
not parse is reported on stderr with its file and line number and skipped. ``rich`` is
imported here only: the agent itself never needs it.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

COST = "weave_agent.cost.usd"  # set by the agent's exporter (agent/export/cost.py)
CONTENT_KEYS = ("gen_ai.system_instructions", "gen_ai.input.messages", "gen_ai.output.messages", "input.value", "output.value")
_KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
_STATUS = {0: "unset", 1: "ok", 2: "error"}
_TEMPORALITY = {0: "unspecified", 1: "delta", 2: "cumulative"}
_BAR = 24  # the bar at 100 columns; wider consoles get a longer one, up to _BAR_MAX
_BAR_MAX = 60
_BAR_MIN = 8  # narrower than this, the bar goes
_MODEL_MIN = 12
_NAME_MIN = 12
_NAME_KEEP = 20  # a tree whose names would be cut shorter than this is indented 2 columns per level
_NAME_TINY = 6  # a prefix is cut on its left before a name goes below this
_POLL = 0.25


# --- reading ------------------------------------------------------------------------------


class Span:
    __slots__ = ("trace_id", "span_id", "parent_id", "name", "kind", "start", "end", "status", "status_message",
                 "attributes", "events", "resource", "scope", "children")

    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: int
    start: int
    end: int
    status: int
    status_message: str
    attributes: dict[str, Any]
    events: list[dict[str, Any]]
    resource: dict[str, Any]
    scope: str
    children: list[Span]

    def __init__(self) -> None:
        self.children = []

    @property
    def duration_ns(self) -> int:
        return max(0, self.end - self.start)

    @property
    def model(self) -> str:
        a = self.attributes
        return str(a.get("gen_ai.response.model") or a.get("gen_ai.request.model") or "")

    @property
    def tokens(self) -> tuple[int | None, int | None]:
        a = self.attributes
        return _as_int(a.get("gen_ai.usage.input_tokens")), _as_int(a.get("gen_ai.usage.output_tokens"))

    @property
    def cost(self) -> float | None:
        """``weave_agent.cost.usd``: what the call cost, as the agent priced it on export."""
        return _as_cost(self.attributes.get(COST))

    @property
    def is_stream(self) -> bool:
        a = self.attributes
        return bool(a.get("gen_ai.request.stream")) or "weave_agent.stream.end_reason" in a

    def error(self) -> tuple[str, str] | None:
        """``(type, message)`` when the span failed: ``error.type``, the exception event."""
        etype = str(self.attributes.get("error.type") or "")
        message = ""
        for event in self.events:
            if event.get("name") == "exception":
                attrs = event.get("attributes", {})
                etype = etype or str(attrs.get("exception.type") or "")
                message = str(attrs.get("exception.message") or "")
                break
        if not message and self.status == 2:
            message = self.status_message
            if etype and message.startswith(etype + ": "):
                message = message[len(etype) + 2:]
        if not etype and not message and self.status != 2:
            return None
        return etype or "error", message


def _as_cost(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0:
        return None
    return float(value)


def _as_int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _value(v: Any) -> Any:
    """An OTLP ``AnyValue`` (JSON encoding) as a Python value."""
    if not isinstance(v, dict):
        return v
    if "stringValue" in v:
        return v["stringValue"]
    if "intValue" in v:
        return _as_int(v["intValue"])
    if "doubleValue" in v:
        return float(v["doubleValue"])
    if "boolValue" in v:
        return bool(v["boolValue"])
    if "arrayValue" in v:
        return [_value(x) for x in (v["arrayValue"] or {}).get("values", [])]
    if "kvlistValue" in v:
        return _attrs((v["kvlistValue"] or {}).get("values", []))
    if "bytesValue" in v:
        return v["bytesValue"]
    return None


def _attrs(items: Iterable[Any]) -> dict[str, Any]:
    return {kv["key"]: _value(kv.get("value")) for kv in items or () if isinstance(kv, dict) and "key" in kv}


def _hex(raw: Any) -> str:
    if not raw:
        return ""
    s = str(raw)
    try:
        int(s, 16)
        return s.lower()
    except ValueError:
        return base64.b64decode(s).hex()  # protobuf's default JSON mapping (base64 ids)


def _enum(raw: Any, names: dict[int, str]) -> int:
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str):
        for code, name in names.items():
            if raw.upper().endswith("_" + name.upper()):
                return code
    return 0


class MetricPoint:
    """One data point of a GenAI histogram or counter (``gen_ai.client.*``): what the usage
    summary reads (a counter's point has count 1 and its value as sum). ``series`` names the
    stream the point belongs to (resource, scope, metric, attributes, start time): a
    cumulative series counts by its latest point only; ``resource`` tells the processes
    apart (one that wrote both the newest and the v1.41 names is read once)."""

    __slots__ = ("metric", "attributes", "count", "sum", "delta", "series", "time", "resource")

    def __init__(self, metric: str, attributes: dict[str, Any], count: int, total: float | None, delta: bool,
                 series: str, time_ns: int, resource: str = "") -> None:
        self.metric, self.attributes, self.count, self.sum = metric, attributes, count, total
        self.delta, self.series, self.time, self.resource = delta, series, time_ns, resource


def parse_line(line: str) -> tuple[list[Span], list[MetricPoint]]:
    """The spans and GenAI metric points of one OTLP-JSON line; raises ValueError when it
    is neither (log and profile lines, which the Collector's file exporter may write in
    the same file, give nothing)."""
    doc = json.loads(line)
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    if "resourceSpans" in doc:
        return _spans_of(doc), []
    if "resourceMetrics" in doc:
        return [], _points_of(doc)
    if doc.keys() & {"resourceLogs", "resourceProfiles"}:
        return [], []
    raise ValueError("no resourceSpans: not an OTLP-JSON ExportTraceServiceRequest")


def spans_of_line(line: str) -> list[Span]:
    """The spans of one OTLP-JSON line; raises ValueError when it is not one."""
    return parse_line(line)[0]


def _spans_of(doc: dict[str, Any]) -> list[Span]:
    out: list[Span] = []
    try:
        for rs in doc["resourceSpans"] or ():
            resource = _attrs((rs.get("resource") or {}).get("attributes", []))
            for ss in rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans") or ():
                scope = (ss.get("scope") or ss.get("instrumentationLibrary") or {}).get("name", "")
                for raw in ss.get("spans") or ():
                    s = Span()
                    s.trace_id, s.span_id = _hex(raw["traceId"]), _hex(raw["spanId"])
                    s.parent_id = _hex(raw.get("parentSpanId"))
                    s.name = raw.get("name", "")
                    s.kind = _enum(raw.get("kind", 0), _KINDS)
                    s.start = int(raw.get("startTimeUnixNano") or 0)
                    s.end = int(raw.get("endTimeUnixNano") or s.start)
                    status = raw.get("status") or {}
                    s.status = _enum(status.get("code", 0), _STATUS)
                    s.status_message = status.get("message", "")
                    s.attributes = _attrs(raw.get("attributes", []))
                    s.events = [
                        {"name": e.get("name", ""), "time": int(e.get("timeUnixNano") or 0), "attributes": _attrs(e.get("attributes", []))}
                        for e in raw.get("events") or ()
                    ]
                    s.resource, s.scope = resource, scope
                    out.append(s)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError("not an OTLP-JSON span (%s)" % (exc,)) from None
    return out


def _points_of(doc: dict[str, Any]) -> list[MetricPoint]:
    """The points of the ``gen_ai.client.*`` histograms (explicit or exponential) and
    counters (sums); other metrics are not read."""
    out: list[MetricPoint] = []
    try:
        for rm in doc["resourceMetrics"] or ():
            resource = json.dumps(_attrs((rm.get("resource") or {}).get("attributes", [])), sort_keys=True, default=str)
            for sm in rm.get("scopeMetrics") or rm.get("instrumentationLibraryMetrics") or ():
                scope = (sm.get("scope") or sm.get("instrumentationLibrary") or {}).get("name", "")
                for metric in sm.get("metrics") or ():
                    name = metric.get("name", "")
                    body = metric.get("histogram") or metric.get("exponentialHistogram")
                    counter = body is None and isinstance(metric.get("sum"), dict)
                    if counter:
                        body = metric["sum"]
                    if not name.startswith("gen_ai.client.") or not isinstance(body, dict):
                        continue
                    delta = _enum(body.get("aggregationTemporality", 0), _TEMPORALITY) == 1
                    for dp in body.get("dataPoints") or ():
                        attrs = _attrs(dp.get("attributes", []))
                        start = int(dp.get("startTimeUnixNano") or 0)
                        series = json.dumps([resource, scope, name, attrs, start], sort_keys=True, default=str)
                        total = dp.get("asInt", dp.get("asDouble")) if counter else dp.get("sum")
                        count = 1 if counter else int(dp.get("count") or 0)
                        out.append(MetricPoint(name, attrs, count, None if total is None else float(total), delta,
                                               series, int(dp.get("timeUnixNano") or 0), resource))
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError("not an OTLP-JSON metric (%s)" % (exc,)) from None
    return out


class Source:
    """The files under the given paths, read incrementally (``--follow`` reads again).
    Spans are returned; the GenAI metric points read on the way collect in ``points``."""

    def __init__(self, paths: list[str], err: Any) -> None:
        self.paths = paths
        self.err = err
        self.offsets: dict[str, int] = {}
        self.line_numbers: dict[str, int] = {}
        self.points: list[MetricPoint] = []

    def files(self) -> list[str]:
        found: list[str] = []
        for p in self.paths:
            if os.path.isdir(p):
                for name in sorted(os.listdir(p)):
                    full = os.path.join(p, name)
                    if name.endswith((".json", ".jsonl")) and os.path.isfile(full):
                        found.append(full)
            elif os.path.isfile(p):
                found.append(p)
                found.extend(_metrics_beside(p))
        return list(dict.fromkeys(found))  # a file named twice (a folder and a file in it) is read once

    def read(self, final: bool) -> list[Span]:
        """New complete lines of every file; ``final``: a last line without its newline
        counts too (it is reported as truncated if it does not parse)."""
        spans: list[Span] = []
        for path in self.files():
            spans.extend(self._read_file(path, final))
        return spans

    def _read_file(self, path: str, final: bool) -> list[Span]:
        offset = self.offsets.get(path, 0)
        try:
            size = os.path.getsize(path)
            if size < offset:  # truncated or replaced: read it again
                offset, self.line_numbers[path] = 0, 0
            if size == offset:
                return []
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read()
        except OSError as exc:
            self.err.write("weave-run show: %s: %s\n" % (path, exc.strerror))
            return []
        end = len(data) if final else data.rfind(b"\n") + 1
        chunk = data[:end]
        self.offsets[path] = offset + end
        spans: list[Span] = []
        lines = chunk.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        for i, raw in enumerate(lines):
            self.line_numbers[path] = n = self.line_numbers.get(path, 0) + 1
            if not raw.strip():
                continue
            try:
                found, points = parse_line(raw.decode("utf-8"))
                spans.extend(found)
                self.points.extend(points)
            except (ValueError, UnicodeDecodeError) as exc:
                last_unterminated = i == len(lines) - 1 and not chunk.endswith(b"\n")
                why = "truncated line (no newline at the end of the file)" if last_unterminated else str(exc)
                self.err.write("weave-run show: %s:%d: skipped: %s\n" % (path, n, _short(why)))
        return spans


_TRACES_FILE = re.compile(r"traces-(\d{8}T\d{6}-\d+)(?:\.\d+)?\.jsonl")


def _metrics_beside(path: str) -> list[str]:
    """The agent's metrics files of the process that wrote the traces file ``path``
    (``metrics-<time>-<pid>[.N].jsonl`` beside ``traces-<time>-<pid>[.N].jsonl``): the
    exit summary names the traces file, and its usage summary is in those."""
    m = _TRACES_FILE.fullmatch(os.path.basename(path))
    if m is None:
        return []
    folder = os.path.dirname(path) or "."
    wanted = re.compile(r"metrics-%s(?:\.\d+)?\.jsonl" % re.escape(m.group(1)))
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    return [os.path.join(folder, n) for n in names if wanted.fullmatch(n) and os.path.isfile(os.path.join(folder, n))]


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- traces -------------------------------------------------------------------------------


class Trace:
    def __init__(self, trace_id: str, spans: list[Span]) -> None:
        self.trace_id = trace_id
        self.spans = spans
        self.start = min(s.start for s in spans)
        self.end = max(s.end for s in spans)
        by_id = {s.span_id: s for s in spans}
        for s in spans:
            s.children = []
        self.roots: list[Span] = []
        for s in sorted(spans, key=lambda s: (s.start, s.end)):
            parent = by_id.get(s.parent_id) if s.parent_id else None
            if parent is not None and parent is not s:
                parent.children.append(s)
            else:
                self.roots.append(s)

    @property
    def cost(self) -> float | None:
        """What the trace's model calls cost (None: no span carries a cost)."""
        costs = [c for c in (s.cost for s in self.spans) if c is not None]
        return sum(costs) if costs else None

    @property
    def service(self) -> str:
        for s in self.roots or self.spans:
            name = s.resource.get("service.name")
            if name:
                return str(name)
        return ""

    def walk(self, unit: int = 3) -> Iterator[tuple[Span, str, str]]:
        """Each span with its tree prefix and the prefix of the lines under it; ``unit``:
        columns per level (3, or 2 for a tree too deep for the console)."""
        branch, last_branch, through, clear = ("├─ ", "└─ ", "│  ", "   ") if unit >= 3 else ("├ ", "└ ", "│ ", "  ")

        def visit(span: Span, lead: str, last: bool, top: bool) -> Iterator[tuple[Span, str, str]]:
            if top:
                yield span, "", ""
                below = ""
            else:
                yield span, lead + (last_branch if last else branch), lead + (clear if last else through)
                below = lead + (clear if last else through)
            for i, child in enumerate(span.children):
                yield from visit(child, below, i == len(span.children) - 1, False)

        for root in self.roots:
            yield from visit(root, "", True, True)


def group(spans: Iterable[Span]) -> list[Trace]:
    by_trace: dict[str, dict[str, Span]] = {}
    for s in spans:
        by_trace.setdefault(s.trace_id, {})[s.span_id] = s  # a span seen twice counts once
    traces = [Trace(tid, list(ss.values())) for tid, ss in by_trace.items()]
    traces.sort(key=lambda t: (t.start, t.trace_id))
    return traces


def select(traces: list[Trace], trace: str | None, last: int | None) -> list[Trace]:
    if trace:
        prefix = trace.lower()
        traces = [t for t in traces if t.trace_id.startswith(prefix)]
    if last is not None:
        traces = traces[-last:] if last > 0 else []
    return traces


# --- text ---------------------------------------------------------------------------------


def fmt_duration(ns: int) -> str:
    ms = ns / 1e6
    if ms < 1:
        return "%.2f ms" % ms
    if ms < 1000:
        return "%.0f ms" % ms
    if ms < 60000:
        return "%.2f s" % (ms / 1000)
    minutes, seconds = divmod(ms / 1000, 60)
    return "%dm%02ds" % (minutes, seconds)


def fmt_tokens(span: Span) -> str:
    tin, tout = span.tokens
    if tin is None and tout is None:
        return ""
    return "%s→%s" % ("?" if tin is None else tin, "?" if tout is None else tout)


def fmt_cost(usd: float | None) -> str:
    """Dollars to three significant digits (at least cents): ``$0.000123``, ``$0.42``, ``$12.30``."""
    if usd is None:
        return ""
    if usd <= 0:
        return "$0"
    import math

    decimals = max(2, min(10, 2 - math.floor(math.log10(usd))))
    return "$%.*f" % (decimals, usd)


def fmt_time(ns: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ns / 1e9)) + ".%03d UTC" % (ns // 1_000_000 % 1000)


def bar(span: Span, t0: int, total: int, width: int) -> str:
    if total <= 0:
        return "█" * width
    offset = min(width - 1, int((span.start - t0) * width / total))
    length = max(1, round(span.duration_ns * width / total))
    length = min(length, width - offset)
    return " " * offset + "█" * length + " " * (width - offset - length)


def _content(value: Any) -> str:
    if isinstance(value, str):
        try:
            return json.dumps(json.loads(value), indent=2, ensure_ascii=False)
        except ValueError:
            return value
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def fit_label(prefix: str, name: str, marker: str, width: int) -> str:
    """The tree prefix, the span name and its marker (`` [stream]``) in ``width`` columns:
    the name is cut (``…``) before the marker is; only a tree far too deep for the width
    loses the left of its prefix (``render`` narrows the indentation before that)."""
    full = prefix + name + marker
    if len(full) <= width:
        return full
    room = width - len(marker)  # for the prefix and the name
    keep = min(len(name), _NAME_TINY)
    if len(prefix) + keep > room:
        cut = max(0, room - keep)
        prefix = ("…" + prefix[len(prefix) - cut + 1:]) if cut else ""
    if len(prefix) + len(name) > room:
        name = name[: max(0, room - len(prefix) - 1)] + "…"
    return (prefix + name + marker)[:width]  # (a marker wider than the column is cropped too)


class Layout:
    """Column widths of a trace's rows for a console ``width`` columns wide.

    The name (with its tree prefix and marker), the duration and the status always show;
    when the row does not fit, the bar narrows and then goes, then the model narrows and
    goes, then the cost goes, then the tokens, and only then is the name cut. A wide console gets a longer
    bar (finer time axis); at 100 columns the bar is ``_BAR`` wide.
    """

    def __init__(self, width: int, w_label: int, w_dur: int, w_model: int, w_tok: int, w_status: int,
                 w_cost: int = 0) -> None:
        self.w_dur, self.w_status = w_dur, w_status
        self.w_bar = min(_BAR_MAX, _BAR + max(0, width - 100) // 2)
        self.w_model, self.w_tok, self.w_cost = w_model, w_tok, w_cost
        self.w_name = w_label
        over = self.total() - width
        if over > 0 and self.w_bar:
            self.w_bar = self.w_bar - over if self.w_bar - over >= _BAR_MIN else 0
            over = self.total() - width
        if over > 0 and self.w_model:
            self.w_model = self.w_model - over if self.w_model - over >= _MODEL_MIN else 0
            over = self.total() - width
        if over > 0 and self.w_cost:
            self.w_cost = 0
            over = self.total() - width
        if over > 0 and self.w_tok:
            self.w_tok = 0
            over = self.total() - width
        if over > 0:
            self.w_name = max(_NAME_MIN, self.w_name - over)

    def total(self) -> int:
        optional = sum(w + 2 for w in (self.w_bar, self.w_model, self.w_tok, self.w_cost) if w)
        return self.w_name + 2 + self.w_dur + 2 + optional + self.w_status


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def header(t: Trace, width: int) -> str:
    """The trace's one-line header, shortened to fit ``width``: first the milliseconds of
    the start time go, then the trace id is shortened to 16 hex digits (still a
    ``--trace`` prefix), then the date, then the start time, then the id to 8 digits, and
    last the service name is cut."""
    spans = "%d span%s" % (len(t.spans), "" if len(t.spans) == 1 else "s")
    cost = [fmt_cost(t.cost)] if t.cost is not None else []
    started = fmt_time(t.start)  # 2026-11-24 23:08:43.141 UTC
    no_ms = started[:19] + " UTC"
    service = t.service
    candidates = [
        (32, service, [started]), (32, service, [no_ms]), (16, service, [no_ms]),
        (16, service, [no_ms[11:]]), (16, service, []), (8, service, []),
    ]
    text = ""
    for id_len, svc, when in candidates:
        details = ([svc] if svc else []) + [spans, fmt_duration(t.end - t.start)] + cost + when
        text = "trace %s  %s" % (t.trace_id[:id_len], " · ".join(details))
        if len(text) <= width:
            return text
    over = len(text) - width
    if service and len(service) - over >= 4:
        return "trace %s  %s" % (t.trace_id[:8], " · ".join([_cut(service, len(service) - over), spans,
                                                             fmt_duration(t.end - t.start)] + cost))
    return _cut(text, width)


def render(traces: list[Trace], console: Any, full: bool = False) -> None:
    from rich.text import Text

    width = console.width
    for index, t in enumerate(traces):
        if index:
            console.print()
        total = t.end - t.start
        head_text = header(t, width)
        head = Text(no_wrap=True, overflow="ellipsis")
        split = head_text.find("  ")
        head.append(head_text[:split], style="bold")
        head.append(head_text[split:], style="dim")
        console.print(head)
        spans = [s for s, _, _ in t.walk()]
        markers = [" [stream]" if s.is_stream else "" for s in spans]
        durations = [fmt_duration(s.duration_ns) for s in spans]
        models = [s.model for s in spans]
        tokens = [fmt_tokens(s) for s in spans]
        costs = [fmt_cost(s.cost) for s in spans]
        failures = [s.error() for s in spans]
        for unit in (3, 2):  # a tree too deep for the width gets narrower indentation
            rows = list(t.walk(unit))
            lay = Layout(
                width,
                w_label=max(len(p + s.name + m) for (s, p, _), m in zip(rows, markers, strict=True)),
                w_dur=max(len(d) for d in durations),
                w_model=max(len(m) for m in models),
                w_tok=max(len(x) for x in tokens),
                w_status=5 if any(failures) else 2,
                w_cost=max(len(c) for c in costs),
            )
            if all(len(p) + min(len(s.name), _NAME_KEEP) + len(m) <= lay.w_name
                   for (s, p, _), m in zip(rows, markers, strict=True)):
                break
        for (span, prefix, below), marker, dur, model, tok, cost, failed in zip(
            rows, markers, durations, models, tokens, costs, failures, strict=True
        ):
            line = Text(no_wrap=True, overflow="ellipsis")
            label = fit_label(prefix, span.name, marker, lay.w_name)
            line.append(label.ljust(lay.w_name) + "  ", style="red" if failed else "")
            line.append(dur.rjust(lay.w_dur) + "  ")
            if lay.w_bar:
                line.append(bar(span, t.start, total, lay.w_bar), style="red" if failed else "cyan")
                line.append("  ")
            if lay.w_model:
                line.append(_cut(model, lay.w_model).ljust(lay.w_model) + "  ", style="magenta")
            if lay.w_tok:
                line.append(tok.rjust(lay.w_tok) + "  ", style="green")
            if lay.w_cost:
                line.append(cost.rjust(lay.w_cost) + "  ", style="yellow")
            line.append("error" if failed else "ok", style="bold red" if failed else "dim")
            console.print(line)
            cont = below + (("│  " if span.children else "   ") if unit == 3 else ("│ " if span.children else "  "))
            if failed:
                etype, message = failed
                _block(console, cont, "✗ %s%s" % (etype, ": " + message if message else ""), "red")
            if full:
                for key in CONTENT_KEYS:
                    if key in span.attributes:
                        _block(console, cont, "%s: %s" % (key, _content(span.attributes[key])), "")


def _block(console: Any, prefix: str, text: str, style: str) -> None:
    """``text`` wrapped to the console, each line after the tree's ``prefix``."""
    import textwrap

    from rich.text import Text

    width = max(20, console.width - len(prefix))
    for paragraph in text.splitlines() or [""]:
        pieces = textwrap.wrap(paragraph, width, replace_whitespace=False) or [""]
        for piece in pieces:
            line = Text(prefix, no_wrap=True, overflow="crop", style="dim")
            line.append(piece.rstrip(), style=style)
            console.print(line)


def span_json(span: Span, full: bool, children: bool = True) -> dict[str, Any]:
    tin, tout = span.tokens
    failed = span.error()
    attributes = {k: v for k, v in span.attributes.items() if full or k not in CONTENT_KEYS}
    out: dict[str, Any] = {
        "span_id": span.span_id,
        "parent_span_id": span.parent_id or None,
        "name": span.name,
        "kind": _KINDS.get(span.kind, str(span.kind)),
        "start_time_unix_nano": span.start,
        "end_time_unix_nano": span.end,
        "duration_ms": span.duration_ns / 1e6,
        "status": {"code": _STATUS.get(span.status, "unset"), "message": span.status_message},
        "model": span.model or None,
        "input_tokens": tin,
        "output_tokens": tout,
        "cost_usd": span.cost,
        "error": {"type": failed[0], "message": failed[1]} if failed else None,
        "attributes": attributes,
    }
    if children:
        out["children"] = [span_json(c, full) for c in span.children]
    return out


def trace_json(t: Trace, full: bool) -> dict[str, Any]:
    return {
        "trace_id": t.trace_id,
        "service": t.service or None,
        "start_time_unix_nano": t.start,
        "duration_ms": (t.end - t.start) / 1e6,
        "span_count": len(t.spans),
        "cost_usd": t.cost,
        "spans": [span_json(r, full) for r in t.roots],
    }


def _follow_line(span: Span, console: Any, full: bool) -> None:
    """One span as it arrives: time, trace, name, duration, model, tokens, status. Like
    the tree, a narrow console drops the model, then the tokens, then cuts the name."""
    from rich.text import Text

    failed = span.error()
    lead = fmt_time(span.end)[11:23] + "  " + span.trace_id[:8] + "  "
    status = "error" if failed else "ok"
    marker = " [stream]" if span.is_stream else ""
    cells = [(fmt_duration(span.duration_ns), ""), (span.model, "magenta"), (fmt_tokens(span), "green"),
             (fmt_cost(span.cost), "yellow")]
    cells = [c for c in cells if c[0]]

    def fits(kept: list[tuple[str, str]]) -> bool:
        rest = sum(len(c) + 2 for c, _ in kept) + 2 + len(status)
        return len(lead) + len(span.name + marker) + rest <= console.width

    for drop in ("magenta", "yellow", "green"):
        if not fits(cells):
            cells = [c for c in cells if c[1] != drop]
    room = console.width - len(lead) - sum(len(c) + 2 for c, _ in cells) - 2 - len(status)
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(lead, style="dim")
    line.append(fit_label("", span.name, marker, max(room, _NAME_MIN)), style="red" if failed else "bold")
    for cell, style in cells:
        line.append("  " + cell, style=style)
    line.append("  " + status, style="bold red" if failed else "dim")
    console.print(line)
    if failed:
        _block(console, "    ", "✗ %s%s" % (failed[0], ": " + failed[1] if failed[1] else ""), "red")
    if full:
        for key in CONTENT_KEYS:
            if key in span.attributes:
                _block(console, "    ", "%s: %s" % (key, _content(span.attributes[key])), "")


# --- command ------------------------------------------------------------------------------


def _parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Draw the traces in local OTLP-JSON files (the agent's file exporter, or the Collector's "
        "file exporter) as trees: span, duration on the trace's time axis, model, tokens in→out, cost, status; "
        "then the usage per model (calls, tokens, cost, mean time, time to first chunk) from the GenAI metrics in the "
        "files, or from the spans when they hold none.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="files or folders of OTLP-JSON lines (default: WEAVE_AGENT_TRACES_DIR or ./weave-traces)")
    p.add_argument("--last", type=int, metavar="N", help="only the last N traces (by start time)")
    p.add_argument("--trace", metavar="ID", help="only the trace(s) whose id starts with ID")
    p.add_argument("--follow", "-f", action="store_true", help="keep reading: print new spans as they arrive (Ctrl-C stops)")
    p.add_argument("--follow-seconds", type=float, help=argparse.SUPPRESS)  # tests: a bounded --follow
    p.add_argument("--json", action="store_true",
                   help="one JSON object per trace (its spans as a tree) per line, then "
                   '{"usage": [...], "source": "metrics"|"spans"}, the usage per model (when there was a model '
                   "call; cost_usd on each span, trace and model, null when not priced); with --follow, one object per "
                   "new span instead of the usage")
    p.add_argument("--full", action="store_true", help="print message content (gen_ai.input/output.messages, input/output.value)")
    return p


def main(argv: list[str] | None = None, prog: str = "weave-run show", console: Any = None, err: Any = None) -> int:
    args = _parser(prog).parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return _show(args, prog, console, err or sys.stderr)
    except BrokenPipeError:  # weave-run show | head
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 0


def _show(args: argparse.Namespace, prog: str, console: Any, err: Any) -> int:
    out = sys.stdout
    if console is None:
        from rich.console import Console

        console = Console(highlight=False, soft_wrap=False)
    if args.last is not None and args.last < 0:
        err.write("%s: --last accepts a whole number >= 0\n" % prog)
        return 2
    paths = args.paths or [os.environ.get("WEAVE_AGENT_TRACES_DIR") or "weave-traces"]
    missing = [p for p in paths if not os.path.exists(p)]
    if missing and not args.follow:
        where = ", ".join(missing)
        hint = "" if args.paths else " (run an app under weave-run first, or pass a PATH)"
        err.write("%s: no such file or folder: %s%s\n" % (prog, where, hint))
        return 1
    source = Source(paths, err)
    spans = source.read(final=not args.follow)
    every = group(spans)
    traces = select(every, args.trace, args.last)
    summary = _usage(source, every) if traces and not args.follow else None
    if args.json:
        for t in traces:
            out.write(json.dumps(trace_json(t, args.full), ensure_ascii=False) + "\n")
        if summary is not None:
            from . import usage

            out.write(json.dumps(usage.as_json(*summary), ensure_ascii=False) + "\n")
        out.flush()
    else:
        render(traces, console, full=args.full)
        if summary is not None:
            from . import usage

            console.print()
            usage.render(*summary, console)
        console.file.flush()
    if not args.follow:
        if not traces:
            err.write("%s: no traces%s in %s\n" % (prog, " matching --trace %s" % args.trace if args.trace else "", ", ".join(paths)))
            return 1
        return 0
    return _follow(source, args, console, out)


def _usage(source: Source, traces: list[Trace]) -> tuple[str, list[Any]] | None:
    """The per-model usage summary of everything read (``usage``), or None when there
    was no model call."""
    from . import usage

    name, rows = usage.summarize(source.points, (s for t in traces for s in t.spans))
    return (name, rows) if rows else None


def _follow(source: Source, args: argparse.Namespace, console: Any, out: Any) -> int:
    deadline = None if args.follow_seconds is None else time.monotonic() + args.follow_seconds
    prefix = (args.trace or "").lower()
    try:
        while deadline is None or time.monotonic() < deadline:
            time.sleep(_POLL if deadline is None else max(0.0, min(_POLL, deadline - time.monotonic())))
            for span in sorted(source.read(final=False), key=lambda s: s.end):
                if not span.trace_id.startswith(prefix):
                    continue
                if args.json:
                    out.write(json.dumps(dict(span_json(span, args.full, children=False), trace_id=span.trace_id),
                                         ensure_ascii=False) + "\n")
                    out.flush()
                else:
                    _follow_line(span, console, args.full)
                    console.file.flush()
    except KeyboardInterrupt:
        pass
    return 0
