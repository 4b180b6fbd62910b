"""The instrumentations tested in environments of their own pass there (see ``_own_environments``).

One test per environment: it installs (or reuses) the environment, then runs that
instrumentation's folder in it and fails with the folder's own pytest report. The folder's
tests never run in the main environment, whose SDK releases their library cannot import.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # ``import _own_environments`` under any import mode
    sys.path.insert(0, _HERE)

import _own_environments as own  # noqa: E402


def test_every_own_environment_has_its_extra_lock_and_folder() -> None:
    pyproject = (own.REPO / "pyproject.toml").read_text(encoding="utf-8")
    for name in own.NAMES:
        assert re.search(r"^test-%s = \[" % re.escape(name), pyproject, re.M), name
        assert own.constraints(name).is_file(), name
        assert (own.REPO / "tests" / "instrumentations" / name).is_dir(), name


def test_the_main_run_leaves_their_folders_out() -> None:
    """The main environment cannot import these libraries: collecting their folders here
    would fail, so ``tests/conftest.py`` ignores them unless the environment is theirs."""
    import runpy

    ignored = set(runpy.run_path(str(own.REPO / "tests" / "conftest.py"))["collect_ignore"])
    for name in own.NAMES:
        assert "instrumentations/%s" % name in ignored


@pytest.mark.slow
@pytest.mark.parametrize("name", own.NAMES)
def test_own_environment_passes(name: str) -> None:
    try:
        python = own.environment_python(name)
    except own.EnvironmentError_ as exc:
        pytest.fail(str(exc), pytrace=False)
    done = own.run_tests(name, python)
    report = (done.stdout + done.stderr)[-12000:]
    assert done.returncode == 0, "tests/instrumentations/%s in its own environment (exit %d):\n%s" % (
        name, done.returncode, report,
    )  # fmt: skip
    summary = done.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "skipped" not in summary, summary
    print("\n%s environment: %s" % (name, summary))
