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
package's ``instruments`` extra must all be installed at versions it accepts (``instruments-any``:
one of them). Left out, each with its reason for ``weave-run list``: packages that would
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
    from collections.abc import Iterable

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


def _top_level_modules(dist: object) -> list[str]:
    """The importable top-level names a distribution installs: ``top_level.txt`` when it
    has one, else the first parts of the paths it installed (``fastapi/...`` -> fastapi)."""
    text = dist.read_text("top_level.txt")  # type: ignore[attr-defined]
    if text:
        return sorted({line.strip() for line in text.splitlines() if line.strip() and not line.startswith("_")})
    names = set()
    for path in dist.files or ():  # type: ignore[attr-defined]
        parts = path.parts
        if not parts or parts[0].endswith((".dist-info", ".egg-info", ".data", ".pth")) or parts[0] in ("..", "__pycache__"):
            continue
        if len(parts) == 1:
            if parts[0].endswith(".py"):
                names.add(parts[0][:-3])
        elif parts[0].isidentifier():
            names.add(parts[0])
    return sorted(n for n in names if n.isidentifier() and not n.startswith("_"))


def _instrumented(dist: object) -> tuple[list[object], list[object]]:
    """The requirements of the ``instruments`` extra (all needed) and of ``instruments-any``
    (one needed), as ``packaging`` requirements."""
    from packaging.requirements import InvalidRequirement, Requirement

    every: list[object] = []
    anyof: list[object] = []
    for line in dist.requires or ():  # type: ignore[attr-defined]
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if req.marker is None:
            continue
        if req.marker.evaluate({"extra": "instruments"}):
            every.append(req)
        elif req.marker.evaluate({"extra": "instruments-any"}):
            anyof.append(req)
    return every, anyof


def discover(settings: Settings, ours: dict[str, str] | None = None) -> list[Found]:
    """Every installed ``opentelemetry_instrumentor`` entry point but weave-agent's own, with
    what to arm it on or why it is skipped. ``ours``: ``{distribution: instrumentation}`` of
    our enabled instrumentations (default: from the registry and ``settings``)."""
    from importlib.metadata import PackageNotFoundError, distribution, entry_points

    from packaging.version import InvalidVersion, Version

    if ours is None:
        ours = _our_distributions(settings)
    found: list[Found] = []
    seen: set[str] = set()
    for ep in entry_points(group=GROUP):
        dist = getattr(ep, "dist", None)
        package = _canonical(dist.metadata["Name"]) if dist is not None else "?"
        if package == _OWN_DISTRIBUTION or ep.name in seen:
            continue
        seen.add(ep.name)
        item = Found(ep.name, ep.value, "%s %s" % (package, dist.version) if dist is not None else package)
        found.append(item)
        if not settings.is_enabled(ep.name):
            item.skipped = "disabled by the settings (OTEL_PYTHON_DISABLED_INSTRUMENTATIONS or ours)"
            continue
        if dist is None:
            item.skipped = "its distribution is unknown"
            continue
        every, anyof = _instrumented(dist)
        if not every and not anyof:
            if ep.name in getattr(sys, "stdlib_module_names", ()):
                item.triggers = [ep.name]
            else:
                item.skipped = "it names no library to arm it on (opentelemetry-instrument would load it at start)"
            continue
        satisfied, problems = [], []
        for req in [*every, *anyof]:
            try:
                installed = distribution(req.name)  # type: ignore[attr-defined]
            except PackageNotFoundError:
                problems.append("%s is not installed" % req.name)  # type: ignore[attr-defined]
                continue
            try:
                fits = req.specifier.contains(Version(installed.version), prereleases=True)  # type: ignore[attr-defined]
            except InvalidVersion:
                fits = False
            if not fits:
                problems.append("%s %s is outside %s" % (req.name, installed.version, req.specifier))  # type: ignore[attr-defined]
                continue
            satisfied.append((req, installed))
        need_every = all(any(r is req for r, _ in satisfied) for req in every)
        if not need_every or (anyof and not any(r in anyof for r, _ in satisfied)):
            item.skipped = "; ".join(problems) or "its library is not installed"
            continue
        duplicate = next((ours[_canonical(r.name)] for r, _ in satisfied if _canonical(r.name) in ours), None)  # type: ignore[attr-defined]
        if duplicate is not None:
            item.skipped = "weave-agent's %s instrumentation traces this library (two spans per call)" % duplicate
            continue
        item.libraries = ["%s %s" % (r.name, d.version) for r, d in satisfied]  # type: ignore[attr-defined]
        item.triggers = sorted({m for _, d in satisfied for m in _top_level_modules(d)})
        if not item.triggers:
            item.skipped = "no importable module found in %s" % ", ".join(item.libraries)
    return found


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


def arm_encoded(encoded: str) -> list[str]:
    """In the app: one post-import hook per trigger module of each row; returns the names."""
    from . import importhook

    names = []
    for item in encoded.split(";") if encoded else ():
        fields = item.split("|")
        if len(fields) != 3 or ":" not in fields[1] or not fields[2]:
            _log.warn_once("otel-row:" + item, "ignored a malformed %s row %r", ROWS_ENV, item)
            continue
        name, target, triggers = fields
        hook = _Instrument(name, target)
        for trigger in triggers.split(","):
            importhook.when_imported(trigger, hook)
        names.append(name)
    return names


class _Instrument:
    """The hook of one instrumentor: the first import of any of its modules instruments."""

    __slots__ = ("name", "target", "done")

    def __init__(self, name: str, target: str) -> None:
        self.name, self.target, self.done = name, target, False

    def __call__(self, module: object) -> None:
        if self.done:
            return
        self.done = True
        try:
            from ..export import telemetry

            if not telemetry.setting_up():  # else this import is the set-up's own: it is nearly done
                telemetry.tracer()  # the global provider in place before the instrumentor's first span
            import importlib

            module_name, _, attribute = self.target.partition(":")
            instrumentor = getattr(importlib.import_module(module_name), attribute)
            instrumentor().instrument()
            _log.debug("OpenTelemetry instrumentor %s instrumented (%s)", self.name, self.target)
        except Exception as exc:
            _log.error_once(
                "otel-instrumentor:" + self.name,
                "OpenTelemetry instrumentor %s (%s) failed to instrument (%s: %s); its library runs untraced by it",
                self.name, self.target, type(exc).__name__, exc,
            )  # fmt: skip
