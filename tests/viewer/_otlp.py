"""Helpers for the viewer tests: hand-written OTLP-JSON lines, a clean environment, the
``weave-run show`` command run in-process with a fixed-width, colourless console."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from weave_agent.tools.viewer import main

BIN = str(Path(sys.executable).parent)
WEAVE_RUN = os.path.join(BIN, "weave-run")
_STRIP = ("WEAVE_AGENT_", "OTEL_", "PYTHON", "PYTEST_", "COV_CORE_", "WANDB_", "WEAVE_PROJECT")

T0 = 1_700_000_000_000_000_000  # ns


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_STRIP)}
    env.update(PYTHONIOENCODING="utf-8", PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1", NO_COLOR="1", COLUMNS="100")
    env.update(extra)
    return env


def attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        v: dict[str, Any] = {"boolValue": value}
    elif isinstance(value, int):
        v = {"intValue": str(value)}
    elif isinstance(value, float):
        v = {"doubleValue": value}
    else:
        v = {"stringValue": str(value)}
    return {"key": key, "value": v}


def span(trace: str, sid: str, name: str, start_ms: float, end_ms: float, parent: str = "", *, error: str = "",
         **attrs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "traceId": trace, "spanId": sid, "name": name, "kind": 1,
        "startTimeUnixNano": str(T0 + int(start_ms * 1e6)), "endTimeUnixNano": str(T0 + int(end_ms * 1e6)),
        "attributes": [attr(k.replace("__", "."), v) for k, v in attrs.items()],
        "status": {},
    }
    if parent:
        out["parentSpanId"] = parent
    if error:
        etype, _, message = error.partition(": ")
        out["status"] = {"code": 2, "message": error}
        out["events"] = [{"name": "exception", "timeUnixNano": out["endTimeUnixNano"],
                          "attributes": [attr("exception.type", etype), attr("exception.message", message)]}]
    return out


def line(*spans: dict[str, Any], service: str = "svc") -> str:
    doc = {"resourceSpans": [{"resource": {"attributes": [attr("service.name", service)]},
                              "scopeSpans": [{"scope": {"name": "test"}, "spans": list(spans)}]}]}
    return json.dumps(doc, separators=(",", ":")) + "\n"


class Shown:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    @property
    def lines(self) -> list[str]:
        return [x.rstrip() for x in self.out.splitlines()]

    def json(self) -> list[dict[str, Any]]:
        return [json.loads(x) for x in self.out.splitlines() if x.strip()]

    def traces(self) -> list[dict[str, Any]]:
        """The trace objects of ``--json`` (not the usage summary's object)."""
        return [x for x in self.json() if "trace_id" in x]

    def usage(self) -> dict[str, Any] | None:
        """The usage summary's object of ``--json`` (the last line), if there is one."""
        objects = self.json()
        found = [x for x in objects if "usage" in x]
        assert len(found) <= 1 and (not found or objects[-1] is found[0]), self.out
        return found[0] if found else None

    def __repr__(self) -> str:
        return "Shown(rc=%d)\n--- out ---\n%s\n--- err ---\n%s" % (self.code, self.out, self.err)


def show(*argv: str, width: int = 100) -> Shown:
    """``weave-run show ARGV`` in this process: ``width`` columns, no colour."""
    text, err, stdout = io.StringIO(), io.StringIO(), io.StringIO()
    console = Console(width=width, color_system=None, file=text, highlight=False, soft_wrap=False)
    with contextlib.redirect_stdout(stdout):
        code = main(list(argv), console=console, err=err)
    return Shown(code, text.getvalue() + stdout.getvalue(), err.getvalue())


def point(count: int, total: float, start_ms: float = 0, end_ms: float = 1000, **attrs: Any) -> dict[str, Any]:
    """A histogram data point (only what the usage summary reads, plus bucket counts)."""
    return {"startTimeUnixNano": str(T0 + int(start_ms * 1e6)), "timeUnixNano": str(T0 + int(end_ms * 1e6)),
            "count": str(count), "sum": total, "bucketCounts": [str(count)], "explicitBounds": [],
            "attributes": [attr(k.replace("__", "."), v) for k, v in attrs.items()]}


def histogram(name: str, *points: dict[str, Any], temporality: int | str = 1, unit: str = "s") -> dict[str, Any]:
    return {"name": name, "unit": unit, "histogram": {"dataPoints": list(points), "aggregationTemporality": temporality}}


def metric_line(*metrics: dict[str, Any], service: str = "svc") -> str:
    doc = {"resourceMetrics": [{"resource": {"attributes": [attr("service.name", service)]},
                                "scopeMetrics": [{"scope": {"name": "weave_agent"}, "metrics": list(metrics)}]}]}
    return json.dumps(doc, separators=(",", ":")) + "\n"
