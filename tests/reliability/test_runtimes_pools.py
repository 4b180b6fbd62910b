"""Pools whose workers end with ``os._exit()``: every worker that ran a traced call
delivers its spans before it ends (issue 18, items 1 and 11).

A real Celery worker (prefork pool, ``--max-tasks-per-child`` 1 and 10) takes 50 tasks
from kombu's ``filesystem://`` broker (offline, shared by the producer and the worker
through a folder); each task makes one ``@op`` span carrying its number and its worker's
pid. Then ``billiard.Pool`` alone, and ``concurrent.futures.ProcessPoolExecutor`` with
``max_tasks_per_child=1``. Spans go to the agent's files or over OTLP to a local server;
every task's span must arrive exactly once, from the worker that ran it. Before the fix
billiard's workers (``Worker._do_exit`` ends them with ``os._exit``, after their own
finalizers were skipped) delivered none.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _proc_util import file_spans
from _subproc import SHIM_DIR, clean_env, run_python
from fake_trace_server import FakeTraceServer

TASKS = 50

CELERY_APP = """
import os
from celery import Celery
import weave_agent

ROOT = os.environ["CELERY_ROOT"]
app = Celery("tasks", broker="filesystem://")
app.conf.update(
    broker_transport_options={"data_folder_in": ROOT + "/queue", "data_folder_out": ROOT + "/queue",
                              "processed_folder": ROOT + "/processed", "store_processed": False,
                              "polling_interval": 0.05},
    task_ignore_result=True, worker_prefetch_multiplier=1, worker_hijack_root_logger=False,
)


@weave_agent.op(name="task")
def traced(i, pid):
    return i


@app.task(name="work")
def work(i):
    traced(i, os.getpid())
    fd = os.open(ROOT + "/ran", os.O_WRONLY | os.O_APPEND | os.O_CREAT)  # the test waits for 50 lines
    os.write(fd, b"%d\\n" % i)
    os.close(fd)


if os.environ.get("TRACE_IN_MASTER"):
    traced(-1, os.getpid())  # the pipeline is set up before the pool forks: workers inherit it
