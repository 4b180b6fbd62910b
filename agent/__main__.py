"""``python -m weave_agent`` is ``weave-run``."""

import sys

from .tools.cli import main

sys.exit(main())
