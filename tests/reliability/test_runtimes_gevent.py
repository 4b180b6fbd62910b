"""Green threads that fork: nothing the agent registers runs event-loop code between
``fork`` and ``exec`` (issue 18, item 2).

Under ``gevent.monkey.patch_all()`` a ``subprocess`` child runs Python before it execs,
and a thread started there yields to gevent's hub: the parent's other greenlets run in
the child and fork again. The OpenTelemetry SDK's after-fork hooks start threads (the
batch processor's worker, the metric reader's ticker, the resource detectors), so once
the agent's pipeline existed, ten greenlets making their first OpenAI call (the SDK runs
``uname -p``) started about a thousand processes instead of ten, and took seconds instead
of a fraction of one.

Each case runs the same app without the agent and with it (the ``sitecustomize`` shim
on ``PYTHONPATH``), against a local fake OpenAI server, and compares the forks (every
process forked anywhere in the app's tree appends its pid to a file) and the time the
greenlets take; then checks that every call's span arrived, and the spans of a child the
app forks to do traced work. With subprocesses: the greenlets' first calls run ``uname``
and each greenlet runs one more command. Without: the platform is read before the
greenlets start, so only the child the app forks itself forks.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from _proc_util import file_spans
from _subproc import SHIM_DIR, clean_env

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "instrumentations" / "openai"))
from fake_openai_server import FakeOpenAIServer  # noqa: E402

GREENLETS = 10

APP = """
import os, sys, time
RUNTIME, SUBPROCESSES, LOG = sys.argv[1], sys.argv[2] == "yes", sys.argv[3]
if RUNTIME == "gevent":
    from gevent import monkey
    monkey.patch_all()
    import gevent
    spawn, wait = gevent.spawn, gevent.joinall
else:
    import eventlet
    eventlet.monkey_patch()
    spawn = eventlet.spawn

    def wait(greenlets):
        for g in greenlets:
            g.wait()


def forked():  # in every process forked anywhere below this one (no yield: a plain write)
    fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.write(fd, b"%d\\n" % os.getpid())
    os.close(fd)


os.register_at_fork(after_in_child=forked)
import json, platform, subprocess
import openai

if not SUBPROCESSES:
    platform.platform()  # what the SDK's first call would run uname for


def call(i):
    client = openai.OpenAI(api_key="sk-test-0000", base_url=os.environ["OPENAI_BASE_URL"], max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "call %d" % i}])
    if SUBPROCESSES:
        subprocess.run(["true"], check=True)


started = time.perf_counter()
wait([spawn(call, i) for i in range(GREENLETS)])
took = time.perf_counter() - started
child = os.fork()  # a child doing traced work, after the pipeline exists
if child == 0:
    wait([spawn(call, 100 + i) for i in range(2)])
    sys.exit(0)
_, status = os.waitpid(child, 0)
print(json.dumps({"took": took, "child": child, "code": os.waitstatus_to_exitcode(status), "pid": os.getpid()}))
""".replace("GREENLETS", str(GREENLETS))


def _run(tmp_path: Path, runtime: str, subprocesses: bool, agent: bool, base_url: str) -> tuple[dict, int]:
    name = "agent" if agent else "plain"
    log = tmp_path / ("forks-%s.log" % name)
    env = {"OPENAI_BASE_URL": base_url, "WEAVE_AGENT_EXPORTER": "file", "WEAVE_AGENT_QUIET": "1",
           "WEAVE_AGENT_TRACES_DIR": str(tmp_path / "traces")}
    if agent:
        env["PYTHONPATH"] = str(SHIM_DIR)
    # A process group of its own: a fork storm is killed whole when it overruns.
    proc = subprocess.Popen([sys.executable, "app.py", runtime, "yes" if subprocesses else "no", str(log)],
                            cwd=tmp_path, env=clean_env(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=40)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail("the app (%s) did not finish in 40 s; %d forks so far\n%s" % (
            name, len(log.read_text().split()) if log.exists() else 0, err[-3000:]))
    assert proc.returncode == 0, err
    got = json.loads(out.splitlines()[-1])
    assert got["code"] == 0, err
    forks = len(log.read_text().split()) if log.exists() else 0
    return got, forks


@pytest.mark.parametrize("subprocesses", [True, False], ids=["subprocesses", "no-subprocesses"])
@pytest.mark.parametrize("runtime", ["gevent", "eventlet"])
def test_green_threads_fork_as_often_as_without_the_agent(tmp_path: Path, runtime: str, subprocesses: bool) -> None:
    (tmp_path / "app.py").write_text(APP)
    with FakeOpenAIServer(lifetime=120) as server:
        plain, plain_forks = _run(tmp_path, runtime, subprocesses, False, server.openai_base_url)
        traced, traced_forks = _run(tmp_path, runtime, subprocesses, True, server.openai_base_url)
    print("%s: forks %d without the agent, %d with; greenlets took %.3f s without, %.3f s with"
          % (runtime, plain_forks, traced_forks, plain["took"], traced["took"]))
    assert traced_forks <= plain_forks + 2, (plain_forks, traced_forks)  # was ~1,000 instead of ~10
    assert traced["took"] < 3 * plain["took"] + 1.0, (plain["took"], traced["took"])
    spans = [s for s in file_spans(tmp_path / "traces") if s.name.startswith("chat")]
    by_pid: dict[int, int] = {}
    for s in spans:
        by_pid[s.pid] = by_pid.get(s.pid, 0) + 1
    assert by_pid == {traced["pid"]: GREENLETS, traced["child"]: 2}, by_pid
