"""Processes: apps under the agent (the ``sitecustomize`` shim on ``PYTHONPATH``) that fork
a lot, run ``multiprocessing`` pools, and lose a child to SIGKILL while it exports.

Every span carries the pid of the process that made it (the ``@op`` input ``pid``), and
the file exporter writes one file per process (its pid in the name): so "spans per pid"
is checked both ways. A span exported twice (a parent's queue inherited by a forked
child), lost (a child's spans never flushed) or written by the wrong process shows up
as a count that is off.
"""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from pathlib import Path

import pytest
from _proc_util import OTLPServer, by_input_pid, file_spans, scaled
from _subproc import SHIM_DIR, run_python

COMMON = """
import json, os, sys, threading, time
import weave_agent


@weave_agent.op(name="call")
def call(pid, i):
    return i


@weave_agent.op(name="work")
def work(pid, k):
    for i in range(k):
        call(os.getpid() if pid is None else pid, i)
    return os.getpid()
"""

FORKS_APP = COMMON + """
N, K, AT_ONCE = int(sys.argv[1]), 3, 8

# A thread of the parent makes spans all along, so forks happen while spans are being
# started, ended, queued and exported.
stop = threading.Event()
made = [0]


def background():
    while not stop.is_set():
        call(os.getpid(), made[0])
        made[0] += 1
        time.sleep(0.001)


bg = threading.Thread(target=background)
bg.start()
work(os.getpid(), K)
running, codes, children = [], {}, []


def reap():
    pid, status = os.wait()
    codes[pid] = os.waitstatus_to_exitcode(status)
    running.remove(pid)


for n in range(N):
    if len(running) >= AT_ONCE:
        reap()
    pid = os.fork()
    if pid == 0:
        work(os.getpid(), K)
        if n % 2:
            weave_agent.flush()
            os._exit(0)  # documented: flush first, or the spans are lost
        sys.exit(0)  # atexit flushes
    running.append(pid)
    children.append(pid)
while running:
    reap()
stop.set()
bg.join()
work(os.getpid(), K)
print(json.dumps({"parent": os.getpid(), "children": children, "codes": codes, "background": made[0]}))
"""

K = 3


def _agent_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {"WEAVE_AGENT_EXPORTER": "file", "WEAVE_AGENT_TRACES_DIR": str(tmp_path / "traces"),
           "WEAVE_AGENT_QUIET": "1"}
    env.update(extra)
    return env


def _check_work(spans: list, pid: int, works: int) -> None:
    """``works`` work spans of ``pid``, each with its K calls as children."""
    names = Counter(s.name for s in spans)
    assert names == {"work": works, "call": works * K}, (pid, names)
    work_ids = {s.span_id for s in spans if s.name == "work"}
    assert all(s.parent_id in work_ids for s in spans if s.name == "call"), pid


@pytest.mark.parametrize("n", scaled(20, 200))
def test_many_forks_each_export_their_own_spans(tmp_path: Path, n: int) -> None:
    app = tmp_path / "app.py"
    app.write_text(FORKS_APP)
    r = run_python(args=[str(app), str(n)], pythonpath=[SHIM_DIR], env=_agent_env(tmp_path), cwd=tmp_path,
                   timeout=30 + n * 0.5).check()
    got = json.loads(r.lines[-1])
    parent, children = got["parent"], got["children"]
    assert len(children) == n and set(got["codes"].values()) == {0}, got
    spans = file_spans(tmp_path / "traces")
    # Each process wrote only its own spans, into its own file.
    assert all(s.inputs["pid"] == s.pid for s in spans), [s for s in spans if s.inputs["pid"] != s.pid][:5]
    per_pid = by_input_pid(spans)
    assert sorted(per_pid) == sorted([parent, *children])
    for child in children:
        _check_work(per_pid[child], child, 1)
    mine = per_pid[parent]
    background = [s for s in mine if s.name == "call" and s.parent_id == ""]
    assert len(background) == got["background"]  # none lost, none duplicated
    _check_work([s for s in mine if s not in background], parent, 2)
    assert len(spans) == got["background"] + (n + 2) * (K + 1)


POOL_APP = COMMON + """
import multiprocessing as mp

if __name__ == "__main__":
    method, tasks = sys.argv[1], int(sys.argv[2])
    work(os.getpid(), K := 3)  # the parent's pipeline exists before the workers start
    with mp.get_context(method).Pool(4) as pool:
        pids = pool.starmap(work, [(None, K)] * tasks, chunksize=1)
        pool.close()
        pool.join()
    print(json.dumps({"parent": os.getpid(), "pids": pids}))
"""


