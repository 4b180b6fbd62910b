"""``weave-run list``: every instrumentation, its library, the installed, supported and
tested versions, whether it is enabled, and the modules whose import arms it; then the
installed OpenTelemetry instrumentors, each armed on which import or skipped and why.

The output fits the terminal (``COLUMNS``, else the terminal's width, else 80 when stdout
is not a terminal): the triggers (long dotted module names) are the last column when there
is room for them, else they go on their own lines under each row; when even the other
columns do not fit, each instrumentation is printed as a block of ``key value`` lines.
"""

from __future__ import annotations

import textwrap

if False:  # typing only
    from collections.abc import Mapping

# "name", not "instrumentation", and the verdict on the installed version in its own cell
# ("3.0 (unsupported)") rather than a "yes (range)" in every row: with library names of 16
# characters (llama-index-core), "not installed" and the longest ranges, a row fits 80 columns.
HEADER = ("name", "library", "installed", "supported", "tested", "enabled")
TRIGGERS = "triggers"
GAP = "  "
# The narrowest triggers column worth drawing: below it, the triggers go under the rows.
MIN_TRIGGERS_WIDTH = 30


def rows(environ: Mapping[str, str] | None = None) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """One ``(cells, triggers)`` per instrumentation, by name; cells as ``HEADER``."""
    from weave_agent.instrumentations.registry import TESTED_VERSIONS

    from ..hook.arming import known
    from ..hook.registry import installed_version, supports
    from ..settings import Settings

    settings = Settings.load(environ)
    table: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
    for row in sorted(known(include_entry_points=True).values(), key=lambda r: r.name):
        version = installed_version(row.distribution)
        span = row.versions or "any"
        if version is None:
            installed = "not installed" if row.distribution else "-"
        else:
            verdict = supports(row, version)
            installed = version if verdict else "%s (%s)" % (version, "unsupported" if verdict is False else "?")
        supported = span
        tested = TESTED_VERSIONS.get(row.distribution or "", "-") if row.source == "builtin" else "-"
        cells = (
            row.name,
            row.distribution or "-",
            installed,
            supported,
            tested,
            "yes" if settings.is_enabled(row.name) else "no",
        )
        table.append((cells, row.triggers))
    return table


def render(table: list[tuple[tuple[str, ...], tuple[str, ...]]], width: int) -> list[str]:
    """The lines of the listing at most ``width`` characters wide (a word longer than the
    width, a module name in a 20-column terminal, is cut)."""
    width = max(width, 20)
    if not table:
        return ["(no instrumentations are registered)"]
    widths = [max(len(cells[i]) for cells in [HEADER] + [c for c, _ in table]) for i in range(len(HEADER))]
    fixed = sum(widths) + len(GAP) * (len(widths) - 1)
    if fixed > width:
        return _blocks(table, width)
    room = width - fixed - len(GAP)
    if room >= MIN_TRIGGERS_WIDTH:
        out = [_line(HEADER + (TRIGGERS,), widths + [room])]
        for cells, triggers in table:
            wrapped = _wrap(", ".join(triggers), room)
            out.append(_line(cells + (wrapped[0],), widths + [room]))
            indent = " " * (fixed + len(GAP))
            out.extend(indent + line for line in wrapped[1:])
        return out
    out = [_line(HEADER, widths)]
    for cells, triggers in table:
        out.append(_line(cells, widths))
        out.extend(_wrap(", ".join(triggers), width, "  triggers: ", "            "))
    return out


def _line(cells: tuple[str, ...], widths: list[int]) -> str:
    return GAP.join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)).rstrip()


def _wrap(text: str, width: int, first: str = "", rest: str = "") -> list[str]:
    return textwrap.wrap(
        text, width, initial_indent=first, subsequent_indent=rest, break_on_hyphens=False
    ) or [first.rstrip()]


def _blocks(table: list[tuple[tuple[str, ...], tuple[str, ...]]], width: int) -> list[str]:
    """One block per instrumentation: its name, then ``key value`` lines."""
    keys = HEADER[1:] + (TRIGGERS,)
    pad = max(len(k) for k in keys) + len(GAP)
    out: list[str] = []
    for cells, triggers in table:
        if out:
            out.append("")
        out.append(cells[0])
        for key, value in zip(keys, cells[1:] + (", ".join(triggers),), strict=True):
            first = ("  " + key).ljust(pad + 2)
            out.extend(_wrap(value, width, first, " " * (pad + 2)))
    return out


def terminal_width() -> int:
    import shutil

    return shutil.get_terminal_size((80, 24)).columns


INSTRUMENTORS_TITLE = "OpenTelemetry instrumentors (entry points %s), armed by weave-run:"


def instrumentor_lines(environ: Mapping[str, str] | None, width: int) -> list[str]:
    """The installed OpenTelemetry instrumentors, each with what weave-run does with it:
    armed on the import of which modules, or skipped and why (nothing when none is
    installed)."""
    from ..hook import otel_instrumentors
    from ..settings import Settings

    settings = Settings.load(environ)
    found = otel_instrumentors.discover(settings, check_versions=True)
    if not found:
        return []
    width = max(width, 20)
    pad = min(max(len(f.name) for f in found) + len(GAP), width // 3)
    out = ["", *_wrap(INSTRUMENTORS_TITLE % otel_instrumentors.GROUP, width)]
    for f in sorted(found, key=lambda f: f.name):
        status = f.status if settings.otel_instrumentors else "off (WEAVE_AGENT_OTEL_INSTRUMENTORS=false)"
        out.extend(_wrap(status, width, f.name.ljust(pad), " " * pad))
        detail = f.package + (", for " + ", ".join(f.libraries) if f.libraries else "")
        out.extend(_wrap(detail, width, " " * (pad + 2), " " * (pad + 2)))
    return out


def main(environ: Mapping[str, str] | None = None) -> int:
    width = terminal_width()
    for line in render(rows(environ), width) + instrumentor_lines(environ, width):
        print(line)
    return 0
