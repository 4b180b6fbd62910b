"""Exit status and signals are the app's own (``exec``), spans are flushed on every exit
that lets Python run (including the default SIGTERM), and the launcher's own failures
use the shell's codes: 127 not found, 126 not executable, 2 usage."""

from __future__ import annotations

import os
import signal
import socket
import time

import pytest
from _launch import Launch, wait_until

EXIT_APP = """
    import os, sys
    from fakevendor.client import Client

    Client().complete("before exit")
    print(os.getpid(), flush=True)
    how = sys.argv[1]
    if how == "raise":
        raise RuntimeError("app failed")
    sys.exit(int(how))
"""


@pytest.mark.parametrize("code", [0, 1, 2, 3])
def test_exit_code_is_the_apps(launch: Launch, code: int) -> None:
    launch.write("app.py", EXIT_APP)
    r = launch.run("weave-run", "python", "app.py", str(code))
    assert r.returncode == code, r
    # atexit ran: the span made before the exit is in the app's file.
    assert [s.pid for s in launch.spans("chat")] == [int(r.stdout.split()[0])]


def test_uncaught_exception_exits_1_and_flushes(launch: Launch) -> None:
    launch.write("app.py", EXIT_APP)
    r = launch.run("weave-run", "app.py", "raise")
    assert r.returncode == 1, r
    assert "RuntimeError: app failed" in r.stderr
    assert len(launch.spans("chat")) == 1


def test_app_killing_itself_with_sigkill(launch: Launch) -> None:
    launch.write(
        "app.py",
        """
        import os, signal
        from fakevendor.client import Client

        Client().complete("doomed")
        os.kill(os.getpid(), signal.SIGKILL)
        """,
    )
    r = launch.run("weave-run", "python", "app.py")
    assert r.returncode == -signal.SIGKILL, r


SIGTERM_APP = """
    import os, sys, time
    from fakevendor.client import Client

    c = Client()
    c.complete("first")
    c.complete("second")
    stream = c.stream("still open at the signal")
    next(stream)
    print("ready", os.getpid(), flush=True)
    time.sleep(60)
    print("not killed", flush=True)
"""


def test_sigterm_kills_with_sigterm_and_flushes(launch: Launch) -> None:
    """SIGTERM sent to a running app: the status says "killed by SIGTERM" (-15), and the
    spans made before the signal (a stream still open included) reached the file."""
    launch.write("app.py", SIGTERM_APP)
    proc = launch.popen("weave-run", "python", "app.py", env=launch.env(WEAVE_AGENT_QUIET="1"))
    wait_until(lambda: "ready" in launch.output()[0] or proc.poll() is not None, 30, "the app to start")
    assert proc.poll() is None, launch.output()
    assert launch.spans() == []  # nothing exported yet: the batch processor holds them
    assert launch.stop(proc, signal.SIGTERM) == -signal.SIGTERM
    out, err = launch.output()
    assert "not killed" not in out
    chats = launch.spans("chat")
    assert sorted(s.attributes["input.value"] for s in chats) == ['{"prompt":"first"}', '{"prompt":"second"}']
    assert {s.pid for s in chats} == {proc.pid}
    streams = launch.spans("chat.stream")
    assert len(streams) == 1, (launch.spans(), err)


def test_sigint_kills_with_sigint_and_flushes(launch: Launch) -> None:
    """Ctrl-C: KeyboardInterrupt, atexit flushes, and Python ends "killed by SIGINT" (-2)."""
    launch.write("app.py", SIGTERM_APP)
    proc = launch.popen("weave-run", "python", "app.py", env=launch.env(WEAVE_AGENT_QUIET="1"))
    wait_until(lambda: "ready" in launch.output()[0] or proc.poll() is not None, 30, "the app to start")
    assert proc.poll() is None, launch.output()
    assert launch.stop(proc, signal.SIGINT) == -signal.SIGINT
    assert "KeyboardInterrupt" in launch.output()[1]
    assert len(launch.spans("chat")) == 2
    assert len(launch.spans("chat.stream")) == 1


