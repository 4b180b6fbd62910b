"""The pytest plugin for instrumentation authors: ``pytest -p weave_agent.testing`` or
``pytest_plugins = ["weave_agent.testing"]``.

A documented public name kept at the top of the package; the code lives in
``weave_agent.tools.testing``.
"""

from .tools.testing import (  # noqa: F401
    FILTERED_HEADERS,
    SpanRecorder,
    load_module,
    pytest_addoption,
    pytest_configure,
)

__all__ = [
    "FILTERED_HEADERS",
    "SpanRecorder",
    "load_module",
    "pytest_addoption",
    "pytest_configure",
]
