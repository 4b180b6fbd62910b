"""``python -I``, ``-E`` and ``-S`` keep the ``PYTHONPATH`` start out (issue 18, item 7):
nothing the launcher sets can change that, so it says so in one line and runs the
command as it is."""

from __future__ import annotations

import pytest
from _launch import Launch

APP = """
    import sys
    print("app ran", sys.flags.isolated, sys.flags.ignore_environment, sys.flags.no_site)
"""


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["-I"], ["-I"]),
        (["-E"], ["-E"]),
        (["-S"], ["-S"]),
        (["-uE"], ["-E"]),
        (["-W", "ignore", "-E", "-X", "dev"], ["-E"]),
        (["-IS"], ["-I", "-S"]),
    ],
)
def test_options_that_keep_the_agent_out_are_named(launch: Launch, options: list[str], named: list[str]) -> None:
    launch.write("app.py", APP)
    r = launch.run("weave-run", "python", *options, "app.py")
    assert r.returncode == 0, r
    assert r.stdout.startswith("app ran"), r
    (line,) = [ln for ln in r.err_lines if ln.startswith("weave-run: the agent cannot start")]
    for flag in named:
        assert flag + " " in line, line
    assert "weave_agent.init()" in line, line


@pytest.mark.parametrize(
    "argv",
    [
        ["python", "app.py", "-I"],  # the app's own argument
        ["python", "-c", "print('app ran')", "-E"],  # after -c: the code's arguments
        ["python", "-W", "E", "app.py"],  # a -W value, not the -E option
        ["python", "-X", "importtime=0", "app.py"],
        ["app.py", "-S"],
    ],
)
def test_no_false_alarm(launch: Launch, argv: list[str]) -> None:
    launch.write("app.py", APP)
    r = launch.run("weave-run", *argv)
    assert r.returncode == 0, r
    assert "app ran" in r.stdout, r
    assert "cannot start" not in r.stderr, r
