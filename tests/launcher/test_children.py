"""Child processes: Python children inherit the agent (``WEAVE_AGENT_CHILDREN=false`` stops
that), multiprocessing workers under every start method export their spans, and forked
children get their own working pipeline and their own file."""

from __future__ import annotations

import json
import os

import pytest
from _launch import Launch

CHILD = """
    import os, sys
    from fakevendor.client import Client

    Client().complete("child")
    print("child", os.getpid(), os.environ.get("PYTHONPATH", ""), flush=True)
"""

PARENT = """
    import os, subprocess, sys
    from fakevendor.client import Client

    Client().complete("parent")
    print("parent", os.getpid(), flush=True)
    subprocess.run([sys.executable, "child.py"], check=True)
"""


def _lines(out: str, tag: str) -> list[list[str]]:
    return [line.split() for line in out.splitlines() if line.startswith(tag + " ")]


def test_python_children_inherit_the_agent(launch: Launch, shim_dir: str) -> None:
    launch.write("child.py", CHILD)
    launch.write("app.py", PARENT)
    r = launch.run("weave-run", "python", "app.py").check()
    parent_pid = int(_lines(r.stdout, "parent")[0][1])
    (_, child_pid, child_path), = _lines(r.stdout, "child")
    assert child_path.split(os.pathsep)[0] == shim_dir
    by_pid = {s.pid: s for s in launch.spans("chat")}
    assert sorted(by_pid) == sorted([parent_pid, int(child_pid)])
    assert by_pid[parent_pid].attributes["input.value"] == '{"prompt":"parent"}'
    assert by_pid[int(child_pid)].attributes["input.value"] == '{"prompt":"child"}'
    assert by_pid[parent_pid].path != by_pid[int(child_pid)].path  # one file per process
    assert by_pid[int(child_pid)].resource["service.name"] == "child"


def test_children_false_stops_inheritance(launch: Launch, shim_dir: str) -> None:
    launch.write("child.py", CHILD)
    launch.write("app.py", PARENT)
    r = launch.run("weave-run", "python", "app.py", env=launch.env(WEAVE_AGENT_CHILDREN="false")).check()
    parent_pid = int(_lines(r.stdout, "parent")[0][1])
    (_, child_pid, child_path), = _lines(r.stdout, "child")
    # The child still finds fakevendor (the user's entries stay), but not the shim.
    assert child_path.split(os.pathsep) == [str(launch.site)]
    assert [s.pid for s in launch.spans("chat")] == [parent_pid]
    assert len(launch.trace_files()) == 1


def test_children_false_keeps_the_users_entries(launch: Launch) -> None:
    """Only the shim is taken off: the user's entries, empty ones included, stay in order."""
    launch.write("child.py", CHILD)
    launch.write("app.py", PARENT)
    a = str(launch.root / "a")
    given = os.pathsep.join([a, "", str(launch.site)])
    env = launch.env(WEAVE_AGENT_CHILDREN="false", PYTHONPATH=given)
    r = launch.run("weave-run", "python", "app.py", env=env).check()
    (_, _, child_path), = _lines(r.stdout, "child")
    assert child_path == given
    assert len(launch.spans("chat")) == 1


MP_APP = """
    import json, multiprocessing as mp, os, sys
    from fakevendor.client import Client


    def work(tag):
        Client().complete("%s %d" % (tag, os.getpid()))
        return os.getpid()


    if __name__ == "__main__":
        ctx = mp.get_context(sys.argv[1])
        # A worker started before the parent made any span: it sets its pipeline up itself.
        early = ctx.Process(target=work, args=("early",))
        early.start()
        early.join()
        Client().complete("parent")  # the parent's pipeline exists from here on
        late = ctx.Process(target=work, args=("late",))
        late.start()
        late.join()
        pool = ctx.Pool(2)  # workers that end when the pool is closed
        pool_pids = pool.map(work, ["pool"] * 4, chunksize=1)
        pool.close()
        pool.join()
        with ctx.Pool(2) as pool:  # leaving the block terminates the workers (SIGTERM)
            pool_pids += pool.map(work, ["pool"] * 4, chunksize=1)
        print(json.dumps({"parent": os.getpid(), "early": early.pid, "late": late.pid,
                          "codes": [early.exitcode, late.exitcode], "pool": sorted(set(pool_pids))}))
"""


@pytest.mark.parametrize("method", ["spawn", "forkserver", "fork"])
def test_multiprocessing_workers_export(launch: Launch, method: str) -> None:
    launch.write("app.py", MP_APP)
    r = launch.run("weave-run", "python", "app.py", method, env=launch.env(WEAVE_AGENT_QUIET="1"), timeout=60).check()
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["codes"] == [0, 0]
    chats = launch.spans("chat")
    by_pid: dict[int, list[str]] = {}
    for s in chats:
        by_pid.setdefault(s.pid, []).append(json.loads(s.attributes["input.value"])["prompt"])
    assert by_pid.get(got["parent"]) == ["parent"], by_pid  # not duplicated into the workers' files
    assert by_pid.get(got["early"]) == ["early %d" % got["early"]], by_pid
    assert by_pid.get(got["late"]) == ["late %d" % got["late"]], by_pid
    pool = {pid: prompts for pid, prompts in by_pid.items() if pid in got["pool"]}
    assert sorted(pool) == got["pool"], by_pid  # every pool worker exported
    assert sum(len(p) for p in pool.values()) == 8
    assert all(p == "pool %d" % pid for pid, prompts in pool.items() for p in prompts)
    assert len(chats) == 11, by_pid


