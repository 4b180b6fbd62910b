"""The exit flush (issue 14): it starts no thread, it is bounded for both OTLP protocols,
and it says in one line where the spans went or how many were lost and why.

CPython 3.12+ refuses to start a thread inside an ``atexit`` handler ("can't create new
thread at interpreter shutdown"): an exit flush that needed one lost every span there,
silently. The first test makes every Python behave that way, so it fails on any of them
if the flush ever needs a new thread again; CI also runs this folder on each supported
Python.
"""

from __future__ import annotations

import json
import time

import pytest
from _launch import Launch, free_port

# The app forbids new threads from the moment its own code ends, as CPython 3.12 does at
# shutdown (the agent's atexit handler runs after the app's code, before finalization).
NO_NEW_THREADS_AT_EXIT = """
    import threading
    from fakevendor.client import Client

    Client().complete("one")
    Client().complete("two")

    def refuse(self, *a, **k):
        raise RuntimeError("can't create new thread at interpreter shutdown")

    threading.Thread.start = refuse
    print("app done", flush=True)
"""


def test_exit_flush_starts_no_thread(launch: Launch) -> None:
    launch.write("app.py", NO_NEW_THREADS_AT_EXIT)
    r = launch.run("weave-run", "python", "app.py").check()
    assert len(launch.spans("chat")) == 2, r
    assert "2 spans written to" in r.stderr, r
    assert "Traceback" not in r.stderr, r


# Ends with a timestamp on stderr: the exit is measured from the app's last line.
TIMED_APP = """
    import sys, time
    from fakevendor.client import Client

    for i in range(3):
        Client().complete("call %d" % i)
    sys.stderr.write("END %.6f\\n" % time.time())
    sys.stderr.flush()
"""


def _exit_seconds(stderr: str, gone: float) -> float:
    (line,) = [ln for ln in stderr.splitlines() if ln.startswith("END ")]
    return gone - float(line.split()[1])


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_exit_with_a_closed_port_is_bounded(launch: Launch, protocol: str) -> None:
    """Nothing listens: the app is held at most the exit timeout (+0.5 s), and one line
    says the 3 spans were not delivered, where to, and why."""
    launch.write("app.py", TIMED_APP)
    env = launch.env(WEAVE_AGENT_EXIT_TIMEOUT="1.5", OTEL_EXPORTER_OTLP_PROTOCOL=protocol)
    endpoint = "http://127.0.0.1:%d" % free_port()
    r = launch.run("weave-run", "--endpoint", endpoint, "python", "app.py", env=env)
    gone = time.time()
    assert r.returncode == 0, r
    held = _exit_seconds(r.stderr, gone)
    assert held < 1.5 + 0.5, "exit held %.2f s with WEAVE_AGENT_EXIT_TIMEOUT=1.5 (%s)" % (held, protocol)
    (lost,) = [ln for ln in r.err_lines if "could not be delivered" in ln]
    # "3 of 3 spans [and the metric points ...] could not be delivered to <endpoint>: <why>"
    assert lost.startswith("weave-agent: 3 of 3 spans "), lost
    assert "127.0.0.1" in lost, lost
    assert ("unreachable" in lost) or ("WEAVE_AGENT_EXIT_TIMEOUT" in lost), lost
    # The metrics went the same way, and the same line says so (issue 18, item 6).
    assert "metric points" in lost, lost
    assert "Traceback" not in r.stderr, r


class _Collector:
    """A minimal OTLP/HTTP receiver on loopback: answers 200 to everything, counts spans."""

    def __init__(self, delay: float = 0.0) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.paths: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                time.sleep(delay)
                outer.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        return "http://127.0.0.1:%d" % self.server.server_address[1]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def collector() -> object:
    c = _Collector()
    yield c
    c.close()


def test_otlp_exit_line_says_where_the_spans_went(launch: Launch, collector: _Collector) -> None:
    launch.write("app.py", TIMED_APP)
    r = launch.run("weave-run", "--endpoint", collector.endpoint, "python", "app.py").check()
    lines = [ln for ln in r.err_lines if ln.startswith("weave-agent:")]
    assert lines == ["weave-agent: 3 spans sent to %s/v1/traces" % collector.endpoint], r
    assert "/v1/traces" in collector.paths


def test_otlp_exit_line_is_silenced_by_quiet(launch: Launch, collector: _Collector) -> None:
    launch.write("app.py", TIMED_APP)
    env = launch.env(WEAVE_AGENT_QUIET="true")
    r = launch.run("weave-run", "--endpoint", collector.endpoint, "python", "app.py", env=env).check()
    assert not [ln for ln in r.err_lines if ln.startswith("weave-agent:")], r
    assert "/v1/traces" in collector.paths


def test_one_span_is_singular(launch: Launch) -> None:
    launch.write("app.py", """
        from fakevendor.client import Client
        Client().complete("only")
    """)
    r = launch.run("weave-run", "python", "app.py").check()
    assert "weave-agent: 1 span written to " in r.stderr, r


def test_loss_is_reported_even_when_quiet(launch: Launch) -> None:
    launch.write("app.py", TIMED_APP)
    env = launch.env(WEAVE_AGENT_QUIET="1", WEAVE_AGENT_EXIT_TIMEOUT="1")
    r = launch.run("weave-run", "--endpoint", "http://127.0.0.1:%d" % free_port(), "python", "app.py", env=env)
    assert r.returncode == 0, r
    assert [ln for ln in r.err_lines if "3 of 3 spans" in ln and "could not be delivered" in ln], r
    assert json.dumps(r.stderr)  # plain text, no traceback
    assert "Traceback" not in r.stderr


# The app's own atexit handler runs before the agent's (registered later, run first): it
# says the exit flush is about to start, then the test sends SIGTERM into that flush.
SIGTERM_DURING_FLUSH = """
    import atexit, sys
    from fakevendor.client import Client

    Client().complete("one")
    atexit.register(lambda: (sys.stdout.write("exiting\\n"), sys.stdout.flush()))
"""


def test_sigterm_during_the_exit_flush_lets_it_finish(launch: Launch) -> None:
    """A supervisor's SIGTERM (a pool's terminate()) landing in the exit flush: the flush
    goes on (the signal handler must not wait on the very thread it interrupted, which
    held the process for the whole exit timeout and lost the spans), then the process
    dies of SIGTERM as it would have."""
    import signal

    from _launch import wait_until

    server = _Collector(delay=1.0)  # each export takes 1 s
    try:
        launch.write("app.py", SIGTERM_DURING_FLUSH)
        env = launch.env(WEAVE_AGENT_EXIT_TIMEOUT="8", OTEL_METRICS_EXPORTER="none")
        proc = launch.popen("weave-run", "--endpoint", server.endpoint, "python", "app.py", env=env)
        wait_until(lambda: "exiting" in launch.output()[0] or proc.poll() is not None, 30, "the exit flush")
        time.sleep(0.3)  # inside the flush: the export is waiting on the server
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = launch.wait(proc, timeout=20)
        held = time.monotonic() - sent
    finally:
        server.close()
    assert code == -signal.SIGTERM, launch.output()
    assert held < 4, "SIGTERM during the exit flush held the process %.1f s" % held
    assert "/v1/traces" in server.paths, launch.output()
    assert "weave-agent: 1 span sent to" in launch.output()[1], launch.output()
