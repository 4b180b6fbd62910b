"""Every setting documented: ``python -m weave_agent.settings_doc README.md`` rewrites the
README's table.

A documented public name kept at the top of the package; the code lives in
``weave_agent.tools.settings_doc``.
"""

import sys

from .tools.settings_doc import (  # noqa: F401
    BY_OPTION,
    CONFIGURATION_HEADING,
    HEADER,
    PUBLIC,
    SETTINGS,
    Setting,
    env_help,
    main,
    markdown_rows,
    markdown_table,
    option_help,
    plain,
    readme_table,
    replace_readme_table,
)

__all__ = [
    "BY_OPTION",
    "CONFIGURATION_HEADING",
    "HEADER",
    "PUBLIC",
    "SETTINGS",
    "Setting",
    "env_help",
    "main",
    "markdown_rows",
    "markdown_table",
    "option_help",
    "plain",
    "readme_table",
    "replace_readme_table",
]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
