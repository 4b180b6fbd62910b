# The authoring kit's fixtures (spans, instrumentation, vcr_config), on for this repo.
import os
import runpy
import sys
from pathlib import Path

pytest_plugins = ["weave_agent.testing"]

# Folders this environment cannot import, left out of collection (never skipped one by one):
# * an instrumentation tested in an environment of its own (OWN_TEST_ENVIRONMENTS: its
#   library conflicts with the main environment's SDKs) runs only there, where
#   tests/instrumentations/test_own_environments.py sets WEAVE_AGENT_TEST_ENVIRONMENT;
# * Pydantic AI has no release for Python 3.10 (its integration declines there too).
_REGISTRY = runpy.run_path(str(Path(__file__).resolve().parents[1] / "instrumentations" / "registry.py"))
_OWN = os.environ.get("WEAVE_AGENT_TEST_ENVIRONMENT")
collect_ignore = ["instrumentations/%s" % name for name in _REGISTRY.get("OWN_TEST_ENVIRONMENTS", ()) if name != _OWN]
if sys.version_info < (3, 11):
    collect_ignore.append("instrumentations/pydantic_ai")
