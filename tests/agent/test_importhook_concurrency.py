"""The import hook under threads, lazy loading and ``python -m``.

Deadlock cases run with join() without a timeout inside the child: a deadlock shows up
as the child's own timeout, which fails the test instead of hanging the suite.
"""

from __future__ import annotations

import pytest

DEADLOCK_TIMEOUT = 20


def test_two_threads_importing_one_watched_module_run_the_hook_once(run_py, tree):
    vendor = tree({"slow_vendor.py": "import time\ntime.sleep(0.3)\nVALUE = 'done'\n"}, under="vendor")
    res = run_py(
        """
import json, threading, weave_agent
weave_agent.install()
calls = []
def hook(m):
    calls.append(m.VALUE)
    m.HOOKED = True
weave_agent.when_imported("slow_vendor", hook)
barrier = threading.Barrier(3)
seen = []
def worker():
    barrier.wait()
    import slow_vendor
    seen.append(slow_vendor.HOOKED)   # neither thread gets the module before the hook ran
threads = [threading.Thread(target=worker) for _ in range(3)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps([calls, seen]))
""",
        pythonpath=[vendor],
        timeout=DEADLOCK_TIMEOUT,
    ).check()
    assert res.json() == [["done"], [True, True, True]]


DEADLOCK_VENDOR = {
    # Its body starts a thread that imports a watched module, and waits for it.
    "starts_thread.py": """
        import threading
        RESULT = []
        def _work():
            import watched_b
            RESULT.append(watched_b.V)
        _t = threading.Thread(target=_work)
        _t.start()
        _t.join()
    """,
    "watched_b.py": "V = 'b'\n",
    "watched_c.py": "V = 'c'\n",
    "watched_d.py": "V = 'd'\n",
    "needs_finder.py": "V = 'found'\n",
}


def test_module_body_starting_a_thread_that_imports_a_watched_module(run_py, tree):
    vendor = tree(DEADLOCK_VENDOR, under="vendor")
    res = run_py(
        """
import weave_agent
weave_agent.install()
weave_agent.when_imported("watched_b", lambda m: print("hook watched_b", flush=True))
weave_agent.when_imported("starts_thread", lambda m: print("hook starts_thread", m.RESULT, flush=True))
import starts_thread
print("done")
""",
        pythonpath=[vendor],
        timeout=DEADLOCK_TIMEOUT,
    ).check()
    assert res.lines == ["hook watched_b", "hook starts_thread ['b']", "done"]


def test_hook_starting_a_thread_that_imports_and_registers(run_py, tree):
    """Hooks run outside the finder's lock: a hook whose thread imports a watched
    module (and registers another hook) and is waited for does not deadlock."""
    vendor = tree(DEADLOCK_VENDOR, under="vendor")
    res = run_py(
        """
import threading, weave_agent
weave_agent.install()
weave_agent.when_imported("watched_b", lambda m: print("hook watched_b", flush=True))
def hook_c(m):
    def work():
        import watched_b
        weave_agent.when_imported("watched_d", lambda m: print("hook watched_d", flush=True))
        import watched_d
    t = threading.Thread(target=work)
    t.start()
    t.join()
    print("hook_c done", flush=True)
weave_agent.when_imported("watched_c", hook_c)
import watched_c
print("done")
""",
        pythonpath=[vendor],
        timeout=DEADLOCK_TIMEOUT,
    ).check()
    assert res.lines == ["hook watched_b", "hook watched_d", "hook_c done", "done"]


def test_other_finder_starting_a_thread_during_find_spec(run_py, tree):
    """The finder asks the finders behind it without holding its own lock: one of them
    starting a thread that uses the agent (registers a hook, calls install) and waiting
    for it does not deadlock. (A thread that *imports* from inside find_spec would wait
    for the interpreter's own import lock, with or without the agent.)"""
    vendor = tree(DEADLOCK_VENDOR, under="vendor")
    res = run_py(
        """
import sys, threading, weave_agent
class ThreadyFinder:
    def find_spec(self, name, path=None, target=None):
        if name == "needs_finder":
            def work():
                weave_agent.when_imported("watched_b", lambda m: None)
                weave_agent.install()
            t = threading.Thread(target=work)
            t.start()
            t.join()
            print("finder's thread done", flush=True)
        return None
weave_agent.install()
sys.meta_path.insert(1, ThreadyFinder())
weave_agent.when_imported("needs_finder", lambda m: print("hook needs_finder", m.V, flush=True))
import needs_finder
print("done")
""",
        pythonpath=[vendor],
        timeout=DEADLOCK_TIMEOUT,
    ).check()
    assert res.lines == ["finder's thread done", "hook needs_finder found", "done"]


def test_lazy_loader_runs_hooks_when_the_body_runs(run_py, tree):
    vendor = tree({"lazy_vendor.py": "import builtins\nbuiltins.EVENTS.append('body')\nVALUE = 7\n"}, under="vendor")
    res = run_py(
        """
import builtins, importlib.util, json, sys, weave_agent
builtins.EVENTS = EVENTS = []
weave_agent.install()
weave_agent.when_imported("lazy_vendor", lambda m: EVENTS.append(["hook", m.VALUE]))
spec = importlib.util.find_spec("lazy_vendor")
loader = importlib.util.LazyLoader(spec.loader)
spec.loader = loader
module = importlib.util.module_from_spec(spec)
sys.modules["lazy_vendor"] = module
loader.exec_module(module)
EVENTS.append("lazy module set up")
value = module.VALUE                   # first attribute access runs the body
EVENTS.append(["accessed", value])
print(json.dumps([EVENTS, type(module.__loader__).__name__, type(module.__spec__.loader).__name__]))
""",
        pythonpath=[vendor],
    ).check()
    assert res.json() == [
        ["lazy module set up", "body", ["hook", 7], ["accessed", 7]],
        "SourceFileLoader",
        "SourceFileLoader",
    ]


MAIN_TARGET = """
import sys
VALUE = 42
print("body:", __name__, type(__loader__).__name__, type(__spec__.loader).__name__, __spec__.name, flush=True)
print("hooked during body:", getattr(sys.modules["__main__"], "HOOKED", False), flush=True)
print("body end", flush=True)
"""

HOOK_SITECUSTOMIZE = """
import weave_agent
weave_agent.install()
def _hook(module):
    module.HOOKED = True
    print("hook:", module.__name__, module.VALUE, flush=True)
weave_agent.when_imported("main_target", _hook)
"""


@pytest.mark.parametrize("start", ["own sitecustomize", "shim then chained sitecustomize"])
def test_python_dash_m_of_a_watched_module(run_py, tree, start):
    """``python -m main_target``: runpy executes it as ``__main__`` without an
    ``exec_module``. The hook fires once with the ``__main__`` module, *after* its body
    ran (at the end of the program), and the body sees the real loader."""
    from _subproc import SHIM_DIR

    vendor = tree({"main_target.py": MAIN_TARGET}, under="vendor")
    site = tree({"sitecustomize.py": HOOK_SITECUSTOMIZE}, under="usersite")
    path = [site, vendor] if start == "own sitecustomize" else [SHIM_DIR, site, vendor]
    res = run_py(args=["-m", "main_target"], pythonpath=path).check()
    assert res.lines == [
        "body: __main__ SourceFileLoader SourceFileLoader main_target",
        "hooked during body: False",
        "body end",
        "hook: __main__ 42",
    ]
    assert res.stderr == ""
