"""The instrumentation registry: built-in rows plus third-party entry points.

Built-in rows are plain data in ``weave_agent.instrumentations.registry``. Third-party
packages add rows through the entry-point group ``weave_agent.instrumentations``; each
entry point loads an ``Instrumentation`` (or a tuple in the built-in row form). Entry
points are only read when asked for (``autopatch()``, ``weave-run``): scanning installed
distributions costs milliseconds that a bootstrap must not pay.
"""

from __future__ import annotations

from .. import _log

ENTRY_POINT_GROUP = "weave_agent.instrumentations"
_BUILTIN_PACKAGE = "weave_agent.instrumentations"


class Instrumentation:
    """One row: ``name`` is armed when any of ``triggers`` is imported.

    ``module`` is the importable module that exports the patcher (attribute ``patcher``,
    default ``<name>_patcher``); ``distribution`` and ``versions`` (a PEP 440 specifier)
    say which installed vendor versions it supports.
    """

    __slots__ = ("name", "triggers", "module", "distribution", "versions", "patcher", "source")

    def __init__(
        self,
        name: str,
        triggers: tuple[str, ...] | list[str] | str,
        module: str,
        distribution: str | None = None,
        versions: str | None = None,
        patcher: str | None = None,
        source: str = "builtin",
    ) -> None:
        if not name or not name.replace("_", "").replace("-", "").isalnum():
            raise ValueError("instrumentation name must be a word like 'openai', got %r" % (name,))
        self.name = name.lower()
        self.triggers = (triggers,) if isinstance(triggers, str) else tuple(triggers)
        if not self.triggers:
            raise ValueError("instrumentation %r needs at least one trigger module" % (name,))
        self.module = module
        self.distribution = distribution
        self.versions = versions
        self.patcher = patcher or "%s_patcher" % self.name.replace("-", "_")
        self.source = source

    def __repr__(self) -> str:
        return "Instrumentation(%r, triggers=%r, module=%r, versions=%r)" % (
            self.name,
            self.triggers,
            self.module,
            self.versions,
        )


def builtin() -> dict[str, Instrumentation]:
    from weave_agent.instrumentations.registry import INSTRUMENTATIONS

    rows = {}
    for name, triggers, module, distribution, versions in INSTRUMENTATIONS:
        rows[name] = Instrumentation(name, triggers, _BUILTIN_PACKAGE + "." + module, distribution, versions)
    return rows


def _coerce(value: object, source: str) -> Instrumentation:
    if isinstance(value, Instrumentation):
        value.source = source
        return value
    if isinstance(value, (tuple, list)) and len(value) == 5:
        name, triggers, module, distribution, versions = value
        return Instrumentation(name, triggers, module, distribution, versions, source=source)
    raise TypeError("entry point must load an Instrumentation or a 5-tuple row, got %r" % (value,))


def from_entry_points() -> dict[str, Instrumentation]:
    """Rows contributed by installed distributions. A broken entry point is skipped."""
    from importlib.metadata import entry_points

    rows: dict[str, Instrumentation] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            row = _coerce(ep.load(), "entry point %s" % ep.value)
        except Exception as exc:
            _log.warn_once(
                "entrypoint:" + ep.value,
                "instrumentation entry point %s = %s could not be loaded (%s: %s); skipped",
                ep.name,
                ep.value,
                type(exc).__name__,
                exc,
            )
            continue
        rows[row.name] = row
    return rows


def all_instrumentations(include_entry_points: bool = True) -> dict[str, Instrumentation]:
    rows = builtin()
    if include_entry_points:
        for name, row in from_entry_points().items():
            if name in rows:
                _log.warn_once(
                    "ep-dup:" + name,
                    "instrumentation %r from %s ignored: a built-in one has that name",
                    name,
                    row.source,
                )
                continue
            rows[name] = row
    return rows


def installed_version(distribution: str | None) -> str | None:
    if not distribution:
        return None
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def supports(row: Instrumentation, version: str | None) -> bool | None:
    """True/False for a known version against the row's range; None when unknowable."""
    if version is None or not row.versions:
        return None
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import InvalidVersion, Version

    try:
        return Version(version) in SpecifierSet(row.versions)
    except (InvalidSpecifier, InvalidVersion):
        return None
