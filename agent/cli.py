"""``weave-run``: the console script's entry point.

A documented public name kept at the top of the package; the code lives in
``weave_agent.tools.cli``.
"""

import sys

from .tools.cli import (  # noqa: F401
    ENTRY_POINTS_ENV,
    PROG,
    main,
    prepend_path,
    shim_path,
)

__all__ = [
    "ENTRY_POINTS_ENV",
    "PROG",
    "main",
    "prepend_path",
    "shim_path",
]


if __name__ == "__main__":
    sys.exit(main())
