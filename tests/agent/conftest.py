"""Helpers for the agent's own tests: fresh interpreters and fake vendor trees."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # ``from _subproc import ...`` under any import mode
    sys.path.insert(0, _HERE)

from _subproc import run_python, write_tree  # noqa: E402


@pytest.fixture
def run_py(tmp_path: Path):  # type: ignore[no-untyped-def]
    """``run_py(code, pythonpath=[...], env={...}, timeout=...)`` in a fresh interpreter
    whose working directory is the test's ``tmp_path``."""
    return functools.partial(run_python, cwd=tmp_path)


@pytest.fixture
def tree(tmp_path: Path):  # type: ignore[no-untyped-def]
    """``tree({"pkg/__init__.py": "...", ...}, under="vendor")``: files under tmp_path."""

    def write(files: dict[str, str], under: str = "") -> Path:
        root = tmp_path / under if under else tmp_path
        root.mkdir(parents=True, exist_ok=True)
        return write_tree(root, files)

    return write
