"""``weave_agent.when_imported``: when a post-import hook runs, how often, and for whom.

Every case runs in a fresh interpreter (import state is global). Fake vendor modules
record their body's progress in ``builtins.EVENTS`` so the order body / hook / importer
is observable.
"""

from __future__ import annotations

import pytest

VENDOR = {
    "fakevendor/__init__.py": """
        import builtins
        builtins.EVENTS.append(("body", __name__))
        VALUE = "pkg-body"
    """,
    "fakevendor/sub.py": """
        import builtins
        builtins.EVENTS.append(("body-start", __name__))
        VALUE = "set-by-body"
        builtins.EVENTS.append(("body-end", __name__))
    """,
    # A package whose own __init__ imports the watched submodule.
    "selfimporting/__init__.py": """
        from . import sub
        AFTER_SUB = getattr(sub, "HOOKED", None)
    """,
    "selfimporting/sub.py": """
        VALUE = "set-by-body"
    """,
    "broken_hook_target.py": """
        VALUE = 1
    """,
}

PRELUDE = """
import builtins, importlib, json, sys
builtins.EVENTS = EVENTS = []
import weave_agent
weave_agent.install()
"""


@pytest.fixture
def vendor(tree):  # type: ignore[no-untyped-def]
    return tree(VENDOR, under="vendor")


def test_call_form_runs_after_body_before_importer(run_py, vendor):
    res = run_py(
        PRELUDE
        + """
def hook(module):
    EVENTS.append(("hook", module.__name__, module.VALUE, sys.modules.get(module.__name__) is module))
    module.HOOKED = "yes"

returned = weave_agent.when_imported("fakevendor.sub", hook)
assert returned is hook
import fakevendor.sub
EVENTS.append(("importer", fakevendor.sub.HOOKED))
print(json.dumps(EVENTS))
""",
        pythonpath=[vendor],
    ).check()
    assert res.json() == [
        ["body", "fakevendor"],
        ["body-start", "fakevendor.sub"],
        ["body-end", "fakevendor.sub"],
        ["hook", "fakevendor.sub", "set-by-body", True],
        ["importer", "yes"],
    ]


def test_decorator_form(run_py, vendor):
    res = run_py(
        PRELUDE
        + """
@weave_agent.when_imported("fakevendor.sub")
def hook(module):
    EVENTS.append(("hook", module.VALUE))
    module.HOOKED = True

assert callable(hook) and hook.__name__ == "hook"  # the decorator returns the function
from fakevendor import sub
EVENTS.append(("importer", sub.HOOKED))
print(json.dumps(EVENTS))
""",
        pythonpath=[vendor],
    ).check()
    assert res.json() == [
        ["body", "fakevendor"],
        ["body-start", "fakevendor.sub"],
        ["body-end", "fakevendor.sub"],
        ["hook", "set-by-body"],
        ["importer", True],
    ]


def test_already_imported_module_runs_at_once(run_py, vendor):
    res = run_py(
        PRELUDE
        + """
import fakevendor.sub
EVENTS.clear()
weave_agent.when_imported("fakevendor.sub", lambda m: EVENTS.append(("hook", m.VALUE)))
EVENTS.append("registered")
import fakevendor.sub  # already there: no second run
print(json.dumps(EVENTS))
""",
        pythonpath=[vendor],
    ).check()
    assert res.json() == [["hook", "set-by-body"], "registered"]


SUBMODULE_IMPORTS = {
    "import pkg.sub": "import fakevendor.sub",
    "from pkg import sub": "from fakevendor import sub",
    "importlib.import_module": "importlib.import_module('fakevendor.sub')",
    "__import__ fromlist": "__import__('fakevendor', fromlist=['sub'])",
}


@pytest.mark.parametrize("statement", list(SUBMODULE_IMPORTS.values()), ids=list(SUBMODULE_IMPORTS))
def test_submodule_hook_fires_whoever_imports_it(run_py, vendor, statement):
    res = run_py(
        PRELUDE
        + """
weave_agent.when_imported("fakevendor.sub", lambda m: EVENTS.append(("hook", m.__name__, m.VALUE)))
%s
print(json.dumps(EVENTS))
"""
        % statement,
        pythonpath=[vendor],
    ).check()
    assert res.json().count(["hook", "fakevendor.sub", "set-by-body"]) == 1


def test_submodule_imported_by_its_package_init(run_py, vendor):
    res = run_py(
        PRELUDE
        + """
def hook(m):
    EVENTS.append(("hook", m.__name__))
    m.HOOKED = True
weave_agent.when_imported("selfimporting.sub", hook)
import selfimporting  # only the package: its __init__ imports .sub
print(json.dumps([EVENTS, selfimporting.AFTER_SUB]))
""",
        pythonpath=[vendor],
    ).check()
    # The hook ran before the package's own body went on after ``from . import sub``.
    assert res.json() == [[["hook", "selfimporting.sub"]], True]


