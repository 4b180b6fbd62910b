"""``weave-run show``: the trace trees drawn from OTLP-JSON files (issue 8).

Files recorded by a real app under ``weave-run`` (the ``recorded`` fixture) and
hand-written lines with exact times (for the bars), malformed JSON and a truncated line.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from _otlp import WEAVE_RUN, clean_env, line, show, span

A, B = "a" * 32, "b" * 32
ROOT = "0" * 15 + "1"


def hand_written(folder: Path) -> Path:
    path = folder / "hand.jsonl"
    path.write_text(
        line(span(A, "1" * 16, "chat gpt-4o", 10, 60, ROOT, gen_ai__request__model="gpt-4o",
                  gen_ai__usage__input_tokens=120, gen_ai__usage__output_tokens=48,
                  gen_ai__input__messages='[{"role":"user","content":"weather in Paris?"}]'))
        + line(span(A, "2" * 16, "lookup", 60, 90, ROOT, error="KeyError: 'city'", error__type="KeyError"),
               span(A, ROOT, "agent", 0, 100))
    )
    return path


def test_tree_with_bars_on_the_trace_time_axis(tmp_path: Path) -> None:
    r = show(str(hand_written(tmp_path)))
    assert r.code == 0 and r.err == "", r
    assert r.lines == [
        "trace aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa  svc · 3 spans · 100 ms · 2023-11-14 22:13:20.000 UTC",
        "agent           100 ms  ████████████████████████                  ok",
        "├─ chat gpt-4o   50 ms    ████████████            gpt-4o  120→48  ok",
        "└─ lookup        30 ms                ███████                     error",
        "      ✗ KeyError: 'city'",
    ]


def _span_rows(lines: list[str]) -> dict[str, str]:
    """Tree label (prefix and name) -> the rest of the row."""
    rows = {}
    for text in lines:
        m = re.match(r"^([│├└─ ]*[a-z][\w .\-\[\]]*?)\s{2,}(\d.*)$", text)
        if m:
            rows[m.group(1)] = m.group(2)
    return rows


def test_recorded_app_nested_ops_error_and_stream(recorded: Path) -> None:
    r = show(str(recorded / "weave-traces"))
    assert r.code == 0 and r.err == "", r
    heads = [x for x in r.lines if x.startswith("trace ")]
    assert len(heads) == 2
    assert re.match(r"^trace [0-9a-f]{32}  app · 7 spans · \d+ ms · \d{4}-\d\d-\d\d ", heads[0]), heads
    assert " app · 3 spans · " in heads[1]
    first = r.lines[r.lines.index(heads[0]) + 1: r.lines.index(heads[1])]
    labels = [row for row in first if row and not row.startswith("trace")]
    names = [re.split(r"\s{2,}(?=\d)", x)[0] for x in labels]
    assert names == [
        "main",
        "├─ answer",
        "│  ├─ retrieve",
        "│  └─ chat gpt-4o-mini",
        "├─ tokens [stream]",
        "└─ fail",
        "   │  ✗ ValueError: boom: bad input 1",
        "   └─ chat gpt-4o [stream]",
    ], r
    rows = _span_rows(first)
    assert re.search(r"gpt-4o-mini-2024\s+12→30\s+ok$", rows["│  └─ chat gpt-4o-mini"]), rows
    assert re.search(r"gpt-4o-2024\s+5→0\s+ok$", rows["   └─ chat gpt-4o [stream]"]), rows
    assert rows["└─ fail"].endswith("error") and rows["main"].endswith("ok")
    assert "█" in rows["main"] and rows["main"].split("  ")[0].endswith("ms")
    # nothing is cut at 100 columns; content is shown only with --full
    assert all(len(x) <= 100 for x in r.lines)
    assert "gen_ai.input.messages" not in r.out and "What is the capital" not in r.out


def test_json_one_object_per_trace_with_its_tree(recorded: Path) -> None:
    r = show(str(recorded / "weave-traces"), "--json")
    assert r.code == 0, r
    traces = r.traces()
    assert [t["span_count"] for t in traces] == [7, 3]
    first = traces[0]
    assert set(first) == {"trace_id", "service", "start_time_unix_nano", "duration_ms", "span_count", "cost_usd",
                          "spans"}
    assert first["cost_usd"] is None  # the fake model calls name no provider: not priced
    assert first["service"] == "app" and re.fullmatch(r"[0-9a-f]{32}", first["trace_id"])

    def shape(node: dict) -> list:
        return [node["name"], [shape(c) for c in node["children"]]]

    (root,) = first["spans"]
    assert shape(root) == ["main", [
        ["answer", [["retrieve", []], ["chat gpt-4o-mini", []]]],
        ["tokens", []],
        ["fail", [["chat gpt-4o", []]]],
    ]]
    answer, tokens, fail = root["children"]
    chat = answer["children"][1]
    assert chat["model"] == "gpt-4o-mini-2024" and (chat["input_tokens"], chat["output_tokens"]) == (12, 30)
    assert chat["kind"] == "client" and chat["parent_span_id"] == answer["span_id"]
    assert chat["attributes"]["gen_ai.request.model"] == "gpt-4o-mini"
    assert "gen_ai.input.messages" not in chat["attributes"]  # content: --full only
    assert fail["error"] == {"type": "ValueError", "message": "boom: bad input 1"}
    assert fail["status"]["code"] == "error" and root["error"] is None
    assert tokens["attributes"]["weave_agent.stream.end_reason"]
    assert root["duration_ms"] >= answer["duration_ms"] > 0
    assert root["parent_span_id"] is None
    full = show(str(recorded / "weave-traces"), "--json", "--full").traces()
    chat = full[0]["spans"][0]["children"][0]["children"][1]
    assert json.loads(chat["attributes"]["gen_ai.input.messages"]) == [
        {"role": "user", "content": "What is the capital of France?"}
    ]


def test_last_and_trace(recorded: Path) -> None:
    folder = str(recorded / "weave-traces")
    both = show(folder, "--json").traces()
    assert both[0]["start_time_unix_nano"] < both[1]["start_time_unix_nano"]
    last = show(folder, "--json", "--last", "1").traces()
    assert [t["trace_id"] for t in last] == [both[1]["trace_id"]]
    assert [t["trace_id"] for t in show(folder, "--json", "--last", "5").traces()] == [t["trace_id"] for t in both]
    wanted = both[0]["trace_id"]
    one = show(folder, "--trace", wanted[:6].upper())
    assert one.code == 0 and [x for x in one.lines if x.startswith("trace ")] == [x for x in show(folder).lines if x.startswith("trace " + wanted)]
    assert "retrieve" in one.out and " 3 spans " not in one.out
    none = show(folder, "--trace", "zzzz")
    assert none.code == 1 and none.out == "" and "no traces matching --trace zzzz" in none.err


def test_full_prints_message_content(recorded: Path, tmp_path: Path) -> None:
    r = show(str(recorded / "weave-traces"), "--full", "--last", "1")
    assert r.code == 0, r
    text = "\n".join(r.lines)
    assert "gen_ai.input.messages: [" in text and '"content": "second"' in text
    assert '"content": "echo second"' in text  # gen_ai.output.messages
    assert 'input.value: {' in text and '"question": "second"' in text
    # content lines hang under their span, inside the tree
    rows = r.lines
    i = next(n for n, x in enumerate(rows) if x.startswith("├─ retrieve"))
    assert rows[i + 1].startswith("│     input.value: {"), rows
    hand = show(str(hand_written(tmp_path)), "--full").lines
    assert hand[2:5] == [
        "├─ chat gpt-4o   50 ms    ████████████            gpt-4o  120→48  ok",
        "│     gen_ai.input.messages: [",
        "│       {",
    ]


def test_malformed_and_truncated_lines_are_reported_and_skipped(tmp_path: Path) -> None:
    good = line(span(A, ROOT, "first", 0, 10))
    other = line(span(B, ROOT, "second", 20, 30))
    path = tmp_path / "bad.jsonl"
    path.write_text(good + "{not json\n" + '{"hello": 1}\n' + "\n" + other + other[: len(other) // 2])
    r = show(str(path))
    assert r.code == 0
    assert [x.split()[1][:4] for x in r.lines if x.startswith("trace ")] == ["aaaa", "bbbb"]
    err = r.err.splitlines()
    assert len(err) == 3, r
    assert err[0].startswith("weave-run show: %s:2: skipped: " % path)
    assert err[1].startswith("weave-run show: %s:3: skipped: no resourceSpans" % path)
    assert err[2] == "weave-run show: %s:6: skipped: truncated line (no newline at the end of the file)" % path


def test_folder_of_several_files_and_collector_shapes(tmp_path: Path) -> None:
    """A folder: every .json/.jsonl file in it; spans of one trace split across files
    (rotation, several processes) make one tree. The Collector's ``file`` exporter may
    write string enums and other signals in the same file."""
    (tmp_path / "a.jsonl").write_text(line(span(A, "1" * 16, "child", 10, 20, ROOT)))
    collector = json.loads(line(span(A, ROOT, "root", 0, 30)))
    collector["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["kind"] = "SPAN_KIND_SERVER"
    (tmp_path / "b.json").write_text(json.dumps(collector) + "\n" + json.dumps({"resourceMetrics": []}) + "\n")
    (tmp_path / "notes.txt").write_text("not a trace file")
    r = show(str(tmp_path), "--json")
    assert r.code == 0 and r.err == "", r
    (t,) = r.json()
    assert t["spans"][0]["name"] == "root" and t["spans"][0]["kind"] == "server"
    assert [c["name"] for c in t["spans"][0]["children"]] == ["child"]


def test_cli_default_folder_and_summary_command(recorded: Path, tmp_path: Path) -> None:
    """The exit summary names the command to run; it and the default folder work."""
    summary = (recorded / "stderr.txt").read_text().strip().splitlines()[-1]
    m = re.fullmatch(r"weave-agent: 10 spans written to (\S+); view them with: weave-run show (\S+)", summary)
    assert m and m.group(1) == m.group(2), summary
    by_path = subprocess.run([WEAVE_RUN, "show", m.group(2)], cwd=recorded, env=clean_env(),
                             capture_output=True, text=True, timeout=60)
    default = subprocess.run([WEAVE_RUN, "show"], cwd=recorded, env=clean_env(),
                             capture_output=True, text=True, timeout=60)
    assert by_path.returncode == 0 and by_path.stderr == "", by_path.stderr
    assert by_path.stdout == default.stdout and "└─ fail" in default.stdout
    assert "\x1b[" not in default.stdout  # NO_COLOR
    via_env = subprocess.run([WEAVE_RUN, "show", "--last", "1"], cwd=tmp_path,
                             env=clean_env(WEAVE_AGENT_TRACES_DIR=str(recorded / "weave-traces")),
                             capture_output=True, text=True, timeout=60)
    assert via_env.returncode == 0 and via_env.stdout.count("\ntrace ") + via_env.stdout.startswith("trace ") == 1
    missing = subprocess.run([WEAVE_RUN, "show"], cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr.startswith("weave-run show: no such file or folder: weave-traces (run an app under weave-run")


def _default_sigint() -> None:
    """In the child before exec: a test run started in the background ignores SIGINT, an
    ignored signal stays ignored across exec, and Ctrl-C must reach ``--follow``."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _popen_follow(folder: Path, *extra: str) -> subprocess.Popen[str]:
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    return subprocess.Popen([WEAVE_RUN, "show", str(folder), "--follow", *extra], env=clean_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=_default_sigint if ignored else None)


