"""The README's integrations table says what the registry says.

A user reads "supported versions" and "tested" in the README; the agent acts on the
ranges in ``instrumentations/registry.py``, and the default test run is pinned to
``TESTED_VERSIONS``. Written by hand, the table drifts from both the moment a range is
narrowed or a pin moves: this test reads the table back and holds it equal to them.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
REGISTRY = runpy.run_path(str(REPO / "instrumentations" / "registry.py"))



def expected_cell(versions: str, tested: str | None, by_python: dict[str, str | None]) -> str:
    r"""``\`>=1.92,<4\` (tested: 3.57.0)``, plus ``; 1.7.7 on Python 3.10`` for each Python
    whose tested release differs (``TESTED_VERSIONS_BY_PYTHON``), or ``; no release for
    Python 3.10`` where none installs (``None`` there)."""
    others = "".join(
        f"; {v} on Python {py}" if v is not None else f"; no release for Python {py}" for py, v in sorted(by_python.items())
    )
    return f"`{versions}` (tested: {tested}{others})"


def integrations_table(readme: str) -> dict[str, tuple[str, str]]:
    """``{name: (library, supported-versions cell)}`` from the table under "## Integrations"."""
    section = readme.split("\n## Integrations\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, tuple[str, str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = (cells[1].strip("`"), cells[2])
    return rows


def mismatches(
    readme: str, instrumentations: tuple, tested: dict[str, str], by_python: dict[str, dict[str, str | None]] | None = None
) -> list[str]:
    """Every way the table disagrees with the registry rows and the tested versions."""
    table = integrations_table(readme)
    problems = []
    names = [row[0] for row in instrumentations]
    if sorted(table) != sorted(names):
        problems.append(f"table names {sorted(table)} != registry names {sorted(names)}")
    for name, _triggers, _module, distribution, versions in instrumentations:
        if name not in table:
            continue
        library, cell = table[name]
        if library != distribution:
            problems.append(f"{name}: library {library!r}, registry distribution {distribution!r}")
        others = {py: pins[distribution] for py, pins in (by_python or {}).items() if distribution in pins}
        expected = expected_cell(versions, tested.get(distribution), others)
        if cell != expected:
            problems.append(f"{name}: README says {cell}, registry and TESTED_VERSIONS say {expected}")
    return problems


def test_readme_table_matches_registry_and_tested_versions() -> None:
    readme = (REPO / "README.md").read_text()
    by_python = REGISTRY.get("TESTED_VERSIONS_BY_PYTHON", {})
    assert mismatches(readme, REGISTRY["INSTRUMENTATIONS"], REGISTRY["TESTED_VERSIONS"], by_python) == []


def test_every_tested_version_is_inside_its_declared_range() -> None:
    """A pin outside the range would mean the default run tests the decline path only."""
    ranges = {dist: versions for _n, _t, _m, dist, versions in REGISTRY["INSTRUMENTATIONS"]}
    assert set(REGISTRY["TESTED_VERSIONS"]) == set(ranges)
    for dist, version in REGISTRY["TESTED_VERSIONS"].items():
        assert Version(version) in SpecifierSet(ranges[dist]), (dist, version, ranges[dist])


SYNTHETIC_REGISTRY = (
    ("openai", (), "openai.openai", "openai", ">=1.92,<4"),
    ("anthropic", (), "anthropic.anthropic", "anthropic", ">=2,<3"),
)
SYNTHETIC_TESTED = {"openai": "3.57.0", "anthropic": "2.13.0"}
SYNTHETIC_README = """
## Integrations

| name | library | supported versions | what is traced |
|---|---|---|---|
| `openai` | `openai` | `>=1.92,<4` (tested: 3.57.0) | chat |
| `anthropic` | `anthropic` | `>=2,<3` (tested: 2.13.0) | messages |

## Next
"""


@pytest.mark.parametrize(
    "old, new, expected",
    [
        ("(tested: 3.57.0)", "(tested: 3.56.0)", "README says `>=1.92,<4` (tested: 3.56.0)"),
        ("`>=2,<3`", "`>=2,<4`", "README says `>=2,<4` (tested: 2.13.0)"),
        ("| `anthropic` | `anthropic`", "| `anthropic` | `anthropic-sdk`", "library 'anthropic-sdk'"),
        ("| `anthropic` | `anthropic` | `>=2,<3` (tested: 2.13.0) | messages |\n", "", "table names"),
        ("(tested: 2.13.0)", "(tested: 2.13.0; 2.12.0 on Python 3.10)", "registry and TESTED_VERSIONS say `>=2,<3`"),
    ],
)
def test_a_disagreeing_table_is_reported(old: str, new: str, expected: str) -> None:
    """The check bites: a wrong pin, range or library and a missing row are each reported."""
    assert mismatches(SYNTHETIC_README, SYNTHETIC_REGISTRY, SYNTHETIC_TESTED) == []
    edited = SYNTHETIC_README.replace(old, new)
    assert edited != SYNTHETIC_README
    problems = mismatches(edited, SYNTHETIC_REGISTRY, SYNTHETIC_TESTED)
    assert any(expected in p for p in problems), problems
