"""Every range in the registry is one the compatibility matrix has passed.

``docs/compatibility.md`` is written by ``python bench/compat.py`` (it needs PyPI and takes
minutes, so it is not part of this run). This test holds the registry to it: a range that
is widened, narrowed or added without running the matrix again, or a matrix row that
failed, fails here. What it cannot check offline is that the release tried is still the
oldest one the index serves; the matrix command is what picks it.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
import compat  # noqa: E402

while str(REPO / "bench") in sys.path:  # compat put it there too; bench/run.py must not shadow anything
    sys.path.remove(str(REPO / "bench"))

REGISTRY = runpy.run_path(str(REPO / "instrumentations" / "registry.py"))


def problems(rows: list, instrumentations: tuple) -> list[str]:
    found = []
    for name, _triggers, _module, distribution, versions in instrumentations:
        mine = [r for r in rows if r.name == name]
        for end in ("oldest", "newest"):
            current = [r for r in mine if r.which == end and r.declared == versions]
            if not current:
                found.append(f"{name}: no {end} row for {versions} (run: python bench/compat.py --only {name})")
            for r in current:
                if not r.ok:
                    found.append(f"{name}: {end} {r.version} on Python {r.python} failed ({r.failed} failed)")
                if r.distribution != distribution or Version(r.version) not in SpecifierSet(versions):
                    found.append(f"{name}: {end} row {r.distribution} {r.version} is not inside {versions}")
        stale = [r for r in mine if r.declared != versions]
        if stale:
            found.append(f"{name}: rows for another range {stale[0].declared} (the registry says {versions})")
    return found


def test_every_registry_range_has_passed_the_matrix() -> None:
    rows = compat.read_doc_rows(str(REPO / "docs" / "compatibility.md"))
    assert rows, "docs/compatibility.md has no matrix rows"
    assert problems(rows, REGISTRY["INSTRUMENTATIONS"]) == []


def test_a_range_changed_without_the_matrix_is_reported() -> None:
    row = compat.Row("acme", "acme-sdk", ">=1,<2", "oldest", "1.0.0", "3.11", passed=5)
    newest = compat.Row("acme", "acme-sdk", ">=1,<2", "newest", "1.4.0", "3.11", passed=5)
    registry = (("acme", (), "acme.acme", "acme-sdk", ">=1,<2"),)
    assert problems([row, newest], registry) == []
    widened = (("acme", (), "acme.acme", "acme-sdk", ">=0.9,<2"),)
    assert any("no oldest row for >=0.9,<2" in p for p in problems([row, newest], widened))
    failed = compat.Row("acme", "acme-sdk", ">=1,<2", "newest", "1.4.0", "3.11", passed=5, failed=1)
    assert any("failed" in p for p in problems([row, failed], registry))


def test_the_document_round_trips(tmp_path: Path) -> None:
    """What the command writes is what this test reads back."""
    rows = [
        compat.Row("acme", "acme-sdk", ">=1,<2", "oldest", "1.0.0", "3.11", 5, 0, 2, "2026-12-06", "a note"),
        compat.Row("acme", "acme-sdk", ">=1,<2", "newest", "1.4.0", "3.11", 7, 1, 0, "2026-12-06", ""),
    ]
    path = tmp_path / "compatibility.md"
    compat.write_doc(rows, "Last run: test.", str(path))
    assert compat.read_doc_rows(str(path)) == rows
