"""CrewAI: no streams to accumulate here.

A crew with ``stream=True`` hands the app a ``CrewStreamingOutput`` while the crew runs a
plain ``kickoff`` of its own in a thread (``crewai.utilities.streaming``, which copies the
app's context into it): that inner kickoff is the one traced, so the crew's span is never
current in the app between chunks. Each model call's stream is the OpenAI
instrumentation's (an SDK stream, ended on every exit path there). The file is here because
every vendor folder has the same files.
"""

from __future__ import annotations

from typing import Any


def streams_to_app(crew: Any) -> bool:
    """Whether this ``kickoff`` only hands back a streaming output (the run is traced in the
    kickoff CrewAI starts for it, with ``stream`` switched off)."""
    return getattr(crew, "stream", False) is True
