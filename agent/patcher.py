"""The patchers an instrumentation is made of.

A documented public name kept at the top of the package; the code lives in
``weave_agent.hook.patcher``.
"""

from .hook.patcher import (  # noqa: F401
    ModulePatcher,
    MultiPatcher,
    Patcher,
    SymbolPatcher,
)

__all__ = [
    "ModulePatcher",
    "MultiPatcher",
    "Patcher",
    "SymbolPatcher",
]
