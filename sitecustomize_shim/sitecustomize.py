"""Starts weave-agent in any Python process whose PYTHONPATH holds this folder.

Two things, each guarded: start the agent (a failure prints one line and the app runs
untraced), then import the *next* ``sitecustomize`` on the path (the user's, the
virtualenv's, the distribution's) so that its side effects still happen, exactly once.
"""

import os
import sys


def _weave_agent_start():
    try:
        from weave_agent.lifecycle import bootstrap

        bootstrap(os.path.dirname(os.path.abspath(__file__)))
    except Exception as exc:  # never let the agent stop the app
        sys.stderr.write(
            "weave-agent: not started (%s: %s); the app runs untraced\n" % (type(exc).__name__, exc)
        )


def _weave_agent_chain():
    here = os.path.dirname(os.path.abspath(__file__))
    own = sys.modules.pop("sitecustomize", None)
    positions = [i for i, p in enumerate(sys.path) if os.path.abspath(p or os.curdir) == here]
    for i in reversed(positions):
        del sys.path[i]
    try:
        import sitecustomize  # noqa: F401  (the next one on the path, if any)
    except ImportError as exc:
        if exc.name != "sitecustomize":
            sys.stderr.write("weave-agent: the next sitecustomize failed: %s\n" % (exc,))
    except Exception as exc:
        sys.stderr.write("weave-agent: the next sitecustomize failed: %s: %s\n" % (type(exc).__name__, exc))
    finally:
        for i in positions:
            sys.path.insert(min(i, len(sys.path)), here)
        chained = sys.modules.get("sitecustomize")
        if own is not None:
            sys.modules["sitecustomize"] = own
            if chained is not None and chained is not own:
                own.chained = chained


_weave_agent_start()
_weave_agent_chain()
