"""Post-import hooks through one ``sys.meta_path`` finder.

One mechanism: a module name that somebody watches is resolved by the *other* finders,
and the loader of the spec they return is wrapped so that the hooks run right after the
module body executed, before the importing code receives the module. Everything else
costs the finder one set lookup.

Edge cases, stated:

* The other finders are walked by hand (never ``importlib.util.find_spec``, which takes
  the import lock and deadlocks when an import starts a thread that imports).
* The in-progress check-and-set runs under the finder's lock; hooks run outside it.
* A hook that raises is logged once and the import goes on.
* Namespace packages come back from ``PathFinder`` with ``loader=None`` (3.11): the
  wrapper then plays the namespace loader and leaves the module exactly as importlib
  would (a ``NamespaceLoader``, ``__file__ = None``).
* Loaders without ``exec_module`` (legacy ``load_module``) get a legacy wrapper.
* After the body ran, ``__loader__`` and ``__spec__.loader`` are the real loader again,
  so ``importlib.resources``, ``pkgutil`` and ``get_code`` see what they would without
  the agent. ``importlib.util.LazyLoader`` works: the hooks run when the body runs.
* ``importlib.reload`` goes through the finder again, so the hooks run again.
* ``python -m target`` executes ``target`` as ``__main__`` through ``runpy._run_code``,
  which never calls ``exec_module``; ``runpy`` itself is watched and its ``_run_code``
  wrapped so that hooks on ``target`` run with the ``__main__`` module once its body
  has run.
* Hooks are keyed by the full dotted name: ``pkg.sub`` fires when ``pkg.sub`` is
  imported, whoever imports it (``from pkg import sub`` included).
* The finder stays first on ``sys.meta_path``: one inserted ahead of it later (pytest's
  assertion rewriter, for conftest files and ``register_assert_rewrite`` modules) is
  moved behind it the next time the finder is asked for any name.

Only ``sys`` and ``_thread`` are imported here: the bootstrap must stay cheap and must
not import ``threading`` (gevent) or ``logging``.
"""

from __future__ import annotations

import sys
from _thread import RLock, get_ident

from .. import _log

# importlib's fallback for finders without find_spec (gone with find_module in 3.12).
_find_spec_legacy = getattr(sys.modules["_frozen_importlib"], "_find_spec_legacy", None)

if False:  # typing only; `typing` is not imported at run time (bootstrap cost)
    from collections.abc import Callable
    from types import ModuleType

    Hook = Callable[[ModuleType], object]

_lock = RLock()
_hooks: dict[str, list] = {}  # module name -> hooks, in registration order
_watched: set[str] = set()  # names the finder resolves; read without the lock
_RUNPY = "runpy"


def _run_hooks(name: str, module: object) -> None:
    with _lock:
        hooks = list(_hooks.get(name, ()))
    for hook in hooks:
        try:
            hook(module)
        except Exception:
            _log.error_once(
                "hook:%s:%r" % (name, hook),
                "post-import hook %r for %s raised; the import goes on",
                hook,
                name,
            )


class _LoaderProxy:
    """Forwards unknown attributes to the real loader.

    Code that inspects the loader while the body runs (resource readers,
    ``get_filename``, ``is_package``) sees the real one's behaviour, and ``hasattr``
    answers as it would for the real loader.
    """

    def __init__(self, loader: object, name: str) -> None:
        self.__dict__["_weave_loader"] = loader
        self.__dict__["_weave_name"] = name

    def __getattr__(self, attr: str) -> object:
        return getattr(self.__dict__["_weave_loader"], attr)

    def __repr__(self) -> str:
        return "<weave_agent hooked %r>" % (self.__dict__["_weave_loader"],)


class _HookedLoader(_LoaderProxy):
    """Runs the hooks after ``exec_module``."""

    def create_module(self, spec):  # type: ignore[no-untyped-def]
        create = getattr(self._weave_loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module):  # type: ignore[no-untyped-def]
        real = self._weave_loader
        try:
            real.exec_module(module)
        finally:  # a failed reload leaves the module in sys.modules: no proxy on it
            _restore_loader(module, self, real)
        _run_hooks(self._weave_name, module)


class _HookedLegacyLoader(_LoaderProxy):
    """For loaders that only implement the pre-3.4 ``load_module`` protocol."""

    def load_module(self, fullname):  # type: ignore[no-untyped-def]
        real = self._weave_loader
        previous = sys.modules.get(fullname)  # a reload: importlib put our proxy on it
        try:
            module = real.load_module(fullname)
        finally:
            # importlib copies spec.loader onto a module that has no __loader__ after
            # load_module returns: make that the real loader, as without the agent.
            spec = self.__dict__.get("_weave_spec")
            if spec is not None and spec.loader is self:
                spec.loader = real
            if previous is not None:
                _restore_loader(previous, self, real)
        _restore_loader(module, self, real)
        if previous is None and spec is not None:
            # What importlib sets after load_module returns, set before the hooks run.
            for attr, value in (("__loader__", real), ("__spec__", spec)):
                if getattr(module, attr, None) is None:
                    try:
                        setattr(module, attr, value)
                    except Exception:
                        pass
        _run_hooks(self._weave_name, module)
        return module