"""


def _exporter_env(tmp_path: Path, exporter: str, server: FakeTraceServer) -> dict[str, str]:
    env = {"WEAVE_AGENT_QUIET": "1", "WEAVE_AGENT_EXPORTER": exporter}
    if exporter == "file":
        env["WEAVE_AGENT_TRACES_DIR"] = str(tmp_path / "traces")
    else:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = server.endpoint
    return env


def _delivered(tmp_path: Path, exporter: str, server: FakeTraceServer) -> list[dict[str, int]]:
    """``{"i": task, "pid": worker}`` of every ``task`` span delivered (files: checked
    against the file's pid too)."""
    if exporter == "file":
        spans = [s for s in file_spans(tmp_path / "traces") if s.name == "task"]
        assert all(s.inputs["pid"] == s.pid for s in spans), spans[:5]
        return [s.inputs for s in spans]
    return [x for x in server.delivered_inputs() if isinstance(x, dict) and "i" in x]


def _stop(proc: subprocess.Popen[str], sig: int, timeout: float) -> tuple[int, str]:
    try:
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()


@pytest.mark.parametrize("exporter", ["file", "otlp"])
@pytest.mark.parametrize("max_tasks", [1, 10], ids=["max-tasks-1", "max-tasks-10"])
def test_celery_prefork_workers_deliver_every_span(tmp_path: Path, max_tasks: int, exporter: str) -> None:
    """With a limit of 1 the master makes a span at import, so the workers inherit a
    running pipeline through the fork; with 10 each worker sets up its own."""
    (tmp_path / "tasks.py").write_text(CELERY_APP)
    root = tmp_path / "celery"
    for sub in ("queue", "processed"):
        (root / sub).mkdir(parents=True)
    with FakeTraceServer(lifetime=120) as server:
        env = clean_env(CELERY_ROOT=str(root), PYTHONPATH=os.pathsep.join([str(tmp_path), str(SHIM_DIR)]),
                        **_exporter_env(tmp_path, exporter, server))
        if max_tasks == 1:
            env["TRACE_IN_MASTER"] = "1"
        # The producer runs without the agent: only the worker's spans are counted.
        run_python("import tasks\nfor i in range(%d): tasks.work.delay(i)" % TASKS, pythonpath=[tmp_path],
                   env={"CELERY_ROOT": str(root)}, cwd=tmp_path).check()
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tasks", "worker", "--pool=prefork", "--concurrency=8",
             "--max-tasks-per-child=%d" % max_tasks, "--without-heartbeat", "--without-gossip",
             "--without-mingle", "--loglevel=warning"],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )
        ran = root / "ran"
        deadline = time.monotonic() + 60
        while not ran.exists() or len(ran.read_text().split()) < TASKS:
            if proc.poll() is not None or time.monotonic() > deadline:
                _, out = _stop(proc, signal.SIGKILL, 5)
                pytest.fail("the worker ran %s tasks of %d\n%s" % (
                    len(ran.read_text().split()) if ran.exists() else 0, TASKS, out))
            time.sleep(0.05)
        code, out = _stop(proc, signal.SIGTERM, 30)  # a warm shutdown
        assert code == 0, out
        got = _delivered(tmp_path, exporter, server)
    tasks = sorted(x["i"] for x in got if x["i"] >= 0)
    assert tasks == list(range(TASKS)), "%d task spans delivered (of %d)\n%s" % (len(tasks), TASKS, out)
    workers = {x["pid"] for x in got if x["i"] >= 0}
    assert len(workers) >= (TASKS if max_tasks == 1 else TASKS // 10), workers  # the limit recycled them
    assert proc.pid not in workers


BILLIARD_APP = """
import json, os, sys
import billiard
import weave_agent


@weave_agent.op(name="task")
def task(i, pid):
    return os.getpid()


def run(i):
    return task(i, os.getpid())


if __name__ == "__main__":
    ending, per_child = sys.argv[1], int(sys.argv[2])
    if ending == "with":  # leaving the block terminates the pool
        with billiard.Pool(4, maxtasksperchild=per_child) as pool:
            pids = pool.map(run, range(%d))
    else:
        pool = billiard.Pool(4, maxtasksperchild=per_child)
        pids = pool.map(run, range(%d))
        pool.close()
        pool.join()
    print(json.dumps(sorted(set(pids))))
""" % (TASKS, TASKS)


@pytest.mark.parametrize("per_child", [1, 10], ids=["maxtasksperchild-1", "maxtasksperchild-10"])
@pytest.mark.parametrize("ending", ["close-join", "with"])
def test_billiard_pool_workers_deliver_every_span(tmp_path: Path, ending: str, per_child: int) -> None:
    (tmp_path / "app.py").write_text(BILLIARD_APP)
    with FakeTraceServer(lifetime=60) as server:
        r = run_python(args=["app.py", ending, str(per_child)], pythonpath=[SHIM_DIR], cwd=tmp_path, timeout=60,
                       env=_exporter_env(tmp_path, "file", server)).check()
    workers = json.loads(r.lines[-1])
    got = _delivered(tmp_path, "file", server)
    assert sorted(x["i"] for x in got) == list(range(TASKS)), r
    assert sorted({x["pid"] for x in got}) == workers


PROCESS_POOL_APP = """
import json, multiprocessing, os, sys
from concurrent.futures import ProcessPoolExecutor
import weave_agent


@weave_agent.op(name="task")
def task(i, pid):
    return os.getpid()


def run(i):
    return task(i, os.getpid())


if __name__ == "__main__":
    context = multiprocessing.get_context(sys.argv[1])
    with ProcessPoolExecutor(2, mp_context=context, max_tasks_per_child=1) as pool:
        pids = list(pool.map(run, range(int(sys.argv[2]))))
    print(json.dumps(sorted(set(pids))))
"""


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_process_pool_executor_one_task_per_child(tmp_path: Path, method: str) -> None:
    """``max_tasks_per_child`` (Python 3.11+) ends each worker after one task (spawn or
    forkserver: fork is refused with it); each exits through multiprocessing's finalizers."""
    if sys.version_info < (3, 11):
        pytest.skip("max_tasks_per_child is new in Python 3.11")
    tasks = 12
    (tmp_path / "app.py").write_text(PROCESS_POOL_APP)
    with FakeTraceServer(lifetime=60) as server:
        r = run_python(args=["app.py", method, str(tasks)], pythonpath=[SHIM_DIR], cwd=tmp_path, timeout=60,
                       env=_exporter_env(tmp_path, "file", server)).check()
    workers = json.loads(r.lines[-1])
    got = _delivered(tmp_path, "file", server)
    assert sorted(x["i"] for x in got) == list(range(tasks)), r
    assert sorted({x["pid"] for x in got}) == workers and len(workers) == tasks
