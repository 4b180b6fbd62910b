"""``weave-run show`` with ``weave_agent.cost.usd``: the cost per span and per trace, the
cost per model in the usage summary, and the same figures in ``--json``; and the quickstart
run under ``weave-run`` shows what it cost."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from _otlp import WEAVE_RUN, clean_env, line, show, span

COST = "weave_agent.cost.usd"
TRACE_A = "0af7651916cd43dd8448eb211c80319c"
TRACE_B = "1bf7651916cd43dd8448eb211c80319c"


def _chat(trace: str, sid: str, parent: str, model: str, start: float, usd: float | None, tin: int, tout: int) -> dict:
    attrs = {"gen_ai__operation__name": "chat", "gen_ai__provider__name": "openai", "gen_ai__request__model": model,
             "gen_ai__usage__input_tokens": tin, "gen_ai__usage__output_tokens": tout}
    if usd is not None:
        attrs["weave_agent__cost__usd"] = usd
    return span(trace, sid, "chat " + model, start, start + 100, parent, **attrs)


@pytest.fixture
def priced(tmp_path: Path) -> Path:
    path = tmp_path / "traces.jsonl"
    path.write_text(
        line(span(TRACE_A, "a000000000000001", "answer", 0, 400),
             _chat(TRACE_A, "a000000000000002", "a000000000000001", "gpt-4o-mini", 10, 0.000123, 1000, 20),
             _chat(TRACE_A, "a000000000000003", "a000000000000001", "gpt-4o", 200, 0.0125, 3000, 500))
        + line(span(TRACE_B, "b000000000000001", "answer", 1000, 1400),
               _chat(TRACE_B, "b000000000000002", "b000000000000001", "gpt-4o-mini", 1010, 0.0002, 1500, 30),
               _chat(TRACE_B, "b000000000000003", "b000000000000001", "local-model", 1200, None, 10, 10))
    )
    return path


def test_cost_per_span_per_trace_and_per_model(priced: Path) -> None:
    shown = show(str(priced))
    assert shown.code == 0, shown
    out = shown.lines
    assert all(len(x) <= 100 for x in out), out
    (head_a,) = [x for x in out if x.startswith("trace " + TRACE_A[:16])]
    assert "$0.0126" in head_a, head_a  # 0.000123 + 0.0125
    (head_b,) = [x for x in out if x.startswith("trace " + TRACE_B[:16])]
    assert "$0.000200" in head_b, head_b
    rows = [x for x in out if re.match(r"^\S+ chat ", x)]
    assert re.search(r"gpt-4o-mini +1000→20\s+\$0\.000123\s+ok$", rows[0]), rows
    assert re.search(r"gpt-4o +3000→500\s+\$0\.0125\s+ok$", rows[1]), rows
    assert re.search(r"gpt-4o-mini +1500→30\s+\$0\.000200\s+ok$", rows[2]), rows
    assert re.search(r"local-model +10→10\s+ok$", rows[3]), rows  # not priced: no figure, never $0

    table = out[out.index(next(x for x in out if x.startswith("usage by model"))):]
    assert table[1].split() == ["model", "calls", "tokens", "in", "tokens", "out", "cost", "mean", "time", "first",
                                "chunk"], table
    cells = {r.split()[0]: r.split() for r in table[2:] if r.strip() and not r.startswith("total")}
    assert cells["gpt-4o-mini"][1:5] == ["2", "2500", "50", "$0.000323"], cells
    assert cells["gpt-4o"][1:5] == ["1", "3000", "500", "$0.0125"], cells
    assert cells["local-model"][4] == "-", cells
    assert table[-1] == "total cost $0.0128", table


def test_the_same_figures_in_json(priced: Path) -> None:
    shown = show("--json", str(priced))
    traces = {t["trace_id"]: t for t in shown.traces()}
    assert traces[TRACE_A]["cost_usd"] == pytest.approx(0.012623)
    assert traces[TRACE_B]["cost_usd"] == pytest.approx(0.0002)
    chats = {c["model"]: c["cost_usd"] for c in traces[TRACE_B]["spans"][0]["children"]}
    assert chats == {"gpt-4o-mini": 0.0002, "local-model": None}
    usage = shown.usage()
    assert usage is not None
    by_model = {r["model"]: r["cost_usd"] for r in usage["usage"]}
    assert by_model["gpt-4o-mini"] == pytest.approx(0.000323) and by_model["gpt-4o"] == 0.0125
    assert by_model["local-model"] is None


def test_no_cost_attribute_no_cost_column(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(line(_chat(TRACE_A, "a000000000000002", "", "gpt-4o-mini", 0, None, 5, 5)))
    shown = show(str(path))
    assert "$" not in shown.out and "cost" not in shown.out, shown
    assert show("--json", str(path)).traces()[0]["cost_usd"] is None


def test_the_quickstart_shows_what_it_cost(quickstart: Path) -> None:
    """A newcomer's first run: the two calls to gpt-4o-mini are priced on export and
    ``weave-run show`` prints the figures (per call, per trace, in the summary)."""
    done = subprocess.run([WEAVE_RUN, "show"], cwd=quickstart, env=clean_env(COLUMNS="100"), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert re.search(r"· \$0\.0000\d+", lines[0]), lines
    assert sum(bool(re.search(r"\$0\.0000\d+\s+ok$", x)) for x in lines) == 2, lines
    js = subprocess.run([WEAVE_RUN, "show", "--json"], cwd=quickstart, env=clean_env(), capture_output=True,
                        text=True, timeout=60)
    objects = [json.loads(x) for x in js.stdout.splitlines()]
    chats = objects[0]["spans"][0]["children"]
    assert all(c["cost_usd"] and c["attributes"][COST] == c["cost_usd"] for c in chats), chats
    assert objects[0]["cost_usd"] == pytest.approx(sum(c["cost_usd"] for c in chats))
    assert objects[-1]["usage"][0]["cost_usd"] == pytest.approx(objects[0]["cost_usd"])