class _HookedNamespaceLoader(_HookedLoader):
    """Stands in for ``loader=None`` on a namespace-package spec."""

    def create_module(self, spec):  # type: ignore[no-untyped-def]
        return None

    def exec_module(self, module):  # type: ignore[no-untyped-def]
        import _frozen_importlib_external as bootstrap_external

        cls = getattr(bootstrap_external, "NamespaceLoader", None) or bootstrap_external._NamespaceLoader
        spec = module.__spec__
        # What importlib's _init_module_attrs does for a spec without a loader.
        real = cls.__new__(cls)
        real._path = spec.submodule_search_locations
        spec.loader = real
        module.__loader__ = real
        module.__file__ = None
        _run_hooks(self._weave_name, module)

    def __getattr__(self, attr: str) -> object:
        raise AttributeError(attr)


def _restore_loader(module: object, hooked: object, real: object) -> None:
    try:
        if getattr(module, "__loader__", None) is hooked:
            module.__loader__ = real  # type: ignore[attr-defined]
        spec = getattr(module, "__spec__", None)
        if spec is not None and spec.loader is hooked:
            spec.loader = real
    except Exception:  # a module object that refuses attributes: keep going
        _log.debug_once("restore:" + type(module).__name__, "could not restore __loader__ on %r", module)


class Finder:
    """The one meta-path finder. Unwatched names cost one set lookup."""

    def __init__(self) -> None:
        self._in_progress: set[tuple[int, str]] = set()

    def __repr__(self) -> str:
        return "<weave_agent import-hook finder>"

    def find_spec(self, fullname, path=None, target=None):  # type: ignore[no-untyped-def]
        if sys.meta_path[0] is not self:
            _to_front(self)
        if fullname not in _watched:
            return None
        key = (get_ident(), fullname)
        with _lock:
            if key in self._in_progress:
                return None  # another finder asked the import system again: step aside
            self._in_progress.add(key)
        try:
            spec = self._find_real_spec(fullname, path, target)
        finally:
            with _lock:
                self._in_progress.discard(key)
        if spec is None:
            return None
        loader = spec.loader
        if isinstance(loader, _LoaderProxy):
            return spec
        if loader is None:
            if spec.submodule_search_locations is None:
                return spec  # not ours to fix: importlib raises as it would have
            spec.loader = _HookedNamespaceLoader(None, fullname)
        elif hasattr(loader, "exec_module"):
            spec.loader = _HookedLoader(loader, fullname)
        elif hasattr(loader, "load_module"):
            hooked = _HookedLegacyLoader(loader, fullname)
            hooked.__dict__["_weave_spec"] = spec
            spec.loader = hooked
        return spec

    def _find_real_spec(self, fullname, path, target):  # type: ignore[no-untyped-def]
        # The finders ahead of us already said no (or we would not be asked): ask the
        # ones behind us, in order, as the import system would have.
        finders = list(sys.meta_path)
        try:
            finders = finders[finders.index(self) + 1 :]
        except ValueError:
            pass
        for finder in finders:
            find = getattr(finder, "find_spec", None)
            if find is not None:
                spec = find(fullname, path, target)
            elif _find_spec_legacy is not None:
                # A finder with only find_module (3.10/3.11): as importlib would.
                spec = _find_spec_legacy(finder, fullname, path)
            else:
                continue
            if spec is not None:
                return spec
        return None

    def invalidate_caches(self) -> None:
        pass


_finder: Finder | None = None


def _to_front(finder: Finder, insert: bool = False) -> None:
    """Keep the finder at ``sys.meta_path[0]``.

    A finder inserted ahead of ours later (pytest's assertion rewriter, which conftest
    files and ``pytest.register_assert_rewrite`` modules go through; typeguard; beartype)
    would otherwise load watched modules itself, and their hooks would never run. Ours
    only returns specs for watched names, found by walking the other finders in order,
    so being first changes nothing for any other import. ``find_spec`` calls this when
    it is asked while not first; the other entries keep their relative order. A finder
    that was uninstalled is never put back (unless ``insert``, from ``install()``).
    """
    meta_path = sys.meta_path
    with _lock:
        if finder in meta_path:
            if meta_path[0] is not finder:
                meta_path.remove(finder)
                meta_path.insert(0, finder)
        elif insert:
            meta_path.insert(0, finder)


