"""CrewAI's settings for every test here, set before CrewAI is imported.

* Its telemetry off the way its users switch it off (``CREWAI_DISABLE_TELEMETRY``; the tests
  about that telemetry turn it on for themselves), its tracing to app.crewai.com off.
* CrewAI keeps each kickoff's task outputs in SQLite under the user's data folder and reads
  them back at the next kickoff: this run gets a data folder of its own (rows another CrewAI
  release wrote do not parse), removed at exit.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("CREWAI_TRACING_ENABLED", "false")
_DATA = tempfile.mkdtemp(prefix="weave-crewai-data-")
atexit.register(shutil.rmtree, _DATA, True)
os.environ["XDG_DATA_HOME"] = _DATA
