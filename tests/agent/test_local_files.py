"""The local default (issue 8): with no endpoint, several processes writing at once into
``./weave-traces`` never interleave lines, and files rotate by size
(``WEAVE_AGENT_TRACES_MAX_BYTES``)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter

from _subproc import clean_env

from weave_agent.settings import Settings

APP = """
import sys
from weave_agent import op

@op
def work(i, payload):
    return len(payload)

tag = sys.argv[1]
for i in range(int(sys.argv[2])):
    work(i, tag * 3000)
print("done", tag)
"""

PROCESSES, SPANS, MAX_BYTES = 6, 120, 60_000


def test_default_max_bytes() -> None:
    assert Settings.load({}).traces_max_bytes == 64 * 1024 * 1024
    assert Settings.load({"WEAVE_AGENT_TRACES_MAX_BYTES": "1000"}).traces_max_bytes == 1000
    bad = Settings.load({"WEAVE_AGENT_TRACES_MAX_BYTES": "big"})
    assert bad.traces_max_bytes == 64 * 1024 * 1024 and "WEAVE_AGENT_TRACES_MAX_BYTES='big'" in bad.errors[0]


def test_processes_at_once_never_interleave_and_files_rotate(tmp_path) -> None:
    (tmp_path / "app.py").write_text(APP)
    # Small batches (10 spans, ~30 kB a line) so that every process writes many lines
    # while the others do, and rotates every few lines.
    env = clean_env(WEAVE_AGENT_TRACES_MAX_BYTES=str(MAX_BYTES), OTEL_BSP_MAX_EXPORT_BATCH_SIZE="10",
                    OTEL_BSP_SCHEDULE_DELAY="1")
    procs = [
        subprocess.Popen([sys.executable, "app.py", chr(ord("a") + n), str(SPANS)], cwd=tmp_path, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for n in range(PROCESSES)
    ]
    pids = {}
    for n, p in enumerate(procs):
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert out.strip() == "done " + chr(ord("a") + n)
        pids[p.pid] = chr(ord("a") + n)
        assert err.count("weave-agent:") == 1 and "%d spans written to weave-traces;" % SPANS in err, err

    folder = tmp_path / "weave-traces"
    names = sorted(os.listdir(folder))
    spans_by_pid: Counter[int] = Counter()
    parts: dict[int, list[str]] = {}
    for name in names:
        m = re.fullmatch(r"traces-\d{8}T\d{6}-(\d+)(?:\.(\d+))?\.jsonl", name)
        assert m, name
        pid = int(m.group(1))
        parts.setdefault(pid, []).append(name)
        data = (folder / name).read_bytes()
        assert data.endswith(b"\n")
        lines = data.split(b"\n")[:-1]
        for raw in lines:  # every line is one whole request, from this process only
            doc = json.loads(raw)
            for rs in doc["resourceSpans"]:
                for ss in rs["scopeSpans"]:
                    for s in ss["spans"]:
                        payload = next(a for a in s["attributes"] if a["key"] == "input.value")["value"]["stringValue"]
                        assert pids[pid] * 3000 in payload
                        spans_by_pid[pid] += 1
        # rotation: a file passes MAX_BYTES by at most its last line
        assert len(data) - len(lines[-1]) - 1 < MAX_BYTES
    assert set(spans_by_pid) == set(pids) and all(v == SPANS for v in spans_by_pid.values()), spans_by_pid
    for files in parts.values():
        assert len(files) >= 3, files  # ~360 kB per process, rotated past 60 kB
        suffixes = sorted(int(m.group(1)) if (m := re.search(r"\.(\d+)\.jsonl$", f)) else 0 for f in files)
        assert suffixes == list(range(len(files))), files
        for f in files:  # every part but the last was rotated because it was full
            if f != _last(files):
                assert (folder / f).stat().st_size >= MAX_BYTES

    # and the viewer reads it all back without a complaint
    shown = subprocess.run([os.path.join(os.path.dirname(sys.executable), "weave-run"), "show", "--json"],
                           cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and shown.stderr == "", shown.stderr
    assert len(shown.stdout.splitlines()) == PROCESSES * SPANS  # one trace per top-level call


def _last(files: list[str]) -> str:
    def part(f: str) -> int:
        m = re.search(r"\.(\d+)\.jsonl$", f)
        return int(m.group(1)) if m else 0

    return max(files, key=part)
