"""``weave-run new-integration``; from Python, ``new_integration(...)``.

A documented public name kept at the top of the package; the code lives in
``weave_agent.tools.scaffold``.
"""

from .tools.scaffold import (  # noqa: F401
    MARKER,
    REGISTRY,
    Scaffold,
    ScaffoldError,
    editable_root,
    find_root,
    is_checkout,
    main,
    new_integration,
)

__all__ = [
    "MARKER",
    "REGISTRY",
    "Scaffold",
    "ScaffoldError",
    "editable_root",
    "find_root",
    "is_checkout",
    "main",
    "new_integration",
]
