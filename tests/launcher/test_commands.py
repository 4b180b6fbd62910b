"""Every way of naming the command: ``python app.py``, ``app.py``, ``python -m pkg``, a
console script of the environment (one written here, and the installed ``pytest``).
Each case checks that the patched fakevendor call became a ``chat`` span in the app's own
OTLP-JSON file."""

from __future__ import annotations

import os
import sys
import textwrap

import pytest
from _launch import APP, Launch


def _one_chat_span(launch: Launch, pid: int) -> None:
    chats = launch.spans("chat")
    assert len(chats) == 1, chats
    assert chats[0].pid == pid
    assert chats[0].attributes["input.value"] == '{"prompt":"hello"}'
    assert chats[0].attributes["output.value"] == '"echo:hello"'
    assert chats[0].parent_span_id == ""


@pytest.mark.parametrize("argv", [("python", "app.py"), ("app.py",), (sys.executable, "app.py")], ids=["python-app", "app", "abs-python"])
def test_script(launch: Launch, argv: tuple[str, ...]) -> None:
    launch.write("app.py", APP)
    r = launch.run("weave-run", *argv).check()
    answer, pid = r.stdout.split()
    assert answer == "echo:hello"
    _one_chat_span(launch, int(pid))
    # The service is named after the script; the summary line names the file.
    assert launch.spans("chat")[0].resource["service.name"] == "app"
    summary = [line for line in r.err_lines if line.startswith("weave-agent:")]
    assert len(summary) == 1 and "1 span written to" in summary[0], r


def test_script_gets_its_arguments(launch: Launch) -> None:
    launch.write(
        "app.py",
        """
        import json, sys
        from fakevendor.client import Client

        Client().complete("x")
        print(json.dumps(sys.argv[1:]))
        """,
    )
    r = launch.run("weave-run", "app.py", "--exporter", "a b", "-m", "--").check()
    assert r.stdout.strip() == '["--exporter", "a b", "-m", "--"]'
    assert len(launch.spans("chat")) == 1


def test_double_dash_separates_the_command(launch: Launch) -> None:
    launch.write("app.py", APP)
    r = launch.run("weave-run", "--service-name", "svc", "--", "python", "app.py").check()
    pid = int(r.stdout.split()[1])
    _one_chat_span(launch, pid)
    assert launch.spans("chat")[0].resource["service.name"] == "svc"


def test_python_dash_m(launch: Launch) -> None:
    launch.write("mypkg/__init__.py", "")
    launch.write("mypkg/__main__.py", APP)
    r = launch.run("weave-run", "python", "-m", "mypkg").check()
    pid = int(r.stdout.split()[1])
    _one_chat_span(launch, pid)
    assert launch.spans("chat")[0].resource["service.name"] == "mypkg"


def test_console_script_on_path(launch: Launch) -> None:
    """A console script of the environment: an executable whose shebang is the venv's
    python, found on PATH by name."""
    bin_dir = launch.root / "bin"
    launch.write("bin/fakecli", "#!%s\n%s" % (sys.executable, textwrap.dedent(APP)), mode=0o755)
    env = launch.env(PATH=str(bin_dir) + os.pathsep + launch.env()["PATH"])
    r = launch.run("weave-run", "fakecli", env=env).check()
    pid = int(r.stdout.split()[1])
    _one_chat_span(launch, pid)
    assert launch.spans("chat")[0].resource["service.name"] == "fakecli"


def test_installed_console_script_pytest(launch: Launch) -> None:
    """The installed ``pytest`` console script runs a test that calls fakevendor."""
    launch.write(
        "test_vendor.py",
        """
        import os
        from fakevendor.client import Client


        def test_call():
            assert Client().complete("hello") == "echo:hello"
            print("PID", os.getpid())
        """,
    )
    launch.write("pytest.ini", "[pytest]\n")  # rootdir here: no conftest of this repository
    r = launch.run("weave-run", "pytest", "-q", "-s", "-p", "no:cacheprovider", "test_vendor.py", timeout=60).check()
    pid = int(next(line.split()[1] for line in r.stdout.splitlines() if line.startswith("PID")))
    _one_chat_span(launch, pid)


def test_python_dash_m_weave_agent_is_weave_run(launch: Launch) -> None:
    """``python -m weave_agent [OPTIONS] COMMAND`` (README): the same launcher."""
    launch.write("mypkg/__init__.py", "")
    launch.write("mypkg/__main__.py", APP)
    r = launch.run(sys.executable, "-m", "weave_agent", "--service-name", "viamodule", "python", "-m", "mypkg").check()
    pid = int(r.stdout.split()[1])
    _one_chat_span(launch, pid)
    assert launch.spans("chat")[0].resource["service.name"] == "viamodule"
