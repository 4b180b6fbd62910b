"""A full disk: the agent's local files never cost the app a write.

The file exporter writes each line whole or not at all (a short write is taken back),
writes nothing while the disk has less than ``WEAVE_AGENT_TRACES_MIN_FREE_BYTES`` free
(one line says so, naming the condition and the folder, and one line says when writing
resumes), and keeps the traces folder under ``WEAVE_AGENT_TRACES_DIR_MAX_BYTES``, the
oldest files first.

Two ways to a full disk: a real one (a 1 MiB tmpfs in a private mount namespace,
``unshare -Urm``, where the system allows it), the app and the agent sharing it; and,
everywhere, a disk simulated in process (``os.write``/``os.statvfs`` replaced by a
model of a small disk that the files in the folder fill).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _subproc import clean_env, run_python

from weave_agent.export import otlp_json
from weave_agent.settings import Settings

# --- a disk simulated in process ------------------------------------------------------------------


class SmallDisk:
    """``os.write`` and ``os.statvfs`` as on a disk of ``capacity`` bytes holding the files
    of ``folder`` (and the app's ``extra`` bytes): a write takes what still fits and
    returns short, the next one fails with ENOSPC, as the kernel does."""

    def __init__(self, folder: Path, capacity: int, monkeypatch: pytest.MonkeyPatch) -> None:
        self.folder, self.capacity, self.extra = folder, capacity, 0
        self._write = os.write
        monkeypatch.setattr(os, "write", self.write)
        monkeypatch.setattr(os, "statvfs", self.statvfs)

    def used(self) -> int:
        files = self.folder.iterdir() if self.folder.is_dir() else []
        return self.extra + sum(p.stat().st_size for p in files if p.is_file())

    def free(self) -> int:
        return max(0, self.capacity - self.used())

    def write(self, fd: int, data: Any) -> int:
        if fd <= 2:  # the test's own stdout/stderr
            return self._write(fd, data)
        room = self.free()
        if room == 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self._write(fd, bytes(data)[:room])

    def app_writes(self, n: int) -> bool:
        """The app's own write of ``n`` bytes to the same disk: True when it fits."""
        if self.free() < n:
            return False
        self.extra += n
        return True

    def statvfs(self, path: Any) -> os.statvfs_result:
        free = self.free()
        return os.statvfs_result((4096, 1, self.capacity, free, free, 1000, 1000, 1000, 0, 255))


def _lines(folder: Path) -> list[dict[str, Any]]:
    """Every line of every local file; each must be whole JSON."""
    out = []
    for path in sorted(folder.glob("*.jsonl")):
        data = path.read_bytes()
        assert not data or data.endswith(b"\n"), "%s ends in a partial line" % path.name
        out.extend(json.loads(line) for line in data.splitlines())
    return out


def _agent_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "weave_agent" and r.levelno >= logging.WARNING]


def test_a_short_write_is_taken_back_and_the_app_keeps_its_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "traces"
    lines = otlp_json.LineFile(str(folder), "traces", 1 << 20)
    disk = SmallDisk(folder, 64 * 1024, monkeypatch)
    lines.write({"n": 1, "pad": "a" * 1000})
    assert disk.app_writes(64 * 1024 - disk.used() - 8000)  # the app fills the disk but 8000 bytes
    # a 20 kB line does not fit: nothing of it stays, and the app's next 6000 bytes still do
    assert lines.write({"n": 2, "pad": "b" * 20_000}) is False
    assert [doc["n"] for doc in _lines(folder)] == [1]
    assert disk.app_writes(6000)
    assert lines.write({"n": 3, "pad": "c" * 20_000}) is False  # still no room: said once
    said = [m for m in _agent_lines(caplog) if "ENOSPC" in m]
    assert len(said) == 1 and str(folder) in said[0], _agent_lines(caplog)
    disk.extra = 0  # the app frees its space: writing resumes, and says so
    assert lines.write({"n": 4}) is True
    assert [doc["n"] for doc in _lines(folder)] == [1, 4]
    assert any("writing resumed" in m and "2 lines" in m for m in _agent_lines(caplog)), _agent_lines(caplog)


