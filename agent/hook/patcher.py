"""Patchers: the seed API of Weave's ``weave.trace.patcher``, made exactly reversible.

A ``SymbolPatcher`` finds the object that *defines* the attribute (for a class, the first
class of the MRO whose ``__dict__`` holds it), takes the raw value from that ``__dict__``
(so a ``staticmethod``, ``classmethod`` or ``property`` stays a descriptor), gives it to
``make_new_value`` and sets the result there. ``undo_patch`` puts the very same object
back (``is``), and only if the attribute still holds what we set: a wrapper somebody
added on top of ours is not silently dropped.

A target that is missing (an SDK version that moved it) makes ``attempt_patch`` return
False with one debug line; nothing is patched.

A ``ModulePatcher`` waits for one module's own import before it patches what that module
defines: SDKs load their resources lazily, and importing them all from the first
trigger's hook would make every user pay for every part.
"""

from __future__ import annotations

import sys
from _thread import RLock
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from .. import _log
from . import importhook

_MISSING = object()


class Patcher:
    """Something that can be applied and undone. Both return True on success."""

    def attempt_patch(self) -> bool:
        raise NotImplementedError

    def undo_patch(self) -> bool:
        raise NotImplementedError


class MultiPatcher(Patcher):
    """Applies every patcher it holds; True only if all of them succeeded.

    Each patcher is tried even when an earlier one failed, so an SDK version that lacks
    one API (say, the Responses API) still gets the others patched.
    """

    def __init__(self, patchers: Sequence[Patcher]) -> None:
        self.patchers = list(patchers)

    def attempt_patch(self) -> bool:
        ok = True
        for patcher in self.patchers:
            try:
                ok = patcher.attempt_patch() and ok
            except Exception:
                _log.error_once("patch:%r" % (patcher,), "patcher %r raised while patching", patcher)
                ok = False
        return ok

    def undo_patch(self) -> bool:
        ok = True
        for patcher in reversed(self.patchers):
            try:
                ok = patcher.undo_patch() and ok
            except Exception:
                _log.error_once("undo:%r" % (patcher,), "patcher %r raised while undoing", patcher)
                ok = False
        return ok

    def __repr__(self) -> str:
        return "MultiPatcher(%r)" % (self.patchers,)


def _defining_owner(obj: Any, attr: str) -> Any:
    """The object whose ``__dict__`` holds ``attr`` as seen through ``obj``, or None."""
    if isinstance(obj, type):
        for klass in obj.__mro__:
            if attr in vars(klass):
                return klass
        return None
    d = getattr(obj, "__dict__", None)
    if isinstance(d, dict) and attr in d:
        return obj
    return None


class SymbolPatcher(Patcher):
    """Replaces ``get_base_symbol()`` + ``attribute_path`` with ``make_new_value(original)``.

    ``get_base_symbol`` is a zero-argument callable, typically an import; it runs at patch
    time, never at construction. ``attribute_path`` is dotted (``"Completions.create"``).
    ``make_new_value`` receives the raw attribute as stored (a descriptor stays a
    descriptor) and returns its replacement.
    """

    def __init__(
        self,
        get_base_symbol: Callable[[], Any],
        attribute_path: str,
        make_new_value: Callable[[Any], Any],
    ) -> None:
        if not attribute_path or attribute_path.startswith(".") or attribute_path.endswith("."):
            raise ValueError("attribute_path must be a dotted path like 'Completions.create', got %r" % (attribute_path,))
        self._get_base_symbol = get_base_symbol
        self.attribute_path = attribute_path
        # Split once, interned: ``getattr`` with a fresh string each patch leaves that
        # string in CPython's type attribute cache (up to 4096 of them), which a
        # patch/unpatch loop would see as growth.
        self._parts = tuple(sys.intern(p) for p in attribute_path.split("."))
        self._make_new_value = make_new_value
        self._owner: Any = None
        self._attr: str = ""
        self._original: Any = _MISSING
        self._new: Any = _MISSING

    def __repr__(self) -> str:
        return "SymbolPatcher(%r)" % (self.attribute_path,)

    @property
    def patched(self) -> bool:
        return self._new is not _MISSING

    def _resolve(self) -> tuple[Any, str] | None:
        try:
            obj = self._get_base_symbol()
        except Exception as exc:
            _log.debug("patch %s skipped: base symbol unavailable (%s: %s)", self.attribute_path, type(exc).__name__, exc)
            return None
        *parents, attr = self._parts
        for part in parents:
            try:
                obj = getattr(obj, part)
            except AttributeError:
                _log.debug("patch %s skipped: %r has no attribute %r", self.attribute_path, obj, part)
                return None
        owner = _defining_owner(obj, attr)
        if owner is None:
            _log.debug("patch %s skipped: %r has no attribute %r", self.attribute_path, obj, attr)
            return None
        return owner, attr

    def attempt_patch(self) -> bool:
        if self.patched:
            return True
        resolved = self._resolve()
        if resolved is None:
            return False
        owner, attr = resolved
        original = vars(owner)[attr]
        new = self._make_new_value(original)
        setattr(owner, attr, new)
        self._owner, self._attr, self._original, self._new = owner, attr, original, new
        return True

    def undo_patch(self) -> bool:
        if not self.patched:
            return False
        owner, attr = self._owner, self._attr
        current = vars(owner).get(attr, _MISSING)
        ok = current is self._new
        if ok:
            setattr(owner, attr, self._original)
        else:
            _log.debug("undo %s: the attribute was replaced by someone else since; left as it is", self.attribute_path)
        self._owner, self._attr, self._original, self._new = None, "", _MISSING, _MISSING
        return ok


class ModulePatcher(Patcher):
    """Applies ``make_patchers(module)`` when module ``name`` has been imported (at once,
    if it already is), and undoes them with ``undo_patch``.

    ``missing(module)`` lists what the patchers need that this module lacks (an SDK
    version with another structure): then nothing of it is patched and one debug line
    says what was missing. ``attempt_patch`` returns False once that happened.
    """

    def __init__(
        self,
        name: str,
        make_patchers: Callable[[ModuleType], Sequence[Patcher]],
        missing: Callable[[ModuleType], list[str]] | None = None,
    ) -> None:
        self.name = name
        self._make_patchers = make_patchers
        self._missing = missing
        self._lock = RLock()
        self._hook: Callable[[ModuleType], None] | None = None
        self._applied: list[Patcher] | None = None
        self._failed = False

    def __repr__(self) -> str:
        return "ModulePatcher(%r)" % (self.name,)

    def attempt_patch(self) -> bool:
        with self._lock:
            if self._hook is None:
                self._hook = self._apply
                importhook.when_imported(self.name, self._hook)  # runs now if imported already
            return not self._failed

    def _apply(self, module: ModuleType) -> None:
        with self._lock:
            if self._applied is not None or self._hook is None:
                return
            missing = self._missing(module) if self._missing is not None else []
            if missing:
                self._failed = True
                _log.debug_once(
                    "module-patcher:" + self.name,
                    "%s has another structure (missing %s): left unpatched, its calls run untraced",
                    self.name,
                    ", ".join(missing),
                )
                return
            patchers = list(self._make_patchers(module))
            for patcher in patchers:
                if not patcher.attempt_patch():
                    self._failed = True
            self._applied = patchers

    def undo_patch(self) -> bool:
        with self._lock:
            hook, self._hook = self._hook, None
            applied, self._applied = self._applied, None
            self._failed = False
        if hook is None:
            return False
        importhook.remove_hook(self.name, hook)
        ok = True
        for patcher in reversed(applied or []):
            ok = patcher.undo_patch() and ok
        return ok