@pytest.mark.parametrize("method", ["fork", "spawn"])
@pytest.mark.parametrize("tasks", scaled(24, 400))
def test_multiprocessing_pool_workers_export_every_task(tmp_path: Path, method: str, tasks: int) -> None:
    app = tmp_path / "app.py"
    # A pool task does not know its worker's pid when it is submitted: ``work`` records
    # None and its calls the worker's pid (see COMMON); spans are matched to files.
    app.write_text(POOL_APP)
    r = run_python(args=[str(app), method, str(tasks)], pythonpath=[SHIM_DIR], env=_agent_env(tmp_path),
                   cwd=tmp_path, timeout=60 + tasks * 0.2).check()
    got = json.loads(r.lines[-1])
    spans = file_spans(tmp_path / "traces")
    per_file: dict[int, list] = {}
    for s in spans:
        per_file.setdefault(s.pid, []).append(s)
    workers = Counter(got["pids"])
    assert sorted(per_file) == sorted([got["parent"], *workers]), (sorted(per_file), workers)
    _check_work(per_file[got["parent"]], got["parent"], 1)
    for pid, count in workers.items():
        _check_work(per_file[pid], pid, count)
        assert all(s.inputs["pid"] in (pid, None) for s in per_file[pid])
    assert len(spans) == (tasks + 1) * (K + 1)


KILL_APP = COMMON + """
import signal, urllib.request

SERVER, SIBLINGS = sys.argv[1], 3


@weave_agent.op(name="victim")
def victim(pid, i):
    return i


def fork(body):
    pid = os.fork()
    if pid == 0:
        try:
            body()
            weave_agent.flush()
        finally:
            os._exit(0)
    return pid


def stalled():
    with urllib.request.urlopen(SERVER + "/stalled", timeout=5) as r:
        return r.read() == b"yes"


work(os.getpid(), 3)
assert weave_agent.flush()  # the parent has exported (and keeps its connection) before the forks
target = fork(lambda: [victim(os.getpid(), i) for i in range(5)] and weave_agent.flush(60))
deadline = time.monotonic() + 20
while not stalled():
    assert time.monotonic() < deadline, "the victim never reached the server"
    time.sleep(0.02)
# The victim's request hangs on the server: siblings forked now, and the parent, export.
siblings = [fork(lambda: work(os.getpid(), 3)) for _ in range(SIBLINGS)]
started = time.monotonic()
work(os.getpid(), 3)
assert weave_agent.flush(10), "the parent's export was held up by its killed child"
flushed_in = time.monotonic() - started
os.kill(target, signal.SIGKILL)
siblings += [fork(lambda: work(os.getpid(), 3))]  # a sibling forked after the kill
codes = {pid: os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in [target, *siblings]}
work(os.getpid(), 3)
print(json.dumps({"parent": os.getpid(), "target": target, "siblings": siblings, "codes": codes,
                  "flushed_in": flushed_in}))
"""


def test_child_killed_while_exporting_leaves_parent_and_siblings_whole(tmp_path: Path) -> None:
    """A forked child is SIGKILLed while its exporter's request hangs on a slow server:
    the parent (which exported over a connection of its own, before and after the fork)
    and the siblings deliver every span, and nobody waits for the dead child."""
    app = tmp_path / "app.py"
    app.write_text(KILL_APP)
    with OTLPServer(stall_on="victim") as server:
        env = _agent_env(tmp_path, WEAVE_AGENT_EXPORTER="otlp", OTEL_EXPORTER_OTLP_ENDPOINT=server.url,
                         OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf", OTEL_METRICS_EXPORTER="none",
                         OTEL_BSP_SCHEDULE_DELAY="50", WEAVE_AGENT_EXIT_TIMEOUT="10")
        r = run_python(args=[str(app), server.url], pythonpath=[SHIM_DIR], env=env, cwd=tmp_path, timeout=60)
        r.check()
        got = json.loads(r.lines[-1])
        received = list(server.received)
        stalled = list(server.stalled_spans)
    target = got["target"]
    assert got["codes"][str(target)] == -signal.SIGKILL
    assert all(got["codes"][str(pid)] == 0 for pid in got["siblings"]), got
    assert {s.name for s in stalled} == {"victim"} and {s.pid for s in stalled} == {target}
    per_pid = by_input_pid(received)
    assert sorted(per_pid) == sorted([got["parent"], *got["siblings"]]), per_pid.keys()
    _check_work(per_pid[got["parent"]], got["parent"], 3)
    for pid in got["siblings"]:
        _check_work(per_pid[pid], pid, 1)
    assert got["flushed_in"] < 5
    assert os.path.exists(tmp_path) and not (tmp_path / "traces").exists()  # nothing fell back to files