def test_nothing_is_written_into_the_reserve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "traces"
    from weave_agent.export.local_files import LineFile

    lines = LineFile(str(folder), "traces", 1 << 20, folder_max_bytes=0, min_free_bytes=100_000)
    disk = SmallDisk(folder, 1_000_000, monkeypatch)
    assert lines.write({"n": 1})
    disk.extra = 1_000_000 - 120_000  # 120 kB free: a 30 kB line would leave less than the reserve
    for n in (2, 3):
        assert lines.write({"n": n, "pad": "x" * 30_000}) is False
    assert [doc["n"] for doc in _lines(folder)] == [1]
    said = [m for m in _agent_lines(caplog) if "WEAVE_AGENT_TRACES_MIN_FREE_BYTES" in m]
    assert len(said) == 1 and str(folder) in said[0], _agent_lines(caplog)
    disk.extra = 0
    assert lines.write({"n": 4, "pad": "x" * 30_000})
    assert [doc["n"] for doc in _lines(folder)] == [1, 4]
    assert sum("writing resumed" in m for m in _agent_lines(caplog)) == 1


def test_the_reserve_and_the_cap_are_settings() -> None:
    s = Settings.load({})
    assert (s.traces_dir_max_bytes, s.traces_min_free_bytes) == (1 << 30, 64 << 20)
    s = Settings.load({"WEAVE_AGENT_TRACES_DIR_MAX_BYTES": "200MiB", "WEAVE_AGENT_TRACES_MIN_FREE_BYTES": "0"})
    assert (s.traces_dir_max_bytes, s.traces_min_free_bytes) == (200 << 20, 0)
    bad = Settings.load({"WEAVE_AGENT_TRACES_DIR_MAX_BYTES": "lots", "WEAVE_AGENT_TRACES_MIN_FREE_BYTES": "-5"})
    assert (bad.traces_dir_max_bytes, bad.traces_min_free_bytes) == (1 << 30, 64 << 20)
    assert any(e.startswith("WEAVE_AGENT_TRACES_DIR_MAX_BYTES='lots' is not valid: accepts a size") for e in bad.errors)
    assert any(e.startswith("WEAVE_AGENT_TRACES_MIN_FREE_BYTES='-5' is not valid") for e in bad.errors)


# --- the folder's cap --------------------------------------------------------------------------------

CAP_APP = """
from weave_agent import op

@op
def work(i, payload):
    return len(payload)

for i in range(40):
    work(i, "p" * 3000)
print("done")
"""