def test_sigterm_flush_is_bounded_by_the_exit_timeout(launch: Launch) -> None:
    """A trace server that accepts connections and never answers: on SIGTERM the app is
    held at most WEAVE_AGENT_EXIT_TIMEOUT, then dies of SIGTERM all the same."""
    with socket.socket() as dead:
        dead.bind(("127.0.0.1", 0))
        dead.listen(16)  # never accepted, never answered
        launch.write("app.py", SIGTERM_APP)
        env = launch.env(WEAVE_AGENT_EXIT_TIMEOUT="1")
        endpoint = "http://127.0.0.1:%d" % dead.getsockname()[1]
        proc = launch.popen("weave-run", "--endpoint", endpoint, "python", "app.py", env=env)
        wait_until(lambda: "ready" in launch.output()[0] or proc.poll() is not None, 30, "the app to start")
        assert proc.poll() is None, launch.output()
        started = time.monotonic()
        assert launch.stop(proc, signal.SIGTERM, timeout=15) == -signal.SIGTERM
        held = time.monotonic() - started
    assert held < 4, "SIGTERM held the app %.1f s with WEAVE_AGENT_EXIT_TIMEOUT=1" % held
    assert "WEAVE_AGENT_EXIT_TIMEOUT" in launch.output()[1]
    assert launch.trace_files() == []  # the otlp exporter, not the file one


def test_app_with_its_own_sigterm_handler_keeps_it(launch: Launch) -> None:
    launch.write(
        "app.py",
        """
        import os, signal, sys, time
        from fakevendor.client import Client

        def on_term(signum, frame):
            print("app handler", flush=True)
            sys.exit(7)

        signal.signal(signal.SIGTERM, on_term)
        Client().complete("x")
        print("ready", flush=True)
        time.sleep(60)
        """,
    )
    proc = launch.popen("weave-run", "python", "app.py")
    wait_until(lambda: "ready" in launch.output()[0] or proc.poll() is not None, 30, "the app to start")
    assert proc.poll() is None, launch.output()
    assert launch.stop(proc, signal.SIGTERM) == 7
    assert "app handler" in launch.output()[0]
    assert len(launch.spans("chat")) == 1  # sys.exit: atexit flushed


def test_command_not_found(launch: Launch) -> None:
    r = launch.run("weave-run", "nosuchcommand-weave-test", "arg")
    assert r.returncode == 127, r
    assert r.err_lines == ["weave-run: command not found: nosuchcommand-weave-test"]
    assert r.stdout == ""


def test_missing_path(launch: Launch) -> None:
    r = launch.run("weave-run", "./missing-app")
    assert r.returncode == 127, r
    assert len(r.err_lines) == 1 and "missing-app" in r.err_lines[0]


def test_not_executable_path(launch: Launch) -> None:
    launch.write("tool.sh", "#!/bin/sh\necho ran\n", mode=0o644)
    r = launch.run("weave-run", "./tool.sh")
    assert r.returncode == 126, r
    assert len(r.err_lines) == 1 and "tool.sh" in r.err_lines[0] and "not executable" in r.err_lines[0]
    assert r.stdout == ""


def test_not_executable_on_path(launch: Launch) -> None:
    launch.write("bin/tool", "#!/bin/sh\necho ran\n", mode=0o644)
    env = launch.env(PATH=str(launch.root / "bin") + os.pathsep + launch.env()["PATH"])
    r = launch.run("weave-run", "tool", env=env)
    assert r.returncode == 126, r
    assert len(r.err_lines) == 1 and "tool" in r.err_lines[0]


def test_directory_is_not_executable(launch: Launch) -> None:
    (launch.root / "adir").mkdir()
    r = launch.run("weave-run", "./adir")
    assert r.returncode == 126, r
    assert len(r.err_lines) == 1


def test_shell_script_command_runs(launch: Launch) -> None:
    """Any executable works, not only Python; its exit status is its own."""
    launch.write("tool.sh", "#!/bin/sh\necho \"ran $#\"\nexit 5\n", mode=0o755)
    r = launch.run("weave-run", "./tool.sh", "a", "b")
    assert r.returncode == 5, r
    assert r.stdout == "ran 2\n"


def test_no_command_is_a_usage_error(launch: Launch) -> None:
    r = launch.run("weave-run")
    assert r.returncode == 2, r
    assert "COMMAND" in r.stderr
