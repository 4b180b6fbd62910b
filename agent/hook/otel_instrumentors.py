"""OpenTelemetry's own instrumentors (FastAPI, Flask, requests, SQLAlchemy, ...), armed lazily.

The contrib instrumentation packages register a ``BaseInstrumentor`` in the entry-point
group ``opentelemetry_instrumentor``. ``opentelemetry-instrument`` loads and instruments
every one of them at start-up, which imports each instrumented library whether the app
uses it or not. Here each one is armed on the import of its library instead, through the
agent's finder, so that an app that never imports Flask pays nothing for
``opentelemetry-instrumentation-flask`` being installed, and the server or job span of a
request becomes the parent of the LLM spans made while serving it.

Two halves, like third-party rows (``registry.from_entry_points``):

* ``weave-run`` (:func:`discover`, :func:`encode`) reads the entry points and the
  distributions' metadata (never at a bare ``PYTHONPATH`` bootstrap: scanning installed
  distributions costs milliseconds on every process start) and passes the ones to arm in
  ``WEAVE_AGENT_OTEL_INSTRUMENTOR_ROWS``;
* the app's bootstrap (:func:`arm_encoded`) registers one post-import hook per library
  module; the first import of one starts the agent's pipeline (the instrumentor's first
  span needs the global provider in place) and calls ``instrument()``.

What is armed, as ``opentelemetry-instrument`` decides it: the libraries named by the
package's ``instruments`` extra must all be installed (``instruments-any``: one of them);
at a version the package does not accept, ``instrument()`` declines in the app (checked
there, on first import, so that the launcher reads plain files and never imports
``importlib.metadata`` or ``packaging``; ``weave-run list`` checks it up front). Left out, each with its reason for ``weave-run list``: packages that would
trace a library one of ours already traces (the contrib OpenAI/Anthropic instrumentors,
OpenLLMetry, OpenInference: two LLM spans per call), names the settings disable
(``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` and ours), and instrumentors of a library that
is not installed. ``WEAVE_AGENT_OTEL_INSTRUMENTORS=false`` turns the whole feature off.

Edge cases, stated:

* An instrumentor with no instrumented library (``logging``, ``threading``, ``asyncio``:
  the standard library) is armed on the import of the module its entry point is named
  after when that is a standard-library module; otherwise it cannot be armed lazily and
  is listed as skipped.
* The contrib botocore instrumentor traces every AWS call, not only Bedrock's: it is kept
  beside our bedrock instrumentation (its Bedrock spans then wrap ours).
* ``instrument()`` runs once per process, on the first import of any of its library's
  top-level modules; an instrumentor that raises is logged once and the app goes on.
"""

from __future__ import annotations

import sys

from .. import _log

GROUP = "opentelemetry_instrumentor"
ROWS_ENV = "WEAVE_AGENT_OTEL_INSTRUMENTOR_ROWS"
SWITCH_ENV = "WEAVE_AGENT_OTEL_INSTRUMENTORS"
_OWN_DISTRIBUTION = "weave-agent"
# Distributions our registry names that contrib instruments more broadly than we do.
_NOT_DUPLICATES = frozenset({"botocore", "boto3"})

if False:  # typing only
    from collections.abc import Callable, Iterable

    from ..settings import Settings


class Found:
    """One ``opentelemetry_instrumentor`` entry point and what weave-run decided for it."""

    __slots__ = ("name", "target", "package", "libraries", "triggers", "skipped")

    def __init__(self, name: str, target: str, package: str) -> None:
        self.name = name
        self.target = target  # "module:attribute"
        self.package = package  # the distribution that declares it, with its version
        self.libraries: list[str] = []  # "fastapi 0.165.0", the installed libraries it instruments
        self.triggers: list[str] = []  # top-level modules whose import arms it
        self.skipped: str | None = None  # why it is not armed; None: armed

    @property
    def status(self) -> str:
        if self.skipped is not None:
            return "skipped: " + self.skipped
        return "armed on the import of " + ", ".join(self.triggers)

    def __repr__(self) -> str:
        return "Found(%r, %r, %s)" % (self.name, self.target, self.status)


def _canonical(name: str) -> str:
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


class _Dist:
    """An installed distribution as its metadata folder shows it, read as plain text."""

    __slots__ = ("name", "version", "path")

    def __init__(self, name: str, version: str, path: str) -> None:
        self.name, self.version, self.path = name, version, path

    def read(self, filename: str) -> str:
        import os

        try:
            with open(os.path.join(self.path, filename), encoding="utf-8") as f:
                return f.read()
        except OSError:
            return ""


