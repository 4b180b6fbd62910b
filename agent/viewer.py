"""``weave-run show``: draw the local OTLP-JSON trace files as trees in the terminal.

    weave-run show [PATH...] [--last N] [--trace ID] [--follow] [--json] [--full]

Reads the files the agent's ``file`` exporter writes (default ``./weave-traces`` or
``WEAVE_AGENT_TRACES_DIR``) or any OTLP-JSON the Collector's ``file`` exporter wrote: one
``ExportTraceServiceRequest`` per line. A PATH is a file or a folder (its ``*.json`` and
``*.jsonl`` files). A line that does not parse is reported on stderr with its file and line
number and skipped. ``rich`` is imported here only: the agent itself never needs it.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

CONTENT_KEYS = ("gen_ai.system_instructions", "gen_ai.input.messages", "gen_ai.output.messages", "input.value", "output.value")
_KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
_STATUS = {0: "unset", 1: "ok", 2: "error"}
_BAR = 24
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


def spans_of_line(line: str) -> list[Span]:
    """The spans of one OTLP-JSON line; raises ValueError when it is not one."""
    doc = json.loads(line)
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    if "resourceSpans" not in doc:
        if doc.keys() & {"resourceMetrics", "resourceLogs", "resourceProfiles"}:
            return []  # the Collector's file exporter may write other signals in the same file
        raise ValueError("no resourceSpans: not an OTLP-JSON ExportTraceServiceRequest")
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


class Source:
    """The files under the given paths, read incrementally (``--follow`` reads again)."""

    def __init__(self, paths: list[str], err: Any) -> None:
        self.paths = paths
        self.err = err
        self.offsets: dict[str, int] = {}
        self.line_numbers: dict[str, int] = {}

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
        return found

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
                spans.extend(spans_of_line(raw.decode("utf-8")))
            except (ValueError, UnicodeDecodeError) as exc:
                last_unterminated = i == len(lines) - 1 and not chunk.endswith(b"\n")
                why = "truncated line (no newline at the end of the file)" if last_unterminated else str(exc)
                self.err.write("weave-run show: %s:%d: skipped: %s\n" % (path, n, _short(why)))
        return spans


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
    def service(self) -> str:
        for s in self.roots or self.spans:
            name = s.resource.get("service.name")
            if name:
                return str(name)
        return ""

    def walk(self) -> Iterator[tuple[Span, str, str]]:
        """Each span with its tree prefix and the prefix of the lines under it."""

        def visit(span: Span, lead: str, last: bool, top: bool) -> Iterator[tuple[Span, str, str]]:
            if top:
                yield span, "", ""
                below = ""
            else:
                yield span, lead + ("└─ " if last else "├─ "), lead + ("   " if last else "│  ")
                below = lead + ("   " if last else "│  ")
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


def render(traces: list[Trace], console: Any, full: bool = False) -> None:
    from rich.text import Text

    for index, t in enumerate(traces):
        if index:
            console.print()
        total = t.end - t.start
        head = Text()
        head.append("trace %s" % t.trace_id, style="bold")
        details = [t.service] if t.service else []
        details += ["%d span%s" % (len(t.spans), "" if len(t.spans) == 1 else "s"), fmt_duration(total), fmt_time(t.start)]
        head.append("  " + " · ".join(details), style="dim")
        console.print(head, overflow="fold")
        rows = list(t.walk())
        labels = [prefix + s.name + (" [stream]" if s.is_stream else "") for s, prefix, _ in rows]
        durations = [fmt_duration(s.duration_ns) for s, _, _ in rows]
        models = [s.model for s, _, _ in rows]
        tokens = [fmt_tokens(s) for s, _, _ in rows]
        w_dur = max(len(d) for d in durations)
        w_model = max(len(m) for m in models)
        w_tok = max(len(x) for x in tokens)
        w_bar = _BAR if console.width >= 100 else max(8, _BAR - (100 - console.width) // 2)
        fixed = w_dur + 2 + w_bar + 2 + (w_model + 2 if w_model else 0) + (w_tok + 2 if w_tok else 0) + 5 + 2
        w_name = max(12, min(max(len(x) for x in labels), console.width - fixed))
        for (span, _prefix, below), label, dur, model, tok in zip(rows, labels, durations, models, tokens, strict=True):
            failed = span.error()
            line = Text(no_wrap=True, overflow="ellipsis")
            shown = label if len(label) <= w_name else label[: w_name - 1] + "…"
            line.append(shown.ljust(w_name) + "  ", style="red" if failed else "")
            line.append(dur.rjust(w_dur) + "  ")
            line.append(bar(span, t.start, total, w_bar), style="red" if failed else "cyan")
            line.append("  ")
            if w_model:
                line.append(model.ljust(w_model) + "  ", style="magenta")
            if w_tok:
                line.append(tok.rjust(w_tok) + "  ", style="green")
            line.append("error" if failed else "ok", style="bold red" if failed else "dim")
            console.print(line)
            cont = below + ("│  " if span.children else "   ")
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
        "spans": [span_json(r, full) for r in t.roots],
    }


def _follow_line(span: Span, console: Any, full: bool) -> None:
    from rich.text import Text

    failed = span.error()
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(fmt_time(span.end)[11:23] + "  ", style="dim")
    line.append(span.trace_id[:8] + "  ", style="dim")
    line.append(span.name + (" [stream]" if span.is_stream else ""), style="red" if failed else "bold")
    for cell, style in ((fmt_duration(span.duration_ns), ""), (span.model, "magenta"), (fmt_tokens(span), "green")):
        if cell:
            line.append("  " + cell, style=style)
    line.append("  " + ("error" if failed else "ok"), style="bold red" if failed else "dim")
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
        "file exporter) as trees: span, duration on the trace's time axis, model, tokens in→out, status.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="files or folders of OTLP-JSON lines (default: WEAVE_AGENT_TRACES_DIR or ./weave-traces)")
    p.add_argument("--last", type=int, metavar="N", help="only the last N traces (by start time)")
    p.add_argument("--trace", metavar="ID", help="only the trace(s) whose id starts with ID")
    p.add_argument("--follow", "-f", action="store_true", help="keep reading: print new spans as they arrive (Ctrl-C stops)")
    p.add_argument("--follow-seconds", type=float, help=argparse.SUPPRESS)  # tests: a bounded --follow
    p.add_argument("--json", action="store_true",
                   help="one JSON object per trace (its spans as a tree) per line; with --follow, then one per new span")
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
    traces = select(group(spans), args.trace, args.last)
    if args.json:
        for t in traces:
            out.write(json.dumps(trace_json(t, args.full), ensure_ascii=False) + "\n")
        out.flush()
    else:
        render(traces, console, full=args.full)
        console.file.flush()
    if not args.follow:
        if not traces:
            err.write("%s: no traces%s in %s\n" % (prog, " matching --trace %s" % args.trace if args.trace else "", ", ".join(paths)))
            return 1
        return 0
    return _follow(source, args, console, out)


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
