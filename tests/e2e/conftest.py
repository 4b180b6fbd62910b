"""The e2e tier: real trace servers (Phoenix, in its own cached virtual environment)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # ``from _phoenix import ...`` under any import mode
    sys.path.insert(0, _HERE)

from _phoenix import Phoenix, PhoenixError, phoenix_venv  # noqa: E402


@pytest.fixture(scope="session")
def phoenix_python() -> Path:
    """Phoenix's interpreter (its virtual environment installed on first use)."""
    try:
        return phoenix_venv()
    except PhoenixError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def phoenix(phoenix_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Phoenix]:
    """A Phoenix server on loopback for the whole session, stopped (process group) at the end."""
    for attempt in (1, 2):  # a second try on new ports: a free port can be taken meanwhile
        server = Phoenix(phoenix_python, tmp_path_factory.mktemp("phoenix"))
        try:
            server.start()
            break
        except PhoenixError as exc:
            server.stop()
            if attempt == 2:
                pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()