def _wait_for(proc: subprocess.Popen[str], prefix: str, timeout: float = 20.0) -> list[str]:
    seen = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        text = proc.stdout.readline()
        if not text:
            break
        seen.append(text.rstrip("\n"))
        if text.startswith(prefix):
            return seen
    raise AssertionError("no line starting with %r in %r" % (prefix, seen))


def test_follow_prints_spans_appended_after_start(tmp_path: Path) -> None:
    folder = tmp_path / "traces"
    folder.mkdir()
    hand_written(folder)
    proc = _popen_follow(folder, "--follow-seconds", "6")
    try:
        before = _wait_for(proc, "└─ lookup")  # the existing trace, drawn at start
        assert before[0].startswith("trace " + A)
        new = line(span(B, ROOT, "late span", 200, 250, gen_ai__request__model="m1", gen_ai__usage__input_tokens=3,
                        gen_ai__usage__output_tokens=4))
        with open(folder / "hand.jsonl", "a") as f:  # half a line first: it waits for the rest
            f.write(new[:40])
            f.flush()
            time.sleep(0.6)
            f.write(new[40:])
        (folder / "traces-2-other.jsonl").write_text(line(span(B, "3" * 16, "in a new file", 210, 220, ROOT, error="RuntimeError: late")))
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0 and err == "", err
    lines = out.splitlines()
    late = [x for x in lines if "late span" in x]
    assert len(late) == 1 and re.search(r"  bbbbbbbb  late span  50 ms  m1  3→4  ok$", late[0]), lines
    i = next(n for n, x in enumerate(lines) if "in a new file" in x)
    assert lines[i].endswith("error") and lines[i + 1] == "    ✗ RuntimeError: late"


def test_follow_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    hand_written(tmp_path)
    proc = _popen_follow(tmp_path)
    try:
        _wait_for(proc, "└─ lookup")
        time.sleep(0.3)
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0 and err == "", err
