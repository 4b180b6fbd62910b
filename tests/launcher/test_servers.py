"""Pre-fork servers under ``weave-run``: gunicorn with 2 sync workers and uvicorn with
``--workers 2``. Requests go to both workers (each answers with its pid after a patched
fakevendor call); the master is stopped with a signal; both workers' spans are exported,
each in its own file. Servers bind 127.0.0.1 on a free port and are always stopped."""

from __future__ import annotations

import signal
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from _launch import Launch, free_port, wait_until

WSGI_APP = """
    import os, time
    from fakevendor.client import Client

    Client().complete("import %d" % os.getpid())  # in the master with --preload


    def wsgi_app(environ, start_response):
        Client().complete("request %d" % os.getpid())
        time.sleep(0.1)  # a busy sync worker: the next connection goes to the other one
        body = str(os.getpid()).encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
"""

ASGI_APP = """
    import os, time
    from fakevendor.client import Client


    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        Client().complete("request %d" % os.getpid())
        time.sleep(0.1)  # block this worker's loop: the next connection goes to the other one
        body = str(os.getpid()).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": body})
"""


def _get(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.read())
    except (urllib.error.URLError, ConnectionError, OSError):
        return None


def _hit_until_two_workers(launch: Launch, proc, url: str, timeout: float = 30) -> dict[int, int]:  # type: ignore[no-untyped-def]
    """Wait for the server to answer, then send rounds of concurrent requests until two
    distinct worker pids answered. Returns {pid: answered requests}."""
    deadline = time.monotonic() + timeout
    answered: dict[int, int] = {}
    while True:
        pid = _get(url)
        if pid is not None:
            answered[pid] = 1
            break
        assert proc.poll() is None, "the server exited early: %r" % (launch.output(),)
        assert time.monotonic() < deadline, "the server did not answer: %r" % (launch.output(),)
        time.sleep(0.1)
    with ThreadPoolExecutor(4) as pool:
        while len(answered) < 2:
            assert time.monotonic() < deadline, "only %r answered: %r" % (answered, launch.output())
            for pid in pool.map(_get, [url] * 4):
                if pid is not None:
                    answered[pid] = answered.get(pid, 0) + 1
    return answered


def _check_spans(launch: Launch, answered: dict[int, int]) -> None:
    """Every answered request made exactly one span, in the file of the worker that answered."""
    chats = [s for s in launch.spans("chat") if "request" in s.attributes["input.value"]]
    by_pid: dict[int, int] = {}
    for s in chats:
        assert s.attributes["input.value"] == '{"prompt":"request %d"}' % s.pid  # made in that worker
        by_pid[s.pid] = by_pid.get(s.pid, 0) + 1
    assert by_pid == answered
    assert len({s.path for s in chats}) == 2  # one file per worker


@pytest.mark.parametrize("preload", [False, True], ids=["no-preload", "preload"])
def test_gunicorn_two_sync_workers(launch: Launch, preload: bool) -> None:
    """With ``--preload`` the master imports the app (and makes a span there) before it
    forks: the workers' pipelines work after the fork and nothing is exported twice."""
    launch.write("app.py", WSGI_APP)
    port = free_port()
    # HOME: gunicorn >= 24 opens a control socket under ~/.gunicorn by default.
    env = launch.env(HOME=str(launch.root), WEAVE_AGENT_QUIET="1")
    options = ["--preload"] if preload else []
    proc = launch.popen(
        "weave-run", "gunicorn", "-w", "2", "-b", "127.0.0.1:%d" % port, "--graceful-timeout", "10", *options,
        "app:wsgi_app", env=env, name="gunicorn",
    )
    try:
        answered = _hit_until_two_workers(launch, proc, "http://127.0.0.1:%d/" % port)
    finally:
        code = launch.stop(proc, signal.SIGTERM, timeout=30)
    assert code == 0, launch.output("gunicorn")
    assert proc.pid not in answered
    _check_spans(launch, answered)
    imports = sorted(s.pid for s in launch.spans("chat") if "import" in s.attributes["input.value"])
    assert imports == ([proc.pid] if preload else sorted(answered)), launch.output("gunicorn")


@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_uvicorn_two_workers(launch: Launch, stop_with: int) -> None:
    launch.write("app.py", ASGI_APP)
    port = free_port()
    env = launch.env(WEAVE_AGENT_QUIET="1")
    proc = launch.popen(
        "weave-run", "uvicorn", "--workers", "2", "--host", "127.0.0.1", "--port", str(port),
        "--timeout-graceful-shutdown", "10", "--no-access-log", "app:app",
        env=env, name="uvicorn",
    )
    try:
        answered = _hit_until_two_workers(launch, proc, "http://127.0.0.1:%d/" % port)
    finally:
        code = launch.stop(proc, stop_with, timeout=30)
    assert code == 0, launch.output("uvicorn")
    assert proc.pid not in answered
    _check_spans(launch, answered)


def test_uvicorn_single_process_sigterm(launch: Launch) -> None:
    """One uvicorn process: it takes SIGTERM over, shuts down gracefully, then restores the
    previous handler and raises the signal again (its own behaviour: killed by SIGTERM).
    The agent's handler, restored, flushes first; the status stays -15."""
    launch.write("app.py", ASGI_APP)
    port = free_port()
    proc = launch.popen(
        "weave-run", "uvicorn", "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "app:app",
        env=launch.env(WEAVE_AGENT_QUIET="1"), name="uvicorn",
    )
    url = "http://127.0.0.1:%d/" % port
    try:
        wait_until(lambda: _get(url) is not None or proc.poll() is not None, 30, "uvicorn to answer")
        assert [_get(url) for _ in range(2)] == [proc.pid, proc.pid]
    finally:
        code = launch.stop(proc, signal.SIGTERM, timeout=30)
    assert code == -signal.SIGTERM, launch.output("uvicorn")
    assert [s.pid for s in launch.spans("chat")] == [proc.pid] * 3


def test_uvicorn_reload_supervisor(launch: Launch) -> None:
    """``--reload``: a supervisor process spawns the server; stopping the supervisor with
    Ctrl-C stops the server, whose spans are exported in its own file."""
    launch.write("app.py", ASGI_APP)
    port = free_port()
    proc = launch.popen(
        "weave-run", "uvicorn", "--reload", "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "app:app",
        env=launch.env(WEAVE_AGENT_QUIET="1"), name="uvicorn",
    )
    url = "http://127.0.0.1:%d/" % port
    try:
        wait_until(lambda: _get(url) is not None or proc.poll() is not None, 30, "uvicorn to answer")
        server = _get(url)
    finally:
        code = launch.stop(proc, signal.SIGINT, timeout=30)
    assert code == 0, launch.output("uvicorn")
    assert server is not None and server != proc.pid
    assert [s.pid for s in launch.spans("chat")] == [server] * 2
