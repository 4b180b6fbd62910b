"""Fixtures for the launcher tests (issue 4); the helpers live in ``_launch.py``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # ``from _launch import ...`` under any import mode
    sys.path.insert(0, _HERE)

from _launch import SITE_FILES, Launch, write_tree  # noqa: E402


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tree(tmp_path_factory.mktemp("plugin-site"), SITE_FILES)


@pytest.fixture
def launch(tmp_path: Path, plugin_site: Path) -> Iterator[Launch]:
    work = tmp_path / "work"
    work.mkdir()
    launcher = Launch(work, plugin_site)
    try:
        yield launcher
    finally:
        launcher.close()


@pytest.fixture(scope="session")
def shim_dir() -> str:
    from weave_agent.tools.cli import shim_path

    return shim_path()
