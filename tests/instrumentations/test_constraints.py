"""``constraints/test.txt`` pins what the registry says is tested, on every supported Python.

The recorded tests are only as good as the release they replay through: the README's
test command installs ``.[test]`` with ``-c constraints/test.txt`` so that every run, any
day, gets the vendor SDKs in ``TESTED_VERSIONS`` (and one fixed version of everything
else). These tests hold the file, the registry, the ``test`` extra and the two places
that run the command to each other.
"""

from __future__ import annotations

import importlib.util
import runpy
import sys
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest needs tomli before 3.11
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]
CONSTRAINTS = REPO / "constraints" / "test.txt"
REGISTRY = runpy.run_path(str(REPO / "instrumentations" / "registry.py"))


def _load_lock() -> Any:
    spec = importlib.util.spec_from_file_location("weave_tests_constraints_lock", REPO / "constraints" / "lock.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lock = _load_lock()
PYTHONS: tuple[str, ...] = lock.PYTHONS


def _environment(python: str) -> dict[str, str]:
    return {"python_version": python, "python_full_version": python + ".0"}


def pins_for(text: str, python: str) -> dict[str, str]:
    """``{canonical name: version}`` that the constraints ``text`` applies on CPython ``python``."""
    pins: dict[str, str] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate(_environment(python)):
            continue
        (spec,) = req.specifier  # one exact pin per line
        assert spec.operator == "==", line
        name = canonicalize_name(req.name)
        assert name not in pins, f"{name} is pinned twice on Python {python}"
        pins[name] = spec.version
    return pins


ENVIRONMENTS: dict[str, tuple[str, str]] = lock.targets()  # {"test": ..., "llamaindex": ..., ...}


def expected_vendor_pins(python: str, environment: str = "test") -> dict[str, str]:
    return {canonicalize_name(d): v for d, v in lock.vendor_pins(python, environment).items()}


def vendor_mismatches(text: str, environment: str = "test") -> list[str]:
    problems = []
    for python in PYTHONS:
        pins = pins_for(text, python)
        for dist, version in expected_vendor_pins(python, environment).items():
            if pins.get(dist) != version:
                problems.append(f"Python {python}: {dist} pinned {pins.get(dist)}, TESTED_VERSIONS says {version}")
    return problems


@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize("python", PYTHONS)
def test_vendor_pins_are_the_tested_versions(python: str, environment: str) -> None:
    pins = pins_for(Path(ENVIRONMENTS[environment][1]).read_text(encoding="utf-8"), python)
    for dist, version in expected_vendor_pins(python, environment).items():
        assert pins.get(dist) == version, (python, dist, pins.get(dist), version)


def test_every_tested_version_is_held_by_one_environment() -> None:
    """Each TESTED_VERSIONS entry is pinned by exactly one lock: the main one, or the
    environment whose extra alone names it."""
    held: dict[str, list[str]] = {}
    for environment in ENVIRONMENTS:
        for dist in lock.vendor_pins(PYTHONS[-1], environment):
            held.setdefault(dist, []).append(environment)
    assert {d: e for d, e in held.items() if len(e) != 1} == {}
    assert set(held) == set(REGISTRY["TESTED_VERSIONS"])


def test_an_unavailable_python_pins_nothing() -> None:
    """``None`` in TESTED_VERSIONS_BY_PYTHON (no release installs there) drops the pin."""
    for python, pins in REGISTRY.get("TESTED_VERSIONS_BY_PYTHON", {}).items():
        for dist, version in pins.items():
            if version is None:
                assert dist not in lock.vendor_pins(python, "test")
                assert canonicalize_name(dist) not in pins_for(CONSTRAINTS.read_text(encoding="utf-8"), python)


def test_a_pin_that_drifts_from_the_registry_is_reported() -> None:
    """The check bites: the file with the openai pin moved on one Python is reported."""
    text = CONSTRAINTS.read_text(encoding="utf-8")
    assert vendor_mismatches(text) == []
    tested = REGISTRY["TESTED_VERSIONS"]["openai"]
    drifted = text.replace(f"openai=={tested}\n", f'openai=={tested}.1 ; python_version >= "3.13"\n'
                                                   f'openai=={tested} ; python_version < "3.13"\n')
    assert drifted != text
    assert vendor_mismatches(drifted) == [f"Python 3.13: openai pinned {tested}.1, TESTED_VERSIONS says {tested}"]


def test_per_python_exceptions_name_known_pythons_and_distributions() -> None:
    for python, pins in REGISTRY.get("TESTED_VERSIONS_BY_PYTHON", {}).items():
        assert python in PYTHONS
        assert set(pins) <= set(REGISTRY["TESTED_VERSIONS"])


@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize("python", PYTHONS)
def test_every_test_requirement_is_pinned_inside_its_range(python: str, environment: str) -> None:
    """Each requirement of the environment's extras has a pin on every Python, and the pin
    is one the extra admits (else ``pip install ".[test]" -c ...`` cannot resolve)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras_of, constraints_file = ENVIRONMENTS[environment]
    pins = pins_for(Path(constraints_file).read_text(encoding="utf-8"), python)
    extras = project["optional-dependencies"]
    lines = [*project["dependencies"], *extras["test-kit"]]
    for extra in extras_of.split(","):
        lines += extras[extra]
    for line in lines:
        req = Requirement(line)
        if canonicalize_name(req.name) == lock.PROJECT:
            continue  # the project's own extras (test-kit), listed above
        if req.marker is not None and not req.marker.evaluate({**_environment(python), "extra": "test"}):
            continue
        name = canonicalize_name(req.name)
        assert name in pins, (python, line)
        assert req.specifier.contains(Version(pins[name]), prereleases=True), (python, line, pins[name])


def test_lock_merge_gives_each_python_its_own_versions() -> None:
    """``lock.py`` writes one line where the Pythons agree and markers where they do not;
    evaluated per Python, the lines give back exactly what each Python resolved."""
    per_python = {
        "3.10": {"a": "1", "b": "1", "tomli": "2"},
        "3.11": {"a": "1", "b": "2"},
        "3.12": {"a": "1", "b": "3"},
        "3.13": {"a": "1", "b": "3", "c": "5"},
    }
    lines = lock.merge(per_python)
    assert lines == [
        "a==1",
        'b==1 ; python_version < "3.11"',
        'b==2 ; python_version >= "3.11" and python_version < "3.12"',
        'b==3 ; python_version >= "3.12"',
        'c==5 ; python_version >= "3.13"',
        'tomli==2 ; python_version < "3.11"',
    ]
    for python, resolved in per_python.items():
        assert pins_for("\n".join(lines), python) == resolved


def test_the_readme_and_ci_install_with_the_constraints() -> None:
    """The README's test command and CI's install line both apply the file (CI runs the
    README's command verbatim)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Run the tests\n", 1)[1].split("\n## ", 1)[0]
    assert 'pip install ".[test]" -c constraints/test.txt' in section
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert 'python -m pip install -q ".[test]" -c constraints/test.txt' in ci
