"""uWSGI: every worker's spans and metrics arrive (issue 18, items 10 and 11).

A WSGI app under uWSGI with 2 workers, started by ``weave-run uwsgi ...`` and by the
``sitecustomize`` shim on ``PYTHONPATH``; each request makes one OpenAI call to a local
fake server (a span and GenAI metrics) and answers with its worker's pid. Three ways the
app is loaded:

* ``lazy-apps``: each worker loads the app (``--lazy-apps``);
* ``master-loads``: the master loads it and forks the workers (uWSGI's default);
* ``master-traces``: the same, and the app makes a call while it loads, so the pipeline
  exists in the master before the fork. uWSGI forks without Python's fork hooks: the
  workers inherited a pipeline unaware of the fork, lost their metrics (the reader's
  thread was the master's) and held their exit for the whole exit timeout.

And ``--skip-atexit-teardown``, where uWSGI ends its workers without Python's ``atexit``:
every span not yet exported was lost.

The master is stopped with SIGTERM (``--die-on-term``); then every request's span is in the
file of the worker that answered it, each worker's metric points count its requests, and
the stop took well under the exit timeout.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from _proc_util import file_spans
from _subproc import SHIM_DIR, clean_env, run_python

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "instrumentations" / "openai"))
from fake_openai_server import FakeOpenAIServer  # noqa: E402

BIN = Path(sys.executable).parent
EXIT_TIMEOUT = 8.0

APP = """
import os, time
import openai


def ask(text):
    # A client per call: one made in the master would hand its open connection to both
    # workers (the app's own fork bug, with or without the agent).
    with openai.OpenAI(api_key="sk-test-0000", base_url=os.environ["OPENAI_BASE_URL"], max_retries=0) as client:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": text}])


if os.environ.get("CALL_WHILE_LOADING"):
    ask("loading %d" % os.getpid())


def application(environ, start_response):
    ask("request %d" % os.getpid())
    fd = os.open("served", os.O_WRONLY | os.O_APPEND | os.O_CREAT)  # what each worker served
    os.write(fd, b"%d\\n" % os.getpid())
    os.close(fd)
    time.sleep(0.1)  # a busy worker: the next connection goes to the other one
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.read())
    except (urllib.error.URLError, ConnectionError, OSError, ValueError):
        return None


def _requests_until_both_workers_answer(proc: subprocess.Popen[Any], url: str) -> dict[int, int]:
    deadline = time.monotonic() + 30
    answered: dict[int, int] = {}
    with ThreadPoolExecutor(4) as pool:
        while len(answered) < 2 or sum(answered.values()) < 12:
            assert proc.poll() is None, "uwsgi exited early"
            assert time.monotonic() < deadline, "only %r answered" % answered
            for pid in pool.map(_get, [url] * 4):
                if pid is not None:
                    answered[pid] = answered.get(pid, 0) + 1
            time.sleep(0.05)
    return answered


def _duration_points(traces: Path, pid: int) -> int:
    """The GenAI duration histogram's count in ``pid``'s metrics files (delta lines: summed)."""
    count = 0
    for path in traces.glob("metrics-*-%d*.jsonl" % pid):
        for line in path.read_text().splitlines():
            for rm in json.loads(line).get("resourceMetrics", []):
                for sm in rm.get("scopeMetrics", []):
                    for metric in sm.get("metrics", []):
                        if metric["name"].startswith("gen_ai.client.") and metric["name"].endswith(".duration"):
                            count += sum(int(p.get("count", 0)) for p in metric["histogram"]["dataPoints"])
    return count


@pytest.mark.parametrize("load", ["lazy-apps", "master-loads", "master-traces", "skip-atexit-teardown"])
@pytest.mark.parametrize("start", ["weave-run", "pythonpath"])
def test_every_uwsgi_worker_delivers_its_spans_and_metrics(tmp_path: Path, start: str, load: str) -> None:
    (tmp_path / "app.py").write_text(APP)
    traces = tmp_path / "traces"
    port = _free_port()
    options = {"lazy-apps": ["--lazy-apps"], "skip-atexit-teardown": ["--skip-atexit-teardown"]}.get(load, [])
    argv = [str(BIN / "uwsgi"), "--http-socket", "127.0.0.1:%d" % port, "--wsgi-file", "app.py", "--master",
            "--processes", "2", "--virtualenv", str(BIN.parent), "--die-on-term", *options]
    with FakeOpenAIServer(lifetime=120) as server:
        env = clean_env(OPENAI_BASE_URL=server.openai_base_url, WEAVE_AGENT_EXPORTER="file",
                        WEAVE_AGENT_TRACES_DIR=str(traces), WEAVE_AGENT_EXIT_TIMEOUT=str(EXIT_TIMEOUT),
                        OTEL_BSP_SCHEDULE_DELAY="60000")  # nothing goes out before the workers end
        if load == "master-traces":
            env["CALL_WHILE_LOADING"] = "1"
        if start == "weave-run":
            argv = [str(BIN / "weave-run"), *argv]
        else:
            env["PYTHONPATH"] = str(SHIM_DIR)
        log = tmp_path / "uwsgi.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        try:
            answered = _requests_until_both_workers_answer(proc, "http://127.0.0.1:%d/" % port)
            stopping = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(30)
            stopped_in = time.monotonic() - stopping
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
    output = log.read_text(errors="replace")
    assert code == 0, output
    served: dict[int, int] = {}
    for line in (tmp_path / "served").read_text().split():
        served[int(line)] = served.get(int(line), 0) + 1
    assert served.keys() == answered.keys(), (served, answered)
    by_pid: dict[int, int] = {}
    for s in file_spans(traces):
        if s.name.startswith("chat"):
            by_pid[s.pid] = by_pid.get(s.pid, 0) + 1
    # The master runs no exit hook at all (uWSGI's rule): the call it made while loading
    # goes out on the batch schedule, here longer than the test.
    by_pid.pop(proc.pid, None)
    assert by_pid == served, (by_pid, served, output)
    for pid, requests in served.items():
        assert _duration_points(traces, pid) == requests, (pid, requests, output)
    assert stopped_in < EXIT_TIMEOUT - 2, (stopped_in, output)
    assert "Traceback" not in output, output


THREADLESS = """
import sys, types

uwsgi = types.ModuleType("uwsgi")  # what uWSGI puts in sys.modules, with the attribute read
uwsgi.has_threads = int(sys.argv[1])
uwsgi.opt = {}
sys.modules["uwsgi"] = uwsgi
import weave_agent


@weave_agent.op(name="call")
def call():
    return 1


call()
"""


@pytest.mark.parametrize("has_threads", [0, 1])
def test_uwsgi_without_threads_is_named_in_one_line(tmp_path: Path, has_threads: int) -> None:
    """uWSGI before 2.0.27 runs Python without threads unless ``--enable-threads``: the
    batch processor's thread never runs between requests (checked by hand with uWSGI
    2.0.26: no span left a worker before it ended). uWSGI 2.0.31, which the suite
    installs, always has threads, so this case reads uWSGI's own ``has_threads`` flag
    from a stand-in module."""
    r = run_python(THREADLESS, args=[str(has_threads)], pythonpath=[SHIM_DIR], cwd=tmp_path,
                   env={"WEAVE_AGENT_EXPORTER": "file", "WEAVE_AGENT_TRACES_DIR": str(tmp_path / "traces"),
                        "WEAVE_AGENT_QUIET": "1"}).check()
    named = [line for line in r.err_lines if "--enable-threads" in line]
    assert len(named) == (0 if has_threads else 1), r
    assert all(line.startswith("weave-agent: ") for line in r.err_lines), r
