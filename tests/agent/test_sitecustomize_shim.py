"""The sitecustomize shim: starts the agent, then chains the next ``sitecustomize``."""

from __future__ import annotations

from _subproc import SHIM_DIR

USER_SITECUSTOMIZE = """
import os
with open(os.environ["MARK_FILE"], "a") as f:
    f.write("user sitecustomize ran\\n")
os.environ["USER_SITECUSTOMIZE"] = "ran"
"""

APP = """
import json, os, sys
own = sys.modules["sitecustomize"]
print(json.dumps({
    "user": os.environ.get("USER_SITECUSTOMIZE"),
    "agent_first": type(sys.meta_path[0]).__module__ == "weave_agent.hook.importhook",
    "sitecustomize_is_shim": os.path.dirname(os.path.abspath(own.__file__)) == os.path.abspath(SHIM),
    "chained_is_user": os.path.dirname(getattr(getattr(own, "chained", None), "__file__", "") or "") == USER_DIR,
    "shim_on_path": [i for i, p in enumerate(sys.path) if os.path.abspath(p or ".") == os.path.abspath(SHIM)],
}))
"""


def _app(user_dir: object) -> str:
    return "SHIM = %r\nUSER_DIR = %r\n" % (str(SHIM_DIR), str(user_dir)) + APP


def test_user_sitecustomize_later_on_the_path_runs_exactly_once(run_py, tree, tmp_path):
    user = tree({"sitecustomize.py": USER_SITECUSTOMIZE}, under="user")
    mark = tmp_path / "mark.txt"
    res = run_py(_app(user), pythonpath=[SHIM_DIR, user], env={"MARK_FILE": str(mark)}).check()
    assert mark.read_text().splitlines() == ["user sitecustomize ran"]
    out = res.json()
    assert out == {
        "user": "ran",
        "agent_first": True,
        "sitecustomize_is_shim": True,
        "chained_is_user": True,
        "shim_on_path": [out["shim_on_path"][0]],  # put back, once
    }
    assert res.stderr == ""


def test_without_a_user_sitecustomize_nothing_is_printed(run_py):
    res = run_py("print('app ran')", pythonpath=[SHIM_DIR]).check()
    assert res.lines == ["app ran"]
    assert res.stderr == ""


def test_a_failing_user_sitecustomize_is_reported_and_the_app_runs(run_py, tree):
    user = tree({"sitecustomize.py": "raise RuntimeError('user site broken')\n"}, under="user")
    res = run_py("import sys; print('app ran', type(sys.meta_path[0]).__module__)", pythonpath=[SHIM_DIR, user]).check()
    assert res.lines == ["app ran weave_agent.hook.importhook"]
    assert len(res.err_lines) == 1 and "user site broken" in res.err_lines[0]


def test_agent_start_failure_prints_one_line_and_the_app_runs(run_py, tree, tmp_path):
    # A weave_agent whose bootstrap raises, found before the real one.
    broken = tree(
        {
            "weave_agent/__init__.py": "",
            "weave_agent/lifecycle.py": "def bootstrap(*args, **kwargs):\n    raise RuntimeError('boom')\n",
        },
        under="broken",
    )
    user = tree({"sitecustomize.py": USER_SITECUSTOMIZE}, under="user")
    mark = tmp_path / "mark.txt"
    res = run_py(
        "import os; print('app ran', os.environ.get('USER_SITECUSTOMIZE'))",
        pythonpath=[SHIM_DIR, broken, user],
        env={"MARK_FILE": str(mark)},
    ).check()
    assert res.lines == ["app ran ran"]  # and the user's sitecustomize still ran, once
    assert mark.read_text().splitlines() == ["user sitecustomize ran"]
    assert res.err_lines == ["weave-agent: not started (RuntimeError: boom); the app runs untraced"]


def test_agent_missing_prints_one_line_and_the_app_runs(run_py, tree):
    # weave_agent not importable at all (a shim folder copied without the package).
    blocker = tree({"weave_agent.py": "raise ImportError('weave_agent is not installed here')\n"}, under="blocker")
    res = run_py("print('app ran')", pythonpath=[SHIM_DIR, blocker]).check()
    assert res.lines == ["app ran"]
    assert len(res.err_lines) == 1 and res.err_lines[0].startswith("weave-agent: not started (ImportError")
