"""``weave-run show`` lays the tree out for the console's width (issue 15, item 2).

At 80 columns (the width rich assumes when the output is not a terminal) the header stays
on one line and the names keep their ``[stream]`` marker: the bar, then the model, then the
tokens give way before a name is cut; the status always shows.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from _otlp import WEAVE_RUN, clean_env, line, show, span

A = "a" * 32
ROOT = "0" * 15 + "1"
WIDTHS = (80, 100, 160)


def quickstart_like(folder: Path) -> Path:
    """The spans ``examples/quickstart.py`` makes: ``answer`` and two ``chat gpt-4o-mini``
    under it, the second streamed."""
    chat = dict(gen_ai__operation__name="chat", gen_ai__request__model="gpt-4o-mini",
                gen_ai__response__model="gpt-4o-mini-2024-07-18")
    path = folder / "quickstart.jsonl"
    path.write_text(line(
        span(A, ROOT, "answer", 0, 431),
        span(A, "1" * 16, "chat gpt-4o-mini", 60, 114, ROOT, gen_ai__usage__input_tokens=13,
             gen_ai__usage__output_tokens=6, **chat),
        span(A, "2" * 16, "chat gpt-4o-mini", 150, 392, ROOT, gen_ai__request__stream=True,
             gen_ai__usage__input_tokens=34, gen_ai__usage__output_tokens=13, **chat),
        service="quickstart",
    ))
    return path


LONG = [
    "invoke_workflow customer_support_escalation_graph",
    "node classify_and_route_the_incoming_ticket",
    "retrieval knowledge_base_articles_for_billing_questions",
    "execute_tool lookup_customer_subscription_history",
    "invoke_agent billing_specialist_with_refund_permissions",
]


def deep_tree(folder: Path) -> Path:
    """Ten levels of long names, a streamed model call at the bottom and a failed one
    beside it, from a service with a long name."""
    spans = []
    parent = ""
    for depth in range(10):
        sid = "%016x" % (depth + 1)
        spans.append(span(A, sid, LONG[depth % len(LONG)], depth * 10, 1000 - depth * 10, parent))
        parent = sid
    spans.append(span(A, "%016x" % 100, "chat support-assistant-eu-west-production-deployment", 200, 700, parent,
                      gen_ai__request__stream=True, gen_ai__request__model="gpt-4o-mini",
                      gen_ai__response__model="gpt-4o-mini-2024-07-18", gen_ai__usage__input_tokens=1234,
                      gen_ai__usage__output_tokens=567))
    spans.append(span(A, "%016x" % 101, "chat anthropic-fallback-route-for-long-tickets", 710, 900, parent,
                      error="RateLimitError: rate limit reached for requests per minute on this organization",
                      error__type="RateLimitError", gen_ai__request__model="claude-sonnet-4-5",
                      gen_ai__usage__input_tokens=50, gen_ai__usage__output_tokens=0))
    path = folder / "deep.jsonl"
    path.write_text(line(*spans, service="customer-support-escalation-service-production"))
    return path


def rows_of(lines: list[str]) -> list[str]:
    return [x for x in lines if x.endswith(("  ok", "  error"))]


def split_row(row: str) -> tuple[str, str]:
    """A span's row as (tree prefix and name, the columns from the duration on)."""
    label, rest = re.split(r"\s{2,}(?=\d[\d.]* m?s  )", row, maxsplit=1)
    return label, rest


@pytest.mark.parametrize("width", WIDTHS)
def test_quickstart_trace_fits_and_keeps_the_stream_marker(tmp_path: Path, width: int) -> None:
    r = show(str(quickstart_like(tmp_path)), width=width)
    assert r.code == 0 and r.err == "", r
    assert all(len(x) <= width for x in r.lines), r
    head, *rest = r.lines
    assert head.startswith("trace aaaaaaaaaaaaaaaa") and " quickstart · 3 spans · 431 ms" in head
    assert rest[0].startswith("answer "), r  # the header took one line
    rest = rest[: rest.index("")]  # the usage summary follows a blank line
    assert len(rows_of(r.lines)) == 3 == len(rest), r
    plain = [x for x in rest if x.startswith("├─ chat gpt-4o-mini  ")]
    streamed = [x for x in rest if x.startswith("└─ chat gpt-4o-mini [stream]  ")]
    assert len(plain) == 1 and len(streamed) == 1, r
    assert plain[0].endswith("13→6  ok") and streamed[0].endswith("34→13  ok"), r