def test_the_folder_cap_removes_the_oldest_files_first(tmp_path: Path) -> None:
    folder = tmp_path / "weave-traces"
    folder.mkdir()
    # earlier runs: five files of 40 kB, the oldest first, and a file that is not the agent's
    earlier = []
    for n in range(5):
        kind = "traces" if n % 2 == 0 else "metrics"
        path = folder / ("%s-2024010%dT000000-%d.jsonl" % (kind, n + 1, 100 + n))
        path.write_text(json.dumps({"resourceSpans": [], "pad": "o" * 40_000}) + "\n")
        stamp = time.time() - 3600 * (10 - n)
        os.utime(path, (stamp, stamp))
        earlier.append(path.name)
    (folder / "notes.txt").write_text("the app's own file\n" * 10_000)  # 190 kB, not counted, never removed
    (tmp_path / "app.py").write_text(CAP_APP)
    cap = 150_000
    result = run_python(args=["-m", "weave_agent", "--exporter", "file", sys.executable, "app.py"], cwd=tmp_path,
                        env={"WEAVE_AGENT_TRACES_DIR_MAX_BYTES": str(cap), "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "10"},
                        timeout=60)
    assert result.returncode == 0 and result.stdout == "done\n", result
    left = sorted(p.name for p in folder.iterdir())
    assert "notes.txt" in left
    local = [p for p in folder.glob("*.jsonl")]
    assert sum(p.stat().st_size for p in local) <= cap, [(p.name, p.stat().st_size) for p in local]
    # the oldest went first: what is left of the earlier runs is their newest files
    kept = [name for name in earlier if name in left]
    assert kept == earlier[len(earlier) - len(kept):], (kept, earlier)
    assert len(kept) < len(earlier)
    # and every span of this run is there, in whole lines
    spans = [s for doc in _lines(folder) for rs in doc.get("resourceSpans", [])
             for ss in rs["scopeSpans"] for s in ss["spans"]]
    assert len(spans) == 40, result


def test_the_exit_line_says_why_spans_were_not_written(tmp_path: Path) -> None:
    # A reserve larger than any disk: nothing is written, and the exit line names the
    # folder's condition rather than a bare "the exporter reported a failure".
    (tmp_path / "app.py").write_text(CAP_APP)
    result = run_python(args=["-m", "weave_agent", "--exporter", "file", sys.executable, "app.py"], cwd=tmp_path,
                        env={"WEAVE_AGENT_TRACES_MIN_FREE_BYTES": "1024TiB"}, timeout=60)
    assert result.returncode == 0 and result.stdout == "done\n", result
    lost = [line for line in result.stderr.splitlines() if "could not be delivered" in line]
    assert len(lost) == 1, result.stderr
    assert "short of space" in lost[0] and "WEAVE_AGENT_TRACES_MIN_FREE_BYTES" in lost[0], lost[0]
    assert "the exporter reported a failure" not in result.stderr, result.stderr


# --- a real full disk ----------------------------------------------------------------------------------

# Inside the mount namespace: the app fills the tmpfs but ``room`` bytes, makes a traced
# call whose line is bigger than that, and then writes ``room // 2`` bytes of its own.
FULL_APP = r"""
import errno, os, sys
import weave_agent
from weave_agent import op

disk = sys.argv[1]
room = int(sys.argv[2])

@op
def work(payload):
    return len(payload)

work("first")
weave_agent.flush()

filler = os.path.join(disk, "filler")
with open(filler, "wb", buffering=0) as f:  # fill the disk ...
    try:
        while f.write(b"\0" * 4096):
            pass
    except OSError as exc:
        assert exc.errno == errno.ENOSPC, exc
os.truncate(filler, os.path.getsize(filler) - room)  # ... but ``room`` bytes
work("big" * 100_000)  # a line of ~300 kB
weave_agent.flush()
try:
    with open(os.path.join(disk, "app-data"), "wb", buffering=0) as f:
        f.write(b"\1" * (room // 2))
    print("app write: ok")
except OSError as exc:
    print("app write: failed", errno.errorcode.get(exc.errno))
os.remove(filler)  # space is back: the agent writes again
work("after")
print("done")
"""

REPORT = r"""
import json, os, sys
folder = sys.argv[1]
out = {"partial": [], "spans": []}
for name in sorted(os.listdir(folder)):
    data = open(os.path.join(folder, name), "rb").read()
    if data and not data.endswith(b"\n"):
        out["partial"].append(name)
    for line in data.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            out["partial"].append(name)
            continue
        for rs in doc.get("resourceSpans", []):
            for ss in rs["scopeSpans"]:
                for s in ss["spans"]:
                    value = [a["value"]["stringValue"] for a in s["attributes"] if a["key"] == "input.value"]
                    out["spans"].append(json.loads(value[0])["payload"][:5] if value else s["name"])
print("REPORT " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def tmpfs_runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """The command prefix that runs a shell line with a 1 MiB tmpfs mounted on ``$0``, or a skip."""
    unshare = shutil.which("unshare")
    probe = tmp_path_factory.mktemp("probe")
    prefix = [unshare, "-Urm"] if unshare else []
    if prefix:
        done = subprocess.run([*prefix, "sh", "-c", 'mount -t tmpfs -o size=1m tmpfs "$0"', str(probe)],
                              capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            prefix = []
    if not prefix:
        pytest.skip("no private mount namespace here (unshare -Urm): the simulated disk tests cover this")
    yield prefix


@pytest.mark.parametrize("reserve", ["0", "256KiB"])
def test_a_real_full_disk(tmp_path: Path, tmpfs_runner: list[str], reserve: str) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    (tmp_path / "app.py").write_text(FULL_APP)
    (tmp_path / "report.py").write_text(REPORT)
    traces = disk / "weave-traces"
    py = sys.executable
    script = textwrap.dedent("""
        mount -t tmpfs -o size=1m tmpfs "$0" || exit 90
        "$1" -m weave_agent --exporter file --traces-dir "$2" "$1" app.py "$0" 131072
        status=$?
        "$1" report.py "$2"
        exit $status
    """)
    env = clean_env(WEAVE_AGENT_TRACES_MIN_FREE_BYTES=reserve, WEAVE_AGENT_MAX_VALUE_SIZE="400000")
    done = subprocess.run([*tmpfs_runner, "sh", "-c", script, str(disk), py, str(traces)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "app write: ok" in done.stdout, (done.stdout, done.stderr)
    report = json.loads(done.stdout.split("REPORT ", 1)[1])
    assert report["partial"] == [], report
    assert report["spans"] == ["first", "after"], report  # the big line was not written, the later one was
    said = [line for line in done.stderr.splitlines()
            if "short of space" in line and "could not be delivered" not in line]  # the exit line repeats why
    assert len(said) == 1 and str(traces) in said[0], done.stderr
    assert ("ENOSPC" if reserve == "0" else "WEAVE_AGENT_TRACES_MIN_FREE_BYTES") in said[0], said
    assert "writing resumed" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
