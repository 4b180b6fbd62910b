"""The module-level ``ollama.chat`` & co.: bound methods of the client ``ollama`` makes at import.

``ollama/__init__`` ends with ``_client = Client()`` then ``chat = _client.chat``,
``generate = _client.generate``, ... Each of those names holds a bound method captured at
that moment, which refers to the function the class had *then*:

* imported after the agent armed the row: ``ollama._client`` (the submodule) is patched
  as soon as it has executed, before ``__init__`` binds the names, so they are bound to
  the traced methods already;
* imported before (``weave_agent.init()`` or ``patch()`` called late): the names still
  hold the original functions. ``DefaultClientPatcher`` rebinds each of them to the same
  instance through the patched class, and ``undo_patch`` puts back a plain bound method
  (the very one it replaced when there was one).

Beware the name: the *attribute* ``ollama._client`` is that instance, which shadows the
submodule of the same name on the package; the submodule is ``sys.modules["ollama._client"]``.

A name the app copied before the patch (``from ollama import chat`` ahead of
``weave_agent.init()``) is the app's own reference and stays untraced. Imports nothing
else of this folder.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Sequence
from typing import Any

from weave_agent import _log
from weave_agent.patcher import Patcher

PACKAGE = "ollama"


class DefaultClientPatcher(Patcher):
    """Rebinds ``ollama.<name>`` for each of ``names`` to the default client's (patched) method."""

    def __init__(self, names: Sequence[str], client_module: str = "ollama._client", client_class: str = "Client"):
        self.names = tuple(names)
        self.client_module = client_module
        self.client_class = client_class
        self._replaced: dict[str, tuple[Any, Any]] = {}  # name -> (what was there, what we set)

    def __repr__(self) -> str:
        return "DefaultClientPatcher(%r)" % (self.names,)

    def _targets(self) -> tuple[Any, Any, Any]:
        """(the ``ollama`` package, its default client, the client class as it is now)."""
        package = sys.modules.get(PACKAGE)
        module = sys.modules.get(self.client_module)
        cls = getattr(module, self.client_class, None)
        client = vars(package).get("_client") if package is not None else None
        if not isinstance(cls, type) or not isinstance(client, cls):
            return package, None, cls
        return package, client, cls

    def attempt_patch(self) -> bool:
        package, client, cls = self._targets()
        if client is None:
            return True  # not imported yet (or mid-import): __init__ binds the patched methods itself
        namespace = vars(package)
        for name in self.names:
            current = namespace.get(name)
            if name in self._replaced or not _plain_method_of(current, client, vars(cls).get(name)):
                continue
            new = getattr(client, name)  # through the patched class: the traced bound method
            setattr(package, name, new)
            self._replaced[name] = (current, new)
            _log.debug("ollama.%s was bound before the patch: rebound to the traced method", name)
        return True

    def undo_patch(self) -> bool:
        package, client, cls = self._targets()
        replaced, self._replaced = self._replaced, {}
        if package is None:
            return True
        namespace = vars(package)
        for name in self.names:
            current = namespace.get(name)
            if name in replaced:
                before, ours = replaced[name]
                if current is ours:
                    setattr(package, name, before)
            elif client is not None and _traced_method_of(current, client, vars(cls).get(name)):
                # bound at import, after the class was patched: the plain method of the same client
                setattr(package, name, current.__wrapped__)
        return True


def _plain_method_of(value: Any, client: Any, patched: Any) -> bool:
    """``value`` is ``client.<name>`` bound to an untraced function (not to ``patched``)."""
    return (
        isinstance(value, types.MethodType)
        and value.__self__ is client
        and patched is not None
        and value.__func__ is not patched
        and getattr(patched, "__wrapped__", None) is value.__func__
    )


def _traced_method_of(value: Any, client: Any, patched: Any) -> bool:
    """``value`` is ``client.<name>`` bound through the traced class attribute ``patched``."""
    return (
        getattr(value, "_self_parent", None) is patched
        and getattr(value, "_self_instance", None) is client
        and isinstance(getattr(value, "__wrapped__", None), types.MethodType)
    )