def test_quickstart_header_and_columns_at_each_width(tmp_path: Path) -> None:
    path = str(quickstart_like(tmp_path))
    at = {w: show(path, width=w).lines for w in WIDTHS}
    assert at[160][0] == at[100][0] == "trace %s  quickstart · 3 spans · 431 ms · 2023-11-14 22:13:20.000 UTC" % A
    # 80: the milliseconds go, then the id is shortened to a --trace prefix
    assert at[80][0] == "trace %s  quickstart · 3 spans · 431 ms · 2023-11-14 22:13:20 UTC" % A[:16]
    bars = {w: max(x.count("█") for x in lines) for w, lines in at.items()}
    assert bars[80] == 0 < bars[100] == 24 < bars[160], bars  # the bar gave way first, and grows when it can
    for w in WIDTHS:
        assert all("gpt-4o-mini-2024-07-18" in x for x in rows_of(at[w])[1:]), at[w]


@pytest.mark.parametrize("width", WIDTHS)
def test_deep_tree_with_long_names(tmp_path: Path, width: int) -> None:
    r = show(str(deep_tree(tmp_path)), width=width)
    assert r.code == 0 and r.err == "", r
    assert all(len(x) <= width for x in r.lines), "\n" + "\n".join(r.lines)
    assert r.lines[0].startswith("trace aaaaaaaa") and r.lines[1].startswith("invoke_workflow"), r
    rows = rows_of(r.lines)
    assert len(rows) == 12, r
    (streamed,) = [x for x in rows if "[stream]" in x]
    assert "chat support-" in streamed and streamed.endswith("  ok"), streamed
    (failed,) = [x for x in rows if x.endswith("  error")]
    assert "chat anthropic-" in failed
    assert any(x.lstrip("│ ").startswith("✗ RateLimitError: rate limit") for x in r.lines), r


def test_columns_give_way_in_order(tmp_path: Path) -> None:
    """Narrowing the console one column at a time: the bar goes first, then the model,
    then the tokens; a name is cut only when all three are gone; the status stays."""
    for path in (quickstart_like(tmp_path), deep_tree(tmp_path)):
        for width in range(160, 47, -1):
            lines = show(str(path), width=width).lines
            assert all(len(x) <= width for x in lines), (width, lines)
            assert lines[1] and not lines[1].startswith(" "), (width, lines)  # a one-line header
            for row in rows_of(lines):
                label, rest = split_row(row)
                if "chat" not in label:
                    continue  # the model calls: every column has something to show
                has_bar, has_tokens, cut = "█" in rest, "→" in rest, "…" in label
                has_model = "gpt-4o-m" in rest or "claude-s" in rest
                state = (width, row)
                if cut:
                    assert not (has_bar or has_model or has_tokens), state
                if not has_tokens:
                    assert not (has_bar or has_model), state
                if not has_model:
                    assert not has_bar, state


def test_cut_names_keep_their_marker(tmp_path: Path) -> None:
    lines = show(str(deep_tree(tmp_path)), width=60).lines
    assert all(len(x) <= 60 for x in lines), lines
    (streamed,) = [x for x in rows_of(lines) if "[stream]" in x]
    label, _ = split_row(streamed)
    assert label.endswith("… [stream]") and "chat support-" in label, streamed
    # too deep for 3 columns per level: 2 per level, every level still drawn
    assert label.startswith(" " * 18 + "├ chat"), streamed


def _run_show(path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = clean_env(**env)
    if "COLUMNS" not in env:
        base.pop("COLUMNS")
    return subprocess.run([WEAVE_RUN, "show", str(path)], env=base, capture_output=True, text=True, timeout=60)


def test_weave_run_show_uses_columns_and_80_when_not_a_terminal(tmp_path: Path) -> None:
    path = quickstart_like(tmp_path)
    for env, width in (({}, 80), ({"COLUMNS": "80"}, 80), ({"COLUMNS": "160"}, 160)):
        done = _run_show(path, **env)
        lines = done.stdout.splitlines()
        assert done.returncode == 0 and done.stderr == "", done
        assert lines[4] == "" and all(len(x) <= width for x in lines), (env, lines)  # 4 lines of tree, then usage
        assert lines[3].startswith("└─ chat gpt-4o-mini [stream] ")
    wide = _run_show(path, COLUMNS="160").stdout.splitlines()
    assert max(len(x) for x in wide) > 100
