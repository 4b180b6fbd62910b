"""docs/reliability.md names a test for each promise: every name it gives must exist, so
that a renamed or deleted test cannot leave a promise standing without its proof."""

from __future__ import annotations

import ast
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOC = HERE.parents[1] / "docs" / "reliability.md"


def _tests_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name.startswith("test")}


def _references() -> list[tuple[str, str | None]]:
    """``file.py::test_name`` and bare ``::test_name`` (same file as the last one named)."""
    refs: list[tuple[str, str | None]] = []
    current = ""
    for match in re.finditer(r"`((?:\w+/)?test_\w+\.py)?(?:::(test_\w+))?[^`]*`", DOC.read_text(encoding="utf-8")):
        file, name = match.group(1), match.group(2)
        if file:
            current = file
        if (file or name) and current:
            refs.append((current, name))
    return refs


def test_every_test_the_doc_names_exists() -> None:
    refs = _references()
    assert len(refs) > 30, "the doc names fewer tests than expected: %r" % refs
    missing = []
    for file, name in refs:
        # ``test_x.py`` is in this folder; ``launcher/test_x.py`` in that folder of tests/.
        path = HERE / file if "/" not in file else HERE.parent / file
        if not path.is_file():
            missing.append(file)
        elif name is not None and name not in _tests_in(path):
            missing.append("%s::%s" % (file, name))
    assert not missing, "docs/reliability.md names tests that do not exist: %s" % missing


def test_every_reliability_test_file_is_in_the_doc() -> None:
    named = {file for file, _ in _references()}
    files = {p.name for p in HERE.glob("test_*.py")} - {Path(__file__).name}
    assert files <= named, "not in docs/reliability.md: %s" % sorted(files - named)
