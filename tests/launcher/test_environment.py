"""What ``weave-run`` hands to the app: ``PYTHONPATH`` (shim first, the rest kept in order,
no duplicate, no empty entry), a chained user ``sitecustomize`` (run exactly once), one
pipeline however often the agent is started, stdin, and the PID (``exec``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from _launch import APP, Launch, Result

SHOW_PATH = """
    import json, os, sys

    try:
        from fakevendor.client import Client
    except ImportError:  # not on this PYTHONPATH
        pass
    else:
        Client().complete("hello")
    print(json.dumps({"PYTHONPATH": os.environ.get("PYTHONPATH"), "sys.path": sys.path}))
"""


def _shown(r: Result) -> dict[str, Any]:
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "given, expected",
    [
        (None, ["{shim}"]),
        ("", ["{shim}"]),
        ("{site}", ["{shim}", "{site}"]),
        ("{a}:{site}", ["{shim}", "{a}", "{site}"]),
        ("{site}:{a}", ["{shim}", "{site}", "{a}"]),
        ("{a}:{shim}:{site}", ["{shim}", "{a}", "{site}"]),
        ("{shim}:{site}:{shim}", ["{shim}", "{site}"]),
        ("{a}::{site}", ["{shim}", "{a}", "", "{site}"]),  # the user's own empty entry is theirs to keep
        ("{shim}/:{site}", ["{shim}", "{site}"]),  # the shim spelled differently is still the shim
    ],
    ids=["unset", "empty", "one", "two", "two-reversed", "shim-inside", "shim-twice", "user-empty-entry", "shim-slash"],
)
def test_pythonpath(launch: Launch, shim_dir: str, given: str | None, expected: list[str]) -> None:
    names = {"shim": shim_dir, "a": str(launch.root / "a"), "site": str(launch.site)}
    (launch.root / "a").mkdir()
    launch.write("app.py", SHOW_PATH)
    pythonpath = None if given is None else os.pathsep.join(p.format(**names) for p in given.split(":"))
    r = launch.run("weave-run", "python", "app.py", env=launch.env(PYTHONPATH=pythonpath)).check()
    shown = _shown(r)
    want = [e.format(**names) for e in expected]
    assert shown["PYTHONPATH"].split(os.pathsep) == want
    assert shown["sys.path"].count(shim_dir) == 1
    if "" not in want:  # the launcher added no current directory
        assert "" not in shown["sys.path"] and str(launch.root) not in shown["sys.path"][1:]
    # fakevendor is found only through the site entry: the call is traced exactly then.
    assert len(launch.spans("chat")) == (1 if "{site}" in expected else 0)


def test_pythonpath_nested_weave_run(launch: Launch, shim_dir: str) -> None:
    """``weave-run weave-run python app.py``: the shim once, first; nothing else added."""
    a = str(launch.root / "a")
    launch.write("app.py", SHOW_PATH)
    pythonpath = os.pathsep.join([a, str(launch.site)])
    r = launch.run("weave-run", "weave-run", "python", "app.py", env=launch.env(PYTHONPATH=pythonpath)).check()
    shown = _shown(r)
    assert shown["PYTHONPATH"].split(os.pathsep) == [shim_dir, a, str(launch.site)]
    # sys.path: the script's folder, then PYTHONPATH in order; the current directory ("")
    # was not added and the shim is there once.
    assert "" not in shown["sys.path"]
    assert shown["sys.path"].count(shim_dir) == 1
    assert shown["sys.path"][1:4] == [shim_dir, a, str(launch.site)]
    chats = launch.spans("chat")
    assert len(chats) == 1, chats  # one pipeline: no duplicated span
    assert len(launch.trace_files()) == 1


def test_nested_weave_run_and_explicit_init_make_one_pipeline(launch: Launch) -> None:
    launch.write(
        "app.py",
        """
        import os
        import weave_agent

        first = weave_agent.init()  # already started by the shim: a no-op
        from fakevendor.client import Client

        Client().complete("hello")
        print(first, os.getpid())
        """,
    )
    r = launch.run("weave-run", "weave-run", "--service-name", "outer", "weave-run", "python", "app.py").check()
    started, pid = r.stdout.split()
    assert started == "False"
    chats = launch.spans("chat")
    assert [c.pid for c in chats] == [int(pid)]
    assert chats[0].resource["service.name"] == "outer"  # the outer option is kept
    assert len([line for line in r.err_lines if line.startswith("weave-agent:")]) == 1, r


def test_chained_user_sitecustomize_runs_once(launch: Launch, shim_dir: str) -> None:
    """A user's ``sitecustomize.py`` later on PYTHONPATH runs exactly once in the app,
    after the agent started; its side effects are visible to the app and the shim is
    back on ``sys.path`` afterwards.

    (``weave-run`` is itself a Python program on the same PYTHONPATH, so its own
    interpreter runs the user's sitecustomize too, before the ``exec``: that line is told
    apart by ``sys.argv``.)"""
    marker = launch.root / "marker.txt"
    launch.write(
        "usersite/sitecustomize.py",
        """
        import os, sys

        with open(%r, "a") as f:
            f.write("%%d %%s %%s\\n" %% (os.getpid(), os.path.basename(sys.argv[0]), "weave_agent.lifecycle" in sys.modules))
        os.environ["USER_SITECUSTOMIZE"] = "yes"
        """
        % str(marker),
    )
    launch.write(
        "app.py",
        """
        import os, sys
        import sitecustomize
        from weave_agent import lifecycle
        from fakevendor.client import Client

        Client().complete("hello")
        chained = getattr(sitecustomize, "chained", None)
        print(os.getpid(), os.environ.get("USER_SITECUSTOMIZE"), lifecycle.started(),
              getattr(chained, "__file__", None), %r in sys.path)
        """
        % shim_dir,
    )
    usersite = str(launch.root / "usersite")
    env = launch.env(PYTHONPATH=os.pathsep.join([str(launch.site), usersite]))
    r = launch.run("weave-run", "python", "app.py", env=env).check()
    pid, user_env, started, chained_file, shim_on_path = r.stdout.split()
    in_app = [line for line in marker.read_text().splitlines() if line.split()[1] == "app.py"]
    assert in_app == ["%s app.py True" % pid]  # exactly once, in the app, after the agent started
    assert user_env == "yes"
    assert started == "True"
    assert chained_file == os.path.join(usersite, "sitecustomize.py")
    assert shim_on_path == "True"
    assert [c.pid for c in launch.spans("chat")] == [int(pid)]


def test_failing_user_sitecustomize_does_not_stop_the_agent(launch: Launch) -> None:
    launch.write("usersite/sitecustomize.py", "raise RuntimeError('user site broke')\n")
    launch.write("app.py", APP)
    env = launch.env(PYTHONPATH=os.pathsep.join([str(launch.site), str(launch.root / "usersite")]))
    r = launch.run("weave-run", "python", "app.py", env=env).check()
    assert any("user site broke" in line for line in r.err_lines), r
    assert len(launch.spans("chat")) == 1


def test_stdin_is_piped_through(launch: Launch) -> None:
    launch.write(
        "echo.py",
        """
        import sys
        from fakevendor.client import Client

        for line in sys.stdin:
            sys.stdout.write(Client().complete(line.rstrip("\\n")) + "\\n")
        """,
    )
    r = launch.run("weave-run", "python", "echo.py", input="one\ntwo\nthree\n").check()
    assert r.stdout == "echo:one\necho:two\necho:three\n"
    assert sorted(s.attributes["output.value"] for s in launch.spans("chat")) == [
        '"echo:one"',
        '"echo:three"',
        '"echo:two"',
    ]


def test_pid_is_the_apps_own(launch: Launch) -> None:
    """``exec``: the process ``weave-run`` started as is the app (same PID, no wrapper)."""
    launch.write("app.py", APP)
    proc = launch.popen("weave-run", "python", "app.py")
    assert launch.wait(proc) == 0
    out, _ = launch.output()
    assert int(out.split()[1]) == proc.pid
    assert [s.pid for s in launch.spans("chat")] == [proc.pid]


def test_pid_nested(launch: Launch) -> None:
    launch.write("app.py", APP)
    proc = launch.popen("weave-run", "weave-run", "app.py")
    assert launch.wait(proc) == 0
    out, _ = launch.output()
    assert int(out.split()[1]) == proc.pid
    assert [s.pid for s in launch.spans("chat")] == [proc.pid]


def test_interpreter_without_the_agent_runs_untraced(launch: Launch) -> None:
    """An interpreter that does not have weave-agent installed (the venv's base python,
    given by path): the shim says so in one line, still chains the user's sitecustomize,
    and the app runs normally."""
    base = os.path.realpath(sys.executable)
    probe = subprocess.run([base, "-c", "import weave_agent"], capture_output=True, env=launch.env(PYTHONPATH=None))
    assert probe.returncode != 0, "the tests run in a virtual environment; its base python has no weave_agent"
    marker = launch.root / "marker.txt"
    launch.write("usersite/sitecustomize.py", "open(%r, 'a').write('ran\\n')\n" % str(marker))
    launch.write("app.py", APP)
    env = launch.env(PYTHONPATH=os.pathsep.join([str(launch.site), str(launch.root / "usersite")]))
    r = launch.run("weave-run", base, "app.py", env=env).check()
    assert r.stdout.startswith("echo:hello ")
    notes = [line for line in r.err_lines if line.startswith("weave-agent:")]
    assert len(notes) == 1 and "not started" in notes[0], r
    assert marker.read_text().count("ran") == 2  # weave-run's own interpreter, then the app's
    assert launch.spans() == []