FORK_APP = """
    import os, sys
    import weave_agent
    from fakevendor.client import Client

    how = sys.argv[1]
    Client().complete("parent before fork")
    assert weave_agent.flush()  # the parent's span is in its file before the fork
    pid = os.fork()
    if pid == 0:
        Client().complete("child %d" % os.getpid())
        if how == "exit":
            sys.exit(3)
        if how == "_exit-after-flush":
            weave_agent.flush()
            os._exit(4)
        if how == "_exit":
            os._exit(5)
        # "return": the child runs on to the end of the script
    else:
        Client().complete("parent after fork")
        _, status = os.waitpid(pid, 0)
        print("child", pid, os.waitstatus_to_exitcode(status), flush=True)
        print("parent", os.getpid(), flush=True)
"""


@pytest.mark.parametrize(
    "how, code, child_exported",
    [("exit", 3, True), ("return", 0, True), ("_exit-after-flush", 4, True), ("_exit", 5, False)],
)
def test_os_fork_child(launch: Launch, how: str, code: int, child_exported: bool) -> None:
    """``os.fork()`` after the parent exported spans: the child's batch processor works,
    the child writes its own file, the parent's spans are not exported twice. Only a
    child that ends with ``os._exit`` without flushing loses its spans (documented)."""
    launch.write("app.py", FORK_APP)
    r = launch.run("weave-run", "python", "app.py", how).check()
    (_, child_pid, child_code), = (line.split() for line in r.stdout.splitlines() if line.startswith("child "))
    parent_pid = int(next(line.split()[1] for line in r.stdout.splitlines() if line.startswith("parent ")))
    assert int(child_code) == code
    by_pid: dict[int, list[str]] = {}
    for s in launch.spans("chat"):
        by_pid.setdefault(s.pid, []).append(json.loads(s.attributes["input.value"])["prompt"])
    assert sorted(by_pid[parent_pid]) == ["parent after fork", "parent before fork"], by_pid
    files = {s.pid: s.path for s in launch.spans("chat")}
    # Each process's exit summary counts its own spans, in its own file.
    summaries = sorted(line for line in r.err_lines if line.startswith("weave-agent:"))
    expected = ["weave-agent: 2 spans written to traces/%s;" % files[parent_pid].name]
    if child_exported:
        assert by_pid[int(child_pid)] == ["child %s" % child_pid], by_pid
        assert files[parent_pid] != files[int(child_pid)]
        if how != "_exit-after-flush":
            expected.append("weave-agent: 1 span written to traces/%s;" % files[int(child_pid)].name)
    else:
        assert int(child_pid) not in by_pid
    assert len(summaries) == len(expected), r
    assert all(line.startswith(want) for line, want in zip(summaries, sorted(expected), strict=True)), r


MASKS_APP = """
    import glob, json, multiprocessing as mp, os, signal, sys, threading
    from fakevendor.client import Client


    def masks():
        names = {t.native_id: t.name for t in threading.enumerate()}
        out = {}
        for task in glob.glob("/proc/%d/task/*" % os.getpid()):
            status = dict(line.split(":", 1) for line in open(task + "/status").read().splitlines() if ":" in line)
            tid = int(task.rsplit("/", 1)[1])
            name = "main" if tid == os.getpid() else names.get(tid, "thread %d" % tid)
            blocked = int(status["SigBlk"], 16)
            out[name] = [sig for sig in ("SIGTERM", "SIGINT") if blocked & (1 << (getattr(signal, sig) - 1))]
        return out


    def work(queue):
        Client().complete("worker")
        queue.put(masks())


    if __name__ == "__main__":
        Client().complete("parent")  # the pipeline and its threads exist from here on
        queue = mp.get_context("fork").Queue()
        worker = mp.get_context("fork").Process(target=work, args=(queue,))
        worker.start()
        print(json.dumps({"parent": masks(), "worker": queue.get(timeout=30)}))
        worker.join()
"""


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="reads thread signal masks from Linux /proc")
def test_agent_threads_leave_stop_signals_to_the_main_thread(launch: Launch) -> None:
    """The agent's SIGTERM handler is Python code, run by the main thread only: a SIGTERM
    taken by one of the agent's threads would leave a main thread blocked on a lock
    (a pool worker being terminated) blocked forever. The batch processor's thread, also
    the one restarted in a forked child, blocks SIGTERM and SIGINT; the main thread not."""
    launch.write("app.py", MASKS_APP)
    r = launch.run("weave-run", "python", "app.py", env=launch.env(WEAVE_AGENT_QUIET="1")).check()
    got = json.loads(r.stdout.strip().splitlines()[-1])
    for who in ("parent", "worker"):
        assert got[who]["main"] == [], got
        agent_threads = {name: sigs for name, sigs in got[who].items() if name.startswith("OtelBatch")}
        assert agent_threads, got
        assert all(sigs == ["SIGTERM", "SIGINT"] for sigs in agent_threads.values()), got
    assert len(launch.spans("chat")) == 2
