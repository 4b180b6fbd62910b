"""Arming instrumentations: registry rows become post-import hooks that patch.

``arm(row)`` registers a hook on each trigger module; the first trigger that is imported
activates the row: the installed vendor version is checked against the supported range,
the instrumentation module is imported and its patcher applied. (The telemetry pipeline
is not set up here: the first span does that.) ``disarm`` removes the hooks and undoes
the patch.
"""

from __future__ import annotations

from _thread import RLock

from .. import _log
from . import importhook
from .registry import Instrumentation, all_instrumentations, builtin, installed_version, supports

if False:  # typing only
    from typing import Any

    from ..settings import Settings
    from .patcher import Patcher

_lock = RLock()


class _Armed:
    __slots__ = ("row", "hooks", "patcher", "active", "seen")

    def __init__(self, row: Instrumentation) -> None:
        self.row = row
        self.hooks: list[tuple[str, object]] = []
        self.patcher: Patcher | None = None
        self.active = False
        # trigger name -> the module object its hook last saw (weakly): another object
        # under the same name is the library imported again from scratch.
        self.seen: dict[str, Any] = {}


_armed: dict[str, _Armed] = {}
_rows: dict[str, Instrumentation] | None = None
_entry_points_read = False


def known(include_entry_points: bool = True) -> dict[str, Instrumentation]:
    """Every known row; entry points are read the first time they are asked for."""
    global _rows, _entry_points_read
    with _lock:
        if _rows is None:
            _rows = builtin()
        if include_entry_points and not _entry_points_read:
            _entry_points_read = True
            for name, row in all_instrumentations(include_entry_points=True).items():
                _rows.setdefault(name, row)
        return dict(_rows)


def register(row: Instrumentation) -> None:
    """Add a row at run time (tests, or a package that does not use entry points)."""
    global _rows
    with _lock:
        if _rows is None:
            _rows = builtin()
        _rows[row.name] = row


def _lookup(name: str) -> Instrumentation:
    rows = known(include_entry_points=False)
    if name.lower() not in rows:
        rows = known(include_entry_points=True)
    row = rows.get(name.lower())
    if row is None:
        raise ValueError(
            "unknown instrumentation %r; known: %s" % (name, ", ".join(sorted(rows)) or "(none)")
        )
    return row


def arm(row: Instrumentation) -> None:
    """Patch ``row`` now if a trigger is imported, else when one is."""
    with _lock:
        if row.name in _armed:
            return
        armed = _Armed(row)
        _armed[row.name] = armed

    for trigger in row.triggers:

        def hook(module: object, _armed_row: _Armed = armed, _trigger: str = trigger) -> None:
            _on_trigger(_armed_row, _trigger, module)

        armed.hooks.append((trigger, hook))
        importhook.when_imported(trigger, hook)


def _on_trigger(armed: _Armed, trigger: str, module: object) -> None:
    """A trigger module was imported: activate the row, or, when this name was seen
    before as another module object, patch the fresh import again.

    ``importlib.reload`` executes into the same object and SDK patchers that resolve
    their targets at patch time already follow it; a purge of ``sys.modules`` followed
    by an import makes new objects that nothing patched. Undoing and redoing the whole
    patcher is the one way that fits every patcher: the targets are looked up again,
    and the stale objects of the old import get their originals back.
    """
    import weakref

    previous = armed.seen.get(trigger)
    try:
        armed.seen[trigger] = weakref.ref(module)
    except TypeError:
        armed.seen[trigger] = lambda: module
    if previous is None or previous() is module or not armed.active:
        _activate(armed)
        return
    patcher = armed.patcher
    if patcher is None:
        return  # the row declined (an unsupported version): nothing to redo
    try:
        patcher.undo_patch()
        complete = patcher.attempt_patch()
        _log.debug("%s was imported again (a fresh module object): %s patched again%s", trigger, armed.row.name,
                   "" if complete else ", some targets were missing")
    except Exception:
        _log.error_once("repatch:" + armed.row.name,
                        "instrumentation %s failed to patch %s imported again; its calls run untraced",
                        armed.row.name, trigger)


def _activate(armed: _Armed) -> None:
    with _lock:
        if armed.active or _armed.get(armed.row.name) is not armed:
            return
        armed.active = True
    row = armed.row
    try:
        version = installed_version(row.distribution)
        ok = supports(row, version)
        if ok is False:
            _log.debug(
                "%s %s is not supported (supported: %s): not patched", row.distribution, version, row.versions
            )
            return
        import importlib

        module = importlib.import_module(row.module)
        patcher = getattr(module, row.patcher)
        armed.patcher = patcher
        complete = patcher.attempt_patch()
        _log.debug(
            "patched %s (%s %s)%s",
            row.name,
            row.distribution or "version",
            version or "unknown",
            "" if complete else ": some targets were missing, see the lines above",
        )
    except Exception:
        _log.error_once("activate:" + row.name, "instrumentation %s failed to patch; the app runs untraced by it", row.name)


def disarm(name: str) -> bool:
    """Remove the hooks of ``name`` and undo its patch. True if it was armed."""
    with _lock:
        armed = _armed.pop(name, None)
    if armed is None:
        return False
    for trigger, hook in armed.hooks:
        importhook.remove_hook(trigger, hook)  # type: ignore[arg-type]
    if armed.patcher is not None:
        try:
            armed.patcher.undo_patch()
        except Exception:
            _log.error_once("undo:" + name, "instrumentation %s failed to undo its patch", name)
    _log.debug("unpatched %s", name)
    return True


def armed() -> dict[str, bool]:
    """Armed instrumentation names, each with whether it has patched yet."""
    with _lock:
        return {name: a.active and a.patcher is not None for name, a in _armed.items()}


def autopatch(settings: Settings | None = None, include_entry_points: bool = True) -> list[str]:
    """Arm every instrumentation the settings enable; returns their names."""
    if settings is None:
        from ..settings import Settings

        settings = Settings.load()
    if not settings.enabled:
        return []
    importhook.install()
    names = []
    for name, row in sorted(known(include_entry_points).items()):
        if settings.is_enabled(name):
            arm(row)
            names.append(name)
        else:
            _log.debug("%s is disabled by the settings: not armed", name)
    return names


def patch(**names: bool) -> None:
    """``patch(openai=True, langchain=False)``: arm the names given True, disarm the others."""
    for name in names:
        _lookup(name)  # unknown names fail before anything changes
    importhook.install()
    for name, on in names.items():
        if on:
            arm(_lookup(name))
        else:
            disarm(name.lower())


def unpatch(*names: str, **flags: bool) -> None:
    """Undo instrumentations by name (``unpatch("openai")`` or ``unpatch(openai=True)``);
    with no names, all of them."""
    selected = list(names) + [n for n, on in flags.items() if on]
    for name in selected:
        _lookup(name)
    if not selected and not flags:
        with _lock:
            selected = list(_armed)
    for name in selected:
        disarm(name.lower())