def _installed() -> dict[str, _Dist]:
    """``{canonical name: _Dist}`` for every ``*.dist-info`` on ``sys.path``, the first
    one found winning (as imports and ``importlib.metadata`` do). Plain file reads, not
    ``importlib.metadata``: with ``packaging`` that import costs the launcher ~80 ms."""
    import os

    found: dict[str, _Dist] = {}
    for folder in sys.path:
        try:
            names = os.listdir(folder or ".")
        except OSError:
            continue
        for entry in names:
            if not entry.endswith(".dist-info"):
                continue
            name, _, version = entry[: -len(".dist-info")].rpartition("-")
            key = _canonical(name)
            if name and key not in found:
                found[key] = _Dist(name, version, os.path.join(folder or ".", entry))
    return found


def _entry_points(dist: _Dist) -> list[tuple[str, str]]:
    """``(name, "module:attribute")`` of the dist's ``[opentelemetry_instrumentor]`` section."""
    out, inside = [], False
    for line in dist.read("entry_points.txt").splitlines():
        line = line.strip()
        if line.startswith("["):
            inside = line == "[%s]" % GROUP
        elif inside and "=" in line:
            name, _, value = line.partition("=")
            out.append((name.strip(), value.strip()))
    return out


def _instrumented(dist: _Dist) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``(library, specifier)`` named by the ``instruments`` extra (all needed) and by
    ``instruments-any`` (one needed), from the METADATA's ``Requires-Dist`` lines."""
    import re

    every: list[tuple[str, str]] = []
    anyof: list[tuple[str, str]] = []
    for line in dist.read("METADATA").splitlines():
        if not line.startswith("Requires-Dist:"):
            if not line.strip():
                break  # the headers end at the first blank line; the description follows
            continue
        requirement, _, marker = line[len("Requires-Dist:") :].partition(";")
        extra = re.search(r"""extra\s*==\s*["']([^"']+)["']""", marker)
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*\(?([^)]*)\)?", requirement)
        if extra is None or match is None:
            continue
        item = (match.group(1), match.group(3).strip())
        if extra.group(1) == "instruments":
            every.append(item)
        elif extra.group(1) == "instruments-any":
            anyof.append(item)
    return every, anyof


def _top_level_modules(dist: _Dist) -> list[str]:
    """The importable top-level names a distribution installs: ``top_level.txt`` when it
    has one, else the first parts of the paths its RECORD lists (``fastapi/...``)."""
    text = dist.read("top_level.txt")
    if text:
        return sorted({line.strip() for line in text.splitlines() if line.strip() and not line.startswith("_")})
    names = set()
    for line in dist.read("RECORD").splitlines():
        path = line.split(",", 1)[0]
        first, sep, _ = path.partition("/")
        if not sep:
            if first.endswith(".py"):
                names.add(first[:-3])
        elif not first.endswith((".dist-info", ".data")) and first not in ("..", "__pycache__"):
            names.add(first)
    return sorted(n for n in names if n.isidentifier() and not n.startswith("_"))


def _outside(version: str, specifier: str) -> bool:
    """Whether ``version`` is outside ``specifier`` (``packaging``: ``weave-run list`` only;
    in the app, ``instrument()`` checks again and declines a conflict)."""
    if not specifier:
        return False
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import InvalidVersion, Version

    try:
        return not SpecifierSet(specifier).contains(Version(version), prereleases=True)
    except (InvalidSpecifier, InvalidVersion):
        return False


def discover(settings: Settings, ours: dict[str, str] | None = None, check_versions: bool = False) -> list[Found]:
    """Every installed ``opentelemetry_instrumentor`` entry point but weave-agent's own, with
    what to arm it on or why it is skipped. ``ours``: ``{distribution: instrumentation}`` of
    our enabled instrumentations (default: from the registry and ``settings``).
    ``check_versions``: also skip a library installed at a version the instrumentor does
    not accept (``weave-run list``; the launcher leaves that to ``instrument()``)."""
    if ours is None:
        ours = _our_distributions(settings)
    installed = _installed()
    found: list[Found] = []
    seen: set[str] = set()
    for key, dist in sorted(installed.items()):
        if key == _OWN_DISTRIBUTION:
            continue
        for ep_name, target in _entry_points(dist):
            if ep_name in seen:
                continue
            seen.add(ep_name)
            item = Found(ep_name, target, "%s %s" % (key, dist.version))
            found.append(item)
            _decide(item, dist, installed, settings, ours, check_versions)
    return found


