"""What starting the agent imports: its own modules and nearly nothing else.

The bootstrap runs in every process the launcher starts (and every child process);
anything it imports is paid by all of them, and some imports break apps outright
(``threading``/``ssl``/``socket`` before gevent's ``monkey.patch_all()``).
"""

from __future__ import annotations

import json

from _subproc import SHIM_DIR

# Standard-library modules the bootstrap may add (``from __future__ import annotations``
# in its modules imports ``__future__``). ``_thread`` is builtin and already loaded.
ALLOWED_STDLIB = {"__future__", "_thread"}

FORBIDDEN = (
    "threading",
    "ssl",
    "_ssl",
    "socket",
    "_socket",
    "asyncio",
    "importlib.metadata",
    "importlib_metadata",
    "logging",
    "typing",
    "dataclasses",
    "inspect",
    "packaging",
    "wrapt",
    "opentelemetry",
    "google.protobuf",
    "grpc",
    "urllib3",
    "requests",
    "httpx",
    "openai",
    "anthropic",
    "mistralai",
    "langchain",
    "pydantic",
)


def _forbidden_in(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))


def _own(name: str) -> bool:
    return name == "weave_agent" or name.startswith("weave_agent.")


def test_bootstrap_imports_only_its_own_modules(run_py):
    res = run_py(
        """
import json, sys
before = set(sys.modules)
from weave_agent.lifecycle import bootstrap
started = bootstrap()
after = set(sys.modules)
first = sys.meta_path[0]
print(json.dumps({
    "started": started,
    "finder_first": type(first).__module__ == "weave_agent.hook.importhook",
    "before": sorted(before),
    "new": sorted(after - before),
}))
"""
    ).check()
    out = res.json()
    assert out["started"] is True and out["finder_first"] is True
    # The comparison is meaningful only if start-up itself did not load them already.
    assert _forbidden_in(set(out["before"])) == []
    new = set(out["new"])
    assert {"weave_agent.lifecycle", "weave_agent.hook.importhook", "weave_agent.settings"} <= new
    assert _forbidden_in(new) == []
    assert sorted(m for m in new if not _own(m) and m not in ALLOWED_STDLIB) == []
    # No vendor-facing part of the agent is loaded at bootstrap either.
    heavy = {
        "weave_agent.telemetry",
        "weave_agent.calls",
        "weave_agent.op",
        "weave_agent.streams",
        "weave_agent.serialize",
        "weave_agent.otlp_json",
        "weave_agent.testing",
        "weave_agent.patcher",
        "weave_agent.genai",
        "weave_agent.export.telemetry",
        "weave_agent.tracing.calls",
        "weave_agent.tracing.streams",
        "weave_agent.tracing.serialize",
        "weave_agent.export.otlp_json",
        "weave_agent.tools.testing",
        "weave_agent.hook.patcher",
    }
    assert sorted(new & heavy) == []
    assert res.stderr == ""


MODULES = "import json, sys; print(json.dumps([sorted(sys.modules), type(sys.meta_path[0]).__module__]))"


def test_sitecustomize_shim_adds_only_the_agent(run_py):
    without_modules, without_first = run_py(MODULES).check().json()
    with_modules, with_first = run_py(MODULES, pythonpath=[SHIM_DIR]).check().json()
    assert without_first != "weave_agent.hook.importhook"
    assert with_first == "weave_agent.hook.importhook"  # the shim did start the agent
    added = set(with_modules) - set(without_modules)
    assert "weave_agent.lifecycle" in added
    assert _forbidden_in(set(with_modules)) == []
    assert sorted(m for m in added if not _own(m) and m not in ALLOWED_STDLIB | {"sitecustomize"}) == []
    assert set(without_modules) - set(with_modules) == set()


def test_importing_the_package_alone_is_as_cheap(run_py):
    res = run_py(
        """
import json, sys
before = set(sys.modules)
import weave_agent
weave_agent.when_imported("some_vendor", lambda m: None)
print(json.dumps(sorted(set(sys.modules) - before)))
"""
    ).check()
    new = set(json.loads(res.lines[-1]))
    assert _forbidden_in(new) == []
    assert sorted(m for m in new if not _own(m) and m not in ALLOWED_STDLIB) == []
