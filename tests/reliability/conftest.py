"""Shared helpers for the reliability suite.

Counts: each size-dependent test is parametrized with ``scaled(ci, soak)``: the CI size
runs by default, the full size the issue names is marked ``soak`` and runs with
``pytest -m soak tests/reliability`` (the default ``addopts`` deselects it).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

_AGENT_TESTS = str(Path(__file__).resolve().parents[1] / "agent")
if _AGENT_TESTS not in sys.path:  # ``from _subproc import run_python`` in this folder too
    sys.path.insert(0, _AGENT_TESTS)


def scaled(ci: int, soak: int) -> list[Any]:
    """``@pytest.mark.parametrize("n", scaled(20, 200))``: ``n=20`` in CI, ``n=200`` under ``-m soak``."""
    return [pytest.param(ci, id="n=%d" % ci), pytest.param(soak, id="n=%d" % soak, marks=pytest.mark.soak)]