def _decide(
    item: Found, dist: _Dist, installed: dict[str, _Dist], settings: Settings, ours: dict[str, str], check: bool
) -> None:
    if not settings.is_enabled(item.name):
        item.skipped = "disabled by the settings (OTEL_PYTHON_DISABLED_INSTRUMENTATIONS or ours)"
        return
    every, anyof = _instrumented(dist)
    if not every and not anyof:
        if item.name in getattr(sys, "stdlib_module_names", ()):
            item.triggers = [item.name]
        else:
            item.skipped = "it names no library to arm it on (opentelemetry-instrument would load it at start)"
        return
    satisfied: list[_Dist] = []
    problems: list[str] = []
    for name, specifier in [*every, *anyof]:
        library = installed.get(_canonical(name))
        if library is None:
            problems.append("%s is not installed" % name)
        elif check and _outside(library.version, specifier):
            problems.append("%s %s is outside %s" % (name, library.version, specifier))
        else:
            satisfied.append(library)
    names = {_canonical(d.name) for d in satisfied}
    if any(_canonical(n) not in names for n, _ in every) or (anyof and not any(_canonical(n) in names for n, _ in anyof)):
        item.skipped = "; ".join(problems) or "its library is not installed"
        return
    duplicate = next((ours[n] for n in sorted(names) if n in ours), None)
    if duplicate is not None:
        item.skipped = "weave-agent's %s instrumentation traces this library (two spans per call)" % duplicate
        return
    item.libraries = ["%s %s" % (_canonical(d.name), d.version) for d in satisfied]
    item.triggers = sorted({m for d in satisfied for m in _top_level_modules(d)})
    if not item.triggers:
        item.skipped = "no importable module found in %s" % ", ".join(item.libraries)


def _our_distributions(settings: Settings) -> dict[str, str]:
    from weave_agent.instrumentations.registry import INSTRUMENTATIONS

    return {
        _canonical(dist): name
        for name, _triggers, _module, dist, _versions in INSTRUMENTATIONS
        if settings.is_enabled(name) and _canonical(dist) not in _NOT_DUPLICATES
    }


def encode(found: Iterable[Found]) -> str:
    """``name|module:attribute|trigger,trigger;...`` for the armed ones."""
    return ";".join("%s|%s|%s" % (f.name, f.target, ",".join(f.triggers)) for f in found if f.skipped is None)


def arm_encoded(encoded: str, prepare: Callable[[], object] | None = None) -> list[str]:
    """In the app: one post-import hook per trigger module of each row; returns the names.
    ``prepare`` runs before each ``instrument()`` (the lifecycle passes the pipeline's
    start: the instrumentor's first span needs the global provider in place; the hook
    stage imports no pipeline itself)."""
    from . import importhook

    names = []
    for item in encoded.split(";") if encoded else ():
        fields = item.split("|")
        if len(fields) != 3 or ":" not in fields[1] or not fields[2]:
            _log.warn_once("otel-row:" + item, "ignored a malformed %s row %r", ROWS_ENV, item)
            continue
        name, target, triggers = fields
        hook = _Instrument(name, target, prepare)
        for trigger in triggers.split(","):
            importhook.when_imported(trigger, hook)
        names.append(name)
    return names


class _Instrument:
    """The hook of one instrumentor: the first import of any of its modules instruments."""

    __slots__ = ("name", "target", "prepare", "done")

    def __init__(self, name: str, target: str, prepare: Callable[[], object] | None = None) -> None:
        self.name, self.target, self.prepare, self.done = name, target, prepare, False

    def __call__(self, module: object) -> None:
        if self.done:
            return
        self.done = True
        try:
            if self.prepare is not None:
                self.prepare()
            import importlib

            module_name, _, attribute = self.target.partition(":")
            instrumentor = getattr(importlib.import_module(module_name), attribute)
            try:
                # as opentelemetry-instrument does: a version conflict declines quietly
                instrumentor().instrument(raise_exception_on_conflict=True)
            except Exception as exc:
                if type(exc).__name__ != "DependencyConflictError":
                    raise
                _log.debug("OpenTelemetry instrumentor %s not armed: %s", self.name, exc)
                return
            _log.debug("OpenTelemetry instrumentor %s instrumented (%s)", self.name, self.target)
        except Exception as exc:
            _log.error_once(
                "otel-instrumentor:" + self.name,
                "OpenTelemetry instrumentor %s (%s) failed to instrument (%s: %s); its library runs untraced by it",
                self.name, self.target, type(exc).__name__, exc,
            )  # fmt: skip