def test_reload_runs_hooks_again(run_py, vendor):
    res = run_py(
        PRELUDE
        + """
weave_agent.when_imported("fakevendor.sub", lambda m: EVENTS.append(("hook", id(m))))
import fakevendor.sub as sub
importlib.reload(sub)
print(json.dumps([[e[0] for e in EVENTS], len({e[1] for e in EVENTS if e[0] == "hook"}), type(sub.__loader__).__name__]))
""",
        pythonpath=[vendor],
    ).check()
    events, distinct_modules, loader = res.json()
    assert events == ["body", "body-start", "body-end", "hook", "body-start", "body-end", "hook"]
    assert distinct_modules == 1  # the same module object, re-executed
    assert loader == "SourceFileLoader"


def test_raising_hook_is_logged_once_and_the_import_succeeds(run_py, vendor):
    res = run_py(
        PRELUDE
        + """
def bad(module):
    raise RuntimeError("hook bug")
weave_agent.when_imported("broken_hook_target", bad)
weave_agent.when_imported("broken_hook_target", lambda m: EVENTS.append("later hook ran"))
import broken_hook_target
importlib.reload(broken_hook_target)   # raises again: no second log line
print(json.dumps([EVENTS, broken_hook_target.VALUE]))
""",
        pythonpath=[vendor],
    ).check()
    assert res.json() == [["later hook ran", "later hook ran"], 1]
    lines = res.err_lines
    assert len(lines) == 1, res
    assert "broken_hook_target" in lines[0] and "raised" in lines[0]
    assert "Traceback" not in res.stderr


def test_raising_hook_on_already_imported_module_is_caught(run_py, vendor):
    res = run_py(
        PRELUDE
        + """
import broken_hook_target
def bad(module):
    raise RuntimeError("hook bug")
weave_agent.when_imported("broken_hook_target", bad)
print("still running")
""",
        pythonpath=[vendor],
    ).check()
    assert res.lines == ["still running"]
    assert len(res.err_lines) == 1 and "broken_hook_target" in res.err_lines[0]


def test_same_hook_registered_twice_runs_once(run_py, vendor):
    res = run_py(
        PRELUDE
        + """
def hook(m):
    EVENTS.append("hook")
weave_agent.when_imported("fakevendor.sub", hook)
weave_agent.when_imported("fakevendor.sub", hook)
weave_agent.when_imported("fakevendor.sub")(hook)
import fakevendor.sub
print(json.dumps(EVENTS.count("hook")))
""",
        pythonpath=[vendor],
    ).check()
    assert res.json() == 1


def test_hooks_run_in_registration_order_parent_first(run_py, vendor):
    res = run_py(
        PRELUDE
        + """
weave_agent.when_imported("fakevendor.sub", lambda m: EVENTS.append("sub-1"))
weave_agent.when_imported("fakevendor", lambda m: EVENTS.append("pkg"))
weave_agent.when_imported("fakevendor.sub", lambda m: EVENTS.append("sub-2"))
import fakevendor.sub
print(json.dumps([e for e in EVENTS if isinstance(e, str)]))
""",
        pythonpath=[vendor],
    ).check()
    assert res.json() == ["pkg", "sub-1", "sub-2"]


def test_failed_import_runs_no_hook_and_raises_as_without_agent(run_py, tree):
    vendor = tree({"failing.py": "raise ValueError('vendor is broken')\n"}, under="vendor")
    code = """
import json, os, sys
if os.environ.get("WITH_AGENT"):
    import weave_agent
    weave_agent.install()
    weave_agent.when_imported("failing", lambda m: print("HOOK"))
try:
    import failing
except Exception as exc:
    print(json.dumps([type(exc).__name__, str(exc), "failing" in sys.modules]))
"""
    without = run_py(code, pythonpath=[vendor]).check()
    with_agent = run_py(code, pythonpath=[vendor], env={"WITH_AGENT": "1"}).check()
    assert with_agent.stdout == without.stdout
    assert without.json() == ["ValueError", "vendor is broken", False]


@pytest.mark.parametrize("name", ["", ".rel", "trailing.", None])
def test_bad_names_are_refused(name):
    import weave_agent

    with pytest.raises(ValueError):
        weave_agent.when_imported(name, lambda m: None)  # type: ignore[arg-type]


def test_hook_registered_from_the_watched_module_body_runs_after_the_body(run_py, tree):
    vendor = tree(
        {
            "registers_itself.py": """
                import builtins, weave_agent
                weave_agent.when_imported(__name__, lambda m: builtins.EVENTS.append(["own hook", m.DONE]))
                builtins.EVENTS.append("body end")
                DONE = True
            """
        },
        under="vendor",
    )
    res = run_py(
        PRELUDE
        + """
weave_agent.when_imported("registers_itself", lambda m: EVENTS.append("first hook"))
import registers_itself
print(json.dumps(EVENTS))
""",
        pythonpath=[vendor],
    ).check()
    assert res.json() == ["body end", "first hook", ["own hook", True]]
