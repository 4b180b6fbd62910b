"""``python -m weave_agent`` is ``weave-run``."""

import sys

from .cli import main

sys.exit(main())