def install() -> None:
    """Put the finder at the front of ``sys.meta_path``. Idempotent."""
    global _finder
    with _lock:
        if _finder is None:
            _finder = Finder()
        _to_front(_finder, insert=True)
        _watch_runpy()


def uninstall() -> None:
    """Remove the finder; every other entry of ``sys.meta_path`` stays where it is."""
    with _lock:
        if _finder is not None:
            while _finder in sys.meta_path:
                sys.meta_path.remove(_finder)
        _unwrap_runpy()


def installed() -> bool:
    return _finder is not None and _finder in sys.meta_path


def when_imported(name: str, hook: Hook | None = None):  # type: ignore[no-untyped-def]
    """Run ``hook(module)`` each time module ``name`` has executed its body.

    Usable as ``when_imported("pkg.sub", hook)`` or as a decorator
    ``@when_imported("pkg.sub")``. If the module is already imported the hook runs now.
    Registering the same hook twice for a name is a no-op. Returns the hook.
    """
    if not isinstance(name, str) or not name or name.startswith(".") or name.endswith("."):
        raise ValueError("when_imported() needs an absolute dotted module name, got %r" % (name,))
    if hook is None:

        def decorator(fn):  # type: ignore[no-untyped-def]
            return when_imported(name, fn)

        return decorator
    with _lock:
        hooks = _hooks.setdefault(name, [])
        if hook in hooks:
            return hook
        hooks.append(hook)
        _watched.add(name)
    module = sys.modules.get(name)
    if module is not None and not _initializing(module):
        try:
            hook(module)
        except Exception:
            _log.error_once(
                "hook:%s:%r" % (name, hook), "post-import hook %r for %s raised", hook, name
            )
    return hook


def remove_hook(name: str, hook: Hook) -> bool:
    """Forget one hook; True if it was registered."""
    with _lock:
        hooks = _hooks.get(name)
        if not hooks or hook not in hooks:
            return False
        hooks.remove(hook)
        if not hooks:
            del _hooks[name]
            if name != _RUNPY or not _runpy_wrapped():
                _watched.discard(name)
        return True


def watched() -> frozenset[str]:
    return frozenset(_watched)


def _initializing(module: object) -> bool:
    # A module in sys.modules whose body is still running (circular import, or the
    # registration came from the body itself): our loader runs the hook when it ends.
    spec = getattr(module, "__spec__", None)
    return bool(getattr(spec, "_initializing", False)) and isinstance(
        getattr(spec, "loader", None), _LoaderProxy
    )


# --- python -m target -------------------------------------------------------------

_original_run_code = None


def _runpy_wrapped() -> bool:
    return _original_run_code is not None


def _watch_runpy() -> None:
    if _RUNPY in sys.modules:
        _wrap_runpy(sys.modules[_RUNPY])
    else:
        with _lock:
            hooks = _hooks.setdefault(_RUNPY, [])
            if _wrap_runpy not in hooks:
                hooks.insert(0, _wrap_runpy)
            _watched.add(_RUNPY)


def _wrap_runpy(runpy) -> None:  # type: ignore[no-untyped-def]
    global _original_run_code
    with _lock:
        if _original_run_code is not None:
            return
        original = runpy._run_code
        _original_run_code = original

    def _run_code(code, run_globals, init_globals=None, mod_name=None, mod_spec=None, *args, **kwargs):  # type: ignore[no-untyped-def]
        name = getattr(mod_spec, "name", None)
        loader = getattr(mod_spec, "loader", None)
        if isinstance(loader, _LoaderProxy) and not isinstance(loader, _HookedNamespaceLoader):
            mod_spec.loader = loader._weave_loader  # the script sees the real loader
        try:
            return original(code, run_globals, init_globals, mod_name, mod_spec, *args, **kwargs)
        finally:
            if name is not None and name in _watched and mod_name is not None:
                module = sys.modules.get(mod_name)
                if module is not None and getattr(module, "__dict__", None) is run_globals:
                    _run_hooks(name, module)

    _run_code.__wrapped__ = original  # type: ignore[attr-defined]
    runpy._run_code = _run_code


def _unwrap_runpy() -> None:
    global _original_run_code
    runpy = sys.modules.get(_RUNPY)
    if _original_run_code is not None and runpy is not None:
        if getattr(runpy._run_code, "__wrapped__", None) is _original_run_code:
            runpy._run_code = _original_run_code  # type: ignore[attr-defined]
    _original_run_code = None
    hooks = _hooks.get(_RUNPY)
    if hooks and _wrap_runpy in hooks:
        hooks.remove(_wrap_runpy)
        if not hooks:
            del _hooks[_RUNPY]
            _watched.discard(_RUNPY)
