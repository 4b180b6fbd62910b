"""weave-agent: zero-code OpenTelemetry tracing for GenAI applications.

Start it with ``weave-run python app.py``, with the ``sitecustomize`` shim on
``PYTHONPATH``, or from code with ``weave_agent.init()``. This module stays cheap to
import (the bootstrap imports it): everything heavy is loaded on first use through the
module ``__getattr__`` below.
"""

from __future__ import annotations

from ._version import __version__
from .hook.arming import autopatch, patch, unpatch
from .hook.importhook import install, uninstall, when_imported
from .lifecycle import init

__all__ = [
    "__version__",
    "autopatch",
    "flush",
    "init",
    "install",
    "op",
    "patch",
    "shutdown",
    "uninstall",
    "unpatch",
    "when_imported",
]

_LAZY = {
    "op": ("weave_agent.tracing.calls", "op"),
    "flush": ("weave_agent.export.telemetry", "flush"),
    "shutdown": ("weave_agent.export.telemetry", "shutdown"),
}


def __getattr__(name: str) -> object:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError("module 'weave_agent' has no attribute %r" % (name,))
    import importlib

    value = getattr(importlib.import_module(target[0]), target[1])
    globals()[name] = value
    return value
